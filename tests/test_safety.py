"""Nothing the user had is ever lost: atomic writes under kill, full disk, bad copies."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import paramtool
import paramtool.writer
from paramtool.cli import cli

DATA = Path(__file__).parent / "data"
T0 = DATA / "tutorial-model0.params"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".paramtool-tmp"))


def big_params(path: Path, mib: int) -> None:
    """A named one-record file with ``mib`` MiB of (non-sparse) float32 data."""
    n = (mib << 20) // 4
    chunk = np.random.default_rng(0).integers(0, 255, 1 << 20, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, 1))
        f.write(struct.pack("<Iiiq", 0xF993FAC9, 0, 1, n) + struct.pack("<iii", 1, 0, 0))
        for _ in range(mib):
            f.write(chunk)
        f.write(struct.pack("<QQ", 1, 7) + b"model0_")


def start_rewrite(
    tmp_path: Path, src: Path, dst: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], bool]:
    """Start ``rename-prefix SRC -o DST`` in a process and wait until its temporary file
    exists; returns the process and whether the temporary file was seen before it ended."""
    cmd = [sys.executable, "-m", "paramtool", "rename-prefix", str(src), "model0_", "m_"]
    proc = subprocess.Popen([*cmd, "-o", str(dst), *extra], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc, bool(leftovers(tmp_path))


def test_sigkill_during_rewrite_loses_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.params"
    big_params(src, 768)
    before = sha(src)
    dst = tmp_path / "dst.params"
    dst.write_bytes(b"the old destination")
    proc, seen_tmp = start_rewrite(tmp_path, src, dst, "--force")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen_tmp, "the rewrite finished before it could be killed: make the file bigger"
    assert sha(src) == before
    assert dst.read_bytes() == b"the old destination"  # the old DST, not a partial new one


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_during_rewrite_remove_the_temporary_file(tmp_path: Path, sig: int) -> None:
    src = tmp_path / "src.params"
    big_params(src, 512)
    dst = tmp_path / "dst.params"
    proc, seen_tmp = start_rewrite(tmp_path, src, dst)
    assert seen_tmp, "the rewrite finished before the signal"
    proc.send_signal(sig)
    code = proc.wait()
    assert code == {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGHUP: 129}[sig]
    assert leftovers(tmp_path) == [] and not dst.exists()


def test_file_size_limit_gives_exit_3_and_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.params"
    big_params(src, 4)

    def limit() -> None:  # like a full disk: writes past 1 MiB fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    dst = tmp_path / "dst.params"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "paramtool",
            "rename-prefix",
            str(src),
            "model0_",
            "m_",
            "-o",
            str(dst),
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "nothing was written" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not dst.exists() and leftovers(tmp_path) == []


def test_a_bad_copy_is_caught_by_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy = paramtool.writer.copy_range

    def corrupting_copy(src_fd: int, dst, offset: int, length: int, progress=None) -> None:  # type: ignore[no-untyped-def]
        real_copy(src_fd, dst, offset, length, progress)
        os.pwrite(dst.fileno(), b"\xff", dst.tell() - 1)  # flip the last byte copied

    monkeypatch.setattr(paramtool.writer, "copy_range", corrupting_copy)
    dst = tmp_path / "dst.params"
    result = CliRunner().invoke(cli, ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst)])
    assert result.exit_code == 3
    assert "verification failed" in result.stderr
    assert not dst.exists() and leftovers(tmp_path) == []
    # --no-verify trusts the copy (and so writes the corrupt file: that is what it is for)
    result = CliRunner().invoke(
        cli, ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst), "--no-verify"]
    )
    assert result.exit_code == 0 and dst.exists()


def test_backup_keeps_the_original(tmp_path: Path) -> None:
    src = tmp_path / "m.params"
    shutil.copy(T0, src)
    before = src.read_bytes()
    result = CliRunner().invoke(
        cli, ["rename-prefix", str(src), "model0_", "model1_", "--in-place", "--backup", ".orig"]
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "m.params.orig").read_bytes() == before
    with paramtool.open(src) as pf:
        assert pf.names[0] == "model1_dense0_weight"
    result = CliRunner().invoke(
        cli, ["rename-prefix", str(src), "model1_", "model2_", "--in-place", "--backup", ".orig"]
    )
    assert result.exit_code == 3 and "backup file already exists" in result.stderr
    with paramtool.open(src) as pf:
        assert pf.names[0] == "model1_dense0_weight"  # untouched

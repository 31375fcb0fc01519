"""Nothing the user had is ever lost: atomic writes under kill, full disk, bad copies."""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import paramtool
import paramtool.writer
from paramtool.cli import cli
from paramtool.errors import WriteRefusedError
from paramtool.format import Record
from paramtool.index import ParamsFile

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


_REAL_VERIFY = paramtool.writer.verify_copy


def _flip_before_verification(
    monkeypatch: pytest.MonkeyPatch, where: Callable[[ParamsFile], int]
) -> list[int]:
    """Make every rewrite flip two bits (``^ 0x03``) of one byte of its temporary file, at
    ``where(written file)``, just before the verification re-reads it; returns the offsets
    flipped (one per rewrite). Each call replaces the previous one's patch (flips do not
    accumulate)."""
    real_verify = _REAL_VERIFY
    flipped: list[int] = []

    def flip_then_verify(src: ParamsFile, written: str, selection: Any, dest: str) -> None:
        with ParamsFile(written) as out:
            pos = where(out)
        with open(written, "r+b") as f:
            f.seek(pos)
            byte = f.read(1)[0]
            f.seek(pos)
            # ^ 0x03 turns a V2 record's magic into V3's (0xC9 -> 0xCA), whose layout is the
            # same: the file still reads, so only the byte comparison can catch that one
            f.write(bytes([byte ^ 0x03]))
        flipped.append(pos)
        real_verify(src, written, selection, dest)

    monkeypatch.setattr(paramtool.writer, "verify_copy", flip_then_verify)
    return flipped


def test_a_corrupt_first_data_byte_or_last_record_byte_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "dst.params"
    for where in (lambda out: out.records[0].data_offset, lambda out: out.records[-1].end - 1):
        flipped = _flip_before_verification(monkeypatch, where)
        result = CliRunner().invoke(
            cli, ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst)]
        )
        assert flipped, "the rewrite did not reach verification"
        assert result.exit_code == 3, result.stderr
        assert "verification failed" in result.stderr
        assert not dst.exists() and leftovers(tmp_path) == []


#: Selections of T0's six records: in order (the records are contiguous in both files, so
#: they are verified as one region), and reordered with a repeated record (several regions).
SELECTIONS = {
    "in order": [(i, f"p{i}") for i in range(6)],
    "reordered": [(4, "a"), (5, "b"), (0, "c"), (1, "d"), (1, "e"), (3, "f")],
}


@pytest.mark.parametrize("chunk", [None, 7, 64])
@pytest.mark.parametrize("order", list(SELECTIONS))
def test_verification_covers_every_byte_of_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str, chunk: int | None
) -> None:
    """A flipped bit at the first, the first data, the middle and the last byte of any
    record fails the rewrite, whatever the compare buffer size (``chunk``; 7 and 64 bytes put
    the flips at every position relative to the buffer's boundaries)."""
    if chunk is not None:
        monkeypatch.setattr(paramtool.writer, "COMPARE_CHUNK", chunk)
    selection = SELECTIONS[order]
    dst = tmp_path / "dst.params"
    with paramtool.open(T0) as src:
        paramtool.writer.write_renamed(src, str(dst), selection)  # unharmed: it succeeds
        assert [r.name for r in paramtool.open(dst).records] == [n for _, n in selection]
        dst.unlink()
        pick: list[Callable[[Record], int]] = [
            lambda r: r.offset,
            lambda r: r.data_offset,
            lambda r: (r.data_offset + r.end) // 2,
            lambda r: r.end - 1,
        ]
        for k in range(len(selection)):
            for field in pick:
                flipped = _flip_before_verification(
                    monkeypatch, lambda out, k=k, field=field: field(out.records[k])
                )
                # (a flip in a record header may make the copy unreadable: that is reported
                # as a failed verification too, not as a format error of a temporary file)
                with pytest.raises(WriteRefusedError, match="verification failed"):
                    paramtool.writer.write_renamed(src, str(dst), selection)
                assert len(flipped) == 1, "the rewrite did not reach verification"
                assert not dst.exists() and leftovers(tmp_path) == []
        for offset in range(24):  # the list header: magic, reserved, count
            flipped = _flip_before_verification(monkeypatch, lambda out, o=offset: o)
            with pytest.raises(WriteRefusedError, match="verification failed"):
                paramtool.writer.write_renamed(src, str(dst), selection)
            assert len(flipped) == 1 and not dst.exists() and leftovers(tmp_path) == []


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=300),
    chunk=st.integers(1, 40),
    flip=st.integers(0, 299),
    shift=st.integers(0, 5),
)
def test_same_bytes_finds_any_difference(data: bytes, chunk: int, flip: int, shift: int) -> None:
    """Against plain ``==``: any one flipped byte, at any offset and buffer size, is found;
    a file ending early counts as different."""
    import tempfile

    other = bytearray(data)
    if data:
        other[flip % len(data)] ^= 0x80
    with tempfile.TemporaryFile() as fa, tempfile.TemporaryFile() as fb:
        fa.write(data)
        fb.write(b"\0" * shift + bytes(other))
        fa.flush()
        fb.flush()
        buffers = paramtool.writer.compare_buffers(chunk)
        a, b = fa.fileno(), fb.fileno()
        assert paramtool.writer.same_bytes(a, 0, b, shift, len(data), buffers) == (not data)
        assert paramtool.writer.same_bytes(a, 0, a, 0, len(data), buffers)
        assert paramtool.writer.same_bytes(b, 0, b, 0, len(data) + shift, buffers)
        if data:  # b is shorter than asked for from this offset: the missing bytes differ
            assert not paramtool.writer.same_bytes(a, 0, a, 1, len(data), buffers)


def test_fsync_follows_verification_and_precedes_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background write-back overlaps the verification, but the fsync of the file that
    is renamed still comes after the verification, and the rename after that fsync."""
    import threading

    events: list[str] = []
    real_fsync, real_replace, real_verify = os.fsync, os.replace, _REAL_VERIFY

    def fsync(fd: int) -> None:
        real_fsync(fd)
        background = threading.current_thread().name == "paramtool-fsync"
        events.append("background fsync" if background else "fsync")

    def replace(a: Any, b: Any) -> None:
        events.append("rename")
        real_replace(a, b)

    def verify(*args: Any) -> None:
        real_verify(*args)
        events.append("verified")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(paramtool.writer, "verify_copy", verify)
    dst = tmp_path / "dst.params"
    result = CliRunner().invoke(cli, ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst)])
    assert result.exit_code == 0, result.stderr
    assert "background fsync" in events
    main = [e for e in events if e != "background fsync"]
    assert main[:3] == ["verified", "fsync", "rename"], events  # then the directory's fsync


@pytest.mark.parametrize(
    ("code", "fails"), [(errno.EIO, True), (errno.ENOSPC, True), (errno.EINVAL, False)]
)
def test_a_write_back_error_in_the_background_fails_the_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, fails: bool
) -> None:
    """An I/O error or a full disk seen by the background fsync fails the rewrite (and
    leaves nothing); EINVAL (a file that cannot be synced that way) leaves the fsync to the
    main thread."""
    import threading

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if threading.current_thread().name == "paramtool-fsync":
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    dst = tmp_path / "dst.params"
    dst.write_bytes(b"the old destination")
    args = ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst), "--force"]
    result = CliRunner().invoke(cli, args)
    assert leftovers(tmp_path) == []
    if fails:
        assert result.exit_code == 3
        assert "nothing was written" in result.stderr and os.strerror(code) in result.stderr
        assert dst.read_bytes() == b"the old destination"
    else:
        assert result.exit_code == 0, result.stderr
        with paramtool.open(dst) as pf:
            assert pf.names[0] == "m_dense0_weight"


# -- --no-sync: cp's durability, for new files only ------------------------------------------


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def verify(*args: Any) -> None:
        calls.append(str(args[1]))
        _REAL_VERIFY(*args)

    monkeypatch.setattr(paramtool.writer, "verify_copy", verify)
    return calls


@pytest.mark.parametrize(
    "command",
    [
        ["rename-prefix", str(T0), "model0_", "m_"],
        ["to-structural", str(T0), "--model", str(DATA / "models" / "tutorial.py") + ":Model"],
    ],
    ids=["rename-prefix", "to-structural"],
)
def test_no_sync_writes_the_same_file_without_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], request: Any
) -> None:
    """--no-sync gives byte for byte the file the default gives, still verified, with no
    fsync of the file or its directory (as cp)."""
    if "--model" in command:
        request.getfixturevalue("mx")  # the model is a Gluon block: skips without MXNet
    synced, plain = tmp_path / "synced.params", tmp_path / "plain.params"
    fsyncs = _count_fsyncs(monkeypatch)
    verified = _count_verifications(monkeypatch)
    result = CliRunner().invoke(cli, [*command, "-o", str(synced)])
    assert result.exit_code == 0, result.stderr
    assert fsyncs and verified
    fsyncs.clear()
    verified.clear()
    result = CliRunner().invoke(cli, [*command, "-o", str(plain), "--no-sync"])
    assert result.exit_code == 0, result.stderr
    assert fsyncs == []
    assert len(verified) == 1  # the check still runs (--no-verify is separate)
    assert plain.read_bytes() == synced.read_bytes()
    assert leftovers(tmp_path) == []


def test_no_sync_refuses_to_replace_anything(tmp_path: Path) -> None:
    """An unsynced file may be lost in a power failure: --no-sync may only create a file,
    never rewrite the source in place or replace an existing output."""
    src = tmp_path / "src.params"
    shutil.copy(T0, src)
    dst = tmp_path / "dst.params"
    dst.write_bytes(b"the old destination")
    before = sha(src)
    cases = [
        ["rename-prefix", str(src), "model0_", "m_", "--in-place", "--no-sync"],
        ["rename-prefix", str(src), "model0_", "m_", "-o", str(dst), "--force", "--no-sync"],
        ["to-structural", str(src), "--model", str(DATA / "models" / "tutorial.py") + ":Model",
         "-o", str(dst), "--force", "--no-sync"],
    ]  # fmt: skip
    for args in cases:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3, (args, result.output)
        assert result.stderr.count("\n") == 1 and "--no-sync is only for a new output" in (
            result.stderr
        )
    assert sha(src) == before
    assert dst.read_bytes() == b"the old destination"
    assert leftovers(tmp_path) == []


def test_force_keeps_the_destinations_permissions(tmp_path: Path) -> None:
    """Replacing an existing DEST (--force) keeps its permission bits, as cp does; a new
    DEST gets 0o666 minus the umask."""
    dst = tmp_path / "dst.params"
    dst.write_bytes(b"old")
    dst.chmod(0o600)
    args = ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst), "--force"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    assert stat_mode(dst) == 0o600
    new = tmp_path / "new.params"
    result = CliRunner().invoke(cli, ["rename-prefix", str(T0), "model0_", "m_", "-o", str(new)])
    assert result.exit_code == 0, result.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat_mode(new) == 0o666 & ~umask


def stat_mode(p: Path) -> int:
    import stat

    return stat.S_IMODE(p.stat().st_mode)


def test_an_empty_backup_suffix_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "src.params"
    shutil.copy(T0, src)
    result = CliRunner().invoke(
        cli, ["rename-prefix", str(src), "model0_", "m_", "--in-place", "--backup", ""]
    )
    assert result.exit_code == 2 and "non-empty SUFFIX" in result.stderr
    assert src.read_bytes() == T0.read_bytes()


_SIGNAL_AFTER_RENAME = """
import os, signal, sys
from paramtool import cli
real = os.replace
def replace(a, b):
    real(a, b)
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
os.replace = replace
cli.main(sys.argv[2:])
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_right_after_the_rename_says_the_file_is_complete(
    tmp_path: Path, sig: str, code: int
) -> None:
    """A signal that arrives as the new file is renamed into place is held back until the
    rename is recorded: the exit code says interrupted, and stderr says that DEST was written
    and is complete (it was reported as an abort, as if DEST were untouched)."""
    dst = tmp_path / "dst.params"
    dst.write_bytes(b"old")
    args = ["rename-prefix", str(T0), "model0_", "m_", "-o", str(dst), "--force"]
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AFTER_RENAME, sig, *args], capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stderr
    assert f"Interrupted after {dst} was written; it is complete." in proc.stderr
    with paramtool.open(dst) as pf:
        assert pf.names[0] == "m_dense0_weight"
    assert leftovers(tmp_path) == []

"""The command line: formats, exit codes, errors, safe writes; under both backends."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from helpers import params_file, record_v0, record_v23

import paramtool
from paramtool.cli import cli

DATA = Path(__file__).parent / "data"
T0 = DATA / "tutorial-model0.params"
T1 = DATA / "tutorial-model1.params"


def _mxnet_ok() -> bool:
    try:
        import mxnet  # noqa: F401
    except Exception:
        return False
    return True


MXNET = _mxnet_ok()


@pytest.fixture(params=["native", pytest.param("mxnet", marks=pytest.mark.mxnet)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "mxnet" and not MXNET:
        pytest.skip("MXNet 1.9.1 not importable here")
    return str(request.param)


def run(*args: object, code: int | None = 0) -> Result:
    """Invoke the CLI in-process; check the exit code unless ``code`` is None."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


# -- ls ------------------------------------------------------------------------------------


def test_ls_table(backend: str) -> None:
    out = run("ls", T0, "--backend", backend).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["name", "shape", "dtype", "elements", "bytes"]
    assert lines[1].split() == ["model0_dense0_weight", "(20,", "10)", "float32", "200", "800", "B"]
    footer = lines[-1]
    assert "6 parameters" in footer and "1,060 elements" in footer and "4,240 bytes" in footer
    assert "root prefix model0_" in footer
    assert "│" not in out and "─" not in out  # no box drawing in a pipe


def test_ls_json(backend: str) -> None:
    doc = json.loads(
        run("ls", DATA / "unnamed-list.params", "-f", "json", "--backend", backend).stdout
    )
    assert doc["scheme"]["kind"] == "list"
    params = doc["parameters"]
    assert [p["name"] for p in params] == [None, None, None]
    assert [p["shape"] for p in params] == [[2, 3], [4], [2, 2, 2]]
    assert [p["dtype"] for p in params] == ["float32", "int64", "float16"]
    assert [p["nbytes"] for p in params] == [24, 32, 16]
    assert doc["total_bytes"] == 72


def test_ls_names_and_filter(backend: str) -> None:
    out = run(
        "ls",
        T0,
        "-f",
        "names",
        "--filter",
        "*weight",
        "--filter",
        "*mydense_bias",
        "--backend",
        backend,
    ).stdout
    assert out.splitlines() == [
        "model0_dense0_weight",
        "model0_dense1_weight",
        "model0_mydense_weight",
        "model0_mydense_bias",
    ]


def test_ls_csv(backend: str) -> None:
    out = run("ls", DATA / "dtypes.params", "-f", "csv", "--backend", backend).stdout
    rows = [r.split(",") for r in out.splitlines()]
    assert rows[0][:5] == ["name", "shape", "dtype", "elements", "nbytes"]
    assert rows[-1][:5] == ["bfloat16", "3", "bfloat16", "3", "6"]
    assert len(rows) == 10


def test_ls_v3_zero_d_and_zero_size(backend: str) -> None:
    doc = json.loads(run("ls", DATA / "numpy-v3.params", "-f", "json", "--backend", backend).stdout)
    shapes = {p["name"]: (p["shape"], p["nbytes"]) for p in doc["parameters"]}
    assert shapes == {"scalar": ([], 4), "empty": ([0, 3], 0), "matrix": ([2, 3], 24)}
    if backend == "native":
        assert doc["record_versions"] == [3]


def test_ls_names_are_inert(tmp_path: Path) -> None:
    evil = ["[bold]x[/bold]", "\x1b[31mred", "tab\there"]
    p = tmp_path / "evil.params"
    paramtool.save(p, {n: np.zeros(1, np.float32) for n in evil})
    out = run("ls", p).stdout
    assert "[bold]x[/bold]" in out
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert "tab\\there" in out


def test_ls_context_column_when_not_cpu0(tmp_path: Path) -> None:
    p = tmp_path / "gpu.params"
    p.write_bytes(params_file([record_v23(np.zeros(2, np.float32), ctx=(2, 1))], ["w"]))
    out = run("ls", p).stdout
    assert "context" in out.splitlines()[0] and "gpu(1)" in out


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "empty file"),
        (b"<html><body>Not Found</body></html>", "HTML"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n", "Git LFS"),
        (b"PK\x03\x04" + bytes(30), "damaged ZIP archive"),
    ],
)
def test_bad_input_one_line_exit_3(
    tmp_path: Path, backend: str, content: bytes, phrase: str
) -> None:
    p = tmp_path / "bad.params"
    p.write_bytes(content)
    for cmd in (["ls", p], ["diff", p, T0], ["rename-prefix", p, "a", "b", "-o", tmp_path / "o"]):
        result = run(*cmd, "--backend", backend, code=3)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(p) in lines[0]
        if backend == "native":
            assert phrase in lines[0]
        assert not (tmp_path / "o").exists()


def test_truncated_file_names_record_field_offset(tmp_path: Path) -> None:
    p = tmp_path / "cut.params"
    p.write_bytes(T0.read_bytes()[:1500])
    err = run("ls", p, code=3).stderr
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert "record 2" in err and "field 'data'" in err and "at byte" in err


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "cannot open" in run("ls", tmp_path / "nope.params", code=3).stderr
    err = run("ls", tmp_path, code=3).stderr
    assert err.count("\n") == 1 and "a directory" in err
    fifo = tmp_path / "fifo.params"
    os.mkfifo(fifo)
    assert "not a regular file" in run("ls", fifo, code=3).stderr  # and does not hang


def test_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    p = tmp_path / "bad.params"
    p.write_bytes(b"\x12\x01\x00\x00\x00\x00\x00\x00" + bytes(24) + b"\xff" * 3)
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool", "ls", str(p)], capture_output=True, text=True
    )
    assert proc.returncode == 0  # an empty list followed by junk is valid: trailing bytes
    assert "3 bytes after the name table" in proc.stderr
    p.write_bytes(b"\x12\x01\x00\x00\x00\x00\x00\x00" + bytes(8) + b"\x05" + bytes(7) + b"\xff")
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool", "ls", str(p)], capture_output=True, text=True
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    run("ls", code=2)
    run("ls", T0, "--format", "yaml", code=2)
    run("rename-prefix", T0, "a", "b", code=2)  # neither -o nor --in-place
    run("rename-prefix", T0, "a", "b", "-o", tmp_path / "x", "--in-place", code=2)
    run(
        "rename-prefix",
        T0,
        "a",
        "b",
        "-o",
        tmp_path / "x",
        "--keep-unmatched",
        "--drop-unmatched",
        code=2,
    )
    run("nosuchcommand", code=2)


def test_version_help_and_module() -> None:
    assert paramtool.__version__ in run("--version").stdout
    assert "rename-prefix" in run("-h").stdout
    for cmd in ("ls", "diff", "rename-prefix"):
        assert "Example" in run(cmd, "-h").stdout
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool", "--version"], capture_output=True, text=True, check=True
    )
    assert paramtool.__version__ in proc.stdout


def test_listing_imports_neither_numpy_nor_mxnet() -> None:
    code = (
        "import sys\n"
        "from paramtool.cli import main\n"
        "try:\n"
        f"    main(['ls', {str(T0)!r}, '-f', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('numpy', 'mxnet') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


#: Modules a plain ``paramtool ls FILE`` must not import: listing is almost all start-up, and
#: each of these costs it time (issue #6).
NOT_FOR_LS = (
    "numpy", "mxnet", "rich", "dataclasses", "json", "csv", "shutil", "tempfile", "pathlib",
    "paramtool.diff", "paramtool.writer", "paramtool.tree", "paramtool.stats", "paramtool.npz",
    "paramtool.convert", "paramtool.model", "paramtool.mapping", "paramtool.commands.diff",
    "paramtool.commands.show", "paramtool.commands.rename", "paramtool.commands.convert",
)  # fmt: skip


def test_listing_imports_only_what_it_needs() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"  # what the interpreter itself (site, .pth files) loaded
        "from paramtool.cli import main\n"
        "try:\n"
        f"    main(['ls', {str(T0)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {NOT_FOR_LS!r} if m in set(sys.modules) - before))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "model0_dense0_weight" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# -- rename-prefix -----------------------------------------------------------------------


def test_rename_prefix_bytes(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "m1.params"
    result = run("rename-prefix", T0, "model0_", "model1_", "-o", out, "--backend", backend)
    assert "renamed 6 of 6" in result.stderr
    # same names and order as MXNet's own model1 file, same array bytes as the model0 file
    with (
        paramtool.open_params(out) as new,
        paramtool.open_params(T0) as old,
        paramtool.open_params(T1) as ref,
    ):
        assert new.names == ref.names
        for a, b in zip(old, new, strict=False):
            assert old.read_bytes(a) == new.read_bytes(b)
            assert (a.shape, a.dtype, a.version) == (b.shape, b.dtype, b.version)
    if backend == "native":  # the whole record region is copied byte for byte
        with paramtool.open_params(T0) as old:
            end = old.layout.records_end
        assert out.read_bytes()[24:end] == T0.read_bytes()[24:end]


def test_rename_prefix_keeps_v0_records_and_tags(tmp_path: Path) -> None:
    src = tmp_path / "old.params"
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    src.write_bytes(params_file([record_v0(a), record_v0(a[0])], ["arg:fc1_weight", "aux:fc1_m"]))
    out = tmp_path / "new.params"
    run("rename-prefix", src, "fc1_", "head_", "-o", out)
    with paramtool.open_params(out) as pf:
        assert pf.names == ["arg:head_weight", "aux:head_m"]
        assert [r.version for r in pf] == [0, 0]
        np.testing.assert_array_equal(pf.read(0), a)


def test_rename_prefix_unmatched(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "o.params"
    err = run(
        "rename-prefix", T0, "model0_dense", "x_", "-o", out, "--backend", backend, code=3
    ).stderr
    assert "2 of 6 names do not start with 'model0_dense'" in err
    assert "model0_mydense_weight" in err and "model0_mydense_bias" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    run(
        "rename-prefix",
        T0,
        "model0_dense",
        "x_",
        "-o",
        out,
        "--keep-unmatched",
        "--backend",
        backend,
    )
    names = run("ls", out, "-f", "names").stdout.split()
    assert names == [
        "x_0_weight",
        "x_0_bias",
        "x_1_weight",
        "x_1_bias",
        "model0_mydense_weight",
        "model0_mydense_bias",
    ]
    out.unlink()
    run(
        "rename-prefix",
        T0,
        "model0_dense",
        "x_",
        "-o",
        out,
        "--drop-unmatched",
        "--backend",
        backend,
    )
    assert len(run("ls", out, "-f", "names").stdout.split()) == 4


def test_rename_prefix_collision_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "s.params"
    paramtool.save(src, {"a_w": np.zeros(1), "w": np.ones(1)})
    err = run(
        "rename-prefix", src, "a_", "", "-o", tmp_path / "o", "--keep-unmatched", code=3
    ).stderr
    assert "a_w and w -> w" in err
    assert not (tmp_path / "o").exists()


def test_rename_prefix_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "o.params"
    result = run("rename-prefix", T0, "model0_", "", "-o", out, "--dry-run")
    assert result.stdout.splitlines()[0] == "model0_dense0_weight -> dense0_weight"
    assert "would rename 6 of 6" in result.stderr
    assert not out.exists()


def test_rename_prefix_refuses_existing_and_same_file(tmp_path: Path) -> None:
    src = tmp_path / "s.params"
    shutil.copy(T0, src)
    out = tmp_path / "o.params"
    out.write_bytes(b"precious")
    assert "already exists" in run("rename-prefix", src, "model0_", "m_", "-o", out, code=3).stderr
    assert out.read_bytes() == b"precious"
    run("rename-prefix", src, "model0_", "m_", "-o", out, "--force")
    assert run("ls", out, "-f", "names").stdout.startswith("m_dense0_weight")
    link = tmp_path / "link.params"
    link.symlink_to(src)
    hard = tmp_path / "hard.params"
    os.link(src, hard)
    for same in (link, hard, src):
        err = run("rename-prefix", src, "model0_", "m_", "-o", same, "--force", code=3).stderr
        assert "is the source file" in err
    assert src.read_bytes() == T0.read_bytes()


def test_rename_prefix_in_place_keeps_mode(tmp_path: Path, backend: str) -> None:
    src = tmp_path / "s.params"
    shutil.copy(T0, src)
    os.chmod(src, 0o640)
    run("rename-prefix", src, "model0_", "model1_", "--in-place", "--backend", backend)
    assert stat.S_IMODE(src.stat().st_mode) == 0o640
    assert (
        run("ls", src, "-f", "names").stdout.split() == run("ls", T1, "-f", "names").stdout.split()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["s.params"]  # no temp file left


def test_rename_unnamed_list_is_refused(tmp_path: Path) -> None:
    err = run(
        "rename-prefix", DATA / "unnamed-list.params", "", "x_", "-o", tmp_path / "o", code=3
    ).stderr
    assert "unnamed list" in err


# -- diff -----------------------------------------------------------------------------------


def test_diff_identical(backend: str) -> None:
    out = run("diff", T0, T0, "--backend", backend).stdout
    assert "Same 6 names, shapes and dtypes." in out


def test_diff_prefix_drift_suggests_fix(tmp_path: Path, backend: str) -> None:
    result = run("diff", T0, T1, "--backend", backend, code=1)
    out = result.stdout
    assert "Only in A (6):" in out and "Only in B (6):" in out
    assert "model0_dense0_weight   (20, 10) float32" in out
    assert "Every difference is explained by one prefix change, model0_ -> model1_" in out
    expected = (
        f"paramtool rename-prefix {T0} model0_ model1_ -o "
        f"{str(T0)[: -len('.params')]}.renamed.params"
    )
    assert expected in out
    doc = json.loads(run("diff", T0, T1, "-f", "json", "--backend", backend, code=1).stdout)
    assert doc["identical"] is False
    assert doc["prefix_change"]["old"] == "model0_"
    assert doc["prefix_change"]["explains_all"] is True
    assert len(doc["only_in_a"]) == len(doc["only_in_b"]) == 6


def test_diff_reports_everything_at_once(tmp_path: Path, backend: str) -> None:
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    f32 = np.float32
    paramtool.save(
        a,
        {
            "w": np.zeros((2, 3), f32),
            "b": np.zeros(3, f32),
            "x": np.zeros(1, f32),
            "h": np.zeros(2, np.float16),
        },
    )
    paramtool.save(
        b,
        {
            "w": np.zeros((4, 3), f32),
            "b": np.zeros(3, f32),
            "y": np.zeros(1, f32),
            "h": np.zeros(2, f32),
        },
    )
    doc = json.loads(run("diff", a, b, "-f", "json", "--backend", backend, code=1).stdout)
    assert doc["only_in_a"] == ["x"] and doc["only_in_b"] == ["y"]
    assert doc["shape_mismatches"] == [{"name": "w", "a": "(2, 3)", "b": "(4, 3)"}]
    assert doc["dtype_mismatches"] == [{"name": "h", "a": "float16", "b": "float32"}]
    assert doc["common"] == 3
    assert doc["prefix_change"] is None
    text = run("diff", a, b, "--backend", backend, code=1).stdout
    assert "Shape differs (1):\n  w  A (2, 3)  B (4, 3)" in text
    assert "dtype differs (1):\n  h  A float16  B float32" in text


def test_diff_prefix_change_with_shape_change(tmp_path: Path) -> None:
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"net0_w": np.zeros(2), "net0_out": np.zeros(10)})
    paramtool.save(b, {"net1_w": np.zeros(2), "net1_out": np.zeros(5)})
    doc = json.loads(run("diff", a, b, "-f", "json", code=1).stdout)
    assert doc["prefix_change"]["old"] == "net0_"
    assert doc["prefix_change"]["explains_all"] is False
    assert "but shapes or dtypes differ too" in run("diff", a, b, code=1).stdout


# -- the two backends agree ------------------------------------------------------------------

ALL_DATA = sorted(DATA.glob("*.params"))


@pytest.mark.mxnet
@pytest.mark.parametrize("path", ALL_DATA, ids=[p.name for p in ALL_DATA])
def test_backends_agree(tmp_path: Path, path: Path) -> None:
    if not MXNET:
        pytest.skip("MXNet 1.9.1 not importable here")
    keys = ("name", "shape", "dtype", "elements", "nbytes")
    listings = {}
    for be in ("native", "mxnet"):
        doc = json.loads(run("ls", path, "-f", "json", "--backend", be).stdout)
        listings[be] = [{k: p[k] for k in keys} for p in doc["parameters"]]
    assert listings["native"] == listings["mxnet"]
    reports = {}
    for be in ("native", "mxnet"):
        doc = json.loads(run("diff", path, T0, "-f", "json", "--backend", be, code=None).stdout)
        del doc["scheme"]  # identical too, but checked above through the names
        reports[be] = doc
    assert reports["native"] == reports["mxnet"]
    if listings["native"] and listings["native"][0]["name"] is not None:
        outs = {}
        for be in ("native", "mxnet"):
            out = tmp_path / f"{be}.params"
            run("rename-prefix", path, "", "p_", "-o", out, "--backend", be)
            with paramtool.open_params(out) as pf:
                outs[be] = [(r.name, r.shape, r.dtype_name, pf.read_bytes(r)) for r in pf]
        assert outs["native"] == outs["mxnet"]


# -- hardening (found by a new-user trial) -----------------------------------------------------


def test_refuses_to_write_over_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.params"
    os.mkfifo(fifo)
    err = run("rename-prefix", T0, "model0_", "x_", "-o", fifo, "--force", code=3).stderr
    assert "not a regular file" in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlinked_destination_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "target.params"
    target.write_bytes(b"old")
    link = tmp_path / "link.params"
    link.symlink_to(target)
    assert "already exists" in run("rename-prefix", T0, "model0_", "x_", "-o", link, code=3).stderr
    run("rename-prefix", T0, "model0_", "x_", "-o", link, "--force")
    assert link.is_symlink()
    assert run("ls", target, "-f", "names").stdout.startswith("x_dense0_weight")


def test_dangling_symlink_destination_needs_force(tmp_path: Path) -> None:
    link = tmp_path / "dangling.params"
    link.symlink_to(tmp_path / "missing.params")
    err = run("rename-prefix", T0, "model0_", "x_", "-o", link, code=3).stderr
    assert "symlink to a missing file" in err
    assert link.is_symlink() and not (tmp_path / "missing.params").exists()


def test_in_place_through_a_symlink_rewrites_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model-0010.params"
    shutil.copy(T0, target)
    latest = tmp_path / "latest.params"
    latest.symlink_to(target.name)
    run("rename-prefix", latest, "model0_", "model1_", "--in-place")
    assert latest.is_symlink()
    with paramtool.open_params(target) as new, paramtool.open_params(T0) as old:
        assert new.names == [n.replace("model0_", "model1_") for n in old.names if n]
        assert [new.read_bytes(r) for r in new] == [old.read_bytes(r) for r in old]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.params", "model-0010.params"]


def test_tag_in_old_or_new_is_a_usage_error() -> None:
    err = run("rename-prefix", DATA / "hybrid-0000.params", "arg:", "x", "-n", code=2).stderr
    assert "without the tag" in err
    run("rename-prefix", DATA / "hybrid-0000.params", "", "aux:", "-n", code=2)


def test_rename_to_an_empty_name_is_refused(tmp_path: Path) -> None:
    err = run(
        "rename-prefix",
        T0,
        "model0_dense0_weight",
        "",
        "--drop-unmatched",
        "-o",
        tmp_path / "o",
        code=3,
    ).stderr
    assert "would become empty" in err and str(T0) in err


def test_diff_structural_vs_prefixed_points_to_model_diff() -> None:
    out = run("diff", T0, DATA / "tutorial-structural.params", code=1).stdout
    assert "no prefix change maps one onto the other" in out
    assert "paramtool diff FILE --model SPEC" in out


def test_duplicate_names_are_reported(tmp_path: Path) -> None:
    p = tmp_path / "dup.params"
    p.write_bytes(params_file([record_v23(np.zeros(1, np.float32))] * 2, ["a", "a"]))
    err = run("ls", p).stderr
    assert "1 name appears more than once (a); MXNet keeps the last" in err


def _cli_process(*args: str, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramtool", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_stdout_failure_is_one_line_exit_3() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is not available here")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "paramtool", "diff", str(T0), str(T0)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert proc.returncode == 3
    assert proc.stderr == "Error: cannot write output: No space left on device\n"


def test_broken_pipe_exits_141_quietly(tmp_path: Path) -> None:
    many = tmp_path / "many.params"  # a listing larger than any pipe buffer
    paramtool.save(
        many, {f"block{i}_conv{i}_weight_with_a_long_name": np.zeros(1) for i in range(20000)}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "paramtool", "ls", str(many)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, like `| head -1`
    err = proc.stderr.read()
    assert proc.wait() == 141
    assert err == b""


def test_save_rejects_wrong_argument_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="pass \\[array\\]"):
        paramtool.save(tmp_path / "x.params", np.zeros((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str"):
        paramtool.save(tmp_path / "x.params", {1: np.zeros(1)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="NUL"):
        paramtool.save(tmp_path / "x.params", {"a\0b": np.zeros(1)})
    assert list(tmp_path.iterdir()) == []


# -- found by the second new-user trial ------------------------------------------------------

TUT = f"{DATA / 'models' / 'tutorial.py'}:build"


def _hand_mapping(path: Path, target: str = "structural") -> Path:
    """A mapping as ``--save-mapping`` writes it, for T1, made without MXNet."""
    with paramtool.open(T1) as pf:
        names = [str(n) for n in pf.names]
    entries = [{"from": n, "to": n.replace("model1_", "").replace("_", ".", 1)} for n in names]
    doc = {"paramtool_mapping": 1, "model": "hand", "target": target, "entries": entries}
    path.write_text(json.dumps(doc))
    return path


def test_save_mapping_cannot_be_the_output(tmp_path: Path) -> None:
    out = tmp_path / "d.params"
    m = _hand_mapping(tmp_path / "hand.json")
    err = run("to-structural", T1, "--mapping", m, "-o", out, "--save-mapping", out, code=2).stderr
    assert "name the same file" in err and not out.exists()
    err = run(
        "to-structural",
        T1,
        "--mapping",
        m,
        "-o",
        out,
        "--save-mapping",
        tmp_path / "nodir" / "m.json",
        code=3,
    ).stderr
    assert "directory does not exist" in err and not out.exists()  # refused before writing
    saved = tmp_path / "m.json"
    dry = ["to-structural", T1, "--mapping", m, "-o", out, "--dry-run", "--save-mapping", saved]
    assert "--save-mapping is ignored" in run(*dry).stderr
    assert not saved.exists() and not out.exists()


def test_mapping_must_be_a_mapping_of_the_same_kind(tmp_path: Path) -> None:
    err = run("to-structural", T0, "--mapping", T0, "-o", tmp_path / "x.params", code=3).stderr
    assert "not a paramtool mapping file" in err and err.count("\n") == 1
    m = _hand_mapping(tmp_path / "m.json")
    run("to-structural", T1, "--mapping", m, "-o", tmp_path / "s.params")
    with paramtool.open(tmp_path / "s.params") as pf:
        assert pf.names[0] == "dense0.weight"
    err = run("to-prefixed", T1, "--mapping", m, "-o", tmp_path / "p.params", code=3).stderr
    assert "saved for structural keys, not prefixed" in err
    assert not (tmp_path / "p.params").exists()


def test_bad_model_args_and_shapes_are_one_line_errors() -> None:
    if not MXNET:
        pytest.skip("MXNet 1.9.1 not importable here")
    err = run("diff", T1, "--model", "zoo:alexnet", "--model-arg", "classes=abc", code=3).stderr
    assert err.startswith("Error: zoo:alexnet: ") and err.count("\n") == 1
    for shape in ("1,x", "1,,10", "0,3", "1x"):
        run("diff", T1, "--model", TUT, "--input-shape", shape, code=2)


def test_nan_tolerance_is_a_usage_error() -> None:
    err = run("diff", T0, T1, "--values", "--atol", "nan", code=2).stderr
    assert "not nan" in err


def test_excluding_everything_says_so(tmp_path: Path) -> None:
    err = run(
        "rename-prefix", T0, "model0_", "x_", "-o", tmp_path / "o", "--exclude", "*", code=3
    ).stderr
    assert "every name is left out by --exclude" in err


def test_an_unreadable_input_is_exit_3_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input that cannot be read (no permission) is bad input, exit 3 with one line, not a
    usage error (Click's own readable check gave exit 2 and three lines). Tests run as root,
    where chmod 000 does not stop reads: the denial is simulated."""
    import builtins

    locked = tmp_path / "locked.params"
    shutil.copy(Path(__file__).parent / "data" / "tutorial-model0.params", locked)
    real_open, real_access = builtins.open, os.access

    def deny_open(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def deny_access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if str(path) == str(locked):
            return False
        return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "open", deny_open)
    monkeypatch.setattr(os, "access", deny_access)
    other = str(Path(__file__).parent / "data" / "tutorial-model0.params")
    for args in (
        ["ls", str(locked)],
        ["check", str(locked)],
        ["show", str(locked), "model0_dense0_bias"],
        ["diff", str(locked), other],
        ["diff", other, str(locked)],
        ["rename-prefix", str(locked), "model0_", "m_", "-o", str(tmp_path / "o.params")],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3, (args, result.output)
        assert result.stderr.count("\n") == 1 and "Permission denied" in result.stderr, args

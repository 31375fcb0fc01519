"""``diff FILE --model SPEC``, ``to-structural``, ``to-prefixed``; MXNet 1.9.1 is the oracle.

Every source checkpoint is written here by MXNet, the way users end up with mismatched files:
``collect_params().save`` of the *second* instance of a model in a name scope (``model1_``,
``alexnet1_``: prefix drift), ``HybridBlock.export`` after hybridize + forward (``arg:``/``aux:``),
``save_parameters`` (structural), ``net.cast('float16')`` (fp16), a whole-model file for
``net.features`` (extra ``features.``), a fine-tuned AlexNet whose ``output`` is a ``Dense(100)``
made outside the net's name scope (two prefixes) and a class-count change.

A conversion passes when ``net.load_parameters(DST)`` works on a freshly built identical net, every
parameter equals its source array bit for bit, DST's keys (and order) are the ones
``net.save_parameters`` writes, and every record (header and data) is the source's, byte for byte.
A ``diff --model`` passes when its JSON report lists what differs, and the command it prints, run
as printed (only ``-o`` redirected into ``tmp_path``), gives a file MXNet loads with the load flags
the report names.

Builders: ``tests/data/models/tutorial.py`` and ``tests/data/models/zoo_variants.py``. Tests that
need MXNet skip where ``import mxnet`` fails; the ``--mapping`` and no-MXNet paths run in a
subprocess where ``import mxnet`` is blocked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner, Result

import paramtool
from paramtool.cli import cli

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MODELS = DATA / "models"
TUTORIAL = MODELS / "tutorial.py"
VARIANTS = MODELS / "zoo_variants.py"
T0 = DATA / "tutorial-model0.params"
TS = DATA / "tutorial-structural.params"
MXNET_MISSING = "MXNet 1.9.1 not importable here"
ALEXNET_INPUT = (1, 3, 64, 64)  # features end at 256x1x1: Dense(4096) has in_units 256


def tut(name: str) -> str:
    return f"{TUTORIAL}:{name}"


# ------------------------------------------------------------------------------------------
# helpers


def invoke(*args: Any, code: int | None = None) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def model_report(path: Path, spec: str, *extra: Any, code: int = 1) -> dict[str, Any]:
    result = invoke("diff", path, "--model", spec, *extra, "--format", "json", code=code)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["identical"] is (code == 0)
    return report


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]


def finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["code"] == code]
    assert len(found) == 1, report["findings"]
    return found[0]


def fix_finding(report: dict[str, Any]) -> dict[str, Any]:
    """The one finding that carries a command."""
    found = [f for f in report["findings"] if f["command"]]
    assert len(found) == 1, report["findings"]
    return found[0]


def run_printed(command: str, out: Path) -> Path:
    """Run a command ``diff`` printed, exactly as printed but with ``-o`` redirected to ``out``."""
    argv = shlex.split(command)
    assert argv[0] == "paramtool", command
    argv = argv[1:]
    i = argv.index("-o")
    argv[i + 1] = str(out)
    invoke(*argv, code=0)
    return out


def load_flags(hint: str | None) -> dict[str, bool]:
    """``net.load_parameters(..., allow_missing=True)`` -> ``{"allow_missing": True}``."""
    return dict.fromkeys(re.findall(r"(\w+)=True", hint or ""), True)


def records(path: Path) -> dict[str, tuple[bytes, bytes]]:
    """name -> (the record's bytes, header and data; its data via ``read_bytes``)."""
    raw = path.read_bytes()
    with paramtool.open_params(path) as pf:
        return {
            str(r.name): (raw[r.offset : r.data_offset + r.nbytes], pf.read_bytes(r))
            for r in pf.records
        }


def keys(mx: Any, path: Path) -> list[str]:
    return list(mx.nd.load(str(path)).keys())


def run_without_mxnet(*args: Any) -> subprocess.CompletedProcess[str]:
    """``paramtool.cli.main(args)`` in a fresh interpreter where ``import mxnet`` fails."""
    code = (
        "import sys\n"
        "sys.modules['mxnet'] = None\n"
        "from paramtool.cli import main\n"
        f"main({[str(a) for a in args]!r})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )


# ------------------------------------------------------------------------------------------
# MXNet fixtures and oracles


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builders(mx: Any) -> ModuleType:
    return _module("_test_convert_tutorial", TUTORIAL)


@pytest.fixture(scope="module")
def variants(mx: Any) -> ModuleType:
    return _module("_test_convert_zoo_variants", VARIANTS)


def fresh(mx: Any, build: Callable[..., Any], **kwargs: Any) -> Any:
    """The first instance in a fresh name scope (``model0_``), as ``--model`` builds it."""
    with mx.name.NameManager():
        return build(**kwargs)


def second(mx: Any, build: Callable[..., Any], **kwargs: Any) -> Any:
    """The second instance in a name scope (``model1_``): a drifted prefix."""
    with mx.name.NameManager():
        build(**kwargs)
        return build(**kwargs)


def zoo(mx: Any, name: str) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        return mx.gluon.model_zoo.vision.get_model(name, pretrained=False, **kwargs)

    return build


def randomize(mx: Any, net: Any, *shapes: tuple[int, ...], hybridize: bool = False) -> Any:
    """Initialise (shapes by one forward pass), then give every parameter distinct random
    values, so that a wrong key mapping cannot go unnoticed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.initialize(ctx=mx.cpu())
        if hybridize:
            net.hybridize()
        net(*[mx.nd.zeros(s) for s in shapes])
        for p in net.collect_params().values():
            p.set_data(mx.nd.random.uniform(-1, 1, shape=p.shape).astype(p.dtype))
        net(*[mx.nd.zeros(s) for s in shapes])  # export needs a forward after set_data
        mx.nd.waitall()
    return net


def prefixed_keys(net: Any) -> dict[str, str]:
    """structural key -> the key ``collect_params().save`` writes for that parameter."""
    return {k: p.name for k, p in net._collect_params_with_prefix().items()}


def first_aliases(net: Any) -> list[tuple[str, Any]]:
    """(structural key, Parameter) for the first alias of every Parameter."""
    seen: set[int] = set()
    out = []
    for k, p in net._collect_params_with_prefix().items():
        if id(p) not in seen:
            seen.add(id(p))
            out.append((k, p))
    return out


def export_keys(net: Any, export_file: Path, mx: Any) -> dict[str, str]:
    """structural key -> the ``arg:``/``aux:`` key ``export`` wrote for that parameter."""
    written = set(keys(mx, export_file))
    out = {}
    for k, p in net._collect_params_with_prefix().items():
        tagged = [t + p.name for t in ("arg:", "aux:") if t + p.name in written]
        assert len(tagged) == 1, (k, p.name)
        out[k] = tagged[0]
    return out


def check_structural(
    mx: Any,
    dst: Path,
    build: Callable[[], Any],
    src: Path,
    src_key: dict[str, str],
    *,
    flags: dict[str, bool] | None = None,
    inputs: tuple[tuple[int, ...], ...] = (),
    left_out: tuple[str, ...] = (),
    deduplicate: bool = False,
) -> Any:
    """The acceptance test of a structural conversion.

    ``build()`` gives a fresh identical net; ``src_key`` maps each structural key to the source
    file's key for the same parameter; ``left_out`` are structural keys the conversion had to
    leave out (loaded with ``allow_missing=True``, initialised afterwards by a forward pass on
    zeros of ``inputs`` so that ``save_parameters`` can write them).
    """
    net = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.load_parameters(str(dst), ctx=mx.cpu(), **(flags or {}))
    src_arrays = mx.nd.load(str(src))
    dst_arrays = mx.nd.load(str(dst))
    params = net._collect_params_with_prefix()
    written = list(dst_arrays)
    assert not set(written) & set(left_out)
    for k in written:
        want = src_arrays[src_key[k]].asnumpy()
        got_file = dst_arrays[k].asnumpy()
        assert got_file.dtype == want.dtype and got_file.tobytes() == want.tobytes(), k
        got = params[k].data().asnumpy()
        if (flags or {}).get("cast_dtype"):
            want = want.astype(got.dtype)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), k
    for k in left_out:
        with pytest.raises(RuntimeError):
            params[k].data()  # allow_missing left it uninitialised
    # every record, header and data, is the source's record byte for byte
    src_records = records(src)
    dst_records = records(dst)
    assert list(dst_records) == written
    for k in written:
        assert dst_records[k] == src_records[src_key[k]], k
    # the keys (and order) save_parameters writes
    if left_out:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.initialize(ctx=mx.cpu())
            net(*[mx.nd.zeros(s) for s in inputs])
    reference = dst.with_name(dst.name + ".save_parameters")
    net.save_parameters(str(reference), deduplicate=deduplicate)
    assert written == [k for k in keys(mx, reference) if k not in left_out]
    return net


def check_values(mx: Any, net_params: dict[str, Any], src: Path, src_key: dict[str, str]) -> None:
    """Each ``name -> Parameter`` holds bit for bit the source array ``src_key[name]``."""
    src_arrays = mx.nd.load(str(src))
    for name, p in net_params.items():
        want = src_arrays[src_key[name]].asnumpy()
        got = p.data().asnumpy()
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name


def check_same_records(dst: Path, src: Path, src_key: dict[str, str]) -> None:
    src_records = records(src)
    for k, rec in records(dst).items():
        assert rec == src_records[src_key[k]], k


# ------------------------------------------------------------------------------------------
# Without MXNet: usage and input errors


def test_diff_model_unreadable_file_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.params"
    bad.write_bytes(b"<html><body>Not Found</body></html>")
    result = invoke("diff", bad, "--model", TS, code=3)
    assert result.stderr.count("\n") == 1 and str(bad) in result.stderr
    assert not result.stdout
    # the model spec unreadable: exit 3 as well
    result = invoke("diff", TS, "--model", bad, code=3)
    assert str(bad) in result.stderr


def test_model_and_mapping_are_exclusive_exit_2(tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text('{"paramtool_mapping": 1, "entries": []}')
    out = tmp_path / "out.params"
    for command in ("to-structural", "to-prefixed"):
        result = invoke(command, T0, "--model", TS, "--mapping", mapping, "-o", out, code=2)
        assert "--model" in result.stderr and "--mapping" in result.stderr
        invoke(command, T0, "-o", out, code=2)  # neither
    assert not out.exists()


def test_destination_exists_exit_3_force_overwrites(tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    entries = [
        {"from": f"model0_{n}_{w}", "to": f"{n}.{w}"}
        for n in ("dense0", "dense1", "mydense")
        for w in ("weight", "bias")
    ]
    mapping.write_text(json.dumps({"paramtool_mapping": 1, "entries": entries}))
    out = tmp_path / "out.params"
    out.write_bytes(b"precious")
    result = invoke("to-structural", T0, "--mapping", mapping, "-o", out, code=3)
    assert str(out) in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    # --dry-run says what it would do and still writes nothing
    result = invoke("to-structural", T0, "--mapping", mapping, "-o", out, "--dry-run", code=0)
    assert result.stdout.splitlines()[0] == "model0_dense0_weight -> dense0.weight"
    assert out.read_bytes() == b"precious"
    invoke("to-structural", T0, "--mapping", mapping, "-o", out, "--force", code=0)
    # the same keys, order and bytes as MXNet's save_parameters file of the tutorial model
    assert list(records(out)) == list(records(TS))
    assert records(out) == records(TS)


def test_zoo_spec_without_mxnet_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "out.params"
    for argv in (
        ("diff", T0, "--model", "zoo:alexnet"),
        ("to-structural", T0, "--model", "zoo:alexnet", "-o", out),
        ("to-prefixed", TS, "--model", "zoo:alexnet", "--export", "-o", out),
    ):
        proc = run_without_mxnet(*argv)
        assert proc.returncode == 3, (argv, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1
        assert "mxnet" in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()


def test_zoo_spec_without_mxnet_message_fits_the_command(tmp_path: Path) -> None:
    """BUG: to-structural has no --backend option, yet its error suggests one."""
    proc = run_without_mxnet(
        "to-structural", T0, "--model", "zoo:alexnet", "-o", tmp_path / "out.params"
    )
    assert proc.returncode == 3
    assert "--backend native" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------
# The tutorial model: prefix drift, matching files, the conversion options


@pytest.fixture
def tutorial_model1(mx: Any, builders: ModuleType, tmp_path: Path) -> tuple[Path, Any]:
    """``collect_params().save`` of the second ``Model()`` in a name scope: ``model1_`` keys."""
    mx.random.seed(1)
    net = randomize(mx, second(mx, builders.Model), (1, 10))
    assert net.prefix == "model1_"
    src = tmp_path / "model1.params"
    net.collect_params().save(str(src))
    return src, net


@pytest.mark.mxnet
def test_tutorial_prefix_drift(
    mx: Any, builders: ModuleType, tutorial_model1: tuple[Path, Any], tmp_path: Path
) -> None:
    src, net = tutorial_model1
    build = lambda: fresh(mx, builders.Model)  # noqa: E731
    # the failure the issue is about
    with pytest.raises(AssertionError, match="missing in file"):
        build().load_parameters(str(src))
    report = model_report(src, tut("build"))
    assert report["expect"] == "structural" and report["model_root_prefix"] == "model0_"
    assert report["file_scheme"]["root_prefix"] == "model1_"
    assert report["matched"] == 6 and report["names_ok"] is False
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["shape_mismatches"] == [] and report["dtype_mismatches"] == []
    assert [(r["name"], r["expected"]) for r in report["renamed"]] == [
        (v, [k]) for k, v in prefixed_keys(net).items()
    ]
    assert codes(report) == ["keys"]
    f = finding(report, "keys")
    assert "prefix drift" in f["message"] and "model1_" in f["message"]
    assert "to-structural" in f["command"] and f["load"] == "net.load_parameters(...)"
    # the table prints the same command
    table = invoke("diff", src, "--model", tut("build"), code=1).stdout
    assert f"Fix:  {f['command']}" in table and "prefix drift" in table
    dst = run_printed(f["command"], tmp_path / "fixed.params")
    check_structural(mx, dst, build, src, prefixed_keys(net))
    # the converted file now matches the model
    assert codes(model_report(dst, tut("build"), code=0)) == []

    # a process that loads with collect_params().load: rename-prefix is the fix
    report = model_report(src, tut("build"), "--expect", "prefixed")
    f = finding(report, "keys")
    assert f["command"].startswith(f"paramtool rename-prefix {src} model1_ model0_ ")
    assert f["load"] == "net.collect_params().load(...)"
    dst = run_printed(f["command"], tmp_path / "renamed.params")
    model0 = build()
    model0.collect_params().load(str(dst), ctx=mx.cpu())
    src_of = {f"model0_{n[len('model1_') :]}": n for n in prefixed_keys(net).values()}
    check_values(mx, model0.collect_params(), src, src_of)
    check_same_records(dst, src, src_of)
    # ... and telling diff that the process's prefix is model1_ makes the file match
    report = model_report(src, tut("build"), "--expect", "prefixed", "--prefix", "model1_", code=0)
    assert report["findings"] == [] and report["names_ok"] is True


@pytest.mark.mxnet
def test_tutorial_matching_and_missing(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    # save_parameters of the model, and collect_params().save of the first instance: exit 0
    report = model_report(TS, tut("build"), code=0)
    assert report["findings"] == [] and report["matched"] == 6
    assert model_report(T0, tut("build"), "--expect", "prefixed", code=0)["findings"] == []
    assert (
        "All 6 keys are what the model expects"
        in invoke("diff", TS, "--model", tut("build"), code=0).stdout
    )
    # a file without mydense: every missing parameter is listed, allow_missing=True named
    src_arrays = mx.nd.load(str(TS))
    partial = tmp_path / "partial.params"
    mx.nd.save(str(partial), {k: v for k, v in src_arrays.items() if not k.startswith("mydense")})
    report = model_report(partial, tut("build"))
    assert [m["structural"] for m in report["missing"]] == [["mydense.weight"], ["mydense.bias"]]
    assert [m["prefixed"] for m in report["missing"]] == [
        "model0_mydense_weight",
        "model0_mydense_bias",
    ]
    assert report["unexpected"] == [] and report["renamed"] == []
    assert codes(report) == ["missing"]
    flags = load_flags(finding(report, "missing")["load"])
    assert flags == {"allow_missing": True}
    net = fresh(mx, builders.Model)
    net.load_parameters(str(partial), ctx=mx.cpu(), **flags)
    # a file with an extra key: listed as unexpected, ignore_extra=True named
    extra = tmp_path / "extra.params"
    mx.nd.save(str(extra), {**src_arrays, "head.weight": mx.nd.ones((2, 20))})
    report = model_report(extra, tut("build"))
    assert report["unexpected"] == [{"name": "head.weight", "shape": [2, 20], "dtype": "float32"}]
    assert codes(report) == ["unexpected"]
    flags = load_flags(finding(report, "unexpected")["load"])
    assert flags == {"ignore_extra": True}
    fresh(mx, builders.Model).load_parameters(str(extra), ctx=mx.cpu(), **flags)


@pytest.mark.mxnet
def test_to_structural_options(
    mx: Any, builders: ModuleType, tutorial_model1: tuple[Path, Any], tmp_path: Path
) -> None:
    src, net = tutorial_model1
    spec = tut("build")
    src_key = prefixed_keys(net)
    build = lambda: fresh(mx, builders.Model)  # noqa: E731
    dst = tmp_path / "s.params"
    mapping = tmp_path / "map.json"
    result = invoke("to-structural", src, "--model", spec, "-o", dst, "--save-mapping", mapping)
    assert result.exit_code == 0, result.stderr
    check_structural(mx, dst, build, src, src_key)
    doc = json.loads(mapping.read_text())
    assert doc["paramtool_mapping"] == 1 and doc["target"] == "structural"
    assert [(e["from"], e["to"]) for e in doc["entries"]] == [(v, k) for k, v in src_key.items()]
    # --dry-run: old -> new on stdout, nothing written
    dry = tmp_path / "dry.params"
    result = invoke("to-structural", src, "--model", spec, "-o", dry, "--dry-run", code=0)
    assert result.stdout.splitlines() == [f"{v} -> {k}" for k, v in src_key.items()]
    assert not dry.exists()
    # DST exists: exit 3, untouched; --force overwrites with the same bytes
    before = dst.read_bytes()
    dst.write_bytes(b"old")
    result = invoke("to-structural", src, "--model", spec, "-o", dst, code=3)
    assert "--force" in result.stderr and dst.read_bytes() == b"old"
    invoke("to-structural", src, "--model", spec, "-o", dst, "--force", code=0)
    assert dst.read_bytes() == before
    # --exclude by the new name: left out, reported, loadable with allow_missing=True
    part = tmp_path / "part.params"
    result = invoke("to-structural", src, "--model", spec, "-o", part, "--exclude", "mydense.*")
    assert result.exit_code == 0
    assert "model1_mydense_weight" in result.stderr and "allow_missing=True" in result.stderr
    check_structural(
        mx,
        part,
        build,
        src,
        src_key,
        flags={"allow_missing": True},
        inputs=((1, 10),),
        left_out=("mydense.weight", "mydense.bias"),
    )
    # --prefix names the file's root prefix instead of finding it
    named = tmp_path / "named.params"
    invoke("to-structural", src, "--model", spec, "--prefix", "model1_", "-o", named, code=0)
    assert named.read_bytes() == before
    wrong = tmp_path / "wrong.params"
    result = invoke("to-structural", src, "--model", spec, "--prefix", "model7_", "-o", wrong)
    assert result.exit_code == 3 and str(src) in result.stderr and not wrong.exists()
    # --exclude by the file's name gives the same file
    part2 = tmp_path / "part2.params"
    invoke("to-structural", src, "--model", spec, "-o", part2, "--exclude", "model1_mydense_*")
    assert part2.read_bytes() == part.read_bytes()


@pytest.mark.mxnet
def test_save_mapping_refused_before_anything_is_written(
    mx: Any, tutorial_model1: tuple[Path, Any], tmp_path: Path
) -> None:
    """BUG: an existing --save-mapping file is refused (exit 3) only after DST was written."""
    src, _ = tutorial_model1
    mapping = tmp_path / "map.json"
    mapping.write_text("keep me")
    dst = tmp_path / "s.params"
    result = invoke("to-structural", src, "--model", tut("build"), "-o", dst,
                    "--save-mapping", mapping, code=3)  # fmt: skip
    assert "--force" in result.stderr and mapping.read_text() == "keep me"
    assert not dst.exists(), "exit 3, yet DST was written"


@pytest.mark.mxnet
def test_dry_run_writes_nothing_not_even_the_mapping(
    mx: Any, tutorial_model1: tuple[Path, Any], tmp_path: Path
) -> None:
    """BUG (or a help text to fix): --dry-run is "Print old -> new, write nothing", yet it
    writes the --save-mapping file."""
    src, _ = tutorial_model1
    mapping = tmp_path / "map.json"
    dst = tmp_path / "s.params"
    invoke("to-structural", src, "--model", tut("build"), "-o", dst, "--dry-run",
           "--save-mapping", mapping, code=0)  # fmt: skip
    assert not dst.exists()
    assert not mapping.exists()


@pytest.mark.mxnet
def test_mapping_round_trip_without_mxnet(
    mx: Any, builders: ModuleType, tutorial_model1: tuple[Path, Any], tmp_path: Path
) -> None:
    src, net = tutorial_model1
    with_model = tmp_path / "with-model.params"
    mapping = tmp_path / "map.json"
    invoke(
        "to-structural", src, "--model", tut("build"), "-o", with_model,
        "--save-mapping", mapping, code=0,
    )  # fmt: skip
    without = tmp_path / "with-mapping.params"
    proc = run_without_mxnet("to-structural", src, "--mapping", mapping, "-o", without)
    assert proc.returncode == 0, proc.stderr
    assert without.read_bytes() == with_model.read_bytes()
    # the mapping applies to another checkpoint of the same run (same keys, other values)
    mx.random.seed(2)
    for p in net.collect_params().values():
        p.set_data(mx.nd.random.uniform(-1, 1, shape=p.shape))
    later = tmp_path / "model1-epoch2.params"
    net.collect_params().save(str(later))
    out = tmp_path / "epoch2.structural.params"
    proc = run_without_mxnet("to-structural", later, "--mapping", mapping, "-o", out)
    assert proc.returncode == 0, proc.stderr
    check_structural(mx, out, lambda: fresh(mx, builders.Model), later, prefixed_keys(net))
    # a file with a key the mapping does not know: exit 3, suggests --exclude
    extra = tmp_path / "extra.params"
    mx.nd.save(str(extra), {**mx.nd.load(str(src)), "model1_head_weight": mx.nd.ones((2,))})
    proc = run_without_mxnet("to-structural", extra, "--mapping", mapping, "-o", tmp_path / "x")
    assert proc.returncode == 3
    assert "model1_head_weight" in proc.stderr and "--exclude" in proc.stderr
    proc = run_without_mxnet(
        "to-structural", extra, "--mapping", mapping, "-o", tmp_path / "x",
        "--exclude", "*head*",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x").read_bytes() == with_model.read_bytes()


# ------------------------------------------------------------------------------------------
# Sequential in a name scope


@pytest.mark.mxnet
def test_sequential_both_directions(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    mx.random.seed(3)
    net = randomize(mx, second(mx, builders.build_sequential), (2, 5))
    assert net.prefix == "sequential1_"
    src = tmp_path / "seq1.params"
    net.collect_params().save(str(src))
    spec = tut("build_sequential")
    report = model_report(src, spec)
    f = finding(report, "keys")
    assert "prefix drift: sequential1_ in the file, sequential0_ in the model" in f["message"]
    assert "to-structural" in f["command"]
    dst = run_printed(f["command"], tmp_path / "seq.structural.params")
    check_structural(mx, dst, lambda: fresh(mx, builders.build_sequential), src, prefixed_keys(net))
    assert keys(mx, dst) == ["0.weight", "0.bias", "1.weight", "1.bias"]

    # back: structural -> the model's own prefix (sequential0_), in collect_params() order
    back = tmp_path / "seq0.params"
    invoke("to-prefixed", dst, "--model", spec, "-o", back, code=0)
    model0 = fresh(mx, builders.build_sequential)
    model0.collect_params().load(str(back), ctx=mx.cpu())
    model0.collect_params().save(str(tmp_path / "seq0.reference.params"))
    assert keys(mx, back) == keys(mx, tmp_path / "seq0.reference.params")
    src_of = {p0: p1 for p0, p1 in zip(model0.collect_params(), net.collect_params(), strict=True)}
    check_values(mx, model0.collect_params(), src, src_of)
    check_same_records(back, src, src_of)
    # --exclude: left out of the prefixed file too
    part = tmp_path / "seq0-part.params"
    result = invoke("to-prefixed", dst, "--model", spec, "--exclude", "1.*", "-o", part, code=0)
    assert "allow_missing=True" in result.stderr
    assert keys(mx, part) == ["sequential0_dense0_weight", "sequential0_dense0_bias"]
    partial = fresh(mx, builders.build_sequential)
    partial.collect_params().load(str(part), ctx=mx.cpu(), allow_missing=True)
    check_values(mx, partial[0].collect_params(), src, src_of)
    # ... and --prefix chooses the root: sequential1_ gives the source file back, byte for byte
    again = tmp_path / "seq1-again.params"
    invoke("to-prefixed", dst, "--model", spec, "--prefix", "sequential1_", "-o", again, code=0)
    assert again.read_bytes() == src.read_bytes()
    second(mx, builders.build_sequential).collect_params().load(str(again), ctx=mx.cpu())


# ------------------------------------------------------------------------------------------
# AlexNet (61M parameters at 224x224; 22M here at 64x64): built once for the module


@pytest.fixture(scope="module")
def alexnet_files(mx: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The second AlexNet of a process (``alexnet1_``), saved with ``collect_params().save``;
    then fine-tuned as in the MXNet fine-tuning tutorial: ``net.output = Dense(100)`` made
    outside the net's name scope (``dense1_``), saved prefixed and structural."""
    d = tmp_path_factory.mktemp("alexnet")
    mx.random.seed(4)
    net = randomize(mx, second(mx, zoo(mx, "alexnet")), ALEXNET_INPUT)
    assert net.prefix == "alexnet1_"
    files: dict[str, Any] = {"plain": d / "alexnet1.params", "plain_keys": prefixed_keys(net)}
    net.collect_params().save(str(files["plain"]))
    with mx.name.NameManager():
        mx.gluon.nn.Dense(3)  # some other Dense made earlier in that process
        net.output = mx.gluon.nn.Dense(100)
    assert net.output.prefix == "dense1_"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.output.initialize(ctx=mx.cpu())
        net(mx.nd.zeros(ALEXNET_INPUT))
    for p in net.output.collect_params().values():
        p.set_data(mx.nd.random.uniform(-1, 1, shape=p.shape))
    files["ft_prefixed"] = d / "finetuned-prefixed.params"
    files["ft_structural"] = d / "finetuned.params"
    files["ft_keys"] = prefixed_keys(net)
    net.collect_params().save(str(files["ft_prefixed"]))
    net.save_parameters(str(files["ft_structural"]))
    return files


@pytest.mark.mxnet
def test_alexnet_prefix_drift(mx: Any, alexnet_files: dict[str, Any], tmp_path: Path) -> None:
    src = alexnet_files["plain"]
    report = model_report(src, "zoo:alexnet")
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["shape_mismatches"] == [] and report["dtype_mismatches"] == []
    assert len(report["renamed"]) == 16
    assert codes(report) == ["keys"]
    f = finding(report, "keys")
    assert "prefix drift: alexnet1_ in the file, alexnet0_ in the model" in f["message"]
    assert f["command"] == shlex.join(
        ["paramtool", "to-structural", str(src), "--model", "zoo:alexnet", "-o",
         str(src)[: -len(".params")] + ".structural.params"]
    )  # fmt: skip
    dst = run_printed(f["command"], tmp_path / "alexnet.params")
    check_structural(
        mx, dst, lambda: fresh(mx, zoo(mx, "alexnet")), src, alexnet_files["plain_keys"]
    )


@pytest.mark.mxnet
def test_alexnet_finetuned_output(
    mx: Any, builders: ModuleType, alexnet_files: dict[str, Any], tmp_path: Path
) -> None:
    ft_keys: dict[str, str] = alexnet_files["ft_keys"]
    features = {k: v for k, v in ft_keys.items() if not k.startswith("output.")}

    # 1. two prefixes (alexnet1_ and dense1_) into the fine-tuned model's code
    src = alexnet_files["ft_prefixed"]
    spec = tut("build_alexnet_new_output")
    report = model_report(src, spec, "--model-arg", "classes=100")
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["shape_mismatches"] == [] and len(report["renamed"]) == 16
    assert codes(report) == ["keys"]
    f = finding(report, "keys")
    assert "2 different prefixes" in f["message"]
    assert "alexnet1_ where the model has alexnet0_" in f["message"]
    assert "dense1_ where the model has dense0_" in f["message"]
    assert "to-structural" in f["command"] and "--model-arg classes=100" in f["command"]
    dst = run_printed(f["command"], tmp_path / "ft.params")
    ft_model = lambda: fresh(mx, builders.build_alexnet_new_output, classes=100)  # noqa: E731
    check_structural(mx, dst, ft_model, src, ft_keys)

    # 2. the class count changed: the fine-tuned save_parameters file into zoo:alexnet (1000)
    src = alexnet_files["ft_structural"]
    report = model_report(src, "zoo:alexnet")
    assert report["missing"] == [] and report["unexpected"] == [] and report["renamed"] == []
    assert [(m["name"], m["file"], m["model"]) for m in report["shape_mismatches"]] == [
        ("output.weight", [100, 4096], [1000, 0]),
        ("output.bias", [100], [1000]),
    ]
    assert codes(report) == ["shape-changed-block"]
    f = finding(report, "shape-changed-block")
    assert (
        "output.weight" in f["message"] and "the other 14 matched parameters agree" in f["message"]
    )
    assert "--exclude 'output.*'" in f["command"] and "to-structural" in f["command"]
    flags = load_flags(f["load"])
    assert flags == {"allow_missing": True}
    dst = run_printed(f["command"], tmp_path / "features.params")
    check_structural(
        mx,
        dst,
        lambda: fresh(mx, zoo(mx, "alexnet")),
        src,
        {k: k for k in features},
        flags=flags,
        inputs=(ALEXNET_INPUT,),
        left_out=("output.weight", "output.bias"),
    )

    # 3. the fine-tuned prefixed file into zoo:alexnet: a replaced block plus prefix drift
    src = alexnet_files["ft_prefixed"]
    report = model_report(src, "zoo:alexnet")
    assert [m["structural"] for m in report["missing"]] == [["output.weight"], ["output.bias"]]
    assert [u["name"] for u in report["unexpected"]] == ["dense1_weight", "dense1_bias"]
    assert codes(report)[:2] == ["replaced-block", "keys"]
    assert "dense1_*" in finding(report, "replaced-block")["message"]
    f = fix_finding(report)
    assert "--exclude 'dense1_*'" in f["command"]
    flags = load_flags(f["load"])
    assert flags == {"allow_missing": True}
    dst = run_printed(f["command"], tmp_path / "ft-features.params")
    check_structural(
        mx,
        dst,
        lambda: fresh(mx, zoo(mx, "alexnet")),
        src,
        features,
        flags=flags,
        inputs=(ALEXNET_INPUT,),
        left_out=("output.weight", "output.bias"),
    )


# ------------------------------------------------------------------------------------------
# ResNet-18 and a BatchNorm net: hybridized and exported (arg:/aux:), both directions


def _export(mx: Any, net: Any, base: Path) -> tuple[Path, Path]:
    net.export(str(base), epoch=0)
    return base.with_name(base.name + "-symbol.json"), base.with_name(base.name + "-0000.params")


def _check_export_loaders(
    mx: Any, symbol: Path, dst: Path, src: Path, src_key: dict[str, str]
) -> None:
    """``SymbolBlock.imports`` and ``mx.model.load_checkpoint`` accept ``dst`` (named
    ``<base>-0000.params``, ``symbol`` beside it as ``<base>-symbol.json``), bit for bit."""
    base = dst.with_name(dst.name[: -len("-0000.params")])
    shutil.copy(symbol, base.with_name(base.name + "-symbol.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = mx.gluon.SymbolBlock.imports(str(symbol), ["data"], str(dst), ctx=mx.cpu())
    src_arrays = mx.nd.load(str(src))
    by_name = {v_tagged[4:]: v for v_tagged, v in src_key.items()}
    for name, p in block.collect_params().items():
        want = src_arrays[by_name[name]].asnumpy()
        assert p.data().asnumpy().tobytes() == want.tobytes(), name
    sym, args, auxs = mx.model.load_checkpoint(str(base), 0)
    assert set(args) == set(sym.list_arguments()) - {"data"}
    assert set(auxs) == set(sym.list_auxiliary_states())
    for tag, d in (("arg:", args), ("aux:", auxs)):
        for name, arr in d.items():
            assert arr.asnumpy().tobytes() == src_arrays[src_key[tag + name]].asnumpy().tobytes()


@pytest.mark.mxnet
def test_resnet18_export_both_directions(mx: Any, tmp_path: Path) -> None:
    mx.random.seed(5)
    build = zoo(mx, "resnet18_v1")
    net = randomize(mx, second(mx, build, classes=7), (1, 3, 32, 32), hybridize=True)
    assert net.prefix == "resnetv11_"
    symbol, src = _export(mx, net, tmp_path / "resnet")
    src_key = export_keys(net, src, mx)
    report = model_report(src, "zoo:resnet18_v1", "--model-arg", "classes=7")
    assert report["file_scheme"]["kind"] == "export"
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["shape_mismatches"] == [] and len(report["renamed"]) == 102
    assert codes(report) == ["keys"]
    f = finding(report, "keys")
    assert "arg:/aux: export keys" in f["message"] and "resnetv11_" in f["message"]
    assert "to-structural" in f["command"]
    dst = run_printed(f["command"], tmp_path / "resnet.structural.params")
    check_structural(mx, dst, lambda: fresh(mx, build, classes=7), src, src_key)

    # back to export keys for the exported graph (prefix resnetv11_): the export file itself
    exp = tmp_path / "back-0000.params"
    invoke(
        "to-prefixed", dst, "--model", "zoo:resnet18_v1", "--model-arg", "classes=7",
        "--export", "--prefix", "resnetv11_", "-o", exp, code=0,
    )  # fmt: skip
    # export writes the graph's input order (a downsample before its block's body);
    # to-prefixed writes collect_params() order: the same keys, each record byte for byte
    assert keys(mx, exp) == [src_key[k] for k, _ in first_aliases(net)]
    assert sorted(keys(mx, exp)) == sorted(keys(mx, src))
    check_same_records(exp, src, {k: k for k in src_key.values()})
    _check_export_loaders(mx, symbol, exp, src, {k: k for k in src_key.values()})
    # default prefix: the model's own (resnetv10_), as a first instance exports it
    exp0 = tmp_path / "own-0000.params"
    invoke(
        "to-prefixed", dst, "--model", "zoo:resnet18_v1", "--model-arg", "classes=7",
        "--export", "-o", exp0, code=0,
    )  # fmt: skip
    first = randomize(mx, fresh(mx, build, classes=7), (1, 3, 32, 32), hybridize=True)
    symbol0, ref0 = _export(mx, first, tmp_path / "first")
    assert sorted(keys(mx, exp0)) == sorted(keys(mx, ref0))
    src_of = {k: k.replace("resnetv10_", "resnetv11_") for k in keys(mx, exp0)}
    check_same_records(exp0, src, src_of)
    _check_export_loaders(mx, symbol0, exp0, src, src_of)

    # the class count differs (7 in the file, 1000 in the model)
    report = model_report(src, "zoo:resnet18_v1")
    assert [(m["name"], m["file"], m["model"]) for m in report["shape_mismatches"]] == [
        ("arg:resnetv11_dense0_weight", [7, 512], [1000, 512]),
        ("arg:resnetv11_dense0_bias", [7], [1000]),
    ]
    assert "shape-changed-block" in codes(report)
    assert (
        "the other 100 matched parameters agree"
        in finding(report, "shape-changed-block")["message"]
    )
    f = fix_finding(report)
    assert "--exclude" in f["command"]
    flags = load_flags(f["load"])
    assert flags == {"allow_missing": True}
    part = run_printed(f["command"], tmp_path / "resnet-features.params")
    check_structural(
        mx,
        part,
        lambda: fresh(mx, build),
        src,
        src_key,
        flags=flags,
        inputs=((1, 3, 32, 32),),
        left_out=("output.weight", "output.bias"),
    )


@pytest.mark.mxnet
def test_batchnorm_export_aux(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    mx.random.seed(6)
    net = randomize(mx, second(mx, builders.build_batchnorm), (1, 2, 6, 6), hybridize=True)
    symbol, src = _export(mx, net, tmp_path / "bn")
    src_key = export_keys(net, src, mx)
    assert [k for k in keys(mx, src) if k.startswith("aux:")] == [
        "aux:hybridsequential1_batchnorm0_running_mean",
        "aux:hybridsequential1_batchnorm0_running_var",
    ]
    spec = tut("build_batchnorm")
    f = finding(model_report(src, spec), "keys")
    assert "arg:/aux: export keys" in f["message"] and "prefix drift" in f["message"]
    dst = run_printed(f["command"], tmp_path / "bn.structural.params")
    check_structural(mx, dst, lambda: fresh(mx, builders.build_batchnorm), src, src_key)

    # structural -> export: aux: exactly for the running statistics, the export's order
    exp = tmp_path / "bn-again-0000.params"
    invoke("to-prefixed", dst, "--model", spec, "--export", "--prefix", "hybridsequential1_",
           "-o", exp, code=0)  # fmt: skip
    assert keys(mx, exp) == keys(mx, src)
    check_same_records(exp, src, {k: k for k in src_key.values()})
    _check_export_loaders(mx, symbol, exp, src, {k: k for k in src_key.values()})
    # structural -> prefixed for collect_params().load of a first instance
    pre = tmp_path / "bn0.params"
    invoke("to-prefixed", dst, "--model", spec, "-o", pre, code=0)
    model0 = fresh(mx, builders.build_batchnorm)
    model0.collect_params().load(str(pre), ctx=mx.cpu())
    src_of = {
        p0: "aux:" + p1 if "running" in p1 else "arg:" + p1
        for p0, p1 in zip(model0.collect_params(), net.collect_params(), strict=True)
    }
    assert keys(mx, pre) == list(model0.collect_params())
    check_values(mx, model0.collect_params(), src, src_of)
    check_same_records(pre, src, src_of)
    # the export diagnosis the other way: a structural file for SymbolBlock.imports
    report = model_report(dst, spec, "--expect", "export", "--prefix", "hybridsequential1_")
    f = finding(report, "keys")
    assert "--export" in f["command"] and "--prefix hybridsequential1_" in f["command"]
    out = run_printed(f["command"], tmp_path / "bn-fix-0000.params")
    assert out.read_bytes() == src.read_bytes()


# ------------------------------------------------------------------------------------------
# MobileNet: prefix drift, and a whole-model file loaded into net.features


@pytest.mark.mxnet
def test_mobilenet_prefix_drift(mx: Any, tmp_path: Path) -> None:
    mx.random.seed(8)
    build = zoo(mx, "mobilenet0.25")
    net = randomize(mx, second(mx, build, classes=10), (1, 3, 32, 32))
    src = tmp_path / "mobilenet1.params"
    net.collect_params().save(str(src))
    report = model_report(src, "zoo:mobilenet0.25", "--model-arg", "classes=10")
    assert codes(report) == ["keys"]
    f = finding(report, "keys")
    assert "prefix drift: mobilenet1_ in the file, mobilenet0_ in the model" in f["message"]
    dst = run_printed(f["command"], tmp_path / "mobilenet.params")
    check_structural(mx, dst, lambda: fresh(mx, build, classes=10), src, prefixed_keys(net))


@pytest.fixture
def mobilenet_whole(mx: Any, tmp_path: Path) -> tuple[Path, Path]:
    """A whole mobilenet0.25 saved with save_parameters and with collect_params().save."""
    mx.random.seed(9)
    net = randomize(mx, fresh(mx, zoo(mx, "mobilenet0.25"), classes=10), (1, 3, 32, 32))
    structural = tmp_path / "mobilenet.params"
    prefixed = tmp_path / "mobilenet-prefixed.params"
    net.save_parameters(str(structural))
    net.collect_params().save(str(prefixed))
    return structural, prefixed


@pytest.mark.mxnet
def test_mobilenet_whole_model_file_into_features(
    mx: Any, variants: ModuleType, mobilenet_whole: tuple[Path, Path], tmp_path: Path
) -> None:
    src, _ = mobilenet_whole
    spec = f"{VARIANTS}:mobilenet_features"
    build = lambda: fresh(mx, variants.mobilenet_features)  # noqa: E731
    with pytest.raises(AssertionError, match="missing in file"):
        build().load_parameters(str(src))  # the failure
    report = model_report(src, spec)
    assert report["missing"] == [] and report["shape_mismatches"] == []
    assert [u["name"] for u in report["unexpected"]] == ["output.weight", "output.bias"]
    assert report["renamed"][0] == {"name": "features.0.weight", "expected": ["0.weight"]}
    assert codes(report) == ["namespace"]
    f = finding(report, "namespace")
    assert "'features.'" in f["message"] and "sub-block" in f["message"]
    assert f["command"].startswith(f"paramtool rename-prefix {src} features. '' --drop-unmatched")
    dst = run_printed(f["command"], tmp_path / "features-by-rename.params")
    src_key = {k: "features." + k for k in build()._collect_params_with_prefix()}
    check_structural(mx, dst, build, src, src_key, flags=load_flags(f["load"]))

    # to-structural does the same, once told to leave the output layer out
    out = tmp_path / "features.params"
    result = invoke("to-structural", src, "--model", spec, "-o", out, code=3)
    assert "output.weight" in result.stderr and "output.bias" in result.stderr
    assert "--exclude 'output.*'" in result.stderr
    assert not out.exists()
    invoke("to-structural", src, "--model", spec, "-o", out, "--exclude", "output.*", code=0)
    assert out.read_bytes() == dst.read_bytes()
    check_structural(mx, out, build, src, src_key)


@pytest.mark.mxnet
def test_mobilenet_prefixed_whole_model_file_into_features(
    mx: Any, variants: ModuleType, mobilenet_whole: tuple[Path, Path], tmp_path: Path
) -> None:
    """BUG: the printed fix has no --exclude for the two keys it lists as unexpected, so it
    fails (exit 3) when run as printed."""
    _, src = mobilenet_whole
    spec = f"{VARIANTS}:mobilenet_features"
    build = lambda: fresh(mx, variants.mobilenet_features)  # noqa: E731
    report = model_report(src, spec)
    assert [u["name"] for u in report["unexpected"]] == [
        "mobilenet0_dense0_weight",
        "mobilenet0_dense0_bias",
    ]
    f = fix_finding(report)
    assert "to-structural" in f["command"]
    src_key = {k: p.name for k, p in build()._collect_params_with_prefix().items()}
    dst = run_printed(f["command"], tmp_path / "features.params")
    check_structural(mx, dst, build, src, src_key, flags=load_flags(f["load"]))


@pytest.mark.mxnet
def test_mobilenet_whole_model_file_into_features_for_collect_params_load(
    mx: Any, variants: ModuleType, mobilenet_whole: tuple[Path, Path], tmp_path: Path
) -> None:
    """BUG: as above, for a process that loads with collect_params().load: the namespace
    finding's to-prefixed command has no --exclude for output.*, and fails (exit 3)."""
    src, _ = mobilenet_whole
    spec = f"{VARIANTS}:mobilenet_features"
    report = model_report(src, spec, "--expect", "prefixed")
    assert [u["name"] for u in report["unexpected"]] == ["output.weight", "output.bias"]
    f = finding(report, "namespace")
    assert "to-prefixed" in f["command"]
    dst = run_printed(f["command"], tmp_path / "features-prefixed.params")
    features = fresh(mx, variants.mobilenet_features)
    features.collect_params().load(str(dst), ctx=mx.cpu(), **load_flags(f["load"]))
    src_key = {p.name: "features." + k for k, p in features._collect_params_with_prefix().items()}
    check_values(mx, features.collect_params(), src, src_key)
    check_same_records(dst, src, src_key)


# ------------------------------------------------------------------------------------------
# Tied (shared) parameters


@pytest.mark.mxnet
def test_tied_to_structural_aliases_and_deduplicate(
    mx: Any, builders: ModuleType, tmp_path: Path
) -> None:
    mx.random.seed(10)
    net = randomize(mx, second(mx, builders.build_tied), (1, 4))
    src = tmp_path / "tied1.params"
    net.collect_params().save(str(src))
    assert keys(mx, src) == ["tied1_scale", "tied1_dense0_weight", "tied1_dense0_bias"]
    spec = tut("build_tied")
    build = lambda: fresh(mx, builders.build_tied)  # noqa: E731
    f = finding(model_report(src, spec), "keys")
    dst = run_printed(f["command"], tmp_path / "tied.params")
    # one key per alias, as save_parameters writes: a.weight and b.weight, the same bytes
    assert keys(mx, dst) == ["scale", "a.weight", "a.bias", "b.weight", "b.bias"]
    check_structural(mx, dst, build, src, prefixed_keys(net))
    dedup = tmp_path / "tied-dedup.params"
    invoke("to-structural", src, "--model", spec, "--deduplicate", "-o", dedup, code=0)
    assert keys(mx, dedup) == ["scale", "b.weight", "b.bias"]
    check_structural(mx, dedup, build, src, prefixed_keys(net), deduplicate=True)
    assert model_report(dedup, spec, code=0)["findings"] == []


@pytest.mark.mxnet
def test_tied_save_parameters_file_matches_model(
    mx: Any, builders: ModuleType, tmp_path: Path
) -> None:
    """BUG: the file save_parameters writes for the tied model (both aliases of the shared
    Parameter) is reported as having 2 unexpected keys, b.weight and b.bias, and to-prefixed
    refuses it; MXNet loads it into the model."""
    mx.random.seed(11)
    net = randomize(mx, fresh(mx, builders.build_tied), (1, 4))
    src = tmp_path / "tied.params"
    net.save_parameters(str(src))
    fresh(mx, builders.build_tied).load_parameters(str(src), ctx=mx.cpu())  # MXNet: fine
    spec = tut("build_tied")
    out = tmp_path / "tied0.params"
    result = invoke("to-prefixed", src, "--model", spec, "-o", out)
    assert result.exit_code == 0, result.stderr
    model0 = fresh(mx, builders.build_tied)
    model0.collect_params().load(str(out), ctx=mx.cpu())
    check_values(mx, model0.collect_params(), src, {p.name: k for k, p in first_aliases(net)})
    report = model_report(src, spec, code=0)
    assert report["unexpected"] == [] and report["findings"] == []


# ------------------------------------------------------------------------------------------
# fp16 file, fp32 model


@pytest.mark.mxnet
def test_fp16_file_fp32_model(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    mx.random.seed(12)
    net = randomize(mx, fresh(mx, builders.Model), (1, 10))
    net.cast("float16")
    src = tmp_path / "fp16.params"
    net.save_parameters(str(src))
    with pytest.raises(AssertionError, match="cast_dtype"):
        fresh(mx, builders.Model).load_parameters(str(src))  # the failure
    report = model_report(src, tut("build"))
    assert report["names_ok"] is True and report["renamed"] == []
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["shape_mismatches"] == []
    assert [(m["name"], m["file"], m["model"]) for m in report["dtype_mismatches"]] == [
        (k, "float16", "float32") for k in prefixed_keys(net)
    ]
    assert codes(report) == ["dtype"]
    f = finding(report, "dtype")
    assert "dtype only" in f["message"] and f["command"] is None
    flags = load_flags(f["load"])
    assert flags == {"cast_dtype": True}
    loaded = fresh(mx, builders.Model)
    loaded.load_parameters(str(src), ctx=mx.cpu(), **flags)
    for k, p in loaded._collect_params_with_prefix().items():
        want = mx.nd.load(str(src))[k].asnumpy().astype("float32")
        assert p.data().asnumpy().tobytes() == want.tobytes()

    # fp16 and drifted prefixes: converted as they are (bytes copied), cast_dtype=True named
    second_net = second(mx, builders.Model)
    second_net.initialize(ctx=mx.cpu())
    second_net(mx.nd.zeros((1, 10)))
    second_net.cast("float16")
    for (_, p1), (_, p0) in zip(first_aliases(second_net), first_aliases(net), strict=True):
        p1.set_data(p0.data())
    src1 = tmp_path / "fp16-model1.params"
    second_net.collect_params().save(str(src1))
    report = model_report(src1, tut("build"))
    assert codes(report) == ["keys", "dtype"]
    assert load_flags(finding(report, "dtype")["load"]) == {"cast_dtype": True}
    dst = tmp_path / "fp16-structural.params"
    result = invoke("to-structural", src1, "--model", tut("build"), "-o", dst, code=0)
    assert "cast_dtype=True" in result.stderr
    assert dst.read_bytes() == src.read_bytes()  # the save_parameters file, byte for byte
    check_structural(
        mx,
        dst,
        lambda: fresh(mx, builders.Model),
        src1,
        prefixed_keys(second_net),
        flags={"cast_dtype": True},
    )


def test_a_model_without_structural_names_is_refused(tmp_path: Path) -> None:
    """A symbol graph knows no structural (save_parameters) names: to-structural must not
    write an empty file, and diff --expect structural must not call every key expected
    (found by a new-user trial). Symbol JSON is read without MXNet."""
    out = tmp_path / "out.params"
    spec = str(DATA / "hybrid-symbol.json")
    src = DATA / "hybrid-0000.params"
    for args in (
        ("to-structural", src, "--model", spec, "-o", out),
        ("to-structural", src, "--model", spec, "-o", out, "--dry-run"),
        ("diff", src, "--model", spec, "--expect", "structural"),
    ):
        result = invoke(*args, code=3)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert "gives no structural names" in result.stderr and "symbol graph" in result.stderr
    assert not out.exists()
    invoke("diff", src, "--model", spec, code=0)  # export keys: what the graph does know

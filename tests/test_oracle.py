"""MXNet itself as the oracle: paramtool against ``mx.nd.load`` on files MXNet wrote.

Two file sets:

* every ``.params`` file in ``tests/data/`` (written by MXNet 1.9.1, see its README.md);
* every array file under ``../shared/realdata/`` (third-party MXNet files, see its SOURCES.md),
  which sits beside the repository only in CI and dev sessions; those tests skip without it.
  These files are only read, never copied; every output goes to ``tmp_path``.

Each check runs under both backends (``--backend native`` and ``--backend mxnet``). Every test
here needs MXNet 1.9.1 (it is the oracle) and skips where ``import mxnet`` fails.
"""

from __future__ import annotations

import json
import shlex
import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from click.testing import CliRunner

import paramtool
from paramtool.cli import cli

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
REALDATA = REPO.parent / "shared" / "realdata"
REALDATA_MISSING = (
    "../shared/realdata not found (it is only beside the repo in CI and dev sessions)"
)
MXNET_MISSING = "MXNet 1.9.1 not importable here"

#: Files MXNet can only load under numpy shape semantics (V3 records).
NP_SHAPE_FILES = {DATA / "numpy-v3.params"}

BACKENDS = ["native", "mxnet"]


# ------------------------------------------------------------------------------------------
# File sets


def _data_files() -> list[Any]:
    return [pytest.param(p, id=f"data/{p.name}") for p in sorted(DATA.glob("*.params"))]


def _realdata_files() -> list[Any]:
    if not REALDATA.is_dir():
        return [
            pytest.param(
                None, id="realdata-missing", marks=pytest.mark.skip(reason=REALDATA_MISSING)
            )
        ]
    files = [
        p
        for p in sorted(REALDATA.rglob("*"))
        if p.is_file() and p.suffix != ".md" and not p.name.endswith("-symbol.json")
    ]
    return [pytest.param(p, id=f"realdata/{p.relative_to(REALDATA)}") for p in files]


ALL_FILES = _data_files() + _realdata_files()


def _realdata(rel: str) -> Path:
    return REALDATA / rel


def _need(path: Path | None) -> Path:
    """Skip when a realdata file is not there (fresh clone without ../shared)."""
    if path is None or (REALDATA in path.parents and not REALDATA.is_dir()):
        pytest.skip(REALDATA_MISSING)
    assert path.is_file(), f"{path} is missing"
    return path


def test_file_sets_are_not_empty() -> None:
    assert len(_data_files()) >= 9
    if REALDATA.is_dir():
        assert len(_realdata_files()) == 13  # 17 files in SOURCES.md minus 4 symbol JSONs


# ------------------------------------------------------------------------------------------
# The oracle


class Loaded(NamedTuple):
    """What ``mx.nd.load`` gives: names (None for an unnamed list) and arrays as numpy."""

    names: list[str | None]
    arrays: list[np.ndarray]
    named: bool


class Oracle:
    def __init__(self, mx: Any) -> None:
        self.mx = mx
        self._cache: dict[tuple[Path, bool], Loaded] = {}

    def load(self, path: Path, np_shape: bool | None = None, *, cache: bool = True) -> Loaded:
        """``mx.nd.load(path)`` with every array as numpy (``asnumpy()``)."""
        if np_shape is None:
            np_shape = path in NP_SHAPE_FILES
        key = (path, np_shape)
        if cache and key in self._cache:
            return self._cache[key]
        mx = self.mx
        with mx.util.np_shape(np_shape):
            data = mx.nd.load(str(path))
            if isinstance(data, dict):
                loaded = Loaded(list(data), [a.asnumpy() for a in data.values()], True)
            else:
                loaded = Loaded([None] * len(data), [a.asnumpy() for a in data], False)
        if cache:
            self._cache[key] = loaded
        return loaded


@pytest.fixture(scope="session")
def oracle(mx: Any) -> Oracle:
    return Oracle(mx)


def mx_dtype_name(dtype: np.dtype) -> str:
    """How paramtool names a dtype MXNet returns: ``bfloat16`` for MXNet's structured dtype."""
    if dtype.names == ("bfloat16",):
        return "bfloat16"
    return dtype.name


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def assert_same_array(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.tobytes() == want.tobytes(), f"{what}: array bytes differ"


# ------------------------------------------------------------------------------------------
# 1. ls: names, shapes, dtypes and nbytes as mx.nd.load gives them; native arrays bit-identical


@pytest.mark.mxnet
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", ALL_FILES)
def test_ls_json_matches_mxnet(path: Path, backend: str, oracle: Oracle) -> None:
    path = _need(path)
    want = oracle.load(path)
    result = run("ls", path, "--format", "json", "--backend", backend)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    got = [(p["name"], tuple(p["shape"]), p["dtype"], p["nbytes"]) for p in report["parameters"]]
    expected = [
        (name, tuple(a.shape), mx_dtype_name(a.dtype), a.nbytes)
        for name, a in zip(want.names, want.arrays, strict=True)
    ]
    assert got == expected
    assert [p["index"] for p in report["parameters"]] == list(range(len(expected)))
    assert report["count"] == len(expected)
    assert report["named"] is want.named
    assert report["total_bytes"] == sum(a.nbytes for a in want.arrays)


@pytest.mark.mxnet
@pytest.mark.parametrize("path", ALL_FILES)
def test_native_read_is_bit_identical(path: Path, oracle: Oracle) -> None:
    path = _need(path)
    want = oracle.load(path)
    with paramtool.open_params(path) as pf:
        assert len(pf) == len(want.arrays)
        assert pf.named is want.named
        assert pf.names == want.names
        for i, arr in enumerate(want.arrays):
            assert_same_array(pf.read(i), arr, f"record {i} ({want.names[i]})")


# ------------------------------------------------------------------------------------------
# 2. rename-prefix: keys renamed in order, tags kept, arrays (and for native, record bytes) kept


def _renamed(name: str, old: str, new: str) -> str | None:
    """Independent of paramtool.names: OLD -> NEW after any arg:/aux: tag, None if no match."""
    tag, rest = (name[:4], name[4:]) if name[:4] in ("arg:", "aux:") else ("", name)
    return tag + new + rest[len(old) :] if rest.startswith(old) else None


def _region(path: Path) -> bytes:
    """Bytes from the end of the list header to the start of the name table (the records)."""
    with paramtool.open_params(path) as pf:
        end = pf.layout.records_end
    return path.read_bytes()[24:end]


def check_rename(
    src: Path,
    backend: str,
    old: str,
    new: str,
    options: tuple[str, ...],
    tmp_path: Path,
    oracle: Oracle,
) -> None:
    source = oracle.load(src)
    out = tmp_path / "out.params"
    before = src.read_bytes()
    result = run("rename-prefix", src, old, new, "-o", out, *options, "--backend", backend)
    assert src.read_bytes() == before, "the source changed"
    if not source.named:
        assert result.exit_code == 3, result.output
        assert "unnamed list" in result.stderr
        assert not out.exists()
        return
    assert result.exit_code == 0, result.stderr
    keep_unmatched = "--keep-unmatched" in options
    plan: list[tuple[int, str]] = []  # (source index, expected new name)
    for i, name in enumerate(source.names):
        assert name is not None
        renamed = _renamed(name, old, new)
        if renamed is not None:
            plan.append((i, renamed))
        elif keep_unmatched:
            plan.append((i, name))
        else:
            assert "--drop-unmatched" in options, f"{name} does not start with {old!r}"
    assert any(source.names[i] != n for i, n in plan), "the case renames nothing"
    got = oracle.load(out, np_shape=src in NP_SHAPE_FILES, cache=False)
    assert got.named
    assert got.names == [n for _, n in plan]
    for j, (i, name) in enumerate(plan):
        assert_same_array(got.arrays[j], source.arrays[i], f"{name} (was {source.names[i]})")
    if backend == "native" and len(plan) == len(source.names):
        assert _region(out) == _region(src), "record bytes were not copied unchanged"
    if backend == "mxnet" and plan:
        # mx.nd.save writes V2 records, or V3 under numpy shape semantics (kept from the source).
        (magic,) = struct.unpack_from("<I", out.read_bytes(), 24)
        assert magic == (0xF993FACA if src in NP_SHAPE_FILES else 0xF993FAC9)


@pytest.mark.mxnet
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", ALL_FILES)
def test_rename_add_prefix(path: Path, backend: str, tmp_path: Path, oracle: Oracle) -> None:
    """Add ``pfx_`` to every name (an unnamed list must be refused, exit 3)."""
    check_rename(_need(path), backend, "", "pfx_", (), tmp_path, oracle)


SWAPS = [
    pytest.param(DATA / "tutorial-model0.params", "model0_", "model1_", (), id="tutorial-model0"),
    pytest.param(DATA / "tutorial-model1.params", "model1_", "model7_", (), id="tutorial-model1"),
    pytest.param(
        DATA / "mobilenet0.25-prefixed.params", "mobilenet0_", "mobilenet1_", (), id="mobilenet"
    ),
    pytest.param(
        DATA / "hybrid-0000.params", "hybridsequential0_", "hybridsequential1_", (), id="hybrid"
    ),
    pytest.param(
        DATA / "tutorial-structural.params",
        "dense0.",
        "",
        ("--keep-unmatched",),
        id="tutorial-structural-strip",
    ),
    pytest.param(
        DATA / "mobilenet0.25-prefixed.params",
        "mobilenet0_conv",
        "c_",
        ("--drop-unmatched",),
        id="mobilenet-drop",
    ),
    pytest.param(
        _realdata("straight-dope/testnet.params"),
        "dense0_",
        "dense9_",
        ("--keep-unmatched",),
        id="realdata-testnet",
    ),
    pytest.param(
        _realdata("bmxnet/binarized_mnist_64bit-0001.params"),
        "batchnorm0_",
        "bn0_",
        ("--keep-unmatched",),
        id="realdata-bmxnet-arg-aux",
    ),
    pytest.param(
        _realdata("mtcnn/det1-0001.params"),
        "conv4_",
        "conv5_",
        ("--keep-unmatched",),
        id="realdata-mtcnn-v0",
    ),
    pytest.param(
        _realdata("sockeye/model_2.1.x/params.best"),
        "encoder.",
        "enc.",
        ("--keep-unmatched",),
        id="realdata-sockeye",
    ),
    pytest.param(
        _realdata("gluonts/net.params"),
        "output_block.",
        "head.",
        ("--drop-unmatched",),
        id="realdata-gluonts-drop",
    ),
    pytest.param(
        _realdata("go-mxnet-predictor/go_test-0001.params"), "pred_", "", (), id="realdata-go-strip"
    ),
]


@pytest.mark.mxnet
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("path", "old", "new", "options"), SWAPS)
def test_rename_swap_prefix(
    path: Path,
    old: str,
    new: str,
    options: tuple[str, ...],
    backend: str,
    tmp_path: Path,
    oracle: Oracle,
) -> None:
    check_rename(_need(path), backend, old, new, options, tmp_path, oracle)


# ------------------------------------------------------------------------------------------
# 3. The Gluon naming tutorial's failure, fixed end to end


@pytest.fixture(scope="session")
def tutorial_model_cls(mx: Any) -> type:
    from mxnet import gluon

    class Model(gluon.Block):  # exactly as tests/data/make_fixtures.py (the tutorial's Model)
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            with self.name_scope():
                self.dense0 = gluon.nn.Dense(20)
                self.dense1 = gluon.nn.Dense(20)
                self.mydense = gluon.nn.Dense(20, prefix="mydense_")

        def forward(self, x: Any) -> Any:
            x = mx.nd.relu(self.dense0(x))
            x = mx.nd.relu(self.dense1(x))
            return mx.nd.relu(self.mydense(x))

    return Model


@pytest.mark.mxnet
@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_failure_fixed(
    backend: str, tutorial_model_cls: type, mx: Any, tmp_path: Path, oracle: Oracle
) -> None:
    src = DATA / "tutorial-model0.params"
    with mx.name.NameManager():
        model0 = tutorial_model_cls()
        model1 = tutorial_model_cls()
    assert (model0.prefix, model1.prefix) == ("model0_", "model1_")

    with pytest.raises(AssertionError, match="Parameter 'model1_dense0_weight' is missing"):
        model1.collect_params().load(str(src))

    fixed = tmp_path / "fixed.params"
    result = run("rename-prefix", src, "model0_", "model1_", "-o", fixed, "--backend", backend)
    assert result.exit_code == 0, result.stderr
    model1.collect_params().load(str(fixed))

    want = oracle.load(src)
    params = model1.collect_params()
    assert sorted(params.keys()) == sorted(
        "model1_" + n[len("model0_") :] for n in want.names if n is not None
    )
    for name, arr in zip(want.names, want.arrays, strict=True):
        assert name is not None
        got = params["model1_" + name[len("model0_") :]].data().asnumpy()
        assert_same_array(got, arr, name)


# ------------------------------------------------------------------------------------------
# 4. diff proposes the fix, and the proposed command really fixes it


@pytest.mark.mxnet
@pytest.mark.parametrize("backend", BACKENDS)
def test_diff_proposes_working_fix(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, oracle: Oracle
) -> None:
    monkeypatch.chdir(REPO)
    a, b = "tests/data/tutorial-model0.params", "tests/data/tutorial-model1.params"
    expected_command = (
        "paramtool rename-prefix tests/data/tutorial-model0.params model0_ model1_ "
        "-o tests/data/tutorial-model0.renamed.params"
    )

    table = run("diff", a, b, "--backend", backend)
    assert table.exit_code == 1, table.stderr
    assert "paramtool rename-prefix tests/data/tutorial-model0.params model0_ model1_ -o " in (
        table.stdout
    )
    assert expected_command in table.stdout

    result = run("diff", a, b, "--format", "json", "--backend", backend)
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["identical"] is False
    change = report["prefix_change"]
    assert change["old"] == "model0_"
    assert change["new"] == "model1_"
    assert change["explains_all"] is True
    assert change["keep_unmatched"] is False
    assert change["command"] == expected_command

    argv = shlex.split(change["command"])
    assert argv[:2] == ["paramtool", "rename-prefix"]
    argv = argv[1:]
    dest = tmp_path / "renamed.params"
    argv[argv.index("-o") + 1] = str(dest)  # never write into tests/data
    fixed = run(*argv, "--backend", backend)
    assert fixed.exit_code == 0, fixed.stderr
    assert not (REPO / "tests/data/tutorial-model0.renamed.params").exists()

    again = run("diff", dest, b, "--backend", backend)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "Same 6 names, shapes and dtypes." in again.stdout
    # The renamed file holds model0's values under model1's names.
    got, src = oracle.load(dest, cache=False), oracle.load(DATA / "tutorial-model0.params")
    assert got.names == [n.replace("model0_", "model1_", 1) for n in src.names if n]
    for g, w in zip(got.arrays, src.arrays, strict=True):
        assert_same_array(g, w, "renamed")

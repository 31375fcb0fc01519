"""``paramtool.model``: what a ``--model`` spec expects, with MXNet 1.9.1 as the oracle.

Gluon specs (``zoo:NAME``, ``module:callable``, ``file.py:callable``) are checked against nets
built the same way here: prefixed names against ``net.collect_params()``, structural keys against
the file ``net.save_parameters`` writes (read back with ``mx.nd.load``), shapes after a forward
pass, and aux flags against the ``aux:`` keys ``HybridBlock.export`` writes. Those tests skip
where ``import mxnet`` fails. Symbol JSON, ``.params`` and names-text specs need no MXNet; the
symbol files under ``../shared/realdata`` are compared with their paired ``.params`` files.
The builders live in ``tests/data/models/tutorial.py``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import params_file, record_v23

import paramtool
from paramtool.backends import mxnet as mxnet_backend
from paramtool.errors import BackendUnavailableError, FormatError, ModelSpecError
from paramtool.model import ModelInfo, ModelParam, load_model, parse_model_args

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MODELS = DATA / "models"
TUTORIAL = MODELS / "tutorial.py"
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REALDATA_MISSING = "../shared/realdata not found"
MXNET_MISSING = "MXNet 1.9.1 not importable here"


def _names(path: Path) -> list[str]:
    with paramtool.open_params(path) as pf:
        return [str(n) for n in pf.names]


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with paramtool.open_params(path) as pf:
        return {str(r.name): r.shape for r in pf}


def _one_line_error(exc: pytest.ExceptionInfo[ModelSpecError], spec: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(spec + ": "), msg
    return msg


# ------------------------------------------------------------------------------------------
# parse_model_args


def test_parse_model_args_literals_and_strings() -> None:
    assert parse_model_args(
        ("classes=10", "thumbnail=True", "ratio=0.5", "layers=(2, 2)", "name=alexnet", "x=")
    ) == {
        "classes": 10,
        "thumbnail": True,
        "ratio": 0.5,
        "layers": (2, 2),
        "name": "alexnet",
        "x": "",
    }
    assert parse_model_args(()) == {}
    assert parse_model_args(("a=1", "a=2")) == {"a": 2}
    assert parse_model_args(("s='a=b'", "t=a=b")) == {"s": "a=b", "t": "a=b"}
    assert parse_model_args(("n=None", "d={'k': [1]}")) == {"n": None, "d": {"k": [1]}}


@pytest.mark.parametrize("item", ["classes", "=3", "not a name=1", "1x=2"])
def test_parse_model_args_rejects(item: str) -> None:
    with pytest.raises(ValueError):
        parse_model_args((item,))


# ------------------------------------------------------------------------------------------
# Symbol JSON (no MXNet)


def test_symbol_hybrid_fixture() -> None:
    info = load_model(str(DATA / "hybrid-symbol.json"))
    assert info.kind == "symbol" and info.root_prefix == "hybridsequential0_"
    assert info.structural_keys == []
    p = "hybridsequential0_"
    assert [(m.prefixed, m.aux) for m in info.params] == [
        (p + "conv0_weight", False),
        (p + "conv0_bias", False),
        (p + "batchnorm0_gamma", False),
        (p + "batchnorm0_beta", False),
        (p + "batchnorm0_running_mean", True),
        (p + "batchnorm0_running_var", True),
        (p + "dense0_weight", False),
        (p + "dense0_bias", False),
    ]
    assert [m.shape for m in info.params] == [
        (4, 0, 3, 3),
        (4,),
        (0,),
        (0,),
        (0,),
        (0,),
        (3, 0),
        (3,),
    ]
    assert {m.dtype for m in info.params} == {"float32"}
    assert {m.family for m in info.params} == {p}
    assert info.params[0].relative() == "conv0_weight"
    # the same names and aux flags as the export's .params file
    tags = {n[4:]: n.startswith("aux:") for n in _names(DATA / "hybrid-0000.params")}
    assert {m.prefixed: m.aux for m in info.params} == tags


SYMBOL_PAIRS = [
    ("mtcnn/det1-symbol.json", "mtcnn/det1-0001.params"),
    ("go-mxnet-predictor/go_test-symbol.json", "go-mxnet-predictor/go_test-0001.params"),
    (
        "sagemaker-mxnet-inference-toolkit/default_handlers/model-symbol.json",
        "sagemaker-mxnet-inference-toolkit/default_handlers/model-0000.params",
    ),
    ("bmxnet/binarized_mnist_64bit-symbol.json", "bmxnet/binarized_mnist_64bit-0001.params"),
]


@pytest.mark.parametrize(("sym", "params"), SYMBOL_PAIRS, ids=[s for s, _ in SYMBOL_PAIRS])
def test_symbol_realdata_matches_params(sym: str, params: str) -> None:
    if not REALDATA.is_dir():
        pytest.skip(REALDATA_MISSING)
    info = load_model(str(REALDATA / sym))
    assert info.kind == "symbol"
    keys = _names(REALDATA / params)
    expected = {k[4:]: k.startswith("aux:") for k in keys}
    assert {m.prefixed: m.aux for m in info.params} == expected
    assert len(info.params) == len(keys)
    # the file as a params spec gives the same names and flags, with shapes and dtypes
    as_params = load_model(str(REALDATA / params))
    assert {m.prefixed: m.aux for m in as_params.params} == expected
    assert all(m.shape is not None and m.dtype is not None for m in as_params.params)


def test_symbol_realdata_details() -> None:
    if not REALDATA.is_dir():
        pytest.skip(REALDATA_MISSING)
    go = load_model(str(REALDATA / "go-mxnet-predictor/go_test-symbol.json"))
    assert [m.prefixed for m in go.params] == ["pred_weight", "pred_bias"]
    assert go.root_prefix == "pred_" and go.params[0].family == "pred_"
    bm = load_model(str(REALDATA / "bmxnet/binarized_mnist_64bit-symbol.json"))
    assert sum(m.aux for m in bm.params) == 6 and len(bm.params) == 18
    det1 = load_model(str(REALDATA / "mtcnn/det1-symbol.json"))
    assert det1.root_prefix is None and {m.family for m in det1.params} == {""}
    assert all(m.shape is None and m.dtype is None for m in det1.params)


def _graph(nodes: list[dict[str, Any]], version: int | None = 10901) -> dict[str, Any]:
    doc: dict[str, Any] = {"nodes": nodes, "arg_nodes": [], "heads": [[len(nodes) - 1, 0, 0]]}
    if version is not None:
        doc["attrs"] = {"mxnet_version": ["int", version]}
    return doc


def _write_json(tmp_path: Path, doc: Any, name: str = "net-symbol.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_symbol_inputs_dtypes_and_shapes(tmp_path: Path) -> None:
    def var(name: str, **attrs: str) -> dict[str, Any]:
        return {"op": "null", "name": name, "inputs": [], "attrs": attrs}

    nodes: list[dict[str, Any]] = [
        var("x"),  # only consumed as input 0: a data input
        var("scale", __lr_mult__="1.0"),  # input 0 too, but a Gluon Parameter.var()
        {"op": "Activation", "name": "act0", "inputs": [[0, 0, 0]]},
        {"op": "broadcast_mul", "name": "mul0", "inputs": [[1, 0, 0], [2, 0, 0]]},
        var("w16", __dtype__="2", __shape__="(8, -1)"),
        var("w64", __dtype__="6", __shape__="()"),
        var("wbf", __dtype__="12", __shape__="[3, 0]"),
        var("wodd", __dtype__="99", __shape__="junk"),
        var("my_label"),
        {"op": "Custom", "name": "c0", "inputs": [[3, 0, 0], [4, 0], [5, 0], [6, 0], [7, 0]]},
        {"op": "SoftmaxOutput", "name": "out", "inputs": [[9, 0, 0], [8, 0, 0]]},
    ]
    info = load_model(_write_json(tmp_path, _graph(nodes)))
    got = [(m.prefixed, m.shape, m.dtype) for m in info.params]
    assert got == [
        ("scale", None, None),
        ("w16", (8, 0), "float16"),
        ("w64", (), "int64"),
        ("wbf", (3, 0), "bfloat16"),
        ("wodd", None, None),
    ]
    assert not any(m.aux for m in info.params)


def test_symbol_pre_nnvm_batchnorm_aux_added(tmp_path: Path) -> None:
    # Before 0.9 the JSON did not list BatchNorm's moving_mean/var; MXNet's
    # UpgradeJSON_000800_000900 adds them as "<node>_moving_mean"/"<node>_moving_var".
    nodes: list[dict[str, Any]] = [
        {"op": "null", "name": "data", "inputs": [], "param": {}, "backward_source_id": -1},
        {"op": "null", "name": "bn0_gamma", "inputs": [], "param": {}},
        {"op": "null", "name": "bn0_beta", "inputs": [], "param": {}},
        {"op": "BatchNorm", "name": "bn0", "inputs": [[0, 0], [1, 0], [2, 0]], "param": {}},
    ]
    info = load_model(_write_json(tmp_path, _graph(nodes, version=None)))
    assert [(m.prefixed, m.aux) for m in info.params] == [
        ("bn0_gamma", False),
        ("bn0_beta", False),
        ("bn0_moving_mean", True),
        ("bn0_moving_var", True),
    ]
    assert info.root_prefix == "bn0_"
    # A 0.9+ file lists them; a 3-input BatchNorm there gets nothing added.
    assert len(load_model(_write_json(tmp_path, _graph(nodes, version=904))).params) == 2


def test_symbol_aux_by_name_and_position(tmp_path: Path) -> None:
    nodes: list[dict[str, Any]] = [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "g", "inputs": []},
        {"op": "null", "name": "b", "inputs": []},
        {"op": "null", "name": "m", "inputs": []},
        {"op": "null", "name": "v", "inputs": []},
        {"op": "_contrib_SyncBatchNorm", "name": "sbn", "inputs": [[i, 0, 0] for i in range(5)]},
        {"op": "null", "name": "other_running_var", "inputs": []},
        {"op": "elemwise_add", "name": "add", "inputs": [[5, 0, 0], [6, 0, 0]]},
    ]
    info = load_model(_write_json(tmp_path, _graph(nodes)))
    assert {m.prefixed: m.aux for m in info.params} == {
        "g": False,
        "b": False,
        "m": True,
        "v": True,
        "other_running_var": True,
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"a": 1}', "no 'nodes' list"),
        ("[1, 2]", "no 'nodes' list"),
        ("{not json", "invalid JSON"),
        ('{"nodes": [{"op": "null"}]}', "node 0 is malformed"),
        ('{"nodes": [{"op": "x", "name": "n", "inputs": [[7, 0]]}]}', "node 0 is malformed"),
    ],
)
def test_symbol_json_errors(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ModelSpecError) as exc:
        load_model(str(path))
    assert reason in _one_line_error(exc, str(path))


# ------------------------------------------------------------------------------------------
# .params and names specs (no MXNet)


def test_params_spec_prefixed() -> None:
    path = str(DATA / "tutorial-model0.params")
    info = load_model(path)
    assert info.kind == "params" and info.root_prefix == "model0_"
    assert [m.prefixed for m in info.params] == _names(DATA / "tutorial-model0.params")
    assert info.params[0] == ModelParam(
        "model0_dense0_weight", (), (20, 10), "float32", False, "model0_"
    )
    assert info.params[0].relative() == "dense0_weight"


def test_params_spec_structural() -> None:
    info = load_model(str(DATA / "tutorial-structural.params"))
    assert info.root_prefix is None and info.structural_keys == []
    assert [m.structural for m in info.params] == [
        (n,) for n in _names(DATA / "tutorial-structural.params")
    ]
    assert all(m.prefixed is None and m.family == "" for m in info.params)
    assert info.params[0].relative() is None


def test_params_spec_export_and_dtypes() -> None:
    info = load_model(str(DATA / "hybrid-0000.params"))
    assert [m.prefixed for m in info.params if m.aux] == [
        "hybridsequential0_batchnorm0_running_mean",
        "hybridsequential0_batchnorm0_running_var",
    ]
    dt = load_model(str(DATA / "dtypes.params"))
    assert [(m.prefixed, m.dtype) for m in dt.params] == [
        (n, n) for n in _names(DATA / "dtypes.params")
    ]
    v3 = load_model(str(DATA / "numpy-v3.params"))
    assert [(m.prefixed, m.shape) for m in v3.params] == [
        ("scalar", ()),
        ("empty", (0, 3)),
        ("matrix", (2, 3)),
    ]


def test_params_spec_duplicates_and_mixed_dots(tmp_path: Path) -> None:
    a = np.zeros((2,), np.float32)
    b = np.zeros((3,), np.float64)
    path = tmp_path / "dup.params"
    path.write_bytes(
        params_file([record_v23(a), record_v23(b), record_v23(a)], ["arg:x_w", "x_v", "aux:x_w"])
    )
    info = load_model(str(path))
    # mx.nd.load keeps the first position and the last value; tags are stripped
    assert [(m.prefixed, m.shape, m.dtype, m.aux) for m in info.params] == [
        ("x_w", (2,), "float32", True),
        ("x_v", (3,), "float64", False),
    ]
    path.write_bytes(params_file([record_v23(a), record_v23(b)], ["weight", "child.weight"]))
    info = load_model(str(path))  # one dotted key: the whole file is structural
    assert [m.structural for m in info.params] == [("weight",), ("child.weight",)]


def test_params_spec_errors(tmp_path: Path) -> None:
    spec = str(DATA / "unnamed-list.params")
    with pytest.raises(ModelSpecError) as exc:
        load_model(spec)
    assert "unnamed list" in _one_line_error(exc, spec)
    cut = tmp_path / "cut.params"
    cut.write_bytes((DATA / "tutorial-model0.params").read_bytes()[:100])
    with pytest.raises(FormatError):
        load_model(str(cut))
    for name, data in [
        ("empty.params", b""),
        ("zip.params", b"PK\x03\x04" + b"\0" * 40),
        ("lfs.params", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n"),
        ("binary.params", b"\xff\xfe\x00\x01garbage"),
    ]:
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(FormatError):
            load_model(str(p))


def test_names_text(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text(
        "\ufeff# expected by the deployed net\n\narg:model0_dense0_weight\n"
        "  aux:model0_bn0_running_mean  \n# done\nmodel0_dense0_bias\n",
        encoding="utf-8",
    )
    info = load_model(str(path))
    assert info.kind == "names" and info.root_prefix == "model0_"
    assert info.params == [
        ModelParam("model0_dense0_weight", family="model0_"),
        ModelParam("model0_bn0_running_mean", aux=True, family="model0_"),
        ModelParam("model0_dense0_bias", family="model0_"),
    ]
    path.write_text("features.0.weight\nfeatures.0.bias\noutput.weight\n")
    info = load_model(str(path))
    assert [m.structural for m in info.params] == [
        ("features.0.weight",),
        ("features.0.bias",),
        ("output.weight",),
    ]
    assert all(m.prefixed is None and m.shape is None for m in info.params)
    # `paramtool ls --format names` output reads back as the same names
    path.write_text("\n".join(_names(DATA / "mobilenet0.25-structural.params")) + "\n")
    info = load_model(str(path))
    assert [m.structural[0] for m in info.params] == _names(
        DATA / "mobilenet0.25-structural.params"
    )


def test_names_text_errors(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text("a_weight\nname  (20, 10)  float32\n")
    with pytest.raises(ModelSpecError) as exc:
        load_model(str(path))
    assert "line 2" in _one_line_error(exc, str(path))
    path.write_text("# nothing\n\n")
    with pytest.raises(ModelSpecError) as exc:
        load_model(str(path))
    assert "no parameter names" in _one_line_error(exc, str(path))


def test_file_spec_errors(tmp_path: Path) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        (str(tmp_path / "missing.params"), {}, "no such file"),
        (str(tmp_path), {}, "is a directory"),
        (str(TUTORIAL), {}, f"e.g. {TUTORIAL}:build"),
        (str(tmp_path / "missing.py") + ":build", {}, "no such file"),
        (str(DATA / "hybrid-symbol.json"), {"model_args": {"classes": 3}}, "only apply to Gluon"),
        (str(DATA / "tutorial-model0.params"), {"input_shapes": [(1, 3)]}, "only apply to Gluon"),
        (str(tmp_path / "x.py") + ":", {}, "no callable named after ':'"),
        ("some/dir/thing:build", {}, "no such file"),
    ]
    for spec, kwargs, reason in cases:
        with pytest.raises(ModelSpecError) as exc:
            load_model(spec, **kwargs)
        assert reason in _one_line_error(exc, spec)


def test_non_gluon_specs_import_neither_numpy_nor_mxnet(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("model0_dense0_weight\n")
    specs = [
        str(DATA / "hybrid-symbol.json"),
        str(DATA / "tutorial-model0.params"),
        str(DATA / "mobilenet0.25-structural.params"),
        str(names),
    ]
    code = (
        "import sys\n"
        "from paramtool.model import load_model\n"
        f"for spec in {specs!r}:\n"
        "    assert load_model(spec).params\n"
        "print(sorted(m for m in ('numpy', 'mxnet') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_gluon_spec_without_mxnet(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(purpose: str = "") -> Any:
        raise BackendUnavailableError("the mxnet backend is unavailable: test")

    monkeypatch.setattr(mxnet_backend, "import_mxnet", unavailable)
    for spec in ("zoo:alexnet", f"{TUTORIAL}:build", "tutorial:build"):
        with pytest.raises(BackendUnavailableError):
            load_model(spec)


# ------------------------------------------------------------------------------------------
# Gluon specs, MXNet as the oracle


@pytest.fixture(scope="session")
def builders(mx: Any) -> ModuleType:
    """``tests/data/models/tutorial.py`` as a module (the same builders the specs name)."""
    spec = importlib.util.spec_from_file_location("_test_model_builders", TUTORIAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fresh(mx: Any, build: Any, **kwargs: Any) -> Any:
    """Build like a fresh process would (what load_model does)."""
    with mx.name.NameManager():
        return build(**kwargs)


def _check(
    mx: Any,
    info: ModelInfo,
    ref: Any,
    inputs: list[tuple[int, ...]],
    tmp_path: Path,
    *,
    shapes_known: bool = True,
) -> None:
    """Compare ``info`` with the identically built ``ref`` net and the files MXNet writes."""
    assert info.kind == "gluon" and info.root_prefix == ref.prefix
    collected = ref.collect_params()
    assert [m.prefixed for m in info.params] == list(collected.keys())
    assert [m.dtype for m in info.params] == [np.dtype(p.dtype).name for p in collected.values()]
    assert info.structural_keys == list(ref._collect_params_with_prefix())
    # every structural key belongs to exactly one parameter, in order
    aliases = [k for m in info.params for k in m.structural]
    assert sorted(aliases) == sorted(info.structural_keys)
    if not shapes_known:  # deferred: the shapes Gluon knows before any forward pass
        assert [m.shape for m in info.params] == [p.shape for p in collected.values()]
    ref.initialize()
    ref(*[mx.nd.zeros(s) for s in inputs])
    if shapes_known:
        assert [m.shape for m in info.params] == [p.shape for p in collected.values()]
        assert all(0 not in (m.shape or ()) for m in info.params)
    saved = tmp_path / "net-structural.params"
    ref.save_parameters(str(saved))
    assert info.structural_keys == list(mx.nd.load(str(saved)).keys())
    if isinstance(ref, mx.gluon.HybridBlock):
        ref.hybridize()
        ref(*[mx.nd.zeros(s) for s in inputs])
        ref.export(str(tmp_path / "net"), epoch=0)
        keys = list(mx.nd.load(str(tmp_path / "net-0000.params")).keys())
        assert {m.prefixed: m.aux for m in info.params} == {
            k[4:]: k.startswith("aux:") for k in keys
        }


@pytest.mark.mxnet
def test_tutorial_model_from_file(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    spec = f"{TUTORIAL}:Model"
    info = load_model(spec, input_shapes=[(1, 10)])
    assert info.spec == spec and info.root_prefix == "model0_"
    # the names make_fixtures.py's first Model() wrote, in order, with their shapes
    assert [m.prefixed for m in info.params] == _names(DATA / "tutorial-model0.params")
    shapes = _shapes(DATA / "tutorial-model0.params")
    assert {m.prefixed: m.shape for m in info.params} == shapes
    assert info.structural_keys == _names(DATA / "tutorial-structural.params")
    assert [m.structural for m in info.params] == [
        (n,) for n in _names(DATA / "tutorial-structural.params")
    ]
    assert {m.family for m in info.params} == {"model0_"}
    assert info.params[-1].relative() == "mydense_bias"
    _check(mx, info, _fresh(mx, builders.Model), [(1, 10)], tmp_path)
    # prefixes do not depend on what was built before in this process
    _fresh(mx, builders.Model)
    builders.Model()
    assert load_model(f"{TUTORIAL}:build").root_prefix == "model0_"


@pytest.mark.mxnet
def test_tutorial_model_from_module(
    mx: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(MODELS)  # the current directory is importable, as for `python -m`
    before = list(sys.path)
    sys.modules.pop("tutorial", None)
    try:
        info = load_model("tutorial:build")
        relative = load_model("tutorial.py:Model")  # a file relative to the cwd
    finally:
        sys.modules.pop("tutorial", None)
    assert sys.path == before
    assert [m.prefixed for m in info.params] == _names(DATA / "tutorial-model0.params")
    assert [m.prefixed for m in relative.params] == [m.prefixed for m in info.params]
    # deferred shapes without a forward pass: the input size is still unknown
    assert info.params[0].shape == (20, 0) and info.params[1].shape == (20,)


@pytest.mark.mxnet
def test_sequential(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    info = load_model(f"{TUTORIAL}:build_sequential", model_args={"units": 6})
    assert info.root_prefix == "sequential0_"
    assert info.structural_keys == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [m.shape for m in info.params] == [(6, 0), (6,), (2, 0), (2,)]
    ref = _fresh(mx, builders.build_sequential, units=6)
    _check(mx, info, ref, [(1, 5)], tmp_path, shapes_known=False)


@pytest.mark.mxnet
def test_zoo_alexnet_without_initialising(mx: Any) -> None:
    info = load_model("zoo:alexnet")
    ref = _fresh(mx, mx.gluon.model_zoo.vision.get_model, name="alexnet", pretrained=False)
    assert info.root_prefix == "alexnet0_"
    assert [m.prefixed for m in info.params] == list(ref.collect_params().keys())
    assert info.structural_keys == list(ref._collect_params_with_prefix())
    assert [m.shape for m in info.params] == [p.shape for p in ref.collect_params().values()]
    assert info.params[0].shape == (64, 0, 11, 11)  # in_channels deferred
    assert {m.family for m in info.params} == {"alexnet0_"}
    assert not any(m.aux for m in info.params)
    assert info.params[-1] == ModelParam(
        "alexnet0_dense2_bias", ("output.bias",), (1000,), "float32", False, "alexnet0_"
    )


@pytest.mark.mxnet
def test_zoo_resnet18(mx: Any, tmp_path: Path) -> None:
    info = load_model("zoo:resnet18_v1", model_args={"classes": 7}, input_shapes=[(1, 3, 32, 32)])
    ref = _fresh(
        mx, mx.gluon.model_zoo.vision.get_model, name="resnet18_v1", pretrained=False, classes=7
    )
    _check(mx, info, ref, [(1, 3, 32, 32)], tmp_path)
    assert info.root_prefix == "resnetv10_"
    assert sum(m.aux for m in info.params) == 2 * sum(
        1 for m in info.params if m.prefixed and m.prefixed.endswith("_gamma")
    )
    assert info.params[-2].shape == (7, 512)


@pytest.mark.mxnet
def test_zoo_mobilenet_matches_fixture_files(mx: Any, tmp_path: Path) -> None:
    info = load_model(
        "zoo:mobilenet0.25",
        model_args=parse_model_args(("classes=10",)),
        input_shapes=[(1, 3, 32, 32)],
    )
    prefixed = DATA / "mobilenet0.25-prefixed.params"
    assert [m.prefixed for m in info.params] == _names(prefixed)
    assert {m.prefixed: m.shape for m in info.params} == _shapes(prefixed)
    assert info.structural_keys == _names(DATA / "mobilenet0.25-structural.params")
    aux = [m.prefixed for m in info.params if m.aux]
    assert aux and all(str(n).endswith(("running_mean", "running_var")) for n in aux)
    ref = _fresh(
        mx, mx.gluon.model_zoo.vision.get_model, name="mobilenet0.25", pretrained=False, classes=10
    )
    _check(mx, info, ref, [(1, 3, 32, 32)], tmp_path)


@pytest.mark.mxnet
def test_alexnet_with_new_output(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    spec = f"{TUTORIAL}:build_alexnet_new_output"
    info = load_model(spec, model_args={"classes": 100}, input_shapes=[(1, 3, 64, 64)])
    by_name = {m.prefixed: m for m in info.params}
    assert info.root_prefix == "alexnet0_"
    assert by_name["dense0_weight"].family == "dense0_"
    assert by_name["dense0_weight"].structural == ("output.weight",)
    assert by_name["dense0_weight"].relative() == "weight"
    assert by_name["dense0_weight"].shape == (100, 4096)
    assert by_name["alexnet0_conv0_weight"].family == "alexnet0_"
    assert by_name["alexnet0_dense0_weight"].shape == (4096, 256)  # 64x64 input
    assert {m.family for m in info.params} == {"alexnet0_", "dense0_"}
    assert "alexnet0_dense2_weight" not in by_name  # the replaced output is gone
    ref = _fresh(mx, builders.build_alexnet_new_output, classes=100)
    _check(mx, info, ref, [(1, 3, 64, 64)], tmp_path)


@pytest.mark.mxnet
def test_batchnorm_hybrid_matches_export(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    info = load_model(f"{TUTORIAL}:build_batchnorm", input_shapes=[(1, 2, 6, 6)])
    # the net behind hybrid-0000.params / hybrid-symbol.json (make_fixtures.py)
    keys = _names(DATA / "hybrid-0000.params")
    assert [m.prefixed for m in info.params] == [k[4:] for k in keys]
    assert [m.aux for m in info.params] == [k.startswith("aux:") for k in keys]
    assert {m.prefixed: m.shape for m in info.params} == {
        k[4:]: s for k, s in _shapes(DATA / "hybrid-0000.params").items()
    }
    sym = load_model(str(DATA / "hybrid-symbol.json"))
    assert [(m.prefixed, m.aux) for m in sym.params] == [(m.prefixed, m.aux) for m in info.params]
    assert info.structural_keys == [
        "0.weight",
        "0.bias",
        "1.gamma",
        "1.beta",
        "1.running_mean",
        "1.running_var",
        "4.weight",
        "4.bias",
    ]
    _check(mx, info, _fresh(mx, builders.build_batchnorm), [(1, 2, 6, 6)], tmp_path)


@pytest.mark.mxnet
def test_tied_parameters(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    info = load_model(f"{TUTORIAL}:build_tied", input_shapes=[(1, 4)])
    assert [(m.prefixed, m.structural) for m in info.params] == [
        ("tied0_scale", ("scale",)),
        ("tied0_dense0_weight", ("a.weight", "b.weight")),
        ("tied0_dense0_bias", ("a.bias", "b.bias")),
    ]
    # save_parameters writes the shared Parameter once per alias ...
    assert info.structural_keys == ["scale", "a.weight", "a.bias", "b.weight", "b.bias"]
    ref = _fresh(mx, builders.build_tied)
    _check(mx, info, ref, [(1, 4)], tmp_path)
    # ... and with deduplicate=True only under its last alias
    dedup = tmp_path / "dedup.params"
    ref.save_parameters(str(dedup), deduplicate=True)
    assert list(mx.nd.load(str(dedup)).keys()) == [m.structural[-1] for m in info.params]


@pytest.mark.mxnet
def test_parameter_outside_collect_params(mx: Any, builders: ModuleType, tmp_path: Path) -> None:
    info = load_model(f"{TUTORIAL}:Orphan")
    ref = _fresh(mx, builders.Orphan)
    assert list(ref.collect_params().keys()) == ["orphan0_dense0_weight", "orphan0_dense0_bias"]
    assert [(m.prefixed, m.structural, m.family) for m in info.params] == [
        ("orphan0_dense0_weight", ("dense.weight",), "orphan0_"),
        ("orphan0_dense0_bias", ("dense.bias",), "orphan0_"),
        ("w", ("w",), ""),
    ]
    ref.initialize()
    ref.w.initialize()
    saved = tmp_path / "orphan.params"
    ref.save_parameters(str(saved))
    assert (
        info.structural_keys
        == list(mx.nd.load(str(saved)).keys())
        == [
            "w",
            "dense.weight",
            "dense.bias",
        ]
    )


@pytest.mark.mxnet
def test_two_inputs(mx: Any) -> None:
    info = load_model(f"{TUTORIAL}:TwoInputs", input_shapes=[(2, 3), (2, 7)])
    assert [m.shape for m in info.params] == [(5, 3), (5,), (5, 7), (5,)]


@pytest.mark.mxnet
@pytest.mark.parametrize(
    ("spec", "kwargs", "reason"),
    [
        (f"{TUTORIAL}:TwoInputs", {"input_shapes": [(1, 3)]}, "forward pass on zeros of shape"),
        (f"{TUTORIAL}:build_batchnorm", {"input_shapes": [(1, 3)]}, "Input data should be 4D"),
        ("zoo:nope", {}, "unknown model-zoo name 'nope' (MXNet 1.9.1 has: alexnet, "),
        ("zoo:", {}, "no model-zoo name"),
        ("zoo:alexnet", {"model_args": {"classess": 3}}, "unexpected keyword argument"),
        ("zoo:alexnet", {"model_args": {"pretrained": True}}, "never downloaded"),
        (f"{TUTORIAL}:broken", {}, "RuntimeError: builder exploded on purpose"),
        (f"{TUTORIAL}:not_a_block", {}, "returned builtins.dict, not a mxnet.gluon.Block"),
        (f"{TUTORIAL}:missing", {}, "has no attribute 'missing'"),
        (f"{TUTORIAL}:Model.nope", {}, "has no attribute 'Model.nope'"),
        (f"{TUTORIAL}:build", {"model_args": {"bogus": 1}}, "calling build(bogus=1) failed"),
        ("no_such_module_xyz:build", {}, "No module named 'no_such_module_xyz'"),
        ("os.path:nope", {}, "module 'os.path' has no attribute 'nope'"),
        ("os:sep", {}, "is not callable"),
        ("builtins:dict", {}, "not a mxnet.gluon.Block"),
    ],
)
def test_gluon_spec_errors(mx: Any, spec: str, kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(ModelSpecError) as exc:
        load_model(spec, **kwargs)
    assert reason in _one_line_error(exc, spec)


@pytest.mark.mxnet
def test_zoo_pretrained_false_is_accepted(mx: Any) -> None:
    info = load_model("zoo:mobilenet0.25", model_args={"pretrained": False, "classes": 3})
    assert info.params[-1].shape == (3,)


@pytest.mark.mxnet
def test_broken_builder_file(mx: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise ImportError('needs a package that is not here')\n")
    spec = f"{path}:build"
    with pytest.raises(ModelSpecError) as exc:
        load_model(spec)
    assert "ImportError: needs a package that is not here" in _one_line_error(exc, spec)
    # a builder file may import modules beside it
    (tmp_path / "helper_mod_for_test.py").write_text("UNITS = 3\n")
    path.write_text(
        "from mxnet import gluon\nimport helper_mod_for_test\n\n"
        "def build():\n    return gluon.nn.Dense(helper_mod_for_test.UNITS)\n"
    )
    try:
        info = load_model(spec)
    finally:
        sys.modules.pop("helper_mod_for_test", None)
    assert [(m.prefixed, m.shape, m.family) for m in info.params] == [
        ("dense0_weight", (3, 0), "dense0_"),
        ("dense0_bias", (3,), "dense0_"),
    ]
    assert info.structural_keys == ["weight", "bias"]

"""What a model expects: its parameters under every naming scheme, from a ``--model SPEC``.

A spec is one of (issue #3):

* ``zoo:NAME`` — ``gluon.model_zoo.vision.get_model(NAME, pretrained=False, **model_args)``;
* ``package.module:callable`` or ``path/to/file.py:callable`` — a callable returning a Gluon
  Block, called with ``**model_args``;
* ``path-symbol.json`` (any ``*.json``) — a symbol graph; argument and auxiliary-state names are
  parsed as JSON, without MXNet;
* another ``.params`` file — its names, shapes and dtypes;
* a text file of names, one per line.

Gluon specs need MXNet (through :func:`paramtool.backends.mxnet.import_mxnet`); the others work
everywhere.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from paramtool.backends import mxnet as mxnet_backend
from paramtool.errors import ModelSpecError
from paramtool.format import DTYPES, LIST_MAGIC
from paramtool.index import open_params
from paramtool.names import root_prefix, split_tag

ModelKind = Literal["gluon", "symbol", "params", "names"]


@dataclass(frozen=True)
class ModelParam:
    """One parameter of a model.

    Attributes
    ----------
    prefixed:
        The Gluon 1.x ``Parameter.name`` (block prefix + suffix), e.g. ``alexnet0_conv0_weight``;
        for a symbol spec the argument/auxiliary name; for a params/names spec the key as given
        (with any ``arg:``/``aux:`` tag removed). None when unknown.
    structural:
        The structural names (``save_parameters`` keys) of this parameter, in the order
        ``Block._collect_params_with_prefix`` yields them; several for a shared (tied) parameter;
        empty when unknown (symbol/names specs).
    shape:
        Expected shape; a 0 dim is unknown (deferred initialisation) and matches anything;
        None when the shape is not known at all.
    dtype:
        numpy dtype name (``"float32"``), or None when unknown.
    aux:
        True for an auxiliary state (``aux:`` in export files: BatchNorm running mean/var).
    family:
        The Gluon block prefix this parameter's prefixed name is built on: the prefix of the
        outermost block in its ancestor chain (root first) whose prefix the name starts with.
        For ``net.output = Dense(100)`` created outside the net's name scope this is the
        Dense's own prefix (``dense0_``), not the net's. ``""`` when unknown.
    """

    prefixed: str | None
    structural: tuple[str, ...] = ()
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    aux: bool = False
    family: str = ""

    def relative(self) -> str | None:
        """The prefixed name with the family prefix removed (``conv0_weight``)."""
        if self.prefixed is None:
            return None
        return self.prefixed[len(self.family) :]


@dataclass(frozen=True)
class ModelInfo:
    """A model's expected parameters.

    Attributes
    ----------
    spec:
        The ``--model`` text it came from.
    kind:
        ``gluon``, ``symbol``, ``params`` or ``names``.
    params:
        One entry per distinct parameter, in ``collect_params()`` order for Gluon models.
    structural_keys:
        Every key ``save_parameters`` writes, in its order (shared parameters appear once per
        alias); empty unless ``kind == "gluon"``.
    root_prefix:
        The root block's prefix (``alexnet0_``), or the common root prefix found, or None.
    """

    spec: str
    kind: ModelKind
    params: list[ModelParam]
    structural_keys: list[str] = field(default_factory=list)
    root_prefix: str | None = None


def parse_model_args(items: tuple[str, ...]) -> dict[str, Any]:
    """``("classes=10", "thumbnail=True")`` -> ``{"classes": 10, "thumbnail": True}``.

    Values are Python literals (``ast.literal_eval``); a value that is not a literal is kept as
    a string. Raises ValueError for an item without ``=``.

    Parameters
    ----------
    items:
        ``KEY=VALUE`` strings (``--model-arg`` values). Each is split at its first ``=``; the key
        is stripped of surrounding blanks. ``"name=alexnet"`` keeps ``"alexnet"`` (a bare word is
        not a literal), ``"layers=(2, 2)"`` gives a tuple, ``"x="`` gives ``""``.

    Returns
    -------
    dict
        Keyword arguments in item order; a later item with the same key replaces an earlier one.

    Raises
    ------
    ValueError
        An item without ``=``, or whose key is not a Python identifier (it could not be passed
        as a keyword argument).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"model argument {item!r} is not KEY=VALUE")
        if not key.isidentifier():
            raise ValueError(f"model argument {item!r}: {key!r} is not a valid keyword name")
        try:
            out[key] = ast.literal_eval(value.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            out[key] = value
    return out


def load_model(
    spec: str,
    *,
    model_args: dict[str, Any] | None = None,
    input_shapes: list[tuple[int, ...]] | None = None,
) -> ModelInfo:
    """Build the :class:`ModelInfo` for ``spec`` (see the module docstring).

    ``input_shapes`` (Gluon only): run one forward pass on zeros of these shapes so deferred
    shapes become known.

    Parameters
    ----------
    spec:
        The ``--model`` text (see below).
    model_args:
        Keyword arguments for the Gluon builder (:func:`parse_model_args`); Gluon specs only.
    input_shapes:
        One shape (``tuple[int, ...]``, C order, e.g. ``(1, 3, 224, 224)``) per network input;
        Gluon specs only.

    Returns
    -------
    ModelInfo
        ``kind`` is ``gluon``, ``symbol``, ``params`` or ``names``; shapes are tuples of ints with
        0 for an unknown dimension (None when nothing is known), dtypes numpy names
        (``"bfloat16"`` for MXNet's bfloat16).

    How ``spec`` is read, in this order:

    1. ``zoo:NAME`` — ``mx.gluon.model_zoo.vision.get_model(NAME, pretrained=False,
       **model_args)`` (nothing is downloaded; ``pretrained=True`` is refused).
    2. An existing file: ``*.py`` is refused (say which callable: ``file.py:build``); ``*.json``
       is a symbol graph; a file starting with the NDArray list magic ``12 01 00 00 00 00 00 00``
       (or that is not UTF-8 text, or is a ZIP/npy/LFS/HTML/JSON file) goes to
       :func:`paramtool.open_params`; other text is a list of names.
    3. ``X:callable`` — ``X`` is a file when it ends in ``.py`` or is an existing file (loaded
       with ``importlib.util.spec_from_file_location``, its directory on ``sys.path`` while it
       runs), else a module name imported with ``importlib.import_module`` (the current
       directory on ``sys.path`` meanwhile). ``callable`` may be dotted (``Class.build``) and is
       called with ``**model_args``.

    Gluon models (``zoo:``, callables) are built inside a fresh ``mx.name.NameManager()`` so
    their prefixes are the ones a fresh process gives (``alexnet0_``, ``model0_``). Nothing is
    initialised unless ``input_shapes`` is given; shapes come from ``Parameter.shape`` with 0
    for a dimension that is still unknown (deferred initialisation). With ``input_shapes``:
    ``net.initialize()`` on cpu (default initializer; already initialised parameters are kept),
    one forward pass on ``mx.nd.zeros(shape)`` (float32) per input, then the shapes are read.

    What each kind gives (see :class:`ModelParam`):

    * gluon: one entry per distinct ``Parameter`` in ``net.collect_params()`` order (followed by
      any parameter only reachable through ``_reg_params``, e.g. a ``Parameter`` assigned as an
      attribute without ``self.params.get``); ``prefixed`` = ``Parameter.name``; ``structural`` =
      every key of ``net._collect_params_with_prefix()`` (``python/mxnet/gluon/block.py``: the
      ``_children`` attribute names and ``_reg_params`` keys joined by ``.``, exactly the keys
      ``save_parameters`` writes) whose value is that Parameter (several for a shared one);
      ``dtype`` = numpy name of ``Parameter.dtype``; ``aux`` = ``Parameter._differentiable is
      False`` (only BatchNorm's ``running_mean``/``running_var`` are created that way in
      MXNet 1.9.1 Gluon, ``gluon/nn/basic_layers.py``, and they are exactly what ``export``
      writes as ``aux:``); ``family`` = prefix of the outermost non-empty-prefixed block on the
      path root -> owning block that the name starts with. ``structural_keys`` = all keys of
      ``_collect_params_with_prefix()``; ``root_prefix`` = ``net.prefix``.
    * symbol: every variable (``op == "null"``) node except the data/label inputs (a node named
      ``data``, or ending in ``label``; or one only ever consumed as input 0 of an op unless it
      carries the ``__lr_mult__``/``__wd_mult__``/``__init__`` attributes Gluon's
      ``Parameter.var()`` sets), in node order. ``aux`` for inputs 3 and 4 of ``BatchNorm``,
      ``BatchNorm_v1``, ``SyncBatchNorm``, ``_contrib_SyncBatchNorm`` and for names ending in
      ``moving_mean``/``moving_var``/``running_mean``/``running_var``. Files older than
      MXNet 0.9 (no ``mxnet_version``) do not list BatchNorm's auxiliary states; like MXNet's
      ``UpgradeJSON_000800_000900`` (``src/nnvm/legacy_json_util.cc``) they are added as
      ``<node>_moving_mean``/``<node>_moving_var``. Shape from the ``__shape__`` attribute
      (``"(4, 0, 3, 3)"``, 0 or -1 = unknown), dtype from ``__dtype__`` (type flag, see
      :data:`paramtool.format.DTYPES`), read from ``attrs`` (1.x), ``attr`` (0.9) or
      ``param`` (pre-NNVM). ``family``/``root_prefix`` from :func:`paramtool.names.root_prefix`.
    * params: one entry per distinct name (tag stripped; the last record of a duplicated name
      wins, as in ``mx.nd.load``); if any name contains ``.`` every name is structural
      (``load_parameters``'s rule), else prefixed; ``aux`` from an ``aux:`` tag; shape and dtype
      from the record (None for a "none" record).
    * names: one name per line (blank lines and ``#`` lines ignored), then as for params
      without shapes or dtypes.

    Raises
    ------
    BackendUnavailableError
        A Gluon spec where MXNet cannot be imported (exit 3).
    ModelSpecError (paramtool.errors)
        The spec cannot be resolved: no such file/module/callable, the callable does not return
        a Block, a JSON file that is not a symbol graph, the forward pass fails (message says
        which and why). Also ``model_args``/``input_shapes`` given for a non-Gluon spec, an
        unnamed-list ``.params`` file, and a names file without names. The message is one line
        starting with the spec.
    FormatError
        A ``.params`` spec that cannot be read.
    """
    args = dict(model_args or {})
    if spec.startswith("zoo:"):
        return _load_gluon(spec, _zoo_builder(spec, spec[4:], args), input_shapes)
    if os.path.isdir(spec):
        raise ModelSpecError(f"{spec}: is a directory, not a model spec")
    if os.path.isfile(spec):
        if spec.lower().endswith(".py"):
            raise ModelSpecError(
                f"{spec}: a Python file needs the callable that builds the model, e.g. {spec}:build"
            )
        if args or input_shapes:
            raise ModelSpecError(
                f"{spec}: model arguments and input shapes only apply to Gluon specs "
                "(zoo:NAME, module:callable, file.py:callable)"
            )
        if spec.lower().endswith(".json"):
            return _load_symbol(spec)
        return _load_file(spec)
    target, sep, attr = spec.rpartition(":")
    if sep and target:
        if not attr:
            raise ModelSpecError(f"{spec}: no callable named after ':'")
        if target.lower().endswith(".py") or os.path.isfile(target):
            if not os.path.isfile(target):
                raise ModelSpecError(f"{spec}: no such file: {target}")
            return _load_gluon(spec, _file_builder(spec, target, attr, args), input_shapes)
        if _MODULE_NAME.match(target):
            return _load_gluon(spec, _module_builder(spec, target, attr, args), input_shapes)
    raise ModelSpecError(
        f"{spec}: no such file, and not zoo:NAME, package.module:callable or file.py:callable"
    )


# ------------------------------------------------------------------------------------------
# Gluon


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

#: A builder runs inside the fresh NameManager scope and returns what the spec builds.
_Builder = Callable[[Any], Any]


def _zoo_builder(spec: str, name: str, args: dict[str, Any]) -> _Builder:
    if not name:
        raise ModelSpecError(f"{spec}: no model-zoo name after 'zoo:'")
    if "pretrained" in args:
        if args["pretrained"]:
            raise ModelSpecError(
                f"{spec}: pretrained weights are never downloaded; drop pretrained=True"
            )
        del args["pretrained"]

    def build(mx: Any) -> Any:
        try:
            return mx.gluon.model_zoo.vision.get_model(name, pretrained=False, **args)
        except ValueError as e:
            lines = str(e).splitlines()
            if lines and "is not supported" in lines[0]:
                known = ", ".join(ln.strip() for ln in lines[1:] if ln.strip())
                raise ModelSpecError(
                    f"{spec}: unknown model-zoo name {name!r} (MXNet {mx.__version__} has: {known})"
                ) from None
            raise ModelSpecError(
                f"{spec}: get_model({_call_args(repr(name), args, pretrained=False)}) failed: "
                f"{_reason(e)}"
            ) from None
        except Exception as e:
            raise ModelSpecError(
                f"{spec}: get_model({_call_args(repr(name), args, pretrained=False)}) failed: "
                f"{_reason(e)}"
            ) from None

    return build


def _file_builder(spec: str, path: str, attr: str, args: dict[str, Any]) -> _Builder:
    abspath = os.path.abspath(path)
    modname = "_paramtool_model_" + re.sub(r"\W", "_", abspath)
    where = os.path.dirname(abspath)

    def build(mx: Any) -> Any:
        mspec = importlib.util.spec_from_file_location(modname, abspath)
        if mspec is None or mspec.loader is None:
            raise ModelSpecError(f"{spec}: cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[modname] = module
        with _on_sys_path(where):
            try:
                mspec.loader.exec_module(module)
            except (Exception, SystemExit) as e:
                sys.modules.pop(modname, None)
                raise ModelSpecError(f"{spec}: running {path} failed: {_reason(e)}") from None
            return _call(spec, module, path, attr, args, mx)

    return build


def _module_builder(spec: str, name: str, attr: str, args: dict[str, Any]) -> _Builder:
    def build(mx: Any) -> Any:
        with _on_sys_path(os.getcwd()):
            try:
                module = importlib.import_module(name)
            except (Exception, SystemExit) as e:
                raise ModelSpecError(
                    f"{spec}: cannot import module {name!r}: {_reason(e)}"
                ) from None
            return _call(spec, module, f"module {name!r}", attr, args, mx)

    return build


def _call(spec: str, module: Any, where: str, attr: str, args: dict[str, Any], mx: Any) -> Any:
    """Look up the dotted ``attr`` in ``module`` and call it with ``**args``."""
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelSpecError(f"{spec}: {where} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ModelSpecError(f"{spec}: {attr!r} in {where} is not callable")
    try:
        return obj(**args)
    except (Exception, SystemExit) as e:
        raise ModelSpecError(
            f"{spec}: calling {_call_args(attr, args, call=True)} failed: {_reason(e)}"
        ) from None


@contextlib.contextmanager
def _on_sys_path(directory: str) -> Iterator[None]:
    """Put ``directory`` first on ``sys.path`` for the duration (unless it is there already)."""
    present = directory in sys.path or (directory == os.getcwd() and "" in sys.path)
    if not present:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        if not present:
            with contextlib.suppress(ValueError):
                sys.path.remove(directory)


def _load_gluon(
    spec: str, builder: _Builder, input_shapes: list[tuple[int, ...]] | None
) -> ModelInfo:
    mx = mxnet_backend.import_mxnet(f"building the model {spec}")
    with mx.name.NameManager():
        net = builder(mx)
        if not isinstance(net, mx.gluon.Block):
            raise ModelSpecError(
                f"{spec}: returned {type(net).__module__}.{type(net).__qualname__}, "
                "not a mxnet.gluon.Block"
            )
        if input_shapes is not None:
            _forward(spec, mx, net, input_shapes)
    try:
        return _describe_block(spec, net)
    except ModelSpecError:
        raise
    except Exception as e:  # e.g. --model-arg classes=abc gets as far as the shapes
        raise ModelSpecError(f"{spec}: the model cannot be described: {_reason(e)}") from None


def _forward(spec: str, mx: Any, net: Any, input_shapes: list[tuple[int, ...]]) -> None:
    """``net.initialize()`` then ``net(*zeros)`` on cpu, so deferred shapes get inferred."""
    shown = ", ".join(str(tuple(s)) for s in input_shapes)
    try:
        # Quiet: "already initialized" for parameters the builder set, and Gluon's own
        # "infer_shape error" warning ahead of the exception reported below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.initialize(ctx=mx.cpu())
            inputs = [mx.nd.zeros(tuple(int(d) for d in s), ctx=mx.cpu()) for s in input_shapes]
            net(*inputs)
            mx.nd.waitall()  # surface errors of asynchronous operators here, not later
    except Exception as e:
        raise ModelSpecError(
            f"{spec}: the forward pass on zeros of shape {shown} failed: {_reason(e)}"
        ) from None


def _describe_block(spec: str, net: Any) -> ModelInfo:
    with_prefix: dict[str, Any] = net._collect_params_with_prefix()
    aliases: dict[int, list[str]] = {}
    for key, param in with_prefix.items():
        aliases.setdefault(id(param), []).append(key)
    chains = _owner_chains(net)
    ordered = list(net.collect_params().values())
    seen = {id(p) for p in ordered}
    for param in with_prefix.values():
        if id(param) not in seen:
            seen.add(id(param))
            ordered.append(param)
    params = [
        ModelParam(
            prefixed=str(p.name),
            structural=tuple(aliases.get(id(p), ())),
            shape=_gluon_shape(p),
            dtype=_gluon_dtype(p),
            aux=getattr(p, "_differentiable", True) is False,
            family=_family(str(p.name), chains.get(id(p), (str(net.prefix),))),
        )
        for p in ordered
    ]
    return ModelInfo(spec, "gluon", params, list(with_prefix), str(net.prefix))


def _owner_chains(root: Any) -> dict[int, tuple[str, ...]]:
    """``id(Parameter)`` -> block prefixes from the root to the first block owning it.

    A block owns the Parameters in its ``params`` (ParameterDict) and ``_reg_params``; the
    tree is walked through ``_children`` in order, parents before children, so a shared
    Parameter gets the path of its first owner in ``collect_params()`` order.
    """
    chains: dict[int, tuple[str, ...]] = {}
    on_path: set[int] = set()

    def walk(block: Any, chain: tuple[str, ...]) -> None:
        if id(block) in on_path:  # a cycle; MXNet itself would recurse forever
            return
        on_path.add(id(block))
        chain = (*chain, str(block.prefix))
        for param in [*block.params.values(), *block._reg_params.values()]:
            chains.setdefault(id(param), chain)
        for child in block._children.values():
            walk(child, chain)
        on_path.discard(id(block))

    walk(root, ())
    return chains


def _family(name: str, chain: Sequence[str]) -> str:
    for prefix in chain:
        if prefix and name.startswith(prefix):
            return prefix
    return ""


def _gluon_shape(param: Any) -> tuple[int, ...] | None:
    shape = param.shape
    if shape is None:
        return None
    # Unknown dims are 0 (-1 under numpy shape semantics): both become 0 here.
    return tuple(max(int(d), 0) for d in shape)


def _gluon_dtype(param: Any) -> str | None:
    import numpy as np  # only reached with MXNet loaded, which needs numpy anyway

    try:
        dt = np.dtype(param.dtype)
    except TypeError:
        return str(param.dtype) if param.dtype is not None else None
    if dt.names == ("bfloat16",):  # MXNet's Python spelling of bfloat16
        return "bfloat16"
    return dt.name


def _call_args(func: str, args: dict[str, Any], *, call: bool = False, **extra: Any) -> str:
    """``func`` with its arguments, for messages: ``Model(classes=10)`` / ``'alexnet', ...``."""
    parts = [f"{k}={v!r}" for k, v in {**extra, **args}.items()]
    if call:
        return f"{func}({', '.join(parts)})"
    return ", ".join([func, *parts])


_LOG_TIME = re.compile(r"\[\d\d:\d\d:\d\d\] ")


def _reason(e: BaseException) -> str:
    """``"TypeError: ..."``: the exception type and its most meaningful line.

    MXNet's errors carry a C++ stack trace; the line with ``Check failed`` (or else the first
    one mentioning an error that is not a traceback header) is the one that says why.
    """
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Traceback", "File ", "[bt]", "Stack"))]
    pick = next((ln for ln in lines if "Check failed" in ln), None)
    if pick is None:
        pick = next((ln for ln in lines if "Error" in ln), lines[0] if lines else "")
    for head in ("MXNetError: ", "mxnet.base.MXNetError: "):
        pick = pick.removeprefix(head)
    pick = _LOG_TIME.sub("", pick)  # dmlc's "[16:17:56] " log stamp
    if len(pick) > 300:
        pick = pick[:297] + "..."
    name = type(e).__name__
    return f"{name}: {pick}" if pick else name


# ------------------------------------------------------------------------------------------
# Symbol JSON


#: Operators whose inputs 3 and 4 are the auxiliary states ``moving_mean``/``moving_var``
#: (``src/operator/nn/batch_norm.cc``: ListArguments data, gamma, beta; ListAuxiliaryStates
#: moving_mean, moving_var).
_BATCHNORM_OPS = frozenset({"BatchNorm", "BatchNorm_v1", "SyncBatchNorm", "_contrib_SyncBatchNorm"})
_BATCHNORM_INPUTS = ("data", "gamma", "beta", "moving_mean", "moving_var")
_AUX_SUFFIXES = ("moving_mean", "moving_var", "running_mean", "running_var")
#: Attributes ``gluon.Parameter.var()`` / ``mx.sym.var(lr_mult=..., ...)`` put on a variable.
_PARAM_ATTRS = ("__lr_mult__", "__wd_mult__", "__init__")
_INT = re.compile(r"-?\d+")


def _load_symbol(spec: str) -> ModelInfo:
    try:
        with open(spec, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ModelSpecError(f"{spec}: cannot read: {e.strerror or e}") from None
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelSpecError(f"{spec}: not a symbol JSON file: invalid JSON ({e})") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise ModelSpecError(f"{spec}: not an MXNet symbol graph (no 'nodes' list)")
    names, ops, inputs, attrs = _parse_nodes(spec, nodes)
    version = _mxnet_version(doc)

    # How each node is consumed: (op, input position) pairs.
    uses: dict[int, list[tuple[str, int]]] = {}
    for i, op in enumerate(ops):
        if op != "null":
            for pos, src in enumerate(inputs[i]):
                uses.setdefault(src, []).append((op, pos))

    params: list[ModelParam] = []
    seen: set[str] = set()

    def add(name: str, aux: bool, node_attrs: dict[str, Any]) -> None:
        if name in seen:
            return
        seen.add(name)
        aux = aux or name.endswith(_AUX_SUFFIXES)
        params.append(ModelParam(name, (), _attr_shape(node_attrs), _attr_dtype(node_attrs), aux))

    for i, op in enumerate(ops):
        if op == "null":
            if _is_input(names[i], attrs[i], uses.get(i, [])):
                continue
            aux = any(o in _BATCHNORM_OPS and pos in (3, 4) for o, pos in uses.get(i, []))
            add(names[i], aux, attrs[i])
        elif op in _BATCHNORM_OPS and version < 900 and len(inputs[i]) < 5:
            # Before 0.9 the JSON omits inputs it can default; MXNet adds "<node>_<input>".
            for pos in range(max(len(inputs[i]), 1), 5):
                add(f"{names[i]}_{_BATCHNORM_INPUTS[pos]}", pos >= 3, {})

    found = root_prefix([p.prefixed for p in params if p.prefixed is not None])
    if found:
        params = [_with_family(p, found) for p in params]
    return ModelInfo(spec, "symbol", params, [], found)


def _parse_nodes(
    spec: str, nodes: list[Any]
) -> tuple[list[str], list[str], list[list[int]], list[dict[str, Any]]]:
    names: list[str] = []
    ops: list[str] = []
    inputs: list[list[int]] = []
    attrs: list[dict[str, Any]] = []
    for i, node in enumerate(nodes):
        bad = ModelSpecError(f"{spec}: not an MXNet symbol graph (node {i} is malformed)")
        if not isinstance(node, dict):
            raise bad
        name, op, ins = node.get("name"), node.get("op"), node.get("inputs", [])
        if not isinstance(name, str) or not isinstance(op, str) or not isinstance(ins, list):
            raise bad
        srcs = []
        for entry in ins:
            if (
                not isinstance(entry, list)
                or not entry
                or not isinstance(entry[0], int)
                or not 0 <= entry[0] < len(nodes)
            ):
                raise bad
            srcs.append(entry[0])
        node_attrs: dict[str, Any] = {}
        for key in ("param", "attr", "attrs"):  # pre-NNVM, 0.9.x, 1.x
            value = node.get(key)
            if isinstance(value, dict):
                node_attrs.update(value)
        names.append(name)
        ops.append(op)
        inputs.append(srcs)
        attrs.append(node_attrs)
    return names, ops, inputs, attrs


def _mxnet_version(doc: dict[str, Any]) -> int:
    """``attrs.mxnet_version`` (``["int", 10901]``); 800 (0.8.0) when absent, as MXNet assumes."""
    graph_attrs = doc.get("attrs")
    if isinstance(graph_attrs, dict):
        value = graph_attrs.get("mxnet_version")
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
            return value[1]
    return 800


def _is_input(name: str, attrs: dict[str, Any], uses: list[tuple[str, int]]) -> bool:
    """Whether a variable node is a data or label input rather than a parameter."""
    if name == "data" or name.endswith("label"):
        return True
    if any(k in attrs for k in _PARAM_ATTRS):
        return False
    return bool(uses) and all(pos == 0 for _, pos in uses)


def _attr_shape(attrs: dict[str, Any]) -> tuple[int, ...] | None:
    text = attrs.get("__shape__")
    if not isinstance(text, str):
        return None
    body = text.strip()
    if not (body[:1] in "([" and body[-1:] in ")]"):
        return None
    return tuple(max(int(d), 0) for d in _INT.findall(body))


def _attr_dtype(attrs: dict[str, Any]) -> str | None:
    text = attrs.get("__dtype__")
    try:
        flag = int(str(text))
    except ValueError:
        return None
    dtype = DTYPES.get(flag)
    return dtype.name if dtype is not None else None


def _with_family(param: ModelParam, prefix: str) -> ModelParam:
    if param.prefixed is not None and param.prefixed.startswith(prefix):
        return ModelParam(
            param.prefixed, param.structural, param.shape, param.dtype, param.aux, prefix
        )
    return param


# ------------------------------------------------------------------------------------------
# .params files and names text


_LIST_MAGIC_BYTES = LIST_MAGIC.to_bytes(8, "little")
#: Files that are not names text even though they may decode as UTF-8 (open_params says what
#: they are): ZIP/npz, npy, Git LFS pointer; and after blanks HTML/XML and JSON.
_FOREIGN = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"version https://git-lfs")


def _load_file(spec: str) -> ModelInfo:
    try:
        with open(spec, "rb") as f:
            head = f.read(4096)
            # A .params file is left to open_params, which reads only its headers.
            raw = head + f.read() if _may_be_text(head) else None
    except OSError as e:
        raise ModelSpecError(f"{spec}: cannot read: {e.strerror or e}") from None
    text = _as_names_text(raw) if raw is not None else None
    if text is None:
        return _load_params(spec)
    names: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if any(c.isspace() for c in name):
            raise ModelSpecError(
                f"{spec}: line {lineno} is not one parameter name: {name[:60]!r} "
                "(a names file has one name per line; '#' starts a comment line)"
            )
        names.append(name)
    if not names:
        raise ModelSpecError(f"{spec}: no parameter names in this file")
    return _from_names(spec, "names", [(n, None, None) for n in names])


def _may_be_text(head: bytes) -> bool:
    """Whether the first bytes of a file allow a names file (not a .params file or the like)."""
    if not head or head.startswith(_LIST_MAGIC_BYTES) or _LIST_MAGIC_BYTES.startswith(head):
        return False
    return not (
        head.startswith(_FOREIGN) or head.lstrip()[:1] in (b"<", b"{", b"[") or b"\0" in head
    )


def _as_names_text(raw: bytes) -> str | None:
    """The file as text if it is a names file, or None if it is for :func:`open_params`."""
    if not _may_be_text(raw[:4096]) or b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _load_params(spec: str) -> ModelInfo:
    with open_params(spec) as pf:
        if len(pf) and not pf.named:
            raise ModelSpecError(
                f"{spec}: an unnamed list of {len(pf)} arrays (mx.nd.save of a list) has no "
                "parameter names"
            )
        entries = [
            (
                str(rec.name),
                rec.shape if rec.dtype is not None else None,
                rec.dtype.name if rec.dtype is not None else None,
            )
            for rec in pf.records
        ]
    return _from_names(spec, "params", entries)


def _from_names(
    spec: str, kind: ModelKind, entries: list[tuple[str, tuple[int, ...] | None, str | None]]
) -> ModelInfo:
    """ModelInfo from ``(name, shape, dtype)`` in file order; tags stripped, last one wins."""
    merged: dict[str, tuple[bool, tuple[int, ...] | None, str | None]] = {}
    for name, shape, dtype in entries:
        tag, bare = split_tag(name)
        merged[bare] = (tag == "aux:", shape, dtype)
    structural = any("." in bare for bare in merged)
    if structural:
        params = [
            ModelParam(None, (bare,), shape, dtype, aux)
            for bare, (aux, shape, dtype) in merged.items()
        ]
        return ModelInfo(spec, kind, params, [], None)
    found = root_prefix(list(merged))
    params = [
        ModelParam(bare, (), shape, dtype, aux, found if found and bare.startswith(found) else "")
        for bare, (aux, shape, dtype) in merged.items()
    ]
    return ModelInfo(spec, kind, params, [], found)

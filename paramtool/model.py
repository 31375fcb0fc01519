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

from dataclasses import dataclass, field
from typing import Any, Literal

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
    """
    raise NotImplementedError


def load_model(
    spec: str,
    *,
    model_args: dict[str, Any] | None = None,
    input_shapes: list[tuple[int, ...]] | None = None,
) -> ModelInfo:
    """Build the :class:`ModelInfo` for ``spec`` (see the module docstring).

    ``input_shapes`` (Gluon only): run one forward pass on zeros of these shapes so deferred
    shapes become known.

    Raises
    ------
    BackendUnavailableError
        A Gluon spec where MXNet cannot be imported (exit 3).
    ModelSpecError (paramtool.errors)
        The spec cannot be resolved: no such file/module/callable, the callable does not return
        a Block, a JSON file that is not a symbol graph, the forward pass fails (message says
        which and why).
    FormatError
        A ``.params`` spec that cannot be read.
    """
    raise NotImplementedError

"""paramtool: inspect, compare and rename Apache MXNet ``.params`` checkpoint files.

Library use::

    import paramtool
    with paramtool.open_params("net.params") as pf:     # headers only
        for rec in pf:
            print(rec.name, rec.shape, rec.dtype_name, rec.nbytes)
        w = pf.read("dense0.weight")                       # numpy array, read on demand

Importing this package imports neither numpy nor MXNet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paramtool.errors import (
    BackendError,
    BackendUnavailableError,
    ExitCode,
    FormatError,
    ModelSpecError,
    ParamtoolError,
    RenameError,
    UnsupportedFormatError,
    WriteRefusedError,
)

if TYPE_CHECKING:
    from paramtool.format import DTYPES, DType, Record
    from paramtool.index import ParamsFile, SparseArray, bfloat16_dtype, load, open_params
    from paramtool.writer import save

    open = open_params

__version__ = "0.1.0"

#: Public names that live in submodules, imported on first use (PEP 562) so that
#: ``import paramtool`` (and so every command's start-up) stays cheap.
_LAZY = {
    "DTYPES": "paramtool.format",
    "DType": "paramtool.format",
    "Record": "paramtool.format",
    "ParamsFile": "paramtool.index",
    "SparseArray": "paramtool.index",
    "bfloat16_dtype": "paramtool.index",
    "load": "paramtool.index",
    "open_params": "paramtool.index",
    "open": "paramtool.index",
    "save": "paramtool.writer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'paramtool' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), "open_params" if name == "open" else name)
    globals()[name] = value
    return value


__all__ = [
    "DTYPES",
    "BackendError",
    "BackendUnavailableError",
    "DType",
    "ExitCode",
    "FormatError",
    "ModelSpecError",
    "ParamsFile",
    "ParamtoolError",
    "Record",
    "RenameError",
    "SparseArray",
    "UnsupportedFormatError",
    "WriteRefusedError",
    "__version__",
    "bfloat16_dtype",
    "load",
    "open",
    "open_params",
    "save",
]

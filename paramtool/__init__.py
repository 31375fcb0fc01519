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
from paramtool.format import DTYPES, DType, Record
from paramtool.index import ParamsFile, SparseArray, bfloat16_dtype, load, open_params
from paramtool.writer import save

__version__ = "0.1.0"

#: ``paramtool.open(path)``: the lazy index, same as :func:`open_params`.
open = open_params

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

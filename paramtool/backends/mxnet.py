"""The MXNet backend: reads with ``mx.nd.load`` and writes with ``mx.nd.save``.

This is the only module that imports MXNet, and only when the backend is asked for. Files
written under numpy shape semantics (V3 records) can only be loaded with numpy shape on, and
V0–V2 files only with it off (spec §6), so loading tries the default mode first and retries
under ``mx.util.np_shape(True)`` when MXNet's error names ``is_np_shape``; a rewrite saves in
the mode the file loaded in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from paramtool.backends import Entry, Listing
from paramtool.errors import BackendError, BackendUnavailableError
from paramtool.writer import atomic_output

_mx: Any = None


def import_mxnet(purpose: str = "the mxnet backend") -> Any:
    """Import and return the ``mxnet`` module; ``purpose`` says in the error what needed it.

    Raises
    ------
    BackendUnavailableError
        On any exception from the import (ImportError where it is not installed, AttributeError
        from MXNet 1.9.1 under numpy >= 1.24, OSError for a missing shared library).
    """
    global _mx
    if _mx is None:
        try:
            import mxnet
        except Exception as e:
            hint = (
                "or use --backend native"
                if purpose == "the mxnet backend"
                else "or give the model as a -symbol.json file, a .params file or a names file"
            )
            raise BackendUnavailableError(
                f"{purpose} needs MXNet, but `import mxnet` failed ({type(e).__name__}: {e}); "
                f"install mxnet==1.9.1 with numpy<1.24 (Python < 3.12), {hint}"
            ) from None
        _mx = mxnet
    return _mx


def load(path: str) -> tuple[list[str | None], list[Any], bool]:
    """Load ``path`` with ``mx.nd.load``.

    Returns
    -------
    (names, arrays, np_shape):
        Names in order (None for an unnamed list), the NDArrays, and whether the file needed
        numpy shape semantics (V3 records).

    Raises
    ------
    BackendError
        MXNet cannot load the file (its own message is kept), e.g. a file mixing V2 and V3
        records, which MXNet 1.9.1 cannot load in any mode.
    """
    mx = import_mxnet()
    if not os.path.isfile(path):
        raise BackendError(f"{path}: no such file")
    np_shape = False
    try:
        data = mx.nd.load(path)
    except mx.base.MXNetError as e:
        if "is_np_shape" not in str(e):
            raise BackendError(f"{path}: mx.nd.load failed: {_first_line(e)}") from None
        np_shape = True
        try:
            with mx.util.np_shape(True):
                data = mx.nd.load(path)
        except mx.base.MXNetError as e2:
            raise BackendError(
                f"{path}: mx.nd.load failed in both shape modes (records of mixed versions?): "
                f"{_first_line(e2)}"
            ) from None
    if isinstance(data, dict):
        return list(data.keys()), list(data.values()), np_shape
    return [None] * len(data), list(data), np_shape


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if "Check failed" in ln or "Error" in ln:
            return ln
    return lines[0] if lines else type(e).__name__


def dtype_name(arr: Any) -> str:
    """numpy dtype name of an NDArray; ``"bfloat16"`` for MXNet's structured bfloat16 dtype."""
    import numpy as np

    dt = np.dtype(arr.dtype)
    if dt.names == ("bfloat16",):
        return "bfloat16"
    return dt.name


def to_numpy(arr: Any) -> Any:
    """``arr.asnumpy()`` (bfloat16 comes back as MXNet's structured dtype of raw uint16 words);
    sparse NDArrays become :class:`paramtool.index.SparseArray`."""
    from paramtool.index import SparseArray

    stype = getattr(arr, "stype", "default")
    if stype == "default":
        return arr.asnumpy()
    indptr = arr.indptr.asnumpy() if stype == "csr" else None
    return SparseArray(stype, tuple(arr.shape), arr.data.asnumpy(), arr.indices.asnumpy(), indptr)


def list_file(path: str) -> Listing:
    """List ``path`` as ``mx.nd.load`` sees it (loads every array). Raises BackendError."""
    names, arrays, _ = load(path)
    import numpy as np

    entries = []
    for name, arr in zip(names, arrays, strict=True):
        shape = tuple(int(d) for d in arr.shape)
        itemsize = np.dtype(arr.dtype).itemsize
        stype = getattr(arr, "stype", "default")
        if stype == "default":
            size = 1
            for d in shape:
                size *= d
            entries.append(Entry(name, shape, dtype_name(arr), size * itemsize))
            continue
        stored = int(arr.data.size)
        index_arrays = [arr.indices] + ([arr.indptr] if stype == "csr" else [])
        nbytes = stored * itemsize + sum(
            int(a.size) * np.dtype(a.dtype).itemsize for a in index_arrays
        )
        entries.append(Entry(name, shape, dtype_name(arr), nbytes, stype, stored))
    return Listing(
        path, entries, not names or names[0] is not None, os.path.getsize(path), None, "mxnet"
    )


def rewrite(
    src: str,
    dest: str,
    selection: Sequence[tuple[int, str]],
    *,
    in_place: bool,
    verify: bool = True,
    backup: str | None = None,
    progress: Callable[[int], None] | None = None,
    sync: bool = True,
) -> None:
    """Load ``src`` with ``mx.nd.load`` and save the selection with ``mx.nd.save``, atomically.

    The file is saved in the shape mode it loaded in (V3 stays V3). ``verify`` re-reads the
    result with ``mx.nd.load`` and checks the names and every array's bytes; ``sync=False``
    skips the fsyncs (see :func:`paramtool.writer.atomic_output`). Raises BackendError.
    """
    mx = import_mxnet()
    _names, arrays, np_shape = load(src)
    out = {new: arrays[i] for i, new in selection}
    mode = mx.util.np_shape(True) if np_shape else contextlib.nullcontext()
    mode_from = dest if in_place else None
    with atomic_output(dest, mode_from=mode_from, backup=backup, sync=sync) as (_f, tmp):
        try:
            with mode:
                mx.nd.save(tmp, out)
        except mx.base.MXNetError as e:
            raise BackendError(f"{dest}: mx.nd.save failed: {_first_line(e)}") from None
        if verify:
            back_names, back, _ = load(tmp)
            same = back_names == list(out) and all(
                _same_array(a, b) for a, b in zip(back, out.values(), strict=True)
            )
            if not same:
                raise BackendError(f"{dest}: verification of the written file failed")


def _same_array(a: Any, b: Any) -> bool:
    x, y = to_numpy(a), to_numpy(b)
    if hasattr(x, "todense"):
        x, y = x.todense(), y.todense()
    return bool(x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes())

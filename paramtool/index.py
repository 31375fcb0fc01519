"""A lazy, header-only index of a ``.params`` file, with arrays read on demand.

``open_params(path)`` walks the record headers and the name table (see :mod:`paramtool.format`)
and keeps the file open; nothing of the array data is read until :meth:`ParamsFile.read` is
called, and numpy is imported only then.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from paramtool.errors import FormatError
from paramtool.format import DType, FileLayout, Record, RecordTable, read_layout

if TYPE_CHECKING:
    import numpy as np

#: numpy dtype MXNet's own Python uses for bfloat16 (``python/mxnet/ndarray/ndarray.py``):
#: a structured dtype over one little-endian uint16 word. Built lazily, see :func:`bfloat16_dtype`.
BFLOAT16_FIELD = "bfloat16"


def bfloat16_dtype() -> np.dtype:  # type: ignore[type-arg]
    """``np.dtype([("bfloat16", "<u2")])``: how MXNet 1.9.1 Python types bfloat16 arrays.

    The values are raw bfloat16 words (the top 16 bits of a float32), never float16. To get
    float32 values: ``(a.view("<u2").astype("<u4") << 16).view("<f4")``.
    """
    import numpy as np

    return np.dtype([(BFLOAT16_FIELD, "<u2")])


class SparseArray:
    """A row_sparse or csr array as stored in a ``.params`` file (spec §7).

    Attributes
    ----------
    stype:
        ``"row_sparse"`` or ``"csr"``.
    shape:
        The logical (dense) shape.
    data:
        The stored values: shape ``(k, *shape[1:])`` for row_sparse (k stored rows), ``(nnz,)``
        for csr.
    indices:
        int64 (as MXNet writes): row ids of the stored rows (row_sparse), or the column index of
        each value (csr).
    indptr:
        csr only: ``(rows + 1,)`` offsets into ``data``/``indices`` per row; None for row_sparse.
    """

    __slots__ = ("data", "indices", "indptr", "shape", "stype")

    def __init__(
        self,
        stype: str,
        shape: tuple[int, ...],
        data: np.ndarray,  # type: ignore[type-arg]
        indices: np.ndarray,  # type: ignore[type-arg]
        indptr: np.ndarray | None = None,  # type: ignore[type-arg]
    ) -> None:
        self.stype = stype
        self.shape = tuple(shape)
        self.data = data
        self.indices = indices
        self.indptr = indptr

    def __repr__(self) -> str:
        return (
            f"SparseArray({self.stype!r}, shape={self.shape}, stored={self.data.shape}, "
            f"dtype={self.data.dtype})"
        )

    @property
    def dtype(self) -> np.dtype:  # type: ignore[type-arg]
        """dtype of the values."""
        import numpy as np

        return np.dtype(self.data.dtype)

    def todense(self) -> np.ndarray:  # type: ignore[type-arg]
        """The dense numpy array of :attr:`shape` (zeros where nothing is stored)."""
        import numpy as np

        out = np.zeros(self.shape, dtype=self.data.dtype)
        if self.stype == "row_sparse":
            out[self.indices.astype(np.int64)] = self.data
        else:
            assert self.indptr is not None
            rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr.astype(np.int64)))
            out[rows, self.indices.astype(np.int64)] = self.data
        return out


class ParamsFile:
    """An open ``.params`` file: record headers and names, arrays on demand.

    Use as a context manager (``with open_params(p) as pf: ...``) or call :meth:`close`.

    Attributes
    ----------
    path:
        The path as given.
    layout:
        The :class:`~paramtool.format.FileLayout` (records, name table offsets, size).
    bytes_read:
        Bytes read from the file so far (headers and names at open; array data added by
        :meth:`read`). Opening reads no array data.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            if os.path.exists(self.path) and not os.path.isfile(self.path):
                kind = "a directory" if os.path.isdir(self.path) else "not a regular file"
                raise FormatError(self.path, f"cannot open: {kind}")
            self._f: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise FormatError(self.path, f"cannot open: {e.strerror or e}") from None
        try:
            st = os.fstat(self._f.fileno())
            if not stat.S_ISREG(st.st_mode):
                self._f.close()
                raise FormatError(self.path, "not a regular file")
            size = st.st_size
            self.layout: FileLayout
            self.layout, self._bytes_read = read_layout(self._f, self.path, size)
        except OSError as e:
            self._f.close()
            raise FormatError(self.path, f"cannot read: {e.strerror or e}") from None
        except BaseException:
            self._f.close()
            raise

    # -- container protocol ---------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """Bytes read from the file so far: headers and names (again, for a compact index, see
        :class:`~paramtool.format.RecordTable`) and array data read by :meth:`read`."""
        return self._bytes_read + self.layout.records.bytes_read

    @property
    def records(self) -> RecordTable:
        """The records in file order (a read-only sequence of Record)."""
        return self.layout.records

    @property
    def named(self) -> bool:
        """False for an unnamed list (MXNet's ``mx.nd.load`` returns a list)."""
        return self.layout.named

    @property
    def names(self) -> list[str | None]:
        """Names in file order (None for every record of an unnamed list)."""
        return [r.name for r in self.layout.records]

    def __len__(self) -> int:
        return len(self.layout.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.layout.records)

    def record(self, key: int | str) -> Record:
        """The record at position ``key`` (int) or the *last* one named ``key`` (str).

        MXNet keeps the last of duplicate names (spec §2), and so does this lookup.

        Raises
        ------
        KeyError
            No record has that name. IndexError: position out of range.
        """
        if isinstance(key, int):
            return self.layout.records[key]
        index = self.layout.records.find(key)
        if index is None:
            raise KeyError(key)
        return self.layout.records[index]

    # -- data -----------------------------------------------------------------------------
    def read_bytes(self, key: int | str | Record) -> bytes:
        """The raw element bytes of one record (``record.nbytes`` bytes, little-endian)."""
        rec = key if isinstance(key, Record) else self.record(key)
        self._f.seek(rec.data_offset)
        data = self._f.read(rec.nbytes)
        self._bytes_read += len(data)
        if len(data) != rec.nbytes:
            raise FormatError(
                self.path,
                f"file changed while reading (got {len(data)} of {rec.nbytes} bytes)",
                offset=rec.data_offset,
                record=rec.index,
                field="data",
            )
        return data

    def read_data_into(self, rec: Record, buf: bytearray, start: int, n: int) -> None:
        """Read ``n`` bytes of ``rec``'s element data, from its byte ``start`` on, into the
        start of ``buf`` (a reused buffer: nothing is allocated per call).

        Raises
        ------
        FormatError
            A read failed, or the file ended before ``n`` bytes (it changed since it was
            indexed); the message names the file, the record and the byte offset.
        """
        offset = rec.data_offset + start
        try:
            got = read_into(self.fileno(), buf if n == len(buf) else memoryview(buf)[:n], offset)
        except OSError as e:
            got, why = -1, f"cannot read: {e.strerror or e}"
        self._bytes_read += max(got, 0)
        if got != n:
            if got >= 0:
                why = f"file changed while reading (it ends {n - got} bytes early)"
            raise FormatError(self.path, why, offset=offset, record=rec.index, field="data")

    def read(self, key: int | str | Record, *, mmap: bool = False) -> Any:
        """Decode one array: a numpy array of the record's shape, or a :class:`SparseArray`.

        With ``mmap=True`` a dense array is a read-only ``numpy.memmap`` of the file instead of
        a copy in memory (the OS pages it in on use).

        dtypes follow :data:`paramtool.format.DTYPES`; bfloat16 (flag 12) comes back with
        :func:`bfloat16_dtype` (raw 16-bit words, as MXNet 1.9.1's ``asnumpy()``). A "none"
        record gives an empty float32 array of shape ``(0,)``.

        Raises
        ------
        KeyError, IndexError
            No such record.
        FormatError
            The file changed under us.
        """
        import numpy as np

        rec = key if isinstance(key, Record) else self.record(key)
        if rec.dtype is None:
            return np.zeros((0,), dtype=np.float32)
        dtype = _numpy_dtype(rec.dtype)
        if mmap and rec.storage_shape is None:
            if not rec.nbytes:  # nothing to map: an empty read-only array
                empty = np.zeros(rec.shape, dtype=dtype)
                empty.flags.writeable = False
                return empty
            return np.memmap(
                self.path, dtype=dtype, mode="r", offset=rec.data_offset, shape=rec.shape
            )
        buf = bytearray(self.read_bytes(rec))
        if rec.storage_shape is None:
            return np.frombuffer(buf, dtype=dtype).reshape(rec.shape)
        values_end = rec.values_nbytes
        data = np.frombuffer(buf, dtype=dtype, count=rec.stored_size).reshape(rec.storage_shape)
        aux = []
        offsets = []
        pos = values_end
        for adtype, ashape in rec.aux:
            count = 1
            for d in ashape:
                count *= d
            aux.append(
                np.frombuffer(buf, dtype=_numpy_dtype(adtype), count=count, offset=pos).reshape(
                    ashape
                )
            )
            offsets.append(rec.data_offset + pos)
            pos += count * adtype.itemsize
        problem = _sparse_problem(rec, data, aux)
        if problem is not None:
            j, message = problem
            field = "indices" if rec.stype == 1 or j == 1 else "indptr"
            raise FormatError(self.path, message, offset=offsets[j], record=rec.index, field=field)
        if rec.stype == 1:
            return SparseArray("row_sparse", rec.shape, data, aux[0])
        return SparseArray("csr", rec.shape, data, aux[1], aux[0])

    def fileno(self) -> int:
        """The OS file descriptor (for kernel copies of record bytes)."""
        return self._f.fileno()

    def close(self) -> None:
        """Close the file; records stay readable, arrays no longer."""
        self._f.close()

    def __enter__(self) -> ParamsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ParamsFile {self.path!r}: {len(self)} arrays>"


def _sparse_problem(rec: Record, data: Any, aux: list[Any]) -> tuple[int, str] | None:
    """What makes a sparse record's index arrays unusable (spec §7), as (which aux array,
    message), or None. MXNet 1.9.1 loads such a file and fails (or reads out of bounds)
    only when the array is used; paramtool refuses it when it is read."""
    import numpy as np

    rows = rec.shape[0]
    if rec.stype == 1:
        idx = aux[0].astype(np.int64).reshape(-1)
        if idx.shape[0] != data.shape[0]:
            return 0, f"{idx.shape[0]} row ids for {data.shape[0]} stored rows"
        if idx.size and (idx.min() < 0 or idx.max() >= rows):
            return 0, f"row id out of range 0..{rows - 1}"
        return None
    indptr = aux[0].astype(np.int64).reshape(-1)
    indices = aux[1].astype(np.int64).reshape(-1)
    nnz = data.shape[0]
    if indptr.shape[0] != rows + 1:
        return 0, f"indptr has {indptr.shape[0]} entries for {rows} rows (needs {rows + 1})"
    if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
        return 0, f"indptr is not a non-decreasing run from 0 to {nnz} stored values"
    if indices.shape[0] != nnz:
        return 1, f"{indices.shape[0]} column indices for {nnz} stored values"
    if indices.size and (indices.min() < 0 or indices.max() >= rec.shape[1]):
        return 1, f"column index out of range 0..{rec.shape[1] - 1}"
    return None


def read_into(fd: int, buf: bytearray | memoryview, offset: int) -> int:
    """Fill ``buf`` from byte ``offset`` of ``fd`` (a reused buffer: no allocation per read)
    and return the number of bytes read (fewer than ``len(buf)`` only at end of file).
    ``os.preadv`` where the OS has it (Linux, BSD), else ``os.pread`` and a copy (macOS).

    Raises
    ------
    OSError
        The read failed."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buf], offset)
    data = os.pread(fd, len(buf), offset)
    buf[: len(data)] = data
    return len(data)


def _numpy_dtype(dtype: DType) -> np.dtype:  # type: ignore[type-arg]
    import numpy as np

    return bfloat16_dtype() if dtype.flag == 12 else np.dtype(dtype.numpy)


def load(path: str | os.PathLike[str]) -> dict[str, Any] | list[Any]:
    """Read every array of a ``.params`` file, like ``mx.nd.load`` but without MXNet.

    MXNet 2.x npz files (spec §9.5) are read too.

    Returns
    -------
    dict or list
        ``{name: array}`` in file order for a named file (a later duplicate name wins, as in
        MXNet), or a list for an unnamed list (and for an empty file, as MXNet does). Arrays are
        numpy arrays (bfloat16 with :func:`bfloat16_dtype`) or :class:`SparseArray`.

    Raises
    ------
    FormatError, UnsupportedFormatError
        As :func:`open_params`.
    """
    from paramtool import npz
    from paramtool.format import sniff_container

    kind = sniff_container(os.fspath(path))
    if kind == "npz":
        return npz.load_npz(os.fspath(path))
    if kind == "npy":
        import numpy as np

        entry = npz.list_npy(os.fspath(path))  # validates the header and the size first
        try:
            array = np.load(os.fspath(path), allow_pickle=False)
        except Exception as e:
            # numpy's own header parser disagrees with ours on an odd header; it raises
            # ValueError, SyntaxError, tokenize.TokenError, ... depending on the bytes
            raise FormatError(os.fspath(path), f"unreadable .npy file ({e})") from None
        if array.shape != entry.shape:
            raise FormatError(os.fspath(path), "unreadable .npy file (shape)")
        return [array]
    with open_params(path) as pf:
        if not pf.named or not len(pf):
            return [pf.read(r) for r in pf]
        out: dict[str, Any] = {}
        for r in pf:
            assert r.name is not None
            out[r.name] = pf.read(r)  # a duplicate keeps its first position and last value
        return out


def open_params(path: str | os.PathLike[str]) -> ParamsFile:
    """Open ``path`` and index its records without reading array data.

    Raises
    ------
    FormatError
        The file cannot be opened, is not an NDArray list, or is truncated/corrupt; the message
        names the file, the record, the field and the byte offset.
    UnsupportedFormatError
        Sparse records or an MXNet 2.x zip file (a later version will read them).
    """
    return ParamsFile(path)

"""The MXNet NDArray-list binary format (``.params``), as read and written by MXNet 1.9.1.

This module is the one place that knows the bytes. Every fact below is from
``shared/spec/params-format.md`` (section numbers quoted), which was checked byte by byte against
files written by MXNet 1.9.1 (``src/ndarray/ndarray.cc``: ``NDArray::Save``/``Load``,
``LegacyLoad``; ``include/mxnet/tuple.h``; ``3rdparty/mshadow/mshadow/base.h``).

Layout (all little-endian, no padding or alignment; §1, §2)::

    u64 list magic 0x112 | u64 reserved (0) | u64 N
    N array records, back to back (versions may differ per record)
    u64 K (0 = unnamed list, else K == N) | K x (u64 length, UTF-8 bytes)
    [bytes after the name table are ignored by MXNet]

Record versions (§3), told apart by the record's first u32:

=========  ============  ===================================================================
version    first u32     layout
=========  ============  ===================================================================
V3         0xF993FACA    magic, i32 stype, [storage shape], shape, i32 dev_type, i32 dev_id,
                         i32 type_flag, data. numpy shape semantics: ndim 0 is a 0-d scalar.
V2         0xF993FAC9    same bytes as V3; ndim 0 means a "none" array and the record ends.
V1         0xF993FAC8    magic, shape, ctx, type_flag, data (dense only; MXNet 0.11).
V0         anything      the word *is* ndim (u32), then ndim x u32 dims, ctx, type_flag, data.
=========  ============  ===================================================================

A shape (V1–V3) is ``i32 ndim`` followed by ``ndim x i64`` dims (§3.3). Sparse records
(stype 1 ``row_sparse``, 2 ``csr``, §7) add a storage shape before the shape and one or two
index (aux) arrays after the values; they exist only as V2 records.

Only :mod:`struct` is needed to walk the headers: this module imports neither numpy nor MXNet,
so listing a file stays cheap (numpy is imported by :mod:`paramtool.index` when array data is
actually read).
"""

# (no "from __future__ import annotations" here: NamedTuple fields with string annotations
# are compiled one by one at import, which costs every command ~20 ms of start-up)

import os
import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple, overload

from paramtool.errors import FormatError, UnsupportedFormatError

#: u64 at offset 0 of every NDArray-list file (``kMXAPINDArrayListMagic``, §2).
LIST_MAGIC = 0x112
#: Size in bytes of the list header: magic, reserved, array count (§2).
HEADER_SIZE = 24

MAGIC_V1 = 0xF993FAC8
MAGIC_V2 = 0xF993FAC9
MAGIC_V3 = 0xF993FACA
#: Record magic (first u32) for each version that has one (§3.1).
RECORD_MAGIC = {1: MAGIC_V1, 2: MAGIC_V2, 3: MAGIC_V3}

#: Storage type numbers (``include/mxnet/ndarray.h``, §3.2, §7).
STYPE_DEFAULT = 0
STYPE_NAMES = {0: "default", 1: "row_sparse", 2: "csr"}

#: Device types stored in a record's context (``include/mxnet/base.h``, §4).
DEVICE_NAMES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}


class DType(NamedTuple):
    """One MXNet ``type_flag`` (mshadow ``enum TypeFlag``, spec §5).

    Attributes
    ----------
    flag:
        The i32 stored in the record.
    name:
        numpy dtype name (``"float32"``), or ``"bfloat16"`` for flag 12.
    itemsize:
        Bytes per element.
    numpy:
        numpy dtype string used to decode the raw little-endian bytes. bfloat16 is decoded as raw
        ``<u2`` words (the top 16 bits of the float32 pattern), never as float16.
    mxnet_191:
        Whether MXNet 1.9.1 can load arrays of this dtype (flags 8–11 exist only in MXNet 2.x).
    """

    flag: int
    name: str
    itemsize: int
    numpy: str
    mxnet_191: bool = True


DTYPES: dict[int, DType] = {
    d.flag: d
    for d in (
        DType(0, "float32", 4, "<f4"),
        DType(1, "float64", 8, "<f8"),
        DType(2, "float16", 2, "<f2"),
        DType(3, "uint8", 1, "|u1"),
        DType(4, "int32", 4, "<i4"),
        DType(5, "int8", 1, "|i1"),
        DType(6, "int64", 8, "<i8"),
        DType(7, "bool", 1, "|b1"),
        DType(8, "int16", 2, "<i2", mxnet_191=False),
        DType(9, "uint16", 2, "<u2", mxnet_191=False),
        DType(10, "uint32", 4, "<u4", mxnet_191=False),
        DType(11, "uint64", 8, "<u8", mxnet_191=False),
        DType(12, "bfloat16", 2, "<u2"),
    )
}
#: dtype name -> flag, the inverse of :data:`DTYPES`.
DTYPE_FLAGS: dict[str, int] = {d.name: d.flag for d in DTYPES.values()}

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I32x3 = struct.Struct("<iii")


class Record:
    """Header facts about one array record; the array data is not read.

    All offsets are absolute byte positions from the start of the file; sizes are in bytes.

    Attributes
    ----------
    index:
        0-based position of the record in the file.
    version:
        0, 1, 2 or 3 (spec §3.1).
    stype:
        Storage type: 0 dense (the only one this version decodes).
    shape:
        Logical shape, C order, outermost first. ``()`` for a 0-d scalar or a "none" record.
    dtype:
        The :class:`DType`, or None for a "none" (uninitialised) record, which has no data.
    context:
        ``(dev_type, dev_id)`` as saved (§4), or None for a "none" record.
    offset:
        Where the record starts (its magic, or its ndim for V0).
    data_offset:
        Where the element bytes start.
    nbytes:
        Bytes of array data in the record: ``itemsize * prod(shape)`` for a dense array; for a
        sparse one the stored values plus the index (aux) arrays.
    end:
        Offset just past the record; records are contiguous, so this is the next one's ``offset``.
    storage_shape:
        Sparse only: the shape of the stored values (``(k, *shape[1:])`` for row_sparse with k
        stored rows, ``(nnz,)`` for csr), healed from the aux shapes when the file holds a stale
        one (spec §7.3); None for dense.
    aux:
        Sparse only: ``(dtype, shape)`` of each index array: row_sparse ``[row ids]``, csr
        ``[indptr, column indices]`` (spec §7.1); their bytes follow the values.
    name:
        The record's name decoded as UTF-8 (invalid bytes kept as surrogate escapes, so
        ``name.encode("utf-8", "surrogateescape")`` gives the stored bytes back), or None in an
        unnamed list.
    """

    # A plain class with __slots__ rather than a dataclass: dataclasses compile their methods
    # at import time, which every command's start-up would pay for.
    __slots__ = (
        "aux", "context", "data_offset", "dtype", "end", "index", "name", "nbytes", "offset",
        "shape", "storage_shape", "storage_shape_stored", "stype", "version",
    )  # fmt: skip

    def __init__(
        self,
        index: int,
        version: int,
        stype: int,
        shape: tuple[int, ...],
        dtype: DType | None,
        context: tuple[int, int] | None,
        offset: int,
        data_offset: int,
        nbytes: int,
        end: int,
        name: str | None = None,
        storage_shape: tuple[int, ...] | None = None,
        aux: tuple[tuple[DType, tuple[int, ...]], ...] = (),
        storage_shape_stored: tuple[int, ...] | None = None,
    ) -> None:
        self.index = index
        self.version = version
        self.stype = stype
        self.shape = shape
        self.dtype = dtype
        self.context = context
        self.offset = offset
        self.data_offset = data_offset
        self.nbytes = nbytes
        self.end = end
        self.name = name
        self.storage_shape = storage_shape
        self.aux = aux
        self.storage_shape_stored = storage_shape_stored

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable (names are filled in after the walk)

    def __repr__(self) -> str:
        return (
            f"Record(index={self.index}, name={self.name!r}, version={self.version}, "
            f"stype={self.stype}, shape={self.shape}, dtype={self.dtype_name}, "
            f"offset={self.offset}, nbytes={self.nbytes})"
        )

    @property
    def stype_name(self) -> str:
        """``default`` (dense), ``row_sparse`` or ``csr``."""
        return STYPE_NAMES[self.stype]

    @property
    def stored_size(self) -> int:
        """Number of stored values: ``prod(storage_shape)`` for sparse, :attr:`size` for dense."""
        if self.storage_shape is None:
            return self.size
        return _prod(self.storage_shape)

    @property
    def values_nbytes(self) -> int:
        """Bytes of the values (without the index arrays of a sparse record)."""
        if self.dtype is None:
            return 0
        return self.stored_size * self.dtype.itemsize

    @property
    def size(self) -> int:
        """Number of elements (``prod(shape)``; 0 for a "none" record)."""
        if self.dtype is None:
            return 0
        return _prod(self.shape)

    @property
    def is_none(self) -> bool:
        """True for a "none" (uninitialised) array: V2 ndim 0, or V0/V1 ndim 0 (spec §3.5, §6)."""
        return self.dtype is None

    @property
    def dtype_name(self) -> str:
        """numpy dtype name, ``"bfloat16"`` for flag 12, ``"none"`` for a "none" record."""
        return self.dtype.name if self.dtype is not None else "none"

    @property
    def context_name(self) -> str:
        """The saved context as MXNet prints it, e.g. ``"cpu(0)"``, ``"gpu(1)"``; ``""`` if none."""
        if self.context is None:
            return ""
        dev_type, dev_id = self.context
        return f"{DEVICE_NAMES.get(dev_type, f'device{dev_type}')}({dev_id})"


class FileLayout:
    """Everything :func:`read_layout` learns from a file's headers and name table.

    Attributes
    ----------
    records:
        The records in file order, with names filled in: a :class:`RecordTable` (a read-only
        sequence of :class:`Record`).
    named:
        False for an unnamed list (name count 0 with at least one record).
    reserved:
        The reserved u64 at offset 8 (MXNet writes 0 and ignores it).
    records_end:
        Offset of the name count, i.e. just past the last record.
    names_end:
        Offset just past the name table.
    size:
        File size in bytes; ``size - names_end`` bytes trail the name table (MXNet ignores them).
    """

    __slots__ = ("named", "names_end", "records", "records_end", "reserved", "size")

    def __init__(
        self,
        records: "RecordTable",
        named: bool,
        reserved: int,
        records_end: int,
        names_end: int,
        size: int,
    ) -> None:
        self.records = records
        self.named = named
        self.reserved = reserved
        self.records_end = records_end
        self.names_end = names_end
        self.size = size

    @property
    def trailing_bytes(self) -> int:
        """Bytes after the name table (ignored by MXNet, spec §1)."""
        return self.size - self.names_end


#: Records per block of a compact :class:`RecordTable`: the table keeps the offsets of the
#: first record and the first name of every block (2 bytes per record in all) and decodes a
#: block's headers again from the file when one of its records is asked for.
BLOCK = 8

#: Estimated bytes a kept :class:`Record` costs, before its shape and name (the object, its
#: offsets, context tuple and list slot; measured with tracemalloc on CPython 3.11/3.13).
RECORD_COST = 420
#: Estimated bytes per dim of a kept shape (tuple slot and int object).
DIM_COST = 40

#: A file's records are kept as :class:`Record` objects while their estimated cost stays
#: within ``size // EAGER_DIVISOR + KEEP_SLACK`` bytes; past that the index turns compact. The
#: environment variable ``PARAMTOOL_INDEX=compact`` forces the compact index (for tests).
EAGER_DIVISOR = 4
#: Small files always keep their records (a few hundred of them cost less than this).
KEEP_SLACK = 32 << 10

#: Bytes of the name table read at a time while it is walked.
NAMES_CHUNK = 1 << 16


def _record_cost(rec: "Record") -> int:
    return RECORD_COST + DIM_COST * len(rec.shape) + (400 if rec.aux else 0)


def _name_cost(length: int) -> int:
    """Upper bound of a decoded name's size: 4 bytes per stored byte (a str of astral
    characters, or surrogate escapes mixed with one) and the object header."""
    return 80 + 4 * length


class RecordTable:
    """The records of an open file, in file order: a read-only sequence of :class:`Record`.

    Supports ``len``, iteration, ``reversed``, indexing (negative too), slices and
    :meth:`find`, and compares equal to a list of the same records.

    When the :class:`Record` objects would cost more than a quarter of the file's size (very
    many small records: a V0 "none" record is 4 bytes, a Python object several hundred), the
    table is *compact*: it keeps the offsets of every :data:`BLOCK`-th record and name (2 bytes
    per record) and the name table's bytes, and decodes a block of headers again from the file
    on access (the last two blocks are cached). Either way the index takes at most the file's
    size in memory (plus :data:`KEEP_SLACK`). Records from a compact table are new objects on
    each decode; they compare equal.

    Raises
    ------
    FormatError
        On access, compact tables only: the file changed (size, modification time or inode)
        since it was indexed, or it can no longer be opened.
    """

    __slots__ = (
        "_blocks", "_count", "_f", "_identity", "_kept", "_name_starts", "_names",
        "_names_start", "_path", "_size", "_starts", "bytes_read",
    )  # fmt: skip

    def __init__(
        self,
        f: BinaryIO,
        path: str,
        size: int,
        count: int,
        kept: list[Record] | None,
        starts: "array[int]",
        name_starts: "array[int] | None",
        names: bytes | None,
        names_start: int,
    ) -> None:
        self._f = f
        self._path = path
        self._size = size
        self._count = count
        self._kept = kept
        self._starts = starts
        self._name_starts = name_starts
        self._names = names
        self._names_start = names_start
        self._identity = _identity(f)
        self._blocks: dict[int, list[Record]] = {}
        #: header bytes read again by a compact table (0 while records are kept)
        self.bytes_read = 0

    @property
    def compact(self) -> bool:
        """True when records are decoded from the file on access instead of being kept."""
        return self._kept is None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Record]:
        if self._kept is not None:
            return iter(self._kept)
        return (rec for b in range(len(self._starts)) for rec in self._block(b))

    def __reversed__(self) -> Iterator[Record]:
        if self._kept is not None:
            return reversed(self._kept)
        return (rec for b in reversed(range(len(self._starts))) for rec in reversed(self._block(b)))

    @overload
    def __getitem__(self, i: int) -> Record: ...
    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...
    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if self._kept is not None:
            return self._kept[i]
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError("record index out of range")
        return self._block(i // BLOCK)[i % BLOCK]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (RecordTable, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = "compact" if self._kept is None else "kept"
        return f"<RecordTable {self._count} records ({kind})>"

    def find(self, name: str) -> int | None:
        """Index of the *last* record named ``name`` (MXNet keeps the last of duplicate names,
        spec §2), or None. A compact table searches the stored name table's bytes (a C-speed
        ``rfind``) and decodes nothing."""
        if self._kept is not None:
            for rec in reversed(self._kept):
                if rec.name == name:
                    return rec.index
            return None
        names, starts = self._names, self._name_starts
        if names is None or starts is None:
            return None
        raw = name.encode("utf-8", "surrogateescape")
        entry = _U64.pack(len(raw)) + raw
        end = len(names)
        while (p := names.rfind(entry, 0, end)) >= 0:
            index = self._name_index(p)
            if index is not None:
                return index
            end = p + len(entry) - 1  # a match inside another name: look further back
        return None

    def _name_index(self, p: int) -> int | None:
        """The index of the name entry that starts at ``p`` in the stored name table, or None
        when ``p`` is not where an entry starts."""
        names, starts = self._names, self._name_starts
        assert names is not None and starts is not None
        b = bisect_right(starts, self._names_start + p) - 1
        q = starts[b] - self._names_start
        for index in range(b * BLOCK, min(b * BLOCK + BLOCK, self._count)):
            if q == p:
                return index
            if q > p:
                break
            q += 8 + _U64.unpack_from(names, q)[0]
        return None

    def _block(self, b: int) -> list[Record]:
        """Records ``b*BLOCK`` .. ``b*BLOCK+BLOCK-1``, decoded again (the last two are cached)."""
        got = self._blocks.get(b)
        if got is None:
            if self._f.closed:  # records stay readable after ParamsFile.close()
                try:
                    with open(self._path, "rb") as f:
                        got = self._decode(f, b)
                except OSError as e:
                    raise FormatError(
                        self._path, f"cannot read it again: {e.strerror or e}"
                    ) from None
            else:
                got = self._decode(self._f, b)
            if len(self._blocks) >= 2:
                del self._blocks[next(iter(self._blocks))]
            self._blocks[b] = got
        return got

    def _decode(self, f: BinaryIO, b: int) -> list[Record]:
        """Decode the headers of block ``b`` from ``f`` again, and their names from the
        stored name table."""
        if _identity(f) != self._identity:
            raise FormatError(self._path, "file changed since it was opened")
        c = _Cursor(f, self._path, self._size)
        first = b * BLOCK
        c.pos = self._starts[b]
        f.seek(c.pos)
        records = []
        try:
            for i in range(first, min(first + BLOCK, self._count)):
                c.record = i
                records.append(_read_record(c, i))
        except FormatError as e:
            raise FormatError(
                self._path, f"file changed since it was opened ({e.message})"
            ) from None
        self.bytes_read += c.bytes_read
        names, starts = self._names, self._name_starts
        if names is not None and starts is not None:
            q = starts[b] - self._names_start
            view = memoryview(names)
            for rec in records:
                length = _U64.unpack_from(names, q)[0]
                rec.name = str(view[q + 8 : q + 8 + length], "utf-8", "surrogateescape")
                q += 8 + length
        return records


def _identity(f: BinaryIO) -> tuple[int, ...] | None:
    """What tells a file apart from a changed or replaced one: device, inode, size and
    modification time (None for a stream without a descriptor, e.g. BytesIO)."""
    try:
        st = os.fstat(f.fileno())
    except OSError:  # io.UnsupportedOperation
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _Cursor:
    """Exact reads from a binary file; every short read names the field, record and offset."""

    __slots__ = ("bytes_read", "f", "path", "pos", "record", "size")

    def __init__(self, f: BinaryIO, path: str, size: int) -> None:
        self.f = f
        self.path = path
        self.size = size
        self.pos = 0
        self.record: int | None = None
        self.bytes_read = 0

    @property
    def left(self) -> int:
        return self.size - self.pos

    def fail(self, message: str, field: str, offset: int | None = None) -> FormatError:
        return FormatError(
            self.path,
            message,
            offset=self.pos if offset is None else offset,
            record=self.record,
            field=field,
        )

    def need(self, n: int, field: str) -> None:
        if n > self.left:
            raise self.fail(f"file ends early (needs {n} bytes, {self.left} left)", field)

    def take(self, n: int, field: str) -> bytes:
        self.need(n, field)
        data = self.f.read(n)
        if len(data) != n:  # the file shrank under us
            raise self.fail(f"file ends early (needs {n} bytes, got {len(data)})", field)
        self.pos += n
        self.bytes_read += n
        return data

    def skip(self, n: int, field: str) -> None:
        self.need(n, field)
        self.pos += n
        self.f.seek(self.pos)

    def u32(self, field: str) -> int:
        value: int = _U32.unpack(self.take(4, field))[0]
        return value

    def i32(self, field: str) -> int:
        value: int = _I32.unpack(self.take(4, field))[0]
        return value

    def u64(self, field: str) -> int:
        value: int = _U64.unpack(self.take(8, field))[0]
        return value


def sniff_container(path: str) -> str | None:
    """``"npz"`` for a ZIP archive (an MXNet 2.x ``.params``), ``"npy"`` for a bare ``.npy``
    file, None otherwise (an NDArray list, or something else that the reader will name; also
    for anything but a regular file, which is never opened here: a FIFO would block)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    return None


def describe_foreign(head: bytes) -> str:
    """Say what a file that does not start with the list magic most likely is.

    ``head`` is up to the first 512 bytes of the file. Returns a sentence fragment.
    """
    if not head:
        return "empty file (0 bytes), not an MXNet .params file"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return (
            "ZIP archive: an MXNet 2.x npz-format .params file (read it with paramtool.load "
            "or the command line), not an NDArray list"
        )
    if head.startswith(b"\x93NUMPY"):
        return "a numpy .npy file (MXNet 2.x single-array save), not an NDArray list"
    if head.startswith(b"version https://git-lfs"):
        return "Git LFS pointer file, not the checkpoint itself (run `git lfs pull` to fetch it)"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "HTML/XML page (a failed download?), not an MXNet .params file"
    if stripped.startswith((b"{", b"[")):
        return "JSON text (a -symbol.json file?), not an MXNet .params file"
    try:
        head.decode("utf-8")
        is_text = all(32 <= b < 127 or b in b"\t\r\n" for b in head[:64])
    except UnicodeDecodeError:
        is_text = False
    if is_text:
        return "plain text, not an MXNet .params file"
    return (
        f"not an MXNet .params file: starts with {head[:8].hex(' ')}, "
        f"expected the list magic 12 01 00 00 00 00 00 00"
    )


def read_layout(f: BinaryIO, path: str, size: int) -> tuple[FileLayout, int]:
    """Walk the headers and the name table of an NDArray-list file without reading array data.

    Parameters
    ----------
    f:
        Binary file positioned anywhere; it is read from offset 0.
    path:
        Name used in error messages.
    size:
        File size in bytes (from ``os.fstat``); every count and length is checked against the
        bytes left before anything is allocated.

    Returns
    -------
    (layout, bytes_read):
        The :class:`FileLayout` and how many bytes were read (headers and names only).

    Raises
    ------
    FormatError
        Not an NDArray list, truncated, or a field out of range; the message names the record,
        the field and the byte offset.
    UnsupportedFormatError
        A sparse record, or an MXNet 2.x zip/npy file.
    """
    c = _Cursor(f, path, size)
    f.seek(0)
    head = f.read(512)
    if not head.startswith(_U64.pack(LIST_MAGIC)):
        if head and _U64.pack(LIST_MAGIC).startswith(head):
            raise FormatError(path, f"file ends early ({size} bytes)", offset=0, field="list magic")
        what = describe_foreign(head)
        err_cls = UnsupportedFormatError if "MXNet 2.x" in what else FormatError
        raise err_cls(path, what)
    f.seek(0)
    c.take(8, "list magic")
    reserved = c.u64("reserved")
    n = c.u64("array count")
    # Every record takes at least 4 bytes (a V0 "none" record is a lone ndim of 0), and the name
    # count needs 8 more: bound the count before looping on it.
    if n and n > (c.left - 8) // 4:
        raise c.fail(
            f"array count {n} cannot fit in the {c.left} bytes left", "array count", c.pos - 8
        )
    # Keep Record objects while they cost at most a quarter of the file's size; past that
    # keep only block offsets and the name table (RecordTable decodes blocks on access).
    forced = os.environ.get("PARAMTOOL_INDEX") == "compact"
    budget = size // EAGER_DIVISOR + KEEP_SLACK
    kept: list[Record] | None = None if forced else []
    cost = 0
    starts = array("Q")
    for i in range(n):
        if i % BLOCK == 0:
            starts.append(c.pos)
        c.record = i
        rec = _read_record(c, i)
        if kept is not None:
            cost += _record_cost(rec)
            if cost > budget:
                kept = None
            else:
                kept.append(rec)
    c.record = None
    records_end = c.pos
    k = c.u64("name count")
    if k not in (0, n):
        raise c.fail(
            f"name count {k} is neither 0 (unnamed list) nor the array count {n}",
            "name count",
            c.pos - 8,
        )
    names_start = c.pos
    name_starts = array("Q") if k else None
    names = None
    if k:
        assert name_starts is not None
        if not _read_names(c, k, kept, name_starts, budget - cost):
            kept = None
        if kept is None:  # the compact table keeps the name table's bytes (part of the file)
            f.seek(names_start)
            names = f.read(c.pos - names_start)
            if len(names) != c.pos - names_start:
                raise c.fail("file ends early (it shrank while being read)", "name", names_start)
    table = RecordTable(f, path, size, n, kept, starts, name_starts, names, names_start)
    layout = FileLayout(
        records=table,
        named=k > 0 or n == 0,
        reserved=reserved,
        records_end=records_end,
        names_end=c.pos,
        size=size,
    )
    return layout, c.bytes_read


#: Most dims a record may have: numpy 2's limit (numpy 1.x: 32). A real checkpoint never has
#: more, and a hostile one could otherwise make a shape tuple several times the file's size.
MAX_NDIM = 64


def _read_names(
    c: _Cursor,
    k: int,
    kept: list[Record] | None,
    name_starts: "array[int]",
    budget: int,
) -> bool:
    """Walk the ``k`` names of the name table (spec §2) in :data:`NAMES_CHUNK`-byte reads,
    checking each length against the bytes left, and record the offset of every
    :data:`BLOCK`-th name in ``name_starts``. While ``kept`` is a list and the decoded names'
    estimated cost stays within ``budget`` bytes, give the kept records their names. Returns
    whether it did so for all of them (False: the index must be compact)."""
    unpack = _U64.unpack_from
    buf: bytes | bytearray = b""
    pos = 0  # where the next name starts in buf
    base = c.pos  # file offset of buf[0]
    naming = kept is not None
    for i in range(k):
        c.record = i
        at = base + pos
        if i % BLOCK == 0:
            name_starts.append(at)
        if pos + 8 > len(buf):
            buf, pos, base = _refill(c, buf, pos, base, 8, "name length")
        (length,) = unpack(buf, pos)
        left = c.size - at - 8
        if length > left:
            raise c.fail(
                f"name length {length} is past the end of the file ({left} bytes left)",
                "name length",
                at,
            )
        if naming:
            budget -= _name_cost(length)
            naming = budget >= 0
        if pos + 8 + length > len(buf):
            if not naming and length > NAMES_CHUNK:  # skip it without reading it
                c.f.seek(at + 8 + length)
                buf, pos, base = b"", 0, at + 8 + length
                continue
            buf, pos, base = _refill(c, buf, pos, base, 8 + length, "name")
        if naming:
            assert kept is not None
            kept[i].name = str(
                memoryview(buf)[pos + 8 : pos + 8 + length], "utf-8", "surrogateescape"
            )
        pos += 8 + length
    c.record = None
    c.pos = base + pos
    c.f.seek(c.pos)
    return naming


def _refill(
    c: _Cursor, buf: bytes | bytearray, pos: int, base: int, need: int, field: str
) -> tuple[bytearray, int, int]:
    """A new buffer that starts with the unconsumed part of ``buf`` and holds at least
    ``need`` bytes (at least :data:`NAMES_CHUNK`, never past the end of the file), in one
    allocation. Returns the new (buf, pos, base)."""
    rest = len(buf) - pos
    base += pos
    end = base + rest
    want = min(max(need - rest, NAMES_CHUNK), c.size - end)
    if rest + want < need:
        raise c.fail(f"file ends early (needs {need} bytes, {c.size - base} left)", field, base)
    new = bytearray(rest + want)
    new[:rest] = memoryview(buf)[pos:]
    c.f.seek(end)
    got = c.f.readinto(memoryview(new)[rest:])  # type: ignore[attr-defined]
    c.bytes_read += got
    if got != want:  # the file shrank under us
        raise c.fail(f"file ends early (needs {need} bytes, got {rest + got})", field, base)
    return new, 0, base


def _read_shape(c: _Cursor, version: int) -> tuple[int, ...]:
    """Read a shape: V0 ``u32 ndim, u32 dims``; V1–V3 ``i32 ndim, i64 dims`` (spec §3.3, §3.5)."""
    start = c.pos
    if version == 0:
        ndim = c.u32("ndim")
        width, fmt = 4, "I"
    else:
        ndim = c.i32("ndim")
        width, fmt = 8, "q"
        if ndim < 0:
            raise c.fail(f"ndim {ndim} is negative", "ndim", start)
    if ndim > MAX_NDIM:
        raise c.fail(
            f"ndim {ndim} is more than {MAX_NDIM} (numpy's limit; MXNet never writes that many)",
            "ndim",
            start,
        )
    if ndim * width > c.left:
        raise c.fail(
            f"ndim {ndim} needs {ndim * width} bytes of dims, only {c.left} left", "ndim", start
        )
    shape = struct.unpack(f"<{ndim}{fmt}", c.take(ndim * width, "dims")) if ndim else ()
    for j, d in enumerate(shape):
        if d < 0:
            raise c.fail(f"dim {j} is {d}", "dims", start + 4 + j * width)
    return tuple(shape)


_HEAD = struct.Struct("<Iii")


def _read_record(c: _Cursor, index: int) -> Record:
    offset = c.pos
    fast = _read_dense_fast(c, index, offset)
    if fast is not None:
        return fast
    word = c.u32("record magic")
    stype = STYPE_DEFAULT
    if word in (MAGIC_V2, MAGIC_V3):
        version = 2 if word == MAGIC_V2 else 3
        stype = c.i32("stype")
        if stype not in STYPE_NAMES:
            raise c.fail(f"unknown storage type {stype}", "stype", c.pos - 4)
        if stype != STYPE_DEFAULT:
            if version == 3:
                raise c.fail(
                    f"storage type {STYPE_NAMES[stype]} in a V3 record (MXNet writes sparse "
                    "arrays only in V2 records and refuses to load this)",
                    "stype",
                    c.pos - 4,
                )
            return _read_sparse(c, index, offset, stype)
        shape = _read_shape(c, version)
        if version == 2 and not shape:  # V2 ndim 0: a "none" array, the record ends (§3.2)
            return Record(index, version, stype, (), None, None, offset, c.pos, 0, c.pos)
    elif word == MAGIC_V1:
        version = 1
        shape = _read_shape(c, 1)
        if not shape:  # old writers' "none" array (§3.4)
            return Record(index, version, stype, (), None, None, offset, c.pos, 0, c.pos)
    else:
        version = 0
        c.pos = offset
        c.f.seek(offset)
        c.bytes_read -= 4
        if word and 16 + 4 * word > c.left:
            raise c.fail(
                f"first word 0x{word:08X} is not a record magic (V1-V3), and as a V0 ndim it "
                f"would need {16 + 4 * word} bytes, only {c.left} left",
                "record magic",
            )
        shape = _read_shape(c, 0)
        if not shape:  # V0 ndim 0: "none" array, the record ends (§3.5)
            return Record(index, version, stype, (), None, None, offset, c.pos, 0, c.pos)
    dev_type, dev_id, flag = _I32x3.unpack(c.take(12, "context and type_flag"))
    dtype = DTYPES.get(flag)
    if dtype is None:
        raise c.fail(f"unknown dtype flag {flag}", "type_flag", c.pos - 4)
    nbytes = bytes_capped(shape, dtype.itemsize)
    data_offset = c.pos
    if nbytes > c.left:
        raise c.fail(
            f"array data of shape {_shape_text(shape)} {dtype.name} needs "
            f"{size_text(nbytes)} bytes, only {c.left} left",
            "data",
        )
    c.skip(nbytes, "data")
    return Record(
        index, version, stype, shape, dtype, (dev_type, dev_id), offset, data_offset, nbytes, c.pos
    )


def _read_dense_fast(c: _Cursor, index: int, offset: int) -> Record | None:
    """The common case, a well-formed dense V2/V3 record, in two reads. Returns None (and
    leaves the cursor where it was) for anything else, which the careful path then reads field
    by field, so that every error names its exact field."""
    if c.left < 24:
        return None
    f = c.f
    first = f.read(12)
    if len(first) != 12:  # the file shrank: the careful path says where
        f.seek(offset)
        return None
    word, stype, ndim = _HEAD.unpack(first)
    if word not in (MAGIC_V2, MAGIC_V3) or stype != STYPE_DEFAULT or not 0 <= ndim <= 64:
        f.seek(offset)
        return None
    version = 2 if word == MAGIC_V2 else 3
    head = 24 + 8 * ndim
    if (version == 2 and ndim == 0) or head > c.left:
        f.seek(offset)
        return None
    rest = f.read(head - 12)
    if len(rest) != head - 12:
        f.seek(offset)
        return None
    shape = struct.unpack_from(f"<{ndim}q", rest)
    dev_type, dev_id, flag = _I32x3.unpack_from(rest, 8 * ndim)
    dtype = DTYPES.get(flag)
    nbytes = bytes_capped(shape, dtype.itemsize) if dtype is not None else 0
    if dtype is None or (shape and min(shape) < 0) or nbytes > c.left - head:
        f.seek(offset)
        return None
    data_offset = offset + head
    c.pos = data_offset + nbytes
    c.bytes_read += head
    f.seek(c.pos)
    return Record(
        index, version, STYPE_DEFAULT, shape, dtype, (dev_type, dev_id), offset, data_offset,
        nbytes, c.pos,
    )  # fmt: skip


def _read_sparse(c: _Cursor, index: int, offset: int, stype: int) -> Record:
    """The rest of a V2 sparse record after its stype (spec §3.2, §7)."""
    stored = _read_shape(c, 2)
    shape = _read_shape(c, 2)
    if not shape:
        raise c.fail(f"{STYPE_NAMES[stype]} array with ndim 0", "ndim", c.pos - 4)
    if stype == 2 and len(shape) != 2:
        raise c.fail(f"csr array must be 2-d, has shape {_shape_text(shape)}", "ndim")
    dev_type, dev_id, flag = _I32x3.unpack(c.take(12, "context and type_flag"))
    dtype = DTYPES.get(flag)
    if dtype is None:
        raise c.fail(f"unknown dtype flag {flag}", "type_flag", c.pos - 4)
    aux: list[tuple[DType, tuple[int, ...]]] = []
    for j in range(1 if stype == 1 else 2):
        aflag = c.i32(f"aux {j} type_flag")
        adtype = DTYPES.get(aflag)
        if adtype is None:
            raise c.fail(f"unknown aux dtype flag {aflag}", f"aux {j} type_flag", c.pos - 4)
        aux.append((adtype, _read_shape(c, 2)))
    # Heal a stale storage shape the way MXNet's sparse constructor does (§7.3).
    healed = stored
    if _prod(stored) == 0:
        if stype == 1 and aux[0][1]:
            healed = (aux[0][1][0], *shape[1:])
        elif stype == 2:
            healed = aux[1][1]
    nbytes = bytes_capped(healed, dtype.itemsize)
    for d, s in aux:
        nbytes += bytes_capped(s, d.itemsize)
    data_offset = c.pos
    if nbytes > c.left:
        raise c.fail(
            f"{STYPE_NAMES[stype]} data (values {_shape_text(healed)} {dtype.name} and "
            f"indices) needs {size_text(nbytes)} bytes, only {c.left} left",
            "data",
        )
    c.skip(nbytes, "data")
    return Record(
        index,
        2,
        stype,
        shape,
        dtype,
        (dev_type, dev_id),
        offset,
        data_offset,
        nbytes,
        c.pos,
        storage_shape=healed,
        aux=tuple(aux),
        storage_shape_stored=stored,
    )


#: Sizes above this are not computed exactly (no file is that large).
SIZE_CAP = 1 << 64


def bytes_capped(shape: tuple[int, ...], itemsize: int, cap: int = SIZE_CAP) -> int:
    """``itemsize * prod(shape)``, or ``cap + 1`` as soon as it exceeds ``cap``: hostile dims
    (thousands of 2^62) never build huge integers."""
    n = itemsize
    for d in shape:
        if d == 0:
            return 0
        n *= d
        if n > cap:
            # a later 0 dim still makes it empty
            return 0 if 0 in shape else cap + 1
    return n


def size_text(nbytes: int) -> str:
    """A size from :func:`bytes_capped` as text (``"more than 2^64"`` when capped)."""
    return "more than 2^64" if nbytes > SIZE_CAP else str(nbytes)


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) <= 8:
        return str(shape)
    return "(" + ", ".join(map(str, shape[:4])) + f", ... {len(shape)} dims)"


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# --------------------------------------------------------------------------------------------
# Encoding


def encode_list_header(count: int) -> bytes:
    """The 24-byte list header: magic 0x112, reserved 0, array count (spec §2)."""
    return struct.pack("<QQQ", LIST_MAGIC, 0, count)


def encode_dense_header(
    shape: tuple[int, ...], flag: int, *, version: int = 2, context: tuple[int, int] = (1, 0)
) -> bytes:
    """Header bytes of a dense V2/V3 record; the element bytes follow it (spec §3.2).

    Parameters
    ----------
    shape:
        Logical shape. ``()`` (0-d) requires ``version=3``: a V2 record with ndim 0 means "none".
    flag:
        dtype ``type_flag`` (a key of :data:`DTYPES`).
    version:
        2 or 3; V0/V1 are never written (spec §12 item 16).
    context:
        ``(dev_type, dev_id)``; ``(1, 0)`` (cpu(0)) unless copied from a source record.

    Raises
    ------
    ValueError
        Bad version, unknown flag, negative dim, or a 0-d array with version 2.
    """
    if version not in (2, 3):
        raise ValueError(f"can only write record versions 2 and 3, not {version}")
    if flag not in DTYPES:
        raise ValueError(f"unknown dtype flag {flag}")
    if not shape and version == 2:
        raise ValueError("a 0-d array needs a V3 record (V2 ndim 0 means 'none', spec §6)")
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dim in shape {shape}")
    return (
        struct.pack("<IiI", RECORD_MAGIC[version], STYPE_DEFAULT, len(shape))
        + struct.pack(f"<{len(shape)}q", *shape)
        + struct.pack("<iii", context[0], context[1], flag)
    )


def encode_shape(shape: tuple[int, ...]) -> bytes:
    """A V1–V3 shape: i32 ndim, then ndim x i64 dims (spec §3.3)."""
    return struct.pack(f"<i{len(shape)}q", len(shape), *shape)


def encode_sparse_header(
    stype: int,
    storage_shape: tuple[int, ...],
    shape: tuple[int, ...],
    flag: int,
    aux: list[tuple[int, tuple[int, ...]]],
    *,
    context: tuple[int, int] = (1, 0),
) -> bytes:
    """Header bytes of a V2 sparse record (spec §3.2, §7.2); values and aux buffers follow.

    ``aux`` is ``(type_flag, shape)`` per index array: row_sparse ``[row ids]``, csr
    ``[indptr, indices]``.
    """
    out = struct.pack("<Ii", MAGIC_V2, stype) + encode_shape(storage_shape) + encode_shape(shape)
    out += struct.pack("<iii", context[0], context[1], flag)
    for aflag, ashape in aux:
        out += struct.pack("<i", aflag) + encode_shape(ashape)
    return out


def encode_names(names: list[bytes]) -> bytes:
    """The name table: u64 count, then u64 length + raw bytes for each name (spec §2)."""
    parts = [_U64.pack(len(names))]
    for raw in names:
        parts.append(_U64.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)

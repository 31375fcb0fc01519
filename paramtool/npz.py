"""MXNet 2.x ``.params`` files: ZIP (``.npz``) archives of ``.npy`` members (spec §9.5).

MXNet 2.0 ``save_parameters``/``export`` call ``npx.savez``, whose C API (``MXNDArraySave`` in
``src/c_api/c_api.cc`` on ``master``, ``src/serialization/cnpy.cc``) writes one ``NAME.npy``
member per dense array, and SciPy-style members ``NAME/data.npy``, ``NAME/indices.npy``,
``NAME/indptr.npy`` (csr), ``NAME/shape.npy`` and ``NAME/format.npy`` per sparse array. A single
unnamed dense array is written as one bare ``.npy`` file. The extension stays ``.params``.

Listing parses only each member's ``.npy`` header (magic, version, a Python-literal dict with
``descr``, ``fortran_order``, ``shape``), so it needs neither numpy nor MXNet. Renaming copies
each member's bytes into a new archive under the new name.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

from paramtool.errors import FormatError
from paramtool.format import DTYPE_FLAGS, DTYPES, bytes_capped, size_text
from paramtool.writer import atomic_output

NPY_MAGIC = b"\x93NUMPY"
#: Largest .npy header accepted (numpy's own reader refuses more than 10 000 bytes by default).
MAX_HEADER = 10_000
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

#: ``.npy`` ``descr`` (without the byte-order character) -> paramtool dtype name.
NPY_DTYPES = {
    "f4": "float32", "f8": "float64", "f2": "float16", "u1": "uint8", "i4": "int32",
    "i1": "int8", "i8": "int64", "b1": "bool", "i2": "int16", "u2": "uint16", "u4": "uint32",
    "u8": "uint64",
}  # fmt: skip


#: What Python's zipfile/zlib raise on a damaged or unusual archive (bad CRC, encryption,
#: unknown compression, truncated streams, ...). At this boundary they all mean "unreadable".
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError,
    ValueError, IndexError, KeyError, struct.error, OverflowError, RecursionError,
)  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


def _guarded(fn: F) -> F:
    """Turn the ZIP layer's exceptions into one FormatError naming the file (first argument)."""

    @functools.wraps(fn)
    def wrapper(path: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(path, *args, **kwargs)
        except FormatError:
            raise
        except _ZIP_ERRORS as e:
            raise FormatError(
                path, f"damaged or unsupported ZIP archive ({type(e).__name__}: {str(e)[:200]})"
            ) from None

    return cast(F, wrapper)


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says. ``header_len`` is the offset of the data in the member."""

    dtype: str
    shape: tuple[int, ...]
    fortran_order: bool
    header_len: int

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return DTYPES[DTYPE_FLAGS[self.dtype]].itemsize


def parse_npy_header(head: bytes, where: str) -> NpyHeader:
    """Parse the start of a ``.npy`` stream (numpy's format spec, versions 1.0–3.0).

    Raises
    ------
    FormatError
        Bad magic, truncated header, unparseable dict, or a dtype MXNet has no flag for.
    """
    if not head.startswith(NPY_MAGIC) or len(head) < 10:
        raise FormatError(where, "not a .npy member (bad magic)")
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            raise FormatError(where, "truncated .npy header")
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        raise FormatError(where, f"unknown .npy format version {major}")
    if hlen > MAX_HEADER:
        raise FormatError(where, f".npy header of {hlen} bytes is over the {MAX_HEADER} limit")
    text = head[start : start + hlen]
    if len(text) < hlen:
        raise FormatError(where, f"truncated .npy header (needs {hlen} bytes)")
    descr, fortran, shape = _parse_header_dict(text.decode("latin1"), where)
    if descr[1:] not in NPY_DTYPES:
        raise FormatError(where, f"unsupported .npy dtype {descr!r}")
    return NpyHeader(NPY_DTYPES[descr[1:]], shape, fortran, start + hlen)


def _key(name: str) -> str:
    """A dict key right after ``{`` or ``,``, then the colon."""
    return r"(?:^\{|,)\s*'" + name + r"'\s*:\s*"


_DESCR = re.compile(_key("descr") + r"'([^']{1,16})'")
_FORTRAN = re.compile(_key("fortran_order") + r"(True|False)")
_SHAPE = re.compile(_key("shape") + r"\(([0-9,\s]{0,2000})\)")
#: numpy 2 allows 64 dims (numpy 1.x: 32); MXNet never writes more.
MAX_NDIM = 64


def _parse_header_dict(text: str, where: str) -> tuple[str, bool, tuple[int, ...]]:
    """The three keys of numpy's header dict (``{'descr': '<f4', 'fortran_order': False,
    'shape': (2, 3), }``), read with bounded regular expressions: no ``eval``, no syntax tree,
    so no header can cost more than its own size."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise FormatError(where, "unreadable .npy header (not a dict)")
    descr, fortran, shape = _DESCR.search(body), _FORTRAN.search(body), _SHAPE.search(body)
    if descr is None or fortran is None or shape is None:
        raise FormatError(where, "unreadable .npy header (descr, fortran_order or shape)")
    dims = [d.strip() for d in shape.group(1).split(",")]
    if dims and dims[-1] == "":
        dims.pop()
    if any(not d.isdigit() for d in dims) or len(dims) > MAX_NDIM:
        raise FormatError(where, f"bad .npy shape ({shape.group(1)[:40]})")
    return descr.group(1), fortran.group(1) == "True", tuple(int(d) for d in dims)


@dataclass(frozen=True)
class NpzEntry:
    """One array of an npz file: its name and the archive members that hold it."""

    name: str
    stype: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    stored: int | None
    members: tuple[str, ...]


def _read_npy_header(f: IO[bytes], available: int, where: str) -> NpyHeader:
    """Read and parse a ``.npy`` header from ``f``, checking the version and the header length
    against :data:`MAX_HEADER` and the ``available`` bytes before reading the header text."""
    head = f.read(12)
    if not head.startswith(NPY_MAGIC) or len(head) < 10:
        raise FormatError(where, "not a .npy member (bad magic)")
    if head[6] == 1:
        hlen, start = struct.unpack("<H", head[8:10])[0], 10
    elif head[6] in (2, 3) and len(head) >= 12:
        hlen, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        raise FormatError(where, f"unknown .npy format version {head[6]}")
    if hlen > MAX_HEADER or start + hlen > available:
        raise FormatError(
            where, f".npy header of {hlen} bytes is longer than the limit or the data"
        )
    return parse_npy_header(head + f.read(start + hlen - len(head)), where)


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> NpyHeader:
    """The header of one member, checked against the member's size (a member shorter than its
    header promises is damaged)."""
    where = f"{path}: member {info.filename}"
    with zf.open(info) as f:
        h = _read_npy_header(f, info.file_size, where)
    need = h.header_len + bytes_capped(h.shape, h.itemsize)
    if info.file_size < need:
        raise FormatError(
            where, f"member is {info.file_size} bytes, its .npy header needs {size_text(need)}"
        )
    return h


@_guarded
def list_npz(path: str) -> list[NpzEntry]:
    """The arrays of an MXNet 2.x npz ``.params`` file, from the ``.npy`` headers only.

    Raises
    ------
    FormatError
        Not a ZIP archive, no ``.npy`` members, a member that is not ``.npy``, an incomplete
        sparse group.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FormatError(path, f"damaged ZIP archive ({e})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if not infos:
            raise FormatError(path, "ZIP archive with no members: not a checkpoint")
        bad = [i.filename for i in infos if not i.filename.endswith(".npy")]
        if bad:
            raise FormatError(
                path, f"ZIP archive with non-.npy members ({', '.join(bad[:3])}): not a checkpoint"
            )
        entries: list[NpzEntry] = []
        groups: dict[str, dict[str, zipfile.ZipInfo]] = {}
        order: list[tuple[str, str]] = []
        sparse_parts = {"data", "indices", "indptr", "shape", "format"}
        for info in infos:
            stem = info.filename[: -len(".npy")]
            parent, _, leaf = stem.rpartition("/")
            if parent and leaf in sparse_parts:
                if parent not in groups:
                    order.append(("sparse", parent))
                groups.setdefault(parent, {})[leaf] = info
            else:
                order.append(("dense", stem))
                groups.setdefault("\0dense\0" + stem, {})["dense"] = info
        try:
            for kind, name in order:
                if kind == "dense":
                    info = groups["\0dense\0" + name]["dense"]
                    h = _member_header(zf, info, path)
                    entries.append(
                        NpzEntry(
                            name,
                            "default",
                            h.shape,
                            h.dtype,
                            bytes_capped(h.shape, h.itemsize),
                            None,
                            (info.filename,),
                        )
                    )
                    continue
                parts = groups[name]
                missing = {"data", "indices", "shape"} - set(parts)
                if missing:
                    raise FormatError(
                        path, f"sparse array {name!r} lacks {', '.join(sorted(missing))}.npy"
                    )
                stype = "csr" if "indptr" in parts else "row_sparse"
                shape_h = _member_header(zf, parts["shape"], path)
                count = bytes_capped(shape_h.shape, 1)
                with zf.open(parts["shape"]) as f:  # only the bytes needed, never the member
                    raw = f.read(shape_h.header_len + 8 * min(count, 64))[shape_h.header_len :]
                if shape_h.dtype != "int64" or count > 64 or len(raw) < 8 * count:
                    raise FormatError(path, f"sparse array {name!r}: bad shape.npy")
                shape = struct.unpack(f"<{count}q", raw[: 8 * count])
                data_h = _member_header(zf, parts["data"], path)
                nbytes = bytes_capped(data_h.shape, data_h.itemsize)
                for leaf in ("indices", "indptr"):
                    if leaf in parts:
                        h = _member_header(zf, parts[leaf], path)
                        nbytes += bytes_capped(h.shape, h.itemsize)
                members = tuple(parts[k].filename for k in sorted(parts))
                entries.append(
                    NpzEntry(
                        name,
                        stype,
                        tuple(shape),
                        data_h.dtype,
                        nbytes,
                        bytes_capped(data_h.shape, 1),
                        members,
                    )
                )
        except zipfile.BadZipFile as e:
            raise FormatError(path, f"damaged ZIP archive ({e})") from None
    return entries


@_guarded
def list_npy(path: str) -> NpzEntry:
    """A bare ``.npy`` file (MXNet 2.x saving one unnamed dense array)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        h = _read_npy_header(f, size, path)
    nbytes = bytes_capped(h.shape, h.itemsize)
    if size < h.header_len + nbytes:
        raise FormatError(path, f"file ends early (.npy data needs {size_text(nbytes)} bytes)")
    return NpzEntry("", "default", h.shape, h.dtype, nbytes, None, ())


@_guarded
def load_npz(path: str) -> dict[str, Any]:
    """Every array of an npz ``.params`` file as numpy arrays / :class:`SparseArray`."""
    import numpy as np

    from paramtool.index import SparseArray

    out: dict[str, Any] = {}
    with zipfile.ZipFile(path) as zf:
        for e in list_npz(path):
            if e.stype == "default":
                with zf.open(e.members[0]) as f:
                    out[e.name] = np.load(f)
                continue

            def part(leaf: str, e: NpzEntry = e) -> Any:
                with zf.open(f"{e.name}/{leaf}.npy") as f:
                    return np.load(f)

            indptr = part("indptr") if e.stype == "csr" else None
            out[e.name] = SparseArray(e.stype, e.shape, part("data"), part("indices"), indptr)
    return out


@_guarded
def rewrite_npz(
    src: str,
    dest: str,
    entries: Sequence[NpzEntry],
    selection: Sequence[tuple[int, str]],
    *,
    in_place: bool,
    verify: bool = True,
    backup: str | None = None,
    sync: bool = True,
) -> None:
    """Write a new archive with the selected arrays' members under new names; member bytes are
    copied unchanged (stored, uncompressed, as MXNet writes them). ``verify`` re-lists the
    result (names, shapes, dtypes) before it replaces ``dest``; ``backup`` keeps the old
    ``dest``; ``sync=False`` skips the fsyncs (:func:`paramtool.writer.atomic_output`)."""
    with (
        zipfile.ZipFile(src) as zin,
        atomic_output(dest, mode_from=dest if in_place else None, backup=backup, sync=sync) as (
            f,
            tmp,
        ),
    ):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zout:
            for index, new in selection:
                e = entries[index]
                for member in e.members:
                    suffix = member[len(e.name) :] if e.stype != "default" else ".npy"
                    with (
                        zin.open(member) as r,
                        zout.open(new + suffix, "w", force_zip64=True) as w,
                    ):
                        shutil.copyfileobj(r, w, 1 << 20)
        if verify:
            got = [(e.name, e.shape, e.dtype, e.stype) for e in list_npz(tmp)]
            want = [
                (new, entries[i].shape, entries[i].dtype, entries[i].stype) for i, new in selection
            ]
            if got != want:
                raise FormatError(dest, "verification of the written archive failed")

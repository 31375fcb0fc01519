"""Writing ``.params`` files: new files from numpy arrays, and byte-exact rewrites of the names.

Every write goes to a temporary file in the destination's directory, is flushed and fsynced, and
is then renamed over the destination (:func:`atomic_output`). On any error the temporary file is
removed, so the destination and the source are exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from paramtool.errors import FormatError, WriteRefusedError
from paramtool.format import (
    DTYPE_FLAGS,
    encode_dense_header,
    encode_list_header,
    encode_names,
    encode_sparse_header,
)
from paramtool.index import BFLOAT16_FIELD, ParamsFile, SparseArray, read_into

if TYPE_CHECKING:
    import numpy as np

#: Bytes copied per step when the kernel copy is unavailable.
COPY_CHUNK = 8 << 20


def resolve_destination(
    src: str,
    dest: str,
    *,
    force: bool = False,
    in_place: bool = False,
    can_in_place: bool = True,
    no_sync: bool = False,
) -> str:
    """Check that writing ``dest`` cannot lose data, and return the path to replace.

    Symbolic links are followed: the file they point to is replaced and the link stays (as
    ``cp`` does). Call this before any work, so a refused write costs nothing.

    Returns
    -------
    str
        The real path (``os.path.realpath``) that :func:`atomic_output` should replace.

    Raises
    ------
    WriteRefusedError
        ``dest`` exists and is not a regular file (directory, device, FIFO, socket); ``dest`` is
        the source (same file, also through a symlink or a hard link) without ``in_place``;
        ``dest`` exists (a dangling symlink counts) and neither ``force`` nor ``in_place``.
        ``can_in_place``: whether the message may suggest ``--in-place``. ``no_sync`` (the
        output will not be fsynced): ``dest`` exists at all, or ``in_place``; an unsynced
        file may be lost in a power failure, so it may only be a new one.
    """
    real = os.path.realpath(dest)
    if no_sync and (in_place or os.path.lexists(dest)):
        what = "rewrites the source" if in_place else f"would replace {dest}"
        raise WriteRefusedError(
            f"--no-sync is only for a new output file, and this {what} (a power failure "
            "before the data reaches the disk could lose it)"
        )
    if not os.path.lexists(dest):
        return real
    if os.path.exists(real):
        mode = os.stat(real).st_mode
        if stat.S_ISDIR(mode):
            raise WriteRefusedError(f"{dest}: is a directory")
        if not stat.S_ISREG(mode):
            raise WriteRefusedError(f"{dest}: is not a regular file (device, FIFO or socket)")
        if not in_place and os.path.exists(src) and os.path.samefile(src, real):
            hint = "; use --in-place to rewrite it in place" if can_in_place else ""
            raise WriteRefusedError(f"{dest}: is the source file {src}{hint}")
    if not force and not in_place:
        what = "already exists" if os.path.exists(dest) else "is a symlink to a missing file"
        raise WriteRefusedError(f"{dest}: {what} (use --force to overwrite it)")
    return real


@contextlib.contextmanager
def atomic_output(
    dest: str, *, mode_from: str | None = None, backup: str | None = None, sync: bool = True
) -> Iterator[tuple[BinaryIO, str]]:
    """Yield ``(file, temp_path)`` for a temporary file that replaces ``dest`` on success.

    The file is unbuffered (raw writes; use :func:`write_all`).

    The temporary file lives in ``dest``'s directory (so the final ``os.replace`` is atomic on
    POSIX); on success it is flushed, fsynced and renamed over ``dest``, and the directory is
    fsynced. On any exception (including KeyboardInterrupt) it is removed and ``dest`` is left
    as it was. ``mode_from`` copies that file's permission bits and, where allowed, its owner
    (for in-place rewrites; hard links to the old file keep the old content); by default an
    existing ``dest`` keeps its own (as ``cp`` over an existing file does), and new files get
    ``0o666`` minus the umask, like ``open()``. ``backup``: if ``dest`` exists, it is kept
    under this path (a hard link to the old file, made just before the rename; a copy where
    the filesystem has no hard links). ``sync=False`` skips both fsyncs (as ``cp`` does): the
    rename is still atomic, but after a power failure the new file may be empty or partial;
    the caller must make sure it replaces nothing (see :func:`resolve_destination`'s
    ``no_sync``).

    Raises
    ------
    WriteRefusedError
        The temporary file cannot be created or written (no permission, disk full, ...), or
        ``backup`` already exists.
    """
    if backup is not None and os.path.lexists(backup):
        raise WriteRefusedError(f"{backup}: the backup file already exists")
    if mode_from is None and os.path.isfile(dest):
        mode_from = dest
    directory = os.path.dirname(os.path.abspath(dest))
    try:
        fd, tmp = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(dest)}.", suffix=".paramtool-tmp"
        )
    except OSError as e:
        raise WriteRefusedError(
            f"{dest}: cannot create a file in {directory}: {e.strerror}"
        ) from None
    try:
        if mode_from is not None:
            st = os.stat(mode_from)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            with contextlib.suppress(OSError):  # keep the owner where we may (as root)
                os.chown(tmp, st.st_uid, st.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb", buffering=0) as f:
            yield f, tmp
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if backup is not None and os.path.exists(dest):
            try:
                os.link(dest, backup)
            except OSError:
                shutil.copy2(dest, backup)
        with _signals_deferred():  # the rename and its record, not one without the other
            os.replace(tmp, dest)
            COMMITTED.append(dest)
    except OSError as e:
        _unlink_quietly(tmp)
        raise WriteRefusedError(
            f"{dest}: write failed: {e.strerror or e}; nothing was written"
        ) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if not sync:
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


#: Destinations :func:`atomic_output` has renamed into place, in this process: an interruption
#: that arrives after the rename can say that the new file is complete.
COMMITTED: list[str] = []


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back while the body runs (main thread, where the OS
    has ``pthread_sigmask``); a signal that arrives meanwhile is delivered when it ends."""
    import signal
    import threading

    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not (
        threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def copy_range(
    src_fd: int,
    dst: BinaryIO,
    offset: int,
    length: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Copy ``length`` bytes at ``offset`` of ``src_fd`` to the current position of ``dst``.

    ``dst`` must be unbuffered (as :func:`atomic_output` yields). Uses ``os.copy_file_range``
    (in-kernel, no user-space buffer) where the OS has it, and falls back to ``os.pread`` in
    :data:`COPY_CHUNK` pieces. Memory use is bounded by the chunk size.

    ``progress`` is called with the number of bytes copied after each step (64 MiB).

    Raises
    ------
    OSError
        Read or write failure, or EOF before ``length`` bytes (as ``EIO``).
    """
    dst_fd = dst.fileno()
    done = 0
    step = 1 << 30 if progress is None else 64 << 20
    if hasattr(os, "copy_file_range"):
        # Some filesystems/kernels refuse (EXDEV, EINVAL, ENOSYS...): fall back to plain copies
        # from wherever it stopped (the destination offset has advanced by what was copied).
        with contextlib.suppress(OSError):
            while done < length:
                n = os.copy_file_range(src_fd, dst_fd, min(length - done, step), offset + done)
                if n == 0:
                    break
                done += n
                if progress is not None:
                    progress(n)
    while done < length:
        chunk = os.pread(src_fd, min(COPY_CHUNK, length - done), offset + done)
        if not chunk:
            raise OSError(5, f"source ended {length - done} bytes early")
        write_all(dst, chunk)
        done += len(chunk)
        if progress is not None:
            progress(len(chunk))


def write_all(dst: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (raw writes may be partial)."""
    view = memoryview(data)
    while view:
        n = dst.write(view)
        view = view[n:]


def write_renamed(
    src: ParamsFile,
    dest: str,
    selection: Sequence[tuple[int, str]],
    *,
    in_place: bool = False,
    verify: bool = True,
    backup: str | None = None,
    progress: Callable[[int], None] | None = None,
    sync: bool = True,
) -> None:
    """Write ``dest`` with the records of ``src`` chosen by ``selection`` under new names.

    The record bytes (headers and element data, of any version V0–V3, dense or sparse) are
    copied from ``src`` byte for byte, contiguous records in one copy; only the list header and
    the name table are new. Nothing is decoded.

    Parameters
    ----------
    src:
        The open source file.
    dest:
        Destination path; written atomically (:func:`atomic_output`).
    selection:
        ``(record index, new name)`` in the order to write them; an index may repeat (a
        shared parameter saved under several names).
    in_place:
        Keep the permission bits (and owner) of ``dest`` (which is the source).
    verify:
        Before the rename, re-read the temporary file and check that its names are the planned
        ones and every record's bytes equal the source record's (:func:`verify_copy`). The
        file is written back to disk in a background thread meanwhile; the ``fsync`` before
        the rename still follows the check.
    backup:
        Keep the old ``dest``, if any, under this path.
    progress:
        Called with the number of record bytes copied, as the copy goes.
    sync:
        False: no fsync at all (:func:`atomic_output`), for a new ``dest`` only.

    Raises
    ------
    WriteRefusedError
        The write or its verification failed; ``dest`` is unchanged.
    """
    records = src.records
    ranges: list[tuple[int, int]] = []
    for index, _ in selection:
        rec = records[index]
        if ranges and ranges[-1][0] + ranges[-1][1] == rec.offset:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + (rec.end - rec.offset))
        else:
            ranges.append((rec.offset, rec.end - rec.offset))
    names = [name.encode("utf-8", "surrogateescape") for _, name in selection]
    mode_from = dest if in_place else None
    with atomic_output(dest, mode_from=mode_from, backup=backup, sync=sync) as (f, tmp):
        write_all(f, encode_list_header(len(selection)))
        for offset, length in ranges:
            copy_range(src.fileno(), f, offset, length, progress)
        write_all(f, encode_names(names))
        if verify:
            with _writeback_started(tmp) if sync else contextlib.nullcontext():
                verify_copy(src, tmp, selection, dest)


@contextlib.contextmanager
def _writeback_started(path: str) -> Iterator[None]:
    """Flush ``path`` to disk (``fsync``, in a thread) while the body runs, e.g. while the
    file is verified: the ``fsync`` that :func:`atomic_output` makes before the rename then
    finds (almost) nothing left to write, so verifying and writing back overlap instead of
    adding up. That ``fsync`` still runs, after the body, and the rename only after it.

    The thread syncs through a file description of its own, so a write-back error it sees
    is reported again to the one :func:`atomic_output` syncs (Linux >= 4.13); it is also
    raised here, after a normal exit of the body (the thread is joined first). Where the
    file cannot be opened for reading or synced that way (``EBADF``, ``EINVAL``), nothing
    is done early and :func:`atomic_output`'s ``fsync`` does it all.

    Raises
    ------
    OSError
        The background ``fsync`` failed (an I/O error, a full disk, ...).
    """
    import errno
    import threading

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    errors: list[OSError] = []

    def sync() -> None:
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno not in (errno.EBADF, errno.EINVAL):
                errors.append(e)
        finally:
            os.close(fd)

    thread = threading.Thread(target=sync, name="paramtool-fsync", daemon=True)
    thread.start()
    yield  # on an exception the thread is left to finish: the file is about to be removed
    thread.join()
    if errors:
        raise errors[0]


#: Bytes compared per step by :func:`same_bytes` (and ``diff --values``): two buffers of this
#: size stay in the CPU cache, so comparing them after the read is nearly free; larger
#: buffers are slower (measured: 2 GiB from the page cache in 0.26 s with 256 KiB, 0.30 s
#: with 1 MiB, 0.32 s with 4 MiB), smaller ones cost more system calls.
COMPARE_CHUNK = 256 << 10


def compare_buffers(size: int | None = None) -> tuple[bytearray, bytearray]:
    """Two zeroed buffers of ``size`` bytes (default :data:`COMPARE_CHUNK`) for
    :func:`same_bytes` to reuse: allocating (and page-faulting) new buffers for every call
    would cost more than the comparison itself."""
    size = COMPARE_CHUNK if size is None else size
    return bytearray(size), bytearray(size)


def same_bytes(
    fd_a: int,
    offset_a: int,
    fd_b: int,
    offset_b: int,
    length: int,
    buffers: tuple[bytearray, bytearray] | None = None,
) -> bool:
    """Whether ``length`` bytes at byte ``offset_a`` of ``fd_a`` equal those at byte
    ``offset_b`` of ``fd_b``.

    The bytes are read into two buffers of the same size (``buffers``, e.g. from
    :func:`compare_buffers`, reused across calls; by default two new :data:`COMPARE_CHUNK`
    buffers) and compared a buffer at a time with ``bytearray ==`` (``memcmp``). Memory is
    bounded by the two buffers whatever ``length``. False also when either file ends before
    ``length`` bytes.

    Raises
    ------
    OSError
        A read failed.
    """
    buf_a, buf_b = buffers if buffers is not None else compare_buffers()
    size = len(buf_a)
    done = 0
    while done < length:
        n = min(size, length - done)
        if n == size:
            if read_into(fd_a, buf_a, offset_a + done) != n:
                return False
            if read_into(fd_b, buf_b, offset_b + done) != n:
                return False
            if buf_a != buf_b:
                return False
        else:  # the last, short piece: compare only what was read
            view_a, view_b = memoryview(buf_a)[:n], memoryview(buf_b)[:n]
            if read_into(fd_a, view_a, offset_a + done) != n:
                return False
            if read_into(fd_b, view_b, offset_b + done) != n:
                return False
            # bytearray slices (a copy, then memcmp): comparing memoryviews goes element by
            # element and is ~10x slower
            if buf_a[:n] != buf_b[:n]:
                return False
        done += n
    return True


def verify_copy(
    src: ParamsFile, written: str, selection: Sequence[tuple[int, str]], dest: str
) -> None:
    """Check a rewritten file against its source: the planned names in order, and for every
    record the same bytes (header and data) as the source record it was copied from.

    Every byte of every record is compared. Records that follow each other in both files
    are compared as one region (fewer, larger reads); two :data:`COMPARE_CHUNK` buffers are
    reused throughout, so memory stays bounded whatever the file size.

    Raises
    ------
    WriteRefusedError
        Anything differs (the message says what; the caller removes the temporary file).
    OSError
        A read failed.
    """
    try:
        _verify_copy(src, written, selection, dest)
    except FormatError as e:  # the copy does not even parse
        raise WriteRefusedError(
            f"{dest}: verification failed: the written file does not read back ({e.message})"
        ) from None


def _verify_copy(
    src: ParamsFile, written: str, selection: Sequence[tuple[int, str]], dest: str
) -> None:
    with ParamsFile(written) as out:
        if os.pread(out.fileno(), 24, 0) != encode_list_header(len(selection)):
            raise WriteRefusedError(f"{dest}: verification failed: the list header differs")
        got = [r.name for r in out.records]
        want = [name for _, name in selection]
        if got != want:
            raise WriteRefusedError(f"{dest}: verification failed: the names read back differ")
        # (offset in the written file, offset in the source, length, first and last position
        # in selection) of runs of records contiguous in both files
        regions: list[list[int]] = []
        for pos, (rec, (index, name)) in enumerate(zip(out.records, selection, strict=True)):
            s = src.records[index]
            length = rec.end - rec.offset
            if length != s.end - s.offset:
                _record_differs(dest, rec.index, name, index)
            last = regions[-1] if regions else None
            if (
                last is not None
                and last[0] + last[2] == rec.offset
                and last[1] + last[2] == (s.offset)
            ):
                last[2] += length
                last[4] = pos
            else:
                regions.append([rec.offset, s.offset, length, pos, pos])
        buffers = compare_buffers()
        for out_offset, src_offset, length, first, last_pos in regions:
            if same_bytes(out.fileno(), out_offset, src.fileno(), src_offset, length, buffers):
                continue
            for pos in range(first, last_pos + 1):  # which record: for the message
                rec = out.records[pos]
                index, name = selection[pos]
                s = src.records[index]
                if not same_bytes(
                    out.fileno(), rec.offset, src.fileno(), s.offset, rec.end - rec.offset, buffers
                ):
                    _record_differs(dest, rec.index, name, index)
            # the region differed but no record of it does: the files changed under us
            raise WriteRefusedError(
                f"{dest}: verification failed: records {first} to {last_pos} differ from the "
                "source; nothing was written"
            )


def _record_differs(dest: str, out_index: int, name: str, src_index: int) -> NoReturn:
    raise WriteRefusedError(
        f"{dest}: verification failed: record {out_index} ({name}) differs from "
        f"source record {src_index}; nothing was written"
    )


def dtype_flag(dtype: np.dtype) -> int:  # type: ignore[type-arg]
    """The MXNet ``type_flag`` for a numpy dtype (spec §5).

    MXNet's structured bfloat16 dtype (``[("bfloat16", "<u2")]``) gives 12; ``uint16`` gives 9,
    which only MXNet 2.x can load.

    Raises
    ------
    ValueError
        A dtype MXNet has no flag for (complex, strings, objects, other structured dtypes).
    """
    if dtype.names == (BFLOAT16_FIELD,):
        return 12
    name = dtype.name
    if name in DTYPE_FLAGS and name != "bfloat16":
        return DTYPE_FLAGS[name]
    raise ValueError(f"MXNet has no dtype flag for numpy dtype {dtype}")


def _le_bytes(array: np.ndarray) -> bytes:  # type: ignore[type-arg]
    """C-order little-endian bytes; bfloat16 (MXNet's structured dtype) as raw uint16 words."""
    import numpy as np

    if dtype_flag(array.dtype) == 12:
        return np.ascontiguousarray(array).view("<u2").tobytes()
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def encode_array(array: Any, *, version: int = 2) -> bytes:
    """One record (header and little-endian C-order data) for a numpy array or a
    :class:`~paramtool.index.SparseArray`.

    0-d arrays need ``version=3``; sparse arrays need ``version=2`` (spec §6, §3.2).

    Raises
    ------
    ValueError
        As :func:`encode_dense_header`; a sparse array with ``version=3``; an unknown dtype.
    """
    if isinstance(array, SparseArray):
        if version != 2:
            raise ValueError("sparse arrays can only be written as V2 records (spec §3.2)")
        stype = 1 if array.stype == "row_sparse" else 2
        if stype == 2 and array.indptr is None:
            raise ValueError("a csr array needs indptr")
        # MXNet's sparse constructors always use int64 indices; other types load but then
        # fail with "Unknown type enum" (spec §7.1, §12 item 19)
        import numpy as np

        aux = [
            np.asarray(a, dtype="<i8")
            for a in ([array.indices] if array.indptr is None else [array.indptr, array.indices])
        ]
        header = encode_sparse_header(
            stype,
            tuple(array.data.shape),
            tuple(array.shape),
            dtype_flag(array.data.dtype),
            [(dtype_flag(a.dtype), tuple(a.shape)) for a in aux],
        )
        return header + _le_bytes(array.data) + b"".join(_le_bytes(a) for a in aux)
    flag = dtype_flag(array.dtype)
    return encode_dense_header(tuple(array.shape), flag, version=version) + _le_bytes(array)


def save(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray] | Sequence[np.ndarray],  # type: ignore[type-arg]
    *,
    version: int | None = None,
) -> None:
    """Write numpy arrays as an MXNet ``.params`` file that ``mx.nd.load`` reads.

    Parameters
    ----------
    path:
        Destination, written atomically.
    arrays:
        ``{name: array}`` (a named file, like ``save_parameters``) or a sequence of arrays (an
        unnamed list). An array is a numpy array, a :class:`~paramtool.index.SparseArray`, or
        an MXNet NDArray (dense or sparse). Supported dtypes: the keys of
        :data:`paramtool.format.DTYPE_FLAGS`, with bfloat16 given as MXNet's structured dtype
        (:func:`paramtool.index.bfloat16_dtype`).
    version:
        Record version for every record: 2 (MXNet's default) or 3 (numpy shape semantics).
        By default 2, or 3 when an array is 0-d (a file never mixes V2 and V3 records: MXNet
        1.9.1 cannot load such a file, spec §6).

    Raises
    ------
    TypeError
        ``arrays`` is neither a mapping nor a list/tuple, or a name is not a str.
    ValueError
        Unsupported dtype, a name containing NUL, or a 0-d array with ``version=2``.
    WriteRefusedError
        The write failed; nothing was left behind.
    """
    import numpy as np

    def as_array(v: Any) -> Any:
        if isinstance(v, SparseArray):
            return v
        if getattr(v, "stype", "default") in ("row_sparse", "csr"):  # an MXNet sparse NDArray
            indptr = v.indptr.asnumpy() if v.stype == "csr" else None
            return SparseArray(
                v.stype, tuple(v.shape), v.data.asnumpy(), v.indices.asnumpy(), indptr
            )
        if hasattr(v, "asnumpy"):  # an MXNet NDArray
            v = v.asnumpy()
        return np.asarray(v)

    names: list[bytes] | None
    if isinstance(arrays, Mapping):
        names = []
        for k in arrays:
            if not isinstance(k, str):
                raise TypeError(f"parameter names must be str, not {type(k).__name__}: {k!r}")
            if "\0" in k:
                raise ValueError(f"name {k!r} contains NUL: MXNet would cut it there")
            names.append(k.encode("utf-8", "surrogateescape"))
        values = [as_array(v) for v in arrays.values()]
    elif isinstance(arrays, (list, tuple)):
        names = None
        values = [as_array(v) for v in arrays]
    else:
        raise TypeError(
            f"arrays must be a dict of name -> array or a list of arrays, not "
            f"{type(arrays).__name__} (for one array, pass [array])"
        )
    if version is None:
        version = 3 if any(len(v.shape) == 0 for v in values) else 2
    blobs = [encode_array(v, version=version) for v in values]
    with atomic_output(os.fspath(path)) as (f, _tmp):
        write_all(f, encode_list_header(len(values)))
        for blob in blobs:
            write_all(f, blob)
        write_all(f, encode_names(names or []))


__all__ = [
    "atomic_output",
    "copy_range",
    "dtype_flag",
    "encode_array",
    "read_into",
    "resolve_destination",
    "save",
    "write_renamed",
]

"""Array I/O backends: ``native`` (paramtool's own reader/writer) and ``mxnet`` (``mx.nd``).

Both give the same :class:`Listing` of a file and the same rewrite operation, so every command
can run on either and the test suite can compare them. Only :mod:`paramtool.backends.mxnet`
imports MXNet, and only when that backend is asked for.
"""

# (no "from __future__ import annotations" here: NamedTuple fields with string annotations
# are compiled one by one at import, which costs every command ~20 ms of start-up)

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, Protocol

BackendName = Literal["native", "mxnet"]
BACKENDS: tuple[BackendName, ...] = ("native", "mxnet")


class Entry(NamedTuple):
    """One array of a file, as a listing shows it.

    Attributes
    ----------
    name:
        The key, or None in an unnamed list.
    shape:
        Logical shape, C order.
    dtype:
        numpy dtype name, ``"bfloat16"`` for MXNet's bfloat16, ``"none"`` for an uninitialised
        array.
    nbytes:
        Bytes of array data: ``itemsize * prod(shape)`` for a dense array; for a sparse one the
        stored values plus the index arrays.
    stype:
        Storage type: ``default`` (dense), ``row_sparse`` or ``csr``.
    stored:
        Sparse only: the number of stored values (``prod`` of the storage shape); None if dense.
    context:
        The context saved in the record (``"cpu(0)"``), or None where the backend cannot tell
        (MXNet's CPU build ignores it on load, spec §4).
    version:
        Record version 0–3 (native backend only).
    offset:
        Absolute byte offset of the record (native backend only).
    """

    name: str | None
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    stype: str = "default"
    stored: int | None = None
    context: str | None = None
    version: int | None = None
    offset: int | None = None

    @property
    def size(self) -> int:
        """Number of elements, ``prod(shape)`` (0 for an uninitialised array)."""
        if self.dtype == "none":
            return 0
        n = 1
        for d in self.shape:
            n *= d
        return n


class Listing(NamedTuple):
    """What a backend reports about a whole file.

    Attributes
    ----------
    path:
        The file.
    entries:
        One :class:`Entry` per array, in file order (for the mxnet backend: as ``mx.nd.load``
        returns them, so duplicate names appear once).
    named:
        False for an unnamed list.
    file_size:
        Bytes.
    trailing_bytes:
        Bytes after the name table (native backend only; None otherwise).
    backend:
        ``native`` or ``mxnet``.
    container:
        ``ndarray-list`` (MXNet 1.x, the format of spec §2), ``npz`` (MXNet 2.x ZIP of ``.npy``
        members) or ``npy`` (one bare ``.npy`` array).
    """

    path: str
    entries: list[Entry]
    named: bool
    file_size: int
    trailing_bytes: int | None
    backend: BackendName
    container: str = "ndarray-list"

    @property
    def names(self) -> list[str | None]:
        """Names in file order (None for each entry of an unnamed list)."""
        return [e.name for e in self.entries]


class Backend(Protocol):
    """What each backend module provides."""

    def list_file(self, path: str) -> Listing:
        """List ``path``. Raises FormatError/UnsupportedFormatError (native), BackendError."""
        ...

    def rewrite(
        self,
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
        """Write ``dest`` with entries ``(index into list_file(src).entries, new name)``,
        atomically; ``verify`` re-reads the result before it replaces ``dest``; ``backup``
        keeps the old ``dest`` under that path; ``progress(nbytes)`` reports copied bytes
        where the backend can; ``sync=False`` skips the fsyncs (a new ``dest`` only)."""
        ...


def get_backend(name: BackendName) -> Backend:
    """The backend module called ``name``; importing ``mxnet`` only for ``"mxnet"``.

    Raises
    ------
    BackendUnavailableError
        ``"mxnet"`` was asked for and ``import mxnet`` fails (any exception: MXNet 1.9.1 raises
        AttributeError under numpy >= 1.24).
    """
    if name == "mxnet":
        from paramtool.backends import mxnet as mxnet_backend

        mxnet_backend.import_mxnet()
        return mxnet_backend
    from paramtool.backends import native

    return native

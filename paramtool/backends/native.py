"""The native backend: paramtool's own header reader and byte-copying writer (no MXNet)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from paramtool.backends import Entry, Listing
from paramtool.format import STYPE_NAMES, sniff_container
from paramtool.index import open_params


def list_file(path: str) -> Listing:
    """List ``path`` from its record headers only (no array data is read).

    MXNet 2.x npz files (and bare ``.npy`` files) are listed from their ``.npy`` headers.

    Raises
    ------
    FormatError, UnsupportedFormatError
        As :func:`paramtool.index.open_params` and :func:`paramtool.npz.list_npz`.
    """
    kind = sniff_container(path)
    if kind in ("npz", "npy"):
        from paramtool import npz
    if kind == "npz":
        entries = [
            Entry(e.name, e.shape, e.dtype, e.nbytes, e.stype, e.stored) for e in npz.list_npz(path)
        ]
        return Listing(path, entries, True, os.path.getsize(path), None, "native", "npz")
    if kind == "npy":
        e = npz.list_npy(path)
        entry = Entry(None, e.shape, e.dtype, e.nbytes)
        return Listing(path, [entry], False, os.path.getsize(path), None, "native", "npy")
    with open_params(path) as pf:
        entries = [
            Entry(
                name=r.name,
                shape=r.shape,
                dtype=r.dtype_name,
                nbytes=r.nbytes,
                stype=STYPE_NAMES[r.stype],
                stored=None if r.storage_shape is None else r.stored_size,
                context=r.context_name or None,
                version=r.version,
                offset=r.offset,
            )
            for r in pf.records
        ]
        layout = pf.layout
        return Listing(path, entries, layout.named, layout.size, layout.trailing_bytes, "native")


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
    """Copy the selected records of ``src`` byte for byte under new names (see
    :func:`paramtool.writer.write_renamed`)."""
    from paramtool.writer import write_renamed

    if sniff_container(src) == "npz":
        from paramtool import npz

        npz.rewrite_npz(
            src,
            dest,
            npz.list_npz(src),
            selection,
            in_place=in_place,
            verify=verify,
            backup=backup,
            sync=sync,
        )
        return
    with open_params(src) as pf:
        write_renamed(
            pf,
            dest,
            selection,
            in_place=in_place,
            verify=verify,
            backup=backup,
            progress=progress,
            sync=sync,
        )

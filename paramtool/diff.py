"""Comparing two listings: names only on one side, shape and dtype mismatches, the prefix fix."""

from __future__ import annotations

import os
from dataclasses import dataclass

from paramtool.backends import Entry, Listing
from paramtool.names import Scheme, detect_scheme, find_prefix_change, rename_one
from paramtool.render import shell_join


@dataclass(frozen=True)
class Mismatch:
    """A name present on both sides whose shape or dtype differs (values as listed)."""

    name: str
    a: str
    b: str


@dataclass(frozen=True)
class PrefixFix:
    """One prefix change that turns A's names into B's.

    Attributes
    ----------
    old, new:
        The prefixes (either may be empty).
    keep_unmatched:
        Some of A's names do not start with ``old`` and stay as they are.
    explains_all:
        After the rename, A and B have the same names, shapes and dtypes.
    command:
        The exact ``paramtool rename-prefix`` command line that applies it.
    """

    old: str
    new: str
    keep_unmatched: bool
    explains_all: bool
    command: str


@dataclass(frozen=True)
class DiffReport:
    """Every difference between two files at once.

    ``only_a``/``only_b`` are names in file order; ``shape``/``dtype`` list common names whose
    shape or dtype differ. For unnamed lists the names are positions, ``"[0]"``, ``"[1]"``, ...
    """

    a: Listing
    b: Listing
    scheme_a: Scheme
    scheme_b: Scheme
    only_a: list[str]
    only_b: list[str]
    shape: list[Mismatch]
    dtype: list[Mismatch]
    common: int
    fix: PrefixFix | None

    @property
    def identical(self) -> bool:
        """No name, shape or dtype difference (values are not compared)."""
        return not (self.only_a or self.only_b or self.shape or self.dtype)

    def to_json(self) -> dict[str, object]:
        """The report as JSON-ready data (``paramtool diff --format json``)."""
        return {
            "a": self.a.path,
            "b": self.b.path,
            "identical": self.identical,
            "scheme": {"a": self.scheme_a.to_json(), "b": self.scheme_b.to_json()},
            "common": self.common,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "shape_mismatches": [{"name": m.name, "a": m.a, "b": m.b} for m in self.shape],
            "dtype_mismatches": [{"name": m.name, "a": m.a, "b": m.b} for m in self.dtype],
            "prefix_change": None
            if self.fix is None
            else {
                "old": self.fix.old,
                "new": self.fix.new,
                "keep_unmatched": self.fix.keep_unmatched,
                "explains_all": self.fix.explains_all,
                "command": self.fix.command,
            },
        }


def _keyed(listing: Listing) -> dict[str, Entry]:
    """Entries by name; later duplicates win, as in ``mx.nd.load`` (spec §2)."""
    if not listing.named:
        return {f"[{i}]": e for i, e in enumerate(listing.entries)}
    return {e.name: e for e in listing.entries if e.name is not None}


def shape_text(shape: tuple[int, ...]) -> str:
    """``(20, 10)``-style text for a shape (``()`` for 0-d)."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _mismatches(
    a: dict[str, Entry], b: dict[str, Entry], pairs: list[tuple[str, str]]
) -> tuple[list[Mismatch], list[Mismatch]]:
    shape, dtype = [], []
    for name_a, name_b in pairs:
        ea, eb = a[name_a], b[name_b]
        if ea.shape != eb.shape:
            shape.append(Mismatch(name_b, shape_text(ea.shape), shape_text(eb.shape)))
        if ea.dtype != eb.dtype:
            dtype.append(Mismatch(name_b, ea.dtype, eb.dtype))
    return shape, dtype


def compare(a: Listing, b: Listing) -> DiffReport:
    """Compare the names, shapes and dtypes of two listings (no array data is read).

    When the name sets differ and one prefix change (:func:`paramtool.names.find_prefix_change`)
    maps A's names onto B's, the report carries the ``rename-prefix`` command that applies it,
    and whether the renamed A would then match B in shapes and dtypes too.
    """
    ka, kb = _keyed(a), _keyed(b)
    only_a = [n for n in ka if n not in kb]
    only_b = [n for n in kb if n not in ka]
    common = [n for n in ka if n in kb]
    shape, dtype = _mismatches(ka, kb, [(n, n) for n in common])
    fix = None
    if a.named and b.named and only_a and only_b:
        change = find_prefix_change(list(ka), list(kb))
        if change is not None:
            old, new, keep = change
            pairs = []
            for name in ka:
                renamed = rename_one(name, old, new)
                pairs.append((name, name if renamed is None else renamed))
            s_after, d_after = _mismatches(ka, kb, pairs)
            fix = PrefixFix(
                old, new, keep, not (s_after or d_after), _rename_command(a.path, old, new, keep)
            )
    return DiffReport(
        a,
        b,
        detect_scheme(a.names),
        detect_scheme(b.names),
        only_a,
        only_b,
        shape,
        dtype,
        len(common),
        fix,
    )


def _rename_command(path: str, old: str, new: str, keep: bool) -> str:
    stem, ext = os.path.splitext(path)
    if ext not in (".params", ".ndarray", ".bin"):
        stem, ext = path, ""
    dest = f"{stem}.renamed{ext}"
    options = ["-o", dest] + (["--keep-unmatched"] if keep else [])
    positional = [path, old, new]
    if any(p.startswith("-") for p in positional):
        # Click would read these as options: put the options first and end them with `--`.
        return shell_join(["paramtool", "rename-prefix", *options, "--", *positional])
    return shell_join(["paramtool", "rename-prefix", *positional, *options])

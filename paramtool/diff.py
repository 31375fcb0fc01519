"""Comparing two listings: names only on one side, shape and dtype mismatches, the prefix fix."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paramtool.backends import Entry, Listing
from paramtool.format import DType, Record
from paramtool.names import Scheme, detect_scheme, find_prefix_change, rename_one
from paramtool.render import shape_text, shell_join

if TYPE_CHECKING:
    from paramtool.index import ParamsFile


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
    #: ``(key, index in A, index in B)`` for the common entries with equal shape and dtype,
    #: whose values ``--values`` compares.
    comparable: list[tuple[str, int, int]] = field(default_factory=list)
    #: Filled by ``diff --values``: one result per comparable entry.
    values: list[ValueDiff] | None = None

    @property
    def identical(self) -> bool:
        """No name, shape or dtype difference, and (when compared) every value close."""
        if self.values is not None and not all(v.close for v in self.values):
            return False
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
            "values": None if self.values is None else [v.to_json() for v in self.values],
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
    return {k: listing.entries[i] for k, i in _key_index(listing).items()}


def _key_index(listing: Listing) -> dict[str, int]:
    """Key -> entry index; ``[i]`` for an unnamed list; a later duplicate name wins."""
    if not listing.named:
        return {f"[{i}]": i for i in range(len(listing.entries))}
    return {e.name: i for i, e in enumerate(listing.entries) if e.name is not None}


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
    ia, ib = _key_index(a), _key_index(b)
    bad = {m.name for m in shape} | {m.name for m in dtype}
    comparable = [(n, ia[n], ib[n]) for n in common if n not in bad]
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
        comparable,
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


# ------------------------------------------------------------------------------------------
# values


#: Elements compared per step by numpy when many elements of a block differ (2 MiB of float64
#: per side).
VALUE_CHUNK = 1 << 18
#: Bytes of each file read per block before comparing. Identical blocks cost one ``memcmp``;
#: 256 KiB keeps both blocks in the CPU cache (see :data:`paramtool.writer.COMPARE_CHUNK`).
COMPARE_BLOCK = 256 << 10
#: A block that differs is narrowed down by bisection (``memcmp`` on halves) to spans of this
#: many bytes (at least one element) that differ.
SPAN_BYTES = 64
#: Bytes of a differing block compared in pure Python (no numpy import) at most: when its
#: differing spans hold more, that block, and the rest of that parameter, go to numpy.
#: Measured per 256 KiB block: pure Python costs ~5 µs per differing element isolated in its
#: own span (bisection and the element's span) and ~0.3 µs per further element of a span, so
#: 4 KiB of spans cost at most ~0.6 ms; numpy costs 0.5 ms (float64) to 10 ms (uint8) per
#: block, plus ~0.07 s to import it once.
PY_SPAN_BYTES = 4 << 10


def _differing_spans(
    a: bytearray, b: bytearray, n: int, item: int, budget: int
) -> list[tuple[int, int]] | None:
    """Byte ranges ``[lo, hi)`` of ``a[:n]`` and ``b[:n]`` (which differ) that hold every
    element that differs, in ascending order, adjacent ranges merged; their bounds are
    multiples of ``item`` (bytes per element).

    Found by bisection: a half is searched further only when its bytes differ (a
    ``bytearray`` comparison, ``memcmp``), down to :data:`SPAN_BYTES`. Elements between the
    ranges have identical bytes. None as soon as the ranges would hold more than ``budget``
    bytes (the caller compares the whole block instead)."""
    leaf = max(item, SPAN_BYTES // item * item)
    spans: list[tuple[int, int]] = []
    total = 0
    stack = [(0, n)]  # ranges known to differ; the left half is popped first
    while stack:
        lo, hi = stack.pop()
        if hi - lo <= leaf:
            total += hi - lo
            if total > budget:
                return None
            if spans and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
            continue
        mid = lo + (hi - lo) // item // 2 * item
        if a[lo:mid] == b[lo:mid]:
            stack.append((mid, hi))  # then the right half differs
            continue
        if a[mid:hi] != b[mid:hi]:
            stack.append((mid, hi))
        stack.append((lo, mid))
    return spans


#: ``struct`` codes of the little-endian element types (bfloat16, flag 12, is read as float32)
_STRUCT_CODES = {
    0: "f", 1: "d", 2: "e", 3: "B", 4: "i", 5: "b", 6: "q", 7: "?", 8: "h", 9: "H", 10: "I",
    11: "Q",
}  # fmt: skip


def _floats(buf: bytearray, lo: int, hi: int, dtype: DType) -> list[float]:
    """The elements in bytes ``[lo, hi)`` of ``buf`` as Python floats: the values
    :func:`_as_float` gives, without numpy (bfloat16 words widened to float32, integers and
    bools converted to the nearest float64)."""
    import struct

    count = (hi - lo) // dtype.itemsize
    if dtype.flag == 12:  # the word is the top half of a float32's bits (little-endian)
        wide = bytearray(4 * count)
        wide[2::4] = buf[lo:hi:2]
        wide[3::4] = buf[lo + 1 : hi : 2]
        return list(struct.unpack(f"<{count}f", wide))
    code = _STRUCT_CODES[dtype.flag]
    values = struct.unpack_from(f"<{count}{code}", buf, lo)
    if code in "fde":
        return list(values)
    return [float(v) for v in values]


@dataclass(frozen=True)
class ValueDiff:
    """How the values of one parameter present in both files compare.

    Attributes
    ----------
    name:
        The parameter.
    equal:
        Bit for bit equal (the data bytes are identical).
    close:
        Every element satisfies ``|a - b| <= atol + rtol * |b|`` (NaN where both are NaN, and
        equal infinities, count as close), as ``numpy.isclose(equal_nan=True)``.
    max_abs, max_rel:
        Largest ``|a - b|`` and ``|a - b| / |b|`` (inf where b is 0 and a is not) over the
        elements; 0.0 when equal.
    n_diff:
        Number of elements that are not close.
    first_index:
        Multi-index (C order) of the first element that is not close, or None.
    first_a, first_b:
        The values there, as floats.
    """

    name: str
    equal: bool
    close: bool
    max_abs: float
    max_rel: float
    n_diff: int
    first_index: tuple[int, ...] | None = None
    first_a: float | None = None
    first_b: float | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready data; NaN and infinite errors become the strings ``nan``/``inf``."""

        def num(x: float | None) -> object:
            if x is None or (x == x and abs(x) != float("inf")):
                return x
            return str(x)  # NaN/inf are not JSON

        return {
            "name": self.name,
            "equal": self.equal,
            "close": self.close,
            "max_abs": num(self.max_abs),
            "max_rel": num(self.max_rel),
            "n_diff": self.n_diff,
            "first_index": None if self.first_index is None else list(self.first_index),
            "first_a": num(self.first_a),
            "first_b": num(self.first_b),
        }


class _ValueAccumulator:
    """Folds chunk-by-chunk comparisons of one parameter into a :class:`ValueDiff`.

    The one definition of how values compare, in two forms that must give the same results
    (tests run both on the same data): :meth:`add` for numpy arrays and :meth:`add_floats`,
    element by element in pure Python, for the few elements of a block that differ. Elements
    with identical bytes change nothing in either, so a caller may leave them out."""

    def __init__(self, name: str, shape: tuple[int, ...], atol: float, rtol: float) -> None:
        self.name, self.shape, self.atol, self.rtol = name, shape, atol, rtol
        self.max_abs = 0.0
        self.max_rel = 0.0
        self.n_diff = 0
        self.first: tuple[int, float, float] | None = None
        self.equal = True

    def add(self, xa: Any, xb: Any, start: int) -> None:
        """Compare one chunk: flat float arrays ``xa``, ``xb`` starting at flat index ``start``."""
        import numpy as np

        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            both_nan = np.isnan(xa) & np.isnan(xb)
            same = (xa == xb) | both_nan
            if same.all():
                return
            diff = np.abs(xa - xb)
            diff[same] = 0.0
            bad = ~same & ~(diff <= self.atol + self.rtol * np.abs(xb))
            finite = diff[np.isfinite(diff)]
            if finite.size:
                self.max_abs = max(self.max_abs, float(finite.max()))
            if not np.isfinite(diff[~same]).all():
                self.max_abs = float("inf")
            denom = np.abs(xb)
            rel = np.where(denom > 0, diff / np.where(denom > 0, denom, 1), np.inf)
            rel[same] = 0.0
            rel = np.nan_to_num(rel, nan=np.inf, posinf=np.inf)
            self.max_rel = max(self.max_rel, float(rel.max()))
        n = int(bad.sum())
        if n and self.first is None:
            k = int(np.argmax(bad))
            self.first = (start + k, float(xa[k]), float(xb[k]))
        self.n_diff += n

    def add_floats(self, xa: Sequence[float], xb: Sequence[float], start: int) -> None:
        """:meth:`add` element by element: ``xa``, ``xb`` are Python floats (as
        :func:`_floats` gives) starting at flat index ``start``. Same results, no numpy."""
        inf = math.inf
        atol, rtol = self.atol, self.rtol
        for k, (x, y) in enumerate(zip(xa, xb, strict=True)):
            if x == y or (x != x and y != y):  # equal, or NaN on both sides
                continue
            diff = abs(x - y)  # inf on overflow, NaN when one side is NaN
            if diff - diff == 0.0:  # finite
                if diff > self.max_abs:
                    self.max_abs = diff
            else:
                self.max_abs = inf
            denom = abs(y)
            rel = diff / denom if denom > 0 else inf  # NaN > 0 is False: inf
            if rel != rel:  # NaN/x, inf/inf
                rel = inf
            if rel > self.max_rel:
                self.max_rel = rel
            if not diff <= atol + rtol * denom:
                self.n_diff += 1
                if self.first is None:
                    self.first = (start + k, x, y)

    def result(self) -> ValueDiff:
        first_index = None
        a = b = None
        if self.first is not None:
            flat, a, b = self.first
            first_index = _unravel(flat, self.shape)
        return ValueDiff(
            self.name,
            self.equal,
            self.n_diff == 0,
            self.max_abs,
            self.max_rel,
            self.n_diff,
            first_index,
            a,
            b,
        )


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The C-order multi-index of flat index ``flat`` in ``shape`` (``()`` for 0-d), as
    ``numpy.unravel_index``."""
    index = []
    for dim in reversed(shape):
        flat, i = divmod(flat, dim)
        index.append(i)
    return tuple(reversed(index))


def _as_float(raw: Any, dtype: DType) -> Any:
    """Flat float64 copy of little-endian element bytes (bfloat16 words widened to float32)."""
    import numpy as np

    from paramtool.stats import as_float

    return as_float(np.frombuffer(raw, dtype=dtype.numpy), dtype.name)


def compare_values(
    path_a: str,
    path_b: str,
    pairs: list[tuple[str, int, int]],
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> list[ValueDiff]:
    """Stream the data of the entries ``pairs`` (``(key, index in A, index in B)``, same shape
    and dtype in both files) and compare them, :data:`COMPARE_BLOCK` bytes of each file at a
    time: memory stays bounded whatever the file size. Identical blocks are recognised by a
    byte comparison; in a block that differs only the spans that differ are compared as
    values, in pure Python when they are few (numpy is then not imported at all), else with
    numpy (see :func:`_compare_dense`). Either way the results are those
    :class:`_ValueAccumulator` defines.

    ``progress`` is called with numbers of bytes of A consumed (in steps of 64 MiB or more,
    and at the end). Sparse records are compared on their dense values.

    Raises
    ------
    FormatError
        As :func:`paramtool.index.open_params`; also a read that fails or comes up short (a
        file changed since it was indexed), naming the file, the record and the offset.
    """
    from paramtool.index import open_params
    from paramtool.writer import compare_buffers

    out = []
    buffers = compare_buffers(COMPARE_BLOCK)  # reused for every record: memory stays bounded
    pending = 0

    def report(n: int) -> None:  # progress in steps of >= 64 MiB (or at the end)
        nonlocal pending
        pending += n
        if progress is not None and (pending >= 64 << 20 or n == 0):
            progress(pending)
            pending = 0

    with open_params(path_a) as fa, open_params(path_b) as fb:
        for fd in (fa.fileno(), fb.fileno()):
            with contextlib.suppress(AttributeError, OSError):  # read-ahead hint only
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        for name, index_a, index_b in pairs:
            ra, rb = fa.record(index_a), fb.record(index_b)
            acc = _ValueAccumulator(name, ra.shape, atol, rtol)
            if ra.dtype is None or rb.dtype is None:
                out.append(acc.result())
                continue
            if ra.storage_shape is not None or rb.storage_shape is not None:
                da, db = fa.read(ra), fb.read(rb)
                da = da.todense() if hasattr(da, "todense") else da
                db = db.todense() if hasattr(db, "todense") else db
                acc.equal = da.tobytes() == db.tobytes()
                if not acc.equal:
                    acc.add(_as_float(da.tobytes(), ra.dtype), _as_float(db.tobytes(), rb.dtype), 0)
                out.append(acc.result())
                continue
            _compare_dense(fa, fb, ra, rb, acc, buffers, report)
            out.append(acc.result())
    report(0)
    return out


def _compare_dense(
    fa: ParamsFile,
    fb: ParamsFile,
    ra: Record,
    rb: Record,
    acc: _ValueAccumulator,
    buffers: tuple[bytearray, bytearray],
    report: Callable[[int], None],
) -> None:
    """Stream the data of two dense records of the same shape and dtype into ``acc``.

    Bytes first, a block at a time (identical blocks cost one ``memcmp``). A block that
    differs is narrowed down to the spans that differ (:func:`_differing_spans`), which are
    compared in pure Python (:meth:`_ValueAccumulator.add_floats`) when they hold at most
    :data:`PY_SPAN_BYTES` bytes; otherwise that block and the rest of the record go through
    numpy (:meth:`_ValueAccumulator.add`), :data:`VALUE_CHUNK` elements at a time.

    Raises
    ------
    FormatError
        A read failed or a file is shorter than its records say
        (:meth:`~paramtool.index.ParamsFile.read_data_into`).
    """
    assert ra.dtype is not None
    dtype = ra.dtype
    item = dtype.itemsize
    buf_a, buf_b = buffers
    size = len(buf_a) // item * item
    if size == 0:  # an element larger than the buffers (never with the defaults)
        buf_a, buf_b = bytearray(item), bytearray(item)
        size = item
    use_numpy = False  # once a block had many differences, the rest goes to numpy directly
    done = 0
    while done < ra.nbytes:
        n = min(size, ra.nbytes - done)
        fa.read_data_into(ra, buf_a, done, n)
        fb.read_data_into(rb, buf_b, done, n)
        if (buf_a != buf_b) if n == len(buf_a) else (buf_a[:n] != buf_b[:n]):
            acc.equal = False
            spans = None if use_numpy else _differing_spans(buf_a, buf_b, n, item, PY_SPAN_BYTES)
            if spans is not None:
                for lo, hi in spans:
                    xa, xb = _floats(buf_a, lo, hi, dtype), _floats(buf_b, lo, hi, dtype)
                    acc.add_floats(xa, xb, (done + lo) // item)
            else:
                use_numpy = True
                step = VALUE_CHUNK * item
                va, vb = memoryview(buf_a), memoryview(buf_b)
                for k in range(0, n, step):
                    m = min(step, n - k)
                    if buf_a[k : k + m] != buf_b[k : k + m]:
                        acc.add(
                            _as_float(va[k : k + m], dtype),
                            _as_float(vb[k : k + m], dtype),
                            (done + k) // item,
                        )
        done += n
        report(n)


def compare_value_arrays(
    name: str, a: Any, b: Any, *, atol: float = 0.0, rtol: float = 0.0
) -> ValueDiff:
    """:func:`compare_values` for two in-memory arrays of the same shape and dtype (numpy
    arrays, bfloat16 with MXNet's structured dtype, or SparseArray)."""
    from paramtool.format import DTYPE_FLAGS, DTYPES

    if hasattr(a, "todense"):
        a, b = a.todense(), b.todense()
    acc = _ValueAccumulator(name, tuple(a.shape), atol, rtol)
    ba, bb = a.tobytes(), b.tobytes()
    if ba != bb:
        acc.equal = False
        dname = "bfloat16" if a.dtype.names == ("bfloat16",) else a.dtype.name
        dtype = DTYPES[DTYPE_FLAGS[dname]]
        acc.add(_as_float(ba, dtype), _as_float(bb, dtype), 0)
    return acc.result()

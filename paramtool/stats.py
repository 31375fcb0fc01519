"""Array values: streaming statistics (``ls --stats``, ``check``) and reading one array (``show``).

Statistics are computed in chunks of :data:`CHUNK` elements, so memory stays bounded whatever
the array size: a dense array of an MXNet 1.x file is read into one reused buffer, a chunk at a
time, and each chunk converted to float64 on its own. An npz
(MXNet 2.x) member is read whole, one array at a time.

Per array: ``min``, ``max``, ``mean`` and ``std`` (population, ``ddof=0``) over the *finite*
values, the number of zeros, NaNs and infinities. bfloat16 words are widened to the float32
values they stand for; bool and integer arrays count as float64. A sparse array's statistics
cover its stored values plus the zeros it does not store, i.e. the dense array it stands for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paramtool import npz
from paramtool.errors import FormatError
from paramtool.format import sniff_container
from paramtool.index import open_params

if TYPE_CHECKING:
    import numpy as np

    from paramtool.format import Record
    from paramtool.index import ParamsFile

#: Elements per chunk (8 MiB of float64).
CHUNK = 1 << 20

FLOAT_DTYPES = ("float16", "float32", "float64", "bfloat16")


@dataclass(frozen=True)
class ArrayStats:
    """Statistics of one array.

    Attributes
    ----------
    elements:
        Logical element count (``prod(shape)``; a sparse array's implicit zeros included).
    finite:
        How many values are finite (neither NaN nor ±Inf).
    min, max, mean, std:
        Over the finite values; None when there are none (an empty or all-NaN array), and
        always None for a ``check`` (which counts NaN and Inf only).
    zeros:
        Values equal to zero (``-0.0`` included).
    nan, inf:
        NaN and ±Inf counts (always 0 for bool and integer dtypes).
    uninitialised:
        A "none" record: no values at all.
    """

    elements: int
    finite: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    zeros: int
    nan: int
    inf: int
    uninitialised: bool = False

    @property
    def zero_share(self) -> float | None:
        """``zeros / elements``; None for an empty array."""
        return self.zeros / self.elements if self.elements else None

    @property
    def nonfinite(self) -> bool:
        """True when the array holds any NaN or Inf."""
        return bool(self.nan or self.inf)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (non-finite floats as strings)."""
        return {
            "min": json_number(self.min),
            "max": json_number(self.max),
            "mean": json_number(self.mean),
            "std": json_number(self.std),
            "zeros": self.zeros,
            "zero_share": self.zero_share,
            "nan": self.nan,
            "inf": self.inf,
            "finite": self.finite,
        }


def json_number(x: float | None) -> float | str | None:
    """A float for JSON: NaN and ±Inf (which JSON has no number for) as ``"nan"``/``"inf"``/
    ``"-inf"``."""
    if x is None or math.isfinite(x):
        return x
    return str(x)


class _Accumulator:
    """Chan et al.'s parallel mean/variance, merged chunk by chunk."""

    def __init__(self, nonfinite_only: bool) -> None:
        self.nonfinite_only = nonfinite_only
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.zeros = 0
        self.nan = 0
        self.inf = 0

    def add(self, x: np.ndarray, floating: bool) -> None:  # type: ignore[type-arg]
        import numpy as np

        if floating:
            nan = int(np.count_nonzero(np.isnan(x)))
            inf = int(np.count_nonzero(np.isinf(x)))
            self.nan += nan
            self.inf += inf
            if self.nonfinite_only:
                return
            if nan or inf:
                x = x[np.isfinite(x)]
        elif self.nonfinite_only:
            return
        self.zeros += int(np.count_nonzero(x == 0))
        if not x.size:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            mean_b = float(x.mean())
            dev = x - mean_b
            np.multiply(dev, dev, out=dev)  # in place: one temporary chunk, not two
            m2_b = float(dev.sum())
            del dev
        self._merge(x.size, mean_b, m2_b, float(x.min()), float(x.max()))

    def add_zeros(self, count: int) -> None:
        if count <= 0:
            return
        self.zeros += count
        if not self.nonfinite_only:
            self._merge(count, 0.0, 0.0, 0.0, 0.0)

    def _merge(self, n_b: int, mean_b: float, m2_b: float, lo: float, hi: float) -> None:
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.n = n
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def result(self, elements: int) -> ArrayStats:
        done = self.n > 0 and not self.nonfinite_only
        finite = elements - self.nan - self.inf
        return ArrayStats(
            elements=elements,
            finite=finite,
            min=self.min if done else None,
            max=self.max if done else None,
            mean=self.mean if done else None,
            std=math.sqrt(max(self.m2 / self.n, 0.0)) if done else None,
            zeros=self.zeros,
            nan=self.nan,
            inf=self.inf,
        )


def as_float(values: np.ndarray, dtype: str) -> np.ndarray:  # type: ignore[type-arg]
    """``values`` as float64; bfloat16 (raw ``<u2`` words, or MXNet's structured dtype) widened
    to the float32 values the words are the top halves of. Signalling NaNs become quiet NaNs
    without numpy 2's "invalid value encountered in cast" warning."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        if dtype == "bfloat16":
            words = values.view("<u2") if values.dtype.names else values
            return (words.astype("<u4") << 16).view("<f4").astype(np.float64)
        return values.astype(np.float64)


def array_stats(
    values: np.ndarray,  # type: ignore[type-arg]
    dtype: str,
    *,
    elements: int | None = None,
    chunk: int = CHUNK,
    nonfinite_only: bool = False,
) -> ArrayStats:
    """Statistics of ``values`` (any shape; a memmap is read ``chunk`` elements at a time).

    ``dtype`` is the paramtool dtype name (``bfloat16`` for raw words). ``elements`` is the
    logical size when ``values`` are a sparse array's stored values; the rest count as zeros.
    """
    import numpy as np

    floating = dtype in FLOAT_DTYPES
    acc = _Accumulator(nonfinite_only)
    flat = np.ravel(values, order="K")
    if not (nonfinite_only and not floating):
        for start in range(0, flat.size, chunk):
            acc.add(as_float(flat[start : start + chunk], dtype), floating)
    total = flat.size if elements is None else elements
    acc.add_zeros(total - flat.size)
    return acc.result(total)


def _uninitialised() -> ArrayStats:
    return ArrayStats(0, 0, None, None, None, None, 0, 0, 0, uninitialised=True)


def file_stats(
    path: str,
    indices: Iterable[int] | None = None,
    *,
    chunk: int = CHUNK,
    nonfinite_only: bool = False,
) -> dict[int, ArrayStats]:
    """Statistics of the arrays at ``indices`` (positions in the native listing; all by
    default) of an MXNet 1.x ``.params`` file, an npz file or a bare ``.npy`` file.

    With ``nonfinite_only``, only NaN and Inf are counted (bool and integer arrays are not
    read at all).

    Raises
    ------
    FormatError, UnsupportedFormatError
        As :func:`paramtool.open_params` and :func:`paramtool.npz.list_npz`.
    """
    kind = sniff_container(path)
    opts: dict[str, Any] = {"chunk": chunk, "nonfinite_only": nonfinite_only}
    out: dict[int, ArrayStats] = {}
    if kind == "npy":
        import numpy as np

        e = npz.list_npy(path)
        if indices is None or 0 in set(indices):
            out[0] = array_stats(np.load(path, mmap_mode="r"), e.dtype, **opts)
        return out
    if kind == "npz":
        import zipfile

        entries = npz.list_npz(path)
        wanted = range(len(entries)) if indices is None else indices
        with zipfile.ZipFile(path) as zf:
            for i in wanted:
                e = entries[i]
                if nonfinite_only and e.dtype not in FLOAT_DTYPES:
                    out[i] = array_stats(_empty(), e.dtype, elements=_size(e.shape), **opts)
                    continue
                member = e.members[0] if e.stype == "default" else f"{e.name}/data.npy"
                values = _load_member(zf, member)
                out[i] = array_stats(values, e.dtype, elements=_size(e.shape), **opts)
        return out
    with open_params(path) as pf:
        wanted = range(len(pf)) if indices is None else indices
        for i in wanted:
            rec = pf.records[i]
            if rec.dtype is None:
                out[i] = _uninitialised()
            elif nonfinite_only and rec.dtype.name not in FLOAT_DTYPES:
                out[i] = array_stats(_empty(), rec.dtype.name, elements=rec.size, **opts)
            elif rec.storage_shape is None:
                out[i] = _dense_record_stats(pf, rec, chunk, nonfinite_only)
            else:
                sparse = pf.read(rec)
                out[i] = array_stats(sparse.data, rec.dtype.name, elements=rec.size, **opts)
    return out


def _dense_record_stats(
    pf: ParamsFile, rec: Record, chunk: int, nonfinite_only: bool
) -> ArrayStats:
    """:func:`array_stats` of a dense record, read ``chunk`` elements at a time into one
    reused buffer (not memory-mapped: a file truncated meanwhile gives FormatError, where a
    mapping would die of SIGBUS).

    Raises
    ------
    FormatError
        The file ends before the record's data does (it changed since it was indexed), or a
        read fails.
    """
    import numpy as np

    dtype = rec.dtype
    assert dtype is not None  # "none" records are not read
    name = dtype.name
    floating = name in FLOAT_DTYPES
    acc = _Accumulator(nonfinite_only)
    item = dtype.itemsize
    buf = bytearray(min(rec.nbytes, chunk * item))
    done = 0
    while done < rec.nbytes:
        n = min(len(buf), rec.nbytes - done)
        pf.read_data_into(rec, buf, done, n)
        acc.add(as_float(np.frombuffer(buf, dtype=dtype.numpy, count=n // item), name), floating)
        done += n
    return acc.result(rec.size)


def _empty() -> np.ndarray:  # type: ignore[type-arg]
    import numpy as np

    return np.zeros((0,), np.float64)


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _load_member(zf: Any, member: str) -> Any:
    """One ``.npy`` member of an npz file, decoded; damage is a :class:`FormatError`."""
    import zipfile
    import zlib

    import numpy as np

    try:
        with zf.open(member) as f:
            return np.load(f, allow_pickle=False)
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        RuntimeError,  # an encrypted member
        NotImplementedError,  # an unknown compression method
    ) as e:
        raise FormatError(str(zf.filename), f"member {member}: cannot read it ({e})") from None


def read_array(path: str, index: int) -> Any:
    """The array at ``index`` (a position in the native listing) of any supported file: a
    numpy array (bfloat16 with :func:`paramtool.bfloat16_dtype`), a
    :class:`paramtool.SparseArray`, or None for an uninitialised ("none") record."""
    kind = sniff_container(path)
    if kind == "npy":
        import numpy as np

        return np.load(path)
    if kind == "npz":
        import zipfile

        from paramtool.index import SparseArray

        e = npz.list_npz(path)[index]
        with zipfile.ZipFile(path) as zf:
            if e.stype == "default":
                return _load_member(zf, e.members[0])
            indptr = _load_member(zf, f"{e.name}/indptr.npy") if e.stype == "csr" else None
            return SparseArray(
                e.stype,
                e.shape,
                _load_member(zf, f"{e.name}/data.npy"),
                _load_member(zf, f"{e.name}/indices.npy"),
                indptr,
            )
    with open_params(path) as pf:
        rec = pf.records[index]
        return None if rec.dtype is None else pf.read(rec)

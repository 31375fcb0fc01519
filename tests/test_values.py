"""diff --values: streamed value comparison with tolerances, under both backends."""

from __future__ import annotations

import json
import math
import os
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import paramtool
import paramtool.diff
from paramtool.cli import cli
from paramtool.diff import ValueDiff, compare_values
from paramtool.format import DTYPES, DType


def _mxnet_ok() -> bool:
    try:
        import mxnet  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(params=["native", pytest.param("mxnet", marks=pytest.mark.mxnet)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "mxnet" and not _mxnet_ok():
        pytest.skip("MXNet 1.9.1 not importable here")
    return str(request.param)


def diff_json(a: Path, b: Path, *extra: str, code: int) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--values", "-f", "json", *extra])
    assert result.exit_code == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    w2 = w.copy()
    w2[1, 0, 3] += 0.25
    w2[1, 2, 1] = -7
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"w": w, "same": np.ones(5, np.float16), "i": np.arange(4)})
    paramtool.save(b, {"w": w2, "same": np.ones(5, np.float16), "i": np.arange(4)})
    return a, b


def test_values_report_errors_and_first_index(pair: tuple[Path, Path], backend: str) -> None:
    doc = diff_json(*pair, "--backend", backend, code=1)
    vals = {v["name"]: v for v in doc["values"]}
    assert vals["same"]["equal"] and vals["i"]["equal"]
    w = vals["w"]
    assert not w["equal"] and not w["close"]
    assert w["n_diff"] == 2
    assert w["first_index"] == [1, 0, 3]
    assert (w["first_a"], w["first_b"]) == (15.0, 15.25)
    assert w["max_abs"] == pytest.approx(7 + 21)  # 21 -> -7
    assert w["max_rel"] == pytest.approx(28 / 7)
    assert doc["identical"] is False


def test_tolerances(pair: tuple[Path, Path], backend: str) -> None:
    a, b = pair
    # |15 - 15.25| = 0.25 is within atol 0.3, |21 - -7| = 28 is not
    doc = diff_json(a, b, "--atol", "0.3", "--backend", backend, code=1)
    assert {v["name"]: v["n_diff"] for v in doc["values"]}["w"] == 1
    doc = diff_json(a, b, "--atol", "30", "--backend", backend, code=0)
    assert all(v["close"] for v in doc["values"]) and doc["identical"]
    doc = diff_json(a, b, "--rtol", "5", "--backend", backend, code=0)
    assert doc["identical"]


def test_nan_and_bfloat16(tmp_path: Path) -> None:
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    x = np.array([1.0, np.nan, 3.0], np.float32)
    bf = np.array([0x3F80, 0x4020, 0xC040], "<u2").view(paramtool.bfloat16_dtype())
    bf2 = np.array([0x3F80, 0x4040, 0xC040], "<u2").view(paramtool.bfloat16_dtype())  # 2.5 -> 3
    paramtool.save(a, {"x": x, "bf": bf})
    paramtool.save(b, {"x": x.copy(), "bf": bf2})
    doc = diff_json(a, b, code=1)
    vals = {v["name"]: v for v in doc["values"]}
    assert vals["x"]["equal"]  # NaN at the same place: equal (same bytes)
    assert vals["bf"]["first_index"] == [1] and vals["bf"]["first_b"] == 3.0
    assert vals["bf"]["max_abs"] == 0.5
    paramtool.save(b, {"x": np.array([1.0, 2.0, 3.0], np.float32), "bf": bf}, version=2)
    vals = {v["name"]: v for v in diff_json(a, b, code=1)["values"]}
    assert vals["x"]["n_diff"] == 1 and vals["x"]["first_index"] == [1]


def test_chunk_boundaries_do_not_change_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_007).astype(np.float64)
    y = x.copy()
    y[[5, 4096, 9999]] += [1e-3, -2.0, 0.5]
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"x": x})
    paramtool.save(b, {"x": y})
    whole = compare_values(str(a), str(b), [("x", 0, 0)])[0]
    monkeypatch.setattr(paramtool.diff, "VALUE_CHUNK", 1000)
    chunked = compare_values(str(a), str(b), [("x", 0, 0)])[0]
    assert whole == chunked
    monkeypatch.setattr(paramtool.diff, "PY_SPAN_BYTES", 0)  # numpy, 1000 elements at a time
    assert compare_values(str(a), str(b), [("x", 0, 0)])[0] == whole
    monkeypatch.setattr(paramtool.diff, "COMPARE_BLOCK", 4100 * 8)  # blocks not a multiple
    assert compare_values(str(a), str(b), [("x", 0, 0)])[0] == whole
    assert whole.n_diff == 3 and whole.first_index == (5,)
    assert whole.max_abs == pytest.approx(2.0)


def test_memory_is_bounded_by_the_chunk(tmp_path: Path) -> None:
    x = np.zeros(8 << 20, dtype=np.float32)  # 32 MiB per file
    y = x.copy()
    y[::1000] = 1
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"x": x})
    paramtool.save(b, {"x": y})
    del x, y
    tracemalloc.start()
    result = compare_values(str(a), str(b), [("x", 0, 0)])[0]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.n_diff == (8 << 20) // 1000 + 1
    # one chunk of each side as bytes and float64 copies, not the 64 MiB of both files
    assert peak < 32 << 20, peak


def test_values_needs_two_files(pair: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(cli, ["diff", str(pair[0]), "--model", "x.txt", "--values"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["diff", str(pair[0]), str(pair[1]), "--atol", "1"])
    assert result.exit_code == 2 and "--values" in result.stderr


def test_text_report(pair: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(cli, ["diff", str(pair[0]), str(pair[1]), "--values"])
    assert result.exit_code == 1
    assert "Values: 2 equal bit for bit, 0 within tolerance, 1 differ." in result.stdout
    assert "first at [1, 0, 3]: 15 vs 15.25" in result.stdout


class _FakeTerminal:
    """A stderr that says it is a terminal and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError("no descriptor")


def test_progress_bar_only_on_a_terminal_and_for_long_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from paramtool.render import progress_bar

    fake = _FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    with progress_bar(1 << 30, "copying records") as advance:
        advance(1 << 29)
    assert "copying records" in fake.text
    fake.text = ""
    with progress_bar(1 << 20, "copying records") as advance:  # short work: no bar
        advance(1 << 20)
    assert fake.text == ""
    monkeypatch.setattr(fake, "isatty", lambda: False)
    with progress_bar(1 << 30, "copying records") as advance:  # piped: no bar
        advance(1 << 30)
    assert fake.text == ""


# -- the pure-Python path (few differences, no numpy) against numpy ----------------------------

#: Element bit patterns worth having in every dtype's data (as unsigned little-endian ints):
#: zeros of both signs, NaNs (quiet, signalling, negative), infinities, the smallest and
#: largest subnormals, the largest finite values, 1.0, and the integer extremes.
SPECIAL_BITS = {
    1: [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF],
    2: [0x0000, 0x8000, 0x7E00, 0x7C01, 0xFE00, 0x7C00, 0xFC00, 0x0001, 0x03FF, 0x8001,
        0x7BFF, 0xFBFF, 0x3C00,  # float16
        0x7FC0, 0x7F81, 0xFFC0, 0x7F80, 0xFF80, 0x007F, 0x807F, 0x7F7F, 0x3F80,  # bfloat16
        0x7FFF],
    4: [0x00000000, 0x80000000, 0x7FC00000, 0x7F800001, 0xFFC00000, 0x7F800000, 0xFF800000,
        0x00000001, 0x007FFFFF, 0x80000001, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0x7FFFFFFF,
        0xFFFFFFFF],
    8: [0, 1 << 63, 0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000000,
        0x7FF0000000000000, 0xFFF0000000000000, 1, 0x000FFFFFFFFFFFFF, (1 << 63) | 1,
        0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x3FF0000000000000, (1 << 63) - 1,
        (1 << 64) - 1, (1 << 53) + 1, (1 << 63) + 1025],
}  # fmt: skip


def _element(item: int) -> st.SearchStrategy[bytes]:
    """One element's bytes: a special pattern, a float of that width, or random bytes."""
    special = st.sampled_from(SPECIAL_BITS[item]).map(lambda v: v.to_bytes(item, "little"))
    if item == 1:
        return st.one_of(special, st.binary(min_size=1, max_size=1))
    code = {2: "<e", 4: "<f", 8: "<d"}[item]
    width = {2: 16, 4: 32, 8: 64}[item]
    floats = st.floats(width=width, allow_nan=True).map(lambda x: struct.pack(code, x))  # type: ignore[arg-type]
    return st.one_of(special, floats, st.binary(min_size=item, max_size=item))


@st.composite
def value_pairs(draw: st.DrawFn, max_elements: int = 40) -> tuple[DType, bytes, bytes]:
    """A dtype and two buffers of its elements that differ at a few positions (always at
    least one; often the first or the last), with the special values above."""
    dtype = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    elem = _element(dtype.itemsize)
    a = draw(st.lists(elem, min_size=1, max_size=max_elements))
    b = list(a)
    n = len(a)
    positions = draw(st.sets(st.integers(0, n - 1), max_size=n))
    positions |= set(draw(st.sampled_from([[0], [n - 1], [0, n - 1], []])))
    for i in positions:
        b[i] = draw(elem)
    if b == a:
        b[draw(st.integers(0, n - 1))] = bytes(x ^ 0x01 for x in a[0][:1]) + a[0][1:]
    return dtype, b"".join(a), b"".join(b)


TOLERANCES = st.tuples(
    st.sampled_from([0.0, 1e-45, 1e-6, 0.25, 1.0, 1e300, math.inf]),
    st.sampled_from([0.0, 1e-7, 1e-3, 0.5, 2.0, math.inf]),
)


def _key(v: ValueDiff) -> tuple[object, ...]:
    """Everything a ValueDiff says, with NaN comparable and the sign of zero kept (``-0``
    and ``0`` print differently)."""

    def f(x: float | None) -> object:
        if x is None or x != x:
            return "nan" if x is not None else None
        return (type(x), x, math.copysign(1.0, x))  # an int would print as 3, not 3.0

    return (
        v.name, v.equal, v.close, f(v.max_abs), f(v.max_rel), v.n_diff, v.first_index,
        f(v.first_a), f(v.first_b),
    )  # fmt: skip


def _numpy_fold(dtype: DType, a: bytes, b: bytes, atol: float, rtol: float, start: int) -> Any:
    acc = paramtool.diff._ValueAccumulator("x", (start + len(a) // dtype.itemsize,), atol, rtol)
    acc.equal = a == b
    acc.add(paramtool.diff._as_float(a, dtype), paramtool.diff._as_float(b, dtype), start)
    return acc.result()


@settings(deadline=None, max_examples=1500)
@given(pair=value_pairs(), tol=TOLERANCES, start=st.integers(0, 3))
def test_pure_python_fold_equals_numpy(
    pair: tuple[DType, bytes, bytes], tol: tuple[float, float], start: int
) -> None:
    """add_floats over the spans _differing_spans finds (and over the whole buffer) gives
    exactly what add gives over the whole buffer, for every dtype."""
    dtype, a, b = pair
    atol, rtol = tol
    item = dtype.itemsize
    want = _numpy_fold(dtype, a, b, atol, rtol, start)
    shape = (start + len(a) // item,)
    whole = paramtool.diff._ValueAccumulator("x", shape, atol, rtol)
    whole.equal = a == b
    whole.add_floats(
        paramtool.diff._floats(bytearray(a), 0, len(a), dtype),
        paramtool.diff._floats(bytearray(b), 0, len(b), dtype),
        start,
    )
    assert _key(whole.result()) == _key(want)
    if a == b:
        return
    spans = paramtool.diff._differing_spans(bytearray(a), bytearray(b), len(a), item, len(a))
    assert spans is not None
    covered = set()
    for lo, hi in spans:
        assert lo % item == 0 and hi % item == 0 and lo < hi
        covered |= set(range(lo, hi))
    assert all(i in covered for i in range(len(a)) if a[i] != b[i])  # every differing byte
    assert spans == sorted(spans)
    parts = paramtool.diff._ValueAccumulator("x", shape, atol, rtol)
    parts.equal = False
    for lo, hi in spans:
        parts.add_floats(
            paramtool.diff._floats(bytearray(a), lo, hi, dtype),
            paramtool.diff._floats(bytearray(b), lo, hi, dtype),
            start + lo // item,
        )
    assert _key(parts.result()) == _key(want)


def test_pure_python_fold_known_values() -> None:
    """Hand-computed results, so that a mistake shared by both folds is caught too."""
    inf, nan = math.inf, math.nan
    xa = [1.0, nan, nan, 2.0, -0.0, inf, inf, 5.0, 1.0, 0.0, 1e308]
    xb = [1.0, nan, 3.0, nan, 0.0, inf, -inf, 4.0, 1.5, 2.0, -1e308]
    acc = paramtool.diff._ValueAccumulator("x", (11,), 0.5, 0.0)
    acc.add_floats(xa, xb, 0)
    res = acc.result()
    # bad: [2] NaN vs 3, [3] 2 vs NaN, [6] inf vs -inf, [7] |1| > 0.5, [9] |2| > 0.5,
    # [10] overflows to inf; [8] |0.5| <= 0.5 is close; [1] NaN/NaN, [4] -0 vs 0, [5] equal
    assert (res.n_diff, res.first_index, res.close) == (6, (2,), False)
    assert math.isnan(res.first_a or 0.0) is True and res.first_b == 3.0
    assert res.max_abs == inf and res.max_rel == inf
    acc = paramtool.diff._ValueAccumulator("x", (2, 3), 0.0, 0.1)
    acc.add_floats([10.0, 9.0], [10.5, 11.0], 4)  # |0.5| <= 1.05 is close, |2| > 1.1 not
    res = acc.result()
    assert (res.n_diff, res.first_index, res.first_a, res.first_b) == (1, (1, 2), 9.0, 11.0)
    assert res.max_abs == 2.0 and res.max_rel == 2 / 11


def _save_raw(path: Path, dtype: DType, raw: bytes, shape: tuple[int, ...]) -> None:
    array = np.frombuffer(raw, dtype=dtype.numpy).reshape(shape)
    if dtype.flag == 12:
        array = array.view(paramtool.bfloat16_dtype())
    paramtool.save(path, {"p": array})


@settings(deadline=None, max_examples=150)
@given(
    pair=value_pairs(max_elements=300),
    tol=TOLERANCES,
    block=st.integers(1, 24),
    two_d=st.booleans(),
)
def test_streamed_paths_agree_with_each_other_and_in_memory(
    pair: tuple[DType, bytes, bytes], tol: tuple[float, float], block: int, two_d: bool
) -> None:
    """compare_values on two files, with small blocks (``block`` elements; a differing
    element often falls on a block's first or last position), gives the same result forced
    through numpy (PY_SPAN_BYTES 0), forced through pure Python (no limit; spans of 64 bytes
    or of one element), mixed (pure Python for the blocks whose spans hold at most two
    elements, until the first that does not), and as compare_value_arrays on the arrays in
    memory (numpy, whole arrays)."""
    import tempfile
    from unittest import mock

    dtype, a, b = pair
    atol, rtol = tol
    n = len(a) // dtype.itemsize
    shape = (n // 3, 3) if two_d and n % 3 == 0 else (n,)
    with tempfile.TemporaryDirectory() as d:
        pa, pb = Path(d) / "a.params", Path(d) / "b.params"
        _save_raw(pa, dtype, a, shape)
        _save_raw(pb, dtype, b, shape)
        results = []
        with mock.patch.object(paramtool.diff, "COMPARE_BLOCK", block * dtype.itemsize):
            item = dtype.itemsize
            for limit, span in ((0, 64), (1 << 30, 64), (1 << 30, item), (2 * item, item)):
                with (
                    mock.patch.object(paramtool.diff, "PY_SPAN_BYTES", limit),
                    mock.patch.object(paramtool.diff, "SPAN_BYTES", span),
                ):
                    got = compare_values(str(pa), str(pb), [("p", 0, 0)], atol=atol, rtol=rtol)
                    results.append(_key(got[0]))
        xa, xb = paramtool.load(pa)["p"], paramtool.load(pb)["p"]  # type: ignore[call-overload]
    in_memory = paramtool.diff.compare_value_arrays("p", xa, xb, atol=atol, rtol=rtol)
    assert results == [_key(in_memory)] * len(results)


def test_few_differences_do_not_import_numpy(tmp_path: Path) -> None:
    """The bench's case (a value changed here and there in large arrays): no numpy import."""
    import subprocess
    import sys

    x = np.zeros(1 << 20, np.float32)
    y = x.copy()
    y[[0, 65535, 65536, (1 << 20) - 1]] = [1, np.nan, -np.inf, 1e-45]
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"x": x, "i": np.arange(10)})
    paramtool.save(b, {"x": y, "i": np.arange(10)[::-1].copy()})
    code = (
        "import sys, json; from paramtool.diff import compare_values as c; "
        f"r = c({str(a)!r}, {str(b)!r}, [('x', 0, 0), ('i', 1, 1)]); "
        "print(json.dumps([v.to_json() for v in r])); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    values, numpy_imported = out.stdout.splitlines()
    assert numpy_imported == "False"
    got = json.loads(values)
    assert got == [v.to_json() for v in compare_values(str(a), str(b), [("x", 0, 0), ("i", 1, 1)])]
    assert got[0]["n_diff"] == 4 and got[0]["first_index"] == [0] and got[0]["max_abs"] == "inf"
    assert got[1]["n_diff"] == 10 and got[1]["max_abs"] == 9


def test_a_file_truncated_while_compared_names_file_and_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that comes up short (the file changed since it was indexed) is a FormatError
    naming the file and the record, not an OSError the CLI would call a write failure."""
    from paramtool.index import ParamsFile

    a, b = tmp_path / "a.params", tmp_path / "b.params"
    arrays = {"w": np.ones(100_000, np.float32), "v": np.ones(100_000, np.float32)}
    paramtool.save(a, arrays)
    paramtool.save(b, arrays)
    real = ParamsFile.read_data_into
    seen: list[int] = []

    def cut_then_read(pf: Any, rec: Any, buf: Any, done: int, n: int) -> None:
        if pf.path == str(b) and rec.index == 1 and not seen:
            seen.append(1)
            os.truncate(b, rec.data_offset + done + 10)
        real(pf, rec, buf, done, n)

    monkeypatch.setattr(ParamsFile, "read_data_into", cut_then_read)
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--values"])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: {b}: record 1, field 'data'")
    assert "file changed while reading" in result.stderr


def test_first_difference_prints_values_that_differ(tmp_path: Path) -> None:
    """Two values 1 ulp apart must not print alike (6 significant digits made them so)."""
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    x = np.float32(-1.3204299)
    paramtool.save(a, {"w": np.array([x, 1], np.float32)})
    paramtool.save(b, {"w": np.array([np.nextafter(x, np.float32(0)), 1], np.float32)})
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--values"])
    assert result.exit_code == 1
    line = next(s for s in result.stdout.splitlines() if "first at" in s)
    first, second = line.split("first at [0]: ")[1].split(" vs ")
    assert first != second and abs(float(first) - float(x)) < 1e-7

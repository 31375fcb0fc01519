"""diff --values: streamed value comparison with tolerances, under both backends."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import paramtool
import paramtool.diff
from paramtool.cli import cli
from paramtool.diff import compare_values


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

"""ls --tree/--collapse/--stats, check, show, --format csv for diff, colour and help."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner, Result

import paramtool
from paramtool import render
from paramtool.backends import native
from paramtool.cli import cli
from paramtool.index import SparseArray, bfloat16_dtype
from paramtool.stats import array_stats, file_stats
from paramtool.tree import natural_key, split_name

DATA = Path(__file__).parent / "data"
T0 = DATA / "tutorial-model0.params"
T1 = DATA / "tutorial-model1.params"
MOBILE_S = DATA / "mobilenet0.25-structural.params"
MOBILE_P = DATA / "mobilenet0.25-prefixed.params"
HYBRID = DATA / "hybrid-0000.params"
DTYPES = DATA / "dtypes.params"


def run(*args: object, code: int | None = 0, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def names_of(path: Path) -> list[str]:
    return [e.name for e in native.list_file(str(path)).entries if e.name is not None]


# -- tree: splitting and sorting -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("model0_dense0_weight", ["model0_", "dense0_", "weight"]),
        ("model0_mydense_weight", ["model0_", "mydense_weight"]),
        ("mobilenet0_batchnorm12_running_var", ["mobilenet0_", "batchnorm12_", "running_var"]),
        ("features.10.running_mean", ["features.", "10.", "running_mean"]),
        ("aux:net0_batchnorm0_running_mean", ["net0_", "batchnorm0_", "aux:running_mean"]),
        ("arg:fc1_weight", ["fc1_", "arg:weight"]),
        ("weight", ["weight"]),
        ("model0_", ["model0_"]),
        ("stage1_0_conv", ["stage1_", "0_", "conv"]),
    ],
)
def test_split_name(name: str, levels: list[str]) -> None:
    assert split_name(name) == levels
    tag = name[:4] if name.startswith(("arg:", "aux:")) else ""
    assert tag + "".join(levels).replace(tag, "", 1) == name  # the labels spell the name


def test_natural_key_orders_numbers_by_value() -> None:
    labels = ["dense10_", "dense2_", "dense1_", "conv0_", "10.", "9.", "2."]
    assert sorted(labels, key=natural_key) == [
        "2.",
        "9.",
        "10.",
        "conv0_",
        "dense1_",
        "dense2_",
        "dense10_",
    ]


# -- tree: the command ---------------------------------------------------------------------


def parse_plain_tree(text: str) -> tuple[str, list[tuple[int, str, str]], str]:
    """(title, [(depth, label, details)], footer) of ``ls --tree`` plain output."""
    lines = text.splitlines()
    rows = []
    for line in lines[1:-1]:
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 2
        label, _, details = stripped.partition("  ")
        rows.append((depth, label, details.strip()))
    return lines[0], rows, lines[-1]


def names_from_tree(rows: list[tuple[int, str, str]]) -> list[str]:
    """Spell each leaf's name from the labels on its path (tags go first)."""
    names = []
    path: list[str] = []
    for depth, label, details in rows:
        del path[depth - 1 :]
        path.append(label)
        if "parameter" not in details:  # a leaf: shape dtype bytes
            leaf = path[-1]
            tag = leaf[:4] if leaf.startswith(("arg:", "aux:")) else ""
            names.append(tag + "".join(path[:-1]) + leaf[len(tag) :])
    return names


@pytest.mark.parametrize("path", [MOBILE_S, MOBILE_P, T0, HYBRID])
def test_tree_holds_every_name_once(path: Path) -> None:
    out = run("ls", path, "--tree").stdout
    title, rows, footer = parse_plain_tree(out)
    assert title == str(path)
    assert sorted(names_from_tree(rows)) == sorted(names_of(path))
    assert footer.startswith(f"{len(names_of(path))} parameters")
    assert "─" not in out and "│" not in out  # plain text in a pipe


def test_tree_structural_groups_counts_and_numeric_order() -> None:
    _, rows, _ = parse_plain_tree(run("ls", MOBILE_S, "--tree").stdout)
    top = {label: details for depth, label, details in rows if depth == 1}
    assert set(top) == {"features.", "output."}
    assert top["features."].startswith("135 parameters")
    assert top["output."] == "2 parameters · 10.0 KiB"
    blocks = [int(label[:-1]) for depth, label, _ in rows if depth == 2 and label[:-1].isdigit()]
    assert blocks == sorted(blocks) and blocks.index(9) < blocks.index(10)
    i = next(k for k, r in enumerate(rows) if r[:2] == (2, "1."))
    assert rows[i][2] == "4 parameters · 128 B"
    assert [r[1] for r in rows[i + 1 : i + 5]] == ["beta", "gamma", "running_mean", "running_var"]
    assert rows[i + 1][2] == "(8,) float32  32 B"


def test_tree_prefixed_splits_block_prefixes() -> None:
    _, rows, _ = parse_plain_tree(run("ls", MOBILE_P, "--tree").stdout)
    assert rows[0][:2] == (1, "mobilenet0_") and rows[0][2].startswith("137 parameters")
    level2 = [label for depth, label, _ in rows if depth == 2]
    convs = [label for label in level2 if label.startswith("conv")]
    assert convs == [f"conv{i}_" for i in range(27)]  # conv2_ before conv10_
    assert "dense0_" in level2
    _, rows, _ = parse_plain_tree(run("ls", T0, "--tree").stdout)
    assert [(d, lab) for d, lab, _ in rows] == [
        (1, "model0_"),
        (2, "dense0_"),
        (3, "bias"),
        (3, "weight"),
        (2, "dense1_"),
        (3, "bias"),
        (3, "weight"),
        (2, "mydense_bias"),
        (2, "mydense_weight"),
    ]
    assert rows[0][2] == "6 parameters · 4.1 KiB"


def test_tree_keeps_tags_on_the_leaf() -> None:
    _, rows, _ = parse_plain_tree(run("ls", HYBRID, "--tree").stdout)
    i = next(k for k, r in enumerate(rows) if r[1] == "batchnorm0_")
    assert [r[1] for r in rows[i + 1 : i + 5]] == [
        "arg:beta",
        "arg:gamma",
        "aux:running_mean",
        "aux:running_var",
    ]
    assert not any(r[1] in ("arg:", "aux:") for r in rows)


def expand(node: dict[str, Any], prefix: str = "") -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of every array a (collapsed) JSON tree stands for."""
    out = []
    for member in node.get("members", [node["label"]]):
        path = prefix + member
        for e in node.get("entries", []):
            out.append((path, tuple(e["shape"]), e["dtype"]))
        for child in node["children"]:
            out += expand(child, path)
    return out


@pytest.mark.parametrize("path", [MOBILE_S, MOBILE_P])
def test_collapse_folds_only_identical_blocks(path: Path) -> None:
    doc = json.loads(run("ls", path, "--tree", "--collapse", "-f", "json").stdout)
    listing = native.list_file(str(path))
    expected = sorted((e.name, e.shape, e.dtype) for e in listing.entries)
    assert sorted(expand(doc["tree"])) == expected  # folding loses nothing and invents nothing
    folded = [
        c for top in doc["tree"]["children"] for c in top["children"] if c.get("repeat", 1) > 1
    ]
    assert folded and all(c["repeat"] == len(c["members"]) for c in folded)
    assert sum(c["repeat"] for c in folded) > 2 * len(folded)
    # the uncollapsed tree has more nodes than the collapsed one
    plain = json.loads(run("ls", path, "--tree", "-f", "json").stdout)
    assert sorted(expand(plain["tree"])) == expected
    assert not any("repeat" in c for top in plain["tree"]["children"] for c in top["children"])


def test_collapse_text_structural_and_prefixed() -> None:
    out = run("ls", MOBILE_S, "--tree", "--collapse").stdout
    # the twelve 128-channel BatchNorms, features.37, 40, ..., 70
    line = next(x for x in out.splitlines() if "#. ×12" in x)
    assert "[37, 40, 43" in line and "70]" in line and "4 parameters · 2.0 KiB each" in line
    # 8- and 16-channel BatchNorms have the same names but not the same shapes: not folded
    assert re.search(r"#\. ×2 +\[1, 4\]", out) and re.search(r"#\. ×2 +\[7, 10\]", out)
    out = run("ls", MOBILE_P, "--tree", "--collapse").stdout
    assert re.search(r"batchnorm#_ ×12 +\[12-23\] +4 parameters · 2.0 KiB each", out)
    assert "conv0_" in out  # a block with no twin stays as it is


def test_tree_option_errors() -> None:
    assert "--collapse needs --tree" in run("ls", T0, "--collapse", code=2).stderr
    assert "exclude each other" in run("ls", T0, "--tree", "--stats", code=2).stderr
    run("ls", T0, "--tree", "-f", "csv", code=2)
    run("ls", T0, "--tree", "-f", "names", code=2)


def test_tree_filter_and_unnamed_list() -> None:
    _, rows, _ = parse_plain_tree(run("ls", MOBILE_S, "--tree", "--filter", "output.*").stdout)
    assert [r[1] for r in rows] == ["output.", "bias", "weight"]
    _, rows, _ = parse_plain_tree(run("ls", DATA / "unnamed-list.params", "--tree").stdout)
    assert [r[1] for r in rows] == ["[0]", "[1]", "[2]"]


# -- stats -----------------------------------------------------------------------------------


def stats_rows(path: Path, *extra: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(run("ls", path, "--stats", "-f", "json", *extra).stdout)
    return {p["name"]: p["stats"] for p in doc["parameters"]}


def test_stats_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(37, 11)).astype(np.float32)
    w[0, :3] = 0
    bad = w.copy()
    bad[1, 1], bad[2, 2], bad[3, 3] = np.nan, np.inf, -np.inf
    p = tmp_path / "s.params"
    paramtool.save(p, {"w": w, "bad": bad, "i": np.arange(-3, 7, dtype=np.int32)})
    st = stats_rows(p)
    for name, arr in (("w", w), ("bad", bad)):
        finite = arr[np.isfinite(arr)].astype(np.float64)
        assert st[name]["min"] == pytest.approx(finite.min())
        assert st[name]["max"] == pytest.approx(finite.max())
        assert st[name]["mean"] == pytest.approx(finite.mean(), rel=1e-9, abs=1e-12)
        assert st[name]["std"] == pytest.approx(finite.std(), rel=1e-9)
        assert st[name]["zeros"] == 3
        assert st[name]["zero_share"] == pytest.approx(3 / arr.size)
    assert (st["w"]["nan"], st["w"]["inf"]) == (0, 0)
    assert (st["bad"]["nan"], st["bad"]["inf"], st["bad"]["finite"]) == (1, 2, w.size - 3)
    assert st["i"] == {
        "min": -3.0,
        "max": 6.0,
        "mean": 1.5,
        "std": pytest.approx(np.arange(-3, 7).std()),
        "zeros": 1,
        "zero_share": 0.1,
        "nan": 0,
        "inf": 0,
        "finite": 10,
    }


def test_stats_dtypes_bfloat16_bool_int() -> None:
    st = stats_rows(DTYPES)
    assert (st["bfloat16"]["min"], st["bfloat16"]["max"]) == (-3.0, 2.5)  # not the raw words
    assert st["bfloat16"]["mean"] == pytest.approx(0.5 / 3)
    assert st["bfloat16"]["std"] == pytest.approx(np.std([1.0, 2.5, -3.0]))
    assert (st["bool"]["mean"], st["bool"]["zeros"]) == (0.75, 1)
    assert (st["int8"]["min"], st["int8"]["max"], st["int8"]["mean"]) == (-2.0, 2.0, 0.0)
    assert st["float16"]["max"] == 4.0 and st["uint8"]["mean"] == 2.0


def test_stats_bfloat16_with_nan_and_inf(tmp_path: Path) -> None:
    values = np.array([1.0, np.nan, np.inf, -2.0, 0.0], np.float32)
    words = (values.view("<u4") >> 16).astype("<u2")
    p = tmp_path / "bf.params"
    paramtool.save(p, {"b": words.view(bfloat16_dtype())})
    st = stats_rows(p)["b"]
    assert (st["min"], st["max"], st["mean"], st["nan"], st["inf"], st["zeros"]) == (
        -2.0,
        1.0,
        pytest.approx(-1 / 3),
        1,
        1,
        1,
    )


def test_stats_sparse_count_the_implicit_zeros(tmp_path: Path) -> None:
    data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    rsp = SparseArray("row_sparse", (5, 3), data, np.array([1, 3], np.int64))
    csr = SparseArray(
        "csr",
        (3, 4),
        np.array([2.0, -2.0, 4.0], np.float32),
        np.array([0, 3, 1], np.int64),
        np.array([0, 2, 2, 3], np.int64),
    )
    p = tmp_path / "sp.params"
    paramtool.save(p, {"rsp": rsp, "csr": csr})
    st = stats_rows(p)
    for name, sparse in (("rsp", rsp), ("csr", csr)):
        dense = sparse.todense().astype(np.float64)
        assert st[name]["mean"] == pytest.approx(dense.mean())
        assert st[name]["std"] == pytest.approx(dense.std())
        assert (st[name]["min"], st[name]["max"]) == (dense.min(), dense.max())
        assert st[name]["zeros"] == int((dense == 0).sum())


def test_stats_chunks_agree_with_one_pass() -> None:
    rng = np.random.default_rng(1)
    a = (rng.normal(size=10_007) * 1e3 + 5e4).astype(np.float32)
    a[::97] = 0
    a[5] = np.nan
    whole = array_stats(a, "float32", chunk=1 << 20)
    for chunk in (1, 7, 1000, 4096):
        part = array_stats(a, "float32", chunk=chunk)
        assert part.mean == pytest.approx(whole.mean, rel=1e-12)
        assert part.std == pytest.approx(whole.std, rel=1e-9)
        assert (part.min, part.max, part.zeros, part.nan) == (
            whole.min,
            whole.max,
            whole.zeros,
            whole.nan,
        )
    finite = a[np.isfinite(a)].astype(np.float64)
    assert whole.std == pytest.approx(finite.std(), rel=1e-9)


def test_stats_memory_is_bounded(tmp_path: Path) -> None:
    """A 40 MB float32 array: float64 of it all at once would take 80 MB."""
    n = 10_000_000
    p = tmp_path / "big.params"
    paramtool.save(p, {"big": np.ones(n, np.float32)})
    tracemalloc.start()
    try:
        st = file_stats(str(p))[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (st.mean, st.std, st.elements) == (1.0, 0.0, n)
    assert peak < 30_000_000, peak


def test_stats_of_a_file_truncated_meanwhile_is_a_format_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data is read, not memory-mapped: a file cut short after it was indexed gives
    FormatError naming the record (a mapping would die of SIGBUS)."""
    import paramtool.stats

    p = tmp_path / "big.params"
    paramtool.save(p, {"a": np.ones(1000, np.float32), "b": np.ones(300_000, np.float32)})
    real = paramtool.stats._dense_record_stats

    def cut_then_read(pf: Any, rec: Any, chunk: int, nonfinite_only: bool) -> Any:
        if rec.index == 1:
            os.truncate(p, rec.data_offset + 1000)
        return real(pf, rec, chunk, nonfinite_only)

    monkeypatch.setattr(paramtool.stats, "_dense_record_stats", cut_then_read)
    with pytest.raises(paramtool.FormatError) as err:
        file_stats(str(p), chunk=4096)
    assert err.value.record == 1 and err.value.field == "data"
    assert "file changed while reading" in str(err.value)


def test_stats_table_and_csv(tmp_path: Path) -> None:
    out = run("ls", DTYPES, "--stats").stdout
    header = out.splitlines()[0].split()
    assert header == ["name", "shape", "dtype", "min", "max", "mean", "std", "zeros", "nan", "inf"]
    line = next(x for x in out.splitlines() if x.startswith("bool"))
    assert line.split()[3:] == ["0", "1", "0.75", "0.433013", "25.0%", "0", "0"]
    rows = list(csv.DictReader(io.StringIO(run("ls", DTYPES, "--stats", "-f", "csv").stdout)))
    assert [r["name"] for r in rows][-1] == "bfloat16"
    assert float(rows[-1]["min"]) == -3.0 and float(rows[-1]["max"]) == 2.5
    assert rows[0]["zero_share"] == "0.2" and rows[0]["nan"] == "0"
    p = tmp_path / "n.params"
    paramtool.save(p, {"x": np.array([np.nan, 1], np.float32)})
    assert "1 array with NaN or Inf" in run("ls", p, "--stats").stdout.splitlines()[-1]


def test_stats_edge_records() -> None:
    st = stats_rows(DATA / "numpy-v3.params")
    assert st["scalar"]["mean"] == 1.5 and st["scalar"]["std"] == 0.0
    assert st["empty"]["mean"] is None and st["empty"]["zero_share"] is None
    assert st["matrix"]["max"] == 5.0


def test_stats_option_errors() -> None:
    run("ls", T0, "--stats", "-f", "names", code=2)
    run("ls", T0, "--stats", "--backend", "mxnet", code=2)


def test_stats_on_npz(tmp_path: Path) -> None:
    p = tmp_path / "two.params"
    with open(p, "wb") as f:
        np.savez(f, w=np.array([[1.0, -1.0], [0.0, 3.0]], np.float32), b=np.zeros(3, np.int64))
    st = stats_rows(p)
    assert (st["w"]["min"], st["w"]["max"], st["w"]["mean"], st["w"]["zeros"]) == (-1, 3, 0.75, 1)
    assert st["b"]["zero_share"] == 1.0
    assert run("show", p, "w", "-f", "json").stdout.count("3.0") == 1


# -- check -----------------------------------------------------------------------------------


@pytest.fixture
def nan_file(tmp_path: Path) -> Path:
    p = tmp_path / "nan.params"
    a = np.ones((4, 5), np.float32)
    a[0, 0] = np.nan
    a[1, 1] = np.inf
    a[2, 2] = -np.inf
    h = np.ones(3, np.float16)
    h[1] = np.nan
    paramtool.save(p, {"ok": np.ones(3, np.float32), "a": a, "i": np.arange(3), "h": h})
    return p


def test_check_clean_file() -> None:
    r = run("check", MOBILE_S)
    assert "no NaN or Inf in 137 arrays" in r.stdout and r.stderr == ""
    doc = json.loads(run("check", DTYPES, "-f", "json").stdout)
    assert doc["ok"] is True and doc["nonfinite"] == [] and doc["arrays"] == 9


def test_check_one_bad_array_is_singular(tmp_path: Path) -> None:
    p = tmp_path / "one.params"
    paramtool.save(p, {"a": np.array([np.nan], np.float32), "b": np.ones(2, np.float32)})
    out = run("check", p, code=1).stdout
    assert "1 of 2 arrays has NaN or Inf values (1 NaN, 0 Inf)" in out.splitlines()[-1]


def test_check_reports_nan_and_inf(nan_file: Path) -> None:
    out = run("check", nan_file, code=1).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["name", "shape", "dtype", "nan", "inf"]
    assert lines[1].split() == ["a", "(4,", "5)", "float32", "1", "2"]
    assert lines[2].split() == ["h", "(3,)", "float16", "1", "0"]
    assert "2 of 4 arrays have NaN or Inf values (2 NaN, 2 Inf)" in lines[-1]
    doc = json.loads(run("check", nan_file, "-f", "json", code=1).stdout)
    assert doc["ok"] is False
    assert [(x["name"], x["nan"], x["inf"]) for x in doc["nonfinite"]] == [
        ("a", 1, 2),
        ("h", 1, 0),
    ]
    rows = list(csv.reader(io.StringIO(run("check", nan_file, "-f", "csv", code=1).stdout)))
    assert rows == [["name", "shape", "dtype", "nan", "inf"], ["a", "4x5", "float32", "1", "2"],
                    ["h", "3", "float16", "1", "0"]]  # fmt: skip


def test_check_unreadable(tmp_path: Path) -> None:
    p = tmp_path / "junk.params"
    p.write_bytes(b"not a checkpoint at all")
    r = run("check", p, code=3)
    assert r.stdout == "" and r.stderr.startswith("Error: ")
    run("check", tmp_path / "missing.params", code=3)
    cut = tmp_path / "cut.params"
    cut.write_bytes(T0.read_bytes()[:1000])
    run("check", cut, code=3)


# -- show ------------------------------------------------------------------------------------


def test_show_text_summarises_unless_full(tmp_path: Path) -> None:
    p = tmp_path / "big.params"
    paramtool.save(p, {"v": np.arange(3000, dtype=np.int32)})
    out = run("show", p, "v").stdout
    assert out.splitlines()[0] == "v  (3000,) int32"
    assert "..." in out and "2999" in out and "1500" not in out
    full = run("show", p, "v", "--full").stdout
    assert "..." not in full and re.search(r"\b1500\b", full)
    small = run("show", T0, "model0_dense0_bias").stdout.splitlines()
    assert small[0] == "model0_dense0_bias  (20,) float32"


def test_show_json_values(tmp_path: Path) -> None:
    p = tmp_path / "v.params"
    paramtool.save(p, {"f": np.array([[0.1, np.nan], [np.inf, -np.inf]], np.float32)})
    doc = json.loads(run("show", p, "f", "-f", "json").stdout)
    assert doc["values"] == [[0.1, "nan"], ["inf", "-inf"]]  # 0.1, not 0.10000000149011612
    assert (doc["shape"], doc["dtype"]) == ([2, 2], "float32")
    w = paramtool.load(str(T0))["model0_dense0_weight"]
    doc = json.loads(run("show", T0, "model0_dense0_weight", "-f", "json").stdout)
    assert np.array_equal(np.array(doc["values"], np.float32), w)


def test_show_bfloat16_bool_int_and_scalar() -> None:
    assert run("show", DTYPES, "bfloat16").stdout.splitlines()[1] == "[ 1.   2.5 -3. ]"
    doc = json.loads(run("show", DTYPES, "bfloat16", "-f", "json").stdout)
    assert (doc["values"], doc["dtype"]) == ([1.0, 2.5, -3.0], "bfloat16")
    assert json.loads(run("show", DTYPES, "bool", "-f", "json").stdout)["values"] == [
        True,
        False,
        True,
        True,
    ]
    assert json.loads(run("show", DTYPES, "int8", "-f", "json").stdout)["values"] == [
        -2,
        -1,
        0,
        1,
        2,
    ]
    assert (
        json.loads(run("show", DATA / "numpy-v3.params", "scalar", "-f", "json").stdout)["values"]
        == 1.5
    )
    assert run("show", DATA / "numpy-v3.params", "scalar", "-f", "csv").stdout == "value\n1.5\n"


def test_show_csv_indices() -> None:
    rows = list(csv.reader(io.StringIO(run("show", DATA / "numpy-v3.params", "matrix", "-f",
                                           "csv").stdout)))  # fmt: skip
    assert rows[0] == ["i0", "i1", "value"]
    assert rows[1:] == [[str(i // 3), str(i % 3), f"{float(i)}"] for i in range(6)]


def test_show_sparse_dense(tmp_path: Path) -> None:
    rsp = SparseArray(
        "row_sparse", (3, 2), np.array([[1.0, 2.0]], np.float32), np.array([2], np.int64)
    )
    p = tmp_path / "sp.params"
    paramtool.save(p, {"r": rsp})
    doc = json.loads(run("show", p, "r", "-f", "json").stdout)
    assert doc["values"] == [[0.0, 0.0], [0.0, 0.0], [1.0, 2.0]] and doc["stype"] == "row_sparse"
    assert "row_sparse (shown dense)" in run("show", p, "r").stdout.splitlines()[0]


def test_show_positions_and_missing_names() -> None:
    lst = DATA / "unnamed-list.params"
    assert run("show", lst, "[1]").stdout.splitlines() == ["[1]  (4,) int64", "[0 1 2 3]"]
    assert run("show", lst, "1").stdout == run("show", lst, "[1]").stdout
    r = run("show", T0, "model0_dense0_weigt", code=2)
    assert r.stdout == "" and "did you mean 'model0_dense0_weight'" in r.stderr
    run("show", lst, "7", code=2)
    run("show", T0, "0", code=2)  # a plain number is a position only in an unnamed list


def test_show_duplicate_name_is_the_last(tmp_path: Path) -> None:
    from helpers import params_file, record_v23

    p = tmp_path / "dup.params"
    one, two = np.array([1.0], np.float32), np.array([2.0], np.float32)
    p.write_bytes(params_file([record_v23(one), record_v23(two)], ["w", "w"]))
    assert json.loads(run("show", p, "w", "-f", "json").stdout)["values"] == [2.0]


# -- diff --format csv -------------------------------------------------------------------------


def test_diff_csv(tmp_path: Path) -> None:
    r = run("diff", T0, T1, "-f", "csv", code=1)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["difference", "name", "shape_a", "dtype_a", "shape_b", "dtype_b"]
    assert rows[1] == ["only_in_a", "model0_dense0_weight", "20x10", "float32", "", ""]
    assert [r[0] for r in rows[1:]] == ["only_in_a"] * 6 + ["only_in_b"] * 6
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    paramtool.save(a, {"w": np.zeros((2, 3), np.float32), "e": np.zeros((0, 3), np.float32)})
    paramtool.save(b, {"w": np.zeros((3, 2), np.float16), "e": np.zeros((0, 3), np.float32)})
    rows = list(csv.reader(io.StringIO(run("diff", a, b, "-f", "csv", code=1).stdout)))
    assert rows[1:] == [
        ["shape", "w", "2x3", "float32", "3x2", "float16"],
        ["dtype", "w", "2x3", "float32", "3x2", "float16"],
    ]
    assert run("diff", a, a, "-f", "csv").stdout.splitlines() == [",".join(rows[0])]


def test_model_diff_csv() -> None:
    out = run("diff", T1, "--model", DATA / "tutorial-structural.params", "-f", "csv", code=1)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    missing = [r for r in rows if r["difference"] == "missing"]
    unexpected = [r for r in rows if r["difference"] == "unexpected"]
    assert missing[0]["expected_key"] == "dense0.weight" and missing[0]["model_shape"] == "20x10"
    assert unexpected[0]["file_key"] == "model1_dense0_weight"
    assert len(missing) == len(unexpected) == 6
    out = run("diff", T1, "--model", T0, "-f", "csv", code=1)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {(r["difference"], r["file_key"], r["expected_key"]) for r in rows} >= {
        ("rename", "model1_dense0_weight", "model0_dense0_weight")
    }


# -- help, streams, colour -------------------------------------------------------------------


def test_every_command_has_short_help_and_examples() -> None:
    for path in [[], *([name] for name in cli.list_commands(click.Context(cli)))]:
        for flag in ("-h", "--help"):
            r = run(*path, flag)
            assert r.stdout.startswith("Usage: ") and "Examples:" in r.stdout, path


def test_static_short_help_is_each_commands_own() -> None:
    """``paramtool --help`` lists the short help stored in ``cli.lazy_subcommands`` (so that it
    imports no command module): it must be each command's own, cut the same at every width."""
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(cli.lazy_subcommands)
    for name, (_, short) in cli.lazy_subcommands.items():
        cmd = cli.get_command(ctx, name)
        assert cmd is not None and cmd.name == name and not cmd.hidden
        assert short == cmd.get_short_help_str(limit=10_000), name
        stand_in = click.Command(name, help=short)
        for limit in range(1, 120):
            assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit), name


@pytest.mark.parametrize("width", [40, 80, 100, 200])
def test_group_help_and_command_completion_are_clicks_own(
    monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """The group's --help and the completion of command names, written from the stored short
    help, are what Click writes from the commands themselves."""
    from click.shell_completion import ShellComplete

    def rendered() -> tuple[str, list[tuple[str, str | None]]]:
        ctx = click.Context(
            cli, info_name="paramtool", terminal_width=width, max_content_width=width
        )
        comp = ShellComplete(cli, {}, "paramtool", "_PARAMTOOL_COMPLETE")
        items = [(i.value, i.help) for i in comp.get_completions([], "")]
        items += [(i.value, i.help) for i in comp.get_completions([], "to-")]
        return cli.get_help(ctx), items

    ours = rendered()
    monkeypatch.setattr(type(cli), "format_commands", click.Group.format_commands)
    monkeypatch.setattr(type(cli), "shell_complete", click.Group.shell_complete)
    assert rendered() == ours
    assert "to-structural" in ours[0] and ("check", cli.lazy_subcommands["check"][1]) in ours[1]


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from paramtool.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('paramtool.commands')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_data_on_stdout_messages_on_stderr(tmp_path: Path) -> None:
    r = run("rename-prefix", T0, "model0_", "model1_", "-o", tmp_path / "o.params")
    assert r.stdout == "" and "renamed 6 of 6" in r.stderr
    r = run("show", T0, "nope", code=2)
    assert r.stdout == "" and "nope" in r.stderr
    r = run("ls", tmp_path / "missing.params", "--tree", code=3)
    assert r.stdout == "" and r.stderr.startswith("Error: ")


def test_no_color_flag_is_reset_per_invocation() -> None:
    run("--no-color", "ls", T0)
    assert render.color_enabled() is False
    run("ls", T0)
    assert render.color_enabled() is True
    run("ls", T0, env={"NO_COLOR": "1"})
    assert os.environ.get("NO_COLOR") is None


def run_tty(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m paramtool ARGS`` with stdout on a pseudo-terminal; its output."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    full_env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    for k in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        full_env.pop(k, None)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "paramtool", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=DATA,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_output_colour_and_no_color() -> None:
    out = run_tty("ls", "tutorial-model0.params")
    assert "\x1b[" in out and "─" in out  # styled header, box drawing
    for args, env in (
        (("--no-color", "ls", "tutorial-model0.params"), None),
        (("ls", "tutorial-model0.params"), {"NO_COLOR": "1"}),
    ):
        plain = run_tty(*args, env=env)
        assert "\x1b[" not in plain and "─" in plain and "model0_dense0_weight" in plain
    assert "\x1b[" in run_tty("ls", "tutorial-model0.params", env={"NO_COLOR": ""})
    tree = run_tty("ls", "tutorial-model0.params", "--tree")
    assert "├──" in tree and "└──" in tree and "\x1b[" in tree
    tree = run_tty("--no-color", "ls", "tutorial-model0.params", "--tree")
    assert "├──" in tree and "\x1b[" not in tree


def test_damaged_npz_member_is_an_error_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "z.params"
    with open(p, "wb") as f:
        np.savez(f, w=np.arange(1000, dtype=np.float32))
    raw = bytearray(p.read_bytes())
    raw[600] ^= 0xFF  # inside w.npy's data: the CRC no longer matches
    p.write_bytes(bytes(raw))
    run("ls", p)  # the headers are intact
    for args in (("check", p), ("show", p, "w"), ("ls", p, "--stats")):
        r = run(*args, code=3)
        assert r.stdout == "" and "member w.npy" in r.stderr and "Traceback" not in r.stderr


def test_plain_table_aligns_wide_characters(tmp_path: Path) -> None:
    """Columns line up in terminal cells, not characters: an emoji or CJK character takes
    two cells (found by a new-user trial)."""
    from paramtool.render import cell_width

    p = tmp_path / "wide.params"
    paramtool.save(
        p,
        {
            "model0_😀_weight": np.zeros((2, 2), np.float32),
            "model0_dense0_weight": np.zeros(3, np.float32),
            "model0_日本_bias": np.zeros(1, np.float32),
        },
    )
    lines = run("ls", p).stdout.splitlines()[:4]
    starts = {
        cell_width(line[: line.index("(") if "(" in line else line.index("shape")])
        for line in lines
    }
    assert len(starts) == 1, lines
    assert cell_width("日本😀é") == 7 and cell_width("e\u0301") == 1

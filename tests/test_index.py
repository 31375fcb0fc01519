"""The record index (paramtool.format.RecordTable): kept Record objects for ordinary files, a
compact table of block offsets when the objects would cost more than a quarter of the file.

Both kinds must give the same records, names, lookups and array bytes for every file (the
compact one decodes blocks of headers again from the file), and the compact one must hold
opening and walking a file to its size in memory, whatever the records.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import paramtool
from paramtool.format import BLOCK, RecordTable
from tests.helpers import header, names_table, params_file, record_v0, record_v23

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).parent / "hostile" / "corpus"
REALDATA = Path(__file__).parents[2] / "shared" / "realdata"


def _inputs() -> list[Path]:
    files = sorted(DATA.glob("*.params")) + sorted(CORPUS.iterdir())
    if REALDATA.is_dir():
        files += sorted(p for p in REALDATA.rglob("*") if p.is_file() and p.suffix != ".json")
    return files


def _opens(path: Path) -> bool:
    try:
        paramtool.open_params(path).close()
    except paramtool.FormatError:
        return False
    return True


FILES = [p for p in _inputs() if _opens(p)]


def _facts(path: Path) -> tuple[object, ...]:
    """Everything a consumer sees through the index, read in several access patterns."""
    with paramtool.open_params(path) as pf:
        recs = list(pf)
        n = len(pf)
        by_index = [pf.records[i] for i in range(n)]
        backwards = list(reversed(pf.records))
        negative = [pf.records[-i] for i in range(1, n + 1)]
        lookups = [pf.record(r.name).index for r in recs if r.name is not None]
        data = [pf.read_bytes(r) for r in recs[:50]]
        table = pf.records
        kind = table.compact
    assert by_index == recs
    assert backwards == recs[::-1]
    assert negative == recs[::-1]
    assert table[1:7:2] == recs[1:7:2]
    return kind, recs, lookups, data, pf.named


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.name))
def test_compact_index_reads_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARAMTOOL_INDEX", raising=False)
    kept = _facts(path)
    monkeypatch.setenv("PARAMTOOL_INDEX", "compact")
    compact = _facts(path)
    assert compact[0] is True  # the environment variable forces the compact table
    assert compact[1:] == kept[1:]


def test_records_stay_readable_after_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMTOOL_INDEX", "compact")
    path = tmp_path / "a.params"
    arrays = {f"p{i}": np.full(3, i, np.float32) for i in range(3 * BLOCK + 1)}
    paramtool.save(path, arrays)
    with paramtool.open_params(path) as pf:
        table = pf.records
    assert table.compact
    assert [r.name for r in table] == list(arrays)
    assert table[-1].shape == (3,)


def test_compact_index_notices_a_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARAMTOOL_INDEX", "compact")
    path = tmp_path / "a.params"
    paramtool.save(path, {f"p{i}": np.zeros(2, np.float32) for i in range(40)})
    with paramtool.open_params(path) as pf:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 1)
        with pytest.raises(paramtool.FormatError, match="file changed since it was opened"):
            list(pf)


def test_ordinary_files_keep_their_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compact table is for files of very many tiny records: a real checkpoint keeps its
    Record objects (decoded once)."""
    monkeypatch.delenv("PARAMTOOL_INDEX", raising=False)
    with paramtool.open_params(DATA / "mobilenet0.25-prefixed.params") as pf:
        assert not pf.records.compact
        assert pf.records[0] is pf.records[0]


# -- memory ---------------------------------------------------------------------------------


#: Fixed cost of opening any file (buffers and the like; measured ~7 KiB).
SLACK = 16 * 1024


def _v0_none(n: int, names: list[bytes] | None) -> bytes:
    return header(n) + b"\0\0\0\0" * n + names_table(names)


def _tiny_dense(n: int) -> bytes:
    a = np.zeros((1,), np.int8)
    return params_file([record_v23(a)] * n, [f"n{i}" for i in range(n)])


MANY = {
    # the smallest possible records: 4 bytes each, no names
    "200k unnamed V0 'none' records": lambda: _v0_none(200_000, None),
    # 12 bytes a record: a V0 "none" record and an empty name
    "100k V0 'none' records with empty names": lambda: _v0_none(100_000, [b""] * 100_000),
    "50k 1-element dense records": lambda: _tiny_dense(50_000),
    "20k V0 scalars-as-1-d with names": lambda: params_file(
        [record_v0(np.zeros(1, np.uint8))] * 20_000, ["x" * 30] * 20_000
    ),
}


@pytest.mark.parametrize("case", sorted(MANY))
def test_opening_costs_at_most_the_file_size(case: str, tmp_path: Path) -> None:
    data = MANY[case]()
    path = tmp_path / "many.params"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with paramtool.open_params(path) as pf:
            count = 0
            for rec in pf:
                count += rec.index >= 0
            assert pf.records.compact
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == struct.unpack_from("<Q", data, 16)[0]
    assert peak <= len(data) + SLACK, f"{peak:,} bytes for a {len(data):,}-byte file"


def test_kept_records_are_counted_against_the_file_size(tmp_path: Path) -> None:
    """Half-way cases: the walk keeps records until their cost passes a quarter of the size,
    then drops them; the peak stays within the size."""
    for n in (10, 100, 1000, 5000):
        path = tmp_path / f"m{n}.params"
        path.write_bytes(_tiny_dense(n))
        tracemalloc.start()
        try:
            with paramtool.open_params(path) as pf:
                assert isinstance(pf.records, RecordTable)
                assert sum(1 for _ in pf) == n
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= path.stat().st_size + SLACK, (n, peak)

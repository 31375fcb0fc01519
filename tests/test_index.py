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
from paramtool.format import BLOCK, KEEP_SLACK, RecordTable
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


#: Fixed cost of opening any file: the records a small file always keeps (KEEP_SLACK), and
#: buffers and the like (measured ~7 KiB).
SLACK = KEEP_SLACK + 16 * 1024


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


def _many_dims(n: int) -> bytes:
    """``n`` empty V2 records of 64 dims, 63 of them 2^40 (large ints in every shape)."""
    dims = [2**40] * 63 + [0]
    rec = struct.pack("<Iii64q", 0xF993FAC9, 0, 64, *dims) + struct.pack("<iii", 1, 0, 0)
    return params_file([rec] * n, [f"d{i}" for i in range(n)])


MANY["2000 empty records of 64 large dims"] = lambda: _many_dims(2000)
MANY["300 records with 400-byte names"] = lambda: params_file(
    [record_v23(np.zeros(1, np.int8))] * 300, [f"{i:03d}" + "x" * 397 for i in range(300)]
)

#: Files whose names are most of their bytes, and decode to up to 4 bytes per stored byte:
#: opening them stays within their size (their names are not decoded), walking them decodes
#: the names the caller asks for.
NAME_HEAVY = {
    "one 1 MiB name of 0xff bytes": lambda: (
        header(1) + b"\0\0\0\0" + names_table([b"\xff" * (1 << 20)])
    ),
    "10 names of 16k 4-byte characters": lambda: _v0_none(10, [("😀" * 16384).encode()] * 10),
    "one 200 KiB ASCII name": lambda: _v0_none(1, [b"a" * (200 << 10)]),
}


@pytest.mark.parametrize("case", sorted(NAME_HEAVY))
def test_opening_name_heavy_files_costs_at_most_the_file_size(case: str, tmp_path: Path) -> None:
    data = NAME_HEAVY[case]()
    path = tmp_path / "names.params"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        pf = paramtool.open_params(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with pf:
        assert pf.records.compact
        assert pf.records[0].name is not None
        assert pf.record(pf.records[-1].name or "").index == len(pf) - 1
    assert peak <= len(data) + SLACK, f"{peak:,} bytes for a {len(data):,}-byte file"


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


# -- a compact table and a file that changes ------------------------------------------------


def _compact_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int = 40) -> Path:
    monkeypatch.setenv("PARAMTOOL_INDEX", "compact")
    path = tmp_path / "a.params"
    paramtool.save(path, {f"p{i:02d}": np.full(2, i, np.float32) for i in range(n)})
    return path


def test_a_same_size_edit_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing a record's dtype flag in place (same size) must not give a wrong record."""
    path = _compact_file(tmp_path, monkeypatch)
    with paramtool.open_params(path) as pf:
        rec = pf.records[BLOCK + 1]  # decoded (and cached) before the change
        data = bytearray(path.read_bytes())
        struct.pack_into("<i", data, rec.data_offset - 4, 4)  # type_flag float32 -> int32
        st = path.stat()
        path.write_bytes(bytes(data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a later write
        with pytest.raises(paramtool.FormatError, match="file changed since it was opened"):
            list(pf)


def test_a_replaced_or_deleted_file_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After close, a compact table reads the file again by its path: a file put in its place
    (as rename-prefix --in-place does) or its removal gives FormatError, never other records."""
    path = _compact_file(tmp_path, monkeypatch)
    with paramtool.open_params(path) as pf:
        table = pf.records
    other = tmp_path / "other.params"
    paramtool.save(other, {f"z{i:02d}": np.full(2, i, np.int32) for i in range(40)})
    assert other.stat().st_size == path.stat().st_size
    os.replace(other, path)
    with pytest.raises(paramtool.FormatError, match="file changed since it was opened"):
        list(table)
    path.unlink()
    with pytest.raises(paramtool.FormatError, match="cannot read it again"):
        table[0]


def test_reading_after_close_leaves_no_descriptor_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _compact_file(tmp_path, monkeypatch)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    if before is None:
        pytest.skip("no /proc/self/fd here")
    for _ in range(20):
        with paramtool.open_params(path) as pf:
            table = pf.records
        assert [r.name for r in table][-1] == "p39"
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_file_that_shrinks_while_read_gives_format_errors(tmp_path: Path) -> None:
    """The size read_layout is given is what the file had; its reads then come up short (a
    file truncated while it is indexed): every cut gives FormatError, never struct.error."""
    import io

    from paramtool.format import read_layout

    data = _tiny_dense(20)
    for cut in range(len(data)):
        with pytest.raises(paramtool.FormatError):
            read_layout(io.BytesIO(data[:cut]), "shrinking.params", len(data))


def test_lookups_decode_only_the_block_they_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compact table finds a name in the stored name table (last duplicate wins), then
    decodes one block: lookups cost no walk over the records."""
    monkeypatch.setenv("PARAMTOOL_INDEX", "compact")
    n = 5000
    names = [f"n{i}" for i in range(n)]
    names[10] = names[4000] = "twice"
    # a name whose bytes hold the whole table entry of "abc" (u64 length 3, then abc)
    names[20] = "\x03\x00\x00\x00\x00\x00\x00\x00abc"
    path = tmp_path / "many.params"
    path.write_bytes(params_file([record_v23(np.zeros(1, np.int8))] * n, names))
    with paramtool.open_params(path) as pf:
        table = pf.records
        header_bytes = table[0].end - table[0].offset - 1  # minus the 1 data byte
        start = table.bytes_read
        assert pf.record("twice").index == 4000
        assert pf.record("n4999").index == 4999
        assert pf.record(names[20]).index == 20
        with pytest.raises(KeyError):
            pf.record("abc")  # only inside another name
        with pytest.raises(KeyError):
            pf.record("nope")
        assert table.bytes_read - start == 3 * BLOCK * header_bytes  # 3 blocks, nothing else


def test_sparse_index_arrays_are_checked_when_read(tmp_path: Path) -> None:
    """A csr record whose indptr or column indices are out of range (MXNet 1.9.1 loads such
    a file and goes wrong only when the array is used) gives FormatError naming the field."""
    from paramtool.index import SparseArray

    good = SparseArray(
        "csr",
        (3, 4),
        np.array([1.0, 2.0, 3.0], np.float32),
        np.array([0, 2, 3], np.int64),
        np.array([0, 1, 3, 3], np.int64),
    )
    path = tmp_path / "csr.params"
    paramtool.save(path, {"c": good})
    raw = path.read_bytes()
    assert (paramtool.load(path)["c"].todense() == good.todense()).all()
    with paramtool.open_params(path) as pf:
        rec = pf.records[0]
    values = rec.data_offset + 3 * 4
    cases = {  # (offset of an int64 in the file, new value): field named
        (values + 8, 5): "indptr",  # indptr 0, 5, 3, 3: decreasing
        (values + 0, -1): "indptr",  # does not start at 0
        (values + 4 * 8 + 8, 9): "indices",  # column 9 of 4
        (values + 4 * 8, -2): "indices",
    }
    for (offset, value), field in cases.items():
        bad = bytearray(raw)
        struct.pack_into("<q", bad, offset, value)
        path.write_bytes(bytes(bad))
        with paramtool.open_params(path) as pf, pytest.raises(paramtool.FormatError) as err:
            pf.read(0)
        assert err.value.field == field and err.value.record == 0, (offset, err.value)

"""The native reader and writer against the spec (shared/spec/params-format.md)."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import header, names_table, params_file, record_v0, record_v1, record_v23

import paramtool
from paramtool.errors import FormatError, UnsupportedFormatError
from paramtool.format import DTYPES

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, data: bytes, name: str = "f.params") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- the spec's worked examples (§8): byte-exact writer -----------------------------------


def test_writer_reproduces_spec_example_v2(tmp_path: Path) -> None:
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([7], dtype=np.int64)
    out = tmp_path / "tiny_v2.params"
    paramtool.save(out, {"w": w, "b": b})
    data = out.read_bytes()
    assert len(data) == 154
    assert hashlib.sha256(data).hexdigest() == (
        "6798344f72b415ef9110970fe3d2f02dc13201c43078d4cc121e193da9647aa6"
    )


def test_writer_reproduces_spec_example_v3_with_0d(tmp_path: Path) -> None:
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array(7, dtype=np.int64)  # 0-d: needs V3, chosen automatically
    out = tmp_path / "tiny_v3.params"
    paramtool.save(out, {"w": w, "b": b})
    data = out.read_bytes()
    assert len(data) == 146
    assert hashlib.sha256(data).hexdigest() == (
        "f3f9e22dfd0107c5616ae37ce9ffdc9fd325819f4bf32fc85d8f684234df54e4"
    )
    with paramtool.open_params(out) as pf:
        assert [r.version for r in pf] == [3, 3]
        assert pf.record("b").shape == ()
        assert pf.read("b").item() == 7


def test_zero_d_with_version_2_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="V3"):
        paramtool.save(tmp_path / "x.params", {"s": np.array(1.0)}, version=2)
    assert not (tmp_path / "x.params").exists()
    assert list(tmp_path.iterdir()) == []


# -- every dtype flag, every version -------------------------------------------------------

NUMPY_FLAGS = [f for f in range(12)]


@pytest.mark.parametrize("flag", NUMPY_FLAGS, ids=[DTYPES[f].name for f in NUMPY_FLAGS])
@pytest.mark.parametrize("version", [2, 3])
def test_every_numpy_dtype_round_trips(tmp_path: Path, flag: int, version: int) -> None:
    dt = np.dtype(DTYPES[flag].numpy)
    a = (np.arange(24) % 2 if dt.kind == "b" else np.arange(24) - 3).astype(dt).reshape(2, 3, 4)
    out = tmp_path / "a.params"
    paramtool.save(out, {"a": a}, version=version)
    with paramtool.open_params(out) as pf:
        rec = pf.record("a")
        assert rec.dtype is not None and rec.dtype.flag == flag
        assert rec.version == version
        assert rec.nbytes == 24 * DTYPES[flag].itemsize
        got = pf.read("a")
    assert got.dtype == dt and got.shape == (2, 3, 4)
    assert got.tobytes() == a.tobytes()


def test_bfloat16_stays_raw_words_never_float16(tmp_path: Path) -> None:
    # 1.0, 2.5, -3.0 as bfloat16 words (spec §5 hexdump: 80 3f 20 40 40 c0)
    words = np.array([0x3F80, 0x4020, 0xC040], dtype="<u2")
    bf = words.view(paramtool.bfloat16_dtype())
    out = tmp_path / "bf.params"
    paramtool.save(out, {"bf": bf})
    data = out.read_bytes()
    assert bytes.fromhex("803f2040 40c0".replace(" ", "")) in data
    with paramtool.open_params(out) as pf:
        rec = pf.record("bf")
        assert rec.dtype is not None and rec.dtype.flag == 12
        assert rec.dtype_name == "bfloat16"
        got = pf.read("bf")
    assert got.dtype == paramtool.bfloat16_dtype()
    assert got.view("<u2").tolist() == [0x3F80, 0x4020, 0xC040]
    as_f32 = (got.view("<u2").astype("<u4") << 16).view("<f4")
    assert as_f32.tolist() == [1.0, 2.5, -3.0]
    # Read as float16 these words would be 1.875, 2.03, -2.125: make sure nobody does that.
    assert got.view("<u2").view("<f2").tolist() != [1.0, 2.5, -3.0]


def test_dtypes_fixture_written_by_mxnet() -> None:
    with paramtool.open_params(DATA / "dtypes.params") as pf:
        flags = [r.dtype.flag for r in pf if r.dtype is not None]
        assert flags == [0, 1, 2, 3, 4, 5, 6, 7, 12]
        assert [r.name for r in pf] == [r.dtype_name for r in pf]
        assert pf.read("int8").tolist() == [-2, -1, 0, 1, 2]
        assert pf.read("bool").tolist() == [True, False, True, True]
        assert pf.read("float16").tolist() == [0, 1, 2, 3, 4]
        bf = pf.read("bfloat16").view("<u2")
        assert (bf.astype("<u4") << 16).view("<f4").tolist() == [1.0, 2.5, -3.0]


# -- old record versions (crafted from the spec) ---------------------------------------------


def test_v0_records_with_32bit_dims(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(5, dtype=np.float64)
    p = write(tmp_path, params_file([record_v0(a), record_v0(b)], ["arg:w", "aux:b"]))
    with paramtool.open_params(p) as pf:
        assert [r.version for r in pf] == [0, 0]
        assert [r.shape for r in pf] == [(3, 4), (5,)]
        assert pf.records[0].offset == 24
        assert pf.records[0].data_offset == 24 + 4 + 8 + 12
        np.testing.assert_array_equal(pf.read("arg:w"), a)
        np.testing.assert_array_equal(pf.read(1), b)


def test_v1_records(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.int32).reshape(1, 2, 3)
    p = write(tmp_path, params_file([record_v1(a)], ["dense0_weight"]))
    with paramtool.open_params(p) as pf:
        rec = pf.record(0)
        assert (rec.version, rec.shape, rec.dtype_name, rec.context_name) == (
            1,
            (1, 2, 3),
            "int32",
            "cpu(0)",
        )
        np.testing.assert_array_equal(pf.read(0), a)


def test_mixed_versions_in_one_file(tmp_path: Path) -> None:
    arrays = [np.full((2,), i, dtype=np.float32) for i in range(4)]
    recs = [
        record_v0(arrays[0]),
        record_v1(arrays[1]),
        record_v23(arrays[2], 2),
        record_v23(arrays[3], 3),
    ]
    p = write(tmp_path, params_file(recs, ["a", "b", "c", "d"]))
    with paramtool.open_params(p) as pf:
        assert [r.version for r in pf] == [0, 1, 2, 3]
        for i in range(4):
            assert pf.read(i).tolist() == [i, i]


def test_unnamed_list(tmp_path: Path) -> None:
    p = write(tmp_path, params_file([record_v23(np.zeros(3, np.int8))]))
    with paramtool.open_params(p) as pf:
        assert not pf.named
        assert pf.names == [None]


def test_empty_list_is_32_bytes(tmp_path: Path) -> None:
    paramtool.save(tmp_path / "e.params", {})
    assert (tmp_path / "e.params").read_bytes() == header(0) + struct.pack("<Q", 0)
    with paramtool.open_params(tmp_path / "e.params") as pf:
        assert len(pf) == 0


def test_v2_none_record_and_context(tmp_path: Path) -> None:
    none = struct.pack("<Iii", 0xF993FAC9, 0, 0)
    gpu = record_v23(np.ones(2, np.float32), ctx=(2, 1))
    p = write(tmp_path, params_file([none, gpu], ["n", "g"]))
    with paramtool.open_params(p) as pf:
        assert pf.record("n").is_none and pf.record("n").nbytes == 0
        assert pf.record("g").context_name == "gpu(1)"


def test_duplicate_names_lookup_keeps_the_last(tmp_path: Path) -> None:
    recs = [record_v23(np.zeros(1, np.float32)), record_v23(np.ones(1, np.float32))]
    p = write(tmp_path, params_file(recs, ["x", "x"]))
    with paramtool.open_params(p) as pf:
        assert pf.read("x").tolist() == [1.0]


def test_trailing_bytes_are_reported_not_fatal(tmp_path: Path) -> None:
    p = write(tmp_path, params_file([record_v23(np.zeros(1, np.float32))], ["x"]) + b"junk!!!")
    with paramtool.open_params(p) as pf:
        assert pf.layout.trailing_bytes == 7


def test_open_reads_headers_only(tmp_path: Path) -> None:
    big = np.zeros((256, 1024), dtype=np.float32)  # 1 MiB per array
    out = tmp_path / "big.params"
    paramtool.save(out, {f"w{i}": big for i in range(4)})
    with paramtool.open_params(out) as pf:
        assert pf.bytes_read < 400  # 4 record headers + names, not 4 MiB
        assert sum(r.nbytes for r in pf) == 4 << 20
        pf.read("w2")
        assert pf.bytes_read >= 1 << 20


# -- invalid input ---------------------------------------------------------------------------

FOREIGN = {
    "empty": (b"", "empty file"),
    "html": (b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
    "lfs": (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n",
        "Git LFS pointer",
    ),
    "text": (b"hello, these are not weights\n", "plain text"),
    "json": (b'{"nodes": []}', "JSON"),
    "zip": (b"PK\x03\x04" + b"\x00" * 40, "ZIP archive"),
    "npy": (b"\x93NUMPY\x01\x00" + b"\x00" * 40, "npy"),
    "binary": (bytes(range(200, 256)) * 2, "expected the list magic"),
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_not_a_params_file(tmp_path: Path, kind: str) -> None:
    data, phrase = FOREIGN[kind]
    p = write(tmp_path, data)
    with pytest.raises(FormatError) as e:
        paramtool.open_params(p)
    assert phrase in str(e.value)
    assert str(p) in str(e.value)
    assert isinstance(e.value, UnsupportedFormatError) == (kind in ("zip", "npy"))


def _bad(tmp_path: Path, data: bytes) -> FormatError:
    p = write(tmp_path, data)
    with pytest.raises(FormatError) as e:
        paramtool.open_params(p)
    return e.value


def test_name_count_must_be_zero_or_n(tmp_path: Path) -> None:
    recs = [record_v23(np.zeros(1, np.float32))] * 2
    data = header(2) + b"".join(recs) + names_table([b"a"])
    err = _bad(tmp_path, data)
    assert err.field == "name count"
    assert "neither 0" in err.message


def test_unknown_dtype_flag_names_record_and_offset(tmp_path: Path) -> None:
    good = record_v23(np.zeros(1, np.float32))
    bad = record_v23(np.zeros(1, np.float32), flag=13)
    err = _bad(tmp_path, params_file([good, bad], ["a", "b"]))
    assert (err.record, err.field) == (1, "type_flag")
    assert err.offset == 24 + len(good) + 4 + 4 + 4 + 8 + 8
    assert "record 1" in str(err) and "byte" in str(err)


def test_negative_dim_and_ndim(tmp_path: Path) -> None:
    rec = struct.pack("<Iiiq", 0xF993FAC9, 0, 1, -1) + struct.pack("<iii", 1, 0, 0)
    assert _bad(tmp_path, params_file([rec], ["a"])).field == "dims"
    rec = struct.pack("<Iii", 0xF993FAC9, 0, -1)
    assert _bad(tmp_path, params_file([rec], ["a"])).field == "ndim"
    rec = struct.pack("<Iii", 0xF993FAC9, 0, 1 << 30)
    assert _bad(tmp_path, params_file([rec], ["a"])).field == "ndim"


def test_huge_counts_fail_without_allocating(tmp_path: Path) -> None:
    err = _bad(tmp_path, header(2**63) + b"\x00" * 16)
    assert err.field == "array count"
    rec = record_v23(np.zeros(1, np.float32))
    err = _bad(tmp_path, header(1) + rec + struct.pack("<QQ", 1, 2**62))
    assert err.field == "name length"
    huge = struct.pack("<Iii2q", 0xF993FAC9, 0, 2, 2**31, 2**31) + struct.pack("<iii", 1, 0, 1)
    assert _bad(tmp_path, params_file([huge], ["a"])).field == "data"


def test_unknown_storage_type_and_sparse_in_v3(tmp_path: Path) -> None:
    rec = struct.pack("<Iii", 0xF993FAC9, 7, 0)
    assert _bad(tmp_path, params_file([rec], ["a"])).field == "stype"
    rec = struct.pack("<Iii", 0xF993FACA, 1, 0)  # sparse in a V3 record: MXNet refuses it
    err = _bad(tmp_path, params_file([rec], ["a"]))
    assert err.field == "stype" and "V3" in err.message


def _shape(*dims: int) -> bytes:
    return struct.pack(f"<i{len(dims)}q", len(dims), *dims)


def _spec_csr(stored_storage: int) -> bytes:
    """The spec's csr example (§8) [[0,5,0],[0,0,0],[6,0,7]], with the storage shape written
    as ``(stored_storage,)`` (3 is right; 0 is the stale shape of §7.3)."""
    return (
        struct.pack("<Ii", 0xF993FAC9, 2)
        + _shape(stored_storage)
        + _shape(3, 3)
        + struct.pack("<iii", 1, 0, 0)
        + struct.pack("<i", 6)
        + _shape(4)
        + struct.pack("<i", 6)
        + _shape(3)
        + np.array([5, 6, 7], "<f4").tobytes()
        + np.array([0, 1, 1, 3], "<i8").tobytes()
        + np.array([1, 0, 2], "<i8").tobytes()
    )


def test_sparse_records_from_the_spec(tmp_path: Path) -> None:
    # spec §8 sparse example: r = row_sparse (4,2) rows 1,3 = [1,2],[3,4];
    # c = csr [[0,5,0],[0,0,0],[6,0,7]]
    rsp = (
        struct.pack("<Ii", 0xF993FAC9, 1)
        + _shape(2, 2)
        + _shape(4, 2)
        + struct.pack("<iii", 1, 0, 0)
        + struct.pack("<i", 6)
        + _shape(2)
        + np.array([1, 2, 3, 4], "<f4").tobytes()
        + np.array([1, 3], "<i8").tobytes()
    )
    csr = _spec_csr(stored_storage=3)
    assert (len(rsp), len(csr)) == (108, 152)  # record sizes given by the spec (§7.2)
    data = params_file([rsp, csr], ["r", "c"])
    assert len(data) == 310
    p = write(tmp_path, data)
    with paramtool.open_params(p) as pf:
        r, c = pf.record("r"), pf.record("c")
        assert (r.stype_name, r.shape, r.storage_shape, r.stored_size) == (
            "row_sparse",
            (4, 2),
            (2, 2),
            4,
        )
        assert (c.stype_name, c.shape, c.storage_shape, c.stored_size) == ("csr", (3, 3), (3,), 3)
        assert r.nbytes == 16 + 16 and c.nbytes == 12 + 32 + 24
        dense_r = pf.read("r").todense()
        dense_c = pf.read("c").todense()
    np.testing.assert_array_equal(dense_r, [[0, 0], [1, 2], [0, 0], [3, 4]])
    np.testing.assert_array_equal(dense_c, [[0, 5, 0], [0, 0, 0], [6, 0, 7]])
    # the writer gives the same bytes back
    out = tmp_path / "again.params"
    paramtool.save(out, paramtool.load(p))
    assert out.read_bytes() == data


def test_stale_sparse_storage_shape_is_healed(tmp_path: Path) -> None:
    # spec §7.3: a csr saved with storage shape (0,) although it holds 3 values
    csr = _spec_csr(stored_storage=0)
    after = record_v23(np.arange(2, dtype=np.float32))
    p = write(tmp_path, params_file([csr, after], ["c", "next"]))
    with paramtool.open_params(p) as pf:
        assert pf.record("c").storage_shape == (3,)
        assert pf.read("next").tolist() == [0, 1]  # the stream stays in step
        np.testing.assert_array_equal(pf.read("c").todense()[2], [6, 0, 7])


def test_load_returns_dict_or_list_like_mxnet(tmp_path: Path) -> None:
    recs = [
        record_v23(np.zeros(1, np.float32)),
        record_v23(np.ones(1, np.float32)),
        record_v23(np.full(1, 2, np.float32)),
    ]
    p = write(tmp_path, params_file(recs, ["x", "y", "x"]))
    got = paramtool.load(p)
    assert isinstance(got, dict)
    assert list(got) == ["x", "y"] and got["x"].tolist() == [2.0]  # first place, last value
    p2 = write(tmp_path, params_file(recs), "list.params")
    assert [a.tolist() for a in paramtool.load(p2)] == [[0.0], [1.0], [2.0]]


def test_mmap_read(tmp_path: Path) -> None:
    a = np.arange(1000, dtype=np.float64).reshape(10, 100)
    p = tmp_path / "m.params"
    paramtool.save(p, {"a": a})
    with paramtool.open(p) as pf:
        m = pf.read("a", mmap=True)
        assert isinstance(m, np.memmap) and not m.flags.writeable
        np.testing.assert_array_equal(m, a)


def _sample_files() -> list[bytes]:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    return [
        params_file([record_v23(a), record_v23(a[0], 3)], ["w", "b"]),
        params_file([record_v0(a), record_v1(a)], ["arg:x", "aux:y"]),
        (DATA / "tutorial-model0.params").read_bytes()[:600],
    ]


@pytest.mark.parametrize("sample", range(3))
def test_truncated_at_every_offset(tmp_path: Path, sample: int) -> None:
    data = _sample_files()[sample]
    p = tmp_path / "t.params"
    for cut in range(len(data)):
        p.write_bytes(data[:cut])
        with pytest.raises(FormatError) as e:
            paramtool.open_params(p)
        msg = str(e.value)
        assert msg.startswith(str(p)) and "\n" not in msg, (cut, msg)
        if cut >= 8:
            assert e.value.offset is not None and e.value.offset <= cut, (cut, msg)
            assert e.value.field is not None, (cut, msg)


def test_truncated_real_file_names_record_and_field(tmp_path: Path) -> None:
    data = (DATA / "tutorial-model0.params").read_bytes()
    with paramtool.open_params(DATA / "tutorial-model0.params") as pf:
        rec = pf.record(2)
    err = _bad(tmp_path, data[: rec.data_offset + 10])
    assert (err.record, err.field) == (2, "data")
    assert "needs 1600 bytes" in err.message


def test_read_layout_accepts_any_binary_stream() -> None:
    from paramtool.format import read_layout

    data = params_file([record_v23(np.zeros(2, np.float32))], ["a"])
    layout, nread = read_layout(io.BytesIO(data), "<mem>", len(data))
    assert layout.records[0].name == "a"
    assert layout.names_end == len(data)
    assert nread == len(data) - 8  # everything but the 8 data bytes

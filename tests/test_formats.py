"""Every record version, dtype, context, storage type and container, read and written.

Covers the reading and writing guarantees of the ``.params`` format work (see
``shared/spec/params-format.md``; section numbers below refer to it):

* reading: mixed record versions, V2 "none" records, V3 0-d scalars, zero-size arrays, every
  dtype flag 0-12, saved contexts, row_sparse/csr records (with the stale storage shape of
  §7.3), MXNet 2.x npz files, awkward names, trailing bytes, MXNet's own ``legacy_ndarray.v0``;
* writing: decode + re-encode through the Python API reproduces MXNet-written files byte for
  byte, the version rules of new files, contexts written as cpu(0);
* a cross-check matrix against MXNet 1.9.1 (record versions x dtypes x shapes x storage types).

Files are crafted here with :mod:`struct`, straight from the spec (no paramtool code), or written
by MXNet 1.9.1. Tests marked ``mxnet`` use MXNet as the oracle and skip where ``import mxnet``
fails (e.g. Python >= 3.12); everything else runs without MXNet. MXNet is imported once per module.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from click.testing import CliRunner, Result
from helpers import FLAGS

import paramtool
from paramtool import SparseArray
from paramtool.cli import cli

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REALDATA_MISSING = "../shared/realdata not found"
MXNET_MISSING = "MXNet 1.9.1 not importable here"

#: MXNet 1.9.1's numpy dtype for bfloat16 (spec §5).
BF16 = np.dtype([("bfloat16", "<u2")])

# ------------------------------------------------------------------------------------------
# Byte builders, from the spec (§2, §3, §7)

MAGIC = {1: 0xF993FAC8, 2: 0xF993FAC9, 3: 0xF993FACA}
#: numpy dtype used to decode each flag (bfloat16 as MXNet's structured dtype).
FLAG_DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
    8: np.dtype("<i2"),
    9: np.dtype("<u2"),
    10: np.dtype("<u4"),
    11: np.dtype("<u8"),
    12: BF16,
}
CPU0 = (1, 0)


def flag_of(dtype: np.dtype) -> int:
    return 12 if dtype.names == ("bfloat16",) else FLAGS[dtype.name]


def shape_bytes(shape: tuple[int, ...]) -> bytes:
    """V1-V3 shape: i32 ndim, ndim x i64 dims (§3.3)."""
    return struct.pack(f"<i{len(shape)}q", len(shape), *shape)


def dense_record(
    a: np.ndarray, version: int = 2, ctx: tuple[int, int] = CPU0, flag: int | None = None
) -> bytes:
    """One dense record of any version (§3.2, §3.4, §3.5)."""
    a = np.asarray(a, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    flag = flag_of(a.dtype) if flag is None else flag
    if version == 0:
        head = struct.pack(f"<I{a.ndim}I", a.ndim, *a.shape)
    elif version == 1:
        head = struct.pack("<I", MAGIC[1]) + shape_bytes(a.shape)
    else:
        head = struct.pack("<Ii", MAGIC[version], 0) + shape_bytes(a.shape)
    return head + struct.pack("<iii", *ctx, flag) + a.tobytes()


def none_record(version: int) -> bytes:
    """A "none" record: ndim 0 and nothing after it (V2 §3.2; V1 §3.4; V0 §3.5)."""
    if version == 0:
        return struct.pack("<I", 0)
    if version == 1:
        return struct.pack("<Ii", MAGIC[1], 0)
    return struct.pack("<Iii", MAGIC[2], 0, 0)


def sparse_record(
    stype: str,
    shape: tuple[int, ...],
    data: np.ndarray,
    aux: list[np.ndarray],
    *,
    storage_shape: tuple[int, ...] | None = None,
    ctx: tuple[int, int] = CPU0,
) -> bytes:
    """A V2 row_sparse (aux = [row ids]) or csr (aux = [indptr, indices]) record (§7.2)."""
    stored = data.shape if storage_shape is None else storage_shape
    out = struct.pack("<Ii", MAGIC[2], {"row_sparse": 1, "csr": 2}[stype])
    out += shape_bytes(stored) + shape_bytes(shape)
    out += struct.pack("<iii", *ctx, flag_of(data.dtype))
    for a in aux:
        out += struct.pack("<i", flag_of(a.dtype)) + shape_bytes(a.shape)
    return out + data.tobytes() + b"".join(a.tobytes() for a in aux)


def params_bytes(records: list[bytes], names: list[bytes] | None, trailing: bytes = b"") -> bytes:
    """The list container (§2): header, records, name table, then any trailing junk."""
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    names = names or []
    out += struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n
    return out + trailing


def write_params(
    path: Path, records: list[bytes], names: list[str] | list[bytes] | None, trailing: bytes = b""
) -> Path:
    raw = None if names is None else [n.encode() if isinstance(n, str) else n for n in names]
    path.write_bytes(params_bytes(records, raw, trailing))
    return path


# ------------------------------------------------------------------------------------------
# Helpers


def run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def ls_json(path: Path) -> tuple[dict[str, Any], str]:
    result = run("ls", path, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def ls_table(path: Path) -> tuple[list[str], str]:
    result = run("ls", path)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines(), result.stderr


def versions_of(path: Path) -> list[int]:
    with paramtool.open(path) as pf:
        return [r.version for r in pf]


def assert_same_array(got: Any, want: np.ndarray, what: str = "") -> None:
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.tobytes() == want.tobytes(), f"{what}: bytes differ"


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def dense_values(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Deterministic values of a dtype: small negatives, zeros and fractions where possible.
    bfloat16 values are exact in bfloat16 (so truncation and rounding agree)."""
    n = math.prod(shape)
    base = (np.arange(n) % 7 - 3).reshape(shape)
    if dtype == "bool":
        return base > 0
    if dtype == "bfloat16":
        f32 = (base.ravel() * 0.5).astype("<f4")  # 1-d: numpy ops on 0-d arrays give scalars
        return (f32.view("<u4") >> 16).astype("<u2").view(BF16).reshape(shape)
    if dtype.startswith("float"):
        return (base * 0.5).astype(dtype)
    if dtype.startswith("uint"):
        return np.abs(base).astype(dtype)
    return base.astype(dtype)


# ------------------------------------------------------------------------------------------
# MXNet, imported once


class MxArray(NamedTuple):
    """One array as ``mx.nd.load`` gives it, converted to numpy."""

    stype: str
    dense: np.ndarray  # asnumpy()
    data: np.ndarray | None = None  # sparse only: .data, .indices, .indptr
    indices: np.ndarray | None = None
    indptr: np.ndarray | None = None


def mx_load(mx: Any, path: Path, np_shape: bool = False) -> tuple[list[str | None], list[MxArray]]:
    """``mx.nd.load`` (in the given shape mode): names (None for a list) and arrays."""
    with mx.util.np_shape(np_shape):
        loaded = mx.nd.load(str(path))
        items = list(loaded.items()) if isinstance(loaded, dict) else [(None, a) for a in loaded]
        out = []
        for _, a in items:
            if a.stype == "default":
                out.append(MxArray("default", a.asnumpy()))
            else:
                indptr = a.indptr.asnumpy() if a.stype == "csr" else None
                out.append(
                    MxArray(a.stype, a.asnumpy(), a.data.asnumpy(), a.indices.asnumpy(), indptr)
                )
    return [k for k, _ in items], out


def mx_load_fails_in_both_modes(mx: Any, path: Path) -> list[str]:
    errors = []
    for np_shape in (False, True):
        with pytest.raises(mx.base.MXNetError) as e, mx.util.np_shape(np_shape):
            mx.nd.load(str(path))
        errors.append(str(e.value))
    return errors


def assert_matches_mxnet(native: Any, want: MxArray, what: str = "") -> None:
    """A native array (numpy or SparseArray) equals what MXNet loaded: dense values via
    ``todense()`` vs ``asnumpy()``, and for sparse also data, indices and indptr."""
    if want.stype == "default":
        assert not isinstance(native, SparseArray), what
        assert_same_array(native, want.dense, what)
        return
    assert isinstance(native, SparseArray), what
    assert native.stype == want.stype, what
    assert native.shape == want.dense.shape, what
    assert_same_array(native.todense(), want.dense, f"{what} todense")
    assert want.data is not None and want.indices is not None
    assert_same_array(native.data, want.data, f"{what} data")
    assert_same_array(native.indices, want.indices, f"{what} indices")
    if want.stype == "csr":
        assert native.indptr is not None and want.indptr is not None
        assert_same_array(native.indptr, want.indptr, f"{what} indptr")


# ==========================================================================================
# Reading
# ==========================================================================================

A23 = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_mixed_versions_are_read_and_ls_warns(tmp_path: Path) -> None:
    arrays = [A23, A23 + 10, np.arange(4, dtype=np.int64), np.float64(2.5) * np.ones((1, 2))]
    p = write_params(
        tmp_path / "mixed.params",
        [dense_record(a, v) for a, v in zip(arrays, [0, 1, 2, 3], strict=True)],
        ["v0", "v1", "v2", "v3"],
    )
    with paramtool.open(p) as pf:
        assert [r.version for r in pf] == [0, 1, 2, 3]
        for name, a in zip(["v0", "v1", "v2", "v3"], arrays, strict=True):
            assert_same_array(pf.read(name), a, name)
    lines, err = ls_table(p)
    assert "records V0/V1/V2/V3" in lines[-1]
    assert "MXNet 1.9.1 cannot load" in err and "V3" in err
    report, err_json = ls_json(p)
    assert [q["version"] for q in report["parameters"]] == [0, 1, 2, 3]
    assert report["record_versions"] == [0, 1, 2, 3]
    assert "MXNet 1.9.1 cannot load" in err_json


def test_v2_v3_mix_warns_but_old_versions_with_v2_do_not(tmp_path: Path) -> None:
    p23 = write_params(
        tmp_path / "v23.params", [dense_record(A23, 2), dense_record(A23, 3)], ["a", "b"]
    )
    _, err = ls_table(p23)
    assert "MXNet 1.9.1 cannot load" in err
    # V0, V1 and V2 records in one file: MXNet 1.9.1 reads each in legacy mode, so no warning
    p012 = write_params(
        tmp_path / "v012.params",
        [dense_record(A23, 0), dense_record(A23, 1), dense_record(A23, 2)],
        ["a", "b", "c"],
    )
    _, err = ls_table(p012)
    assert "cannot load" not in err


@pytest.mark.mxnet
def test_mxnet_cannot_load_a_v2_v3_mix_in_either_mode(tmp_path: Path, mx: Any) -> None:
    for records in (
        [dense_record(A23, 2), dense_record(A23, 3)],
        [dense_record(A23, 0), dense_record(A23, 1), dense_record(A23, 2), dense_record(A23, 3)],
    ):
        p = write_params(tmp_path / "mixed.params", records, [f"r{i}" for i in range(len(records))])
        errors = mx_load_fails_in_both_modes(mx, p)
        assert all("is_np_shape" in e for e in errors)
        assert len(paramtool.load(p)) == len(records)  # while the native reader reads it


@pytest.mark.mxnet
def test_mxnet_loads_a_v0_v1_v2_mix_like_the_native_reader(tmp_path: Path, mx: Any) -> None:
    arrays = [A23, np.arange(5, dtype=np.float64), np.arange(4, dtype=np.int32)]
    p = write_params(
        tmp_path / "v012.params",
        [dense_record(a, v) for a, v in zip(arrays, [0, 1, 2], strict=True)],
        ["a", "b", "c"],
    )
    names, loaded = mx_load(mx, p)
    native = paramtool.load(p)
    assert isinstance(native, dict) and list(native) == names == ["a", "b", "c"]
    for (name, got), want in zip(native.items(), loaded, strict=True):
        assert_matches_mxnet(got, want, name)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_none_records_end_early_and_read_as_dtype_none(tmp_path: Path, version: int) -> None:
    p = write_params(
        tmp_path / "none.params",
        [dense_record(A23, version), none_record(version), dense_record(A23 + 1, version)],
        ["before", "n", "after"],
    )
    with paramtool.open(p) as pf:
        rec = pf.record("n")
        assert rec.version == version
        assert rec.is_none and rec.dtype is None and rec.dtype_name == "none"
        assert rec.shape == () and rec.context is None and rec.size == 0 and rec.nbytes == 0
        assert rec.end - rec.offset == len(none_record(version))
        assert_same_array(pf.read("after"), A23 + 1)  # the stream stays in sync
    report, err = ls_json(p)
    entry = report["parameters"][1]
    assert (entry["name"], entry["dtype"], entry["shape"], entry["elements"]) == (
        "n",
        "none",
        [],
        0,
    )
    assert "MXNet 1.9.1 cannot load" in err
    assert "misreads" in err if version in (0, 1) else "refuses" in err


@pytest.mark.mxnet
def test_mxnet_refuses_a_v2_none_record(tmp_path: Path, mx: Any) -> None:
    p = write_params(tmp_path / "none.params", [none_record(2), dense_record(A23)], ["n", "a"])
    with pytest.raises(Exception, match="storage type"):
        mx.nd.load(str(p))


def test_v3_zero_d_scalar(tmp_path: Path) -> None:
    p = write_params(
        tmp_path / "s.params",
        [dense_record(np.array(1.5, np.float32), 3), dense_record(np.array(7, np.int64), 3)],
        ["f", "i"],
    )
    with paramtool.open(p) as pf:
        assert [(r.version, r.shape, r.size) for r in pf] == [(3, (), 1), (3, (), 1)]
        assert pf.read("f").shape == () and pf.read("f").item() == 1.5
        assert pf.read("i").dtype == np.int64 and pf.read("i").item() == 7
    report, err = ls_json(p)
    assert [(q["shape"], q["elements"], q["nbytes"]) for q in report["parameters"]] == [
        ([], 1, 4),
        ([], 1, 8),
    ]
    assert "Warning" not in err


@pytest.mark.parametrize("version", [2, 3])
def test_zero_size_arrays(tmp_path: Path, version: int) -> None:
    arrays = {
        "e1": np.zeros((0,), np.float32),
        "e2": np.zeros((2, 0), np.int64),
        "e3": np.zeros((0, 3, 4), np.float16),
        "after": A23,
    }
    p = write_params(
        tmp_path / "z.params", [dense_record(a, version) for a in arrays.values()], list(arrays)
    )
    with paramtool.open(p) as pf:
        assert [r.shape for r in pf] == [a.shape for a in arrays.values()]
        assert [r.nbytes for r in pf][:3] == [0, 0, 0]
        for name, a in arrays.items():
            assert_same_array(pf.read(name), a, name)
            assert_same_array(pf.read(name, mmap=True), a, name)
    report, _ = ls_json(p)
    assert [q["shape"] for q in report["parameters"]] == [[0], [2, 0], [0, 3, 4], [2, 3]]
    assert [q["elements"] for q in report["parameters"]] == [0, 0, 0, 6]


def _flag_values(flag: int) -> np.ndarray:
    dt = FLAG_DTYPES[flag]
    if flag == 7:
        return np.array([[True, False, True], [False, False, True]])
    if flag == 12:  # 1.0, 2.5, -3.0 ... as bfloat16 words (§5)
        return np.array([0x3F80, 0x4020, 0xC040, 0, 0x8000, 0x7F80], "<u2").view(BF16).reshape(2, 3)
    if dt.kind == "u":  # the top of the range
        return (np.array(np.iinfo(dt).max, dt) - np.arange(6).astype(dt)).reshape(2, 3)
    if dt.kind == "i":  # the bottom of the range
        return (np.array(np.iinfo(dt).min, dt) + np.arange(6).astype(dt)).reshape(2, 3)
    return (np.arange(6) - 2.25).astype(dt).reshape(2, 3)


ALL_FLAGS = list(range(13))
FLAG_NAMES = {v: k for k, v in FLAGS.items()}
FLAG_IDS = [f"{f}-{FLAG_NAMES[f]}" for f in ALL_FLAGS]


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("flag", ALL_FLAGS, ids=FLAG_IDS)
def test_every_dtype_flag_is_read(tmp_path: Path, flag: int, version: int) -> None:
    a = _flag_values(flag)
    p = write_params(tmp_path / "f.params", [dense_record(a, version, flag=flag)], ["a"])
    with paramtool.open(p) as pf:
        rec = pf.record("a")
        assert rec.dtype is not None and rec.dtype.flag == flag
        assert rec.nbytes == a.nbytes
        assert_same_array(pf.read("a"), a)
    report, err = ls_json(p)
    name = FLAG_NAMES[flag]
    assert report["parameters"][0]["dtype"] == name
    if 8 <= flag <= 11:
        assert "MXNet 1.9.1 cannot load" in err and name in err
    else:
        assert "Warning" not in err


def test_ls_names_every_mxnet2_only_dtype(tmp_path: Path) -> None:
    records = [dense_record(_flag_values(f), 2, flag=f) for f in (8, 9, 10, 11, 0)]
    p = write_params(tmp_path / "f.params", records, ["a", "b", "c", "d", "e"])
    _, err = ls_table(p)
    assert "MXNet 1.9.1 cannot load" in err
    for name in ("int16", "uint16", "uint32", "uint64"):
        assert name in err


@pytest.mark.mxnet
@pytest.mark.parametrize("flag", ALL_FLAGS, ids=FLAG_IDS)
def test_mxnet_loads_flags_0_to_7_and_12_and_refuses_8_to_11(
    tmp_path: Path, flag: int, mx: Any
) -> None:
    a = _flag_values(flag)
    p = write_params(tmp_path / "f.params", [dense_record(a, 2, flag=flag)], ["a"])
    if 8 <= flag <= 11:
        with pytest.raises(mx.base.MXNetError, match=f"Unknown type enum {flag}"):
            mx.nd.load(str(p))
        return
    _, (want,) = mx_load(mx, p)
    assert_matches_mxnet(paramtool.load(p)["a"], want)


CONTEXTS = {"c0": (1, 0), "c3": (1, 3), "g1": (2, 1), "pinned": (3, 0), "shared": (5, 7)}
CONTEXT_NAMES = ["cpu(0)", "cpu(3)", "gpu(1)", "cpu_pinned(0)", "cpu_shared(7)"]


def test_saved_contexts_are_shown_by_ls(tmp_path: Path) -> None:
    p = write_params(
        tmp_path / "ctx.params",
        [dense_record(A23 + i, 2, ctx=c) for i, c in enumerate(CONTEXTS.values())],
        list(CONTEXTS),
    )
    with paramtool.open(p) as pf:
        assert [r.context for r in pf] == list(CONTEXTS.values())
        assert [r.context_name for r in pf] == CONTEXT_NAMES
        for i, name in enumerate(CONTEXTS):
            assert_same_array(pf.read(name), A23 + i)  # never needed for decoding
    lines, _ = ls_table(p)
    assert lines[0].split()[-1] == "context"
    for line, name, ctx in zip(lines[1:6], CONTEXTS, CONTEXT_NAMES, strict=True):
        assert line.split()[0] == name and line.split()[-1] == ctx
    report, _ = ls_json(p)
    assert [q["context"] for q in report["parameters"]] == CONTEXT_NAMES
    # all cpu(0): no context column
    plain = write_params(tmp_path / "plain.params", [dense_record(A23, 2)], ["a"])
    lines, _ = ls_table(plain)
    assert "context" not in lines[0]
    report, _ = ls_json(plain)
    assert report["parameters"][0]["context"] == "cpu(0)"


@pytest.mark.mxnet
def test_contexts_written_by_mxnet_are_shown(tmp_path: Path, mx: Any) -> None:
    arrays = {
        "a": mx.nd.array(A23, ctx=mx.cpu(0)),
        "b": mx.nd.array(A23, ctx=mx.cpu(3)),
        "c": mx.nd.array(A23, ctx=mx.cpu_pinned(0)),
    }
    mx.nd.waitall()
    p = tmp_path / "ctx.params"
    mx.nd.save(str(p), arrays)
    with paramtool.open(p) as pf:
        assert [r.context for r in pf] == [(1, 0), (1, 3), (3, 0)]
    lines, _ = ls_table(p)
    assert lines[0].split()[-1] == "context"
    assert [ln.split()[-1] for ln in lines[1:4]] == ["cpu(0)", "cpu(3)", "cpu_pinned(0)"]
    # MXNet (CPU build) ignores the stored context on load, so its values equal the native ones
    names, loaded = mx_load(mx, p)
    native = paramtool.load(p)
    assert isinstance(native, dict)
    for name, want in zip(names, loaded, strict=True):
        assert name is not None
        assert_matches_mxnet(native[name], want, name)


# -- sparse ------------------------------------------------------------------------------------

RSP_DATA = np.array([[1, 2], [3, 4]], np.float32)
RSP_ROWS = np.array([1, 3], np.int64)
CSR_DATA = np.array([5, 6, 7], np.float32)
CSR_INDPTR = np.array([0, 1, 1, 3], np.int64)
CSR_INDICES = np.array([1, 0, 2], np.int64)
CSR_DENSE = np.array([[0, 5, 0], [0, 0, 0], [6, 0, 7]], np.float32)
RSP_DENSE = np.array([[0, 0], [1, 2], [0, 0], [3, 4]], np.float32)


def test_crafted_sparse_records_are_read(tmp_path: Path) -> None:
    p = write_params(
        tmp_path / "sp.params",
        [
            sparse_record("row_sparse", (4, 2), RSP_DATA, [RSP_ROWS]),
            sparse_record("csr", (3, 3), CSR_DATA, [CSR_INDPTR, CSR_INDICES]),
            sparse_record(
                "row_sparse", (3, 2), np.zeros((0, 2), np.float32), [np.zeros(0, np.int64)]
            ),
            dense_record(A23),
        ],
        ["r", "c", "zero", "after"],
    )
    with paramtool.open(p) as pf:
        assert [r.stype_name for r in pf] == ["row_sparse", "csr", "row_sparse", "default"]
        assert [r.storage_shape for r in pf] == [(2, 2), (3,), (0, 2), None]
        # spec §7.2 record sizes: row_sparse (4,2) with 2 rows -> 108, csr (3,3) nnz 3 -> 152
        assert [r.end - r.offset for r in pf][:2] == [108, 152]
    got = paramtool.load(p)
    assert isinstance(got, dict)
    r, c, zero = got["r"], got["c"], got["zero"]
    assert isinstance(r, SparseArray) and isinstance(c, SparseArray)
    assert_same_array(r.todense(), RSP_DENSE)
    assert_same_array(r.indices, RSP_ROWS)
    assert r.indptr is None
    assert_same_array(c.todense(), CSR_DENSE)
    assert_same_array(c.indptr, CSR_INDPTR)
    assert_same_array(c.indices, CSR_INDICES)
    assert_same_array(zero.todense(), np.zeros((3, 2), np.float32))
    assert_same_array(got["after"], A23)
    report, _ = ls_json(p)
    params = report["parameters"]
    assert [q["stype"] for q in params] == ["row_sparse", "csr", "row_sparse", "default"]
    assert [q["stored"] for q in params] == [4, 3, 0, None]
    assert [q["shape"] for q in params] == [[4, 2], [3, 3], [3, 2], [2, 3]]
    assert params[0]["nbytes"] == 4 * 4 + 2 * 8  # values + row ids
    assert params[1]["nbytes"] == 3 * 4 + 4 * 8 + 3 * 8  # values + indptr + indices
    lines, _ = ls_table(p)
    assert lines[0].split()[-2:] == ["stype", "stored"]
    assert lines[1].split()[-2:] == ["row_sparse", "4"]
    assert lines[2].split()[-2:] == ["csr", "3"]
    assert lines[3].split()[-2:] == ["row_sparse", "0"]
    assert lines[4].split()[-1] == "default"


def _stale_csr_file(path: Path) -> Path:
    """The §7.3 quirk: a csr (3,3) with 3 values whose stored storage shape is (0,) while the
    aux shapes (4,) and (3,) are right; a dense record follows to show the stream stays in sync.
    Then the same quirk for row_sparse (storage shape (0, 2) and (0,), row ids (2,)).
    """
    return write_params(
        path,
        [
            sparse_record("csr", (3, 3), CSR_DATA, [CSR_INDPTR, CSR_INDICES], storage_shape=(0,)),
            dense_record(A23),
            sparse_record("row_sparse", (4, 2), RSP_DATA, [RSP_ROWS], storage_shape=(0, 2)),
            sparse_record("row_sparse", (4, 2), RSP_DATA, [RSP_ROWS], storage_shape=(0,)),
            dense_record(A23 + 1),
        ],
        ["c", "after", "r", "r1", "end"],
    )


def test_stale_csr_storage_shape_is_healed(tmp_path: Path) -> None:
    p = _stale_csr_file(tmp_path / "stale.params")
    with paramtool.open(p) as pf:
        rec = pf.record("c")
        assert rec.storage_shape_stored == (0,)
        assert rec.storage_shape == (3,)
        assert [s for _, s in rec.aux] == [(4,), (3,)]
        c = pf.read("c")
        assert_same_array(pf.read("after"), A23)
        assert [pf.record(n).storage_shape for n in ("r", "r1")] == [(2, 2), (2, 2)]
        for n in ("r", "r1"):
            assert_same_array(pf.read(n).todense(), RSP_DENSE, n)
        assert_same_array(pf.read("end"), A23 + 1)
    assert_same_array(c.todense(), CSR_DENSE)
    assert_same_array(c.data, CSR_DATA)
    report, _ = ls_json(p)
    assert [q["stored"] for q in report["parameters"]] == [3, None, 4, 4, None]
    # re-encoding writes the right storage shapes
    out = tmp_path / "healed.params"
    paramtool.save(out, paramtool.load(p))
    with paramtool.open(out) as pf:
        assert pf.record("c").storage_shape_stored == (3,)
    rsp = sparse_record("row_sparse", (4, 2), RSP_DATA, [RSP_ROWS])
    assert out.read_bytes() == params_bytes(
        [
            sparse_record("csr", (3, 3), CSR_DATA, [CSR_INDPTR, CSR_INDICES]),
            dense_record(A23),
            rsp,
            rsp,
            dense_record(A23 + 1),
        ],
        [b"c", b"after", b"r", b"r1", b"end"],
    )


@pytest.mark.mxnet
def test_mxnet_loads_the_stale_csr_to_the_same_values(tmp_path: Path, mx: Any) -> None:
    p = _stale_csr_file(tmp_path / "stale.params")
    names, loaded = mx_load(mx, p)
    native = paramtool.load(p)
    assert isinstance(native, dict) and list(native) == names
    for name, want in zip(names, loaded, strict=True):
        assert_matches_mxnet(native[name], want, str(name))
    assert_same_array(loaded[0].dense, CSR_DENSE)
    assert_same_array(loaded[2].dense, RSP_DENSE)


def _mxnet_sparse_file(mx: Any, path: Path) -> Path:
    arrays = {
        "r": mx.nd.sparse.row_sparse_array((RSP_DATA, RSP_ROWS), shape=(4, 2)),
        "c": mx.nd.sparse.csr_matrix((CSR_DATA, CSR_INDICES, CSR_INDPTR), shape=(3, 3)),
        "r3": mx.nd.sparse.row_sparse_array(
            (np.arange(12, dtype=np.float64).reshape(2, 2, 3), np.array([0, 4])), shape=(5, 2, 3)
        ),
        "zr": mx.nd.sparse.zeros("row_sparse", (3, 2)),
        "zc": mx.nd.sparse.zeros("csr", (3, 4), dtype="float16"),
        "d": mx.nd.array(A23),
    }
    mx.nd.waitall()  # the stale storage shape race (§7.3)
    mx.nd.save(str(path), arrays)
    return path


@pytest.mark.mxnet
def test_sparse_written_by_mxnet_reads_as_mxnet_loads_it(tmp_path: Path, mx: Any) -> None:
    p = _mxnet_sparse_file(mx, tmp_path / "sp.params")
    assert versions_of(p) == [2] * 6
    names, loaded = mx_load(mx, p)
    native = paramtool.load(p)
    assert isinstance(native, dict) and list(native) == names
    for name, want in zip(names, loaded, strict=True):
        assert_matches_mxnet(native[name], want, str(name))
    report, _ = ls_json(p)
    params = report["parameters"]
    assert [q["stype"] for q in params] == [a.stype for a in loaded]
    assert [q["stored"] for q in params] == [
        None if a.data is None else a.data.size for a in loaded
    ]
    lines, _ = ls_table(p)
    assert "stype" in lines[0].split() and "stored" in lines[0].split()


# -- MXNet 2.x npz ---------------------------------------------------------------------------


def make_npz(path: Path, arrays: dict[str, Any]) -> Path:
    """An MXNet 2.x npz ``.params``: dense arrays through ``np.savez`` into an open file, then
    SciPy-style sparse groups (``name/data.npy``, ...) added with :mod:`zipfile` (§9.5)."""
    dense = {k: v for k, v in arrays.items() if not isinstance(v, SparseArray)}
    with open(path, "wb") as f:
        np.savez(f, **dense)
    with zipfile.ZipFile(path, "a") as z:
        for name, v in arrays.items():
            if not isinstance(v, SparseArray):
                continue
            z.writestr(f"{name}/data.npy", npy_bytes(v.data))
            z.writestr(f"{name}/indices.npy", npy_bytes(v.indices))
            if v.indptr is not None:
                z.writestr(f"{name}/indptr.npy", npy_bytes(v.indptr))
            z.writestr(f"{name}/shape.npy", npy_bytes(np.array(v.shape, np.int64)))
            z.writestr(f"{name}/format.npy", npy_bytes(np.array(v.stype)))
    return path


def npz_arrays(prefix: str = "net0_", *, scalar: bool = True) -> dict[str, Any]:
    """Arrays in the order of the archive's members (dense ones, then the sparse groups)."""
    arrays: dict[str, Any] = {
        f"{prefix}dense0_weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        f"{prefix}dense0_bias": np.arange(2, dtype=np.float16),
        f"{prefix}mask0_flags": np.array([True, False, True]),
    }
    if scalar:
        arrays[f"{prefix}step0_count"] = np.array(7, np.int64)
    arrays[f"{prefix}embed0_weight"] = SparseArray("csr", (3, 3), CSR_DATA, CSR_INDICES, CSR_INDPTR)
    arrays[f"{prefix}embed1_weight"] = SparseArray("row_sparse", (4, 2), RSP_DATA, RSP_ROWS)
    return arrays


def assert_same_arrays(got: Any, want: dict[str, Any]) -> None:
    assert isinstance(got, dict)
    assert list(got) == list(want)
    for name, w in want.items():
        g = got[name]
        if isinstance(w, SparseArray):
            assert isinstance(g, SparseArray) and g.stype == w.stype and g.shape == w.shape
            assert_same_array(g.todense(), w.todense(), name)
            assert_same_array(g.data, w.data, name)
            assert_same_array(g.indices, w.indices, name)
            if w.indptr is not None:
                assert_same_array(g.indptr, w.indptr, name)
        else:
            assert_same_array(g, w, name)


def test_npz_is_listed(tmp_path: Path) -> None:
    arrays = npz_arrays()
    p = make_npz(tmp_path / "net.params", arrays)
    report, err = ls_json(p)
    assert report["container"] == "npz"
    params = report["parameters"]
    assert [q["name"] for q in params] == list(arrays)
    assert [q["shape"] for q in params] == [[2, 3], [2], [3], [], [3, 3], [4, 2]]
    assert [q["dtype"] for q in params] == [
        "float32",
        "float16",
        "bool",
        "int64",
        "float32",
        "float32",
    ]
    assert [q["stype"] for q in params] == ["default"] * 4 + ["csr", "row_sparse"]
    assert [q["stored"] for q in params] == [None, None, None, None, 3, 4]
    assert report["scheme"]["kind"] == "prefixed" and report["scheme"]["root_prefix"] == "net0_"
    assert "Warning" not in err
    lines, _ = ls_table(p)
    assert "npz" in lines[-1] and "net0_" in lines[-1]
    assert_same_arrays(paramtool.load(p), arrays)


def test_npz_and_v2_with_equal_names_diff_clean(tmp_path: Path) -> None:
    arrays = npz_arrays(scalar=False)
    npz = make_npz(tmp_path / "a.params", arrays)
    v2 = tmp_path / "b.params"
    paramtool.save(v2, arrays)
    assert versions_of(v2) == [2] * len(arrays)
    for a, b in ((npz, v2), (v2, npz)):
        result = run("diff", a, b)
        assert result.exit_code == 0, result.output
        result = run("diff", a, b, "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["identical"] is True
    # and a real difference is found
    other = dict(arrays)
    other["net0_dense0_bias"] = np.arange(3, dtype=np.float16)
    v2b = tmp_path / "c.params"
    paramtool.save(v2b, other)
    result = run("diff", npz, v2b, "--format", "json")
    assert result.exit_code == 1
    assert [m["name"] for m in json.loads(result.stdout)["shape_mismatches"]] == [
        "net0_dense0_bias"
    ]


def test_npz_rename_prefix(tmp_path: Path) -> None:
    arrays = npz_arrays()
    src = make_npz(tmp_path / "net.params", arrays)
    before = src.read_bytes()
    out = tmp_path / "renamed.params"
    result = run("rename-prefix", src, "net0_", "net1_", "-o", out)
    assert result.exit_code == 0, result.output
    assert src.read_bytes() == before
    assert zipfile.is_zipfile(out)
    assert_same_arrays(
        paramtool.load(out), {k.replace("net0_", "net1_"): v for k, v in arrays.items()}
    )
    report, _ = ls_json(out)
    assert report["container"] == "npz" and report["scheme"]["root_prefix"] == "net1_"


def test_npz_converted_to_structural_keys(tmp_path: Path) -> None:
    arrays = npz_arrays()
    src = make_npz(tmp_path / "net.params", arrays)
    report, _ = ls_json(src)
    assert report["scheme"]["kind"] == "prefixed"
    mapping = {k: k.removeprefix("net0_").replace("_", ".", 1) for k in arrays}
    map_file = tmp_path / "map.json"
    map_file.write_text(
        json.dumps(
            {
                "paramtool_mapping": 1,
                "model": "test",
                "target": "structural",
                "entries": [{"from": k, "to": v} for k, v in mapping.items()],
            }
        )
    )
    out = tmp_path / "structural.params"
    result = run("to-structural", src, "--mapping", map_file, "-o", out)
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out)
    assert_same_arrays(paramtool.load(out), {mapping[k]: v for k, v in arrays.items()})
    report, _ = ls_json(out)
    assert report["container"] == "npz"
    assert report["scheme"]["kind"] == "structural"
    lines, _ = ls_table(out)
    assert "structural" in lines[-1]


def test_npz_converted_to_an_ndarray_list(tmp_path: Path) -> None:
    arrays = npz_arrays(scalar=False)
    src = make_npz(tmp_path / "net.params", arrays)
    out = tmp_path / "v2.params"
    paramtool.save(out, paramtool.load(src))
    assert versions_of(out) == [2] * len(arrays)
    assert_same_arrays(paramtool.load(out), arrays)
    report, _ = ls_json(out)
    assert report["container"] == "ndarray-list"


@pytest.mark.mxnet
def test_npz_converted_to_v2_loads_in_mxnet(tmp_path: Path, mx: Any) -> None:
    arrays = npz_arrays(scalar=False)
    src = make_npz(tmp_path / "net.params", arrays)
    out = tmp_path / "v2.params"
    paramtool.save(out, paramtool.load(src))
    names, loaded = mx_load(mx, out)
    assert names == list(arrays)
    for name, want in zip(names, loaded, strict=True):
        assert_matches_mxnet(arrays[str(name)], want, str(name))


# -- names and trailing bytes -----------------------------------------------------------------


def _names_file(path: Path, trailing: bytes = b"") -> tuple[Path, list[np.ndarray]]:
    arrays = [A23 + i for i in range(5)]
    names = [b"x", b"", b"a.b:c", b"x", b"arg:dense0.weight"]
    return write_params(path, [dense_record(a) for a in arrays], names, trailing), arrays


def test_duplicate_empty_and_dotted_names(tmp_path: Path) -> None:
    p, arrays = _names_file(tmp_path / "names.params")
    with paramtool.open(p) as pf:
        assert pf.names == ["x", "", "a.b:c", "x", "arg:dense0.weight"]
        assert_same_array(pf.read("x"), arrays[3])  # the last of a duplicate, as MXNet
        assert_same_array(pf.read(0), arrays[0])
    got = paramtool.load(p)
    assert isinstance(got, dict)
    assert list(got) == ["x", "", "a.b:c", "arg:dense0.weight"]  # first position ...
    assert_same_array(got["x"], arrays[3])  # ... last value
    assert_same_array(got[""], arrays[1])
    assert_same_array(got["a.b:c"], arrays[2])
    lines, err = ls_table(p)
    assert "MXNet keeps the last" in err and "x" in err
    assert len(lines) == 7  # header, 5 rows, footer: every record is listed
    report, _ = ls_json(p)
    assert [q["name"] for q in report["parameters"]] == ["x", "", "a.b:c", "x", "arg:dense0.weight"]


@pytest.mark.mxnet
def test_names_load_like_mxnet(tmp_path: Path, mx: Any) -> None:
    p, arrays = _names_file(tmp_path / "names.params", trailing=b"\x00junk\xff")
    names, loaded = mx_load(mx, p)
    assert names == ["x", "", "a.b:c", "arg:dense0.weight"]  # first position of "x" ...
    assert_same_array(loaded[0].dense, arrays[3])  # ... with its last value
    got = paramtool.load(p)
    assert isinstance(got, dict) and list(got) == names
    for name, want in zip(names, loaded, strict=True):
        assert_matches_mxnet(got[str(name)], want, repr(name))


def test_non_utf8_names_are_shown_escaped(tmp_path: Path) -> None:
    p = write_params(
        tmp_path / "bad.params",
        [dense_record(A23), dense_record(A23 + 1)],
        [b"bad\xff\xfename", "caf\u00e9.w".encode()],
    )
    result = run("ls", p)
    assert result.exit_code == 0 and "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[0] == "bad\\xff\\xfename"
    assert lines[2].split()[0] == "caf\u00e9.w"
    result = run("ls", p, "--format", "names")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["bad\\xff\\xfename", "caf\u00e9.w"]
    report, _ = ls_json(p)
    assert report["parameters"][0]["name"] == "bad\\xff\\xfename"
    got = paramtool.load(p)
    assert isinstance(got, dict)
    raw = [k.encode("utf-8", "surrogateescape") for k in got]
    assert raw == [b"bad\xff\xfename", "caf\u00e9.w".encode()]
    # written back, the name bytes are the same
    out = tmp_path / "again.params"
    paramtool.save(out, got)
    assert out.read_bytes() == p.read_bytes()


def test_trailing_bytes_are_reported_not_fatal(tmp_path: Path) -> None:
    p, arrays = _names_file(tmp_path / "t.params", trailing=b"JUNK\x00\x01\x02")
    result = run("ls", p)
    assert result.exit_code == 0
    assert "7 bytes after the name table" in result.stderr
    assert "7 bytes" not in result.stdout
    report, _ = ls_json(p)
    assert report["trailing_bytes"] == 7
    assert_same_array(paramtool.load(p)["a.b:c"], arrays[2])
    plain, _ = _names_file(tmp_path / "plain.params")
    report, err = ls_json(plain)
    assert report["trailing_bytes"] == 0 and "after the name table" not in err


# -- MXNet's own legacy fixture -----------------------------------------------------------------


def test_legacy_ndarray_v0() -> None:
    path = REALDATA / "mxnet" / "legacy_ndarray.v0"
    if not path.is_file():
        pytest.skip(REALDATA_MISSING)
    got = paramtool.load(path)
    assert isinstance(got, list) and len(got) == 6
    for a in got:
        assert_same_array(a, np.arange(128, dtype=np.float32))
    with paramtool.open(path) as pf:
        assert not pf.named and pf.names == [None] * 6
        assert [r.version for r in pf] == [0] * 6
    report, _ = ls_json(path)
    assert report["named"] is False and report["scheme"]["kind"] == "list"
    assert [q["name"] for q in report["parameters"]] == [None] * 6


# ==========================================================================================
# Writing
# ==========================================================================================

#: Files MXNet wrote, by record version (spec of realdata: shared/realdata/SOURCES.md).
REALDATA_VERSIONS = {
    "mxnet/legacy_ndarray.v0": 0,
    "mtcnn/det1-0001.params": 0,
    "go-mxnet-predictor/go_test-0001.params": 0,
    "go-mxnet-predictor/mean.bin": 0,
    "bmxnet/binarized_mnist_64bit-0001.params": 0,
    "straight-dope/testnet.params": 1,
    "straight-dope/test.ndarray": 1,
    "straight-dope/test2.ndarray": 1,
    "sagemaker-mxnet-inference-toolkit/default_handlers/model-0000.params": 1,
    "djl/two_arrays_dict": 2,
    "djl/two_arrays_list": 2,
    "gluonts/net.params": 2,
    "sockeye/model_2.1.x/params.best": 2,
}


def _realdata_params(versions: set[int]) -> list[Any]:
    return [
        pytest.param(
            REALDATA / rel,
            v,
            id=f"realdata/{rel}",
            marks=[] if REALDATA.is_dir() else [pytest.mark.skip(reason=REALDATA_MISSING)],
        )
        for rel, v in REALDATA_VERSIONS.items()
        if v in versions
    ]


def _data_params() -> list[Any]:
    return [
        pytest.param(p, 3 if p.name == "numpy-v3.params" else 2, id=f"data/{p.name}")
        for p in sorted(DATA.glob("*.params"))
    ]


def test_file_sets() -> None:
    assert len(_data_params()) >= 9
    if REALDATA.is_dir():
        found = {
            str(p.relative_to(REALDATA))
            for p in REALDATA.rglob("*")
            if p.is_file() and p.suffix != ".md" and not p.name.endswith("-symbol.json")
        }
        assert found == set(REALDATA_VERSIONS)


@pytest.mark.parametrize(("path", "version"), _data_params() + _realdata_params({2}))
def test_reencoding_reproduces_mxnet_files_byte_for_byte(
    tmp_path: Path, path: Path, version: int
) -> None:
    assert set(versions_of(path)) == {version}
    out = tmp_path / "out.params"
    paramtool.save(out, paramtool.load(path), version=version)  # decoded, then encoded again
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.mxnet
@pytest.mark.parametrize(("path", "version"), _realdata_params({0, 1}))
def test_v0_v1_files_reencoded_as_v2_load_in_mxnet(
    tmp_path: Path, path: Path, version: int, mx: Any
) -> None:
    assert set(versions_of(path)) == {version}
    out = tmp_path / "out.params"
    paramtool.save(out, paramtool.load(path), version=2)
    assert set(versions_of(out)) == {2}
    names_src, src = mx_load(mx, path)
    names_out, got = mx_load(mx, out)
    assert names_out == names_src
    for name, a, b in zip(names_src, src, got, strict=True):
        assert_same_array(b.dense, a.dense, str(name))  # bit-identical arrays


def test_new_files_are_v2_by_default_v3_when_asked_or_0d(tmp_path: Path) -> None:
    dense = {"w": A23, "e": np.zeros((2, 0), np.float32), "b": np.array([True, False])}
    p = tmp_path / "a.params"
    paramtool.save(p, dense)
    assert versions_of(p) == [2, 2, 2]
    assert p.read_bytes() == params_bytes(
        [dense_record(a, 2) for a in dense.values()], [k.encode() for k in dense]
    )
    paramtool.save(p, dense, version=3)
    assert versions_of(p) == [3, 3, 3]
    with_0d = {**dense, "s": np.array(2.5, np.float64)}
    paramtool.save(p, with_0d)
    assert versions_of(p) == [3, 3, 3, 3]  # every record, never a V2/V3 mix
    assert p.read_bytes() == params_bytes(
        [dense_record(a, 3) for a in with_0d.values()], [k.encode() for k in with_0d]
    )
    paramtool.save(p, [A23, np.arange(3)])
    assert versions_of(p) == [2, 2]
    assert isinstance(paramtool.load(p), list)


def test_v2_v3_mix_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    p = tmp_path / "a.params"
    p.write_bytes(b"old content")
    rsp = SparseArray("row_sparse", (4, 2), RSP_DATA, RSP_ROWS)
    for arrays, version in (
        ({"r": rsp, "s": np.array(1.0, np.float32)}, None),
        ({"r": rsp}, 3),
        ({"s": np.array(1.0, np.float32)}, 2),
    ):
        with pytest.raises(ValueError):
            paramtool.save(p, arrays, version=version)
        assert p.read_bytes() == b"old content"
        assert sorted(os.listdir(tmp_path)) == ["a.params"]


def test_contexts_are_written_as_cpu0(tmp_path: Path) -> None:
    src = write_params(
        tmp_path / "ctx.params",
        [dense_record(A23 + i, 2, ctx=c) for i, c in enumerate(CONTEXTS.values())]
        + [
            sparse_record("csr", (3, 3), CSR_DATA, [CSR_INDPTR, CSR_INDICES], ctx=(2, 1)),
            dense_record(np.arange(3, dtype=np.int8), 0, ctx=(5, 2)),
        ],
        [*CONTEXTS, "sparse", "v0"],
    )
    out = tmp_path / "out.params"
    paramtool.save(out, paramtool.load(src))
    with paramtool.open(out) as pf:
        assert [r.context for r in pf] == [CPU0] * 7
        assert [r.version for r in pf] == [2] * 7
    report, _ = ls_json(out)
    assert {q["context"] for q in report["parameters"]} == {"cpu(0)"}
    lines, _ = ls_table(out)
    assert "context" not in lines[0]


@pytest.mark.mxnet
def test_mxnet_ndarrays_on_other_contexts_are_written_as_cpu0(tmp_path: Path, mx: Any) -> None:
    arrays = {"a": mx.nd.array(A23, ctx=mx.cpu(3)), "b": mx.nd.array(A23, ctx=mx.cpu_pinned(0))}
    mx.nd.waitall()
    ref = tmp_path / "mx.params"
    mx.nd.save(str(ref), arrays)
    out = tmp_path / "native.params"
    paramtool.save(out, arrays)
    with paramtool.open(out) as pf:
        assert [r.context for r in pf] == [CPU0, CPU0]
    # the only bytes that differ from MXNet's file are the two device fields
    with paramtool.open(ref) as pf:
        ctx_offsets = [r.data_offset - 12 for r in pf]
    a, b = bytearray(ref.read_bytes()), out.read_bytes()
    for off in ctx_offsets:
        a[off : off + 8] = struct.pack("<ii", *CPU0)
    assert bytes(a) == b


# ==========================================================================================
# Cross-check matrix against MXNet 1.9.1
# ==========================================================================================

DENSE_DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]
DENSE_DTYPES += ["bfloat16"]
SPARSE_DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64"]
DENSE_SHAPES = {
    2: [(7,), (2, 3, 4), (0,), (3, 0)],
    3: [(), (7,), (2, 3, 4), (0,), (3, 0)],
}
#: (stype, shape, stored rows for row_sparse / (indptr, indices) for csr)
SPARSE_LAYOUTS: list[tuple[str, tuple[int, ...], Any]] = [
    ("row_sparse", (5, 3), [1, 3]),
    ("row_sparse", (4, 2, 3), [0, 3]),
    ("row_sparse", (4, 3), []),
    ("csr", (3, 4), ([0, 2, 2, 5], [0, 3, 1, 2, 3])),
    ("csr", (3, 4), ([0, 0, 0, 0], [])),
]


class Case(NamedTuple):
    version: int
    dtype: str
    shape: tuple[int, ...]
    stype: str = "default"
    layout: Any = None

    @property
    def id(self) -> str:
        shape = "x".join(map(str, self.shape)) or "0d"
        nnz = "" if self.layout is None else f"-nnz{self.value.data.size}"
        return f"V{self.version}-{self.stype}-{self.dtype}-{shape}{nnz}"

    @property
    def value(self) -> Any:
        """The array as numpy (dense) or a SparseArray with int64 indices."""
        if self.stype == "default":
            return dense_values(self.dtype, self.shape)
        if self.stype == "row_sparse":
            rows = np.array(self.layout, np.int64)
            data = dense_values(self.dtype, (len(rows), *self.shape[1:])) + np.array(4, self.dtype)
            return SparseArray("row_sparse", self.shape, data, rows)
        indptr, indices = (np.array(x, np.int64) for x in self.layout)
        data = dense_values(self.dtype, (len(indices),)) + np.array(4, self.dtype)
        return SparseArray("csr", self.shape, data, indices, indptr)


CASES = [
    Case(v, dt, s) for v, shapes in DENSE_SHAPES.items() for dt in DENSE_DTYPES for s in shapes
] + [Case(2, dt, shape, st, lay) for st, shape, lay in SPARSE_LAYOUTS for dt in SPARSE_DTYPES]
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def _mx_array(mx: Any, case: Case) -> Any:
    """The case's array made by MXNet (must run in the shape mode the array needs)."""
    value = case.value
    if case.stype == "row_sparse":
        if not value.indices.size:
            return mx.nd.sparse.zeros("row_sparse", case.shape, dtype=case.dtype)
        return mx.nd.sparse.row_sparse_array(
            (value.data, value.indices), shape=case.shape, dtype=case.dtype
        )
    if case.stype == "csr":
        if not value.indices.size:
            return mx.nd.sparse.zeros("csr", case.shape, dtype=case.dtype)
        return mx.nd.sparse.csr_matrix(
            (value.data, value.indices, value.indptr), shape=case.shape, dtype=case.dtype
        )
    if case.dtype == "bfloat16":
        words = value.ravel().view("<u2").astype("<u4")
        f32 = mx.nd.array((words << 16).view("<f4").reshape(case.shape))
        if value.size and value.ndim:
            return mx.nd.amp_cast(f32, dtype=BF16)
        return f32.astype(BF16)  # amp_cast (MKLDNN) refuses 0-d and zero-size arrays
    return mx.nd.array(value, dtype=case.dtype)


@pytest.fixture(scope="module")
def mx_matrix(mx: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per case, written by ``mx.nd.save``: V3 under ``np_shape(True)``; V2 zero-size
    arrays made under np_shape (legacy mode cannot create them) and saved in legacy mode."""
    root = tmp_path_factory.mktemp("mxnet-matrix")
    files = {}
    for case in CASES:
        zero_size = 0 in case.shape or not case.shape
        with mx.util.np_shape(case.version == 3 or zero_size):
            array = _mx_array(mx, case)
        mx.nd.waitall()
        path = root / f"{case.id}.params"
        with mx.util.np_shape(case.version == 3):
            mx.nd.save(str(path), {"a": array})
        files[case.id] = path
    return files


@pytest.mark.mxnet
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_matrix_native_read_equals_mxnet_load(
    case: Case, mx: Any, mx_matrix: dict[str, Path]
) -> None:
    path = mx_matrix[case.id]
    with paramtool.open(path) as pf:
        (rec,) = pf.records
        assert (rec.version, rec.stype_name, rec.dtype_name, rec.shape) == (
            case.version,
            case.stype,
            case.dtype,
            case.shape,
        )
        native = pf.read("a")
    _, (want,) = mx_load(mx, path, np_shape=case.version == 3)
    assert_matches_mxnet(native, want, case.id)
    # and MXNet made the values the case asked for
    if case.stype == "default":
        assert_same_array(native, case.value)
    else:
        assert_same_array(native.todense(), case.value.todense())


@pytest.mark.mxnet
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_matrix_reencoding_is_byte_identical(
    case: Case, tmp_path: Path, mx_matrix: dict[str, Path]
) -> None:
    path = mx_matrix[case.id]
    out = tmp_path / "out.params"
    paramtool.save(out, paramtool.load(path), version=case.version)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.mxnet
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_matrix_mxnet_loads_what_the_native_writer_writes(
    case: Case, tmp_path: Path, mx: Any, mx_matrix: dict[str, Path]
) -> None:
    out = tmp_path / "native.params"
    value = case.value  # pure numpy, no MXNet involved
    paramtool.save(out, {"a": value}, version=case.version)
    assert versions_of(out) == [case.version]
    names, (want,) = mx_load(mx, out, np_shape=case.version == 3)
    assert names == ["a"]
    if case.stype == "default":
        assert_matches_mxnet(value, want, case.id)
    else:
        assert_same_array(value.todense(), want.dense, case.id)
        assert_matches_mxnet(value, want, case.id)
    # the same bytes MXNet writes for the same array
    assert out.read_bytes() == mx_matrix[case.id].read_bytes()


# ==========================================================================================
# Python API
# ==========================================================================================


def test_open_is_a_lazy_context_manager() -> None:
    path = DATA / "mobilenet0.25-structural.params"
    assert paramtool.open is paramtool.open_params
    size = path.stat().st_size
    with paramtool.open(path) as pf:
        assert isinstance(pf, paramtool.ParamsFile)
        assert len(pf.names) == 137
        assert pf.bytes_read < size // 20  # headers and names only
        rec = pf.record("output.weight")
        assert rec.shape == (10, 256) and rec.dtype_name == "float32"
        before = pf.bytes_read
        w = pf.read("output.weight")
        assert pf.bytes_read == before + rec.nbytes  # read on demand
        assert isinstance(w, np.ndarray) and w.shape == (10, 256)
    with pytest.raises((ValueError, OSError)):
        pf.read("output.weight")  # closed


@pytest.mark.parametrize(
    "path", [DATA / "dtypes.params", DATA / "numpy-v3.params", DATA / "unnamed-list.params"]
)
def test_mmap_reads_are_read_only_memmaps(path: Path) -> None:
    with paramtool.open(path) as pf:
        for rec in pf:
            if rec.nbytes == 0:
                continue
            m = pf.read(rec.index, mmap=True)
            assert isinstance(m, np.memmap)
            assert not m.flags.writeable
            assert_same_array(np.asarray(m), pf.read(rec.index), str(rec.name))
            with pytest.raises(ValueError):
                m[...] = m


def test_load_and_save_api(tmp_path: Path) -> None:
    named = paramtool.load(DATA / "tutorial-model0.params")
    assert isinstance(named, dict) and next(iter(named)) == "model0_dense0_weight"
    unnamed = paramtool.load(DATA / "unnamed-list.params")
    assert isinstance(unnamed, list) and len(unnamed) == 3
    assert_same_array(unnamed[1], np.arange(4, dtype=np.int64))
    p = tmp_path / "x.params"
    paramtool.save(p, unnamed)
    assert p.read_bytes() == (DATA / "unnamed-list.params").read_bytes()
    paramtool.save(p, {})
    assert p.read_bytes() == struct.pack("<QQQQ", 0x112, 0, 0, 0)
    assert paramtool.load(p) == []


# ==========================================================================================
# Sparse index arrays are always written as int64 (a bug these tests found, now fixed)
# ==========================================================================================


def _int32_index_sparse() -> dict[str, SparseArray]:
    """What SciPy (int32 indices) or a hand-built SparseArray gives."""
    return {
        "c": SparseArray(
            "csr", (3, 3), CSR_DATA, CSR_INDICES.astype(np.int32), CSR_INDPTR.astype(np.int32)
        ),
        "r": SparseArray("row_sparse", (4, 2), RSP_DATA, RSP_ROWS.astype(np.int32)),
    }


def test_sparse_indices_are_written_as_int64(tmp_path: Path) -> None:
    p = tmp_path / "i32.params"
    paramtool.save(p, _int32_index_sparse())
    with paramtool.open(p) as pf:
        assert [[d.name for d, _ in r.aux] for r in pf] == [["int64", "int64"], ["int64"]]


@pytest.mark.mxnet
def test_mxnet_can_use_sparse_written_from_int32_indices(tmp_path: Path, mx: Any) -> None:
    arrays = _int32_index_sparse()
    p = tmp_path / "i32.params"
    paramtool.save(p, arrays)
    _, loaded = mx_load(mx, p)
    for want, arr in zip(loaded, arrays.values(), strict=True):
        assert_same_array(arr.todense(), want.dense)

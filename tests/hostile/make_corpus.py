"""Write the hostile-input corpus used by ``tests/test_hostile.py`` and ``tests/fuzz/``.

Run from anywhere (no MXNet needed, only numpy)::

    python tests/hostile/make_corpus.py            # tests/hostile/corpus/, expected.json
    python tests/hostile/make_corpus.py --out DIR  # DIR/corpus/, DIR/expected.json

The output is deterministic (fixed bytes, fixed zip timestamps, no randomness except a seeded
generator), so a rerun reproduces the committed files byte for byte; ``test_hostile.py`` checks
that. Every file is built from the spec (``shared/spec/params-format.md``) with the byte builders
of ``tests/helpers.py`` or by hand, never with paramtool's own writer.

File names say what is expected of them:

``seed-*``
    Valid files. The tests also cut each one at every byte offset and change 50 random bytes
    (generated at test time from a fixed seed, see ``test_hostile.py``).
``odd-*``
    Valid but extreme files (many records, huge ndim, huge .npy headers): must be listed within
    the memory bound.
``bad-*``
    Invalid files: every command must fail with one ``Error:`` line (exit 3), naming the file
    and, for damage inside the NDArray list, the record, the field and the byte offset.

``expected.json`` maps each file name to ``{"kind": "ok" | "error" | "any", ...}`` with, for
errors, the ``field``, ``record`` and ``offset`` (byte) the message must name and a lower-case
substring (``says``) it must contain.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))

from helpers import header, names_table, params_file, record_v0, record_v1, record_v23  # noqa: E402

#: tests/data files copied as seeds (all < 10 KB; the mobilenet files are ~890 KB).
DATA_SEEDS = [
    "dtypes.params",
    "hybrid-0000.params",
    "numpy-v3.params",
    "tutorial-model0.params",
    "tutorial-model1.params",
    "tutorial-structural.params",
    "unnamed-list.params",
]

V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

Spec = dict[str, Any]


def ok() -> Spec:
    return {"kind": "ok"}


def any_outcome(why: str) -> Spec:
    return {"kind": "any", "why": why}


def error(
    says: str, *, field: str | None = None, record: int | None = None, offset: int | None = None
) -> Spec:
    spec: Spec = {"kind": "error", "says": says.lower()}
    if field is not None:
        spec["field"] = field
    if record is not None:
        spec["record"] = record
    if offset is not None:
        spec["offset"] = offset
    return spec


# -- byte builders beyond tests/helpers.py ----------------------------------------------------


def shape(dims: tuple[int, ...] | list[int]) -> bytes:
    """V1-V3 shape: i32 ndim + i64 dims (spec §3.3)."""
    return struct.pack(f"<i{len(dims)}q", len(dims), *dims)


def dense(magic: int, dims: tuple[int, ...], flag: int, data: bytes, ctx=(1, 0)) -> bytes:
    """A V1-V3 dense record with raw fields (no consistency checks: for hostile files)."""
    stype = b"" if magic == V1 else struct.pack("<i", 0)
    return struct.pack("<I", magic) + stype + shape(dims) + struct.pack("<iii", *ctx, flag) + data


def sparse(
    stype: int,
    storage: tuple[int, ...],
    dims: tuple[int, ...],
    flag: int,
    aux: list[tuple[int, tuple[int, ...]]],
    payload: bytes,
    magic: int = V2,
) -> bytes:
    """A sparse record (spec §3.2, §7.2): header, then ``payload`` (values + aux buffers)."""
    out = struct.pack("<Ii", magic, stype) + shape(storage) + shape(dims)
    out += struct.pack("<iii", 1, 0, flag)
    for aflag, ashape in aux:
        out += struct.pack("<i", aflag) + shape(ashape)
    return out + payload


def rsp_record() -> bytes:
    """row_sparse (4, 2), rows 1 and 3 = [1, 2], [3, 4] (spec §8): 108 bytes."""
    values = np.array([[1, 2], [3, 4]], np.float32).tobytes()
    rows = np.array([1, 3], np.int64).tobytes()
    return sparse(1, (2, 2), (4, 2), 0, [(6, (2,))], values + rows)


def csr_record(storage: tuple[int, ...] = (3,)) -> bytes:
    """csr [[0, 5, 0], [0, 0, 0], [6, 0, 7]] (spec §8): 152 bytes."""
    values = np.array([5, 6, 7], np.float32).tobytes()
    indptr = np.array([0, 1, 1, 3], np.int64).tobytes()
    indices = np.array([1, 0, 2], np.int64).tobytes()
    return sparse(2, storage, (3, 3), 0, [(6, (4,)), (6, (3,))], values + indptr + indices)


def raw_file(records: list[bytes], names: list[bytes] | None, count: int | None = None) -> bytes:
    return header(len(records) if count is None else count) + b"".join(records) + names_table(names)


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_raw(header_text: str, data: bytes = b"", major: int = 1) -> bytes:
    """A .npy stream with an arbitrary header text (no padding rules enforced)."""
    text = header_text.encode("latin1")
    if major == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<I", len(text)) + text + data


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def patch_zip_headers(data: bytes, local_off: int, central_off: int, fn: Callable) -> bytes:
    """Apply ``fn(bytearray, pos)`` at a field of every local (PK\\3\\4) and central (PK\\1\\2)
    header, ``local_off``/``central_off`` bytes after the signature."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", local_off), (b"PK\x01\x02", central_off)):
        i = out.find(sig)
        while i >= 0:
            fn(out, i + off)
            i = out.find(sig, i + 4)
    return bytes(out)


# -- the corpus -------------------------------------------------------------------------------


def seeds() -> dict[str, tuple[bytes, Spec]]:
    out: dict[str, tuple[bytes, Spec]] = {}
    for name in DATA_SEEDS:
        out[f"seed-data-{name}"] = ((TESTS / "data" / name).read_bytes(), ok())

    a23 = np.arange(6, dtype=np.float32).reshape(2, 3)
    i4 = np.array([1, -2, 3, -4], np.int32)
    u3 = np.array([7, 8, 9], np.uint8)
    out["seed-v0.params"] = (
        params_file([record_v0(a23), record_v0(i4), record_v0(u3)], ["a", "b", "c"]),
        ok(),
    )
    # like MXNet's own tests/python/unittest/legacy_ndarray.v0, but 2 x (8,) instead of 6 x (128,)
    out["seed-v0-list.params"] = (
        params_file([record_v0(np.arange(8, dtype=np.float32))] * 2),
        ok(),
    )
    out["seed-v1.params"] = (
        params_file([record_v1(a23), record_v1(np.array([7], np.int64))], ["w", "b"]),
        ok(),
    )
    # the spec's worked example (§8), 154 bytes
    out["seed-v2.params"] = (
        params_file([record_v23(a23), record_v23(np.array([7], np.int64))], ["w", "b"]),
        ok(),
    )
    out["seed-v3.params"] = (
        params_file(
            [
                record_v23(np.array(1.5, np.float32), 3),
                record_v23(np.zeros((0, 3), np.float16), 3),
                record_v23(np.arange(4, dtype=np.int64).reshape(2, 2), 3),
            ],
            ["scalar", "empty", "matrix"],
        ),
        ok(),
    )
    v2_none = struct.pack("<Iii", V2, 0, 0)
    v0_none = struct.pack("<I", 0)
    out["seed-mixed.params"] = (
        params_file(
            [
                record_v0(u3),
                record_v1(i4),
                record_v23(a23, 2, ctx=(2, 1)),
                record_v23(np.array(3, np.int8), 3),
                v2_none,
                v0_none,
            ],
            ["v0", "v1", "v2", "v3", "none2", "none0"],
        ),
        ok(),
    )
    out["seed-unnamed.params"] = (
        params_file(
            [record_v23(a23), record_v23(np.arange(4, dtype=np.int64)), record_v0(u3)], None
        ),
        ok(),
    )
    out["seed-empty-list.params"] = (header(0) + names_table([]), ok())
    out["seed-sparse.params"] = (raw_file([rsp_record(), csr_record()], [b"r", b"c"]), ok())
    out["seed-rsp.params"] = (raw_file([rsp_record()], [b"rows"]), ok())
    # stale storage shape (0,) healed from the aux shapes (spec §7.3)
    out["seed-csr-stale.params"] = (
        raw_file([csr_record(storage=(0,)), record_v23(u3)], [b"c", b"d"]),
        ok(),
    )
    allzero_rsp = sparse(1, (0, 2), (3, 2), 0, [(6, (0,))], b"")
    out["seed-rsp-allzero.params"] = (raw_file([allzero_rsp], [b"z"]), ok())
    dtypes = [
        dense(V2, (2,), flag, bytes(range(2 * size)))
        for flag, size in enumerate([4, 8, 2, 1, 4, 1, 8, 1, 2, 2, 4, 8, 2])
    ]
    out["seed-all-flags.params"] = (
        raw_file(dtypes, [f"flag{i}".encode() for i in range(13)]),
        ok(),
    )
    odd_names = [b"", b"dup", b"dup", b"\xff\xfeinvalid-utf8", b"esc\x1b[31mred\x1b[0m\n", b"a.b:c"]
    out["seed-odd-names.params"] = (
        raw_file([record_v23(np.array([i], np.int8)) for i in range(6)], odd_names)
        + b"trailing junk",
        ok(),
    )
    out["seed-npz.params"] = (
        make_zip([("w.npy", npy(a23)), ("b.npy", npy(np.array([7], np.int64)))]),
        ok(),
    )
    out["seed-npz-sparse.params"] = (
        make_zip(
            [
                ("c/data.npy", npy(np.array([5, 6, 7], np.float32))),
                ("c/indices.npy", npy(np.array([1, 0, 2], np.int64))),
                ("c/indptr.npy", npy(np.array([0, 1, 1, 3], np.int64))),
                ("c/shape.npy", npy(np.array([3, 3], np.int64))),
                ("c/format.npy", npy(np.array("csr"))),
                ("d.npy", npy(np.arange(3, dtype=np.int32))),
            ]
        ),
        ok(),
    )
    out["seed-npy.params"] = (npy(np.arange(5, dtype=np.float64)), ok())
    return out


def hostile() -> dict[str, tuple[bytes, Spec]]:
    out: dict[str, tuple[bytes, Spec]] = {}
    a23 = np.arange(6, dtype=np.float32).reshape(2, 3)
    rec_w = record_v23(a23)  # 64 bytes at offset 24
    first = 24

    # -- not an NDArray list at all --------------------------------------------------------
    out["bad-empty.params"] = (b"", error("empty file"))
    out["bad-magic-prefix.params"] = (
        b"\x12\x01\x00",
        error("file ends early", field="list magic", offset=0),
    )
    out["bad-html.params"] = (
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
        b"<body><h1>Not Found</h1></body></html>\n",
        error("html"),
    )
    out["bad-lfs-pointer.params"] = (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:6798344f72b415ef9110970fe3d2f02dc13201c43078d4cc121e193da9647aa6\n"
        b"size 154\n",
        error("git lfs"),
    )
    out["bad-text.params"] = (b"these are not the weights you are looking for\n", error("text"))
    out["bad-json.params"] = (b'{"nodes": [], "arg_nodes": []}\n', error("json"))
    out["bad-garbage.params"] = (
        bytes(random.Random(1).randrange(256) for _ in range(64)),
        error("not an mxnet .params file"),
    )

    # -- list header and name table ----------------------------------------------------------
    out["bad-count-2e63.params"] = (
        header(2**63) + rec_w + names_table([b"w"]),
        error("array count", field="array count", offset=16),
    )
    out["bad-count-max.params"] = (
        header(2**64 - 1) + rec_w + names_table([b"w"]),
        error("array count", field="array count", offset=16),
    )
    # count 2 with one record: the name table's first 8 bytes are read as a record
    out["bad-count-one-too-many.params"] = (
        header(2) + rec_w + names_table([b"w"]),
        error("", record=1),
    )
    names_end = first + len(rec_w)
    out["bad-name-count-too-big.params"] = (
        raw_file([rec_w], [b"w", b"x"]),
        error("name count", field="name count", offset=names_end),
    )
    two = record_v23(np.array([1], np.int64))
    out["bad-name-count-too-small.params"] = (
        raw_file([rec_w, two], [b"w"]),
        error("name count", field="name count", offset=names_end + len(two)),
    )
    body = header(1) + rec_w + struct.pack("<Q", 1)
    out["bad-name-length-past-end.params"] = (
        body + struct.pack("<Q", 100) + b"w",
        error("name length", field="name length", record=0, offset=len(body)),
    )
    out["bad-name-length-2e63.params"] = (
        body + struct.pack("<Q", 2**63) + b"w",
        error("name length", field="name length", record=0, offset=len(body)),
    )

    # -- shapes ---------------------------------------------------------------------------------
    def ndim_file(magic: int, ndim_word: bytes) -> bytes:
        stype = b"" if magic == V1 else struct.pack("<i", 0)
        rec = struct.pack("<I", magic) + stype + ndim_word + b"\0" * 40
        return header(1) + rec + names_table([b"x"])

    neg1 = struct.pack("<i", -1)
    out["bad-ndim-minus1-v1.params"] = (
        ndim_file(V1, neg1),
        error("negative", field="ndim", record=0, offset=first + 4),
    )
    out["bad-ndim-minus1-v2.params"] = (
        ndim_file(V2, neg1),
        error("negative", field="ndim", record=0, offset=first + 8),
    )
    out["bad-ndim-minus1-v3.params"] = (
        ndim_file(V3, neg1),
        error("negative", field="ndim", record=0, offset=first + 8),
    )
    out["bad-ndim-2e31-v2.params"] = (  # 0x80000000 read as i32 is -2^31
        ndim_file(V2, struct.pack("<I", 2**31)),
        error("negative", field="ndim", record=0, offset=first + 8),
    )
    out["bad-ndim-2e31-minus1-v3.params"] = (
        ndim_file(V3, struct.pack("<I", 2**31 - 1)),
        error("ndim", field="ndim", record=0, offset=first + 8),
    )
    # V0: the first word is the ndim itself (u32), 2^31 and 2^32 - 1
    out["bad-ndim-2e31-v0.params"] = (
        header(1) + struct.pack("<I", 2**31) + b"\0" * 40 + names_table([b"x"]),
        error("", field="record magic", record=0, offset=first),
    )
    out["bad-ndim-max-v0.params"] = (
        header(1) + struct.pack("<I", 2**32 - 1) + b"\0" * 40 + names_table([b"x"]),
        error("", field="record magic", record=0, offset=first),
    )
    out["bad-dim-minus1.params"] = (
        header(1) + dense(V2, (2, -1), 0, b"\0" * 8) + names_table([b"x"]),
        error("dim 1", field="dims", record=0, offset=first + 12 + 8),
    )
    dim_data = first + 4 + 4 + 4 + 8 + 12
    out["bad-dim-2e62.params"] = (
        header(1) + dense(V2, (2**62,), 0, b"\0" * 16) + names_table([b"x"]),
        error("needs", field="data", record=0, offset=dim_data),
    )
    # dims whose product wraps a 64-bit integer to 0 (2^32 * 2^32): a C reader would read no data
    wrap_data = first + 4 + 4 + 4 + 16 + 12
    out["bad-dims-wrap-int64.params"] = (
        header(1) + dense(V2, (2**32, 2**32), 0, b"") + names_table([b"x"]),
        error("needs", field="data", record=0, offset=wrap_data),
    )
    v0_big = struct.pack("<4I", 3, 2**32 - 1, 2**32 - 1, 2**32 - 1) + struct.pack("<iii", 1, 0, 6)
    out["bad-dims-max-v0.params"] = (
        header(1) + v0_big + b"\0" * 16 + names_table([b"x"]),
        error("needs", field="data", record=0, offset=first + 16 + 12),
    )
    # 240 dims of 2^63 - 1: the byte count would have ~4600 decimal digits (Python refuses to
    # print integers over 4300 digits). The reader refuses more than 64 dims before it
    # multiplies anything.
    nd = 240
    out["bad-ndim-240-huge-dims.params"] = (
        header(1) + dense(V2, (2**63 - 1,) * nd, 0, b"\0" * 64) + names_table([b"x"]),
        error("ndim 240", field="ndim", record=0, offset=first + 8),
    )
    out["bad-sparse-240-huge-dims.params"] = (
        header(1)
        + sparse(1, (2**63 - 1,) * nd, (4, 2), 0, [(6, (2,))], b"\0" * 64)
        + names_table([b"x"]),
        error("ndim 240", field="ndim", record=0, offset=first + 8),
    )
    # 64 dims of 2^63 - 1 (the most allowed): the size check must not build a huge integer
    out["bad-ndim-64-huge-dims.params"] = (
        header(1) + dense(V2, (2**63 - 1,) * 64, 0, b"\0" * 64) + names_table([b"x"]),
        error("more than 2^64", field="data", record=0, offset=first + 12 + 8 * 64 + 12),
    )

    # -- dtype / stype ------------------------------------------------------------------------
    flag_at = first + 12 + 16 + 8
    for flag in (13, -1):
        out[f"bad-dtype-flag-{flag}.params".replace("--", "-minus")] = (
            header(1) + dense(V2, (2, 3), flag, b"\0" * 24) + names_table([b"x"]),
            error("dtype flag", field="type_flag", record=0, offset=flag_at),
        )
    for st in (3, -1):
        rec = struct.pack("<Ii", V2, st) + shape((2, 3)) + struct.pack("<iii", 1, 0, 0)
        out[f"bad-stype-{st}.params".replace("--", "-minus")] = (
            header(1) + rec + b"\0" * 24 + names_table([b"x"]),
            error("storage type", field="stype", record=0, offset=first + 4),
        )
    out["bad-sparse-in-v3.params"] = (
        header(1) + sparse(1, (2, 2), (4, 2), 0, [(6, (2,))], b"\0" * 32, V3) + names_table([b"r"]),
        error("v3", field="stype", record=0, offset=first + 4),
    )
    out["bad-csr-1d.params"] = (
        header(1)
        + sparse(2, (1,), (3,), 0, [(6, (4,)), (6, (1,))], b"\0" * 44)
        + names_table([b"c"]),
        error("2-d", field="ndim", record=0),
    )
    out["bad-rsp-ndim0.params"] = (
        header(1) + sparse(1, (0,), (), 0, [(6, (0,))], b"") + names_table([b"r"]),
        error("ndim 0", field="ndim", record=0),
    )
    aux_flag_at = first + 8 + 20 + 20 + 12
    out["bad-aux-dtype-flag.params"] = (
        header(1) + sparse(1, (2, 2), (4, 2), 0, [(99, (2,))], b"\0" * 32) + names_table([b"r"]),
        error("aux dtype", field="aux 0 type_flag", record=0, offset=aux_flag_at),
    )
    out["bad-aux-shape-2e62.params"] = (
        header(1) + sparse(1, (2, 2), (4, 2), 0, [(6, (2**62,))], b"\0" * 32) + names_table([b"r"]),
        error("needs", field="data", record=0, offset=aux_flag_at + 16),
    )

    # -- data --------------------------------------------------------------------------------
    # README's example: record 2 needs 1600 bytes, fewer are left
    recs = [record_v23(a23), record_v23(a23)]
    w20 = record_v23(np.zeros((20, 20), np.float32))
    cut = header(3) + b"".join(recs) + w20[: len(w20) - 1116]
    out["bad-data-short.params"] = (
        cut,
        error("needs 1600 bytes", field="data", record=2, offset=first + 128 + 40),
    )
    # a 0-d array written with the V2 magic: V2 ndim 0 is "none", so its ctx/dtype/data words
    # are read as the next record (spec §6: MXNet desynchronises on this)
    zero_d_v2 = dense(V2, (), 0, struct.pack("<f", 1.0))
    out["bad-v2-0d-with-data.params"] = (
        header(1) + zero_d_v2 + names_table([b"s"]),
        error("name length", field="name length", record=0),
    )

    # -- MXNet 2.x zip / npy --------------------------------------------------------------------
    good_npz = make_zip([("w.npy", npy(a23)), ("b.npy", npy(np.array([7], np.int64)))])
    out["bad-zip-of-text.params"] = (
        make_zip([("README.txt", b"not a checkpoint\n")]),
        error("non-.npy members"),
    )
    out["bad-zip-empty.params"] = (make_zip([]), error("no members"))
    # central directory overwritten with zeros (the end record still points at it)
    cd = good_npz.find(b"PK\x01\x02")
    eocd = good_npz.find(b"PK\x05\x06")
    out["bad-zip-damaged.params"] = (
        good_npz[:cd] + bytes(eocd - cd) + good_npz[eocd:],
        error("zip"),
    )
    out["bad-zip-truncated.params"] = (good_npz[: len(good_npz) - 30], error("zip"))

    def set_method_99(buf: bytearray, pos: int) -> None:
        buf[pos : pos + 2] = struct.pack("<H", 99)

    out["bad-zip-method-99.params"] = (
        patch_zip_headers(good_npz, 8, 10, set_method_99),
        error("zip"),
    )

    def set_encrypted(buf: bytearray, pos: int) -> None:
        buf[pos] |= 1

    out["bad-zip-encrypted.params"] = (
        patch_zip_headers(good_npz, 6, 8, set_encrypted),
        error("zip"),
    )
    deflated = bytearray(make_zip([("w.npy", npy(np.arange(1000, dtype=np.float32)))], 8))
    start = deflated.find(b"w.npy") + 5 + 20
    for k in range(start, start + 30):
        deflated[k] ^= 0x55
    out["bad-zip-deflate-corrupt.params"] = (bytes(deflated), error("zip"))
    # the second member's local header claims 51,712 bytes of "extra" field: its data would
    # start past the end of the file (zipfile raises EOFError)
    second = good_npz.find(b"PK\x03\x04", 4)
    out["bad-zip-eof.params"] = (
        good_npz[: second + 28] + struct.pack("<H", 0xCA00) + good_npz[second + 30 :],
        error("zip"),
    )
    # one byte deleted from the first local header: every offset in the central directory is
    # now one past the member it names, and zipfile seeks to offset -1 (OSError EINVAL)
    out["bad-zip-shifted.params"] = (good_npz[:4] + good_npz[5:], error("zip"))
    # a member with an empty name (zipfile's ZipInfo.is_dir() raises IndexError on it)
    out["bad-zip-empty-name.params"] = (make_zip([("", b"x")]), error("zip"))

    # member names flagged UTF-8 (flag bit 11) that are not UTF-8: in the central directory
    # (zipfile fails while opening the archive) or only in the local header (when reading)
    def utf8_flag_bad_name(buf: bytearray, flag_at: int, name_at: int) -> None:
        buf[flag_at + 1] |= 0x08
        buf[name_at] = 0xFF

    bad_central = bytearray(good_npz)
    at = bad_central.find(b"PK\x01\x02")
    utf8_flag_bad_name(bad_central, at + 8, at + 46)
    out["bad-zip-utf8-name-central.params"] = (bytes(bad_central), error("zip"))
    bad_local = bytearray(good_npz)
    utf8_flag_bad_name(bad_local, 6, 30)
    out["bad-zip-utf8-name-local.params"] = (bytes(bad_local), error("zip"))
    # "version needed to extract" 20.1 in the central directory (zipfile raises
    # NotImplementedError)
    central = good_npz.find(b"PK\x01\x02")
    out["bad-zip-version-needed.params"] = (
        good_npz[: central + 6] + struct.pack("<H", 201) + good_npz[central + 8 :],
        error("zip"),
    )
    # one data byte changed in a member larger than zipfile's 4 KB read: listing reads only the
    # .npy header and never reaches the CRC check; copying the member (rename) does
    big = bytearray(make_zip([("w.npy", npy(np.arange(4000, dtype=np.float32)))]))
    big[big.find(b"\x93NUMPY") + 8000] ^= 0xFF
    out["bad-zip-bad-crc.params"] = (
        bytes(big),
        any_outcome("ls reads only the header (exit 0); rename must fail cleanly"),
    )
    out["bad-zip-member-short.params"] = (
        make_zip([("w.npy", npy(np.zeros(1000, np.float32))[:200])]),
        error("w.npy"),
    )
    out["bad-zip-sparse-incomplete.params"] = (
        make_zip(
            [
                ("c/data.npy", npy(np.array([5.0], np.float32))),
                ("c/shape.npy", npy(np.array([3, 3], np.int64))),
            ]
        ),
        error("lacks"),
    )
    out["bad-zip-npy-object.params"] = (
        make_zip([("w.npy", npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}\n"))]),
        error("dtype"),
    )
    # a zip bomb: shape.npy says (2,) int64 but is followed by 16 MiB of zeros, deflated to
    # ~16 KB; listing needs only 16 bytes of it
    bomb_shape = npy(np.array([3, 3], np.int64)) + bytes(16 << 20)
    out["bad-zip-bomb-shape.params"] = (
        make_zip(
            [
                ("c/data.npy", npy(np.array([5.0], np.float32))),
                ("c/indices.npy", npy(np.array([1], np.int64))),
                ("c/indptr.npy", npy(np.array([0, 1, 1, 1], np.int64))),
                ("c/shape.npy", bomb_shape),
            ],
            zipfile.ZIP_DEFLATED,
        ),
        any_outcome("a valid listing is fine; the memory bound is what matters"),
    )
    out["bad-npy-header.npy"] = (npy_raw("this is not a dict" + " " * 40 + "\n"), error("npy"))
    out["bad-npy-object.npy"] = (
        npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}\n", b"\0" * 16),
        error("dtype"),
    )
    out["bad-npy-version-9.npy"] = (
        b"\x93NUMPY\x09\x00" + b"\0" * 64,
        error("version"),
    )
    # version byte 217 and a 4 GiB header length in a 64-byte file
    out["bad-npy-version-217.npy"] = (
        b"\x93NUMPY\xd9\x00" + b"\xff" * 4 + b"\0" * 52,
        error("version"),
    )
    out["bad-npy-header-past-end.npy"] = (
        b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{'descr': '<f4'",
        error("npy"),
    )
    out["bad-npy-data-short.npy"] = (npy(np.arange(100, dtype=np.float32))[:200], error("early"))
    # 5000 unary minus signs: Python's parser recurses once per sign
    out["bad-npy-unary-chain.npy"] = (
        npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "-" * 5000 + "1,)}\n"),
        error("npy"),
    )
    # 8000 of them: the parser runs out of stack (MemoryError)
    out["bad-npy-unary-chain-8000.npy"] = (
        npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "-" * 8000 + "1,)}\n"),
        error("npy"),
    )
    # Python's parser prints "SyntaxWarning: invalid decimal literal" on stderr for "1if"
    out["bad-npy-syntax-warning.npy"] = (
        npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1if 1 else 2,)}\n"),
        error("npy"),
    )
    # 250 dims of 2^62: the byte count has ~4700 digits
    out["bad-npy-huge-shape.npy"] = (
        npy_raw(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (" + f"{2**62}, " * 250 + ")}\n",
            b"\0" * 16,
        ),
        error("npy"),
    )

    # -- valid but extreme ------------------------------------------------------------------------
    # 2000 V0 "none" records: 4 bytes each (the smallest record there is)
    out["odd-many-none-records.params"] = (
        header(2000) + struct.pack("<I", 0) * 2000 + names_table([]),
        ok(),
    )
    # one V2 record with 2000 dims of ~2^62 and a last dim 0: zero elements, 16 KB of dims
    dims = (*(2**62 + i for i in range(1999)), 0)
    out["odd-huge-ndim-zero-size.params"] = (
        header(1) + dense(V2, dims, 0, b"") + names_table([b"x"]),
        any_outcome("numpy has at most 32/64 dims: refusing it is as fine as listing it"),
    )
    # a .npy whose shape has 5000 zero dims (a 10 KB header): valid, zero elements
    out["odd-npy-5000-dims.npy"] = (
        npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "0," * 5000 + ")}\n"),
        any_outcome("numpy has at most 32/64 dims: refusing it is as fine as listing it"),
    )
    return out


def build() -> dict[str, tuple[bytes, Spec]]:
    files = seeds()
    files.update(hostile())
    return files


def write(out_dir: Path) -> dict[str, Spec]:
    corpus = out_dir / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    expected: dict[str, Spec] = {}
    for name, (data, spec) in sorted(build().items()):
        (corpus / name).write_bytes(data)
        expected[name] = {"size": len(data), **spec}
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="directory for corpus/ (default: here)"
    )
    args = parser.parse_args(argv)
    expected = write(args.out)
    total = sum(e["size"] for e in expected.values())
    print(f"{len(expected)} files, {total:,} bytes in {args.out / 'corpus'}")


if __name__ == "__main__":
    main()

"""Byte-level builders for .params files, written straight from the spec (no paramtool code).

Used to craft record versions MXNet 1.9.1 no longer writes (V0, V1), mixed files and broken
files. Layouts: shared/spec/params-format.md §2, §3.
"""

from __future__ import annotations

import struct

import numpy as np

#: type_flag by dtype name (spec §5); bfloat16 (12) is MXNet's structured dtype.
FLAGS = {
    "float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6,
    "bool": 7, "int16": 8, "uint16": 9, "uint32": 10, "uint64": 11, "bfloat16": 12,
}  # fmt: skip


def header(count: int, reserved: int = 0) -> bytes:
    return struct.pack("<QQQ", 0x112, reserved, count)


def names_table(names: list[bytes] | None) -> bytes:
    names = names or []
    out = struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n
    return out


def record_v0(a: np.ndarray, ctx: tuple[int, int] = (1, 0)) -> bytes:
    return (
        struct.pack(f"<I{a.ndim}I", a.ndim, *a.shape)
        + struct.pack("<iii", *ctx, FLAGS[a.dtype.name])
        + a.astype(a.dtype.newbyteorder("<")).tobytes()
    )


def record_v1(a: np.ndarray, ctx: tuple[int, int] = (1, 0)) -> bytes:
    return (
        struct.pack(f"<Ii{a.ndim}q", 0xF993FAC8, a.ndim, *a.shape)
        + struct.pack("<iii", *ctx, FLAGS[a.dtype.name])
        + a.tobytes()
    )


def record_v23(
    a: np.ndarray, version: int = 2, ctx: tuple[int, int] = (1, 0), flag: int | None = None
) -> bytes:
    magic = {2: 0xF993FAC9, 3: 0xF993FACA}[version]
    return (
        struct.pack(f"<Iii{a.ndim}q", magic, 0, a.ndim, *a.shape)
        + struct.pack("<iii", *ctx, FLAGS[a.dtype.name] if flag is None else flag)
        + a.tobytes()
    )


def params_file(records: list[bytes], names: list[str] | None = None) -> bytes:
    raw = [n.encode() for n in names] if names is not None else None
    return header(len(records)) + b"".join(records) + names_table(raw)

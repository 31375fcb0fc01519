#!/usr/bin/env python3
"""Atheris (libFuzzer) harness for paramtool's readers. See tests/fuzz/README.md.

Each input goes through:

1. ``paramtool.format.read_layout`` on an ``io.BytesIO`` (the NDArray-list reader); a layout it
   returns must be consistent (records back to back, everything inside the input);
2. ``paramtool.npz.parse_npy_header`` (the MXNet 2.x ``.npy`` header parser);
3. the ``ls --format json`` command (``paramtool.cli``) on a file holding the input, which also
   covers the MXNet 2.x zip (``.npz``) and bare ``.npy`` listing and the JSON rendering.

Any exception other than paramtool's own ``FormatError`` family (``UnsupportedFormatError``
included; for the command: exit status 3) is a crash. With ``PARAMTOOL_FUZZ_MEMORY=1`` an input
whose listing allocates more than 64 KiB + 2 x its size (+ 512 bytes per record) is a crash too
(tracemalloc; about half the speed). With ``PARAMTOOL_FUZZ_KEEP_GOING=1`` a crash is
recorded instead of ending the run: the first input of each distinct failure (exception type and
innermost paramtool line) is saved as ``artifacts/bug-*`` and listed in ``artifacts/bugs.txt``,
for cataloguing several bugs in one long run.

Usage (the committed corpus is only read: new inputs go to tests/fuzz/work-corpus/, crashes to
tests/fuzz/artifacts/, the current input to tests/fuzz/tmp/; all ignored by git)::

    python tests/fuzz/fuzz_params.py -max_total_time=60 tests/hostile/corpus
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
import tracemalloc
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["paramtool", "zipfile"]):
    import zipfile  # noqa: F401 - instrumented for coverage of the npz paths

    import paramtool.commands.ls  # noqa: F401 - loaded on demand by the cli; instrumented here
    from paramtool.cli import cli
    from paramtool.errors import FormatError
    from paramtool.format import read_layout
    from paramtool.index import open_params
    from paramtool.npz import parse_npy_header

HERE = Path(__file__).resolve().parent
COMMITTED_CORPUS = (HERE.parent / "hostile" / "corpus").resolve()
WORK_CORPUS = HERE / "work-corpus"
ARTIFACTS = HERE / "artifacts"
MEMORY = os.environ.get("PARAMTOOL_FUZZ_MEMORY") == "1"
KEEP_GOING = os.environ.get("PARAMTOOL_FUZZ_KEEP_GOING") == "1"
MEMORY_SLACK = 64 * 1024
PER_RECORD = 512
LIST_MAGIC = b"\x12\x01\x00\x00\x00\x00\x00\x00"

#: The file each input is written to for the ``ls`` check (one per process, git-ignored).
_PATH = str(HERE / "tmp" / f"input-{os.getpid()}.params")


class UnexpectedResult(AssertionError):
    """An invariant broke (not an exception from paramtool itself)."""


def check_layout(data: bytes) -> None:
    try:
        layout, _ = read_layout(io.BytesIO(data), "<fuzz>", len(data))
    except FormatError:
        return
    pos = 24
    for i, rec in enumerate(layout.records):
        if rec.index != i or rec.offset != pos or not rec.offset < rec.data_offset <= rec.end:
            raise UnexpectedResult(f"record {i} is not where the previous one ended: {rec}")
        if rec.data_offset + rec.nbytes != rec.end or any(d < 0 for d in rec.shape):
            raise UnexpectedResult(f"record {i} has inconsistent sizes: {rec}")
        pos = rec.end
    if not (pos == layout.records_end and pos + 8 <= layout.names_end <= layout.size == len(data)):
        raise UnexpectedResult(f"layout does not fit the {len(data)}-byte input: {layout}")


def check_npy_header(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse_npy_header(data, "<fuzz>")


def check_ls(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            ["ls", "--format", "json", _PATH], prog_name="paramtool", standalone_mode=False
        )
    if code not in (None, 0, 3):
        raise UnexpectedResult(f"ls exited {code}: {err.getvalue()!r}")
    if code == 3 and len(err.getvalue().splitlines()) != 1:
        raise UnexpectedResult(f"ls failed without exactly one error line: {err.getvalue()!r}")


def check_memory(data: bytes) -> None:
    """Peak allocation of opening and listing the input, against the bound."""

    def open_count() -> int:
        with open_params(_PATH) as pf:
            return len(pf)

    for what, fn in (("open_params", open_count), ("ls listing", list_count)):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        records = None
        with contextlib.suppress(FormatError):
            records = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
        limit = MEMORY_SLACK + 2 * len(data) + PER_RECORD * record_allowance(data, records)
        if peak > limit:
            raise UnexpectedResult(
                f"memory bound broken by {what} on {_kind(data)} input: allocated {peak:,} "
                f"bytes for a {len(data):,}-byte input (limit {limit:,})"
            )


def list_count() -> int:
    from paramtool.backends import native

    return len(native.list_file(_PATH).entries)


def record_allowance(data: bytes, records: int | None) -> int:
    """Records the reader may have indexed: all of them if the input opened, else up to the
    declared array count (as many as could fit at 4 bytes each)."""
    if records is not None:
        return records
    if data.startswith(LIST_MAGIC) and len(data) >= 24:
        return min(int.from_bytes(data[16:24], "little"), (len(data) - 24) // 4)
    return 0


def _kind(data: bytes) -> str:
    if data.startswith(LIST_MAGIC):
        return "NDArray-list"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    return "npy" if data.startswith(b"\x93NUMPY") else "other"


def check_all(data: bytes) -> None:
    check_layout(data)
    check_npy_header(data)
    check_ls(data)
    if MEMORY:
        check_memory(data)


_seen: set[str] = set()
_artifacts = ARTIFACTS


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/paramtool/" in f.filename] or frames[-1:]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    if isinstance(exc, UnexpectedResult):  # the message up to the numbers
        where = str(exc).split(":")[0]
    return f"{type(exc).__name__} at {where}"


def TestOneInput(data: bytes) -> None:
    if not KEEP_GOING:
        check_all(data)
        return
    try:
        check_all(data)
    except Exception as exc:
        sig = _signature(exc)
        if sig in _seen:
            return
        _seen.add(sig)
        _artifacts.mkdir(parents=True, exist_ok=True)
        name = f"bug-{len(_seen):02d}-" + "".join(c if c.isalnum() else "_" for c in sig)
        (_artifacts / name).write_bytes(data)
        line = f"{name}: {sig}: {str(exc)[:200]!r} ({len(data)} bytes)"
        with open(_artifacts / "bugs.txt", "a", encoding="utf-8") as f:
            f.write(line + "\n")
        print(f"NEW BUG {line}", file=sys.stderr, flush=True)


def _arguments(argv: list[str]) -> list[str]:
    """Never let libFuzzer write into the committed corpus; default the crash directory."""
    global _artifacts
    flags = [a for a in argv[1:] if a.startswith("-")]
    dirs = [a for a in argv[1:] if not a.startswith("-")]
    if dirs and Path(dirs[0]).resolve() == COMMITTED_CORPUS:
        WORK_CORPUS.mkdir(exist_ok=True)
        dirs.insert(0, str(WORK_CORPUS))
    prefix = [a.split("=", 1)[1] for a in flags if a.startswith("-artifact_prefix=")]
    if prefix:
        _artifacts = Path(prefix[-1] if prefix[-1].endswith("/") else os.path.dirname(prefix[-1]))
    else:
        ARTIFACTS.mkdir(exist_ok=True)
        flags.append(f"-artifact_prefix={ARTIFACTS}/")
    return [argv[0], *flags, *dirs]


def main() -> None:
    os.makedirs(os.path.dirname(_PATH), exist_ok=True)
    if MEMORY:
        tracemalloc.start()
    atheris.Setup(_arguments(sys.argv), TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

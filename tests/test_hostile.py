"""Hostile inputs: every reader path validates before it allocates, and fails in one line.

The corpus is ``tests/hostile/corpus/`` (written by ``tests/hostile/make_corpus.py``, described
in ``tests/hostile/README.md``); ``tests/hostile/expected.json`` says what each file must give.
Besides each corpus file, every ``seed-*`` file is cut at every byte offset and changed in
:data:`FLIPS` random bytes (a fixed seed per file), here at run time.

For each input, ``ls``, ``ls --format json``, ``diff X X`` and ``rename-prefix X '' p_ -o OUT``
must either succeed (exit 0) or print exactly one ``Error:`` line naming the file on stderr and
exit 3; never a traceback, never an output file or a ``*.paramtool-tmp`` file left behind on
failure. Damage inside an NDArray list must be located: the record, the field, the byte offset.
Opening an input with ``paramtool.open_params`` and walking all its records may allocate at most
the file's size + :data:`OPEN_SLACK` (a fixed cost); the ``ls`` listing path, which builds one
entry per record for its output, at most :data:`MEMORY_SLACK` + 2 x the file size +
:data:`PER_RECORD` per record. Both must take time linear in the file size.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import time
import traceback
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import paramtool
import paramtool.npz  # imported here, not inside a measured call (import cost is not input's)
from paramtool.backends import native
from paramtool.cli import cli
from paramtool.format import KEEP_SLACK, FileLayout, read_layout

HOSTILE = Path(__file__).parent / "hostile"
CORPUS = HOSTILE / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((HOSTILE / "expected.json").read_text())
FILES = sorted(EXPECTED)
SEEDS = [n for n in FILES if n.startswith("seed-")]
#: Random single-byte changes per seed file.
FLIPS = 50
#: What opening and walking a file may allocate beyond the file's size: the records a small
#: file always keeps (KEEP_SLACK), read buffers and the like (~7 KiB), whatever the input. The
#: index itself stays within the file's size (see paramtool.format.RecordTable).
OPEN_SLACK = KEEP_SLACK + 16 * 1024
#: Memory bound for listing a file: this constant + 2 x the file size (+ PER_RECORD per record,
#: see record_allowance).
MEMORY_SLACK = 64 * 1024
#: A listing keeps one Entry per record for its output (~300 bytes): a file of 4-byte V0 "none"
#: records gives a listing of ~80 x its size. Output-sized, not an allocation the input controls.
PER_RECORD = 512
#: Inflating a deflated ZIP member needs zlib's window and zipfile's read buffers (~64 KiB),
#: whatever the member's size; the bomb test still proves that the member is not inflated.
ZIP_SLACK = 128 * 1024
#: Seconds allowed to open and list each generated large input (linear code needs ~0.2 s).
LARGE_SECONDS = 1.5
LIST_MAGIC = b"\x12\x01\x00\x00\x00\x00\x00\x00"
OUT_NAME = "out.params"

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_LOC = re.compile(
    r"^(?:record (?P<record>\d+), )?(?:field '(?P<field>[^']*)', )?at byte (?P<at>\d+)"
)


# -- inputs ---------------------------------------------------------------------------------------


def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def truncations(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Every proper prefix of ``data``: (length, bytes)."""
    for t in range(len(data)):
        yield t, data[:t]


def flips(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """:data:`FLIPS` copies of ``data``, each with one byte replaced by a different value.

    Seeded from the file name, so every run (and every machine) gets the same inputs.
    """
    rng = random.Random(zlib.crc32(name.encode()))
    for _ in range(FLIPS if data else 0):
        pos = rng.randrange(len(data))
        value = (data[pos] + rng.randrange(1, 256)) % 256
        yield (
            f"byte {pos} 0x{data[pos]:02x}->0x{value:02x}",
            (data[:pos] + bytes([value]) + data[pos + 1 :]),
        )


def list_layout(data: bytes) -> FileLayout | None:
    """The layout of a valid NDArray-list seed, or None for npz/npy seeds."""
    if not data.startswith(LIST_MAGIC):
        return None
    layout, _ = read_layout(io.BytesIO(data), "<seed>", len(data))
    return layout


# -- running the CLI ------------------------------------------------------------------------------


def _where(result: Result) -> str:
    """``Type: message`` of an unexpected exception and the innermost paramtool frame."""
    exc = result.exception
    assert exc is not None and result.exc_info is not None
    frames = traceback.extract_tb(result.exc_info[2])
    ours = [f for f in frames if "paramtool" in f.filename and "test" not in f.filename]
    frame = ours[-1] if ours else frames[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno} ({frame.name})"
    return f"{type(exc).__name__}: {str(exc)[:150]} at {where}"


#: Warning classes a real process does not print by default (Python's default filters).
_SILENT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(args: list[str]) -> Result:
    """Run the CLI in-process. Python warnings that a real process would print on stderr (and
    pytest would swallow) are recorded in ``result.printed_warnings``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
    result.printed_warnings = [  # type: ignore[attr-defined]
        f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, _SILENT)
    ]
    return result


def parse_error(line: str, path: str) -> dict[str, Any]:
    """Split ``Error: PATH: record R, field 'F', at byte N: message`` into its parts."""
    rest = line[len(f"Error: {path}: ") :]
    m = _LOC.match(rest)
    if not m:
        return {"record": None, "field": None, "at": None, "message": rest}
    return {
        "record": None if m["record"] is None else int(m["record"]),
        "field": m["field"],
        "at": int(m["at"]),
        "message": rest[m.end() + 2 :],
    }


class Exercise:
    """Run the four commands on one input file and collect every broken rule."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.out = path.parent / OUT_NAME
        self.problems: list[str] = []
        self.ls_error: str | None = None

    def fail(self, label: str, what: str) -> None:
        self.problems.append(f"{label}: {what}")

    def check(self, result: Result, label: str) -> None:
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            self.fail(label, "crashed with " + _where(result))
            return
        if "Traceback" in result.output:
            self.fail(label, "traceback in the output")
        if result.exit_code not in (0, 3):
            self.fail(label, f"exit {result.exit_code} (expected 0 or 3): {result.stderr!r}")
        if result.exit_code == 3:
            lines = result.stderr.splitlines()
            printed = getattr(result, "printed_warnings", [])
            if printed:
                self.fail(label, f"a real process would also print {printed}")
            if len(lines) != 1:
                self.fail(label, f"{len(lines)} lines on stderr: {result.stderr[:300]!r}")
            elif not lines[0].startswith(f"Error: {self.path}"):
                self.fail(label, f"error line does not start with the file: {lines[0][:300]!r}")
            elif len(lines[0]) > 1000:
                self.fail(label, f"error line of {len(lines[0])} characters: {lines[0][:200]!r}…")

    @staticmethod
    def _line(result: Result) -> str:
        """The stderr line, without object addresses (``<ast.Name object at 0x7f...>``)."""
        return _ADDRESS.sub(" at 0x…", result.stderr.strip())

    def run(self) -> Exercise:
        p = str(self.path)
        ls = invoke(["ls", p])
        self.check(ls, "ls")
        ls_json = invoke(["ls", "--format", "json", p])
        self.check(ls_json, "ls --format json")
        diff = invoke(["diff", p, p])
        self.check(diff, "diff X X")
        if self.out.exists():
            self.out.unlink()
        rename = invoke(["rename-prefix", p, "", "p_", "-o", str(self.out)])
        self.check(rename, "rename-prefix X '' p_")
        if self.problems:
            return self
        if ls.exit_code == 3:
            self.ls_error = ls.stderr.strip()
            for result, label in ((ls_json, "ls --format json"), (diff, "diff X X")):
                if self._line(result) != self._line(ls):
                    self.fail(label, f"{result.stderr.strip()!r} but ls said {self.ls_error!r}")
            if rename.exit_code != 3 or self._line(rename) != self._line(ls):
                self.fail("rename-prefix", f"{rename.stderr.strip()!r}, ls said {self.ls_error!r}")
        else:
            if ls_json.exit_code != 0:
                self.fail("ls --format json", f"failed where ls did not: {ls_json.stderr!r}")
            else:
                doc = json.loads(ls_json.stdout)
                if len(doc["parameters"]) != doc["count"]:
                    self.fail("ls --format json", "parameters list and count differ")
            if diff.exit_code != 0:
                self.fail("diff X X", f"exit {diff.exit_code}: {diff.stderr[:300]!r}")
        if rename.exit_code == 0:
            if not self.out.is_file():
                self.fail("rename-prefix", "exit 0 but no output file")
            else:
                try:
                    native.list_file(str(self.out))
                except paramtool.FormatError as e:
                    self.fail("rename-prefix", f"wrote a file paramtool cannot read: {e}")
        elif self.out.exists() or os.path.lexists(self.out):
            self.fail("rename-prefix", "failed but left the output file behind")
        stray = sorted(set(os.listdir(self.path.parent)) - {self.path.name, OUT_NAME})
        if stray:
            self.fail("rename-prefix", f"left files behind: {stray}")
        if self.out.exists():
            self.out.unlink()
        return self


def exercise(path: Path, data: bytes) -> Exercise:
    path.write_bytes(data)
    return Exercise(path).run()


def report(problems: list[str], limit: int = 25) -> str:
    more = f"\n… and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problems:\n" + "\n".join(problems[:limit]) + more


# -- the corpus files themselves ------------------------------------------------------------------


def test_corpus_is_what_make_corpus_writes(tmp_path: Path) -> None:
    """The committed corpus is up to date and the generator is deterministic."""
    subprocess.run(
        [sys.executable, str(HOSTILE / "make_corpus.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = sorted(os.listdir(tmp_path / "corpus"))
    assert fresh == sorted(os.listdir(CORPUS)) == FILES
    changed = [n for n in FILES if (tmp_path / "corpus" / n).read_bytes() != corpus_bytes(n)]
    assert not changed, f"rerun tests/hostile/make_corpus.py: {changed} differ"
    assert (tmp_path / "expected.json").read_text() == (HOSTILE / "expected.json").read_text()
    assert sum(EXPECTED[n]["size"] for n in FILES) < 300_000


@pytest.mark.parametrize("name", FILES)
def test_corpus_file(name: str, tmp_path: Path) -> None:
    spec = EXPECTED[name]
    ex = exercise(tmp_path / name, corpus_bytes(name))
    if ex.problems:
        pytest.fail(report(ex.problems), pytrace=False)
    if spec["kind"] == "ok":
        assert ex.ls_error is None, f"expected a valid file, got {ex.ls_error!r}"
    elif spec["kind"] == "error":
        assert ex.ls_error is not None, "expected an error, the file was listed"
        err = parse_error(ex.ls_error, str(tmp_path / name))
        assert spec["says"] in ex.ls_error.lower(), (spec["says"], ex.ls_error)
        for key, got in (("field", err["field"]), ("record", err["record"]), ("offset", err["at"])):
            if key in spec:
                assert got == spec[key], (
                    f"{key}: expected {spec[key]!r}, got {got!r}: {ex.ls_error}"
                )


# -- every truncation and random byte changes of the seeds ----------------------------------------


def _truncation_problem(layout: FileLayout, t: int, err: dict[str, Any] | None) -> str | None:
    """What is wrong with the result of cutting a valid NDArray list to ``t`` bytes, if anything.

    ``err`` is the parsed error line, None if the cut file was listed.
    """
    if t >= layout.names_end:  # only trailing bytes were cut: still a valid file
        return None if err is None else "a valid prefix (trailing bytes cut) was refused"
    if err is None:
        return "listed a file whose name table is incomplete"
    if t == 0:
        return None if "empty" in err["message"] else "an empty file is not called empty"
    field, record, at = err["field"], err["record"], err["at"]
    if field is None or at is None:
        return "the error names no field or byte offset"
    if not 0 <= at <= t:
        return f"byte offset {at} is outside the {t}-byte file"
    if t < 24:
        want = {"list magic"} if t < 8 else {"reserved", "array count"}
        return None if field in want and record is None else f"expected a header field {want}"
    if field == "array count" and record is None:
        return None  # the count was bounded by the bytes left before any record was read
    if t < layout.records_end:
        rec = next(r for r in layout.records if r.offset <= t < r.end)
        if record != rec.index or not rec.offset <= at:
            return f"expected record {rec.index} (bytes {rec.offset}-{rec.end})"
        return None
    if t < layout.records_end + 8:
        return None if field == "name count" and record is None else "expected field 'name count'"
    start = layout.records_end + 8
    for rec in layout.records:
        assert rec.name is not None
        end = start + 8 + len(rec.name.encode("utf-8", "surrogateescape"))
        if start <= t < end:
            if record != rec.index or field not in ("name length", "name") or at < start:
                return f"expected record {rec.index}, field 'name length' or 'name'"
            return None
        start = end
    raise AssertionError("unreachable")


@pytest.mark.parametrize("name", SEEDS)
def test_every_truncation(name: str, tmp_path: Path) -> None:
    data = corpus_bytes(name)
    layout = list_layout(data)
    path = tmp_path / name
    problems: list[str] = []
    for t, cut in truncations(data):
        ex = exercise(path, cut)
        problems += [f"cut at {t}: {p}" for p in ex.problems]
        if ex.problems:
            continue
        if layout is None:
            if ex.ls_error is None and name.startswith("seed-np"):
                problems.append(f"cut at {t}: a truncated npz/npy file was listed")
            continue
        err = None if ex.ls_error is None else parse_error(ex.ls_error, str(path))
        why = _truncation_problem(layout, t, err)
        if why:
            problems.append(f"cut at {t}: {why}: {ex.ls_error!r}")
    if problems:
        pytest.fail(report(problems), pytrace=False)


@pytest.mark.parametrize("name", SEEDS)
def test_random_byte_changes(name: str, tmp_path: Path) -> None:
    data = corpus_bytes(name)
    path = tmp_path / name
    problems: list[str] = []
    for label, changed in flips(name, data):
        ex = exercise(path, changed)
        problems += [f"{label}: {p}" for p in ex.problems]
        if ex.problems or ex.ls_error is None or not changed.startswith(LIST_MAGIC):
            continue
        err = parse_error(ex.ls_error, str(path))
        if err["field"] is None or err["at"] is None or not 0 <= err["at"] <= len(changed):
            problems.append(f"{label}: error does not locate the damage: {ex.ls_error!r}")
    if problems:
        pytest.fail(report(problems), pytrace=False)


# -- a real process -------------------------------------------------------------------------------


def _subprocess_run(
    args: list[str], cwd: Path
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return args, proc


def test_real_process_sample(tmp_path: Path) -> None:
    """``python -m paramtool`` in real processes: ``ls`` on every corpus file, ``rename-prefix``
    on every seed and on the bad zips, ``ls --format json`` and ``diff`` on a cut and a changed
    copy of ten seeds."""
    jobs: list[tuple[list[str], Path]] = []
    rng = random.Random(7)
    sampled = set(rng.sample(SEEDS, 10))

    def job(args: list[str], name: str, data: bytes, kind: str) -> None:
        work = tmp_path / f"{kind}-{name}"
        work.mkdir(exist_ok=True)
        (work / name).write_bytes(data)
        jobs.append((args, work))

    for name in FILES:
        data = corpus_bytes(name)
        job(["ls", name], name, data, "file")
        if name in SEEDS or name.startswith("bad-zip-"):
            job(["rename-prefix", name, "", "p_", "-o", OUT_NAME], name, data, "rename")
        if name in sampled:
            job(["ls", "--format", "json", name], name, data[: rng.randrange(len(data))], "cut")
            _, flipped = list(flips(name, data))[rng.randrange(FLIPS)]
            job(["diff", name, name], name, flipped, "flip")
    problems = []
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda job: (_subprocess_run(*job), job[1]), jobs))
    for (args, proc), work in results:
        label = f"{work.name}: paramtool {' '.join(args)}"
        if "Traceback" in proc.stderr or proc.returncode not in (0, 3):
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            problems.append(f"{label}: exit {proc.returncode}, {tail[0][:200]!r}")
        elif proc.returncode == 3:
            lines = proc.stderr.splitlines()
            if len(lines) != 1 or not lines[0].startswith("Error: "):
                problems.append(f"{label}: stderr {proc.stderr[:300]!r}")
            if (work / OUT_NAME).exists():
                problems.append(f"{label}: failed but left {OUT_NAME}")
        leftovers = [f for f in os.listdir(work) if f.endswith(".paramtool-tmp")]
        if leftovers:
            problems.append(f"{label}: left {leftovers}")
    if problems:
        pytest.fail(report(problems), pytrace=False)


# -- memory and time ------------------------------------------------------------------------------


def _peak_allocation(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes allocated (tracemalloc) while ``fn`` runs, and what it returned or raised."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        outcome: Any = fn()
    except Exception as e:  # crashes are reported by the other tests; here only memory counts
        outcome = e
    peak = tracemalloc.get_traced_memory()[1] - before
    return peak, outcome


def _open_records(path: Path) -> int:
    with paramtool.open_params(path) as pf:
        for rec in pf:  # every record decoded once (and dropped), as a listing walks them
            assert rec.index >= 0
        return len(pf)


def _list_records(path: Path) -> int:
    return len(native.list_file(str(path)).entries)


def record_allowance(data: bytes, records: int | None) -> int:
    """Records the reader may have indexed: all of them if the file opened, else (it failed
    part way) up to the declared array count, as many as could fit at 4 bytes each."""
    if records is not None:
        return records
    if data.startswith(LIST_MAGIC) and len(data) >= 24:
        return min(int.from_bytes(data[16:24], "little"), (len(data) - 24) // 4)
    return 0


def memory_problems(path: Path, data: bytes, label: str) -> list[str]:
    path.write_bytes(data)
    problems = []
    for what, fn in (("open_params", _open_records), ("ls listing", _list_records)):
        peak, outcome = _peak_allocation(lambda fn=fn: fn(path))
        if what == "open_params":
            limit = OPEN_SLACK + len(data)
        else:
            records = record_allowance(data, outcome if isinstance(outcome, int) else None)
            limit = MEMORY_SLACK + 2 * len(data) + PER_RECORD * records
        if data.startswith(b"PK"):
            limit += ZIP_SLACK
        if peak > limit:
            problems.append(
                f"{label}: {what} allocated {peak:,} bytes for a {len(data):,}-byte file "
                f"(limit {limit:,})"
            )
    return problems


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize("name", FILES)
def test_memory_corpus_file(name: str, tmp_path: Path) -> None:
    problems = memory_problems(tmp_path / name, corpus_bytes(name), name)
    if problems:
        pytest.fail(report(problems), pytrace=False)


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize("name", SEEDS)
def test_memory_truncations_and_changes(name: str, tmp_path: Path) -> None:
    data = corpus_bytes(name)
    path = tmp_path / name
    problems: list[str] = []
    for t, cut in truncations(data):
        problems += memory_problems(path, cut, f"cut at {t}")
    for label, changed in flips(name, data):
        problems += memory_problems(path, changed, label)
    if problems:
        pytest.fail(report(problems), pytrace=False)


def _huge_ndim(ndim: int, last: int) -> bytes:
    """One V2 record with ``ndim`` dims of about 2^62 and a last dim ``last``."""
    import struct

    dims = [2**62 + i for i in range(ndim - 1)] + [last]
    record = struct.pack(f"<Iii{ndim}q", 0xF993FAC9, 0, ndim, *dims) + struct.pack("<iii", 1, 0, 0)
    return struct.pack("<QQQ", 0x112, 0, 1) + record + struct.pack("<QQ", 1, 1) + b"x"


def _many_none_records(n: int) -> bytes:
    import struct

    return struct.pack("<QQQ", 0x112, 0, n) + b"\0\0\0\0" * n + struct.pack("<Q", 0)


def _npy_many_dims(n: int) -> bytes:
    import struct

    text = ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "0," * n + ")}\n").encode()
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


LARGE = {
    # a valid file (zero elements) whose 32k dims multiply to a 2-million-bit integer
    "256 KB, ndim 32768, last dim 0": lambda: _huge_ndim(32768, 0),
    # the same without the zero: the data would need ~2^(62 * 32768) bytes
    "256 KB, ndim 32768, no zero dim": lambda: _huge_ndim(32768, 3),
    "128 KB of 4-byte V0 'none' records": lambda: _many_none_records(32768),
    # the largest header a version 1.0 .npy can have
    "64 KB .npy header with 21k dims": lambda: _npy_many_dims(21800),
}


@pytest.mark.parametrize("case", sorted(LARGE))
def test_large_generated_inputs(case: str, tmp_path: Path) -> None:
    """Larger inputs made here (not committed): memory bounded as above, time linear in the
    size (each takes well under :data:`LARGE_SECONDS` with linear code), no crash."""
    data = LARGE[case]()
    path = tmp_path / "large.params"
    path.write_bytes(data)
    problems: list[str] = []
    for what, fn in (("open_params", _open_records), ("ls listing", _list_records)):
        start = time.perf_counter()
        try:
            fn(path)
        except paramtool.FormatError:
            pass
        except Exception as e:
            problems.append(f"{case}: {what} raised {type(e).__name__}: {str(e)[:100]}")
        elapsed = time.perf_counter() - start
        if elapsed > LARGE_SECONDS:
            problems.append(f"{case}: {what} took {elapsed:.1f} s (limit {LARGE_SECONDS} s)")
    tracemalloc.start()
    try:
        problems += memory_problems(path, data, case)
    finally:
        tracemalloc.stop()
    result = invoke(["ls", "--format", "json", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"{case}: ls crashed with {_where(result)}")
    elif result.exit_code == 3 and len(result.stderr) > 1000:
        problems.append(f"{case}: error message of {len(result.stderr)} characters")
    if problems:
        pytest.fail(report(problems), pytrace=False)


# -- paramtool.load reads the data too ------------------------------------------------------------


def _load_problem(path: Path, data: bytes, label: str) -> str | None:
    path.write_bytes(data)
    try:
        paramtool.load(path)
    except paramtool.FormatError:
        return None
    except Exception as e:
        frames = traceback.extract_tb(e.__traceback__)
        ours = [f for f in frames if "paramtool" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}"
        return f"{label}: paramtool.load raised {type(e).__name__}: {str(e)[:150]} at {where}"
    return None


def test_load_corpus_files(tmp_path: Path) -> None:
    """``paramtool.load`` either returns the arrays or raises FormatError, on every corpus file."""
    problems = [_load_problem(tmp_path / n, corpus_bytes(n), n) for n in FILES]
    found = [p for p in problems if p]
    if found:
        pytest.fail(report(found), pytrace=False)


@pytest.mark.parametrize("name", [n for n in SEEDS if not n.startswith("seed-data-tutorial")])
def test_load_truncations_and_changes(name: str, tmp_path: Path) -> None:
    data = corpus_bytes(name)
    path = tmp_path / name
    inputs = [(f"cut at {t}", cut) for t, cut in truncations(data)] + list(flips(name, data))
    found = [p for label, d in inputs if (p := _load_problem(path, d, label))]
    if found:
        pytest.fail(report(found), pytrace=False)

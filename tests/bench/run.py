"""paramtool benchmark: wall time and peak RSS, side by side with MXNet and plain tools.

Run from the repository root with the project's venv::

    .venv/bin/python tests/bench/run.py            # ~1 GiB files, 5 repetitions
    .venv/bin/python tests/bench/run.py --quick    # 128 MiB files, 3 repetitions

It generates, in a temporary directory (``--dir`` to choose; it needs ~4x the size free):

* ``big.params``: 256 float32 arrays with Gluon-prefixed names, 1 GiB of data in all;
* ``big2.params``: the same with a few values changed (for ``diff --values``);
* ``mid.params``: the same names, 1/8 of the data (listing time must not depend on size);
* ``many.params``: 100 000 small arrays (a large name table);
* ``small.params``: a 1 KB file (start-up cost).

Each command runs in a fresh process (paramtool's console script, with its modules compiled to
``.pyc`` first, as a normal install has them); the table gives the median wall time over the
repetitions and the child's peak RSS (``ru_maxrss``), and the ratio against the reference the
issue names. Page cache is warm (one untimed run first): the figures compare CPU and memory
work, not disk speed. MXNet columns are skipped where MXNet cannot be imported.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
#: The installed console script, as a user runs it (``python -m paramtool`` adds runpy's cost).
_SCRIPT = Path(PY).parent / "paramtool"
PARAMTOOL = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "paramtool"]


def compile_bytecode() -> None:
    """Write paramtool's ``.pyc`` files, as any install but an editable one under
    ``PYTHONDONTWRITEBYTECODE=1`` has them (pip compiled MXNet's at install): otherwise every
    run would compile paramtool's modules from source and the comparison would be unfair."""
    package = Path(__file__).resolve().parents[2] / "paramtool"
    subprocess.run([PY, "-m", "compileall", "-q", str(package)], check=True)


def write_big(
    path: Path, total_mib: int, arrays: int = 256, seed: int = 0, flip: bool = False
) -> None:
    """``arrays`` float32 records of equal size, names ``model0_layerN_weight``; V2 records."""
    import numpy as np

    per = (total_mib << 20) // arrays // 4  # elements per array
    rng = np.random.default_rng(seed)
    block = rng.standard_normal(per, dtype=np.float32)
    names = []
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, arrays))
        for i in range(arrays):
            f.write(struct.pack("<Iiiq", 0xF993FAC9, 0, 1, per) + struct.pack("<iii", 1, 0, 0))
            data = block
            if flip and i % 64 == 3:  # a few arrays differ by a little
                data = block.copy()
                data[i] += 1e-3
            f.write(data.tobytes())
            names.append(f"model0_layer{i}_weight".encode())
        f.write(struct.pack("<Q", arrays))
        for n in names:
            f.write(struct.pack("<Q", len(n)) + n)


def write_many(path: Path, count: int) -> None:
    import numpy as np

    import paramtool

    paramtool.save(
        path,
        {f"model0_block{i}_dense{i % 7}_weight": np.zeros(2, np.float32) for i in range(count)},
    )


def generate(work: Path, mib: int) -> None:
    write_big(work / "big.params", mib)
    write_big(work / "big2.params", mib, flip=True)
    write_big(work / "mid.params", mib // 8)
    write_many(work / "many.params", 100_000)
    write_big(work / "small.params", 0, arrays=4)  # zero-size arrays: ~200 bytes


def run(cmd: list[str], *, stdout: int | None = subprocess.DEVNULL) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one child process.

    Linux counts the memory of the forked process before it execs in the child's
    ``ru_maxrss``: this process imports nothing heavy (numpy runs in a child that generates
    the files), so the figure floors at about its own ~10 MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def measure(cmd: list[str], reps: int, before: list[str] | None = None) -> tuple[float, int]:
    """Median wall time and max peak RSS over ``reps`` runs, after one warm-up run.
    ``before``: paths to delete before each run (outputs)."""
    walls, rss = [], []
    for i in range(reps + 1):
        for p in before or []:
            with __import__("contextlib").suppress(FileNotFoundError):
                os.unlink(p)
        wall, peak, code = run(cmd)
        if code not in (0, 1):
            raise SystemExit(f"failed ({code}): {' '.join(cmd)}")
        if i:
            walls.append(wall)
            rss.append(peak)
    return statistics.median(walls), max(rss)


def mxnet_ok() -> bool:
    return subprocess.run([PY, "-c", "import mxnet"], capture_output=True).returncode == 0


#: rename-prefix options that leave a plain copy, with cp's guarantees: no check, no fsync.
PLAIN_COPY = ["--no-verify", "--no-sync"]

MX_LIST = (
    "import mxnet as mx,sys\nfor k,v in mx.nd.load(sys.argv[1]).items(): print(k,v.shape,v.dtype)"
)
MX_RENAME = (
    "import mxnet as mx,sys\nd=mx.nd.load(sys.argv[1])\n"
    "mx.nd.save(sys.argv[2],{k.replace('model0_','model1_',1):v for k,v in d.items()})"
)
MX_LOAD2 = "import mxnet as mx,sys\na=mx.nd.load(sys.argv[1]);b=mx.nd.load(sys.argv[2])"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="128 MiB files, 3 repetitions")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--dir", default=None, help="where to generate the files")
    ap.add_argument("--generate", nargs=2, metavar=("DIR", "MIB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:  # in a child process, so that this one stays small (see run())
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    mib = 128 if args.quick else 1024
    reps = args.reps or (3 if args.quick else 5)
    has_mx = mxnet_ok()
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="paramtool-bench-", dir=args.dir))
    try:
        big, big2, mid, many, small = (
            work / n
            for n in ("big.params", "big2.params", "mid.params", "many.params", "small.params")
        )
        print(f"generating {mib} MiB files in {work} ...", file=sys.stderr)
        subprocess.run([PY, __file__, "--generate", str(work), str(mib)], check=True)
        out = str(work / "out.params")
        rows: list[tuple[str, float, int, str]] = []

        def add(
            label: str,
            cmd: list[str],
            ref: tuple[float, int] | None = None,
            before: list[str] | None = None,
        ) -> tuple[float, int]:
            wall, rss = measure(cmd, reps, before)
            ratio = "" if ref is None else f"{wall / ref[0]:.2f}x"
            rows.append((label, wall, rss, ratio))
            print(f"  {label}: {wall:.3f} s, {rss / 1024:.0f} MiB {ratio}", file=sys.stderr)
            return wall, rss

        size = f"{big.stat().st_size / 2**30:.2f} GiB" if mib >= 1024 else f"{mib} MiB"
        # listing
        mx_ls = (
            add(f"mx.nd.load listing ({size})", [PY, "-c", MX_LIST, str(big)]) if has_mx else None
        )
        add(f"paramtool ls ({size})", [*PARAMTOOL, "ls", str(big)], mx_ls)
        add("paramtool ls (same names, 1/8 the size)", [*PARAMTOOL, "ls", str(mid)])
        # rename to a new file
        cp = add(f"cp ({size})", ["cp", str(big), out], before=[out])
        cps = add(
            "cp + sync of the copy", ["sh", "-c", f"cp {big} {out} && sync {out}"], before=[out]
        )
        if has_mx:
            add("mx.nd.load + mx.nd.save rename", [PY, "-c", MX_RENAME, str(big), out], cp, [out])
        rn = add(
            "paramtool rename-prefix -o",
            [*PARAMTOOL, "rename-prefix", str(big), "model0_", "model1_", "-o", out],
            cp,
            [out],
        )
        rows.append(("  (the same against cp + sync)", rn[0], rn[1], f"{rn[0] / cps[0]:.2f}x"))
        add(
            "paramtool rename-prefix -o --no-verify",
            [*PARAMTOOL, "rename-prefix", str(big), "model0_", "model1_", "-o", out, "--no-verify"],
            cp,
            [out],
        )
        add(
            "paramtool rename-prefix -o --no-verify --no-sync",
            [*PARAMTOOL, "rename-prefix", str(big), "model0_", "model1_", "-o", out, *PLAIN_COPY],
            cp,
            [out],
        )
        # values
        cat = add(
            f"cat A B > /dev/null ({size} each)", ["sh", "-c", f"cat {big} {big2} >/dev/null"]
        )
        if has_mx:
            add("mx.nd.load A and B", [PY, "-c", MX_LOAD2, str(big), str(big2)], cat)
        add("paramtool diff --values", [*PARAMTOOL, "diff", str(big), str(big2), "--values"], cat)
        # start-up and large name tables
        add("paramtool --help", [*PARAMTOOL, "--help"])
        add("paramtool ls (1 KB file)", [*PARAMTOOL, "ls", str(small)])
        add("paramtool ls -f json (100 000 entries)", [*PARAMTOOL, "ls", str(many), "-f", "json"])
        add("paramtool ls -f names (100 000 entries)", [*PARAMTOOL, "ls", str(many), "-f", "names"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nparamtool benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, median of {reps} runs "
        "(warm page cache)\n"
    )
    print(f"| {'what':<48} | {'wall':>9} | {'peak RSS':>9} | {'ratio':>7} |")
    # ratio = this row's time / the reference row's (the last row above it with no ratio)
    print(f"| {'-' * 48} | {'-' * 9} | {'-' * 9} | {'-' * 7} |")
    for label, wall, rss, ratio in rows:
        print(f"| {label:<48} | {wall:>7.3f} s | {rss / 1024:>5.0f} MiB | {ratio:>7} |")
    print("\nTargets (issue #6):")
    by = {label: (wall, rss) for label, wall, rss, _ in rows}

    def get(prefix: str) -> tuple[float, int] | None:
        return next((v for k, v in by.items() if k.startswith(prefix)), None)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    ls, mx, cp_, rn = (
        get("paramtool ls ("),
        get("mx.nd.load listing"),
        get("cp ("),
        get("paramtool rename-prefix -o"),
    )
    if ls and mx:
        speed = mx[0] / ls[0]
        print(
            f"- ls >= 20x faster than the mx.nd.load listing: {speed:.1f}x, "
            f"{verdict(speed >= 20)}; peak RSS {ls[1] / 1024:.0f} MiB <= 64: "
            f"{verdict(ls[1] <= 64 * 1024)}"
        )
    if rn and cp_:
        print(
            f"- rename-prefix <= 1.25x cp: {rn[0] / cp_[0]:.2f}x, {verdict(rn[0] <= 1.25 * cp_[0])}"
            f"; peak RSS {rn[1] / 1024:.0f} MiB <= 64: {verdict(rn[1] <= 64 * 1024)}"
        )
    plain = get("paramtool rename-prefix -o --no-verify --no-sync")
    if plain and cp_:
        print(
            f"  the same as a plain copy (--no-verify --no-sync, what cp does): "
            f"{plain[0] / cp_[0]:.2f}x, {verdict(plain[0] <= 1.25 * cp_[0])}"
        )
    dv, cat = get("paramtool diff --values"), get("cat A B")
    if dv and cat:
        print(f"- diff --values <= 2x cat: {dv[0] / cat[0]:.2f}x, {verdict(dv[0] <= 2 * cat[0])}")
    small, js = get("paramtool ls (1 KB file)"), get("paramtool ls -f json")
    if small:
        print(f"- ls of a small file <= 0.15 s: {small[0]:.3f} s, {verdict(small[0] <= 0.15)}")
    if js:
        print(f"- ls -f json of 100 000 entries <= 3 s: {js[0]:.2f} s, {verdict(js[0] <= 3)}")


if __name__ == "__main__":
    main()

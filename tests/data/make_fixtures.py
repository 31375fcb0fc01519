#!/usr/bin/env python
"""Regenerate the MXNet ``.params`` test fixtures in this directory.

Needs real MXNet 1.9.1 (CPU pip wheel) with numpy < 1.24 (tested with numpy 1.23.5)::

    /path/to/venv-with-mxnet-1.9.1/bin/python tests/data/make_fixtures.py

Writes into the directory this script lives in (``--out DIR`` writes elsewhere, e.g. to check
that a rerun is byte-identical).  Never downloads anything (``pretrained=False``).

Determinism: every section reseeds ``mx.random.seed(0)`` and ``np.random.seed(0)`` and creates its
blocks inside a fresh ``mx.name.NameManager()``, so Gluon's global name counters start from zero
for that section and the prefixes below do not depend on what ran before:

    section          blocks, in creation order           resulting prefixes
    tutorial         Model(), Model()                    model0_, model1_
    model zoo        get_model('mobilenet0.25', ...)     mobilenet0_
    hybrid export    HybridSequential()                  hybridsequential0_ (children conv0_,
                                                         batchnorm0_, relu0_, flatten0_, dense0_)

After writing, the script reads every file back with ``mx.nd.load``, checks the per-record magics
and dtype flags with ``struct``, checks the tutorial's prefix-mismatch failure, and prints a summary.
"""

import argparse
import hashlib
import os
import struct
import sys

import numpy as np

import mxnet as mx
from mxnet import gluon

HERE = os.path.dirname(os.path.abspath(__file__))

LIST_MAGIC = 0x112
V2 = 0xF993FAC9
V3 = 0xF993FACA
BFLOAT16 = np.dtype([("bfloat16", np.uint16)])  # how MXNet 1.9.1 spells bfloat16 in Python


def reset():
    """Fixed seeds for every section (names are reset by the caller's NameManager)."""
    mx.random.seed(0)
    np.random.seed(0)


# --------------------------------------------------------------------------------------------
# 1. The Gluon naming tutorial's Model
#    https://mxnet.apache.org/versions/1.9.1/api/python/docs/tutorials/packages/gluon/blocks/naming.html
# --------------------------------------------------------------------------------------------
# The class lives in models/tutorial.py, which the --model tests build too.
sys.path.insert(0, os.path.join(HERE, "models"))
from tutorial import Model  # noqa: E402


def make_tutorial(out):
    reset()
    with mx.name.NameManager():
        model0 = Model()
        model1 = Model()
    assert model0.prefix == "model0_", model0.prefix
    assert model1.prefix == "model1_", model1.prefix
    for m in (model0, model1):
        m.initialize()
        m(mx.nd.ones((1, 10)))
    model0.collect_params().save(os.path.join(out, "tutorial-model0.params"))
    model1.collect_params().save(os.path.join(out, "tutorial-model1.params"))
    model0.save_parameters(os.path.join(out, "tutorial-structural.params"))
    return model0, model1


# --------------------------------------------------------------------------------------------
# 2. A model-zoo model (random init, nothing downloaded)
# --------------------------------------------------------------------------------------------
def make_model_zoo(out):
    reset()
    with mx.name.NameManager():
        net = gluon.model_zoo.vision.get_model("mobilenet0.25", pretrained=False, classes=10)
    assert net.prefix == "mobilenet0_", net.prefix
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.collect_params().save(os.path.join(out, "mobilenet0.25-prefixed.params"))
    net.save_parameters(os.path.join(out, "mobilenet0.25-structural.params"))


# --------------------------------------------------------------------------------------------
# 3. An exported hybrid model with BatchNorm (arg:/aux: keys + symbol JSON)
# --------------------------------------------------------------------------------------------
def make_hybrid(out):
    reset()
    with mx.name.NameManager():
        net = gluon.nn.HybridSequential()
        with net.name_scope():
            net.add(
                gluon.nn.Conv2D(4, 3),
                gluon.nn.BatchNorm(),
                gluon.nn.Activation("relu"),
                gluon.nn.Flatten(),
                gluon.nn.Dense(3),
            )
    assert net.prefix == "hybridsequential0_", net.prefix
    net.initialize()
    net.hybridize()
    net(mx.nd.ones((1, 2, 6, 6)))
    net.export(os.path.join(out, "hybrid"), epoch=0)  # hybrid-symbol.json, hybrid-0000.params


# --------------------------------------------------------------------------------------------
# 4. numpy-shape semantics -> V3 records (0-d scalar, zero-size, normal)
# --------------------------------------------------------------------------------------------
def make_numpy_v3(out):
    reset()
    with mx.util.np_shape(True):
        arrays = {
            "scalar": mx.nd.array(np.array(1.5, dtype=np.float32)),  # shape ()
            "empty": mx.nd.zeros((0, 3), dtype="float32"),  # shape (0, 3), no data bytes
            "matrix": mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3)),
        }
        assert arrays["scalar"].shape == ()
        assert arrays["empty"].shape == (0, 3)
        mx.nd.save(os.path.join(out, "numpy-v3.params"), arrays)


# --------------------------------------------------------------------------------------------
# 5. Unnamed list (name count 0)
# --------------------------------------------------------------------------------------------
def make_unnamed_list(out):
    reset()
    a = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = mx.nd.array(np.arange(4), dtype="int64")
    c = mx.nd.array(np.arange(8, dtype=np.float16).reshape(2, 2, 2), dtype="float16")
    mx.nd.save(os.path.join(out, "unnamed-list.params"), [a, b, c])


# --------------------------------------------------------------------------------------------
# 6. One named array per dtype MXNet 1.9.1 can write
# --------------------------------------------------------------------------------------------
DTYPE_FLAGS = [
    ("float32", 0),
    ("float64", 1),
    ("float16", 2),
    ("uint8", 3),
    ("int32", 4),
    ("int8", 5),
    ("int64", 6),
    ("bool", 7),
    ("bfloat16", 12),
]


def make_dtypes(out):
    reset()
    arrays = {}
    for name, _flag in DTYPE_FLAGS:
        if name == "bool":
            arrays[name] = mx.nd.array(np.array([True, False, True, True]), dtype=np.bool_)
        elif name == "bfloat16":
            # bf16 bit patterns: 1.0 -> 0x3f80, 2.5 -> 0x4020, -3.0 -> 0xc040
            f32 = mx.nd.array(np.array([1.0, 2.5, -3.0], dtype=np.float32))
            arrays[name] = mx.nd.amp_cast(f32, dtype=BFLOAT16)
        elif name == "int8":
            arrays[name] = mx.nd.array(np.array([-2, -1, 0, 1, 2], dtype=np.int8), dtype=name)
        else:
            arrays[name] = mx.nd.array(np.arange(5).astype(name), dtype=name)
    mx.nd.save(os.path.join(out, "dtypes.params"), arrays)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
def scan_records(path):
    """Minimal dense-only walk of a file: [(magic, ndim, type_flag)], names (None if unnamed)."""
    itemsize = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 12: 2}
    with open(path, "rb") as f:
        buf = f.read()
    magic, _reserved, n = struct.unpack_from("<QQQ", buf, 0)
    assert magic == LIST_MAGIC, hex(magic)
    off = 24
    recs = []
    for _ in range(n):
        rmagic, stype, ndim = struct.unpack_from("<Iii", buf, off)
        assert rmagic in (V2, V3) and stype == 0, (hex(rmagic), stype)
        off += 12
        dims = struct.unpack_from("<%dq" % ndim, buf, off)
        off += 8 * ndim
        assert not (rmagic == V2 and ndim == 0), "V2 none record not expected here"
        _dev_type, _dev_id, flag = struct.unpack_from("<iii", buf, off)
        off += 12
        off += itemsize[flag] * int(np.prod(dims, dtype=np.int64))
        recs.append((rmagic, ndim, flag))
    (k,) = struct.unpack_from("<Q", buf, off)
    off += 8
    names = []
    for _ in range(k):
        (ln,) = struct.unpack_from("<Q", buf, off)
        names.append(buf[off + 8 : off + 8 + ln].decode("utf-8"))
        off += 8 + ln
    assert off == len(buf), (off, len(buf))
    assert k in (0, n)
    return recs, (names if k else None)


def describe(loaded, head=8, tail=2):
    items = list(loaded.items() if isinstance(loaded, dict) else enumerate(loaded))
    lines = ["    %-46s %-16s %r" % (k, tuple(v.shape), v.dtype) for k, v in items]
    if len(lines) > head + tail + 1:
        lines[head:-tail] = ["    ... %d more ..." % (len(lines) - head - tail)]
    return lines


def verify(out, files, model1):
    ok = True
    print("\nVerification (mx.nd.load):")
    for fname in files:
        path = os.path.join(out, fname)
        if fname.endswith(".json"):
            continue
        recs, names = scan_records(path)
        versions = sorted({"V3" if m == V3 else "V2" for m, _, _ in recs})
        if versions == ["V3"]:
            with mx.util.np_shape(True):
                loaded = mx.nd.load(path)
        else:
            loaded = mx.nd.load(path)
        print("  %s: %d records, %s, %s" % (
            fname, len(recs), "/".join(versions), "unnamed list" if names is None else "named"))
        print("\n".join(describe(loaded)))

    # numpy-v3: all records V3, 0-d and zero-size shapes.
    recs, names = scan_records(os.path.join(out, "numpy-v3.params"))
    ok &= all(m == V3 for m, _, _ in recs) and [r[1] for r in recs] == [0, 2, 2]
    # everything else: V2.
    for fname in files:
        if fname.endswith(".params") and fname != "numpy-v3.params":
            ok &= all(m == V2 for m, _, _ in scan_records(os.path.join(out, fname))[0])
    # dtypes: flags 0..7, 12 in order, names by dtype.
    recs, names = scan_records(os.path.join(out, "dtypes.params"))
    ok &= [r[2] for r in recs] == [f for _, f in DTYPE_FLAGS]
    ok &= names == [n for n, _ in DTYPE_FLAGS]
    # unnamed list: name count 0.
    ok &= scan_records(os.path.join(out, "unnamed-list.params"))[1] is None
    print("  magics / type flags / name counts as expected: %s" % ok)

    # The tutorial failure: model0's prefixed names do not match model1's.
    try:
        model1.collect_params().load(os.path.join(out, "tutorial-model0.params"))
    except AssertionError as e:
        print("  tutorial failure reproduces (%s): %s" % (type(e).__name__, str(e).splitlines()[0]))
    else:
        print("  ERROR: model1.collect_params().load('tutorial-model0.params') did not raise")
        ok = False
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="output directory (default: this script's dir)")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    assert mx.__version__ == "1.9.1", "need MXNet 1.9.1, got %s" % mx.__version__

    _model0, model1 = make_tutorial(out)
    make_model_zoo(out)
    make_hybrid(out)
    make_numpy_v3(out)
    make_unnamed_list(out)
    make_dtypes(out)

    written = [  # the fixture set, in creation order
        "tutorial-model0.params", "tutorial-model1.params", "tutorial-structural.params",
        "mobilenet0.25-prefixed.params", "mobilenet0.25-structural.params",
        "hybrid-symbol.json", "hybrid-0000.params",
        "numpy-v3.params", "unnamed-list.params", "dtypes.params",
    ]
    print("Wrote to %s:" % out)
    total = 0
    for fname in written:
        path = os.path.join(out, fname)
        with open(path, "rb") as f:
            data = f.read()
        total += len(data)
        print("  %-34s %8d bytes  sha256 %s" % (fname, len(data), hashlib.sha256(data).hexdigest()))
    print("  total %d bytes" % total)

    if not verify(out, written, model1):
        sys.exit("verification FAILED")


if __name__ == "__main__":
    main()

"""``paramtool diff``."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any, cast

import click

from paramtool.backends import BackendName, get_backend
from paramtool.commands.common import (
    MODEL_HELP,
    _load_model,
    _warn_duplicates,
    backend_option,
    format_option,
    model_options,
)
from paramtool.errors import ExitCode
from paramtool.names import detect_scheme
from paramtool.render import display_name, inert, json_name, plural, progress_bar, shape_text


def _not_nan(value: float, name: str) -> float:
    if value != value:
        raise click.BadParameter("must be a number, not nan", param_hint=name)
    return value


@click.command(name="diff")
@click.argument("file_a", metavar="FILE", type=click.Path(readable=False))
@click.argument("file_b", metavar="[OTHER]", required=False, type=click.Path(readable=False))
@click.option("-m", "--model", "model_spec", metavar="SPEC", help=MODEL_HELP)
@model_options
@click.option(
    "--expect",
    type=click.Choice(["structural", "prefixed", "export"]),
    help="With --model: the keys your loader wants: structural (load_parameters, the default "
    "for Gluon models), prefixed (collect_params().load), export (SymbolBlock.imports).",
)
@click.option(
    "--prefix",
    metavar="PREFIX",
    help="With --model: the model's root prefix in your process (e.g. model1_), for "
    "--expect prefixed/export.",
)
@format_option(
    ["table", "json", "csv"],
    "table: a report for people; json: the full report as one object; csv: one row per difference.",
)
@click.option(
    "--values",
    is_flag=True,
    help="Also compare the values of common parameters (streamed in chunks): max abs/rel "
    "error and first differing index per parameter.",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    callback=lambda ctx, param, v: _not_nan(v, "--atol"),
    default=0.0,
    show_default=True,
    help="With --values: absolute tolerance; close means |a-b| <= atol + rtol*|b|.",
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0),
    callback=lambda ctx, param, v: _not_nan(v, "--rtol"),
    default=0.0,
    show_default=True,
    help="With --values: relative tolerance.",
)
@backend_option
def diff_command(
    file_a: str,
    file_b: str | None,
    model_spec: str | None,
    model_args: tuple[str, ...],
    input_shapes: tuple[str, ...],
    expect: str | None,
    prefix: str | None,
    fmt: str,
    values: bool,
    atol: float,
    rtol: float,
    backend: BackendName,
) -> None:
    """Compare a .params file with another file, or with what a model expects.

    Reports every difference at once: names only on one side, shape and dtype
    mismatches; says which cause explains them and prints the paramtool command
    (and the MXNet load flag) that fixes it. Exits 0 when they match, 1 when they
    differ, 3 when a file cannot be read.

    \b
    Examples:
      paramtool diff model0.params model1.params
      paramtool diff net.params --model zoo:resnet18_v1
      paramtool diff net.params --model zoo:alexnet --model-arg classes=100
      paramtool diff net.params --model mynet.py:build --input-shape 1,3,32,32
      paramtool diff old.params new.params --format json
      paramtool diff before.params after.params --values --rtol 1e-5
    """
    if (file_b is None) == (model_spec is None):
        raise click.UsageError("give either OTHER or --model SPEC (exactly one)")
    if model_spec is not None and values:
        raise click.UsageError("--values compares two files: give OTHER, not --model")
    if not values and (atol or rtol):
        raise click.UsageError("--atol and --rtol need --values")
    if model_spec is None and (model_args or input_shapes or expect or prefix):
        raise click.UsageError("--model-arg, --input-shape, --expect and --prefix need --model")
    be = get_backend(backend)
    if model_spec is not None:
        from paramtool.convert import compare_to_model

        listing = be.list_file(file_a)
        model = _load_model(model_spec, model_args, input_shapes)
        mreport = compare_to_model(
            listing,
            model,
            target=cast(Any, expect),
            prefix=prefix,
            model_args=model_args,
            input_shapes=input_shapes,
        )
        if fmt == "json":
            click.echo(json.dumps(mreport.to_json(prefix), indent=2, ensure_ascii=False))
        elif fmt == "csv":
            _model_diff_csv(mreport.to_json(prefix))
        else:
            _print_model_diff(mreport, prefix)
        if not mreport.identical:
            sys.exit(int(ExitCode.DIFFERENCES))
        return
    from paramtool.diff import compare

    assert file_b is not None
    report = compare(be.list_file(file_a), be.list_file(file_b))
    _warn_duplicates(report.a)
    _warn_duplicates(report.b)
    if values:
        report = dataclasses.replace(report, values=_compare_values(report, backend, atol, rtol))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        _diff_csv(report)
    else:
        _print_diff(report)
    if not report.identical:
        sys.exit(int(ExitCode.DIFFERENCES))


def _compare_values(report: Any, backend: BackendName, atol: float, rtol: float) -> Any:
    """The values of ``report.comparable``: streamed from the files (native backend and
    NDArray-list files), else loaded whole (MXNet backend, npz files)."""
    from paramtool.diff import compare_value_arrays, compare_values

    a, b = report.a, report.b
    if backend == "native" and a.container == b.container == "ndarray-list":
        total = sum(a.entries[i].nbytes for _, i, _ in report.comparable)
        with progress_bar(total, "comparing values") as advance:
            return compare_values(
                a.path, b.path, report.comparable, atol=atol, rtol=rtol, progress=advance
            )
    if backend == "mxnet":
        from paramtool.backends import mxnet as mxb

        la, lb = mxb.load(a.path)[1], mxb.load(b.path)[1]
        xs, ys = [mxb.to_numpy(x) for x in la], [mxb.to_numpy(y) for y in lb]
    else:
        from paramtool.index import load

        da, db = load(a.path), load(b.path)
        xs = list(da.values()) if isinstance(da, dict) else da
        ys = list(db.values()) if isinstance(db, dict) else db
        # load() keeps one array per name (the last), in first-seen order: index by key
        if isinstance(da, dict):
            xs = [da[e.name] for e in a.entries]
        if isinstance(db, dict):
            ys = [db[e.name] for e in b.entries]
    return [
        compare_value_arrays(key, xs[i], ys[j], atol=atol, rtol=rtol)
        for key, i, j in report.comparable
    ]


def _dims(shape: Sequence[int]) -> str:
    """A shape for CSV, as ``ls --format csv`` writes it: ``20x10``."""
    return "x".join(map(str, shape))


def _model_dims(shape: Sequence[int] | None) -> str:
    """A model's expected shape for CSV: unknown (deferred, 0) dims as ``?``: ``100x?``."""
    if shape is None:
        return "?"
    return "x".join("?" if d == 0 else str(d) for d in shape)


def _diff_csv(report: Any) -> None:
    """``diff A B --format csv``: ``difference,name,shape_a,dtype_a,shape_b,dtype_b``, one row
    per name only in A (``only_in_a``) or B (``only_in_b``), per shape or dtype mismatch."""
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["difference", "name", "shape_a", "dtype_a", "shape_b", "dtype_b"])
    ka = {(e.name if report.a.named else f"[{i}]"): e for i, e in enumerate(report.a.entries)}
    kb = {(e.name if report.b.named else f"[{i}]"): e for i, e in enumerate(report.b.entries)}
    for n in report.only_a:
        out.writerow(["only_in_a", json_name(n), _dims(ka[n].shape), ka[n].dtype, "", ""])
    for n in report.only_b:
        out.writerow(["only_in_b", json_name(n), "", "", _dims(kb[n].shape), kb[n].dtype])
    for kind, items in (("shape", report.shape), ("dtype", report.dtype)):
        for m in items:
            a, b = ka[m.name], kb[m.name]
            out.writerow(
                [kind, json_name(m.name), _dims(a.shape), a.dtype, _dims(b.shape), b.dtype]
            )


def _model_diff_csv(doc: dict[str, Any]) -> None:
    """``diff FILE --model SPEC --format csv``: one row per difference, columns
    ``difference,file_key,expected_key,file_shape,file_dtype,model_shape,model_dtype``;
    differences ``missing``, ``unexpected``, ``rename``, ``shape``, ``dtype``."""
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(
        [
            "difference",
            "file_key",
            "expected_key",
            "file_shape",
            "file_dtype",
            "model_shape",
            "model_dtype",
        ]
    )

    def expected(p: dict[str, Any]) -> str:
        keys = p.get("expected") or p.get("structural") or [p.get("prefixed") or ""]
        return str(keys[0])

    for p in doc["missing"]:
        out.writerow(
            ["missing", "", expected(p), "", "", _model_dims(p["shape"]), p["dtype"] or ""]
        )
    for u in doc["unexpected"]:
        out.writerow(["unexpected", u["name"], "", _dims(u["shape"]), u["dtype"], "", ""])
    for r in doc["renamed"]:
        keys = r["expected"] or []
        out.writerow(["rename", r["name"], keys[0] if keys else "", "", "", "", ""])
    for m in doc["shape_mismatches"]:
        p = m["parameter"]
        out.writerow(
            ["shape", m["name"], expected(p), _dims(m["file"]), "", _model_dims(m["model"]), ""]
        )
    for m in doc["dtype_mismatches"]:
        p = m["parameter"]
        out.writerow(["dtype", m["name"], expected(p), "", m["file"], "", m["model"]])


def _print_model_diff(r: Any, prefix: str | None) -> None:
    from paramtool.convert import expected_keys, model_shape_text
    from paramtool.mapping import param_label

    echo = click.echo
    entries = r.listing.entries
    ps = r.model.params
    scheme = detect_scheme(r.listing.names)
    echo(f"File:  {r.listing.path} ({len(entries)} keys, {scheme.describe()})")
    root = f", root prefix {r.model.root_prefix}" if r.model.root_prefix else ""
    echo(f"Model: {r.model.spec} ({len(ps)} parameters{root}); expecting {r.target} keys")
    if r.identical:
        echo(
            f"All {len(entries)} keys are what the model expects, with matching shapes and dtypes."
        )
        return

    def show(title: str, rows: list[tuple[str, str]]) -> None:
        if not rows:
            return
        echo(f"\n{title} ({len(rows)}):")
        width = max(len(a) for a, _ in rows)
        for a, b in rows:
            echo(f"  {a.ljust(width)}  {b}".rstrip())

    def exp(pi: int) -> str:
        keys = expected_keys(ps[pi], r.target, r.model, prefix)
        return keys[0] if keys else param_label(ps[pi])

    show(
        "Missing from the file (model parameter, expected key)",
        [
            (param_label(ps[pi]), "" if exp(pi) == param_label(ps[pi]) else f"-> {exp(pi)}")
            for pi in r.missing
        ],
    )
    show(
        "Unexpected in the file",
        [
            (display_name(entries[i].name, i), f"{shape_text(entries[i].shape)} {entries[i].dtype}")
            for i in r.unexpected
        ],
    )
    show(
        "Shape differs (file vs model)",
        [
            (
                display_name(entries[i].name, i),
                f"{shape_text(entries[i].shape)} vs {model_shape_text(ps[pi].shape)}"
                f"  [{param_label(ps[pi])}]",
            )
            for i, pi in r.shape
        ],
    )
    show(
        "dtype differs (file vs model)",
        [
            (display_name(entries[i].name, i), f"{entries[i].dtype} vs {ps[pi].dtype}")
            for i, pi in r.dtype
        ],
    )
    show(
        f"Keys to rename for {r.target} loading (file key -> expected)",
        [(display_name(entries[i].name, i), f"-> {exp(pi)}") for i, pi in r.wrong_keys],
    )
    if r.findings:
        echo("\nDiagnosis:")
        for f in r.findings:
            echo(f"  - {f.message}.")
            if f.command:
                echo(f"    Fix:  {f.command}")
            if f.load_hint:
                echo(f"    Load: {f.load_hint}")


def _print_values(values: list[Any]) -> None:
    """The ``--values`` section: counts, then every parameter whose values are not equal."""
    equal = sum(1 for v in values if v.equal)
    close = sum(1 for v in values if v.close and not v.equal)
    differ = [v for v in values if not v.equal]
    click.echo(
        f"\nValues: {equal} equal bit for bit, {close} within tolerance, "
        f"{len(values) - equal - close} differ."
    )
    if not differ:
        return
    width = max(len(display_name(v.name, 0)) for v in differ)
    for v in differ:
        where = ""
        if v.first_index is not None:
            idx = ", ".join(map(str, v.first_index))
            a, b = _distinct_text(v.first_a, v.first_b)
            where = f"  first at [{idx}]: {a} vs {b}"
        status = "close" if v.close else f"{v.n_diff:,} differ"
        click.echo(
            f"  {display_name(v.name, 0).ljust(width)}  {status}  max abs {v.max_abs:.3g}  "
            f"max rel {v.max_rel:.3g}{where}"
        )


def _print_diff(report: Any) -> None:
    echo = click.echo
    for label, listing, scheme in (
        ("A", report.a, report.scheme_a),
        ("B", report.b, report.scheme_b),
    ):
        echo(
            f"{label}: {inert(listing.path)} "
            f"({plural(len(listing.entries), 'parameter')}, {scheme.describe()})"
        )
    if report.identical:
        same = "shapes, dtypes and values" if report.values is not None else "shapes and dtypes"
        echo(f"Same {plural(report.common, 'name')}, {same}.")
        if report.values is not None:
            _print_values(report.values)
        return
    ka = {(e.name if report.a.named else f"[{i}]"): e for i, e in enumerate(report.a.entries)}
    kb = {(e.name if report.b.named else f"[{i}]"): e for i, e in enumerate(report.b.entries)}
    for title, names, keyed in (
        ("Only in A", report.only_a, ka),
        ("Only in B", report.only_b, kb),
    ):
        if names:
            echo(f"\n{title} ({len(names)}):")
            shown = [display_name(n, 0) for n in names]
            width = max(map(len, shown))
            for n, text in zip(names, shown, strict=True):
                e = keyed[n]
                echo(f"  {text.ljust(width)}  {shape_text(e.shape)} {e.dtype}")
    if report.shape:
        echo(f"\nShape differs ({len(report.shape)}):")
        for m in report.shape:
            echo(f"  {display_name(m.name, 0)}  A {m.a}  B {m.b}")
    if report.dtype:
        echo(f"\ndtype differs ({len(report.dtype)}):")
        for m in report.dtype:
            echo(f"  {display_name(m.name, 0)}  A {m.a}  B {m.b}")
    echo(f"\n{plural(report.common, 'name')} in common.")
    if report.values is not None:
        _print_values(report.values)
    kinds = {report.scheme_a.kind, report.scheme_b.kind}
    if report.fix is None and "structural" in kinds and kinds & {"prefixed", "export"}:
        echo(
            "\nOne file has structural keys and the other prefixed or arg:/aux: keys: no prefix "
            "change maps one onto the other. Compare the file with the model instead "
            "(paramtool diff FILE --model SPEC) and convert with paramtool to-structural or "
            "to-prefixed."
        )
    fix = report.fix
    if fix is not None:
        old = display_name(fix.old, 0) or "(no prefix)"
        change = f"{old} -> {display_name(fix.new, 0) or '(no prefix)'}"
        if fix.explains_all:
            echo(f"\nEvery difference is explained by one prefix change, {change}. Fix:")
        else:
            echo(
                f"\nThe names differ by one prefix change, {change}, "
                "but shapes or dtypes differ too. Renaming gives the same names:"
            )
        echo(f"  {fix.command}")


def _distinct_text(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with as few significant digits (6 at least) as tell them apart: two
    values that differ never print the same."""
    for digits in (6, 9, 17):
        ta, tb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if ta != tb:
            break
    return ta, tb

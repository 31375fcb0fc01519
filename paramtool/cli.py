"""The ``paramtool`` command line. The one place library errors become messages and exit codes.

Exit codes: 0 ok; 1 differences found (``diff``); 2 usage error; 3 unreadable or unsupported
input, or a refused or failed write. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fnmatch
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

from paramtool import __version__
from paramtool.backends import BACKENDS, BackendName, Entry, Listing, get_backend
from paramtool.completion import complete_names, complete_prefixes
from paramtool.errors import ExitCode, ParamtoolError, RenameError, WriteRefusedError
from paramtool.names import TAGS, detect_scheme, plan_prefix_rename
from paramtool.render import (
    color_enabled,
    display_name,
    human_bytes,
    inert,
    json_name,
    plural,
    print_table,
    progress_bar,
    set_color,
    write_lines,
)

F = TypeVar("F", bound=Callable[..., Any])


class ParamtoolGroup(click.Group):
    """Turns :class:`ParamtoolError` into one ``Error:`` line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ParamtoolError as e:
            click.echo(f"Error: {inert(str(e))}", err=True)
            ctx.exit(int(e.exit_code))
        except BrokenPipeError:
            # `paramtool ls big.params | head`: the reader went away. Quiet exit 141, as tools
            # killed by SIGPIPE have (Click would exit 1, which means "differences" here).
            _silence_stdout()
            raise SystemExit(141) from None


def _silence_stdout() -> None:
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def format_option(choices: list[str], help: str, default: str = "table") -> Callable[[F], F]:
    """The ``-f/--format`` option every command that prints records takes."""
    return click.option(
        "-f",
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


def backend_option(f: F) -> F:
    """``--backend native|mxnet`` for the commands that read or write arrays."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="native",
        show_default=True,
        help="Array I/O: paramtool's own reader/writer, or MXNet's mx.nd.load/mx.nd.save.",
    )(f)


def write_options(f: F) -> F:
    """``--no-verify`` and ``--backup SUFFIX`` for every command that writes a file."""
    f = click.option(
        "--backup",
        metavar="SUFFIX",
        help="Keep the file being replaced (the file written over: SRC for an in-place "
        "rewrite, DEST with --force) as FILE+SUFFIX, e.g. --backup .orig.",
    )(f)
    f = click.option(
        "--no-verify",
        "no_verify",
        is_flag=True,
        help="Skip re-reading the output to check names and record bytes before it replaces "
        "anything.",
    )(f)
    return f


def exclude_option(f: F) -> F:
    """``--exclude GLOB`` (repeatable) for every command that rewrites names."""
    return click.option(
        "--exclude",
        "excludes",
        multiple=True,
        metavar="GLOB",
        help="Leave out parameters whose old or new name matches this shell glob "
        "(repeatable), e.g. --exclude 'output.*'.",
    )(f)


def _warn_duplicates(listing: Listing) -> None:
    counts = Counter(e.name for e in listing.entries if e.name is not None)
    dups = [n for n, c in counts.items() if c > 1]
    if dups:
        _warn(
            f"{listing.path}: {plural(len(dups), 'name')} "
            f"{'appears' if len(dups) == 1 else 'appear'} more than once "
            f"({', '.join(dups[:3])}); MXNet keeps the last record of each"
        )


def _undecodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


#: dtypes that exist only in MXNet 2.x (flags 8-11, spec §5)
MXNET2_ONLY_DTYPES = ("int16", "uint16", "uint32", "uint64")


def mxnet_compat_notes(listing: Listing) -> list[str]:
    """Why MXNet 1.9.1's ``mx.nd.load`` would fail on (or misread) this file, if it would."""
    notes = []
    versions = {e.version for e in listing.entries if e.version is not None}
    if 3 in versions and versions - {3}:
        notes.append(
            "it mixes V3 records with older ones, which MXNet 1.9.1 cannot load in any mode"
        )
    new_dtypes = sorted({e.dtype for e in listing.entries if e.dtype in MXNET2_ONLY_DTYPES})
    if new_dtypes:
        notes.append(f"dtypes {', '.join(new_dtypes)} exist only in MXNet 2.x")
    if any(
        e.name is not None and not e.name.isprintable() and _undecodable(e.name)
        for e in listing.entries
    ):
        notes.append("some names are not valid UTF-8, which mx.nd.load cannot decode")
    nones = [e for e in listing.entries if e.dtype == "none"]
    if any(e.version == 2 for e in nones):
        notes.append("it holds uninitialised ('none') arrays, which mx.nd.load refuses")
    if any(e.version in (0, 1) for e in nones):
        notes.append("it holds V0/V1 'none' records, which MXNet 1.9.1 misreads")
    return notes


def _warn(message: str) -> None:
    click.echo(f"Warning: {inert(message)}", err=True)


@click.group(cls=ParamtoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="paramtool")
@click.option(
    "--no-color",
    is_flag=True,
    help="No colour or other text styling (also when NO_COLOR is set). Without a terminal "
    "the output is plain anyway.",
)
@click.pass_context
def cli(ctx: click.Context, no_color: bool) -> None:
    """Inspect, compare and rename Apache MXNet .params checkpoint files.

    Data goes to stdout, messages and errors to stderr. Every command takes
    -h/--help; commands that print records take --format table|json|csv.

    \b
    Exit codes: 0 ok, 1 differences found (diff) or NaN/Inf found (check),
                2 usage error, 3 unreadable input or refused write.

    \b
    Examples:
      paramtool ls model-0000.params --tree --collapse
      paramtool --no-color diff model0.params model1.params
      paramtool show net.params features.0.weight
    """
    set_color(not no_color)
    if not color_enabled():
        ctx.color = False


# ------------------------------------------------------------------------------------------
# ls


def _versions(entries: Sequence[Entry]) -> str:
    versions = sorted({e.version for e in entries if e.version is not None})
    return "/".join(f"V{v}" for v in versions)


def _ls_summary(listing: Listing, shown: Sequence[Entry]) -> dict[str, Any]:
    scheme = detect_scheme(listing.names)
    return {
        "file": listing.path,
        "backend": listing.backend,
        "file_size": listing.file_size,
        "count": len(listing.entries),
        "shown": len(shown),
        "total_elements": sum(e.size for e in shown),
        "total_bytes": sum(e.nbytes for e in shown),
        "scheme": scheme.to_json(),
        "named": listing.named,
        "container": listing.container,
        "record_versions": sorted({e.version for e in listing.entries if e.version is not None}),
        "trailing_bytes": listing.trailing_bytes,
    }


def _echo_json_with_list(doc: dict[str, Any], key: str, items: list[Any]) -> None:
    """``doc`` as indented JSON with ``doc[key] = items``, one compact item per line.

    ``json.dumps(..., indent=2)`` runs the pure-Python encoder (slow for 100 000 entries);
    each item here goes through the C encoder.
    """
    head = json.dumps(doc, indent=2, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in items)
    body = f'  "{key}": [\n{lines}\n  ]' if items else f'  "{key}": []'
    sys.stdout.write(head[:-2] + ",\n" + body + "\n}\n")
    sys.stdout.flush()


def _entry_json(e: Entry, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": json_name(e.name),
        "shape": list(e.shape),
        "dtype": e.dtype,
        "elements": e.size,
        "nbytes": e.nbytes,
        "stype": e.stype,
        "stored": e.stored,
        "context": e.context,
        "version": e.version,
        "offset": e.offset,
    }


@cli.command(name="ls")
@click.argument("file", type=click.Path())
@format_option(
    ["table", "json", "csv", "names"],
    "table: for people; json: one object with a `parameters` list; csv; names: one per line.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="GLOB",
    shell_complete=complete_names,
    help="Only names matching this shell glob (repeatable; a name matching any is shown).",
)
@click.option(
    "--tree",
    is_flag=True,
    help="Group names by module (dotted names on '.', prefixed names on their block "
    "prefixes), with parameter count and bytes per subtree.",
)
@click.option(
    "--collapse",
    is_flag=True,
    help="With --tree: fold sibling blocks of the same structure into one, e.g. 'batchnorm#_ ×12'.",
)
@click.option(
    "--stats",
    is_flag=True,
    help="Read the arrays and add min, max, mean, std (of the finite values), zeros, NaN "
    "and Inf counts.",
)
@backend_option
def ls_command(
    file: str,
    fmt: str,
    filters: tuple[str, ...],
    tree: bool,
    collapse: bool,
    stats: bool,
    backend: BackendName,
) -> None:
    """List a file's parameters: name, shape, dtype, elements and bytes.

    Reads only the record headers and the name table, never the array data
    (with the default native backend); --stats reads the arrays, in chunks.

    \b
    Examples:
      paramtool ls model-0000.params
      paramtool ls net.params --filter '*weight' --format json
      paramtool ls net.params --format names | grep batchnorm
      paramtool ls net.params --tree --collapse
      paramtool ls net.params --stats --filter 'features.0.*'
    """
    if tree and stats:
        raise click.UsageError("--tree and --stats exclude each other")
    if collapse and not tree:
        raise click.UsageError("--collapse needs --tree")
    if tree and fmt not in ("table", "json"):
        raise click.UsageError("--tree prints --format table or json")
    if stats and fmt == "names":
        raise click.UsageError("--stats prints --format table, json or csv")
    if stats and backend != "native":
        raise click.UsageError("--stats reads the arrays with the native backend only")
    listing = get_backend(backend).list_file(file)
    indexed = list(enumerate(listing.entries))
    if filters:
        indexed = [
            (i, e)
            for i, e in indexed
            if e.name is not None and any(fnmatch.fnmatchcase(e.name, g) for g in filters)
        ]
    if filters and not listing.named and listing.entries:
        _warn(f"{file}: an unnamed list has no names for --filter to match")
    _warn_duplicates(listing)
    for note in mxnet_compat_notes(listing):
        _warn(f"{file}: MXNet 1.9.1 cannot load this file as it is: {note}")
    shown = [e for _, e in indexed]
    summary = _ls_summary(listing, shown)
    if listing.trailing_bytes:
        _warn(f"{file}: {listing.trailing_bytes} bytes after the name table (MXNet ignores them)")
    if tree:
        _ls_tree(listing, indexed, summary, fmt, collapse)
        return
    array_stats: dict[int, Any] = {}
    if stats:
        from paramtool.stats import file_stats

        array_stats = file_stats(file, [i for i, _ in indexed])
    if fmt == "json":
        params = [_entry_json(e, i) for i, e in indexed]
        if stats:
            for p in params:
                p["stats"] = array_stats[p["index"]].to_json()
        _echo_json_with_list(summary, "parameters", params)
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        header = [
            "name", "shape", "dtype", "elements", "nbytes", "stype", "stored", "version", "offset"
        ]  # fmt: skip
        if stats:
            header += ["min", "max", "mean", "std", "zeros", "zero_share", "nan", "inf"]
        out.writerow(header)
        for i, e in indexed:
            row: list[object] = [
                json_name(e.name) or "",
                "x".join(map(str, e.shape)),
                e.dtype,
                e.size,
                e.nbytes,
                e.stype,
                "" if e.stored is None else e.stored,
                "" if e.version is None else e.version,
                "" if e.offset is None else e.offset,
            ]
            if stats:
                st = array_stats[i]
                row += [
                    *("" if v is None else repr(v) for v in (st.min, st.max, st.mean, st.std)),
                    st.zeros,
                    "" if st.zero_share is None else repr(st.zero_share),
                    st.nan,
                    st.inf,
                ]
            out.writerow(row)
    elif fmt == "names":
        if not listing.named and listing.entries:
            _warn(f"{file}: an unnamed list has no names")
        write_lines(display_name(e.name, 0) for _, e in indexed if e.name is not None)
    elif stats:
        _print_stats_table(listing, indexed, summary, array_stats)
    else:
        _print_ls_table(listing, indexed, summary)


def _ls_footer(listing: Listing, summary: dict[str, Any]) -> str:
    count = summary["count"]
    shown = summary["shown"]
    parts = [
        f"{shown} of {plural(count, 'parameter')}"
        if shown != count
        else plural(count, "parameter"),
        plural(summary["total_elements"], "element"),
        f"{human_bytes(summary['total_bytes'])} ({summary['total_bytes']:,} bytes)",
        f"scheme: {summary['scheme']['description']}",
    ]
    versions = _versions(listing.entries)
    if versions:
        parts.append(f"records {versions}")
    if listing.container != "ndarray-list":
        parts.append(f"MXNet 2.x {listing.container} file")
    return " · ".join(parts)


def _print_ls_table(
    listing: Listing, indexed: list[tuple[int, Entry]], summary: dict[str, Any]
) -> None:
    from paramtool.diff import shape_text

    show_context = any(e.context not in (None, "cpu(0)") for _, e in indexed)
    show_sparse = any(e.stype != "default" for _, e in indexed)
    columns = [
        ("name", "left"),
        ("shape", "left"),
        ("dtype", "left"),
        ("elements", "right"),
        ("bytes", "right"),
    ]
    if show_sparse:
        columns += [("stype", "left"), ("stored", "right")]
    if show_context:
        columns.append(("context", "left"))
    rows = []
    for i, e in indexed:
        row = [
            display_name(e.name, i),
            shape_text(e.shape),
            e.dtype,
            f"{e.size:,}",
            human_bytes(e.nbytes),
        ]
        if show_sparse:
            row += [e.stype, "" if e.stored is None else f"{e.stored:,}"]
        if show_context:
            row.append(e.context or "")
        rows.append(row)
    print_table(columns, rows, _ls_footer(listing, summary))


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def _print_stats_table(
    listing: Listing,
    indexed: list[tuple[int, Entry]],
    summary: dict[str, Any],
    array_stats: dict[int, Any],
) -> None:
    from paramtool.diff import shape_text

    columns = [("name", "left"), ("shape", "left"), ("dtype", "left")]
    columns += [(c, "right") for c in ("min", "max", "mean", "std", "zeros", "nan", "inf")]
    rows = []
    bad = 0
    for i, e in indexed:
        st = array_stats[i]
        bad += st.nonfinite
        share = st.zero_share
        rows.append(
            [
                display_name(e.name, i),
                shape_text(e.shape),
                e.dtype,
                _num(st.min),
                _num(st.max),
                _num(st.mean),
                _num(st.std),
                "" if share is None else f"{share:.1%}",
                f"{st.nan:,}",
                f"{st.inf:,}",
            ]
        )
    footer = _ls_footer(listing, summary)
    if bad:
        footer += f" · {plural(bad, 'array')} with NaN or Inf"
    print_table(columns, rows, footer)


def _ls_tree(
    listing: Listing,
    indexed: list[tuple[int, Entry]],
    summary: dict[str, Any],
    fmt: str,
    collapse: bool,
) -> None:
    from paramtool.tree import build_tree, build_view, print_tree, view_json

    structural = summary["scheme"]["kind"] == "structural"
    view = build_view(build_tree(indexed, structural=structural), collapse=collapse)
    if fmt == "json":
        summary["tree"] = view_json(view)
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    print_tree(view, inert(listing.path), _ls_footer(listing, summary))


# ------------------------------------------------------------------------------------------
# show / check


def _find_entry(listing: Listing, name: str) -> int:
    """The listing index of ``name``: the last record of that name (as MXNet keeps), else
    ``[N]`` (as ls shows unnamed arrays) or, in an unnamed list, ``N``."""
    import re

    for i in range(len(listing.entries) - 1, -1, -1):
        if listing.entries[i].name == name:
            return i
    m = re.fullmatch(r"\[(\d+)\]", name) or (
        re.fullmatch(r"(\d+)", name) if not listing.named else None
    )
    if m and int(m.group(1)) < len(listing.entries):
        return int(m.group(1))
    import difflib

    names = [e.name for e in listing.entries if e.name is not None]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    if not listing.named:
        hint = f"; an unnamed list: give a position 0-{len(listing.entries) - 1}"
    raise click.BadParameter(
        f"{inert(listing.path)} has no parameter {inert(name)!r}{hint}", param_hint="NAME"
    )


def _dense_values(array: Any, dtype: str) -> Any:
    """A numpy array to print: sparse made dense, bfloat16 widened to float32."""
    from paramtool.index import SparseArray

    if isinstance(array, SparseArray):
        array = array.todense()
    if dtype == "bfloat16":
        words = array.view("<u2") if array.dtype.names else array
        return (words.astype("<u4") << 16).view("<f4")
    return array


def _json_values(values: Any) -> Any:
    """Nested lists for JSON: floats as their shortest repr in their own precision (a float32
    0.1 is 0.1, not 0.10000000149011612); NaN/Inf as "nan", "inf", "-inf"."""
    import numpy as np

    from paramtool.stats import json_number

    if values.dtype.kind == "f":
        as_text = values.astype(str)
        flat = [json_number(float(t)) for t in as_text.ravel().tolist()]
        return np.array(flat, dtype=object).reshape(values.shape).tolist()
    return values.tolist()


@cli.command(name="show")
@click.argument("file", type=click.Path())
@click.argument("name", shell_complete=complete_names)
@click.option("--full", is_flag=True, help="Print every value (default: summarise large arrays).")
@format_option(
    ["text", "json", "csv"],
    "text: numpy's formatting; json: the values as nested lists; csv: one row per "
    "element (its indices, then the value). json and csv always hold every value.",
    default="text",
)
def show_command(file: str, name: str, full: bool, fmt: str) -> None:
    """Print the values of the array NAME.

    NAME is a parameter name (Tab completes it where shell completion is
    installed), or [N] for the array at position N. bfloat16 is shown as the
    float values it holds; a sparse array is shown dense. The text format
    starts with a line giving the name, shape and dtype.

    \b
    Examples:
      paramtool show model0.params model0_dense0_bias
      paramtool show net.params features.0.weight --full
      paramtool show net.params output.bias --format json
      paramtool show list.params '[0]' --format csv
    """
    import numpy as np

    from paramtool.backends import native
    from paramtool.diff import shape_text
    from paramtool.stats import read_array

    listing = native.list_file(file)
    index = _find_entry(listing, name)
    e = listing.entries[index]
    array = read_array(file, index)
    values = None if array is None else _dense_values(array, e.dtype)
    if fmt == "json":
        doc = {
            "name": json_name(e.name),
            "index": index,
            "shape": list(e.shape),
            "dtype": e.dtype,
            "stype": e.stype,
            "values": None if values is None else _json_values(values),
        }
        click.echo(json.dumps(doc, ensure_ascii=False))
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        ndim = len(e.shape) if values is not None else 0
        out.writerow([*(f"i{d}" for d in range(ndim)), "value"])
        if values is not None:
            text = values.astype(str) if values.dtype.kind == "f" else values
            for idx in np.ndindex(*values.shape):
                v = text[idx]
                cell = ("true" if v else "false") if values.dtype.kind == "b" else str(v)
                out.writerow([*idx, cell])
    else:
        stype = "" if e.stype == "default" else f" {e.stype} (shown dense)"
        head = f"{display_name(e.name, index)}  {shape_text(e.shape)} {e.dtype}{stype}"
        if values is None:
            click.echo(f"{head}: uninitialised, no values")
            return
        threshold = sys.maxsize if full else 1000
        click.echo(head)
        click.echo(np.array2string(values, threshold=threshold, max_line_width=100))


@cli.command(name="check")
@click.argument("file", type=click.Path())
@format_option(
    ["table", "json", "csv"],
    "table: the arrays with NaN or Inf and a summary; json: one object; csv: one row per "
    "array with NaN or Inf.",
)
def check_command(file: str, fmt: str) -> None:
    """Check every array for NaN and Inf values.

    Reads the arrays in chunks (bounded memory); only floating-point arrays can
    hold NaN or Inf. Exits 0 when there are none, 1 when any array has NaN or
    Inf (listing those arrays with their counts), 3 when the file cannot be read.

    \b
    Examples:
      paramtool check model-0000.params
      paramtool check net.params --format json | jq '.nonfinite[].name'
      paramtool check net.params || echo "diverged"
    """
    from paramtool.backends import native
    from paramtool.diff import shape_text
    from paramtool.stats import file_stats

    listing = native.list_file(file)
    found = file_stats(file, nonfinite_only=True)
    bad = [(i, e, found[i]) for i, e in enumerate(listing.entries) if found[i].nonfinite]
    elements = sum(e.size for e in listing.entries)
    if fmt == "json":
        doc = {
            "file": listing.path,
            "arrays": len(listing.entries),
            "elements": elements,
            "ok": not bad,
            "nonfinite": [
                {
                    "index": i,
                    "name": json_name(e.name),
                    "shape": list(e.shape),
                    "dtype": e.dtype,
                    "nan": st.nan,
                    "inf": st.inf,
                }
                for i, e, st in bad
            ],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["name", "shape", "dtype", "nan", "inf"])
        for i, e, st in bad:
            name = json_name(e.name) if e.name is not None else f"[{i}]"
            out.writerow([name, "x".join(map(str, e.shape)), e.dtype, st.nan, st.inf])
    elif bad:
        rows = [
            [display_name(e.name, i), shape_text(e.shape), e.dtype, f"{st.nan:,}", f"{st.inf:,}"]
            for i, e, st in bad
        ]
        columns = [("name", "left"), ("shape", "left"), ("dtype", "left")]
        columns += [("nan", "right"), ("inf", "right")]
        nan = sum(st.nan for _, _, st in bad)
        inf = sum(st.inf for _, _, st in bad)
        footer = (
            f"{len(bad)} of {plural(len(listing.entries), 'array')} have NaN or Inf values "
            f"({nan:,} NaN, {inf:,} Inf)"
        )
        print_table(columns, rows, footer)
    else:
        click.echo(
            f"{inert(listing.path)}: no NaN or Inf in {plural(len(listing.entries), 'array')} "
            f"({plural(elements, 'element')})"
        )
    if bad:
        sys.exit(int(ExitCode.DIFFERENCES))


# ------------------------------------------------------------------------------------------
# diff


def model_options(f: F) -> F:
    """``--model SPEC``, ``--model-arg KEY=VALUE`` and ``--input-shape DIMS``."""
    f = click.option(
        "--input-shape",
        "input_shapes",
        multiple=True,
        metavar="DIMS",
        callback=_check_shapes,
        help="Run one forward pass on zeros of this shape (e.g. 1,3,224,224) so deferred "
        "shapes are known; repeat for several inputs.",
    )(f)
    f = click.option(
        "--model-arg",
        "model_args",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_check_model_args,
        help="Keyword argument for the model's constructor (value as a Python literal); "
        "repeatable, e.g. --model-arg classes=10.",
    )(f)
    return f


def _not_nan(value: float, name: str) -> float:
    if value != value:
        raise click.BadParameter("must be a number, not nan", param_hint=name)
    return value


def _parse_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` (or ``1x3x224x224``) -> ``(1, 3, 224, 224)``; every dim a positive
    integer, nothing else."""
    parts = text.replace("x", ",").split(",")
    if not parts or any(not p.strip().isdigit() or int(p) <= 0 for p in parts):
        raise click.BadParameter(f"{text!r} is not a shape like 1,3,224,224")
    return tuple(int(p) for p in parts)


def _check_shapes(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for v in value:
        _parse_shape(v)
    return value


def _check_model_args(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for v in value:
        if "=" not in v or not v.split("=", 1)[0].strip():
            raise click.BadParameter(f"{v!r} is not KEY=VALUE")
    return value


MODEL_HELP = (
    "What the model expects: zoo:NAME, package.module:callable, path/file.py:callable, "
    "a -symbol.json file, another .params file, or a text file of names."
)


def _load_model(spec: str, model_args: tuple[str, ...], input_shapes: tuple[str, ...]) -> Any:
    from paramtool.model import load_model, parse_model_args

    try:
        kwargs = parse_model_args(model_args)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--model-arg") from None
    shapes = [_parse_shape(s) for s in input_shapes]
    return load_model(spec, model_args=kwargs, input_shapes=shapes or None)


@cli.command(name="diff")
@click.argument("file_a", metavar="FILE", type=click.Path())
@click.argument("file_b", metavar="[OTHER]", required=False, type=click.Path())
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
    from paramtool.diff import shape_text
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
            where = f"  first at [{idx}]: {v.first_a:g} vs {v.first_b:g}"
        status = "close" if v.close else f"{v.n_diff:,} differ"
        click.echo(
            f"  {display_name(v.name, 0).ljust(width)}  {status}  max abs {v.max_abs:.3g}  "
            f"max rel {v.max_rel:.3g}{where}"
        )


def _print_diff(report: Any) -> None:
    from paramtool.diff import shape_text

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


# ------------------------------------------------------------------------------------------
# rename-prefix


@cli.command(name="rename-prefix")
@click.argument("src", type=click.Path())
@click.argument("old", shell_complete=complete_prefixes)
@click.argument("new")
@click.option(
    "-o",
    "--output",
    "dest",
    metavar="DEST",
    type=click.Path(),
    help="Write the result here (must not exist unless --force).",
)
@click.option("--in-place", is_flag=True, help="Rewrite SRC itself (atomically).")
@click.option(
    "--keep-unmatched", is_flag=True, help="Keep names that do not start with OLD unchanged."
)
@click.option(
    "--drop-unmatched",
    is_flag=True,
    help="Leave names that do not start with OLD out of the output.",
)
@click.option("-n", "--dry-run", is_flag=True, help="Print old -> new and write nothing.")
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
@exclude_option
@write_options
@backend_option
def rename_prefix_command(
    src: str,
    old: str,
    new: str,
    dest: str | None,
    in_place: bool,
    keep_unmatched: bool,
    drop_unmatched: bool,
    dry_run: bool,
    force: bool,
    excludes: tuple[str, ...],
    no_verify: bool,
    backup: str | None,
    backend: BackendName,
) -> None:
    """Replace the prefix OLD by NEW in every parameter name.

    A leading arg:/aux: tag is kept: with OLD=model0_, arg:model0_conv0_weight
    becomes arg:NEW + conv0_weight. OLD or NEW may be '' to add or strip a prefix.
    Array bytes are copied unchanged; only the name table is rewritten.

    \b
    Examples:
      paramtool rename-prefix model0.params model0_ model1_ -o model1.params
      paramtool rename-prefix net.params '' net0_ --in-place
      paramtool rename-prefix net.params model0_ model1_ --dry-run
    """
    if keep_unmatched and drop_unmatched:
        raise click.UsageError("--keep-unmatched and --drop-unmatched exclude each other")
    if not dry_run and (dest is None) == (not in_place):
        raise click.UsageError("give exactly one of -o/--output DEST and --in-place")
    if old.startswith(TAGS) or new.startswith(TAGS):
        raise click.UsageError(
            "OLD and NEW apply after an arg:/aux: tag, which is kept: give them without the tag"
        )
    from paramtool.writer import resolve_destination

    target = src if in_place else dest
    if target is not None:
        try:
            target = resolve_destination(src, target, force=force, in_place=in_place)
        except WriteRefusedError:
            if not dry_run:
                raise
            _warn(f"{target}: exists; the real run needs --force")
    be = get_backend(backend)
    listing = be.list_file(src)
    unmatched = "keep" if keep_unmatched else "drop" if drop_unmatched else "error"
    try:
        plan = plan_prefix_rename(
            listing.names, old, new, unmatched=cast(Any, unmatched), exclude=excludes
        )
    except RenameError as e:
        raise RenameError(f"{src}: {e}") from None
    if dry_run:
        for _i, before, after in plan.keep:
            if before != after:
                click.echo(f"{display_name(before, 0)} -> {display_name(after, 0)}")
            else:
                click.echo(f"{display_name(before, 0)} (unchanged)")
        for _i, name in plan.dropped:
            click.echo(f"{display_name(name, 0)} (dropped)")
        click.echo(_plan_summary(plan, listing, "would"), err=True)
        return
    assert target is not None
    selection = [(i, after) for i, _, after in plan.keep]
    options: dict[str, Any] = {
        "in_place": in_place,
        "verify": not no_verify,
        "backup": None if backup is None else target + backup,
    }
    if backend == "native" and listing.container == "ndarray-list":
        total = sum(listing.entries[i].nbytes for i, _ in selection)
        with progress_bar(total, "copying records") as advance:
            be.rewrite(src, target, selection, progress=advance, **options)
    else:
        be.rewrite(src, target, selection, **options)
    click.echo(f"{inert(dest or src)}: " + _plan_summary(plan, listing, ""), err=True)


def _plan_summary(plan: Any, listing: Listing, mood: str) -> str:
    verb = f"{mood} rename" if mood else "renamed"
    text = f"{verb} {plan.changed} of {len(listing.entries)} parameters"
    kept = len(plan.keep) - plan.changed
    if kept:
        text += f", {kept} unchanged"
    if plan.dropped:
        text += f", {len(plan.dropped)} dropped"
    return text


# ------------------------------------------------------------------------------------------
# to-structural / to-prefixed


def conversion_options(f: F) -> F:
    """The options ``to-structural`` and ``to-prefixed`` share (SRC, -o, --model, ...)."""
    f = click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")(f)
    f = click.option("-n", "--dry-run", is_flag=True, help="Print old -> new, write nothing.")(f)
    f = click.option(
        "--save-mapping",
        metavar="FILE",
        type=click.Path(),
        help="Also write the file key -> new key mapping as JSON (for --mapping); not with "
        "--dry-run.",
    )(f)
    f = click.option(
        "--mapping",
        "mapping_file",
        metavar="FILE",
        type=click.Path(),
        help="Apply a mapping saved with --save-mapping instead of --model (no MXNet needed).",
    )(f)
    f = exclude_option(f)
    f = write_options(f)
    f = model_options(f)
    f = click.option("-m", "--model", "model_spec", metavar="SPEC", help=MODEL_HELP)(f)
    f = click.option(
        "-o",
        "--output",
        "dest",
        metavar="DEST",
        required=True,
        type=click.Path(),
        help="Write the result here.",
    )(f)
    f = click.argument("src", type=click.Path())(f)
    return f


def _convert(
    kind: str,
    *,
    src: str,
    dest: str,
    model_spec: str | None,
    model_args: tuple[str, ...],
    input_shapes: tuple[str, ...],
    excludes: tuple[str, ...],
    mapping_file: str | None,
    save_mapping: str | None,
    dry_run: bool,
    force: bool,
    prefix: str | None,
    file_prefix: str | None,
    deduplicate: bool,
    no_verify: bool,
    backup: str | None,
) -> None:
    from paramtool.backends import native
    from paramtool.convert import mapping_json, plan_conversion, plan_from_mapping
    from paramtool.writer import atomic_output, resolve_destination, write_all

    if (model_spec is None) == (mapping_file is None):
        raise click.UsageError("give exactly one of --model SPEC and --mapping FILE")
    if mapping_file is not None and (model_args or input_shapes):
        raise click.UsageError("--model-arg and --input-shape need --model")
    try:
        target = resolve_destination(src, dest, force=force, can_in_place=False)
    except WriteRefusedError:
        if not dry_run:
            raise
        _warn(f"{dest}: exists; the real run needs --force")
        target = dest
    if save_mapping and dry_run:
        _warn("--dry-run writes nothing: --save-mapping is ignored")
        save_mapping = None
    mapping_target = None
    if save_mapping:  # refused before anything is written
        import os

        if os.path.realpath(save_mapping) == os.path.realpath(dest):
            raise click.UsageError("--save-mapping and -o name the same file")
        mapping_target = resolve_destination(src, save_mapping, force=force, can_in_place=False)
        if not os.path.isdir(os.path.dirname(os.path.abspath(mapping_target))):
            raise WriteRefusedError(f"{save_mapping}: its directory does not exist")
    listing = native.list_file(src)
    if mapping_file is not None:
        try:
            with open(mapping_file, "rb") as fb:
                mapping_text = fb.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RenameError(f"{mapping_file}: not a paramtool mapping file ({e})") from None
        plan = plan_from_mapping(listing, mapping_text, mapping_file, excludes, target=kind)
        spec = mapping_file
    else:
        assert model_spec is not None
        model = _load_model(model_spec, model_args, input_shapes)
        plan = plan_conversion(
            listing,
            model,
            cast(Any, kind),
            excludes=excludes,
            prefix=prefix,
            file_prefix=file_prefix,
            deduplicate=deduplicate,
        )
        spec = model_spec
    if dry_run:
        for i, key in plan.selection:
            click.echo(f"{display_name(listing.entries[i].name, i)} -> {display_name(key, 0)}")
        for name in plan.excluded:
            click.echo(f"{display_name(name, 0)} (excluded)")
    else:
        total = sum(listing.entries[i].nbytes for i, _ in plan.selection)
        with progress_bar(total, "copying records") as advance:
            native.rewrite(
                src,
                target,
                plan.selection,
                in_place=False,
                verify=not no_verify,
                backup=None if backup is None else target + backup,
                progress=advance if listing.container == "ndarray-list" else None,
            )
        click.echo(f"{inert(dest)}: wrote {len(plan.selection)} keys ({kind})", err=True)
    if mapping_target is not None:  # checked above: a failure here is the disk's
        text = mapping_json(listing, plan, spec, cast(Any, kind))
        with atomic_output(mapping_target) as (fh, _tmp):
            write_all(fh, text.encode("utf-8") + b"\n")
    if plan.excluded:
        _warn(f"left out {len(plan.excluded)} keys: {', '.join(plan.excluded[:5])}")
    if plan.missing:
        _warn(
            f"{len(plan.missing)} model parameters are not in the output "
            f"({', '.join(plan.missing[:3])}{', ...' if len(plan.missing) > 3 else ''}): "
            "load with allow_missing=True and initialise them"
        )
    if plan.dtype_notes:
        _warn(
            f"{len(plan.dtype_notes)} dtypes differ from the model ({plan.dtype_notes[0]}): "
            "load with cast_dtype=True"
        )


@cli.command(name="to-structural")
@conversion_options
@click.option(
    "--prefix",
    metavar="PREFIX",
    help="The prefix the file uses for the model's root block (found automatically).",
)
@click.option(
    "--deduplicate",
    is_flag=True,
    help="One key per shared parameter (the alias save_parameters(deduplicate=True) keeps).",
)
def to_structural_command(prefix: str | None, deduplicate: bool, **opts: Any) -> None:
    """Rewrite prefixed or arg:/aux: keys as the structural keys load_parameters wants.

    Parameters are matched through the model's own block tree (any root prefix,
    several prefixes, arg:/aux: tags); DEST gets exactly the keys, in the order,
    that the model's save_parameters writes. Array bytes are copied unchanged.

    \b
    Examples:
      paramtool to-structural model-0000.params --model zoo:resnet18_v1 -o net.params
      paramtool to-structural m.params --model mynet.py:build -o s.params --save-mapping map.json
      paramtool to-structural other.params --mapping map.json -o s2.params
      paramtool to-structural ft.params --model zoo:alexnet \\
          --exclude 'alexnet0_dense2_*' -o s.params
    """
    _convert("structural", prefix=None, file_prefix=prefix, deduplicate=deduplicate, **opts)


@cli.command(name="to-prefixed")
@conversion_options
@click.option(
    "--prefix",
    metavar="PREFIX",
    help="Root prefix to write (default: the model's own, e.g. model0_).",
)
@click.option(
    "--export",
    "export",
    is_flag=True,
    help="Write arg:/aux: keys for SymbolBlock.imports and mx.model.load_checkpoint.",
)
def to_prefixed_command(prefix: str | None, export: bool, **opts: Any) -> None:
    """Rewrite structural keys as the prefixed keys collect_params().load wants.

    With --export, writes arg:/aux: keys (auxiliary states such as BatchNorm
    running statistics get aux:). Array bytes are copied unchanged.

    \b
    Examples:
      paramtool to-prefixed net.params --model zoo:mobilenet0.25 -o prefixed.params
      paramtool to-prefixed net.params --model mynet.py:build --prefix model1_ -o m1.params
      paramtool to-prefixed net.params --model zoo:resnet18_v1 --export -o net-0000.params
    """
    kind = "export" if export else "prefixed"
    _convert(kind, prefix=prefix, file_prefix=None, deduplicate=False, **opts)


def _on_signal(signum: int, frame: object) -> None:
    # SystemExit unwinds through atomic_output, which removes its temporary file.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point.

    Beyond Click's own handling: Ctrl-C exits 130, SIGTERM/SIGHUP exit 143/129 after the
    temporary file of a write in progress is removed, a closed pipe (``| head``) exits 141
    quietly, and any other failure to write stdout is one ``Error:`` line with exit 3.
    """
    import errno
    import signal

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        try:
            # without standalone mode, Click returns the code given to ctx.exit()
            rv = cli.main(
                args=list(argv) if argv is not None else None,
                prog_name="paramtool",
                standalone_mode=False,
            )
        except click.ClickException as e:
            e.show()
            code = e.exit_code
        except click.Abort:
            click.echo("Aborted!", err=True)
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
        sys.stdout.flush()
    except OSError as e:
        if e.errno == errno.EPIPE:
            code = 141
        else:
            with contextlib.suppress(OSError):
                sys.stderr.write(f"Error: cannot write output: {e.strerror or e}\n")
            code = int(ExitCode.INPUT)
        _silence_stdout()
    sys.exit(code)

"""``paramtool show`` and ``paramtool check``."""

from __future__ import annotations

import sys
from typing import Any

import click

from paramtool.backends import Listing
from paramtool.commands.common import format_option
from paramtool.completion import complete_names
from paramtool.errors import ExitCode
from paramtool.render import display_name, inert, json_name, plural, print_table, shape_text


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


@click.command(name="show")
@click.argument("file", type=click.Path(readable=False))
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
    import csv
    import json

    import numpy as np

    from paramtool.backends import native
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


@click.command(name="check")
@click.argument("file", type=click.Path(readable=False))
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
    import csv
    import json

    from paramtool.backends import native
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
            f"{len(bad)} of {plural(len(listing.entries), 'array')} "
            f"{'has' if len(bad) == 1 else 'have'} NaN or Inf values "
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

"""``paramtool ls``."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from typing import Any

import click

from paramtool.backends import BackendName, Entry, Listing, get_backend
from paramtool.commands.common import _warn, _warn_duplicates, backend_option, format_option
from paramtool.completion import complete_names
from paramtool.names import detect_scheme
from paramtool.render import (
    display_name,
    entry_json,
    human_bytes,
    inert,
    json_name,
    plural,
    print_table,
    shape_text,
    write_lines,
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
    import json

    head = json.dumps(doc, indent=2, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in items)
    body = f'  "{key}": [\n{lines}\n  ]' if items else f'  "{key}": []'
    sys.stdout.write(head[:-2] + ",\n" + body + "\n}\n")
    sys.stdout.flush()


def _entry_json(e: Entry, index: int) -> dict[str, Any]:
    return {
        **entry_json(e, index),
        "stored": e.stored,
        "context": e.context,
        "version": e.version,
        "offset": e.offset,
    }


@click.command(name="ls")
@click.argument("file", type=click.Path(readable=False))
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
        import csv

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
        import json

        summary["tree"] = view_json(view)
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    print_tree(view, inert(listing.path), _ls_footer(listing, summary))

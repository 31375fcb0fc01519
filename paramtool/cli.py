"""The ``paramtool`` command line. The one place library errors become messages and exit codes.

Exit codes: 0 ok; 1 differences found (``diff``); 2 usage error; 3 unreadable or unsupported
input, or a refused or failed write. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

from paramtool import __version__
from paramtool.backends import BACKENDS, BackendName, Entry, Listing, get_backend
from paramtool.errors import ExitCode, ParamtoolError
from paramtool.names import detect_scheme, plan_prefix_rename
from paramtool.render import display_name, human_bytes, json_name, print_table

F = TypeVar("F", bound=Callable[..., Any])


class ParamtoolGroup(click.Group):
    """Turns :class:`ParamtoolError` into one ``Error:`` line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ParamtoolError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(int(e.exit_code))


def backend_option(f: F) -> F:
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="native",
        show_default=True,
        help="Array I/O: paramtool's own reader/writer, or MXNet's mx.nd.load/mx.nd.save.",
    )(f)


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=ParamtoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="paramtool")
def cli() -> None:
    """Inspect, compare and rename Apache MXNet .params checkpoint files.

    \b
    Exit codes: 0 ok, 1 differences found, 2 usage error,
                3 unreadable input or refused write.
    """


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
        "record_versions": sorted({e.version for e in listing.entries if e.version is not None}),
        "trailing_bytes": listing.trailing_bytes,
    }


def _entry_json(e: Entry, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": json_name(e.name),
        "shape": list(e.shape),
        "dtype": e.dtype,
        "elements": e.size,
        "nbytes": e.nbytes,
        "stype": e.stype,
        "context": e.context,
        "version": e.version,
        "offset": e.offset,
    }


@cli.command(name="ls")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "names"]),
    default="table",
    show_default=True,
    help="table: for people; json: one object with a `parameters` list; csv; names: one per line.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="GLOB",
    help="Only names matching this shell glob (repeatable; a name matching any is shown).",
)
@backend_option
def ls_command(file: str, fmt: str, filters: tuple[str, ...], backend: BackendName) -> None:
    """List a file's parameters: name, shape, dtype, elements and bytes.

    Reads only the record headers and the name table, never the array data
    (with the default native backend).

    \b
    Examples:
      paramtool ls model-0000.params
      paramtool ls net.params --filter '*weight' --format json
      paramtool ls net.params --format names | grep batchnorm
    """
    listing = get_backend(backend).list_file(file)
    indexed = list(enumerate(listing.entries))
    if filters:
        indexed = [
            (i, e)
            for i, e in indexed
            if e.name is not None and any(fnmatch.fnmatchcase(e.name, g) for g in filters)
        ]
    shown = [e for _, e in indexed]
    summary = _ls_summary(listing, shown)
    if listing.trailing_bytes:
        _warn(f"{file}: {listing.trailing_bytes} bytes after the name table (MXNet ignores them)")
    if fmt == "json":
        summary["parameters"] = [_entry_json(e, i) for i, e in indexed]
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["name", "shape", "dtype", "elements", "nbytes", "stype", "version", "offset"])
        for _, e in indexed:
            out.writerow(
                [
                    json_name(e.name) or "",
                    "x".join(map(str, e.shape)),
                    e.dtype,
                    e.size,
                    e.nbytes,
                    e.stype,
                    "" if e.version is None else e.version,
                    "" if e.offset is None else e.offset,
                ]
            )
    elif fmt == "names":
        if not listing.named and listing.entries:
            _warn(f"{file}: an unnamed list has no names")
        for _, e in indexed:
            if e.name is not None:
                click.echo(display_name(e.name, 0))
    else:
        _print_ls_table(listing, indexed, summary)


def _print_ls_table(
    listing: Listing, indexed: list[tuple[int, Entry]], summary: dict[str, Any]
) -> None:
    from paramtool.diff import shape_text

    show_context = any(e.context not in (None, "cpu(0)") for _, e in indexed)
    columns = [
        ("name", "left"),
        ("shape", "left"),
        ("dtype", "left"),
        ("elements", "right"),
        ("bytes", "right"),
    ]
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
        if show_context:
            row.append(e.context or "")
        rows.append(row)
    count = summary["count"]
    shown = summary["shown"]
    parts = [
        f"{shown} of {count} parameters"
        if shown != count
        else f"{count} parameter{'' if count == 1 else 's'}",
        f"{summary['total_elements']:,} elements",
        f"{human_bytes(summary['total_bytes'])} ({summary['total_bytes']:,} bytes)",
        f"scheme: {summary['scheme']['description']}",
    ]
    versions = _versions(listing.entries)
    if versions:
        parts.append(f"records {versions}")
    print_table(columns, rows, " · ".join(parts))


# ------------------------------------------------------------------------------------------
# diff


@cli.command(name="diff")
@click.argument("file_a", metavar="A", type=click.Path(dir_okay=False))
@click.argument("file_b", metavar="B", type=click.Path(dir_okay=False))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: a report for people; json: the full report as one object.",
)
@backend_option
def diff_command(file_a: str, file_b: str, fmt: str, backend: BackendName) -> None:
    """Compare two .params files: names, shapes and dtypes, every difference at once.

    Exits 0 when they match, 1 when they differ, 3 when a file cannot be read. When one prefix
    change explains the differences, prints the `paramtool rename-prefix` command that fixes it.

    \b
    Examples:
      paramtool diff model0.params model1.params
      paramtool diff old.params new.params --format json
    """
    from paramtool.diff import compare

    be = get_backend(backend)
    report = compare(be.list_file(file_a), be.list_file(file_b))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print_diff(report)
    if not report.identical:
        sys.exit(int(ExitCode.DIFFERENCES))


def _print_diff(report: Any) -> None:
    from paramtool.diff import shape_text

    echo = click.echo
    for label, listing, scheme in (
        ("A", report.a, report.scheme_a),
        ("B", report.b, report.scheme_b),
    ):
        echo(f"{label}: {listing.path} ({len(listing.entries)} parameters, {scheme.describe()})")
    if report.identical:
        echo(f"Same {report.common} names, shapes and dtypes.")
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
    echo(f"\n{report.common} names in common.")
    fix = report.fix
    if fix is not None:
        change = f"{fix.old or '(no prefix)'} -> {fix.new or '(no prefix)'}"
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
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("old")
@click.argument("new")
@click.option(
    "-o",
    "--output",
    "dest",
    metavar="DEST",
    type=click.Path(dir_okay=False),
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
    target = src if in_place else dest
    from paramtool.writer import check_destination

    if target is not None and not dry_run:
        check_destination(src, target, force=force, in_place=in_place)
    be = get_backend(backend)
    listing = be.list_file(src)
    unmatched = "keep" if keep_unmatched else "drop" if drop_unmatched else "error"
    plan = plan_prefix_rename(listing.names, old, new, unmatched=cast(Any, unmatched))
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
    be.rewrite(src, target, [(i, after) for i, _, after in plan.keep], in_place=in_place)
    click.echo(f"{target}: " + _plan_summary(plan, listing, ""), err=True)


def _plan_summary(plan: Any, listing: Listing, mood: str) -> str:
    verb = f"{mood} rename" if mood else "renamed"
    text = f"{verb} {plan.changed} of {len(listing.entries)} parameters"
    kept = len(plan.keep) - plan.changed
    if kept:
        text += f", {kept} unchanged"
    if plan.dropped:
        text += f", {len(plan.dropped)} dropped"
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="paramtool")

"""``paramtool rename-prefix``."""

from __future__ import annotations

from typing import Any, cast

import click

from paramtool.backends import BackendName, Listing, get_backend
from paramtool.commands.common import _warn, backend_option, exclude_option, write_options
from paramtool.completion import complete_prefixes
from paramtool.errors import RenameError, WriteRefusedError
from paramtool.names import TAGS, plan_prefix_rename
from paramtool.render import display_name, inert, progress_bar


@click.command(name="rename-prefix")
@click.argument("src", type=click.Path(readable=False))
@click.argument("old", shell_complete=complete_prefixes)
@click.argument("new")
@click.option(
    "-o",
    "--output",
    "dest",
    metavar="DEST",
    type=click.Path(readable=False),
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
    no_sync: bool,
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
            target = resolve_destination(
                src, target, force=force, in_place=in_place, no_sync=no_sync
            )
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
        "sync": not no_sync,
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

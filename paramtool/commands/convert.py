"""``paramtool to-structural`` and ``paramtool to-prefixed``."""

from __future__ import annotations

from typing import Any, cast

import click

from paramtool.commands.common import (
    MODEL_HELP,
    F,
    _load_model,
    _warn,
    exclude_option,
    model_options,
    write_options,
)
from paramtool.errors import RenameError, WriteRefusedError
from paramtool.render import display_name, inert, progress_bar


def conversion_options(f: F) -> F:
    """The options ``to-structural`` and ``to-prefixed`` share (SRC, -o, --model, ...)."""
    f = click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")(f)
    f = click.option("-n", "--dry-run", is_flag=True, help="Print old -> new, write nothing.")(f)
    f = click.option(
        "--save-mapping",
        metavar="FILE",
        type=click.Path(readable=False),
        help="Also write the file key -> new key mapping as JSON (for --mapping); not with "
        "--dry-run.",
    )(f)
    f = click.option(
        "--mapping",
        "mapping_file",
        metavar="FILE",
        type=click.Path(readable=False),
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
        type=click.Path(readable=False),
        help="Write the result here.",
    )(f)
    f = click.argument("src", type=click.Path(readable=False))(f)
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
    no_sync: bool,
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
        target = resolve_destination(src, dest, force=force, can_in_place=False, no_sync=no_sync)
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
                sync=not no_sync,
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


@click.command(name="to-structural")
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


@click.command(name="to-prefixed")
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

"""What the commands share: the options several commands take, warnings, model loading."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import click

from paramtool.backends import BACKENDS, Listing
from paramtool.render import inert, plural

F = TypeVar("F", bound=Callable[..., Any])


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


def _backup_suffix(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value == "":
        raise click.BadParameter("give a non-empty SUFFIX, e.g. --backup .orig")
    return value


def write_options(f: F) -> F:
    """``--no-verify``, ``--no-sync`` and ``--backup SUFFIX`` for every command that writes a
    file."""
    f = click.option(
        "--no-sync",
        "no_sync",
        is_flag=True,
        help="Do not wait for the output to reach the disk (no fsync), as cp does: faster, but "
        "a power failure soon after may lose it. Only for a new output file (refused with "
        "--in-place or over an existing file).",
    )(f)
    f = click.option(
        "--backup",
        metavar="SUFFIX",
        callback=_backup_suffix,
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


def _warn(message: str) -> None:
    click.echo(f"Warning: {inert(message)}", err=True)


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

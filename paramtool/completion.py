"""Shell completion: the scripts in ``completions/`` and the callbacks that complete names.

The scripts are Click's own (``_PARAMTOOL_COMPLETE={bash,zsh,fish}_source paramtool`` prints
the same text); they call ``paramtool`` back on every Tab press with
``_PARAMTOOL_COMPLETE={shell}_complete``, and Click answers from the command definitions plus the
callbacks below, which complete parameter names and prefixes from the file named earlier on the
command line.

Regenerate the committed scripts after changing the CLI::

    python -m paramtool.completion            # writes completions/paramtool.{bash,zsh,fish}
    python -m paramtool.completion --check    # exit 1 if they are stale

The callbacks run on every Tab press, so they read only the record headers and the name table
(never array data; neither numpy nor MXNet is imported), and they never raise: any error gives
no candidates.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem

    from paramtool.backends import Listing

SHELLS = ("bash", "zsh", "fish")
PROG_NAME = "paramtool"
COMPLETE_VAR = "_PARAMTOOL_COMPLETE"
#: The committed scripts, relative to the repository root.
SCRIPT_DIR = "completions"


def script_name(shell: str) -> str:
    return f"{PROG_NAME}.{shell}"


def script(shell: str) -> str:
    """The completion script for ``shell`` (``bash``, ``zsh`` or ``fish``), as Click writes it
    for ``_PARAMTOOL_COMPLETE={shell}_source paramtool``, ending in a newline."""
    from click.shell_completion import get_completion_class

    from paramtool.cli import cli

    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(f"no completion support for {shell!r}")
    text = cls(cli, {}, PROG_NAME, COMPLETE_VAR).source()
    return text if text.endswith("\n") else text + "\n"


def stale_scripts(directory: str | os.PathLike[str]) -> list[str]:
    """The scripts in ``directory`` that are missing or differ from :func:`script`."""
    from pathlib import Path

    stale = []
    for shell in SHELLS:
        path = Path(directory) / script_name(shell)
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != script(shell):
            stale.append(str(path))
    return stale


def write_scripts(directory: str | os.PathLike[str]) -> list[str]:
    """Write every shell's script into ``directory``; returns the paths written."""
    from pathlib import Path

    written = []
    for shell in SHELLS:
        path = Path(directory) / script_name(shell)
        path.write_text(script(shell), encoding="utf-8", newline="\n")
        written.append(str(path))
    return written


# -- callbacks ---------------------------------------------------------------------------------


def _listing_for(ctx: click.Context, *params: str) -> Listing | None:
    """The listing of the file given earlier on the command line (the first of ``params``
    that has a value), or None.

    While an option's value is being completed (``ls FILE --filter <Tab>``), Click's resilient
    parser stops at that option before it assigns the positional arguments, which it leaves in
    ``ctx.args``; the first of those is the file then.
    """
    from paramtool.backends import native

    values = [ctx.params.get(p) for p in params]
    value = next((v for v in values if isinstance(v, str) and v), None)
    if value is None:
        value = next((a for a in ctx.args if isinstance(a, str) and a), None)
    if value is None:
        return None
    path = os.path.expanduser(value)
    return native.list_file(path) if os.path.isfile(path) else None


def _shape_help(shape: Sequence[int], dtype: str) -> str:
    dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    return f"({dims}) {dtype}"


def complete_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Parameter names of the file in the command's FILE/SRC argument that start with
    ``incomplete``, each with its shape and dtype as help. Never raises."""
    try:
        from click.shell_completion import CompletionItem

        listing = _listing_for(ctx, "file", "src", "file_a")
        if listing is None:
            return []
        items: dict[str, CompletionItem] = {}
        for i, e in enumerate(listing.entries):
            name = f"[{i}]" if e.name is None else e.name
            if name.startswith(incomplete) and name.isprintable() and name:
                items[name] = CompletionItem(name, help=_shape_help(e.shape, e.dtype))
        return list(items.values())
    except Exception:
        return []


def name_prefixes(names: Sequence[str]) -> Counter[str]:
    """Every prefix of the (untagged) names that ends at a ``_`` or ``.`` and leaves something
    after it, with how many names start with it."""
    from paramtool.names import split_tag

    counts: Counter[str] = Counter()
    for name in names:
        rest = split_tag(name)[1]
        seen = set()
        for pos, ch in enumerate(rest[:-1]):
            if ch in "_.":
                seen.add(rest[: pos + 1])
        counts.update(seen)
    return counts


def complete_prefixes(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Prefixes found in the SRC file's names (``model0_``, ``model0_dense0_``) that start with
    ``incomplete``, shortest first, each with the number of names it covers. Never raises."""
    try:
        from click.shell_completion import CompletionItem

        from paramtool.tree import natural_key

        listing = _listing_for(ctx, "src")
        if listing is None:
            return []
        names = [e.name for e in listing.entries if e.name is not None]
        counts = name_prefixes(names)
        found = [p for p in counts if p.startswith(incomplete) and p.isprintable()]
        found.sort(key=lambda p: (p.count("_") + p.count("."), natural_key(p)))
        return [
            CompletionItem(p, help=f"{counts[p]} name{'s' if counts[p] != 1 else ''}")
            for p in found
        ]
    except Exception:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m paramtool.completion [--check] [DIR]``: write (or check) the scripts."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print("usage: python -m paramtool.completion [--check] [DIR]", file=sys.stderr)
        return 2
    directory = args[0] if args else SCRIPT_DIR
    if check:
        stale = stale_scripts(directory)
        for path in stale:
            print(f"{path}: stale; run python -m paramtool.completion", file=sys.stderr)
        return 1 if stale else 0
    for path in write_scripts(directory):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

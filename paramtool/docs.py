"""The README's command reference, generated from each command's ``--help``.

README.md holds a `cog <https://nedbatchelder.com/code/cog/>`_ block that calls
:func:`command_reference`; ``cog -r README.md`` refreshes it, ``cog --check README.md`` verifies
it, and ``tests/test_docs.py`` fails when it is out of date.
"""

from __future__ import annotations

#: Help is rendered at this width, whatever the terminal, so the text is reproducible.
HELP_WIDTH = 100


def command_paths() -> list[list[str]]:
    """``[]`` for the group, then ``[name]`` for each command, in the order ``--help`` lists
    them (alphabetical)."""
    import click

    from paramtool.cli import cli

    return [[], *([name] for name in cli.list_commands(click.Context(cli)))]


def help_text(path: list[str]) -> str:
    """``paramtool PATH --help`` as printed at :data:`HELP_WIDTH` columns."""
    from click.testing import CliRunner

    from paramtool.cli import cli

    result = CliRunner().invoke(
        cli, [*path, "--help"], prog_name="paramtool", terminal_width=HELP_WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"paramtool {' '.join(path)} --help failed: {result.output}")
    return result.stdout


def command_reference() -> str:
    """Markdown: one ``### `paramtool CMD --help``` heading and a text block per command."""
    parts = []
    for path in command_paths():
        title = " ".join(["paramtool", *path, "--help"])
        parts.append(f"### `{title}`\n\n```text\n{help_text(path).rstrip()}\n```\n")
    return "\n".join(parts)

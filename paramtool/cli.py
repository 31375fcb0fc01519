"""The ``paramtool`` command line. The one place library errors become messages and exit codes.

Exit codes: 0 ok; 1 differences found (``diff``); 2 usage error; 3 unreadable or unsupported
input, or a refused or failed write. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from paramtool import __version__
from paramtool.errors import ExitCode, ParamtoolError
from paramtool.render import color_enabled, inert, set_color

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

#: Every command: its name -> (``module:function`` that defines it, its short help). A command's
#: module is imported only when that command runs or completes (Click's lazy-loading pattern),
#: so start-up pays for one command's options and imports, not all of them; ``paramtool --help``
#: lists the short help given here, which tests/test_cli_polish.py checks against each command's
#: own (the first sentence of its docstring).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("paramtool.commands.show:check_command", "Check every array for NaN and Inf values."),
    "diff": (
        "paramtool.commands.diff:diff_command",
        "Compare a .params file with another file, or with what a model expects.",
    ),
    "ls": (
        "paramtool.commands.ls:ls_command",
        "List a file's parameters: name, shape, dtype, elements and bytes.",
    ),
    "rename-prefix": (
        "paramtool.commands.rename:rename_prefix_command",
        "Replace the prefix OLD by NEW in every parameter name.",
    ),
    "show": ("paramtool.commands.show:show_command", "Print the values of the array NAME."),
    "to-prefixed": (
        "paramtool.commands.convert:to_prefixed_command",
        "Rewrite structural keys as the prefixed keys collect_params().load wants.",
    ),
    "to-structural": (
        "paramtool.commands.convert:to_structural_command",
        "Rewrite prefixed or arg:/aux: keys as the structural keys load_parameters wants.",
    ),
}


class ParamtoolGroup(click.Group):
    """Turns :class:`ParamtoolError` into one ``Error:`` line on stderr and its exit code.

    Its commands are loaded on demand: ``lazy_subcommands`` maps each name to
    ``(module:function, short help)`` (see :data:`COMMANDS`); ``--help`` and the completion of
    command names use the short help given there and import no command module.
    """

    def __init__(
        self, *args: Any, lazy_subcommands: dict[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_subcommands.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        module, _, name = lazy[0].partition(":")
        command = getattr(importlib.import_module(module), name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{lazy[0]} is not a click.Command")
        return command

    def _listed(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command to list in ``--help`` or a completion of command names: for a lazy one a
        stand-in holding only its name and short help (its module is not imported); None for
        an unknown or hidden command."""
        lazy = self.lazy_subcommands.get(cmd_name)
        if lazy is not None:
            return click.Command(cmd_name, help=lazy[1])
        command = super().get_command(ctx, cmd_name)
        return None if command is None or command.hidden else command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click.Group.format_commands, with _listed instead of get_command
        from gettext import gettext as _

        commands = [(n, c) for n in self.list_commands(ctx) if (c := self._listed(ctx, n))]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _c in commands)
            with formatter.section(_("Commands")):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in commands])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # click.Group.shell_complete, with _listed instead of get_command
        from click.shell_completion import CompletionItem

        results = [
            CompletionItem(n, help=c.get_short_help_str())
            for n in self.list_commands(ctx)
            if n.startswith(incomplete) and (c := self._listed(ctx, n))
        ]
        results.extend(click.Command.shell_complete(self, ctx, incomplete))
        return results

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


@click.group(
    cls=ParamtoolGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands=COMMANDS,
)
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


def _on_signal(signum: int, frame: object) -> None:
    # SystemExit unwinds through atomic_output, which removes its temporary file.
    _say_if_written()
    raise SystemExit(128 + signum)


def _say_if_written() -> None:
    """After an interruption: name the files already renamed into place (complete), if any.
    (The rename defers signals, so a file is either untouched or complete.)"""
    writer = sys.modules.get("paramtool.writer")
    for dest in getattr(writer, "COMMITTED", ()):
        with contextlib.suppress(OSError):
            sys.stderr.write(f"Interrupted after {inert(dest)} was written; it is complete.\n")


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
            _say_if_written()
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

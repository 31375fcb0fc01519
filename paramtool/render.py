"""Output helpers: inert names, human sizes, and the rich table (rich is imported lazily).

Machine formats (json, csv, names) never go through rich, so pipes see no colour, wrapping or
box drawing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

    from paramtool.backends import Entry

#: Set by the global ``--no-color`` option (see :func:`set_color`).
_color_option = True


def set_color(enabled: bool) -> None:
    """``paramtool --no-color`` calls this with False; every invocation resets it."""
    global _color_option
    _color_option = enabled


def color_enabled() -> bool:
    """False under ``--no-color`` or when ``NO_COLOR`` is set to a non-empty value
    (https://no-color.org): then no colour and no other text styling is written."""
    return _color_option and not os.environ.get("NO_COLOR")


def display_name(name: str | None, index: int) -> str:
    """A name made safe for a terminal: control characters, ANSI escapes and invalid UTF-8 are
    shown as backslash escapes; an unnamed entry shows as ``[index]``."""
    if name is None:
        return f"[{index}]"
    if name.isprintable():
        return name
    out = []
    for ch in name:
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def inert(text: str) -> str:
    """Any text (a message, a path) with control characters shown as escapes: one line, no
    terminal escape sequences."""
    return text if text.isprintable() else display_name(text, 0)


def shell_quote(word: str) -> str:
    """Quote one word for a POSIX shell; control characters use bash's ``$'...'`` form."""
    import shlex

    if word.isprintable():
        return shlex.quote(word)
    body = display_name(word, 0).replace("'", "\\'")
    return f"$'{body}'"


def shell_join(words: list[str]) -> str:
    """A command line a user can paste: each word quoted by :func:`shell_quote`."""
    return " ".join(shell_quote(w) for w in words)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "name")`` -> ``"1 name"``, ``plural(2, "name")`` -> ``"2 names"``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def json_name(name: str | None) -> str | None:
    """A name for JSON: exact, except undecodable bytes become ``\\xNN`` text."""
    if name is None:
        return None
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def entry_json(e: Entry, index: int) -> dict[str, Any]:
    """The JSON fields every listing gives an entry: ``index``, ``name`` (:func:`json_name`),
    ``shape``, ``dtype``, ``elements``, ``nbytes``, ``stype``."""
    return {
        "index": index,
        "name": json_name(e.name),
        "shape": list(e.shape),
        "dtype": e.dtype,
        "elements": e.size,
        "nbytes": e.nbytes,
        "stype": e.stype,
    }


def shape_text(shape: tuple[int, ...]) -> str:
    """``(20, 10)``-style text for a shape (``()`` for 0-d)."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def human_bytes(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``; powers of 1024, as ``ls -h``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _broken_pipe() -> None:
    raise BrokenPipeError(32, "Broken pipe")


def make_console(*, stderr: bool = False) -> Console:
    """A rich Console with markup, emoji and highlighting off (names may contain ``[``).

    When the stream is not a terminal, lines are never wrapped or cropped. Without colour
    (:func:`color_enabled`), no ANSI styling at all is written, not even bold.
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # let paramtool.cli's handler exit 141 (rich would exit 1: "differences")
            _broken_pipe()

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return _Console(
        file=stream,
        markup=False,
        emoji=False,
        highlight=False,
        no_color=not color_enabled(),
        color_system="auto" if color_enabled() else None,
        soft_wrap=not terminal,
        width=None if terminal else 10_000,
    )


def print_table(
    columns: list[tuple[str, str]], rows: list[list[str]], footer: str, *, title: str | None = None
) -> None:
    """Print rows as a rich table on stdout.

    ``columns`` is ``(header, justify)`` with justify ``left`` or ``right``. Without a terminal
    the table is plain text (columns two spaces apart, no box drawing, no styling, nothing
    padded to a terminal width) written without rich, which keeps ``ls | ...`` fast.
    """
    if not sys.stdout.isatty():
        _print_plain_table(columns, rows, footer, title)
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    terminal = console.is_terminal
    # Never fold or crop a cell (names must stay copyable): widen past the terminal if need be.
    widths = [
        max([len(header)] + [len(row[c]) for row in rows]) for c, (header, _) in enumerate(columns)
    ]
    console.width = max(console.width, sum(widths) + 2 * len(widths) + 2)
    table = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        show_edge=False,
        title=title,
        title_justify="left",
        pad_edge=False,
        header_style="bold" if terminal else "",
    )
    for header, justify in columns:
        table.add_column(header, justify=cast(Any, justify), no_wrap=not terminal, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    console.print(Text(footer))


def cell_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (East Asian wide/fullwidth, most emoji) characters
    count 2, combining marks 0, others 1 (what ``len`` gives for ASCII)."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal columns (:func:`cell_width`)."""
    fill = " " * max(0, width - cell_width(text))
    return fill + text if right else text + fill


def _print_plain_table(
    columns: list[tuple[str, str]], rows: list[list[str]], footer: str, title: str | None
) -> None:
    widths = [
        max([cell_width(header)] + [cell_width(row[c]) for row in rows])
        for c, (header, _) in enumerate(columns)
    ]
    last = len(columns) - 1

    def line(cells: list[str]) -> str:
        out = []
        for c, cell in enumerate(cells):
            right = columns[c][1] == "right"
            if c == last and not right:
                out.append(cell)  # no trailing padding
            else:
                out.append(pad(cell, widths[c], right=right))
        return "  ".join(out).rstrip()

    head = [title] if title else []
    head.append(line([h for h, _ in columns]))
    write_lines([*head, *(line(row) for row in rows), footer])


def write_lines(lines: Iterable[str]) -> None:
    """Write lines to stdout in batches of 4096 (``click.echo`` per line costs ~10 µs each)."""
    buf: list[str] = []
    for text in lines:
        buf.append(text)
        if len(buf) >= 4096:
            sys.stdout.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        sys.stdout.write("\n".join(buf) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress_bar(total_bytes: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``. A rich progress bar is drawn on stderr only when stderr is a
    terminal and the work is large enough to take a while (>= 256 MiB); otherwise
    ``advance`` does nothing, so piped output never carries progress."""
    if total_bytes < (256 << 20) or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=make_console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total_bytes)
        yield lambda n: progress.advance(task, n)

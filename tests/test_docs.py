"""README.md: the generated command reference is current, and every command is documented."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click
import pytest

from paramtool.cli import cli
from paramtool.docs import command_paths, command_reference, help_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COG_START = "<!-- [[[cog"
COG_END = "<!-- [[[end]]] -->"
CTX = click.Context(cli)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def generated_part(text: str) -> str:
    """What cog wrote: between the end of the cog block's header (``]]] -->``) and its end
    marker."""
    start = text.index(COG_START)
    body_start = text.index("]]] -->", start) + len("]]] -->\n")
    return text[body_start : text.index(COG_END, body_start)]


def hand_written_part(text: str) -> str:
    return text[: text.index("## Command reference")]


def test_command_reference_is_current() -> None:
    assert generated_part(readme()) == command_reference(), (
        "README.md's command reference is stale: run `cog -r README.md`"
    )


def test_cog_check_passes_and_catches_a_stale_readme(tmp_path: Path) -> None:
    cogapp = pytest.importorskip("cogapp")
    assert cogapp.Cog().main(["cog", "--check", str(README)]) == 0
    stale = tmp_path / "README.md"
    shutil.copy(README, stale)
    text = stale.read_text(encoding="utf-8")
    stale.write_text(text.replace("Show this message and exit.", "Show help.", 1))
    assert cogapp.Cog().main(["cog", "--check", str(stale)]) != 0
    assert cogapp.Cog().main(["cog", "-r", str(stale)]) == 0  # refreshing repairs it
    assert stale.read_text(encoding="utf-8") == text


def test_help_is_rendered_at_a_fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = help_text(["diff"])
    monkeypatch.setenv("COLUMNS", "250")
    assert help_text(["diff"]) == narrow
    assert max(map(len, narrow.splitlines())) <= 100


def test_every_command_is_in_the_reference() -> None:
    generated = generated_part(readme())
    for path in command_paths():
        title = " ".join(["paramtool", *path, "--help"])
        assert f"### `{title}`" in generated, title
        assert help_text(path).rstrip() in generated
    assert {p[0] for p in command_paths() if p} == set(cli.list_commands(CTX))


@pytest.mark.parametrize("name", cli.list_commands(CTX))
def test_every_command_has_help_an_example_and_a_readme_section(name: str) -> None:
    cmd = cli.get_command(CTX, name)
    assert cmd is not None
    assert cmd.help and cmd.help.strip(), f"{name} has no help"
    assert cmd.get_short_help_str().strip(), f"{name} has no short help"
    text = help_text([name])
    examples = text.split("Examples:", 1)
    assert len(examples) == 2, f"`paramtool {name} --help` has no Examples: section"
    assert re.search(rf"^\s+paramtool {re.escape(name)}\b", examples[1], re.M), (
        f"`paramtool {name} --help` shows no example of {name}"
    )
    sections = re.findall(r"^### `paramtool ([a-z-]+)", hand_written_part(readme()), re.M)
    assert name in sections, f"README.md has no hand-written '### `paramtool {name} ...`' section"


def test_every_option_has_help() -> None:
    commands = [(name, cli.get_command(CTX, name)) for name in cli.list_commands(CTX)]
    for name, cmd in [("paramtool", cli), *commands]:
        assert cmd is not None
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_group_help_has_an_example() -> None:
    assert "Examples:" in help_text([])


def test_readme_keeps_its_hand_written_sections() -> None:
    text = readme()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Quick start"
    assert headings[-1] == "Command reference"
    for kept in ("Commands", "Exit codes", "Python API", "Shell completion", "Development"):
        assert kept in headings
    quick = text[text.index("## Quick start") : text.index(f"## {headings[1]}")]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
        ".venv/bin/paramtool ls tests/data/tutorial-model0.params\n",
        ".venv/bin/python -m pytest\n",
    ]
    assert "not yet generated" not in text  # the completion placeholder is gone
    for shell in ("bash", "zsh", "fish"):
        assert f"completions/paramtool.{shell}" in text

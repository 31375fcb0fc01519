"""Shell completion: the committed scripts are current, and names complete from the file.

Completion is exercised through Click's own API, as a shell's Tab press would reach it, without
any shell: ``ShellComplete(cli, {}, "paramtool", "_PARAMTOOL_COMPLETE").get_completions(args,
incomplete)``; and once end to end through the environment-variable protocol the scripts use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from paramtool import completion
from paramtool.backends import native
from paramtool.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCRIPTS = ROOT / "completions"
MOBILE_S = DATA / "mobilenet0.25-structural.params"
T0 = DATA / "tutorial-model0.params"
HYBRID = DATA / "hybrid-0000.params"


def complete(args: list[str], incomplete: str) -> list[str]:
    sc = ShellComplete(cli, {}, "paramtool", "_PARAMTOOL_COMPLETE")
    return [item.value for item in sc.get_completions(args, incomplete)]


def names_of(path: Path) -> list[str]:
    return [e.name for e in native.list_file(str(path)).entries if e.name is not None]


# -- the committed scripts ---------------------------------------------------------------------


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_committed_script_is_current(shell: str) -> None:
    committed = (SCRIPTS / f"paramtool.{shell}").read_text(encoding="utf-8")
    assert committed == completion.script(shell), (
        f"completions/paramtool.{shell} is stale: run python -m paramtool.completion"
    )
    assert "_PARAMTOOL_COMPLETE" in committed and f"{shell}_complete" in committed


def test_scripts_match_what_the_installed_command_prints() -> None:
    for shell in completion.SHELLS:
        proc = subprocess.run(
            [sys.executable, "-m", "paramtool"],
            env={**os.environ, "_PARAMTOOL_COMPLETE": f"{shell}_source"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        expected = (SCRIPTS / f"paramtool.{shell}").read_text(encoding="utf-8")
        assert proc.stdout.rstrip("\n") == expected.rstrip("\n")


def test_generator_writes_and_detects_stale_scripts(tmp_path: Path) -> None:
    assert completion.main(["--check", str(tmp_path)]) == 1  # missing
    assert completion.main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "paramtool.bash",
        "paramtool.fish",
        "paramtool.zsh",
    ]
    assert completion.main(["--check", str(tmp_path)]) == 0
    assert completion.stale_scripts(tmp_path) == []
    zsh = tmp_path / "paramtool.zsh"
    zsh.write_text(zsh.read_text() + "# edited\n")
    assert completion.stale_scripts(tmp_path) == [str(zsh)]
    assert completion.main(["--check", str(tmp_path)]) == 1
    assert completion.stale_scripts(SCRIPTS) == []


def test_generator_runs_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool.completion", "--check", str(SCRIPTS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# -- completing names --------------------------------------------------------------------------


def test_show_completes_names_from_the_file() -> None:
    got = complete(["show", str(MOBILE_S)], "features.1")
    expected = [n for n in names_of(MOBILE_S) if n.startswith("features.1")]
    assert got == expected and "features.1.gamma" in got and "features.10.beta" in got
    assert complete(["show", str(MOBILE_S)], "out") == ["output.weight", "output.bias"]
    assert complete(["show", str(MOBILE_S)], "") == names_of(MOBILE_S)
    assert complete(["show", str(MOBILE_S)], "nothing-like-this") == []


def test_completion_items_carry_shape_and_dtype() -> None:
    sc = ShellComplete(cli, {}, "paramtool", "_PARAMTOOL_COMPLETE")
    items = sc.get_completions(["show", str(T0)], "model0_dense0_")
    assert [(i.value, i.help) for i in items] == [
        ("model0_dense0_weight", "(20, 10) float32"),
        ("model0_dense0_bias", "(20,) float32"),
    ]


def test_filter_completes_names_after_the_file() -> None:
    assert complete(["ls", str(HYBRID), "--filter"], "aux:") == [
        "aux:hybridsequential0_batchnorm0_running_mean",
        "aux:hybridsequential0_batchnorm0_running_var",
    ]
    assert complete(["ls", "--tree", str(T0), "--filter", "*", "--filter"], "model0_my") == [
        "model0_mydense_weight",
        "model0_mydense_bias",
    ]
    assert complete(["ls", "--filter"], "mo") == []  # no file named yet


def test_unnamed_list_completes_positions() -> None:
    assert complete(["show", str(DATA / "unnamed-list.params")], "") == ["[0]", "[1]", "[2]"]


def test_rename_prefix_completes_prefixes() -> None:
    got = complete(["rename-prefix", str(T0)], "")
    assert got[:4] == ["model0_", "model0_dense0_", "model0_dense1_", "model0_mydense_"]
    assert complete(["rename-prefix", str(HYBRID)], "hybridsequential0_b") == [
        "hybridsequential0_batchnorm0_",
        "hybridsequential0_batchnorm0_running_",
    ]  # after the arg:/aux: tag, which rename-prefix keeps
    sc = ShellComplete(cli, {}, "paramtool", "_PARAMTOOL_COMPLETE")
    helps = {i.value: i.help for i in sc.get_completions(["rename-prefix", str(T0)], "model0_")}
    assert helps["model0_"] == "6 names" and helps["model0_dense0_"] == "2 names"
    assert complete(["rename-prefix", str(T0), "model0_"], "") == []  # NEW: nothing to offer


def test_tilde_in_the_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(T0, tmp_path / "m.params")
    assert complete(["show", "~/m.params"], "model0_dense1") == [
        "model0_dense1_weight",
        "model0_dense1_bias",
    ]


def test_commands_and_options_still_complete() -> None:
    assert complete([], "sh") == ["show"]
    assert "--tree" in complete(["ls"], "--t")
    assert complete(["ls", str(T0)], "--col") == ["--collapse"]
    assert "--no-color" in complete([], "--no")


def _bad_inputs(tmp_path: Path) -> list[str]:
    junk = tmp_path / "junk.params"
    junk.write_bytes(b"\x00garbage" * 10)
    cut = tmp_path / "cut.params"
    cut.write_bytes(T0.read_bytes()[:100])
    empty = tmp_path / "empty.params"
    empty.write_bytes(b"")
    badzip = tmp_path / "zip.params"
    badzip.write_bytes(b"PK\x03\x04broken")
    return [str(junk), str(cut), str(empty), str(badzip), str(tmp_path), "/nonexistent/x.params"]


def test_completion_never_raises(tmp_path: Path) -> None:
    for path in _bad_inputs(tmp_path):
        assert complete(["show", path], "") == []
        assert complete(["ls", path, "--filter"], "") == []
        assert complete(["rename-prefix", path], "") == []


def test_completion_swallows_unexpected_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path: str) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(native, "list_file", boom)
    assert complete(["show", str(T0)], "") == []
    assert complete(["rename-prefix", str(T0)], "") == []


def test_completion_reads_no_array_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from paramtool.index import ParamsFile

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("completion read array data")

    monkeypatch.setattr(ParamsFile, "read", forbidden)
    monkeypatch.setattr(ParamsFile, "read_bytes", forbidden)
    assert len(complete(["show", str(MOBILE_S)], "")) == 137


def test_completion_is_fast() -> None:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        got = complete(["show", str(MOBILE_S)], "features.")
        best = min(best, time.perf_counter() - start)
    assert len(got) == 135
    assert best <= 0.1, f"{best:.3f} s per Tab press"


def test_completion_imports_neither_numpy_nor_mxnet() -> None:
    code = (
        "import json, sys\n"
        "from click.shell_completion import ShellComplete\n"
        "from paramtool.cli import cli\n"
        "sc = ShellComplete(cli, {}, 'paramtool', '_PARAMTOOL_COMPLETE')\n"
        f"a = [i.value for i in sc.get_completions(['show', {str(MOBILE_S)!r}], 'output')]\n"
        f"b = [i.value for i in sc.get_completions(['rename-prefix', {str(T0)!r}], 'm')]\n"
        "print(json.dumps([a, b, 'numpy' in sys.modules, 'mxnet' in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    a, b, numpy_loaded, mxnet_loaded = json.loads(proc.stdout)
    assert a == ["output.weight", "output.bias"] and "model0_" in b
    assert not numpy_loaded and not mxnet_loaded


@pytest.mark.parametrize(
    ("shell", "words", "cword", "expected"),
    [
        (
            "bash",
            "paramtool show tests/data/mobilenet0.25-structural.params output.",
            "3",
            "plain,output.weight\nplain,output.bias\n",
        ),
        (
            "zsh",
            "paramtool ls tests/data/hybrid-0000.params --filter "
            "aux:hybridsequential0_batchnorm0_running_m",
            "4",
            "plain\naux\\:hybridsequential0_batchnorm0_running_mean\n(4,) float32\n",
        ),
        (
            "fish",
            "paramtool show tests/data/tutorial-model0.params model0_dense0_b",
            "model0_dense0_b",
            "plain,model0_dense0_bias\t(20,) float32\n",
        ),
    ],
)
def test_shell_protocol_end_to_end(shell: str, words: str, cword: str, expected: str) -> None:
    """What the committed scripts run on a Tab press (``_PARAMTOOL_COMPLETE=SHELL_complete``)."""
    env = {
        **os.environ,
        "_PARAMTOOL_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": cword,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "paramtool"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,  # relative paths: the shells split COMP_WORDS on blanks
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected

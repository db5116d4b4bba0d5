"""The README's set-up commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

import re

from conftest import REPO


def setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_two_setup_commands_and_ci_runs_the_test_one() -> None:
    run_cmd, test_cmd = setup_commands()
    assert "medbench run" in run_cmd and "HF_HUB_OFFLINE=1" in run_cmd
    assert "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines()


def test_every_command_is_documented() -> None:
    from medbench.cli import cli

    text = (REPO / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        subs = getattr(command, "commands", {}) or {"": None}
        for sub in subs:
            assert f"medbench {name} {sub}".strip() in text, f"medbench {name} {sub} is not in the README"

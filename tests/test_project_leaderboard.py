"""The committed leaderboard/ is rebuilt from the committed results/ with no difference."""

from __future__ import annotations

from click.testing import CliRunner

from conftest import REPO
from medbench.cli import cli


def test_committed_leaderboard_is_up_to_date(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["leaderboard", "--check"])
    assert result.exit_code == 0, result.output

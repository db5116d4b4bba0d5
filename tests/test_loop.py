"""`medbench loop` end to end with the tiny in-code model: base -> train -> fine-tuned, the printed
table against the stored result files, reuse on a second loop, and `eval:` entries of recipes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import QA_PAIRS as PAIRS, write_jsonl, write_retrieval, write_sts
from medbench.cli import cli

TASKS = "TinyRetrieval,TinySTS"


@pytest.fixture
def workdir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    shutil.copytree(tiny_model_dir, tmp_path / "base")
    write_jsonl(tmp_path / "pairs.jsonl", [{"question": q, "answer": a} for q, a in PAIRS])
    write_retrieval(tmp_path / "tasks" / "tiny-retrieval")
    write_sts(tmp_path / "tasks" / "tiny-sts")
    return tmp_path


def write_recipe(workdir: Path, training: str = "") -> Path:
    path = workdir / "tiny-loop.yaml"
    path.write_text(
        f"name: tiny-loop\nbase_model: {workdir / 'base'}\n"
        f"training: {{max_steps: 3, batch_size: 4, learning_rate: 5e-3, warmup_ratio: 0, logging_steps: 1, seed: 1{training}}}\n"
        "phases:\n  - loss: mnrl\n    data: [{file: pairs.jsonl, columns: {anchor: question, positive: answer}}]\n",
        encoding="utf-8")
    return path


def loop(workdir: Path, recipe: Path, *extra: str):
    args = ["loop", str(recipe), "--tasks-dir", str(workdir / "tasks"), "--tasks", TASKS,
            "--models-dir", str(workdir / "models"), "--output-dir", str(workdir / "out"), "--device", "cpu", "-q", *extra]
    result = CliRunner().invoke(cli, args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def stored_scores(folder: Path) -> dict[str, dict[str, float]]:
    """The scores the table shows, read from mteb's result files in ``folder``."""
    out = {}
    for task, keys in (("TinyRetrieval", {"nDCG@10": "ndcg_at_10", "Recall@5": "recall_at_5"}),
                       ("TinySTS", {"Spearman": "cosine_spearman"})):
        scores = json.loads((folder / f"{task}.json").read_text())["scores"]["test"][0]
        out[task] = {column: scores[key] for column, key in keys.items()}
    return out


def test_loop_end_to_end_table_and_result_files(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medbench import evaluate
    from medbench.models import weights_revision

    recipe = write_recipe(workdir)
    result = loop(workdir, recipe)
    model = workdir / "models" / "tiny-loop"
    assert (model / "medbench.json").is_file() and (model / "model.safetensors").is_file()
    base_rev, tuned_rev = weights_revision(workdir / "base"), weights_revision(model)
    assert base_rev != tuned_rev  # three steps changed the weights
    lines = result.stdout.splitlines()
    assert f"base  local/base @ {base_rev}" in lines
    assert f"tuned medbench/tiny-loop @ {tuned_rev}  ({model})" in lines
    base_dir = workdir / "out" / "results" / "local__base" / base_rev
    tuned_dir = workdir / "out" / "results" / "medbench__tiny-loop" / tuned_rev
    base, tuned = stored_scores(base_dir), stored_scores(tuned_dir)
    assert base != tuned

    # the table: one row per task and language, every cell "base -> tuned (delta)" from the stored files
    table = [line for line in lines if line.startswith("|")]
    header = [h.strip() for h in table[0].strip("|").split("|")]
    assert header == ["Task", "Lang", "nDCG@10 base -> tuned (Δ)", "Recall@5 base -> tuned (Δ)", "Spearman base -> tuned (Δ)"]
    rows = {cells[0]: cells for cells in ([c.strip() for c in row.strip("|").split("|")] for row in table[2:])}
    assert sorted(rows) == ["TinyRetrieval", "TinySTS"]
    for task in rows:
        assert rows[task][1] == "de"
        for column, cell in zip(header[2:], rows[task][2:], strict=True):
            metric = column.split()[0]
            if metric not in base[task]:
                assert cell == ""
                continue
            b, t = base[task][metric], tuned[task][metric]
            match = re.fullmatch(r"(-?\d\.\d{4}) -> (-?\d\.\d{4}) \(([+-]\d\.\d{4})\)", cell)
            assert match, cell
            assert [float(x) for x in match.groups()] == pytest.approx([b, t, t - b], abs=6e-5)

    # the loop's runs are logged like any `medbench run`, the fine-tuned one with its lineage
    log = json.loads((tuned_dir / "medbench_runs.jsonl").read_text().splitlines()[-1])
    assert log["model"]["name"] == "medbench/tiny-loop"

    # a second loop: the base result is reused, the model is up to date, nothing is evaluated again
    monkeypatch.setattr(evaluate, "load_model", lambda *a, **k: pytest.fail("a model was loaded although every result is stored"))
    again = loop(workdir, recipe, "--format", "json")
    report = json.loads(again.stdout)
    assert report["base"]["revision"] == base_rev and report["tuned"]["revision"] == tuned_rev
    by_task = {r["task"]: r for r in report["rows"]}
    for task in ("TinyRetrieval", "TinySTS"):
        assert by_task[task]["base"] == pytest.approx(base[task]) and by_task[task]["tuned"] == pytest.approx(tuned[task])
        assert by_task[task]["delta"] == pytest.approx({k: tuned[task][k] - base[task][k] for k in base[task]})
    assert "up to date" in again.stderr
    assert sorted(p.name for p in base_dir.glob("*.json")) == ["TinyRetrieval.json", "TinySTS.json", "model_meta.json"]


@pytest.mark.parametrize("eval_entry", ["0.25", "TinySTS", "TinyRetrieval"])
def test_recipe_eval_entries_are_evaluated_during_training(workdir: Path, eval_entry: str) -> None:
    """`eval:` is a dev fraction of the training data or an evaluation task's name; its scores are in medbench.json."""
    from medbench.train.recipe import load_recipe
    from medbench.tasks import discover
    from medbench.train import train

    tasks = discover([workdir / "tasks"], include_builtin=False)
    recipe = load_recipe(write_recipe(workdir, f", eval: {eval_entry}"), known_tasks=[t.spec.name for t in tasks])
    assert recipe.phases[0].training.eval == (0.25 if eval_entry == "0.25" else eval_entry)
    result = train(recipe, tasks, models_dir=workdir / "models", device="cpu", show_progress=False)
    (phase,) = json.loads((result.folder / "medbench.json").read_text())["metrics"]["phases"]
    scores = phase["eval"]
    if eval_entry == "0.25":
        assert phase["rows"] == 6  # 2 of the 8 pairs held out
        assert "eval_loss" in scores and "eval_pairs-dev_cosine_ndcg@10" in scores
    elif eval_entry == "TinySTS":
        assert "eval_loss" not in scores  # no dev split: the task's test pairs, scored by the evaluator only
        assert -1 <= scores["eval_TinySTS_spearman_cosine"] <= 1
    else:
        assert 0 <= scores["eval_TinyRetrieval_cosine_ndcg@10"] <= 1 and phase["rows"] == len(PAIRS)


def test_unknown_eval_task_is_a_recipe_error(workdir: Path) -> None:
    from medbench.errors import TaskFormatError
    from medbench.train.recipe import load_recipe

    path = write_recipe(workdir, ", eval: TinySTT")
    with pytest.raises(TaskFormatError) as info:
        load_recipe(path, known_tasks=["TinyRetrieval", "TinySTS"])
    (problem,) = info.value.problems
    assert str(problem) == f"{path}:3: training.eval: unknown evaluation task 'TinySTT'. Did you mean: TinySTS?"

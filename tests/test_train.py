"""Training with the tiny in-code model: every loss, mining, leakage check, resume, saved folder, loop table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_jsonl
from medbench.train.recipe import load_recipe
from medbench.results import Row
from medbench.tasks import discover

PAIRS = [
    ("Ramipril Dosis", "Ramipril 5 mg morgens bei Hypertonie."),
    ("Fraktur Radius", "Distale Radiusfraktur links, Gips für sechs Wochen."),
    ("Pneumonie Therapie", "Ambulant erworbene Pneumonie, Therapie mit Amoxicillin."),
    ("Meniskus Knie", "MRT Knie: Riss des Innenmeniskus im Hinterhorn."),
    ("Lungenembolie Befund", "CT-Angiographie: zentrale Lungenarterienembolie rechts."),
    ("Histologie Kolon", "Tubuläres Adenom des Kolon ohne Dysplasie."),
    ("Blutzucker Einstellung", "Diabetes mellitus Typ 2, HbA1c 7,9 Prozent, Metformin gesteigert."),
    ("Schilddrüse Knoten", "Sonographie: echoarmer Knoten im rechten Schilddrüsenlappen."),
]
SCORED = [("Appendizitis.", "Blinddarmentzündung.", 5), ("Fieber seit zwei Tagen.", "Kein Fieber.", 1),
          ("Gallensteine.", "Cholezystolithiasis.", 5), ("Vorhofflimmern.", "Sinusrhythmus.", 0),
          ("Anämie.", "Blutarmut.", 5), ("Niereninsuffizienz.", "Nierenzyste.", 1)]

LOSSES = {
    "mnrl": "loss: mnrl",
    "cached_mnrl": "loss: {name: cached_mnrl, mini_batch_size: 2}",
    "cosine": "loss: cosine",
    "triplet": "loss: {name: triplet, margin: 0.5}",
    "gist": "loss: {name: gist, guide_model: GUIDE}",
    "matryoshka_mnrl": "loss: mnrl\n    matryoshka: {dims: [32, 16]}",
}
DATA = {"cosine": "scored.jsonl", "triplet": "triplets.csv"}


@pytest.fixture
def workdir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A copy of the tiny model, training files, and tiny evaluation tasks."""
    shutil.copytree(tiny_model_dir, tmp_path / "base")
    write_jsonl(tmp_path / "pairs.jsonl", [{"question": q, "answer": a} for q, a in PAIRS])
    write_jsonl(tmp_path / "scored.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in SCORED])
    (tmp_path / "triplets.csv").write_text(
        "anchor,positive,negative\n" + "".join(f'{q},"{a}","{PAIRS[(i + 1) % len(PAIRS)][1]}"\n' for i, (q, a) in enumerate(PAIRS)),
        encoding="utf-8")
    from conftest import write_retrieval, write_sts

    write_retrieval(tmp_path / "tasks" / "tiny-retrieval")
    write_sts(tmp_path / "tasks" / "tiny-sts")
    return tmp_path


def recipe_file(workdir: Path, loss: str, data: str = "pairs.jsonl", extra: str = "", training: str = "") -> Path:
    columns = {"pairs.jsonl": ", columns: {anchor: question, positive: answer}",
               "scored.jsonl": ", score_range: [0, 5]"}.get(data, "")
    text = (
        f"name: tiny-ft\nbase_model: {workdir / 'base'}\n"
        f"training: {{max_steps: 2, batch_size: 4, learning_rate: 1e-3, warmup_ratio: 0, logging_steps: 1{training}}}\n"
        f"phases:\n  - {loss.replace('GUIDE', str(workdir / 'base'))}\n    data: [{{file: {data}{columns}}}]\n{extra}"
    )
    path = workdir / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def tiny_tasks(workdir: Path) -> list:
    return discover([workdir / "tasks"], include_builtin=False)


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def changed(before: Path, after: Path) -> bool:
    a, b = weights(before), weights(after)
    return any(not (a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_trains_two_steps_and_changes_the_weights(workdir: Path, loss: str) -> None:
    from medbench.train import train

    recipe = load_recipe(recipe_file(workdir, LOSSES[loss], DATA.get(loss, "pairs.jsonl")))
    result = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    (phase,) = result.info["metrics"]["phases"]
    assert phase["steps"] == 2 and phase["loss"] == recipe.phases[0].loss.name
    assert changed(workdir / "base", result.folder)


def test_hard_negative_mining_makes_triplets(workdir: Path) -> None:
    from medbench.train import train

    extra = "    mine_hard_negatives: {range_min: 0, range_max: 4, num_negatives: 2, sampling_strategy: top}\n"
    recipe = load_recipe(recipe_file(workdir, "loss: {name: triplet, margin: 0.5}", extra=extra))
    result = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    (phase,) = result.info["metrics"]["phases"]
    assert phase["steps"] == 2
    assert len(PAIRS) < phase["rows"] <= 2 * len(PAIRS)  # up to two negatives per pair


def test_saved_folder_medbench_json_and_revision(workdir: Path) -> None:
    from medbench.models import resolve_model, weights_revision
    from medbench.train import train

    recipe = load_recipe(recipe_file(workdir, "loss: mnrl", training=", eval: 0.25"), ["prompts={query: 'Frage: ', document: 'Text: '}"])
    result = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    folder = workdir / "models" / "tiny-ft"
    info = json.loads((folder / "medbench.json").read_text())
    assert {"name", "base_model", "base_revision", "recipe", "recipe_sha256", "data", "languages", "metrics",
            "revision", "trained_at", "seconds"} <= set(info)
    assert info["revision"] == result.revision == weights_revision(folder)
    assert info["base_revision"] == weights_revision(workdir / "base")
    assert info["recipe"]["prompts"] == {"query": "Frage: ", "document": "Text: "}
    (data,) = info["data"]
    assert data["rows"] == 8 and len(data["sha256"]) == 64 and data["layout"] == "pairs"
    (phase,) = info["metrics"]["phases"]
    assert phase["rows"] == 6  # 2 of the 8 pairs held out for the dev evaluation
    assert "eval_loss" in phase["eval"] and "eval_pairs-dev_cosine_ndcg@10" in phase["eval"]
    assert (folder / "README.md").read_text().startswith("# tiny-ft")
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "Frage: ", "document": "Text: "}
    assert resolve_model(str(folder), name="medbench/tiny-ft").prompts == {"query": "Frage: ", "document": "Text: "}
    assert not (workdir / "models" / ".checkpoints").exists()  # cleaned up after the save
    # the same recipe and data again: up to date, nothing trained
    again = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    assert again.up_to_date and again.revision == result.revision


def test_resume_after_interrupt(workdir: Path) -> None:
    from transformers import TrainerCallback

    from medbench.train import train

    class InterruptInPhase2(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if "phase-2" in args.output_dir:
                raise KeyboardInterrupt

    extra = "  - loss: cosine\n    data: [{file: scored.jsonl, score_range: [0, 5]}]\n"
    recipe = load_recipe(recipe_file(workdir, "loss: mnrl", extra=extra, training=", save_steps: 1"))
    models = workdir / "models"
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tiny_tasks(workdir), models_dir=models, device="cpu", show_progress=False,
              callbacks=[InterruptInPhase2()])
    root = models / ".checkpoints" / "tiny-ft"
    assert (root / "phase-1" / "done" / "modules.json").is_file()
    assert [p.name for p in (root / "phase-2").glob("checkpoint-*")] == ["checkpoint-1"]
    assert not (models / "tiny-ft").exists()  # nothing half-saved
    result = train(recipe, tiny_tasks(workdir), models_dir=models, device="cpu", show_progress=False)
    assert result.phases_resumed == [2]
    first, second = result.info["metrics"]["phases"]
    assert first["steps"] == 2 and second["steps"] == 2 and second["resumed_from"] == "checkpoint-1"


def test_leakage_check_stops_on_a_copied_test_query(workdir: Path) -> None:
    from medbench.cli.train import main_group

    rows = [{"question": q, "answer": a} for q, a in PAIRS] + [
        {"question": "Tumor im rechten Oberlappen", "answer": "Raumforderung im rechten Oberlappen der Lunge."}]
    write_jsonl(workdir / "pairs.jsonl", rows)  # the first query of the tiny retrieval test set
    path = recipe_file(workdir, "loss: mnrl")
    args = ["train", str(path), "--tasks-dir", str(workdir / "tasks"), "--models-dir", str(workdir / "models"),
            "--device", "cpu", "-q"]
    result = CliRunner().invoke(main_group, args)
    assert result.exit_code == 1, result.output
    assert "1 of 18 distinct training texts repeat evaluation texts (1 exact, 0 near-duplicate): TinyRetrieval 1" in result.stderr
    assert f"{workdir / 'pairs.jsonl'} row 9 (anchor) -> TinyRetrieval query q1 (exact)" in result.stderr
    assert "--allow-overlap" in result.stderr and not (workdir / "models").exists()
    result = CliRunner().invoke(main_group, [*args, "--allow-overlap"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 18 distinct training texts repeat evaluation texts" in result.stderr
    info = json.loads((workdir / "models" / "tiny-ft" / "medbench.json").read_text())
    assert info["leakage"] == {"overlaps": 1, "allowed": True}
    assert f"{workdir / 'models' / 'tiny-ft'}  revision {info['revision']}" in result.stdout


def test_training_data_problems_are_reported_with_file_and_line(workdir: Path) -> None:
    from medbench.errors import TaskFormatError
    from medbench.train.data import load_phase_data

    (workdir / "bad.jsonl").write_text('{"sentence1": "a", "sentence2": "b", "score": 7}\n{"sentence1": "a"\n',
                                       encoding="utf-8")
    recipe = load_recipe(recipe_file(workdir, "loss: mnrl", data="bad.jsonl"))
    with pytest.raises(TaskFormatError) as info:
        load_phase_data(recipe, {})
    found = [str(p) for p in info.value.problems]
    assert f"{workdir / 'bad.jsonl'}:2: invalid JSON: Expecting ',' delimiter (column 18)" in found
    assert f"{workdir / 'bad.jsonl'}:1: score: score 7 outside score_range [0, 1]; set score_range: in the recipe" in found
    recipe = load_recipe(recipe_file(workdir, "loss: mnrl", data="scored.jsonl"))
    with pytest.raises(TaskFormatError, match="loss mnrl needs \\(anchor, positive\\) or"):
        load_phase_data(recipe, {})


def test_task_training_splits_are_normalised(workdir: Path) -> None:
    from medbench.train.data import load_phase_data

    tasks = {t.spec.name: t for t in discover()}
    recipe_path = workdir / "r.yaml"
    recipe_path.write_text("name: x\nbase_model: minilm\nphases:\n  - loss: cosine\n    data: [{task: MedbenchSTSDE, max_samples: 5}]\n"
                           "  - loss: mnrl\n    data: [{task: MedbenchRetrievalEN, max_samples: 3}]\n", encoding="utf-8")
    (sts,), (ret,) = load_phase_data(load_recipe(recipe_path, known_tasks=tasks), tasks)
    assert sts.layout == "scored" and len(sts.rows) == 5 and all(0 <= r["score"] <= 1 for r in sts.rows)
    assert ret.layout == "pairs" and set(ret.rows[0]) == {"anchor", "positive"} and ret.language == "en"


def test_compare_rows_pairs_base_and_tuned() -> None:
    from medbench.train.loop import compare_rows, format_comparison

    base = [Row("R", "Retrieval", "de", "test", {"nDCG@10": 0.5, "Recall@5": 0.4}),
            Row("S", "STS", "en", "test", {"Spearman": 0.3}),
            Row("Only", "STS", "de", "test", {"Spearman": 0.1})]
    tuned = [Row("S", "STS", "en", "test", {"Spearman": 0.45}),
             Row("R", "Retrieval", "de", "test", {"nDCG@10": 0.75, "Recall@5": 0.4})]
    rows = compare_rows(base, tuned)
    assert [(r.task, r.language) for r in rows] == [("Only", "de"), ("R", "de"), ("S", "en")]
    assert rows[1].delta == {"nDCG@10": 0.25, "Recall@5": 0.0}
    assert rows[2].delta == pytest.approx({"Spearman": 0.15})
    assert rows[0].delta == {} and rows[0].tuned == {}
    table = format_comparison(rows)
    assert "| R      | de     | 0.5000 -> 0.7500 (+0.2500)" in table
    assert "| Only   | de     |" in table and "0.1000 -> -" in table
    headers = [h.strip() for h in table.splitlines()[0].strip("|").split("|")]
    assert headers == ["Task", "Lang", "nDCG@10 base -> tuned (Δ)", "Recall@5 base -> tuned (Δ)", "Spearman base -> tuned (Δ)"]

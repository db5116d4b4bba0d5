"""Training with the tiny in-code model: every loss, mining, leakage check, resume, saved folder, loop table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import QA_PAIRS as PAIRS, write_jsonl
from medbench.train.recipe import load_recipe
from medbench.results import Row
from medbench.tasks import discover

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


def test_every_registered_loss_is_trained_here() -> None:
    from medbench.train.losses import LOSSES as REGISTRY

    assert set(REGISTRY) <= set(LOSSES), "add the new loss to LOSSES above"


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
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "\n---\n\n# tiny-ft\n" in card  # YAML front matter, then the card
    # no machine paths in what may be published: the base folder, the data file and the recipe are named, not located
    assert str(workdir) not in (folder / "medbench.json").read_text() and str(workdir) not in card
    assert info["base_model"] == info["recipe"]["base_model"] == "<base>" and data["source"] == "<pairs.jsonl>"
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


def test_saved_folder_loads_with_its_prompts(workdir: Path) -> None:
    """The recipe's prompts are the folder's: sentence-transformers and mteb's wrapper apply them when it is loaded."""
    import numpy as np
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    from medbench.train import train

    recipe = load_recipe(recipe_file(workdir, "loss: mnrl"), ["prompts={query: 'Frage: ', document: 'Text: '}"])
    folder = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False).folder
    st = SentenceTransformer(str(folder), device="cpu")
    assert {k: v for k, v in st.prompts.items() if v} == {"query": "Frage: ", "document": "Text: "}
    text = ["Ramipril Dosis"]
    assert np.allclose(st.encode_query(text), st.encode(["Frage: Ramipril Dosis"]), atol=1e-6)
    assert np.allclose(st.encode_document(text), st.encode(["Text: Ramipril Dosis"]), atol=1e-6)
    assert not np.allclose(st.encode_query(text), st.encode(text), atol=1e-6)
    assert SentenceTransformerEncoderWrapper(st).model_prompts == {"query": "Frage: ", "document": "Text: "}


def test_mteb_sees_the_base_and_the_training_splits(workdir: Path) -> None:
    """adapted_from and training_datasets reach mteb's ModelMeta for a local folder, and the hub card names them."""
    from huggingface_hub import ModelCard
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    from medbench.models.lineage import model_meta_updates
    from medbench.models import load_model, resolve_model
    from medbench.train.trainer import model_card, train

    # the tiny retrieval task gets a training split (texts that are not in its test set)
    write_jsonl(workdir / "tasks" / "tiny-retrieval" / "train.jsonl", [{"query": q, "positive": a} for q, a in PAIRS])
    extra = "  - loss: mnrl\n    data: [{task: TinyRetrieval}]\n"
    recipe = load_recipe(recipe_file(workdir, "loss: mnrl", extra=extra), known_tasks=["TinyRetrieval", "TinySTS"])
    result = train(recipe, tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    base_name = resolve_model(str(workdir / "base")).name  # the name the base's results are stored under
    assert base_name == "local/base"
    info = result.info
    assert info["adapted_from"] == base_name and info["training_datasets"] == ["TinyRetrieval"]  # not the user's file
    assert [d.get("task") for d in info["data"]] == [None, "TinyRetrieval"]
    assert model_meta_updates(result.folder) == {"adapted_from": base_name, "training_datasets": {"TinyRetrieval"}}

    # a local folder the way mteb wraps a loaded SentenceTransformer: mteb alone finds neither field ...
    plain = SentenceTransformerEncoderWrapper(SentenceTransformer(str(result.folder), device="cpu")).mteb_model_meta
    assert plain.adapted_from is None and plain.training_datasets is None and plain.is_zero_shot_on(["TinyRetrieval"]) is None
    # ... and with the folder's medbench.json applied (what medbench.models.load_model does) it sees both
    meta = plain.model_copy(update=model_meta_updates(result.folder))
    assert meta.adapted_from == base_name and meta.training_datasets == {"TinyRetrieval"}
    assert meta.is_zero_shot_on(["TinyRetrieval"]) is False and meta.is_zero_shot_on(["TinySTS"]) is True
    loaded = load_model(resolve_model(str(result.folder), name="medbench/tiny-ft"), device="cpu").mteb_model_meta
    assert loaded.adapted_from == base_name and loaded.training_datasets == {"TinyRetrieval"}

    # the README front matter: the tasks as datasets; no base_model for a local base (the hub accepts only model ids)
    card = ModelCard.load(result.folder / "README.md")
    assert card.data.datasets == ["TinyRetrieval"] and card.data.base_model is None
    assert card.data.library_name == "sentence-transformers" and "medbench" in card.data.tags
    # a hub (or offline-package) base is named, which is what mteb's ModelMeta.from_hub reads as adapted_from
    hub_card = ModelCard(model_card({**info, "adapted_from": "sentence-transformers/all-MiniLM-L6-v2", "base_source": "package"}))
    assert hub_card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and hub_card.data.datasets == ["TinyRetrieval"]


def test_lineage_passes_on_a_medbench_base(tmp_path: Path) -> None:
    from medbench.models.lineage import lineage, model_meta_updates

    base = tmp_path / "base"
    base.mkdir()
    (base / "medbench.json").write_text(json.dumps({"adapted_from": "org/x", "training_datasets": ["MedbenchSTSDE"]}))
    assert lineage("local/base", base, ["MedbenchRetrievalDE"]) == {
        "adapted_from": "local/base", "training_datasets": ["MedbenchRetrievalDE", "MedbenchSTSDE"]}
    assert model_meta_updates(base) == {"adapted_from": "org/x", "training_datasets": {"MedbenchSTSDE"}}
    (base / "medbench.json").write_text(json.dumps({"base_model_name": "org/y"}))  # before training_datasets was recorded
    assert model_meta_updates(base) == {"adapted_from": "org/y"}
    assert model_meta_updates(tmp_path) == {}  # not a medbench model


@pytest.mark.parametrize(("loss", "drop_last", "steps"), [
    ("loss: {name: cached_mnrl, mini_batch_size: 2}", None, 2),  # 8 pairs, batch 3: 3 + 3, the last 2 dropped
    ("loss: {name: cached_mnrl, mini_batch_size: 2}", False, 3),
    ("loss: mnrl", None, 3),  # 3 + 3 + 2
])
def test_cached_losses_drop_the_last_incomplete_batch(workdir: Path, loss: str, drop_last: bool | None, steps: int) -> None:
    from medbench.train import train

    training = ", batch_size: 3"
    if drop_last is not None:
        training += f", drop_last: {str(drop_last).lower()}"
    path = recipe_file(workdir, loss, training=training)
    path.write_text(path.read_text().replace("max_steps: 2, batch_size: 4, ", "epochs: 1, "), encoding="utf-8")
    result = train(load_recipe(path), tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    (phase,) = result.info["metrics"]["phases"]
    assert phase["steps"] == steps


def test_no_full_batch_is_an_error_before_the_model_loads(workdir: Path) -> None:
    from medbench.errors import MedbenchError
    from medbench.train import train

    path = recipe_file(workdir, "loss: {name: cached_mnrl, mini_batch_size: 2}", training=", batch_size: 16")
    path.write_text(path.read_text().replace("batch_size: 4, ", ""), encoding="utf-8")
    with pytest.raises(MedbenchError, match=r"phases.0 \(phase1\): loss cached_mnrl drops each epoch's last incomplete batch") as info:
        train(load_recipe(path), tiny_tasks(workdir), models_dir=workdir / "models", device="cpu", show_progress=False)
    assert "batch_size is 16, but pairs has 8 training rows: no full batch" in str(info.value)
    assert "set training.drop_last: false" in str(info.value)
    assert not (workdir / "models").exists()


def test_no_duplicates_needs_distinct_texts_for_a_full_batch(tmp_path: Path) -> None:
    from medbench.errors import MedbenchError
    from medbench.train.data import TrainingSet
    from medbench.train.steps import check_full_batches

    path = tmp_path / "r.yaml"
    (tmp_path / "p.jsonl").write_text('{"anchor": "a", "positive": "b"}\n', encoding="utf-8")
    path.write_text("name: x\nbase_model: minilm\ntraining: {batch_size: 4}\nphases:\n"
                    "  - loss: cached_mnrl\n    data: [{file: p.jsonl}]\n", encoding="utf-8")
    (phase,) = load_recipe(path).phases
    rows = [{"anchor": f"q{i}", "positive": f"p{i % 3}"} for i in range(12)]  # 12 rows, 3 distinct passages
    ts = TrainingSet("shared", "shared.jsonl", "pairs", rows, list(range(1, 13)))
    with pytest.raises(MedbenchError, match="12 training rows but only 3 distinct anchors or positives") as info:
        check_full_batches(phase, [ts])
    assert "set training.batch_sampler: batch_sampler" in str(info.value)
    phase.training.batch_sampler = "batch_sampler"  # the plain sampler fills batches with repeats
    check_full_batches(phase, [ts])


def test_too_old_releases_are_named_with_the_fix() -> None:
    from medbench.errors import MedbenchError
    from medbench.train.steps import check_versions

    check_versions()  # what is installed here is new enough
    check_versions({"sentence-transformers": "5.7.0", "transformers": "5.0.0"})
    with pytest.raises(MedbenchError) as info:
        check_versions({"sentence-transformers": "5.6.1", "transformers": "4.57.6"})
    message = str(info.value)
    assert "sentence-transformers 5.6.1 is installed, 5.7.0 or newer is needed (the cached losses" in message
    assert "transformers 4.57.6 is installed, 5.0.0 or newer is needed (warmup_steps=0.1 means 0.1 steps" in message
    assert message.endswith("pip install 'sentence-transformers>=5.7.0' 'transformers>=5.0.0'")
    with pytest.raises(MedbenchError, match="5.7.0rc1 is installed"):
        check_versions({"sentence-transformers": "5.7.0rc1", "transformers": "5.1.0"})

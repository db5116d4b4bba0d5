"""Recipe files: strict schema with file and line, close-match suggestions, --set overrides, lookup by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from medbench.errors import MedbenchError, TaskFormatError
from medbench.train.recipe import available_recipes, find_recipe, load_recipe

GOOD = """\
name: tiny-finetune
base_model: minilm
training:
  learning_rate: 2e-5
  batch_size: 4
  epochs: 1
phases:
  - name: sts
    loss: cosine
    data:
      - task: TinySTS
  - loss: {name: cached_mnrl, mini_batch_size: 2}
    matryoshka: {dims: [32, 16]}
    data:
      - {file: pairs.jsonl, max_samples: 3}
    training:
      learning_rate: 1e-4
"""


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    (tmp_path / "pairs.jsonl").write_text('{"anchor": "a", "positive": "b"}\n', encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, overrides: tuple[str, ...] = (), known=("TinySTS", "TinyRetrieval")) -> list[str]:
    with pytest.raises(TaskFormatError) as info:
        load_recipe(path, overrides, known_tasks=known)
    return [str(p) for p in info.value.problems]


def test_good_recipe_merges_settings(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, GOOD), known_tasks=["TinySTS"])
    first, second = recipe.phases
    assert recipe.name == "tiny-finetune" and recipe.base_model == "minilm"
    assert first.training.learning_rate == 2e-5  # YAML reads 2e-5 as text; the schema reads it as a number
    assert second.training.learning_rate == 1e-4 and second.training.batch_size == 4
    assert second.loss.name == "cached_mnrl" and second.loss.params == {"mini_batch_size": 2}
    assert second.matryoshka == {"dims": [32, 16], "weights": [1, 1]}
    assert second.data[0].file == tmp_path / "pairs.jsonl" and second.data[0].max_samples == 3
    assert len(recipe.sha256) == 64


def test_unknown_nested_key_has_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("      learning_rate: 1e-4", "      learnin_rate: 1e-4"))
    (found,) = problems(path)
    assert found == f"{path}:17: phases.1.training.learnin_rate: unknown key; did you mean 'learning_rate'?"


def test_bad_loss_name_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("loss: cosine", "loss: cosin"))
    (found,) = problems(path)
    assert found.startswith(f"{path}:9: phases.0.loss: expected a loss")
    assert "did you mean 'cosine'?" in found


def test_missing_data_file_and_several_errors_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("pairs.jsonl", "nowhere.jsonl").replace("task: TinySTS", "task: TinySTSS").replace(
        "mini_batch_size: 2", "mini_batch_size: 0").replace("name: tiny-finetune", "name: tiny-finetune\nbase_modell: x")
    found = problems(write(tmp_path, text))
    assert len(found) == 4, found
    joined = "\n".join(found)
    assert ":2: base_modell: unknown key; did you mean 'base_model'?" in joined
    assert ":12: phases.0.data.0.task: unknown task 'TinySTSS'. Did you mean: TinySTS?" in joined
    assert ":13: phases.1.loss.mini_batch_size: expected a whole number >= 1" in joined
    assert f":16: phases.1.data.0.file: data file not found: {tmp_path / 'nowhere.jsonl'}" in joined


def test_loss_parameters_are_checked_per_loss(tmp_path: Path) -> None:
    text = GOOD.replace("loss: cosine", "loss: {name: cosine, margin: 1}").replace(
        "{name: cached_mnrl, mini_batch_size: 2}", "gist")
    found = "\n".join(problems(write(tmp_path, text)))
    assert "phases.0.loss.margin: unknown parameter of loss 'cosine'; cosine takes no parameters" in found
    assert "phases.1.loss.guide_model: missing required key (expected the guide model that filters false in-batch negatives" in found


def test_duplicate_keys_and_bad_values(tmp_path: Path) -> None:
    text = GOOD.replace("  batch_size: 4\n", "  batch_size: 4\n  batch_size: 8\n  precision: fp8\n")
    found = "\n".join(problems(write(tmp_path, text)))
    assert ":6: training.batch_size: key appears more than once" in found
    assert ":7: training.precision: expected a precision: one of fp32, fp16, bf16, got 'fp8'" in found


def test_set_overrides_dotted_keys_and_revalidates(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    recipe = load_recipe(path, ["training.max_steps=2", "phases.1.training.learning_rate=3e-4",
                                "phases.0.data.0.max_samples=5"], known_tasks=["TinySTS"])
    assert [p.training.max_steps for p in recipe.phases] == [2, 2]
    assert recipe.phases[1].training.learning_rate == 3e-4 and recipe.phases[0].training.learning_rate == 2e-5
    assert recipe.phases[0].data[0].max_samples == 5
    assert recipe.raw["training"]["max_steps"] == 2
    assert recipe.sha256 != load_recipe(path, known_tasks=["TinySTS"]).sha256
    found = "\n".join(problems(path, ("training.batch_size=zero", "phases.5.loss=mnrl", "training.lr=1", "oops")))
    assert "training.batch_size: expected a whole number >= 1 (the contrastive batch for mnrl losses), got 'zero' (value from --set)" in found
    assert "--set 'phases.5.loss=mnrl': phases has 2 item(s); '5' is not one of 0..1" in found
    assert "training.lr: unknown key; known keys" in found
    assert "--set 'oops': expected key=value" in found


def test_mining_does_not_fit_cosine(tmp_path: Path) -> None:
    text = GOOD.replace("    loss: cosine\n", "    loss: cosine\n    mine_hard_negatives: {num_negatives: 2, range_max: 1}\n")
    found = "\n".join(problems(write(tmp_path, text)))
    assert "phases.0.mine_hard_negatives.range_max: range_max must leave num_negatives candidates after range_min" in found
    assert "phases.0.mine_hard_negatives: mined negatives make (anchor, positive, negative) triplets" in found


def test_find_recipe_by_name_with_suggestions() -> None:
    assert find_recipe("cpu-quick") == REPO / "trainers" / "cpu-quick.yaml"
    with pytest.raises(MedbenchError, match="Did you mean: cpu-quick"):
        find_recipe("cpu-quik")


def test_builtin_recipes_are_valid() -> None:
    from medbench.tasks import discover

    known = [t.spec.name for t in discover()]
    recipes = available_recipes()
    assert {"cpu-quick", "miracle-german", "mpnet-medical"} <= set(recipes)
    for name, path in recipes.items():
        if name == "synth-quick" and not (REPO / ".synth" / "de" / "train.jsonl").is_file():
            # its pairs are generated first (medbench synth); until then, the only problems are the missing files
            with pytest.raises(TaskFormatError) as missing:
                load_recipe(path, known_tasks=known)
            assert [p.message.split(":")[0] for p in missing.value.problems] == ["data file not found"] * 2
            continue
        recipe = load_recipe(path, known_tasks=known)
        assert recipe.phases, path
    german = load_recipe(recipes["miracle-german"], known_tasks=known)
    assert german.base_model == "intfloat/multilingual-e5-large"
    assert german.prompts == {"query": "query: ", "document": "passage: "}
    phase = german.phases[0]
    assert (phase.loss.name, phase.loss.params["mini_batch_size"]) == ("cached_mnrl", 32)
    assert (phase.training.batch_size, phase.training.learning_rate, phase.training.precision) == (1024, 2e-5, "bf16")
    assert [p.loss.name for p in load_recipe(recipes["mpnet-medical"], known_tasks=known).phases] == ["cosine", "mnrl", "triplet"]


def test_drop_last_is_a_boolean_per_phase(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, GOOD.replace("      learning_rate: 1e-4\n", "      learning_rate: 1e-4\n      drop_last: false\n")),
                         known_tasks=["TinySTS"])
    assert recipe.phases[0].training.drop_last is None and recipe.phases[1].training.drop_last is False
    found = "\n".join(problems(write(tmp_path, GOOD.replace("  epochs: 1\n", "  epochs: 1\n  drop_last: 3\n"))))
    assert "training.drop_last: expected true or false: drop each epoch's last incomplete batch" in found


def test_contrastive_losses_gather_only_where_there_are_several_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from medbench.train.losses import LOSSES

    class Recorder:  # stands in for sentence_transformers.losses
        def MultipleNegativesRankingLoss(self, model, **kwargs):  # noqa: N802, ANN001, ANN201
            return kwargs

        CachedMultipleNegativesRankingLoss = MultipleNegativesRankingLoss

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for name in ("mnrl", "cached_mnrl"):
        spec = LOSSES[name](name=name)
        assert spec.gather_across_devices and spec.build(Recorder(), None, str)["gather_across_devices"] is False
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert spec.build(Recorder(), None, str)["gather_across_devices"] is True
        assert LOSSES[name](name=name, gather_across_devices=False).build(Recorder(), None, str)["gather_across_devices"] is False
        monkeypatch.setenv("WORLD_SIZE", "1")
        assert spec.build(Recorder(), None, str)["gather_across_devices"] is False

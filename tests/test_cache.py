"""The embedding cache: hits are the stored bits, prompts never share entries, concurrent writers are safe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_retrieval
from medbench.cli import cli
from medbench.models import resolve_model
from medbench.models.cache import EmbeddingCache, clear, info, text_key
from medbench.models.load import load_model

TEXTS = ["Kein Hinweis auf Metastasen.", "Hinweis auf Metastasen.", "V.a. Lungenarterienembolie."]


def _st(tiny_model_dir: Path, cache: bool = True):
    return load_model(resolve_model(str(tiny_model_dir), name="test/tiny"), device="cpu", cache=cache).model


def _count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from sentence_transformers import SentenceTransformer

    seen: list[str] = []
    original = SentenceTransformer.encode

    def spy(self, *args, **kwargs):
        sentences = kwargs.get("inputs", kwargs.get("sentences", args[0] if args else None))
        seen.extend(sentences if isinstance(sentences, list) else [sentences])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", spy)
    return seen


def test_a_hit_is_bit_identical_to_the_fresh_encode(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _st(tiny_model_dir, cache=False).encode(TEXTS)
    stored = _st(tiny_model_dir).encode(TEXTS)  # computed and written to the cache
    seen = _count_encodes(monkeypatch)
    hit = _st(tiny_model_dir).encode(TEXTS)  # a new process would see the same: read back from disk
    assert seen == []
    assert hit.dtype == fresh.dtype and hit.tobytes() == stored.tobytes() == fresh.tobytes()


def test_two_prompts_never_share_an_entry(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = _st(tiny_model_dir)
    query = st.encode(TEXTS, prompt="q: ")
    passage = st.encode(TEXTS, prompt="p p p p: ")
    plain = st.encode(TEXTS)
    assert not np.allclose(query, passage) and not np.allclose(query, plain)
    seen = _count_encodes(monkeypatch)
    again = _st(tiny_model_dir)
    assert again.encode(TEXTS, prompt="p p p p: ").tobytes() == passage.tobytes()
    assert again.encode(TEXTS, prompt="q: ").tobytes() == query.tobytes()
    assert seen == []
    again.max_seq_length = 8  # another max length is another entry: encoded afresh
    again.encode(TEXTS[:1], prompt="q: ")
    assert seen == TEXTS[:1]


def test_no_cache_neither_reads_nor_writes(tiny_model_dir: Path, embedding_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _st(tiny_model_dir, cache=False).encode(TEXTS)
    assert info() == []
    _st(tiny_model_dir).encode(TEXTS)
    seen = _count_encodes(monkeypatch)
    _st(tiny_model_dir, cache=False).encode(TEXTS)
    assert seen == TEXTS
    [entry] = info()
    assert entry.model == "test/tiny" and entry.vectors == 3 and entry.shards == 1


WRITER = """
import sys, numpy as np
from pathlib import Path
from medbench.models.cache import EmbeddingCache, text_key
cache = EmbeddingCache("m/x", "r1", Path(sys.argv[1]))
start = int(sys.argv[2])
for batch in range(40):
    ids = list(range(start + batch * 5, start + batch * 5 + 10))  # overlaps the other writer's keys
    cache.put([text_key("s", str(i)) for i in ids], np.array([[i, i * 2.0, -i] for i in ids], dtype=np.float32))
"""


def test_two_writers_at_once_corrupt_nothing(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(s)]) for s in (0, 100)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    (tmp_path / "m__x" / "r1" / ".tmp-shard-killed").mkdir()  # what a killed writer leaves: never read
    cache = EmbeddingCache("m/x", "r1", tmp_path)
    ids = sorted(set(range(0, 205)) | set(range(100, 305)))
    got = cache.get([text_key("s", str(i)) for i in ids])
    assert len(got) == len(ids)
    for i in ids:
        assert got[text_key("s", str(i))].tolist() == [i, i * 2.0, -i]
    assert info(tmp_path)[0].shards == 80


def test_rerun_after_a_qrel_edit_encodes_nothing(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tasks"
    folder = write_retrieval(root / "a")
    args = ["run", "--model", str(tiny_model_dir), "--name", "test/tiny", "--tasks-dir", str(root),
            "--output-dir", str(tmp_path / "out"), "-q", "--format", "json"]
    first = json.loads(CliRunner().invoke(cli, args).stdout)
    qrels = next(folder.rglob("*.tsv"))
    text = qrels.read_text(encoding="utf-8")
    qrels.write_text(text.replace("q1\td3\t1", "q1\td3\t2"), encoding="utf-8")  # one qrel line changed: new task data
    seen = _count_encodes(monkeypatch)
    second = json.loads(CliRunner().invoke(cli, args).stdout)
    assert second["ran"] == first["ran"] == ["TinyRetrieval"]
    assert seen == []
    third = json.loads(CliRunner().invoke(cli, [*args, "--overwrite", "--no-cache"]).stdout)
    assert len(seen) == 7 and third["rows"] == second["rows"]


def test_cache_commands(tiny_model_dir: Path, embedding_cache: Path) -> None:
    _st(tiny_model_dir).encode(TEXTS)
    out = CliRunner().invoke(cli, ["cache", "info"])
    assert out.exit_code == 0 and str(embedding_cache) in out.stdout and "test/tiny" in out.stdout
    out = CliRunner().invoke(cli, ["cache", "clear", "--yes"])
    assert out.exit_code == 0 and "removed 1" in out.stdout
    assert info() == [] and clear() == 0
    assert EmbeddingCache("test/tiny", "x").get([text_key("s", "a")]) == {}


def test_devices_cpu_cpu_gives_the_scores_of_one_device(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """--devices encodes with one process per device (sentence-transformers' pool); same scores as one device."""
    args = ["run", "--model", str(tiny_model_dir), "--name", "test/tiny", "--tasks-dir", str(tasks_root), "-q",
            "--format", "json", "--no-cache"]
    one = CliRunner().invoke(cli, [*args, "--output-dir", str(tmp_path / "one"), "--device", "cpu"])
    two = CliRunner().invoke(cli, [*args, "--output-dir", str(tmp_path / "two"), "--devices", "cpu,cpu"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    rows_one = {(r["task"], r["language"]): r["scores"] for r in json.loads(one.stdout)["rows"]}
    rows_two = {(r["task"], r["language"]): r["scores"] for r in json.loads(two.stdout)["rows"]}
    assert rows_one == rows_two and len(rows_one) == 2
    assert "Starting 2 encoding processes (cpu, cpu)" in two.stderr


def test_devices_mistakes_are_clear(tasks_root: Path, tiny_model_dir: Path) -> None:
    base = ["run", "--model", str(tiny_model_dir), "--tasks-dir", str(tasks_root)]
    out = CliRunner().invoke(cli, [*base, "--devices", "cpu"])
    assert out.exit_code == 1 and "two or more devices" in out.output
    out = CliRunner().invoke(cli, [*base, "--devices", "cpu,cpu", "--device", "cpu"])
    assert out.exit_code == 1 and "not both" in out.output
    out = CliRunner().invoke(cli, [*base, "--devices", "cpu,cuda:7"])
    assert out.exit_code == 1 and "cuda" in out.output and "Traceback" not in out.output


def test_search_settings_chunk_size_top_k_and_hnsw(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Chunk size never changes a score; hnsw and top-k results are stored apart (revision suffix)."""
    base = ["run", "--model", str(tiny_model_dir), "--name", "test/tiny", "--tasks-dir", str(tasks_root), "-q",
            "--format", "json", "--tasks", "TinyRetrieval", "--output-dir", str(tmp_path)]
    runs = {}
    for label, extra in (("exact", []), ("chunk", ["--corpus-chunk-size", "1", "--overwrite"]),
                         ("hnsw", ["--index", "hnsw"]), ("k", ["--top-k", "10"])):
        out = CliRunner().invoke(cli, [*base, *extra])
        assert out.exit_code == 0, out.output
        runs[label] = json.loads(out.stdout)
    scores = {k: v["rows"][0]["scores"] for k, v in runs.items()}
    assert scores["chunk"] == scores["exact"]
    assert scores["hnsw"] == scores["exact"]  # 4 passages: the HNSW graph finds them all
    assert runs["hnsw"]["model"]["revision"] == runs["exact"]["model"]["revision"] + "+hnsw"
    assert runs["k"]["model"]["revision"] == runs["exact"]["model"]["revision"] + "+k10"
    revisions = sorted(p.name for p in (tmp_path / "results" / "test__tiny").iterdir())
    assert len(revisions) == 3


def test_the_in_process_memo_is_bounded(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medbench.models import load

    monkeypatch.setattr(load, "MEMO_LIMIT", 2)
    seen = _count_encodes(monkeypatch)
    st = _st(tiny_model_dir, cache=False)
    first = st.encode(TEXTS)
    again = st.encode(TEXTS)  # two texts memoized, the third encoded again
    assert seen == TEXTS + TEXTS[2:] and again.tobytes() == first.tobytes()


def test_hnsw_index_full_search_and_candidates() -> None:
    from mteb.models.model_meta import ScoringFunction

    from medbench.search import HnswIndex

    class Model:
        class mteb_model_meta:
            similarity_fn_name = ScoringFunction.COSINE

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((300, 16)).astype(np.float32)
    queries = docs[:20] + 0.01 * rng.standard_normal((20, 16)).astype(np.float32)
    index = HnswIndex(Model())
    index.add_documents(docs[:150], [f"d{i}" for i in range(150)])
    index.add_documents(docs[150:], [f"d{i}" for i in range(150, 300)])
    scores, ids = index.search(queries, 5, similarity_fn=None)
    assert [row[0] for row in ids] == list(range(20))  # each query's near-copy first
    assert all(s[0] > 0.99 for s in scores)
    # with candidates (a patient's record): exact cosine among them, best first
    cand = {f"q{i}": [f"d{j}" for j in (i + 1, i, i + 200)] for i in range(20)}
    scores, ids = index.search(queries, 2, similarity_fn=None, top_ranked=cand, query_idx_to_id={i: f"q{i}" for i in range(20)})
    assert [row[0] for row in ids] == list(range(20)) and all(len(row) == 2 for row in ids)
    d, q = docs / np.linalg.norm(docs, axis=1, keepdims=True), queries / np.linalg.norm(queries, axis=1, keepdims=True)
    assert scores[3][0] == pytest.approx(float(d[3] @ q[3]), abs=1e-5)


def test_one_progress_bar_per_task(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Encoding shows one bar per task with its total (rate and ETA), not one per encode call.
    (A fresh process: another test's `-q` switches bars off for the whole process, as it should.)"""
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    proc = subprocess.run([sys.executable, "-c", "from medbench.cli import main; main()", "run", "--model", str(tiny_model_dir),
                           "--tasks-dir", str(tasks_root), "--output-dir", str(tmp_path), "--no-cache"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bars = {line.split(":")[0].strip() for line in proc.stderr.replace("\r", "\n").splitlines() if ": encoding" in line}
    assert bars == {"TinyRetrieval", "TinySTS"}
    assert "7/7" in proc.stderr and "12/12" in proc.stderr  # 3 queries + 4 passages; 6 pairs x 2 sentences
    assert "Batches" not in proc.stderr  # sentence-transformers' own per-call bars are off

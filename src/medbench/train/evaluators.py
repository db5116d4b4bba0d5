"""What training watches: sentence-transformers evaluators on a phase's dev split or on an evaluation task.

A recipe's ``eval: 0.1`` holds out a dev split (:func:`dev_evaluators`); ``eval: <task>`` scores an
evaluation task's first split (:func:`task_evaluators`). Their scores go into the phase's metrics in
``medbench.json``; the reported scores come from :mod:`medbench.evaluate`. sentence-transformers is
imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medbench.tasks.data import TaskData
from medbench.train.data import TrainingSet


def _evaluator(name: str, batch_size: int, *, pairs: Sequence[tuple[str, str, float]] = (), queries: dict[str, str] | None = None,
               corpus: dict[str, str] | None = None, relevant: dict[str, set[str]] | None = None,
               prompts: dict[str, str] | None = None) -> Any:
    """A similarity evaluator for scored ``pairs`` (0..1), else an IR evaluator for ``queries`` against ``corpus``."""
    from sentence_transformers.sentence_transformer import evaluation

    if queries is None:
        return evaluation.EmbeddingSimilarityEvaluator([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs],
                                                       name=name, batch_size=batch_size, write_csv=False)
    prompts = prompts or {}
    return evaluation.InformationRetrievalEvaluator(
        queries, corpus or {}, relevant or {}, name=name, batch_size=batch_size, write_csv=False,
        query_prompt=prompts.get("query") or None, corpus_prompt=prompts.get("document") or None,
        accuracy_at_k=[1, 5], precision_recall_at_k=[5], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10])


def dev_evaluators(dev: Sequence[TrainingSet], pool: Sequence[TrainingSet], prompts: dict[str, str],
                   batch_size: int) -> list[Any]:
    """IR evaluators for dev pairs (ranked among all passages of their set), similarity ones for scored pairs."""
    out = []
    by_name = {ts.name: ts for ts in pool}
    for ts in dev:
        if ts.layout == "scored":
            out.append(_evaluator(f"{ts.name}-dev", batch_size, pairs=[(r["sentence1"], r["sentence2"], r["score"]) for r in ts.rows]))
            continue
        passages = list(dict.fromkeys(
            [r[c] for s in (by_name.get(ts.name), ts) if s for r in s.rows for c in ("positive", "negative") if c in r]))
        cid = {text: f"d{i}" for i, text in enumerate(passages)}
        qid: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        for r in ts.rows:
            q = qid.setdefault(r["anchor"], f"q{len(qid)}")
            relevant.setdefault(q, set()).add(cid[r["positive"]])
        out.append(_evaluator(f"{ts.name}-dev", batch_size, queries={q: text for text, q in qid.items()},
                              corpus={c: t for t, c in cid.items()}, relevant=relevant, prompts=prompts))
    return out


def task_evaluators(task: TaskData, prompts: dict[str, str], batch_size: int) -> list[Any]:
    """Evaluators on an evaluation task's first split (binary relevance: for watching training, not for reporting)."""
    split = task.spec.splits[0]
    low, high = task.spec.score_range
    out = []
    for lang, ld in task.languages.items():
        name = task.spec.name if len(task.languages) == 1 else f"{task.spec.name}-{lang}"
        if task.spec.type == "sts":
            out.append(_evaluator(name, batch_size, pairs=[(a, b, (s - low) / (high - low)) for a, b, s in ld.pairs.get(split, [])]))
        else:
            relevant = {q: {d for d, s in docs.items() if s > 0} for q, docs in ld.qrels.get(split, {}).items()}
            out.append(_evaluator(name, batch_size, queries={q: ld.queries[q] for q in relevant}, relevant=relevant, prompts=prompts,
                                  corpus={d: f"{t} {x}".strip() for d, (t, x) in ld.corpus.items()}))
    return out

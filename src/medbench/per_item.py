"""Per-query and per-pair scores, stored beside each result for confidence intervals and paired tests.

mteb's result file holds means. Bootstrap intervals over queries (retrieval) or pairs (STS) need
one score per item, so after each task medbench turns mteb's predictions into
``results/<model>/<revision>/per_item/<Task>.jsonl``: ids and numbers only, never task text.

Retrieval lines: ``{"split", "subset", "id": query id, "ndcg_at_10", "recall_at_5"}``
(pytrec_eval, as mteb computes them; their means are mteb's scores).
STS lines: ``{"split", "subset", "id": pair index, "gold", "cosine"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medbench.jsonl import read_rows
from medbench.tasks.data import TaskData

FOLDER = "per_item"


def per_item_path(revision_dir: Path, task: str) -> Path:
    return revision_dir / FOLDER / f"{task}.jsonl"


def from_predictions(data: TaskData, predictions: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-item rows from an mteb predictions file (``{subset: {split: predictions}}``)."""
    rows: list[dict[str, Any]] = []
    lang_of = data.subset_languages
    for subset, per_split in predictions.items():
        if subset not in lang_of:
            continue  # "mteb_model_meta"
        lang = data.languages[lang_of[subset]]
        for split, pred in per_split.items():
            if data.spec.type == "retrieval":
                import pytrec_eval

                qrels = lang.qrels[split]
                run = {q: {d: float(s) for d, s in docs.items()} for q, docs in pred.items() if q in qrels}
                evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.5"})
                measured = evaluator.evaluate(run)
                for qid in sorted(qrels):
                    m = measured.get(qid, {})
                    rows.append({"split": split, "subset": subset, "id": qid,
                                 "ndcg_at_10": m.get("ndcg_cut_10", 0.0), "recall_at_5": m.get("recall_5", 0.0)})
            else:
                gold = [score for *_, score in lang.pairs[split]]
                for i, (g, c) in enumerate(zip(gold, pred["cosine_scores"], strict=True)):
                    rows.append({"split": split, "subset": subset, "id": i, "gold": g, "cosine": float(c)})
    return rows


def write(revision_dir: Path, data: TaskData, prediction_file: Path) -> Path | None:
    """Convert mteb's predictions of one task into the per-item file; keeps other subsets already stored."""
    if not prediction_file.is_file():
        return None
    rows = from_predictions(data, json.loads(prediction_file.read_text(encoding="utf-8")))
    path = per_item_path(revision_dir, data.spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["split"], r["subset"]) for r in rows}
    kept = [r for r in read(path) if (r["split"], r["subset"]) not in done] if path.exists() else []
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept + rows), encoding="utf-8")
    tmp.replace(path)
    return path


def read(path: Path) -> list[dict[str, Any]]:
    """The rows of a per-item file (a damaged line is an error naming file and line)."""
    return read_rows(path)

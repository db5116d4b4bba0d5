"""Reading MTEB-format result files and turning them into rows (no ML imports)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_LOG = "medbench_runs.jsonl"  # medbench's run log beside mteb's files (not *.json: mteb reads those as results)
FINETUNE_CARD = "medbench.json"  # what the trainer writes into a model folder: recipe, data hashes, lineage

#: The one metric registry: the mteb score keys medbench reports per task type, main score first.
METRICS = {"Retrieval": ("ndcg_at_10", "recall_at_5"), "STS": ("cosine_spearman",)}
#: Column titles of those scores.
TITLES = {"ndcg_at_10": "nDCG@10", "recall_at_5": "Recall@5", "cosine_spearman": "Spearman"}
#: (title, mteb key) per task type, and the columns of a results table in order.
REPORTED = {ttype: [(TITLES[key], key) for key in keys] for ttype, keys in METRICS.items()}
COLUMNS = [TITLES[key] for keys in METRICS.values() for key in keys]


def model_dir(results_dir: Path, name: str, revision: str) -> Path:
    """Where mteb stores a model's results: ``results/<org__model>/<revision>/``."""
    return Path(results_dir) / name.replace("/", "__").replace(" ", "_") / revision


def result_path(results_dir: Path, name: str, revision: str, task: str) -> Path:
    return model_dir(results_dir, name, revision) / f"{task}.json"


def read_result(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_complete(result: dict[str, Any] | None, revision: str, splits: list[str], subsets: list[str]) -> bool:
    """True when a stored result covers these splits and subsets of this exact task data."""
    if not result or result.get("dataset_revision") != revision:
        return False
    scores = result.get("scores", {})
    for split in splits:
        have = {entry.get("hf_subset") for entry in scores.get(split, [])}
        if not set(subsets) <= have:
            return False
    return True


@dataclass
class Row:
    """One line of a results table: a task, split and language of one model."""

    task: str
    task_type: str
    language: str
    split: str
    scores: dict[str, float]
    cached: bool = False


def rows_from_result(result: dict[str, Any], task_type: str, subset_language: dict[str, str] | None = None,
                     cached: bool = False) -> list[Row]:
    """Rows for each split and language of one stored task result."""
    out = []
    for split, entries in sorted(result.get("scores", {}).items()):
        for entry in entries:
            subset = entry.get("hf_subset", "default")
            langs = entry.get("languages") or []
            language = (subset_language or {}).get(subset) or (subset if subset != "default" else ",".join(
                sorted({lang.split("-")[0] for lang in langs})))
            scores = {title: float(entry[key]) for title, key in REPORTED.get(task_type, []) if key in entry}
            out.append(Row(result["task_name"], task_type, language, split, scores, cached))
    return out


def format_table(rows: list[Row], fmt: str = "github") -> str:
    from tabulate import tabulate

    table = [
        [r.task, r.language, r.split, *(f"{r.scores[c]:.4f}" if c in r.scores else "" for c in COLUMNS),
         "stored" if r.cached else "computed"]
        for r in sorted(rows, key=lambda r: (r.task, r.language, r.split))
    ]
    # "Result": stored = reused from results/ (same model revision and task data), computed = by this run
    return tabulate(table, headers=["Task", "Lang", "Split", *COLUMNS, "Result"], tablefmt=fmt, disable_numparse=True)

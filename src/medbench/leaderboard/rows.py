"""Board rows (pure): cells, means, order, and each fine-tuned model beside its base."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from medbench.leaderboard.model import Board, BoardRow, Cell, Column, Comparison, METRICS, ModelResults, Origin, Pair, RESAMPLES, TaskInfo, _CODE_OF
from medbench.leaderboard.stats import _item_data, _rng, bootstrap_ci, paired_test, statistic


def _language(entry: dict[str, Any], info: TaskInfo | None) -> str:
    subset = entry.get("hf_subset", "default")
    if info and subset in info.subset_language:
        return info.subset_language[subset]
    if subset != "default":
        return subset
    langs = sorted({_CODE_OF.get(lang, lang.split("-")[0]) for lang in entry.get("languages") or []})
    return "-".join(langs) or "unknown"


def _task_type(result: dict[str, Any], info: TaskInfo | None) -> str | None:
    if info:
        return info.task_type
    entries = [e for es in result.get("scores", {}).values() for e in es]
    if any("ndcg_at_10" in e for e in entries):
        return "Retrieval"
    if any("cosine_spearman" in e for e in entries):
        return "STS"
    return None


def model_cells(model: ModelResults, tasks: dict[str, TaskInfo], resamples: int = RESAMPLES,
                notes: list[str] | None = None) -> dict[Column, Cell]:
    """The cells of one model: stored scores, with bootstrap intervals where per-item scores exist."""
    notes = notes if notes is not None else []
    notes += [f"{model.name} @ {model.revision}: {task} not shown: {why}" for task, why in sorted(model.incomplete.items())]
    cells: dict[Column, Cell] = {}
    for task, result in sorted(model.results.items()):
        info = tasks.get(task)
        ttype = _task_type(result, info)
        if ttype is None:
            notes.append(f"{model.name} @ {model.revision}: {task} is neither retrieval nor STS; not on the board")
            continue
        revision = str(result.get("dataset_revision", ""))
        for split, entries in sorted(result["scores"].items()):
            for entry in entries:
                lang = _language(entry, info)
                subset = str(entry.get("hf_subset", "default"))
                rows = model.items.get((task, split, subset))
                for metric in METRICS[ttype]:
                    if not isinstance(entry.get(metric), (int, float)) or math.isnan(entry[metric]):
                        continue
                    col = Column(task, ttype, lang, split, metric)
                    cell = Cell(float(entry[metric]), subset=subset, dataset_revision=revision,
                                stale=bool(info and info.revision != revision))
                    data = _item_data(metric, rows) if rows else None
                    if data is not None:
                        arr = data[1]
                        point = float(statistic(metric, arr)[0])
                        if abs(point - cell.value) <= 1e-4:
                            cell.n = arr.shape[-1]
                            cell.ci = bootstrap_ci(metric, arr, _rng(task, split, subset, metric), resamples) if resamples > 0 else None
                        else:
                            notes.append(f"{model.name} @ {model.revision}: per-item scores of {col.key} give "
                                         f"{point:.4f}, the result file {cell.value:.4f}; no interval")
                    cells[col] = cell
    return cells


def mean_columns(models: Sequence[set[Column] | frozenset[Column]]) -> list[Column]:
    """The main scores the means are over: a set of tasks that every ranked model has.

    ``models`` holds the main-score columns of each model. The ranked models are those with every
    chosen column, and the columns are chosen to rank the most scores (ranked models × columns); on
    a tie, more columns. So a task only some models have (a user's own) is left out of the mean
    rather than unranking every model without it, and a model without a task that the others share
    is left unranked rather than cutting that task from everyone's mean. Candidates: each model's own
    columns, and for every k the columns that at least k models have, each narrowed to the columns
    all models with them share.
    """
    sets = [frozenset(m) for m in models]
    if not sets:
        return []
    candidates = set(sets)
    for k in range(1, len(sets) + 1):
        common = frozenset(c for c in frozenset().union(*sets) if sum(c in s for s in sets) >= k)
        holders = [s for s in sets if common <= s]
        if holders:
            candidates.add(frozenset.intersection(*holders))
    candidates.discard(frozenset())
    if not candidates:
        return []

    def score(cols: frozenset[Column]) -> tuple:
        ranked = sum(cols <= s for s in sets)
        return (ranked * len(cols), len(cols), sorted((c.sort_key() for c in cols), reverse=True))

    return sorted(max(candidates, key=score), key=Column.sort_key)


def means(cells: dict[Column, Cell], columns: Sequence[Column], languages: Sequence[str]) -> tuple[dict[str, float | None], float | None]:
    """Mean main score per language and overall over ``columns`` (the main scores the means cover,
    see :func:`mean_columns`); None where the model lacks one of them, or none is of that language."""

    def mean_of(cols: list[Column]) -> float | None:
        if not cols or any(c not in cells for c in cols):
            return None
        return float(sum(cells[c].value for c in cols) / len(cols))

    main = [c for c in columns if c.is_main]
    return {lang: mean_of([c for c in main if c.language == lang]) for lang in languages}, mean_of(main)


def _find_base(origin: Origin, rows: Sequence[BoardRow]) -> BoardRow | None:
    """The base's row: its name and revision; its only revision when none is known; or, for a base
    given as a folder path (stored as ``local/<folder>``), the one row with its revision."""
    same_name = [r for r in rows if r.name == origin.base_model]
    if origin.base_revision:
        exact = [r for r in same_name if r.revision == origin.base_revision]
        if exact:
            return exact[0]
        same_name = [r for r in same_name if r.revision.startswith(origin.base_revision)]
        if not same_name:
            same_name = [r for r in rows if r.revision == origin.base_revision]
    return same_name[0] if len(same_name) == 1 else None


def compare(tuned: BoardRow, base: BoardRow, tuned_model: ModelResults, base_model: ModelResults,
            resamples: int = RESAMPLES) -> list[Comparison]:
    """Delta per cell both models have, with a paired test where both have the same items."""
    out = []
    for col in sorted(set(tuned.cells) & set(base.cells), key=Column.sort_key):
        t, b = tuned.cells[col], base.cells[col]
        comp = Comparison(col, b.value, t.value, t.value - b.value)
        if t.dataset_revision != b.dataset_revision:
            comp.note = "different task data"
        elif t.ci is not None and b.ci is not None:
            td = _item_data(col.metric, tuned_model.items[(col.task, col.split, t.subset)])
            bd = _item_data(col.metric, base_model.items[(col.task, col.split, b.subset)])
            if td is None or bd is None or td[0] != bd[0] or (
                col.metric == "cosine_spearman" and not np.array_equal(td[1][0], bd[1][0])
            ):
                comp.note = "different items"
            else:
                _, comp.ci, comp.p = paired_test(col.metric, bd[1], td[1],
                                                 _rng("paired", col.task, col.split, t.subset, col.metric), resamples)
                comp.n = len(td[0])
        else:
            comp.note = "no per-item scores"
        out.append(comp)
    return out


def build_board(models: Sequence[ModelResults], tasks: dict[str, TaskInfo] | None = None,
                resamples: int = RESAMPLES) -> Board:
    """Rows, means, intervals, order and base-vs-fine-tuned comparisons of the given results."""
    tasks = tasks or {}
    notes: list[str] = []
    per_model = [(m, model_cells(m, tasks, resamples, notes)) for m in models]
    columns = sorted({c for _, cells in per_model for c in cells}, key=Column.sort_key)
    languages = sorted({c.language for c in columns})
    # a score computed on older task data (†) is shown but neither ranks nor enters a mean
    current = [{c: x for c, x in cells.items() if not x.stale} for _, cells in per_model]
    in_mean = mean_columns([{c for c in cur if c.is_main} for cur in current])
    rows = []
    for (m, cells), cur in zip(per_model, current, strict=True):
        lang_means, mean = means(cur, in_mean, languages)
        missing = [c for c in in_mean if c not in cur]
        rows.append(BoardRow(m.name, m.revision, cells, lang_means, mean, m.origin, missing=missing))
    rows.sort(key=lambda r: (r.mean is None, -(r.mean or 0.0), r.name, r.revision))
    for i, row in enumerate((r for r in rows if r.mean is not None), 1):
        row.rank = i
    source = {(m.name, m.revision): m for m in models}
    pairs = []
    for row in rows:
        if row.origin is None:
            continue
        base = _find_base(row.origin, [r for r in rows if r is not row])
        pair = Pair(row, base, row.origin)
        if base is None:
            rev = f" @ {row.origin.base_revision}" if row.origin.base_revision else ""
            pair.note = f"no result of the base model {row.origin.base_model}{rev} in the results folders"
        else:
            row.base = (base.name, base.revision)
            if row.mean is not None and base.mean is not None:
                row.delta_mean = row.mean - base.mean
            pair.comparisons = compare(row, base, source[(row.name, row.revision)],
                                       source[(base.name, base.revision)], resamples)
        pairs.append(pair)
    return Board(columns, languages, rows, pairs, notes, resamples, in_mean)

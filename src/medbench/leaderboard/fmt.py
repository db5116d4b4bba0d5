"""Formatting shared by the renderers: numbers, labels, plot file names, the explanation line."""

from __future__ import annotations

import re
from collections.abc import Callable


from medbench.leaderboard.model import Board, BoardRow, Column, Comparison, LANGUAGE_NAMES, MISSING, PLOTS_DIR


def _fmt(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{0.0 if abs(value) < 0.0005 else value:+.3f}"  # never "-0.000"


def _p(p: float | None) -> str:
    return MISSING if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def _lang_title(lang: str) -> str:
    name = LANGUAGE_NAMES.get(lang)
    return f"{name} ({lang})" if name else lang


def _base_label(row: BoardRow) -> str:
    if row.origin is None:
        return ""
    return row.base[0] if row.base else row.origin.base_model


def _delta_label(c: Comparison) -> str:
    return _signed(c.delta) + ("*" if c.significant else "")


def _cell_groups(board: Board) -> list[tuple[str, str, str, list[Column]]]:
    """(task, language, split, columns) for each task and language, in column order."""
    groups: dict[tuple[str, str, str], list[Column]] = {}
    for c in board.columns:
        groups.setdefault((c.task, c.language, c.split), []).append(c)
    return [(t, lang, s, cols) for (t, lang, s), cols in groups.items()]


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(p for p in parts if p))


def plot_name(task: str, language: str, split: str) -> str:
    return f"{PLOTS_DIR}/{_slug(task, language, '' if split == 'test' else split)}.png"


COMPARISON_PLOT = f"{PLOTS_DIR}/finetuned_vs_base.png"

EXPLAIN = (
    "Scores: nDCG@10 and Recall@5 for retrieval, cosine Spearman for STS; under each score its 95% bootstrap "
    "confidence interval over queries or pairs ({resamples} resamples). Means are over the main scores "
    "(nDCG@10, Spearman) of the tasks that every ranked model has (listed under each table); a model without "
    "one of them is not ranked and follows the ranked ones; {missing} = not evaluated. "
    "Rows sort by overall mean. † = computed on an older version of the task data: shown, but not in any mean or rank."
)


def _task_of(c: Column, language: bool = True) -> str:
    return f"{c.task_label} ({c.language})" if language else c.task_label


def _unranked(row: BoardRow) -> bool:
    return row.rank is None


def _rank(row: BoardRow) -> str:
    return MISSING if row.rank is None else str(row.rank)


def mean_notes(board: Board, lang: str | None = None, model: Callable[[str], str] = str) -> list[str]:
    """Sentences under a table: which tasks its mean covers, which main scores it leaves out, and
    (overall) which models are not ranked and why. ``model`` formats a model name (Markdown: code)."""
    total = len(board.rows)

    def left_out(cols: list[Column], language: bool) -> str:
        return ", ".join(f"{c.task_label} ({c.language + '; ' if language else ''}{board.holders(c)} of {total} models)"
                         for c in cols)

    if lang is None:
        cols = board.mean_columns
        if not cols:
            return ["No mean: the models have no task in common."]
        means = " and ".join(f"Mean {x}" for x in board.languages if any(c.language == x for c in cols))
        lines = [f"Mean = the main score averaged over the {len(cols)} task{'s' if len(cols) != 1 else ''} that every "
                 f"ranked model has: {', '.join(_task_of(c) for c in cols)}"
                 + (f"; {means}: those of that language." if means else ".")]
        if board.not_in_mean:
            lines.append(f"Not in the mean (not every ranked model has it): {left_out(board.not_in_mean, True)}.")
        unranked = [r for r in board.rows if _unranked(r)]
        if unranked:
            lines.append("Not ranked: " + "; ".join(
                f"{model(r.name)}" + (f" (no score on the current data of {', '.join(_task_of(c) for c in r.missing)})"
                                      if r.missing else "")
                for r in unranked) + ".")
        return lines
    cols = [c for c in board.mean_columns if c.language == lang]
    out = [f"Mean {lang} = averaged over {', '.join(_task_of(c, False) for c in cols)}." if cols
           else f"No mean {lang}: no task of this language is one that every ranked model has."]
    extra = [c for c in board.not_in_mean if c.language == lang]
    if extra:
        out.append(f"Not in the mean (not every ranked model has it): {left_out(extra, False)}.")
    return out

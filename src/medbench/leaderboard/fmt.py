"""Formatting shared by the renderers: numbers, labels, plot file names, the explanation line."""

from __future__ import annotations

import re


from .model import Board, BoardRow, Column, Comparison, LANGUAGE_NAMES, MISSING, PLOTS_DIR


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
    "(nDCG@10, Spearman) and only for models with every such score of that language; {missing} = not evaluated. "
    "Rows sort by overall mean. † = computed on an older version of the task data."
)

"""Statistics (pure): bootstrap intervals and paired permutation tests over per-item scores."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from medbench.leaderboard.model import RESAMPLES, SEED


def _rng(*key: Any) -> np.random.Generator:
    digest = hashlib.sha256("\0".join(map(str, (SEED, *key))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``x`` with the same row of ``y`` (ties get average ranks)."""
    from scipy.stats import rankdata

    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def statistic(metric: str, data: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """The score of each resample (rows of ``idx``; the data itself when None).

    ``data`` is a score per item for means (shape ``(n,)``) or ``[gold, cosine]`` for Spearman
    (shape ``(2, n)``).
    """
    n = data.shape[-1]
    idx = np.arange(n)[None, :] if idx is None else idx
    if metric == "cosine_spearman":
        return spearman_rows(data[0][idx], data[1][idx])
    return data[idx].mean(axis=1)


def _chunks(resamples: int, n: int) -> list[int]:
    size = max(1, min(resamples, 2_000_000 // max(n, 1)))  # bounded memory for large tasks
    return [min(size, resamples - i) for i in range(0, resamples, size)]


def bootstrap_ci(metric: str, data: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES,
                 confidence: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of a score over items; None for fewer than 2 items."""
    n = data.shape[-1]
    if n < 2:
        return None
    stats = np.concatenate([statistic(metric, data, rng.integers(0, n, size=(k, n))) for k in _chunks(resamples, n)])
    if np.all(np.isnan(stats)):
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.nanpercentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_test(metric: str, base: np.ndarray, tuned: np.ndarray, rng: np.random.Generator,
                resamples: int = RESAMPLES) -> tuple[float, tuple[float, float] | None, float]:
    """Delta (tuned - base), its paired-bootstrap 95% interval and a two-sided permutation p-value.

    Both arrays hold the same items in the same order. The permutation test swaps the two models'
    scores of each item with probability 1/2: under "no difference" that changes nothing. For
    Spearman the swapped scores are each model's ranks (scaled to 0..1), not its cosines: two models'
    cosines live on different scales (one spans 0.1 to 0.9, another 0.7 to 0.95), and mixing raw
    values would make the p-value depend on that scale, which the Spearman itself ignores.
    """
    n = base.shape[-1]
    if metric == "cosine_spearman":
        from scipy.stats import rankdata

        base = np.stack([base[0], rankdata(base[1]) / n])
        tuned = np.stack([tuned[0], rankdata(tuned[1]) / n])
    delta = float(statistic(metric, tuned)[0] - statistic(metric, base)[0])
    deltas, extreme = [], 0
    for k in _chunks(resamples, n):
        idx = rng.integers(0, n, size=(k, n))
        deltas.append(statistic(metric, tuned, idx) - statistic(metric, base, idx))
        swap = rng.random((k, n)) < 0.5
        if metric == "cosine_spearman":
            gold = np.broadcast_to(base[0], (k, n))
            a, b = np.where(swap, tuned[1], base[1]), np.where(swap, base[1], tuned[1])
            d = spearman_rows(gold, b) - spearman_rows(gold, a)
        else:
            d = np.where(swap, base, tuned).mean(axis=1) - np.where(swap, tuned, base).mean(axis=1)
        extreme += int(np.sum(np.abs(d) >= abs(delta) - 1e-12))
    all_deltas = np.concatenate(deltas)
    ci = None
    if n >= 2 and not np.all(np.isnan(all_deltas)):
        lo, hi = np.nanpercentile(all_deltas, [2.5, 97.5])
        ci = (float(lo), float(hi))
    return delta, ci, (extreme + 1) / (resamples + 1)


def _item_data(metric: str, rows: list[dict[str, Any]]) -> tuple[list[Any], np.ndarray] | None:
    """Ids (sorted) and the item array of one cell, or None when the per-item rows lack the metric."""
    keys = ("gold", "cosine") if metric == "cosine_spearman" else (metric,)
    by_id = {}
    for r in rows:
        if any(not isinstance(r.get(k), (int, float)) for k in keys) or r.get("id") in by_id:
            return None
        by_id[r["id"]] = [float(r[k]) for k in keys]
    ids = sorted(by_id, key=lambda i: (str(type(i)), i))
    arr = np.array([by_id[i] for i in ids], dtype=float).T
    return ids, arr if metric == "cosine_spearman" else arr[0]

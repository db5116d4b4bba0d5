"""Leaderboards from result folders: results -> rows (pure) -> tables and plots (rendering).

Data flow::

    results/<org__model>/<revision>/<Task>.json, per_item/<Task>.jsonl    load_results()  (reads files)
      -> ModelResults, one per model + revision
      -> Board: rows, means, 95% bootstrap intervals, fine-tuned vs base   build_board()   (pure)
      -> {path: content}: README.md, CSV, JSON, LaTeX, HTML, PNG plots     render_files()
      -> leaderboard/                                                      sync_files()    (check mode compares only)

Scores: nDCG@10 and Recall@5 for retrieval, cosine Spearman for STS, one cell per task, language
(and split, when a task has several). Means are over the main scores (nDCG@10, Spearman) of a
language, and only for a model that has every such cell: an incomplete model is not ranked above
a complete one by luck. Rows sort by overall mean (descending, models without one last), then name.

Intervals: percentile bootstrap over queries (retrieval) or pairs (STS) from the per-item files,
1000 resamples, seeded by the task and metric (so every model of a task sees the same resamples);
Spearman is recomputed in every resample. A cell whose per-item scores do not reproduce the stored
score (a stale file) gets no interval rather than a wrong one.

Fine-tuned models
-----------------
A result folder belongs to a fine-tuned model when one of these says so (the first that answers):

1. a line of its run log (``medbench_runs.jsonl``) carries the trainer's ``medbench.json`` under
   ``finetune`` (or ``model.finetune``): ``{"base_model", "base_revision", "recipe", ...}``;
2. the run log's ``model.location`` is a folder with a ``medbench.json`` whose ``revision`` is the
   result's revision (a folder retrained since then no longer speaks for this result);
3. mteb's ``model_meta.json`` names ``adapted_from`` (sentence-transformers' ``base_model``).

1 and 3 live in the results folder itself, so they survive a checkout without ``models/`` (CI);
2 needs the model folder. The base's result is the folder of the base model with ``base_revision``
(or its only revision when none is recorded). Each fine-tuned model is compared with its base over
the same queries/pairs: the delta, a paired-bootstrap 95% interval of the delta, and a two-sided
paired permutation test (labels swapped per query/pair, 1000 permutations); p < 0.05 is marked ``*``.

Plots are compared by the hash of the data they show (stored in the PNG), not by their bytes, so
another matplotlib version neither makes ``--check`` fail nor rewrites unchanged plots.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import per_item
from .errors import MedbenchError
from .spec import LANGUAGES

RUN_LOG = "medbench_runs.jsonl"  # written by medbench.evaluate
FINETUNE_FILE = "medbench.json"  # written by the trainer into models/<name>/

#: Reported scores per mteb task type; the first is the main score used in the means.
METRICS = {"Retrieval": ("ndcg_at_10", "recall_at_5"), "STS": ("cosine_spearman",)}
TITLES = {"ndcg_at_10": "nDCG@10", "recall_at_5": "Recall@5", "cosine_spearman": "Spearman"}
LANGUAGE_NAMES = {"de": "German", "en": "English", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch"}
MISSING = "–"
RESAMPLES = 1000
SEED = 0
ALPHA = 0.05
FORMATS = ("md", "csv", "json", "tex", "html")
PLOTS_DIR = "plots"
FILE_NAMES = {"md": "README.md", "csv": "leaderboard.csv", "json": "leaderboard.json", "tex": "leaderboard.tex",
              "html": "index.html"}
#: Bump when the plots change look without their data changing, so ``--check`` asks for a rebuild.
PLOT_VERSION = 1
PNG_DATA_KEY = "medbench-data"
_CODE_OF = {v: k for k, v in LANGUAGES.items()}


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInfo:
    """What the leaderboard needs to know of a task it can read from disk (see :func:`task_infos`)."""

    name: str
    task_type: str  # "Retrieval" | "STS"
    subset_language: dict[str, str]
    revision: str


@dataclass(frozen=True)
class Origin:
    """The base model of a fine-tuned model, and where that was found."""

    base_model: str
    base_revision: str | None = None
    recipe: Any = None
    found_in: str = ""


@dataclass
class ModelResults:
    """The stored results of one model revision, as read from its folder."""

    name: str
    revision: str
    folder: Path
    results: dict[str, dict[str, Any]]  # task name -> mteb TaskResult JSON
    items: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (task, split, subset)
    origin: Origin | None = None


@dataclass(frozen=True)
class Column:
    """One score of one task, language and split."""

    task: str
    task_type: str
    language: str
    split: str
    metric: str

    @property
    def key(self) -> str:
        return f"{self.task}/{self.language}/{self.split}/{self.metric}"

    @property
    def is_main(self) -> bool:
        return self.metric == METRICS[self.task_type][0]

    @property
    def task_label(self) -> str:
        return self.task if self.split == "test" else f"{self.task} ({self.split})"

    def sort_key(self) -> tuple:
        return (self.language, 0 if self.task_type == "Retrieval" else 1, self.task, self.split,
                METRICS[self.task_type].index(self.metric))


@dataclass
class Cell:
    value: float
    ci: tuple[float, float] | None = None
    n: int | None = None
    subset: str = "default"
    dataset_revision: str = ""
    stale: bool = False  # computed on other task data than the task folder now holds


@dataclass
class BoardRow:
    name: str
    revision: str
    cells: dict[Column, Cell]
    means: dict[str, float | None]
    mean: float | None
    origin: Origin | None = None
    rank: int = 0
    base: tuple[str, str] | None = None  # (name, revision) of the base row, when on the board
    delta_mean: float | None = None

    @property
    def label(self) -> str:
        return f"{self.name} @ {self.revision[:12]}"


@dataclass
class Comparison:
    column: Column
    base: float
    tuned: float
    delta: float
    ci: tuple[float, float] | None = None
    p: float | None = None
    n: int | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA


@dataclass
class Pair:
    """A fine-tuned model beside its base."""

    tuned: BoardRow
    base: BoardRow | None
    origin: Origin
    comparisons: list[Comparison] = field(default_factory=list)
    note: str = ""


@dataclass
class Board:
    columns: list[Column]
    languages: list[str]
    rows: list[BoardRow]
    pairs: list[Pair]
    notes: list[str]
    resamples: int = RESAMPLES


# -- reading ---------------------------------------------------------------------------------


def task_infos(tasks: Iterable[Any]) -> dict[str, TaskInfo]:
    """:class:`TaskInfo` of checked tasks (``medbench.data.TaskData``, e.g. from ``tasks.discover``)."""
    out = {}
    for t in tasks:
        spec = t.spec
        langs = {lang: lang for lang in spec.languages} if spec.multilingual else {"default": spec.languages[0]}
        out[spec.name] = TaskInfo(spec.name, "Retrieval" if spec.type == "retrieval" else "STS", langs, t.revision)
    return out


def results_root(path: Path) -> Path:
    """Accept both the folder of ``<org__model>/`` folders and the folder holding ``results/``."""
    path = Path(path)
    if (path / "results").is_dir() and not any(path.glob("*/*/model_meta.json")):
        return path / "results"
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MedbenchError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix or remove the file") from None
    except UnicodeDecodeError:
        raise MedbenchError(f"{path}: not UTF-8 text") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise MedbenchError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    return rows


def read_model_folder(folder: Path) -> ModelResults | None:
    """The results stored in one ``<org__model>/<revision>/`` folder (None when it holds none)."""
    folder = Path(folder)
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "model_meta.json":
            continue
        data = _read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or "task_name" not in data:
            raise MedbenchError(f"{path}: not an mteb task result (expected task_name and scores)")
        results[data["task_name"]] = data
    if not results:
        return None
    meta = _read_json(folder / "model_meta.json") if (folder / "model_meta.json").is_file() else {}
    name = meta.get("name") or folder.parent.name.replace("__", "/")
    items: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for task in results:
        path = per_item.per_item_path(folder, task)
        if path.is_file():
            for row in _read_jsonl(path):
                items.setdefault((task, str(row.get("split")), str(row.get("subset"))), []).append(row)
    return ModelResults(name, folder.name, folder, results, items, read_origin(folder, folder.name, meta))


def read_origin(folder: Path, revision: str, meta: dict[str, Any] | None = None) -> Origin | None:
    """The base model of a fine-tuned model's result folder, or None (see the module docstring)."""
    log = Path(folder) / RUN_LOG
    entries = _read_jsonl(log) if log.is_file() else []
    for entry in reversed(entries):
        info = entry.get("finetune") or (entry.get("model") or {}).get("finetune")
        if isinstance(info, dict) and info.get("base_model"):
            return _origin(info, f"{log.name}")
    for entry in reversed(entries):
        location = (entry.get("model") or {}).get("location")
        card = Path(location) / FINETUNE_FILE if isinstance(location, str) and location else None
        if card is not None and card.is_file():
            info = _read_json(card)
            if isinstance(info, dict) and info.get("base_model") and _same_weights(card.parent, info, revision):
                return _origin(info, str(card))
    adapted = (meta or {}).get("adapted_from")
    if isinstance(adapted, str) and adapted:
        return Origin(_canonical(adapted), None, None, "model_meta.json adapted_from")
    return None


def _same_weights(folder: Path, info: dict[str, Any], revision: str) -> bool:
    """Whether the model folder still holds the weights a result was computed from (its revision,
    maybe with a prompts suffix): the revision ``medbench.json`` records, else the folder's hash."""
    def matches(rev: str) -> bool:
        return revision == rev or revision.startswith(f"{rev}-prompts-")

    if isinstance(info.get("revision"), str) and matches(info["revision"]):
        return True
    from .models import weights_revision

    try:
        return matches(weights_revision(folder))
    except MedbenchError:
        return False


def _canonical(name: str) -> str:
    """The result name of a base model as ``medbench run --model`` names it: aliases resolved, a
    folder path as ``local/<folder name>`` (never a local path on the board)."""
    from .offline import ALIASES

    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return f"local/{Path(name.rstrip('/')).name}"
    return ALIASES.get(name.lower(), name)


def _origin(info: dict[str, Any], found_in: str) -> Origin:
    rev = info.get("base_revision")
    return Origin(_canonical(str(info["base_model"])), str(rev) if rev else None, _recipe_label(info), found_in)


def _recipe_label(info: dict[str, Any]) -> str | None:
    """A short name for the recipe: its file name (the trainer stores the whole recipe too)."""
    file, recipe = info.get("recipe_file"), info.get("recipe")
    if isinstance(file, str) and file:
        return Path(file).name
    if isinstance(recipe, dict):
        return str(recipe.get("name") or info.get("name") or "") or None
    return str(recipe) if recipe else None


def load_results(results_dirs: Sequence[Path | str]) -> list[ModelResults]:
    """Every model revision stored under ``results_dirs``; for the same model revision in several
    folders the first folder's file of a task wins."""
    found: dict[tuple[str, str], ModelResults] = {}
    for root in results_dirs:
        root = results_root(Path(root))
        if not root.is_dir():
            raise MedbenchError(f"{root}: no such results folder (run `medbench run` first, or pass --results-dir)")
        for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for rev_dir in sorted(p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                model = read_model_folder(rev_dir)
                if model is None:
                    continue
                key = (model.name, model.revision)
                if key in found:
                    have = found[key]
                    for task, result in model.results.items():
                        if task not in have.results:
                            have.results[task] = result
                            have.items.update({k: v for k, v in model.items.items() if k[0] == task})
                else:
                    found[key] = model
    return [found[k] for k in sorted(found)]


# -- statistics (pure) -----------------------------------------------------------------------


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
    scores of each item with probability 1/2: under "no difference" that changes nothing.
    """
    n = base.shape[-1]
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


# -- rows (pure) -----------------------------------------------------------------------------


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


def means(cells: dict[Column, Cell], columns: Sequence[Column], languages: Sequence[str]) -> tuple[dict[str, float | None], float | None]:
    """Mean main score per language and overall; None where the model lacks one of the columns."""

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
    rows = []
    for m, cells in per_model:
        lang_means, mean = means(cells, columns, languages)
        rows.append(BoardRow(m.name, m.revision, cells, lang_means, mean, m.origin))
    rows.sort(key=lambda r: (r.mean is None, -(r.mean or 0.0), r.name, r.revision))
    for i, row in enumerate(rows, 1):
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
    return Board(columns, languages, rows, pairs, notes, resamples)


# -- formatting helpers ----------------------------------------------------------------------


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


# -- Markdown --------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _md_cell(cell: Cell | None) -> str:
    if cell is None:
        return MISSING
    text = _fmt(cell.value) + ("†" if cell.stale else "")
    if cell.ci:
        text += f"<br><sub>[{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]</sub>"
    return text


def render_markdown(board: Board) -> str:
    lines = ["# medbench leaderboard", "",
             "<!-- Generated by `medbench leaderboard` from the result files: edit those, not this file. -->", "",
             EXPLAIN.format(resamples=board.resamples, missing=MISSING), ""]
    if not board.rows:
        return "\n".join([*lines, "No results yet.", ""])
    lines += ["## Overall", ""]
    headers = ["#", "Model", "Revision", "Mean", *(f"Mean {lang}" for lang in board.languages), "Fine-tuned from", "Δ mean vs base"]
    rows = [[str(r.rank), f"`{_md_escape(r.name)}`", f"`{r.revision[:12]}`", _fmt(r.mean),
             *(_fmt(r.means[lang]) for lang in board.languages), f"`{_md_escape(_base_label(r))}`" if r.origin else "",
             _signed(r.delta_mean) if r.base else ""] for r in board.rows]
    lines += _md_table(headers, rows, ["r", "l", "l", "r", *("r" for _ in board.languages), "l", "r"]) + [""]
    for lang in board.languages:
        cols = [c for c in board.columns if c.language == lang]
        lines += [f"## {_lang_title(lang)}", ""]
        headers = ["#", "Model", *(f"{c.task_label}<br>{TITLES[c.metric]}" for c in cols), "Mean"]
        rows = [[str(r.rank), f"`{_md_escape(r.name)}`", *(_md_cell(r.cells.get(c)) for c in cols), _fmt(r.means[lang])]
                for r in board.rows]
        lines += _md_table(headers, rows, ["r", "l", *("r" for _ in cols), "r"]) + [""]
    if board.pairs:
        lines += ["## Fine-tuned vs base", "",
                  "Δ = fine-tuned − base over the same queries/pairs; the interval is a paired bootstrap "
                  f"({board.resamples} resamples), p a two-sided paired permutation test ({board.resamples} "
                  f"permutations). \\* = p < {ALPHA} (per score, not corrected for multiple comparisons).", ""]
        for pair in board.pairs:
            lines += [f"### `{_md_escape(pair.tuned.name)}` vs `{_md_escape(_base_label(pair.tuned))}`", ""]
            lines += [f"Fine-tuned revision `{pair.tuned.revision[:12]}`"
                      + (f", base revision `{pair.base.revision[:12]}`" if pair.base else "")
                      + (f", recipe `{_md_escape(str(pair.origin.recipe))}`" if pair.origin.recipe else "") + ".", ""]
            if pair.note:
                lines += [pair.note + ".", ""]
                continue
            headers = ["Task", "Lang", "Score", "Base", "Fine-tuned", "Δ", "95% CI of Δ", "p", "n"]
            rows = [[c.column.task_label, c.column.language, TITLES[c.column.metric], _fmt(c.base), _fmt(c.tuned),
                     _delta_label(c), f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]" if c.ci else MISSING, _p(c.p),
                     str(c.n) if c.n else (c.note or MISSING)] for c in pair.comparisons]
            lines += _md_table(headers, rows, ["l", "l", "l", "r", "r", "r", "r", "r", "r"]) + [""]
        if any(p.base for p in board.pairs):
            lines += [f"![Fine-tuned vs base]({COMPARISON_PLOT})", ""]
    lines += ["## Plots", ""]
    for task, lang, split, _ in _cell_groups(board):
        title = f"{task} ({lang}{', ' + split if split != 'test' else ''})"
        lines += [f"### {title}", "", f"![{title}]({plot_name(task, lang, split)})", ""]
    return "\n".join(lines)


# -- CSV and JSON ----------------------------------------------------------------------------


def render_csv(board: Board) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["rank", "model", "revision", "base_model", "base_revision", "mean", *(f"mean_{lang}" for lang in board.languages)]
    for c in board.columns:
        head += [c.key, f"{c.key}/ci_low", f"{c.key}/ci_high"]
    writer.writerow(head)

    def num(v: float | None, digits: int = 6) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    for r in board.rows:
        line = [r.rank, r.name, r.revision, _base_label(r), r.base[1] if r.base else "",
                num(r.mean), *(num(r.means[lang]) for lang in board.languages)]
        for c in board.columns:
            cell = r.cells.get(c)
            line += [num(cell.value if cell else None), num(cell.ci[0] if cell and cell.ci else None, 4),
                     num(cell.ci[1] if cell and cell.ci else None, 4)]
        writer.writerow(line)
    return buf.getvalue()


def board_dict(board: Board) -> dict[str, Any]:
    """The board as plain JSON data (rounded, so rebuilding on another machine gives the same file)."""

    def cell(c: Column, x: Cell) -> dict[str, Any]:
        return {"task": c.task, "type": c.task_type, "language": c.language, "split": c.split, "metric": c.metric,
                "value": _round(x.value), "ci_low": _round(x.ci[0], 4) if x.ci else None,
                "ci_high": _round(x.ci[1], 4) if x.ci else None, "n": x.n, "dataset_revision": x.dataset_revision,
                "stale": x.stale}

    return {
        "format": "medbench-leaderboard/1",
        "settings": {"resamples": board.resamples, "seed": SEED, "confidence": 0.95, "alpha": ALPHA,
                     "main_scores": {t: m[0] for t, m in METRICS.items()}},
        "languages": board.languages,
        "columns": [c.key for c in board.columns],
        "rows": [{
            "rank": r.rank, "name": r.name, "revision": r.revision, "mean": _round(r.mean),
            "means": {k: _round(v) for k, v in r.means.items()},
            "base_model": _base_label(r) or None,
            "base_revision": r.base[1] if r.base else (r.origin.base_revision if r.origin else None),
            "delta_mean": _round(r.delta_mean),
            "cells": [cell(c, r.cells[c]) for c in board.columns if c in r.cells],
        } for r in board.rows],
        "comparisons": [{
            "model": p.tuned.name, "revision": p.tuned.revision, "base_model": _base_label(p.tuned),
            "base_revision": p.base.revision if p.base else p.origin.base_revision,
            "recipe": p.origin.recipe, "note": p.note or None,
            "scores": [{"column": c.column.key, "base": _round(c.base), "tuned": _round(c.tuned),
                        "delta": _round(c.delta), "ci_low": _round(c.ci[0], 4) if c.ci else None,
                        "ci_high": _round(c.ci[1], 4) if c.ci else None, "p": _round(c.p, 4), "n": c.n,
                        "significant": c.significant, "note": c.note or None} for c in p.comparisons],
        } for p in board.pairs],
    }


def render_json(board: Board) -> str:
    return json.dumps(board_dict(board), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


# -- LaTeX -----------------------------------------------------------------------------------

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "†": r"$^\dagger$",
        "Δ": r"$\Delta$", "…": r"\ldots{}", "−": "--", "<": "$<$", ">": "$>$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    out = [rf"\begin{{tabular}}{{{align}}}", r"\hline", " & ".join(headers) + r" \\", r"\hline"]
    out += [" & ".join(row) + r" \\" for row in rows]
    return out + [r"\hline", r"\end{tabular}", ""]


def _tex_cell(cell: Cell | None) -> str:
    if cell is None:
        return "--"
    text = _fmt(cell.value) + (r"$^\dagger$" if cell.stale else "")
    if cell.ci:
        text += rf" {{\scriptsize [{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]}}"
    return text


def render_tex(board: Board) -> str:
    """LaTeX tabulars (no packages needed): overall, one per language, one per fine-tuned model."""
    e = tex_escape
    lines = ["% Generated by `medbench leaderboard` from the result files: edit those, not this file.",
             "% " + EXPLAIN.format(resamples=board.resamples, missing="--"), ""]
    headers = [r"\#", "Model", "Revision", "Mean", *(f"Mean {lang}" for lang in board.languages), r"$\Delta$ vs base"]
    rows = [[str(r.rank), e(r.name), rf"\texttt{{{e(r.revision[:12])}}}", e(_fmt(r.mean)),
             *(e(_fmt(r.means[lang])) for lang in board.languages), e(_signed(r.delta_mean)) if r.base else ""]
            for r in board.rows]
    lines += ["% Overall"] + _tex_table(headers, rows, "rll" + "r" * (len(board.languages) + 2))
    for lang in board.languages:
        cols = [c for c in board.columns if c.language == lang]
        headers = [r"\#", "Model", *(f"{e(c.task_label)} {e(TITLES[c.metric])}" for c in cols), "Mean"]
        rows = [[str(r.rank), e(r.name), *(_tex_cell(r.cells.get(c)) for c in cols), e(_fmt(r.means[lang]))]
                for r in board.rows]
        lines += [f"% {_lang_title(lang)}"] + _tex_table(headers, rows, "rl" + "r" * (len(cols) + 1))
    for pair in board.pairs:
        lines.append(f"% {e(pair.tuned.name)} vs {e(_base_label(pair.tuned))}" + (f": {pair.note}" if pair.note else ""))
        if pair.note:
            continue
        headers = ["Task", "Lang", "Score", "Base", "Fine-tuned", r"$\Delta$", r"95\% CI of $\Delta$", "$p$"]
        rows = [[e(c.column.task_label), e(c.column.language), e(TITLES[c.column.metric]), _fmt(c.base), _fmt(c.tuned),
                 _delta_label(c), f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]" if c.ci else "--", e(_p(c.p))]
                for c in pair.comparisons]
        lines += _tex_table(headers, rows, "lllrrrrr")
    if board.pairs:
        lines.append(rf"% * = p < {ALPHA}, paired permutation test over the same queries/pairs.")
    return "\n".join(lines) + "\n"


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1f24;max-width:100%}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;white-space:nowrap}
th{background:#f6f8fa;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=descending]::after{content:" \\25BC"}th[aria-sort=ascending]::after{content:" \\25B2"}
td.num{text-align:right;font-variant-numeric:tabular-nums}td small{color:#57606a;display:block}
.wrap{overflow-x:auto}.sig{font-weight:600}p.note{color:#57606a;max-width:60rem}img{max-width:100%}
"""

_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-type") === "num";
      var now = th.getAttribute("aria-sort");
      var desc = now === "descending" ? false : now === "ascending" ? true : numeric;
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var mx = x === null || x === "", my = y === null || y === "";
        if (mx || my) { return mx === my ? 0 : (mx ? 1 : -1); }
        var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return desc ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", desc ? "descending" : "ascending");
    });
  });
});
"""


def _td(text: str, value: float | str | None = None, small: str = "", numeric: bool = True, cls: str = "") -> str:
    """A cell; ``data-v`` holds the sort value (empty: missing, sorted last)."""
    esc = html.escape
    v = "" if value is None else (repr(round(value, 6)) if isinstance(value, float) else str(value))
    classes = " ".join(x for x in ("num" if numeric else "", cls) if x)
    attr = f' class="{classes}"' if classes else ""
    return f'<td{attr} data-v="{esc(v)}">{esc(text)}' + (f"<small>{esc(small)}</small>" if small else "") + "</td>"


def _th(text: str, numeric: bool, sort: str | None = None) -> str:
    aria = f' aria-sort="{sort}"' if sort else ""
    return f'<th data-type="{"num" if numeric else "text"}"{aria}>{html.escape(text)}</th>'


def render_html(board: Board) -> str:
    """One page, no external CSS/JS: the sortable table of every model and score, comparisons, plots."""
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', "<title>medbench leaderboard</title>",
           f"<style>{_CSS.strip()}</style>", "</head>", "<body>", "<h1>medbench leaderboard</h1>",
           "<!-- Generated by `medbench leaderboard` from the result files: edit those, not this file. -->",
           f'<p class="note">{esc(EXPLAIN.format(resamples=board.resamples, missing=MISSING))} '
           "Click a column header to sort.</p>"]
    heads = [_th("#", True), _th("Model", False), _th("Revision", False), _th("Mean", True, "descending"),
             *(_th(f"Mean {lang}", True) for lang in board.languages), _th("Fine-tuned from", False),
             _th("Δ mean vs base", True),
             *(_th(f"{c.task_label} · {c.language} · {TITLES[c.metric]}", True) for c in board.columns)]
    out += ['<div class="wrap">', '<table id="leaderboard" class="sortable">', "<thead><tr>" + "".join(heads) + "</tr></thead>", "<tbody>"]
    for r in board.rows:
        tds = [_td(str(r.rank), r.rank), _td(r.name, r.name, numeric=False), _td(r.revision[:12], r.revision, numeric=False),
               _td(_fmt(r.mean), r.mean), *(_td(_fmt(r.means[lang]), r.means[lang]) for lang in board.languages),
               _td(_base_label(r), _base_label(r) or None, numeric=False),
               _td(_signed(r.delta_mean) if r.base else "", r.delta_mean if r.base else None)]
        for c in board.columns:
            cell = r.cells.get(c)
            tds.append(_td(MISSING, None) if cell is None else _td(
                _fmt(cell.value) + ("†" if cell.stale else ""), cell.value,
                f"[{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]" if cell.ci else ""))
        out.append("<tr>" + "".join(tds) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    if board.pairs:
        out += ["<h2>Fine-tuned vs base</h2>",
                f'<p class="note">Δ = fine-tuned − base over the same queries/pairs: paired bootstrap 95% interval, '
                f"two-sided paired permutation test; * = p &lt; {ALPHA}.</p>"]
        for i, pair in enumerate(board.pairs):
            out.append(f"<h3>{esc(pair.tuned.name)} vs {esc(_base_label(pair.tuned))}</h3>")
            if pair.note:
                out.append(f'<p class="note">{esc(pair.note)}.</p>')
                continue
            heads = [_th("Task", False), _th("Lang", False), _th("Score", False), _th("Base", True),
                     _th("Fine-tuned", True), _th("Δ", True), _th("p", True)]
            out += [f'<div class="wrap"><table id="comparison-{i}" class="sortable">',
                    "<thead><tr>" + "".join(heads) + "</tr></thead>", "<tbody>"]
            for c in pair.comparisons:
                out.append("<tr>" + "".join([
                    _td(c.column.task_label, c.column.task_label, numeric=False),
                    _td(c.column.language, c.column.language, numeric=False),
                    _td(TITLES[c.column.metric], TITLES[c.column.metric], numeric=False),
                    _td(_fmt(c.base), c.base), _td(_fmt(c.tuned), c.tuned),
                    _td(_delta_label(c), c.delta, f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]" if c.ci else "",
                        cls="sig" if c.significant else ""),
                    _td(_p(c.p), c.p)]) + "</tr>")
            out += ["</tbody>", "</table></div>"]
        if any(p.base for p in board.pairs):
            out.append(f'<p><img src="{COMPARISON_PLOT}" alt="Fine-tuned vs base"></p>')
    out.append("<h2>Plots</h2>")
    for task, lang, split, _ in _cell_groups(board):
        out.append(f'<p><img src="{plot_name(task, lang, split)}" alt="{esc(task)} ({esc(lang)})"></p>')
    out += [f"<script>{_JS.strip()}</script>", "</body>", "</html>", ""]
    return "\n".join(out)


# -- plots -----------------------------------------------------------------------------------

PLOT_STYLE = {
    "font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0, "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0, "ytick.labelsize": 7.0, "legend.fontsize": 7.0, "figure.dpi": 100.0,
    "savefig.dpi": 100.0, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "medbench",
}
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


@dataclass
class Plot:
    """A PNG to render on demand, identified by the hash of the data it shows."""

    spec: dict[str, Any]
    draw: Callable[[Any, dict[str, Any]], None]

    @property
    def digest(self) -> str:
        text = json.dumps({"version": PLOT_VERSION, **self.spec}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def render(self) -> bytes:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with matplotlib.rc_context():
            matplotlib.rcdefaults()  # a user's matplotlibrc must not change the bytes
            matplotlib.rcParams.update(PLOT_STYLE)
            fig = Figure(figsize=tuple(self.spec["size"]))
            FigureCanvasAgg(fig)
            self.draw(fig, self.spec)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", metadata={"Software": None, PNG_DATA_KEY: self.digest})
        return buf.getvalue()


def _bar_spec(title: str, groups: list[str], series: list[dict[str, Any]], xlabel: str) -> dict[str, Any]:
    return {"title": title, "groups": groups, "series": series, "xlabel": xlabel,
            "size": [7.0, round(1.1 + 0.32 * len(groups) * max(1, len(series)) ** 0.5 + 0.1 * len(series), 2)]}


def _draw_bars(fig: Any, spec: dict[str, Any]) -> None:
    """Horizontal grouped bars with interval whiskers; the first group on top."""
    ax = fig.add_subplot(1, 1, 1)
    groups, series = spec["groups"], spec["series"]
    height = 0.8 / max(1, len(series))
    lows = [0.0]
    for k, s in enumerate(series):
        ys = [i + (k - (len(series) - 1) / 2) * height for i in range(len(groups))]
        vals = [v if v is not None else 0.0 for v in s["values"]]
        ax.barh(ys, vals, height=height * 0.95, color=COLORS[k % len(COLORS)], label=s["label"])
        for y, v, ci, mark in zip(ys, s["values"], s["cis"], s.get("marks") or [""] * len(ys), strict=True):
            if v is None:
                ax.text(0.005, y, MISSING, va="center", fontsize=7)
                continue
            if ci is not None:
                ax.errorbar([v], [y], xerr=[[v - ci[0]], [ci[1] - v]], fmt="none", ecolor="#222222", capsize=2, lw=0.8)
                lows.append(ci[0])
            lows.append(v)
            hi = ci[1] if ci else v
            ax.text(hi + 0.01, y, f"{v:.3f}{mark}", va="center", fontsize=6.5)
    ax.set_yticks(range(len(groups)), labels=groups)
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, min(lows) - 0.05), 1.15)
    ax.set_xlabel(spec["xlabel"])
    ax.set_title(spec["title"], loc="left")
    ax.axvline(0, color="#888888", lw=0.6)
    if len(series) > 1:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(series), frameon=False, borderaxespad=0.2)
    fig.subplots_adjust(left=0.34, right=0.98, top=1 - 0.35 / spec["size"][1], bottom=0.45 / spec["size"][1])


def _ci(cell: Cell | None) -> list[float] | None:
    return [round(cell.ci[0], 4), round(cell.ci[1], 4)] if cell and cell.ci else None


def plots(board: Board) -> dict[str, Plot]:
    """One bar chart per task and language (every model, every score, 95% intervals), and one of
    the fine-tuned models beside their bases (main scores, * = p < 0.05)."""
    out: dict[str, Plot] = {}
    for task, lang, split, cols in _cell_groups(board):
        rows = [r for r in board.rows if any(c in r.cells for c in cols)]
        series = [{"label": TITLES[c.metric], "values": [_round(r.cells[c].value, 4) if c in r.cells else None for r in rows],
                   "cis": [_ci(r.cells.get(c)) for r in rows]} for c in cols]
        title = f"{task} ({lang}{', ' + split if split != 'test' else ''})"
        out[plot_name(task, lang, split)] = Plot(_bar_spec(title, [r.label for r in rows], series, "score (95% CI)"), _draw_bars)
    groups, base_vals, tuned_vals, base_cis, tuned_cis, marks = [], [], [], [], [], []
    for pair in board.pairs:
        if pair.base is None:
            continue
        for c in pair.comparisons:
            if not c.column.is_main:
                continue
            short = pair.tuned.name.split("/")[-1]
            groups.append(f"{short}: {c.column.task_label} ({c.column.language})")
            base_vals.append(_round(c.base, 4))
            tuned_vals.append(_round(c.tuned, 4))
            base_cis.append(_ci(pair.base.cells.get(c.column)))
            tuned_cis.append(_ci(pair.tuned.cells.get(c.column)))
            marks.append("*" if c.significant else "")
    if groups:
        series = [{"label": "base", "values": base_vals, "cis": base_cis},
                  {"label": "fine-tuned", "values": tuned_vals, "cis": tuned_cis, "marks": marks}]
        out[COMPARISON_PLOT] = Plot(_bar_spec("Fine-tuned vs base", groups, series,
                                              "main score: nDCG@10 / Spearman (95% CI); * = p < 0.05"), _draw_bars)
    return out


def png_text(data: bytes) -> dict[str, str]:
    """The tEXt entries of a PNG (empty for anything else)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return {}
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + length].partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        pos += 12 + length
    return out


# -- files -----------------------------------------------------------------------------------


def parse_formats(formats: Iterable[str]) -> list[str]:
    chosen: list[str] = []
    for f in formats:
        for part in str(f).split(","):
            part = part.strip().lower()
            if part == "all":
                chosen += FORMATS
            elif part in FORMATS:
                chosen.append(part)
            elif part:
                raise MedbenchError(f"unknown format {part!r}: expected all or one of {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in chosen] or list(FORMATS)


def render_files(board: Board, formats: Iterable[str] = FORMATS) -> dict[str, str | Plot]:
    """Every output file of the board: text, or a :class:`Plot` rendered when written."""
    renderers = {"md": render_markdown, "csv": render_csv, "json": render_json, "tex": render_tex, "html": render_html}
    chosen = parse_formats(formats)
    files: dict[str, str | Plot] = {FILE_NAMES[f]: renderers[f](board) for f in chosen}
    if "md" in chosen or "html" in chosen:  # the pages show the plots
        files.update(plots(board))
    return dict(sorted(files.items()))


def _up_to_date(path: Path, content: str | Plot) -> bool:
    if not path.is_file():
        return False
    if isinstance(content, Plot):
        return png_text(path.read_bytes()).get(PNG_DATA_KEY) == content.digest
    return path.read_bytes() == content.encode("utf-8")


@dataclass
class SyncReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # check mode: files that differ, are missing or are extra


def sync_files(out_dir: Path, files: dict[str, str | Plot], check: bool = False) -> SyncReport:
    """Write the files that changed (and remove plots no longer generated); in check mode only compare."""
    out_dir = Path(out_dir)
    report = SyncReport()
    has_plots = any(isinstance(c, Plot) for c in files.values())
    extra = sorted(
        f"{PLOTS_DIR}/{p.name}" for p in (out_dir / PLOTS_DIR).glob("*.png") if f"{PLOTS_DIR}/{p.name}" not in files
    ) if has_plots and (out_dir / PLOTS_DIR).is_dir() else []
    for rel, content in files.items():
        path = out_dir / rel
        if _up_to_date(path, content):
            report.unchanged.append(rel)
        elif check:
            report.stale.append(rel + ("" if path.exists() else " (missing)"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.render() if isinstance(content, Plot) else content.encode("utf-8")
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            report.written.append(rel)
    for rel in extra:
        if check:
            report.stale.append(rel + " (no longer generated)")
        else:
            (out_dir / rel).unlink()
            report.removed.append(rel)
    return report


@dataclass
class LeaderboardReport:
    board: Board
    out_dir: Path
    sync: SyncReport


def leaderboard(results_dirs: Sequence[Path | str] = ("results",), out_dir: Path | str = "leaderboard", *,
                formats: Iterable[str] = ("all",), check: bool = False, tasks_dirs: Sequence[Path | str] = (),
                include_builtin: bool = True, resamples: int = RESAMPLES) -> LeaderboardReport:
    """Build (or, with ``check``, verify) the leaderboard files from result folders.

    Args:
        results_dirs: Folders of ``<org__model>/<revision>/`` result folders (or folders holding ``results/``).
        out_dir: Where the files go (``README.md``, ``leaderboard.csv``/``.json``/``.tex``, ``index.html``, ``plots/``).
        formats: ``all`` or some of ``md``, ``csv``, ``json``, ``tex``, ``html``.
        check: Compare only; ``report.sync.stale`` lists the files that are out of date.
        tasks_dirs: Task folders besides the built-in suite (their languages and current data revisions).
        include_builtin: Read the built-in suite's task specs.
        resamples: Bootstrap resamples and permutations.

    Returns:
        The board and what was written (or found stale).

    Examples:
        >>> report = leaderboard(["results"], "leaderboard")          # doctest: +SKIP
        >>> [r.name for r in report.board.rows][:3]                    # doctest: +SKIP
    """
    from .tasks import discover

    models = load_results(results_dirs)
    if not models:
        raise MedbenchError(f"no results found in {', '.join(map(str, results_dirs))} (run `medbench run` first)")
    infos = task_infos(discover(list(tasks_dirs), include_builtin=include_builtin))
    board = build_board(models, infos, resamples)
    files = render_files(board, formats)
    return LeaderboardReport(board, Path(out_dir), sync_files(Path(out_dir), files, check=check))

"""Training data for a recipe: reading tasks' training splits and users' files, and the leakage check.

Rows are normalised to the column layouts sentence-transformers' losses expect:

- ``pairs``:    ``anchor``, ``positive``                (mnrl, cached_mnrl, gist)
- ``triplets``: ``anchor``, ``positive``, ``negative``  (the above, and triplet)
- ``scored``:   ``sentence1``, ``sentence2``, ``score`` in 0..1 (cosine)

Nothing here imports torch; :func:`to_dataset` imports ``datasets`` when called.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.tasks.data import TaskData
from medbench.errors import MedbenchError, ProblemCollector
from medbench.jsonl import iter_rows
from medbench.train.leakage import Overlap, find_overlaps
from medbench.train.recipe import DataSpec, PhaseSpec, Recipe

LAYOUTS = {
    "pairs": ("anchor", "positive"),
    "triplets": ("anchor", "positive", "negative"),
    "scored": ("sentence1", "sentence2", "score"),
}
#: Column names recognised in a file without ``columns:``, per role (first match wins).
AUTO_COLUMNS = {
    "anchor": ("anchor", "query", "question"),
    "positive": ("positive", "passage", "document", "answer"),
    "negative": ("negative", "hard_negative"),
    "sentence1": ("sentence1",),
    "sentence2": ("sentence2",),
    "score": ("score", "label"),
}


@dataclass
class TrainingSet:
    """One dataset of a phase, normalised.

    Attributes:
        name: Unique within its phase (a task name, or the file's stem).
        source: Where the rows come from, for people: a task's train file or the user's file.
        layout: ``pairs``, ``triplets`` or ``scored`` (see :data:`LAYOUTS`).
        rows: Normalised rows.
        row_numbers: 1-based row (line) of each row in its source file.
        language: Language of the texts, when known.
    """

    name: str
    source: str
    layout: str
    rows: list[dict[str, Any]]
    row_numbers: list[int]
    language: str | None = None
    spec: DataSpec | None = field(default=None, repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return LAYOUTS[self.layout]

    def sha256(self) -> str:
        """Hash of the rows as trained on (after sampling), in their column layout."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(json.dumps([row[c] for c in self.columns], ensure_ascii=False).encode() + b"\n")
        return digest.hexdigest()

    def subset(self, indices: Sequence[int], name: str | None = None) -> TrainingSet:
        return TrainingSet(name or self.name, self.source, self.layout, [self.rows[i] for i in indices],
                           [self.row_numbers[i] for i in indices], self.language, self.spec)


# -- reading -------------------------------------------------------------------------------------


def _task_train_file(task: TaskData, lang: str) -> Path:
    spec = task.spec
    template = spec.paths.get("train")
    if template is not None:
        return spec.folder / str(template).replace("{lang}", lang).replace("{split}", "train")
    return spec.language_dir(lang) / "train.jsonl"


def _from_task(spec: DataSpec, task: TaskData, problems: ProblemCollector, recipe_path: Path) -> list[TrainingSet]:
    langs = spec.languages or list(task.languages)
    out = []
    for lang in langs:
        if lang not in task.languages:
            problems.add(recipe_path, f"task {task.spec.name} has no language {lang!r} (it has {', '.join(task.languages)})",
                         line=spec.line, field=f"{spec.where}.languages")
            continue
        rows = task.languages[lang].train
        source = str(_task_train_file(task, lang))
        if not rows:
            problems.add(recipe_path, f"task {task.spec.name} has no training rows ({source} is missing or empty)",
                         line=spec.line, field=f"{spec.where}.task")
            continue
        name = task.spec.name if len(langs) == 1 else f"{task.spec.name}-{lang}"
        if task.spec.type == "retrieval":
            with_neg = all(isinstance(r.get("negative"), str) and r["negative"].strip() for r in rows)
            layout = "triplets" if with_neg else "pairs"
            norm = [{"anchor": r["query"], "positive": r["positive"], **({"negative": r["negative"]} if with_neg else {})}
                    for r in rows]
        else:
            low, high = task.spec.score_range
            layout = "scored"
            norm = [{"sentence1": r["sentence1"], "sentence2": r["sentence2"], "score": (float(r["score"]) - low) / (high - low)}
                    for r in rows]
        out.append(TrainingSet(name, source, layout, norm, list(range(1, len(norm) + 1)), lang, spec))
    return out


def _read_file_rows(path: Path, problems: ProblemCollector) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.add(path, f"cannot read: {exc.strerror or exc}")
        return []
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        problems.add(path, "not UTF-8 text; save the file as UTF-8", line=data[: exc.start].count(b"\n") + 1)
        return []
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            rows.append((reader.line_num, dict(row)))
        return rows
    rows.extend(iter_rows(path, data, problems=problems))
    return rows


def _auto_columns(names: Sequence[str]) -> dict[str, str] | None:
    present = set(names)
    found = {role: next((c for c in options if c in present), None) for role, options in AUTO_COLUMNS.items()}
    if found["sentence1"] and found["sentence2"] and found["score"]:
        return {r: found[r] for r in LAYOUTS["scored"]}  # type: ignore[misc]
    if found["anchor"] and found["positive"]:
        roles = LAYOUTS["triplets"] if found["negative"] else LAYOUTS["pairs"]
        return {r: found[r] for r in roles}  # type: ignore[misc]
    return None


def _from_file(spec: DataSpec, problems: ProblemCollector) -> list[TrainingSet]:
    assert spec.file is not None
    path = spec.file
    if not path.is_file():
        return []  # reported by the recipe check
    before = len(problems.problems)
    rows = _read_file_rows(path, problems)
    if not rows:
        if len(problems.problems) == before:
            problems.add(path, "no rows")
        return []
    columns = spec.columns or _auto_columns(list(rows[0][1]))
    if columns is None:
        problems.add(path, f"cannot tell the columns: found {sorted(rows[0][1])}; name them with columns: "
                           "{anchor: ..., positive: ...} or {sentence1: ..., sentence2: ..., score: ...}", line=rows[0][0])
        return []
    layout = next(k for k, v in LAYOUTS.items() if set(v) == set(columns))
    low, high = spec.score_range or (0.0, 1.0)
    norm: list[dict[str, Any]] = []
    numbers: list[int] = []
    for lineno, row in rows:
        out: dict[str, Any] = {}
        for role in LAYOUTS[layout]:
            col = columns[role]
            value = row.get(col)
            if role == "score":
                try:
                    score = float(value) if not isinstance(value, bool) and value not in (None, "") else math.nan
                except (TypeError, ValueError):
                    score = math.nan
                if not math.isfinite(score):
                    problems.add(path, f"score must be a number, got {value!r}", line=lineno, field=col)
                    break
                if not low <= score <= high:
                    problems.add(path, f"score {score:g} outside score_range [{low:g}, {high:g}]; set score_range: in the recipe",
                                 line=lineno, field=col)
                    break
                out[role] = (score - low) / (high - low)
            else:
                if value is None:
                    problems.add(path, f"missing column {col!r} (role {role})", line=lineno, field=col)
                    break
                if not isinstance(value, str) or not value.strip():
                    problems.add(path, f"expected a non-empty text, got {value!r}", line=lineno, field=col)
                    break
                out[role] = value
        else:
            norm.append(out)
            numbers.append(lineno)
    name = path.stem
    return [TrainingSet(name, str(path), layout, norm, numbers, spec.language, spec)]


def _sample(ts: TrainingSet, n: int | None, seed: int) -> TrainingSet:
    if n is None or n >= len(ts.rows):
        return ts
    keep = sorted(random.Random(seed).sample(range(len(ts.rows)), n))
    return ts.subset(keep)


def load_phase_data(recipe: Recipe, tasks: dict[str, TaskData]) -> list[list[TrainingSet]]:
    """Read every dataset of every phase, and check that each fits its phase's loss.

    Args:
        recipe: The validated recipe.
        tasks: Known tasks by name (built-in and user tasks).

    Returns:
        One list of training sets per phase.

    Raises:
        TaskFormatError: Every problem in the data files and every layout that does not fit a loss.
    """
    problems = ProblemCollector()
    phases: list[list[TrainingSet]] = []
    for phase in recipe.phases:
        sets: list[TrainingSet] = []
        for spec in phase.data:
            if spec.task is not None:
                task = tasks.get(spec.task)
                if task is None:
                    problems.add(recipe.path, f"unknown task {spec.task!r}", line=spec.line, field=f"{spec.where}.task")
                    continue
                found = _from_task(spec, task, problems, recipe.path)
            else:
                found = _from_file(spec, problems)
            sets += [_sample(ts, spec.max_samples, phase.training.seed) for ts in found]
        names = Counter(ts.name for ts in sets)
        seen: Counter[str] = Counter()
        for ts in sets:
            if names[ts.name] > 1:
                seen[ts.name] += 1
                ts.name = f"{ts.name}-{seen[ts.name]}"
            _check_layout(recipe, phase, ts, problems)
        phases.append(sets)
    problems.raise_if_any()
    return phases


def _check_layout(recipe: Recipe, phase: PhaseSpec, ts: TrainingSet, problems: ProblemCollector) -> None:
    loss = phase.loss.name
    layout = ts.layout
    if phase.mining is not None:
        if layout == "scored":
            problems.add(recipe.path, f"{ts.source}: hard-negative mining needs (anchor, positive) rows, got scored sentence pairs",
                         line=ts.spec.line if ts.spec else None, field=f"phases.{phase.index}.mine_hard_negatives")
            return
        layout = "triplets"
    if layout not in phase.loss.layouts:
        got = {"pairs": "(anchor, positive) pairs", "triplets": "(anchor, positive, negative) rows",
               "scored": "scored sentence pairs"}[ts.layout]
        problems.add(recipe.path, f"loss {loss} needs {phase.loss.needs()}; {ts.source} has {got}",
                     line=ts.spec.line if ts.spec else None, field=ts.spec.where if ts.spec else None)


def split_dev(ts: TrainingSet, fraction: float, seed: int) -> tuple[TrainingSet, TrainingSet | None]:
    """Hold out a seeded ``fraction`` of the rows (at least one, when there are two or more)."""
    n = len(ts.rows)
    k = min(n - 1, max(1, round(n * fraction)))
    if k < 1:
        return ts, None
    dev = set(random.Random(seed).sample(range(n), k))
    return ts.subset([i for i in range(n) if i not in dev]), ts.subset(sorted(dev))


def to_dataset(ts: TrainingSet) -> Any:
    """The rows as a ``datasets.Dataset`` with the loss's columns in order."""
    from datasets import Dataset

    return Dataset.from_dict({c: [r[c] for r in ts.rows] for c in ts.columns})


# -- leakage -------------------------------------------------------------------------------------


class LeakageError(MedbenchError):
    """Training texts repeat evaluation texts."""

    def __init__(self, message: str, overlaps: list[Overlap]):
        self.overlaps = overlaps
        super().__init__(message)


def evaluation_texts(tasks: Sequence[TaskData]) -> list[tuple[str, str]]:
    """``(source, text)`` of every query, passage and STS sentence of the tasks' evaluation splits."""
    out: list[tuple[str, str]] = []
    for task in tasks:
        for lang, ld in task.languages.items():
            where = task.spec.name if len(task.languages) == 1 else f"{task.spec.name}/{lang}"
            for qid, text in ld.queries.items():
                out.append((f"{where} query {qid}", text))
            for did, (_, text) in ld.corpus.items():
                out.append((f"{where} passage {did}", text))
            for split, pairs in ld.pairs.items():
                for i, (s1, s2, _) in enumerate(pairs, 1):
                    out.append((f"{where} {split} pair {i} sentence1", s1))
                    out.append((f"{where} {split} pair {i} sentence2", s2))
    return out


def training_texts(sets: Sequence[TrainingSet]) -> list[tuple[str, str]]:
    """``(source, text)`` of every distinct training text, the source naming file, row and column."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for ts in sets:
        for row, number in zip(ts.rows, ts.row_numbers, strict=True):
            for col in ts.columns:
                text = row[col]
                if col == "score" or text in seen:
                    continue
                seen.add(text)
                out.append((f"{ts.source} row {number} ({col})", text))
    return out


def check_leakage(sets: Sequence[TrainingSet], eval_tasks: Sequence[TaskData], *, allow: bool = False,
                  echo: Callable[[str], None] = lambda s: None, examples: int = 3) -> list[Overlap]:
    """Compare every training text with every evaluation text (exact and near-duplicate).

    Args:
        sets: All training sets of the recipe.
        eval_tasks: Every evaluation task (built-in and the user's).
        allow: Report overlaps but do not stop.
        echo: Where the report goes when ``allow`` is set.
        examples: How many examples to show.

    Returns:
        The overlaps found (empty when the data is clean).

    Raises:
        LeakageError: Overlaps were found and ``allow`` is False.
    """
    train = training_texts(sets)
    overlaps = find_overlaps(train, evaluation_texts(eval_tasks))
    if not overlaps:
        return []
    exact = sum(o.exact for o in overlaps)
    by_task = Counter(o.eval_source.split(" ")[0] for o in overlaps)
    lines = [
        f"{len(overlaps)} of {len(train)} distinct training texts repeat evaluation texts "
        f"({exact} exact, {len(overlaps) - exact} near-duplicate): "
        + ", ".join(f"{t} {n}" for t, n in sorted(by_task.items())),
    ]
    for o in overlaps[:examples]:
        kind = "exact" if o.exact else f"similarity {o.similarity:.2f}"
        lines.append(f"  {o.train_source} -> {o.eval_source} ({kind}): {_clip(o.train_text)}")
    if allow:
        echo("warning: " + "\n".join(lines) + "\n  (--allow-overlap: training anyway; scores on these tasks will overstate the model)")
        return overlaps
    lines.append("Remove these rows from the training data, or pass --allow-overlap to train anyway "
                 "(scores on those tasks would then overstate the model).")
    raise LeakageError("\n".join(lines), overlaps)


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[: n - 3] + "...")

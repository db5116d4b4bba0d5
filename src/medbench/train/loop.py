"""Fine-tune, then benchmark: base model scores, training, fine-tuned scores, and the difference.

:func:`compare_rows` is pure (rows in, rows out) so the table logic is tested without a model.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.tasks.data import TaskData
from medbench.evaluate import RunReport
from medbench.train.recipe import Recipe
from medbench.results import COLUMNS, Row

RESULT_ORG = "medbench"


@dataclass
class ScoreChange:
    """One task, language and split: base, fine-tuned and delta for each reported score.

    The loop's quick table; the leaderboard's :class:`medbench.leaderboard.model.Comparison` adds
    paired intervals and tests over the same queries or pairs (``medbench leaderboard``).
    """

    task: str
    language: str
    split: str
    base: dict[str, float]
    tuned: dict[str, float]

    @property
    def delta(self) -> dict[str, float]:
        return {k: self.tuned[k] - self.base[k] for k in COLUMNS if k in self.base and k in self.tuned}


def compare_rows(base: Sequence[Row], tuned: Sequence[Row]) -> list[ScoreChange]:
    """Pair the base model's rows with the fine-tuned model's, by task, language and split.

    A row present on one side only keeps empty scores on the other (no delta), so a task the
    fine-tuned run skipped is visible rather than silently dropped.

    Examples:
        >>> b = [Row("T", "Retrieval", "de", "test", {"nDCG@10": 0.5})]
        >>> t = [Row("T", "Retrieval", "de", "test", {"nDCG@10": 0.6})]
        >>> round(compare_rows(b, t)[0].delta["nDCG@10"], 3)
        0.1
    """
    out: dict[tuple[str, str, str], ScoreChange] = {}
    for side, rows in (("base", base), ("tuned", tuned)):
        for r in rows:
            key = (r.task, r.language, r.split)
            item = out.setdefault(key, ScoreChange(r.task, r.language, r.split, {}, {}))
            getattr(item, side).update(r.scores)
    return [out[k] for k in sorted(out)]


def format_comparison(rows: Sequence[ScoreChange], fmt: str = "github") -> str:
    """A table with one cell per score: ``base -> fine-tuned (delta)``, side by side for every task and language."""
    from tabulate import tabulate

    used = [c for c in COLUMNS if any(c in r.base or c in r.tuned for r in rows)]
    table = []
    for r in rows:
        delta = r.delta
        cells = []
        for c in used:
            b, t = r.base.get(c), r.tuned.get(c)
            if b is None and t is None:
                cells.append("")
            else:
                cells.append(f"{'-' if b is None else f'{b:.4f}'} -> {'-' if t is None else f'{t:.4f}'}"
                             + (f" ({delta[c]:+.4f})" if c in delta else ""))
        table.append([r.task, r.language, *cells])
    headers = ["Task", "Lang", *(f"{c} base -> tuned (Δ)" for c in used)]
    return tabulate(table, headers=headers, tablefmt=fmt, disable_numparse=True)


@dataclass
class LoopReport:
    base: RunReport
    tuned: RunReport
    train: Any  # medbench.train.TrainResult
    rows: list[ScoreChange] = field(default_factory=list)
    seconds: float = 0.0


def run_loop(
    recipe: Recipe,
    tasks: Sequence[TaskData],
    eval_tasks: Sequence[TaskData],
    *,
    models_dir: Path | str = "models",
    output_dir: Path | str = ".",
    languages: Sequence[str] | None = None,
    allow_overlap: bool = False,
    fresh: bool = False,
    device: str | None = None,
    threads: int | None = None,
    batch_size: int = 32,
    show_progress: bool = True,
    echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> LoopReport:
    """Evaluate the base model, train the recipe, evaluate the result, and compare.

    Stored results are reused (:func:`medbench.evaluate.run`): the base model is evaluated once
    per revision and task data, and the fine-tuned model gets a new revision whenever its weights change.

    Args:
        recipe: The validated recipe.
        tasks: Every known task (training data and leakage check).
        eval_tasks: The tasks to evaluate on.
        models_dir: Where the fine-tuned model goes.
        output_dir: The folder holding ``results/``.
        languages: Evaluate only these languages.

    Returns:
        Both runs, the training result and the comparison rows.
    """
    from medbench.evaluate import run as evaluate
    from medbench.models import resolve_model
    from medbench.train.trainer import train
    from medbench.train.data import check_leakage, load_phase_data

    start = time.perf_counter()
    prompts = recipe.prompts or {}
    base_ref = resolve_model(recipe.base_model, query_prompt=prompts.get("query"), document_prompt=prompts.get("document"))
    # the data and leakage checks take a second: a problem should not wait for the base model's evaluation
    phase_sets = load_phase_data(recipe, {t.spec.name: t for t in tasks})
    check_leakage([ts for sets in phase_sets for ts in sets], list(tasks), allow=allow_overlap)
    echo(f"== 1/3 evaluating the base model {base_ref.name} @ {base_ref.revision}")
    base = evaluate(base_ref, eval_tasks, output_dir=output_dir, languages=languages, batch_size=batch_size,
                    device=device, show_progress=show_progress, threads=threads, echo=echo)
    echo(f"== 2/3 training {recipe.name} from {recipe.base_model}")
    result = train(recipe, tasks, models_dir=models_dir, allow_overlap=allow_overlap, fresh=fresh, device=device,
                   threads=threads, show_progress=show_progress, echo=echo)
    tuned_ref = resolve_model(str(result.folder), name=f"{RESULT_ORG}/{recipe.name}")
    echo(f"== 3/3 evaluating the fine-tuned model {tuned_ref.name} @ {tuned_ref.revision}")
    tuned = evaluate(tuned_ref, eval_tasks, output_dir=output_dir, languages=languages, batch_size=batch_size,
                     device=device, show_progress=show_progress, threads=threads, echo=echo)
    return LoopReport(base, tuned, result, compare_rows(base.rows, tuned.rows), time.perf_counter() - start)

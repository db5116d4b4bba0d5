"""``medbench train`` and ``medbench loop``: thin click commands over :mod:`medbench.train` and :mod:`medbench.loop`.

``cli.py`` registers both commands. This module also runs on its own, which is how several
GPUs train one recipe (every process runs the same command; only rank 0 writes the model)::

    accelerate launch --multi_gpu --num_processes 4 -m medbench.cli.train train trainers/miracle-german.yaml
    torchrun --nproc_per_node 4 -m medbench.cli.train train trainers/miracle-german.yaml

Importing this module stays cheap: no torch, mteb or sentence-transformers at import time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, UserErrorGroup
from medbench.errors import MedbenchError


def _split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _common(f):  # type: ignore[no-untyped-def]
    """Options shared by train and loop."""
    options = [
        click.argument("recipe"),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a recipe value with a dotted key, e.g. training.max_steps=2 or "
                          "phases.0.training.learning_rate=1e-4 (repeatable)."),
        click.option("--allow-overlap", is_flag=True,
                     help="Train although training texts repeat evaluation texts (scores would overstate the model)."),
        click.option("--fresh", is_flag=True, help="Ignore checkpoints and an up-to-date model: train from the base again."),
        click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True,
                     help="Where models/<name>/ and its checkpoints go."),
        click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(path_type=Path),
                     help="Folder of your own tasks (repeatable; also MEDBENCH_TASKS_PATH): training data for "
                          "task: entries, and evaluation texts that training must not repeat."),
        click.option("--language", default="en", show_default=True,
                     help="Language of plain task folders without task.yaml."),
        click.option("--device", help="cpu, cuda or mps (default: CUDA when available)."),
        click.option("--threads", type=click.IntRange(1), help="Torch CPU threads (on 2 cores, 1 is often faster: measure)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command(context_settings=CONTEXT)
@_common
def train(recipe: str, overrides: tuple[str, ...], allow_overlap: bool, fresh: bool, models_dir: Path,
          tasks_dirs: tuple[Path, ...], language: str, device: str | None, threads: int | None, quiet: bool) -> None:
    """Fine-tune a model with a recipe and save it to models/<name>/.

    RECIPE is a YAML file or the name of a recipe in trainers/. Training texts are first checked
    against every evaluation task (exact and near-duplicate); a re-run resumes from the last
    checkpoint, and a model already trained with the same recipe and data is kept.

    \b
    Examples:
      medbench train cpu-quick
      medbench train trainers/mpnet-medical.yaml --set training.max_steps=2
      medbench train my-recipe.yaml --tasks-dir ./my_tasks --set phases.0.training.learning_rate=1e-4
      accelerate launch --multi_gpu --num_processes 4 -m medbench.cli.train train trainers/miracle-german.yaml
    """
    from medbench.train.trainer import prepare
    from medbench.train.trainer import train as run_train

    parsed, tasks = prepare(recipe, overrides, tasks_dirs, language)
    echo = lambda s: click.echo(s, err=True)  # noqa: E731
    result = run_train(parsed, tasks, models_dir=models_dir, allow_overlap=allow_overlap, fresh=fresh, device=device,
                       threads=threads, show_progress=not quiet, echo=echo)
    if not result.revision:  # another rank of a multi-process run: rank 0 reports
        return
    click.echo(f"\n{result.folder}  revision {result.revision}"
               + ("  (up to date, not retrained)" if result.up_to_date else f"  trained in {result.seconds:.0f}s"))
    click.echo(f"evaluate it: medbench run --model {result.folder} --name medbench/{parsed.name}")


@click.command(context_settings=CONTEXT)
@_common
@click.option("--tasks", "task_names", multiple=True, help="Evaluate on these tasks only (comma-separated or repeated).")
@click.option("--languages", multiple=True, help="Evaluate only these languages, e.g. de or de,en.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder that holds results/.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Encoding batch size.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def loop(recipe: str, overrides: tuple[str, ...], allow_overlap: bool, fresh: bool, models_dir: Path,
         tasks_dirs: tuple[Path, ...], language: str, device: str | None, threads: int | None, quiet: bool,
         task_names: tuple[str, ...], languages: tuple[str, ...], output_dir: Path, batch_size: int, fmt: str) -> None:
    """Evaluate the base model, fine-tune it with RECIPE, evaluate the result, print the difference.

    Prints base, fine-tuned and delta side by side for nDCG@10, Recall@5 and Spearman per task
    and language. Stored results are reused, so a second loop only evaluates what changed.

    \b
    Examples:
      medbench loop cpu-quick
      medbench loop trainers/cpu-quick.yaml --languages de --output-dir /tmp/loop-out --models-dir /tmp/loop-models
      medbench loop my-recipe.yaml --tasks-dir ./my_tasks --tasks WardNotesDE
    """
    from medbench.train.loop import format_comparison, run_loop
    from medbench.tasks import select, suggest
    from medbench.train.trainer import prepare

    parsed, tasks = prepare(recipe, overrides, tasks_dirs, language)
    names = _split_list(task_names)
    langs = _split_list(languages) or None
    chosen, unknown = select(tasks, names, langs)
    if unknown:
        raise MedbenchError(f"unknown task {unknown[0]!r}.{suggest(unknown[0], [t.spec.name for t in tasks])}")
    if not chosen:
        raise MedbenchError(f"no task matches languages {langs}" if langs else "no tasks to evaluate")
    report = run_loop(parsed, tasks, chosen, models_dir=models_dir, output_dir=output_dir, languages=langs,
                      allow_overlap=allow_overlap, fresh=fresh, device=device, threads=threads, batch_size=batch_size,
                      show_progress=not quiet, echo=lambda s: click.echo(s, err=True))
    if fmt == "json":
        click.echo(json.dumps({
            "base": report.base.model.describe(), "tuned": report.tuned.model.describe(),
            "model_folder": str(report.train.folder), "seconds": round(report.seconds, 1),
            "rows": [{"task": r.task, "language": r.language, "split": r.split, "base": r.base, "tuned": r.tuned,
                      "delta": r.delta} for r in report.rows],
        }, indent=2, ensure_ascii=False))
        return
    click.echo(f"\nbase  {report.base.model.name} @ {report.base.model.revision}")
    click.echo(f"tuned {report.tuned.model.name} @ {report.tuned.model.revision}  ({report.train.folder})")
    click.echo(format_comparison(report.rows))
    click.echo(f"\nloop finished in {report.seconds:.0f}s (training {report.train.seconds:.0f}s"
               + (", up to date" if report.train.up_to_date else "") + ")")


@click.group(cls=UserErrorGroup, context_settings=CONTEXT)
def main_group() -> None:
    """medbench training commands, for launchers that start Python modules (accelerate, torchrun).

    \b
    Examples:
      python -m medbench.cli.train train cpu-quick
      accelerate launch --multi_gpu --num_processes 4 -m medbench.cli.train train trainers/miracle-german.yaml
      torchrun --nproc_per_node 2 -m medbench.cli.train train trainers/miracle-german.yaml
    """


main_group.add_command(train)
main_group.add_command(loop)


def main() -> None:
    try:
        main_group()
    except KeyboardInterrupt:
        click.echo("\ninterrupted: checkpoints are kept; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

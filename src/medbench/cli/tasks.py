"""``medbench tasks``: list and validate task folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, language_option, tasks_dir_option


@click.group(context_settings=CONTEXT)
def tasks() -> None:
    """List and check tasks.

    \b
    Examples:
      medbench tasks list --format json
      medbench tasks validate tasks/my-task
    """


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
    from medbench.tasks import discover, env_tasks_dirs

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
    from medbench.tasks import discover

    found = discover(list(paths), include_builtin=False, language=language)
    for t in found:
        sizes = "; ".join(
            f"{split}/{lang}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
            for split, per_lang in t.stats().items() for lang, counts in per_lang.items()
        )
        click.echo(f"ok  {t.spec.name} ({t.spec.type}) {sizes}  revision {t.revision}")

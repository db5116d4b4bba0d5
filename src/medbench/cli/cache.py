"""``medbench cache info | clear``: the embedding cache (:mod:`medbench.models.cache`)."""

from __future__ import annotations

import click

from medbench.cli._util import CONTEXT


@click.group(context_settings=CONTEXT)
def cache() -> None:
    """The embedding cache: vectors reused across runs, per model revision.

    Its folder is $MEDBENCH_CACHE (default ~/.cache/medbench/embeddings). `medbench run --no-cache`
    neither reads nor writes it.

    \b
    Examples:
      medbench cache info
      medbench cache clear --model sentence-transformers/all-MiniLM-L6-v2
    """


@cache.command()
def info() -> None:
    """Where the cache is and what it holds, per model revision.

    \b
    Examples:
      medbench cache info
      MEDBENCH_CACHE=/data/medbench-cache medbench cache info
    """
    from tabulate import tabulate

    from medbench.models.cache import cache_root, info as cache_info

    entries = cache_info()
    click.echo(f"embedding cache: {cache_root()}")
    if not entries:
        click.echo("(empty)")
        return
    click.echo(tabulate([[e.model, e.revision, e.vectors, e.shards, f"{e.bytes / 2**20:.1f}"] for e in entries],
                        headers=["Model", "Revision", "Vectors", "Shards", "MB"], tablefmt="github"))
    click.echo(f"\n{sum(e.vectors for e in entries)} vectors, {sum(e.bytes for e in entries) / 2**20:.1f} MB")


@cache.command()
@click.option("--model", "-m", help="Only this model's vectors (all its revisions).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
def clear(model: str | None, yes: bool) -> None:
    """Remove stored vectors (all, or one model's).

    \b
    Examples:
      medbench cache clear
      medbench cache clear --model sentence-transformers/all-MiniLM-L6-v2 --yes
    """
    from medbench.models.cache import cache_root, clear as cache_clear

    what = f"the cached vectors of {model}" if model else f"every cached vector in {cache_root()}"
    if not yes:
        click.confirm(f"Remove {what}?", abort=True)
    removed = cache_clear(model)
    click.echo(f"removed {removed} model revision(s)" + ("" if removed else " (nothing was cached)"))

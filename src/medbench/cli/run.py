"""``medbench run``: evaluate one encoder on the tasks and print the table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, quiet_progress, split_list, tasks_dir_option
from medbench.errors import MedbenchError


@click.command(context_settings=CONTEXT)
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
@click.option("--no-cache", is_flag=True, help="Encode every text afresh: neither read nor write the embedding cache "
              "($MEDBENCH_CACHE, default ~/.cache/medbench/embeddings; `medbench cache info`).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", help="cpu, cuda, cuda:1, mps... (default: automatic).")
@click.option("--devices", help="Encode with one process per device, e.g. cuda:0,cuda:1 (or cpu,cpu): "
              "sentence-transformers' multi-process pool; the scores are those of one device.")
@click.option("--threads", type=click.IntRange(1), help="Torch CPU threads (default: torch's; on 2 cores two threads measured faster, see README).")
@click.option("--corpus-chunk-size", type=click.IntRange(1), help="Passages encoded and scored at once in exact "
              "search (mteb's corpus_chunk_size, default 50000): memory holds one chunk's vectors and scores.")
@click.option("--top-k", type=click.IntRange(10), help="Passages kept per query (default mteb's 1000). Results with "
              "another value are stored under '<revision>+k<N>'; >= 100 keeps every score medbench reports exact.")
@click.option("--index", type=click.Choice(["exact", "hnsw"]), default="exact", show_default=True,
              help="hnsw: an approximate HNSW index (usearch) for very large corpora; results are stored under "
              "'<revision>+hnsw', apart from exact ones.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def run(model: str, name: str | None, task_names: tuple[str, ...], tasks_dirs: tuple[Path, ...],
        languages: tuple[str, ...], language: str, output_dir: Path, query_prompt: str | None,
        document_prompt: str | None, overwrite: bool, no_cache: bool, batch_size: int, device: str | None, devices: str | None,
        threads: int | None, corpus_chunk_size: int | None, top_k: int | None, index: str, fmt: str,
        quiet: bool) -> None:
    """Evaluate one encoder on the tasks and store MTEB-format results under results/.

    Prints nDCG@10 and Recall@5 per retrieval task and language, cosine Spearman per STS task
    and language. A result stored for the same model revision and task data is reused.

    \b
    Examples:
      medbench run --model sentence-transformers/all-MiniLM-L6-v2
      medbench run --model ./models/my-finetune --tasks-dir ./my_tasks --languages de
      medbench run --model intfloat/multilingual-e5-small --tasks MedbenchSTSDE,SciFact
      medbench run --tasks-dir ../beir/scifact --language en
      medbench run --model intfloat/multilingual-e5-large --devices cuda:0,cuda:1
      medbench run --model minilm --tasks-dir ./big_corpus --corpus-chunk-size 20000 --index hnsw
    """
    from medbench.evaluate import run as run_tasks
    from medbench.search import SearchSettings
    from medbench.models import resolve_model
    from medbench.results import format_table
    from medbench.tasks import discover, env_tasks_dirs, select, suggest

    names = split_list(task_names)
    langs = split_list(languages) or None
    dirs = [*env_tasks_dirs(), *tasks_dirs]
    device_list = split_list((devices,)) if devices else None
    if device is not None and device_list:
        raise MedbenchError("give --device (one device) or --devices (several), not both")
    if device_list and len(device_list) < 2:
        raise MedbenchError(f"--devices needs two or more devices (e.g. cuda:0,cuda:1), got {devices!r}; for one, use --device")
    for d in ([device] if device is not None else []) + (device_list or []):
        from medbench.models import check_device

        check_device(d)
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
                       threads=threads, cache=not no_cache, devices=device_list,
                       search=SearchSettings(corpus_chunk_size=corpus_chunk_size, top_k=top_k, index=index),
                       echo=lambda s: click.echo(s, err=True))
    if fmt == "json":
        click.echo(json.dumps({
            "model": report.model.describe(), "seconds": round(report.seconds, 3), "ran": report.ran, "cached": report.cached,
            "skipped": report.skipped,
            "rows": [r.__dict__ for r in report.rows],
        }, indent=2, ensure_ascii=False))
        return
    click.echo(f"\n{report.model.name} @ {report.model.revision}" + (f"  prompts {ref.prompts}" if ref.prompts else ""))
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

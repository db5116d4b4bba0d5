"""Run tasks on one model through ``mteb.evaluate`` and store MTEB-format results.

A task whose stored result already covers the same model revision and the same task data
(content hash) is not run again, and when every task is stored no model is loaded at all.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, per_item
from .data import TaskData
from .errors import MedbenchError
from ._process import quiet_library_notices, torch_threads
from .models import ModelRef, load_model, portable_location, portable_path
from .results import Row, is_complete, model_dir, read_result, result_path, rows_from_result
from .tasks import filter_languages, to_mteb_task

log = logging.getLogger(__name__)
RUN_LOG = "medbench_runs.jsonl"  # not *.json: mteb's ResultCache reads every *.json as a task result


@dataclass
class RunReport:
    """What a run did: the rows of its table and how long the parts took."""

    model: ModelRef
    rows: list[Row] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why
    seconds: float = 0.0
    model_load_seconds: float = 0.0


def _subsets(data: TaskData, languages: Sequence[str] | None) -> list[str]:
    if not data.spec.multilingual:
        return ["default"]
    return [lang for lang in data.spec.languages if not languages or lang in languages]


def _subset_language(data: TaskData) -> dict[str, str]:
    return {lang: lang for lang in data.spec.languages} if data.spec.multilingual else {"default": data.spec.languages[0]}


def _result_cache(output_dir: Path) -> Any:
    import mteb

    return mteb.ResultCache(cache_path=output_dir)


def run(
    ref: ModelRef,
    tasks: Sequence[TaskData],
    *,
    mteb_task_names: Sequence[str] = (),
    output_dir: Path | str = ".",
    languages: Sequence[str] | None = None,
    overwrite: bool = False,
    batch_size: int = 32,
    device: str | None = None,
    show_progress: bool = True,
    threads: int | None = None,
    echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> RunReport:
    """Evaluate one model on medbench tasks (and optionally mteb's own tasks).

    Results land in ``<output_dir>/results/<org__model>/<revision>/<Task>.json``, written by
    mteb itself, one file per task as soon as that task finishes.

    Args:
        ref: The resolved model (see :func:`medbench.models.resolve_model`).
        tasks: Checked medbench tasks.
        mteb_task_names: Names of mteb's own tasks to run as well (their data comes from the hub).
        output_dir: Folder that holds ``results/``.
        languages: Only these languages (e.g. ``["de"]``).
        overwrite: Run again even when a stored result matches.
        batch_size: Encoding batch size.
        device: ``cpu``, ``cuda``...; automatic when None.
        show_progress: Show progress bars while encoding.
        threads: Torch CPU threads; torch's default when None.
        echo: Where progress lines go.

    Returns:
        The table rows and what was run or reused.
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    results_dir = output_dir / "results"
    report = RunReport(model=ref)
    pending: list[TaskData] = []
    for data in tasks:
        if ref.is_bm25 and data.spec.type != "retrieval":
            report.skipped[data.spec.name] = "BM25 ranks documents; it has no sentence similarity for STS"
            continue
        stored = read_result(result_path(results_dir, ref.name, ref.revision, data.spec.name)) if ref.revision else None
        if not overwrite and is_complete(stored, data.revision, data.spec.splits, _subsets(data, languages)):
            report.cached.append(data.spec.name)
            report.rows += _rows(stored, data, languages, cached=True)
        else:
            pending.append(data)
    if not pending and not mteb_task_names:
        report.seconds = time.perf_counter() - start
        return report

    with quiet_library_notices(), torch_threads(threads):
        _run_pending(report, ref, pending, mteb_task_names, output_dir, results_dir, languages, overwrite,
                     batch_size, device, show_progress, echo)
    report.seconds = time.perf_counter() - start
    return report


def _run_pending(report: RunReport, ref: ModelRef, pending: Sequence[TaskData], mteb_task_names: Sequence[str],
                 output_dir: Path, results_dir: Path, languages: Sequence[str] | None, overwrite: bool,
                 batch_size: int, device: str | None, show_progress: bool, echo: Callable[[str], None]) -> None:
    """Load the model once and evaluate the tasks without a usable stored result."""
    import mteb

    t0 = time.perf_counter()
    echo(f"Loading model {ref.name} ({ref.source}: {portable_location(ref)})")
    model = load_model(ref, device=device, echo=echo)
    report.model_load_seconds = time.perf_counter() - t0
    cache = _result_cache(output_dir)
    jobs: list[tuple[str, Any, TaskData | None]] = [
        (d.spec.name, filter_languages(to_mteb_task(d), d, languages), d) for d in pending
    ]
    jobs += [(name, _mteb_task(name, languages), None) for name in mteb_task_names]
    for i, (name, task, data) in enumerate(jobs, 1):
        echo(f"[{i}/{len(jobs)}] {name}")
        strategy = "only-missing"
        if data is not None:
            stored = read_result(result_path(results_dir, ref.name, ref.revision, name))
            # same data: mteb merges the missing languages in; changed data: the old result is replaced
            if overwrite or not stored or stored.get("dataset_revision") != data.revision:
                strategy = "always"
        with tempfile.TemporaryDirectory(prefix="medbench-pred-") as tmp:  # removed also when a task raises
            predictions = Path(tmp)
            try:
                result = mteb.evaluate(
                    model, task, cache=cache, overwrite_strategy=strategy,
                    encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress},
                    show_progress_bar=False, prediction_folder=predictions if data is not None else None,
                )
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if data is None:
                    raise MedbenchError(
                        f"could not run mteb task {name!r}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                        "mteb's own tasks download their data from the Hugging Face hub; offline, give the data as a "
                        "task folder with --tasks-dir instead."
                    ) from None
                raise
            if data is not None:
                per_item.write(model_dir(results_dir, ref.name, ref.revision), data,
                               predictions / f"{name}_predictions.json")
        _log_run(results_dir, ref, name)
        report.ran.append(name)
        for task_result in result.task_results:
            stored = read_result(result_path(results_dir, ref.name, ref.revision, task_result.task_name))
            if stored is None:  # cache=None or a write failure: fall back to the in-memory result
                stored = json.loads(task_result.model_dump_json())
            if data is not None:
                report.rows += _rows(stored, data, languages)
            else:
                report.rows += rows_from_result(stored, task.metadata.type)


def _rows(stored: dict[str, Any], data: TaskData, languages: Sequence[str] | None, cached: bool = False) -> list[Row]:
    ttype = "Retrieval" if data.spec.type == "retrieval" else "STS"
    rows = rows_from_result(stored, ttype, _subset_language(data), cached=cached)
    return [r for r in rows if r.split in data.spec.splits and (not languages or r.language in languages)]


def _mteb_task(name: str, languages: Sequence[str] | None) -> Any:
    import mteb

    try:
        task = mteb.get_task(name)
    except Exception as exc:
        raise MedbenchError(f"unknown task {name!r}: not a medbench task and not an mteb task ({str(exc).splitlines()[0]})") from None
    if languages:
        from .spec import LANGUAGES

        try:
            task = task.filter_languages([LANGUAGES.get(lang, lang).split("-")[0] for lang in languages])
        except ValueError:
            raise MedbenchError(f"mteb task {name!r} has no data in the languages {list(languages)}") from None
    return task


def _log_run(results_dir: Path, ref: ModelRef, task: str) -> None:
    """Record how the model was run (source, prompts) beside mteb's files."""
    folder = model_dir(results_dir, ref.name, ref.revision)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "task": task,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "medbench_version": __version__,
        "model": ref.describe(),
    }
    card = Path(ref.location) / "medbench.json" if ref.source == "local" else None
    if card is not None and card.is_file():  # a fine-tuned model: keep its lineage with the results
        info = json.loads(card.read_text(encoding="utf-8"))
        entry["finetune"] = {k: info.get(k) for k in ("name", "base_model", "base_revision", "revision")}
        entry["finetune"]["recipe_file"] = portable_path(info.get("recipe_file"))
    with (folder / RUN_LOG).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

"""Run tasks on one model through ``mteb.evaluate`` and store MTEB-format results.

A task whose stored result already covers the same model revision and the same task data
(content hash) is not run again, and when every task is stored no model is loaded at all.
"""

from __future__ import annotations

import dataclasses

import datetime as _dt
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__, per_item, store
from medbench.tasks.data import TaskData
from medbench.errors import MedbenchError
from medbench._process import quiet_library_notices, torch_threads
from medbench.models import ModelRef, load_model, portable_location, portable_path
from medbench.models.load import close_model, encode_progress
from medbench.search import SearchSettings, search_model
from medbench.results import FINETUNE_CARD, Row, read_result, result_path, rows_from_result
from medbench.tasks import filter_languages, to_mteb_task



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
    cache: bool = True,
    devices: Sequence[str] | None = None,
    search: SearchSettings | None = None,
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
        cache: Reuse and store vectors in the embedding cache (:mod:`medbench.models.cache`).
        devices: Encode with one process per device (two or more, e.g. ``["cuda:0", "cuda:1"]``).
        search: Corpus chunk size, passages kept per query and exact or approximate search
            (:mod:`medbench.search`); results of an approximate index or another ``top_k`` are stored
            under the revision with a suffix (``+hnsw``, ``+k100``).
        echo: Where progress lines go.

    Returns:
        The table rows and what was run or reused.
    """
    start = time.perf_counter()
    search = search or SearchSettings()
    variant = search.variant(bm25=ref.is_bm25)
    if variant and ref.revision:
        ref = dataclasses.replace(ref, revision=f"{ref.revision}+{variant}")
    output_dir = Path(output_dir)
    results_dir = output_dir / "results"
    report = RunReport(model=ref)
    pending: list[TaskData] = []
    for data in tasks:
        if ref.is_bm25 and data.spec.type != "retrieval":
            report.skipped[data.spec.name] = "BM25 ranks documents; it has no sentence similarity for STS"
            continue
        stored = None if overwrite else _complete(results_dir, ref, data, languages)
        if stored is not None:
            report.cached.append(data.spec.name)
            report.rows += _rows(stored, data, languages, cached=True)
        else:
            pending.append(data)
    if not pending and not mteb_task_names:
        report.seconds = time.perf_counter() - start
        return report
    store.check_writable(results_dir)
    with quiet_library_notices(), torch_threads(threads):
        runner = _Runner(report, ref, output_dir, languages, batch_size, device, show_progress, echo, cache, devices, search)
        try:
            for i, data in enumerate(pending, 1):
                echo(f"[{i}/{len(pending) + len(mteb_task_names)}] {data.spec.name}")
                runner.medbench_task(data, overwrite)
            for j, name in enumerate(mteb_task_names, len(pending) + 1):
                echo(f"[{j}/{len(pending) + len(mteb_task_names)}] {name}")
                runner.mteb_task(name)
        finally:
            runner.close()
    report.seconds = time.perf_counter() - start
    return report


def _complete(results_dir: Path, ref: ModelRef, data: TaskData, languages: Sequence[str] | None) -> dict[str, Any] | None:
    return store.complete_result(results_dir, ref.name, ref.revision, data.spec.name, data.revision, data.spec.splits,
                                 _subsets(data, languages))


class _Runner:
    """Evaluates tasks one by one; loads the model on the first task that needs it, not before."""

    def __init__(self, report: RunReport, ref: ModelRef, output_dir: Path, languages: Sequence[str] | None,
                 batch_size: int, device: str | None, show_progress: bool, echo: Callable[[str], None],
                 cache: bool = True, devices: Sequence[str] | None = None, search: SearchSettings | None = None) -> None:
        self.report, self.ref, self.output_dir, self.languages = report, ref, output_dir, languages
        self.cache, self.devices = cache, list(devices) if devices else None
        self.search = search or SearchSettings()
        self.results_dir = output_dir / "results"
        self.encode_kwargs = {"batch_size": batch_size, "show_progress_bar": show_progress}
        self.device, self.echo = device, echo
        self._model: Any = None
        if not ref.revision:  # an unregistered hub model: its revision is known once loaded
            self.model()
            if self.search.variant(bm25=ref.is_bm25):
                ref.revision = f"{ref.revision}+{self.search.variant(bm25=ref.is_bm25)}"

    def model(self) -> Any:
        if self._model is None:
            t0 = time.perf_counter()
            self.echo(f"Loading model {self.ref.name} ({self.ref.source}: {portable_location(self.ref)})")
            self._model = load_model(self.ref, device=self.device, echo=self.echo, cache=self.cache, devices=self.devices)
            self.report.model_load_seconds = time.perf_counter() - t0
        return self._model

    def close(self) -> None:
        if self._model is not None:
            close_model(self._model)

    def medbench_task(self, data: TaskData, overwrite: bool) -> None:
        import mteb

        ref, name = self.ref, data.spec.name
        path = result_path(self.results_dir, ref.name, ref.revision, name)
        seen = _stamp(path)
        with store.task_lock(self.output_dir, ref.name, ref.revision, name, self.echo):
            stored = _complete(self.results_dir, ref, data, self.languages)
            if stored is not None and (not overwrite or _stamp(path) != seen):  # another run finished it meanwhile
                self.report.cached.append(name)
                self.report.rows += _rows(stored, data, self.languages, cached=True)
                return
            old = read_result(path)
            # same data: mteb adds the missing languages to the stored result; changed data: it is replaced
            keep = not overwrite and old is not None and old.get("dataset_revision") == data.revision \
                and store.parts_complete(self.results_dir, ref.name, ref.revision, name, old)
            task = filter_languages(to_mteb_task(data), data, self.languages)
            searcher = self.model()
            if data.spec.type == "retrieval":
                if self.search.top_k:
                    task._top_k = self.search.top_k  # mteb keeps max(k_values) = 1000 per query by default
                searcher = search_model(searcher, corpus_chunk_size=self.search.corpus_chunk_size, index=self.search.index)
            with store.staging(self.output_dir, self.results_dir, ref.name, ref.revision, name, keep_result=keep) as staged, \
                    tempfile.TemporaryDirectory(prefix="medbench-pred-") as predictions:
                with encode_progress(_texts_to_encode(data, self.languages), f"{name}: encoding",
                                     enabled=bool(self.encode_kwargs["show_progress_bar"]) and not ref.is_bm25):
                    mteb.evaluate(searcher, task, cache=mteb.ResultCache(cache_path=staged),
                                  overwrite_strategy="only-missing" if keep else "always", encode_kwargs=self.encode_kwargs,
                                  show_progress_bar=False, prediction_folder=Path(predictions))
                prediction_file = Path(predictions) / f"{name}_predictions.json"
                store.commit(self.results_dir, staged, ref.name, ref.revision, name,
                             lambda folder: per_item.write(folder, data, prediction_file), _log_entry(ref, name),
                             after_step=_after_commit_step)
        self.report.ran.append(name)
        self.report.rows += _rows(read_result(path) or {}, data, self.languages)

    def mteb_task(self, name: str) -> None:
        import mteb

        task = _mteb_task(name, self.languages)
        try:
            result = mteb.evaluate(self.model(), task, cache=mteb.ResultCache(cache_path=self.output_dir),
                                   overwrite_strategy="only-missing", encode_kwargs=self.encode_kwargs,
                                   show_progress_bar=False)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            raise MedbenchError(
                f"could not run mteb task {name!r}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                "mteb's own tasks download their data from the Hugging Face hub; offline, give the data as a "
                "task folder with --tasks-dir instead."
            ) from None
        self.report.ran.append(name)
        for task_result in result.task_results:
            stored = read_result(result_path(self.results_dir, self.ref.name, self.ref.revision, task_result.task_name))
            if stored is None:
                stored = json.loads(task_result.model_dump_json())
            self.report.rows += rows_from_result(stored, task.metadata.type)


def _texts_to_encode(data: TaskData, languages: Sequence[str] | None) -> int:
    """How many texts mteb sends to the encoder for this task: queries and corpus, or both sides of each pair."""
    total = 0
    for lang, ld in data.languages.items():
        if languages and lang not in languages:
            continue
        if data.spec.type == "retrieval":
            total += sum(len([q for q in ld.queries if q in qrels]) + len(ld.corpus) for qrels in ld.qrels.values())
        else:
            total += sum(2 * len(pairs) for pairs in ld.pairs.values())
    return total


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _after_commit_step(step: str) -> None:
    """Called after each step of writing a result (the tests kill the process here)."""

def _rows(stored: dict[str, Any], data: TaskData, languages: Sequence[str] | None, cached: bool = False) -> list[Row]:
    rows = rows_from_result(stored, data.mteb_type, data.subset_languages, cached=cached)
    return [r for r in rows if r.split in data.spec.splits and (not languages or r.language in languages)]


def _mteb_task(name: str, languages: Sequence[str] | None) -> Any:
    import mteb

    try:
        task = mteb.get_task(name)
    except Exception as exc:
        raise MedbenchError(f"unknown task {name!r}: not a medbench task and not an mteb task ({str(exc).splitlines()[0]})") from None
    if languages:
        from medbench.tasks.spec import LANGUAGES

        try:
            task = task.filter_languages([LANGUAGES.get(lang, lang).split("-")[0] for lang in languages])
        except ValueError:
            raise MedbenchError(f"mteb task {name!r} has no data in the languages {list(languages)}") from None
    return task


def _log_entry(ref: ModelRef, task: str) -> dict[str, Any]:
    """The run-log line of one task: how the model was run (source, loader, prompts) and its lineage."""
    entry: dict[str, Any] = {
        "task": task,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "medbench_version": __version__,
        "model": ref.describe(),
    }
    card = Path(ref.location) / FINETUNE_CARD if ref.source == "local" else None
    if card is not None and card.is_file():  # a fine-tuned model: keep its lineage with the results
        info = json.loads(card.read_text(encoding="utf-8"))
        entry["finetune"] = {k: info.get(k) for k in ("name", "base_model", "base_revision", "revision")}
        entry["finetune"]["recipe_file"] = portable_path(info.get("recipe_file"))
    return entry

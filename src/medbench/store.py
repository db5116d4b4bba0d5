"""The result store: complete results only, written so that a kill at any instant loses nothing.

A medbench result of one task is four things in ``results/<org__model>/<revision>/``: mteb's
``<Task>.json``, the per-item scores ``per_item/<Task>.jsonl``, a line of the run log
``medbench_runs.jsonl`` (how the model was run, its lineage), and mteb's ``model_meta.json`` and
``run_settings.jsonl``. mteb writes into a staging folder; :func:`commit` then moves each file into
place with an atomic rename, ``<Task>.json`` last, so a kill at any instant leaves either the old
state or the new one. A result counts (:func:`complete_result`) only when all of its parts are
there; anything less is treated as absent and computed again.

Two runs on the same output folder take a lock per model revision and task (:func:`task_lock`):
the second waits, then finds the first one's result and reuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from medbench import per_item
from medbench.errors import MedbenchError
from medbench.jsonl import iter_rows
from medbench.results import RUN_LOG, is_complete, model_dir, read_result, result_path

WORK_DIR = ".medbench-work"  # beside results/: staging folders and locks (same file system, so renames are atomic)
MTEB_FILES = ("model_meta.json", "run_settings.jsonl")


def check_writable(folder: Path, what: str = "results", option: str = "--output-dir") -> None:
    """Fail before any work when ``folder`` could not be created or written; creates nothing.

    A clear message and no traceback for a user mistake: an existing file in the way, a folder
    without write permission, a read-only file system.
    """
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    else:
        try:
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".medbench-write-check-"):
                pass
        except OSError as exc:
            problem = f"{existing}: {exc.strerror or exc}"
    if problem:
        raise MedbenchError(f"cannot write {what} to {folder}: {problem}. Choose another folder with {option}.")


def run_log_tasks(revision_dir: Path) -> set[str]:
    """Tasks that the run log of one model revision records (a damaged line is skipped)."""
    log = revision_dir / RUN_LOG
    if not log.is_file():
        return set()
    return {row["task"] for _, row in iter_rows(log, skip_damaged=True) if isinstance(row.get("task"), str)}


def per_item_subsets(revision_dir: Path, task: str) -> set[tuple[str, str]]:
    """(split, subset) pairs that a task's per-item file holds."""
    path = per_item.per_item_path(revision_dir, task)
    if not path.is_file():
        return set()
    try:
        return {(r["split"], r["subset"]) for r in per_item.read(path)}
    except (MedbenchError, KeyError, TypeError):  # a damaged file is an incomplete result
        return set()


def complete_result(results_dir: Path, name: str, revision: str, task: str, data_revision: str,
                    splits: Sequence[str], subsets: Sequence[str]) -> dict[str, Any] | None:
    """The stored result of ``task`` when every part of it is there for this data, else None."""
    if not revision:
        return None
    stored = read_result(result_path(results_dir, name, revision, task))
    if not is_complete(stored, data_revision, list(splits), list(subsets)):
        return None
    folder = model_dir(results_dir, name, revision)
    if task not in run_log_tasks(folder):
        return None
    if not {(s, sub) for s in splits for sub in subsets} <= per_item_subsets(folder, task):
        return None
    return stored


def parts_complete(results_dir: Path, name: str, revision: str, task: str, stored: dict[str, Any]) -> bool:
    """Whether per-item scores and a run-log line exist for every split and subset that ``stored`` holds."""
    folder = model_dir(results_dir, name, revision)
    held = {(split, e.get("hf_subset")) for split, entries in stored.get("scores", {}).items() for e in entries}
    return task in run_log_tasks(folder) and held <= per_item_subsets(folder, task)


@contextlib.contextmanager
def task_lock(output_dir: Path, name: str, revision: str, task: str, echo: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of one model revision and task; a second run waits here until the first is done."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, as before
        yield
        return
    locks = Path(output_dir) / WORK_DIR / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{name.replace('/', '__')}__{revision}__{task}.lock"
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(f"  waiting: another run is computing {task} for this model revision")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging(output_dir: Path, results_dir: Path, name: str, revision: str, task: str, *, keep_result: bool) -> Iterator[Path]:
    """A private results folder for mteb to write one task into; removed afterwards, whatever happens.

    It starts with the model's current ``model_meta.json`` and ``run_settings.jsonl`` (and, when
    ``keep_result``, the stored ``<Task>.json``, so that mteb adds the missing languages to it).
    """
    work = Path(output_dir) / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{task}-", dir=work))
    try:
        src = model_dir(results_dir, name, revision)
        dst = model_dir(folder / "results", name, revision)
        dst.mkdir(parents=True, exist_ok=True)
        for fname in (*MTEB_FILES, *((f"{task}.json",) if keep_result else ())):
            if (src / fname).is_file():
                shutil.copy2(src / fname, dst / fname)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` over ``dst`` atomically (flushed to disk first)."""
    with src.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(src, dst)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    _replace(tmp, path)


def commit(results_dir: Path, staged: Path, name: str, revision: str, task: str,
           write_per_item: Callable[[Path], Any] | None, log_entry: dict[str, Any],
           after_step: Callable[[str], None] = lambda step: None) -> None:
    """Move one task's result from the staging folder into ``results/``, the result file last.

    Args:
        results_dir: The ``results/`` folder.
        staged: The staging folder mteb wrote into (see :func:`staging`).
        name: Result name of the model.
        revision: Model revision.
        task: Task name.
        write_per_item: Writes ``per_item/<Task>.jsonl`` into the given revision folder (atomically).
        log_entry: The run-log line for this task.
        after_step: Called after each step (tests kill the process there).
    """
    folder = model_dir(results_dir, name, revision)
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted((staged / "results").glob(f"*/*/{task}.json"))
    staged_dir = found[0].parent if found else model_dir(staged / "results", name, revision)
    if write_per_item is not None:
        write_per_item(folder)
    after_step("per_item")
    for fname in MTEB_FILES:
        if (staged_dir / fname).is_file():
            _replace(staged_dir / fname, folder / fname)
    after_step("mteb_files")
    log = folder / RUN_LOG
    before = log.read_text(encoding="utf-8") if log.is_file() else ""
    if before and not before.endswith("\n"):
        before += "\n"
    _write_atomic(log, before + json.dumps(log_entry, ensure_ascii=False) + "\n")
    after_step("run_log")
    if found:
        _replace(found[0], folder / f"{task}.json")
    after_step("result")

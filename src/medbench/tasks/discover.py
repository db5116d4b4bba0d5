"""Finding task folders, reading and checking them, and picking tasks by name and language.

In: folders (the built-in suite, ``--tasks-dir``, ``MEDBENCH_TASKS_PATH``). Out: checked
:class:`~medbench.tasks.data.TaskData`, sorted by name, names unique (and not those of built-in
or mteb tasks). Imports no ML library. Next: :mod:`medbench.tasks.mteb_task`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medbench.tasks.data import TaskData, read_task
from medbench.errors import ProblemCollector
from medbench.tasks.spec import TASK_FILE, infer_spec, load_spec, looks_like_task

if TYPE_CHECKING:
    pass


def builtin_tasks_dir() -> Path:
    """The built-in tasks: packaged in the wheel, or ``tasks/`` of a source checkout."""
    packaged = Path(__file__).parents[1] / "_builtin_tasks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "tasks"


def task_folders(path: Path, problems: ProblemCollector, *, required: bool = True) -> list[Path]:
    """The task folders under ``path``: the folder itself if it is a task, else its task subfolders (sorted)."""
    path = Path(path)
    before = len(problems)  # the collector is shared: another folder's problems must not hide this one's
    if not path.is_dir():
        problems.add(path, "no such folder" if not path.exists() else "expected a folder of tasks or a task folder")
        return []
    if looks_like_task(path):
        return [path]
    found = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if looks_like_task(sub):
            found.append(sub)
        elif any(sub.glob("*.jsonl")) or any(sub.glob("*.yaml")) or any(sub.glob("*.yml")):
            problems.add(sub, f"not a task folder: expected {TASK_FILE}, a BEIR corpus.jsonl, or <split>.jsonl sentence pairs")
    if not found and len(problems) == before and required:
        problems.add(path, f"no tasks found: expected task folders (with {TASK_FILE}) or BEIR folders inside")
    return found


def read_folder(folder: Path, problems: ProblemCollector, language: str = "en") -> TaskData | None:
    """Read and check one task folder (with or without ``task.yaml``)."""
    folder = Path(folder)
    if (folder / TASK_FILE).is_file():
        spec = load_spec(folder, problems)
    else:
        spec = infer_spec(folder, language, problems)
    return read_task(spec, problems) if spec else None


def discover(
    tasks_dirs: Sequence[Path | str] = (),
    *,
    include_builtin: bool = True,
    language: str = "en",
) -> list[TaskData]:
    """Read every task of the built-in suite and of ``tasks_dirs``, in a deterministic order.

    Args:
        tasks_dirs: Folders of task folders, or task folders themselves.
        include_builtin: Include the built-in clinical suite.
        language: Language of plain folders without ``task.yaml``.

    Returns:
        Checked tasks sorted by name.

    Raises:
        TaskFormatError: Every problem found in any folder, reported together.
    """
    problems = ProblemCollector()
    folders: list[Path] = []
    if include_builtin:
        folders += task_folders(builtin_tasks_dir(), problems, required=False)
    for d in tasks_dirs:
        folders += task_folders(Path(d), problems)
    tasks: dict[str, TaskData] = {}
    seen: set[Path] = set()
    for folder in folders:
        if folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        data = read_folder(folder, problems, language)
        if data is None:
            continue
        name = data.spec.name
        taken = {n.lower(): n for n in tasks}
        if name.lower() in taken:
            other = tasks[taken[name.lower()]].spec.folder
            problems.add(_spec_path(folder), f"task name {name!r} is already used by {other}; names must be unique "
                         "(results are stored per task name)", field="name", line=_name_line(folder))
            continue
        clash = None if _is_builtin(folder) else name_taken_elsewhere(name)
        if clash:
            problems.add(_spec_path(folder), f"task name {name!r} is {clash}; its results would overwrite those. "
                         "Choose another name in task.yaml (e.g. a prefix of your own)", field="name", line=_name_line(folder))
            continue
        tasks[name] = data
    problems.raise_if_any()
    return [tasks[n] for n in sorted(tasks)]


def _is_builtin(folder: Path) -> bool:
    try:
        folder.resolve().relative_to(builtin_tasks_dir().resolve())
        return True
    except ValueError:
        return False


def _spec_path(folder: Path) -> Path:
    return folder / TASK_FILE if (folder / TASK_FILE).is_file() else folder


def _name_line(folder: Path) -> int | None:
    """The line of ``name:`` in a task.yaml (None for plain folders, named after themselves)."""
    spec_file = folder / TASK_FILE
    if not spec_file.is_file():
        return None
    for lineno, line in enumerate(spec_file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.startswith("name:"):
            return lineno
    return None


def builtin_task_names() -> set[str]:
    """Names of the built-in tasks, read from their task.yaml files only (no data)."""
    import yaml

    names = set()
    for spec_file in sorted(builtin_tasks_dir().glob(f"*/{TASK_FILE}")):
        try:
            names.add(str(yaml.safe_load(spec_file.read_text(encoding="utf-8"))["name"]))
        except Exception:  # a broken built-in task is reported when the suite itself is read
            continue
    return names


def mteb_task_names() -> set[str]:
    """Names of mteb's own tasks, cached per mteb version (building mteb's task registry takes seconds)."""
    import importlib.metadata
    import json

    from medbench.models.providers import cache_root

    try:
        version = importlib.metadata.version("mteb")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return set()
    cached = cache_root() / f"mteb-task-names-{version}.json"
    try:
        return set(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    from mteb.get_tasks import _TASKS_REGISTRY

    names = sorted(_TASKS_REGISTRY)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names), encoding="utf-8")
        tmp.replace(cached)
    except OSError:  # a read-only cache: compute it each time
        pass
    return set(names)


def name_taken_elsewhere(name: str) -> str | None:
    """Why a user task may not have ``name``: a built-in task's or one of mteb's tasks' name, else None."""
    builtin = {n.lower(): n for n in builtin_task_names()}
    if name.lower() in builtin:
        return f"the name of the built-in medbench task {builtin[name.lower()]!r}"
    if name in mteb_task_names():
        return f"the name of mteb's own task {name!r}"
    return None


def select(tasks: Sequence[TaskData], names: Iterable[str] | None, languages: Iterable[str] | None) -> tuple[list[TaskData], list[str]]:
    """Pick tasks by name and language.

    Returns:
        The medbench tasks selected, and the requested names that are not medbench tasks
        (the caller may look them up among mteb's own tasks).
    """
    by_name = {t.spec.name: t for t in tasks}
    by_lower = {n.lower(): n for n in by_name}
    chosen: list[TaskData] = []
    other: list[str] = []
    if names:
        for name in names:
            real = by_name.get(name) or by_name.get(by_lower.get(name.lower(), ""))
            if real:
                chosen.append(real)
            else:
                other.append(name)
    else:
        chosen = list(tasks)
    if languages:
        wanted = set(languages)
        chosen = [t for t in chosen if wanted & set(t.spec.languages)]
    return chosen, other


def suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


# -- mteb objects ----------------------------------------------------------------------------

def env_tasks_dirs() -> list[Path]:
    """Extra task folders from ``MEDBENCH_TASKS_PATH`` (``os.pathsep``-separated)."""
    value = os.environ.get("MEDBENCH_TASKS_PATH", "")
    return [Path(p) for p in value.split(os.pathsep) if p]

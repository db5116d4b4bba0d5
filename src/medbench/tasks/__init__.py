"""Tasks: folders of files -> checked task data -> mteb task objects.

In: task folders (``task.yaml`` + JSONL/TSV files, BEIR folders, STS pairs), the built-in suite.
Out: :class:`TaskData` (checked, content-hashed) and mteb task objects for ``mteb.evaluate``.
Next: :mod:`medbench.evaluate` runs a model on them.

Rooms:
    spec.py       ``task.yaml``: its pydantic schema (messages with file:line via ``_yaml``), plain folders' inferred spec
    data.py       reading and checking the data files; the content hash that is the dataset revision
    discover.py   finding folders, unique names, picking tasks by name and language
    mteb_task.py  mteb task objects, :func:`load_tasks`, :func:`get_benchmark`

A new task format is a reader in ``data.py`` plus its ``paths:`` keys in ``spec.DataPaths``.
"""

from medbench.tasks.data import TaskData
from medbench.tasks.discover import (
    builtin_task_names,
    builtin_tasks_dir,
    discover,
    env_tasks_dirs,
    mteb_task_names,
    name_taken_elsewhere,
    read_folder,
    select,
    suggest,
    task_folders,
)
from medbench.tasks.mteb_task import BENCHMARK_NAME, filter_languages, get_benchmark, load_tasks, to_mteb_task

__all__ = [
    "BENCHMARK_NAME", "TaskData", "builtin_task_names", "builtin_tasks_dir", "discover", "env_tasks_dirs",
    "filter_languages", "get_benchmark", "load_tasks", "mteb_task_names", "name_taken_elsewhere", "read_folder",
    "select", "suggest", "task_folders", "to_mteb_task",
]

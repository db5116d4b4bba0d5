"""Finding task folders and turning them into mteb task objects.

Discovery and validation import no ML library; :func:`to_mteb_task` imports mteb only when called.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import TaskData, read_task
from .errors import MedbenchError, ProblemCollector, TaskFormatError
from .spec import TASK_FILE, infer_spec, load_spec, looks_like_task

if TYPE_CHECKING:
    from mteb.abstasks import AbsTask


def builtin_tasks_dir() -> Path:
    """The built-in tasks: packaged in the wheel, or ``tasks/`` of a source checkout."""
    packaged = Path(__file__).parent / "_builtin_tasks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "tasks"


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

    from .offline import cache_root

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

_MTEB_TYPE = {"retrieval": "Retrieval", "sts": "STS"}


def _metadata(data: TaskData) -> Any:
    from mteb.abstasks.task_metadata import TaskMetadata

    spec = data.spec
    eval_langs: Any = (
        {lang: [ll] for lang, ll in zip(spec.languages, spec.eval_langs, strict=True)} if spec.multilingual else spec.eval_langs
    )
    kwargs: dict[str, Any] = dict(
        name=spec.name,
        description=spec.description,
        dataset={"path": f"medbench/{spec.name}", "revision": data.revision},
        type=_MTEB_TYPE[spec.type],
        category="t2t",
        modalities=["text"],
        eval_splits=spec.splits,
        eval_langs=eval_langs,
        main_score=spec.main_score,
        reference=spec.reference,
        date=spec.date,
        domains=spec.domains,
        license=spec.license,
        annotations_creators=spec.annotations_creators,
        dialect=spec.dialect,
        sample_creation=spec.sample_creation,
        task_subtypes=spec.task_subtypes,
        bibtex_citation=spec.bibtex_citation or "",
        is_public=spec.is_public,
    )
    try:
        return TaskMetadata(**kwargs)
    except Exception as exc:  # pydantic's ValidationError: a value mteb does not accept
        from .errors import Problem

        errors = getattr(exc, "errors", lambda: [])()
        problems = [
            Problem(spec.folder / TASK_FILE, f"mteb does not accept this value: {e.get('msg')}", field=".".join(map(str, e.get("loc", ()))))
            for e in errors
        ] or [Problem(spec.folder / TASK_FILE, f"mteb rejected the task metadata: {exc}")]
        raise TaskFormatError(problems) from None


def _subset(data: TaskData, lang: str) -> str:
    return lang if data.spec.multilingual else "default"


def to_mteb_task(data: TaskData) -> AbsTask:
    """Build the mteb task object (``AbsTaskRetrieval`` or ``AbsTaskSTS``) for a checked task.

    The object holds its data in memory and never touches the Hugging Face hub; its dataset
    revision is the content hash of the data files.
    """
    metadata = _metadata(data)
    if data.spec.type == "retrieval":
        from mteb.abstasks.retrieval import AbsTaskRetrieval

        base: type = AbsTaskRetrieval
        loader = _load_retrieval
        attrs: dict[str, Any] = {}
    else:
        from mteb.abstasks.sts import AbsTaskSTS

        base = AbsTaskSTS
        loader = _load_sts
        attrs = {"min_score": data.spec.score_range[0], "max_score": data.spec.score_range[1]}

    def load_data(self: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.dataset = loader(data)
        self.data_loaded = True

    cls = type(
        data.spec.name.replace("-", "_").replace(".", "_"),
        (base,),
        {"metadata": metadata, "load_data": load_data, "medbench_data": data, "__module__": __name__, **attrs},
    )
    return cls()


def _load_retrieval(data: TaskData) -> dict[str, dict[str, Any]]:
    from datasets import Dataset
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    out: dict[str, dict[str, Any]] = {}
    for lang, ld in data.languages.items():
        ids = list(ld.corpus)
        corpus = Dataset.from_dict(
            {"id": ids, "title": [ld.corpus[i][0] for i in ids], "text": [ld.corpus[i][1] for i in ids]}
        )
        splits = {}
        for split, qrels in ld.qrels.items():
            qids = [q for q in ld.queries if q in qrels]
            queries = Dataset.from_dict({"id": qids, "text": [ld.queries[q] for q in qids]})
            splits[split] = RetrievalSplitData(
                corpus=corpus,
                queries=queries,
                relevant_docs={q: dict(d) for q, d in qrels.items()},
                top_ranked=ld.top_ranked.get(split),
            )
        out[_subset(data, lang)] = splits
    return out


def _load_sts(data: TaskData) -> dict[str, dict[str, Any]]:
    from datasets import Dataset

    out: dict[str, dict[str, Any]] = {}
    for lang, ld in data.languages.items():
        out[_subset(data, lang)] = {
            split: Dataset.from_dict(
                {"sentence1": [p[0] for p in pairs], "sentence2": [p[1] for p in pairs], "score": [p[2] for p in pairs]}
            )
            for split, pairs in ld.pairs.items()
        }
    return out


def load_tasks(
    names: Iterable[str] | None = None,
    *,
    tasks_dirs: Sequence[Path | str] = (),
    languages: Iterable[str] | None = None,
    include_builtin: bool = True,
) -> list[AbsTask]:
    """The medbench tasks as mteb task objects, ready for ``mteb.evaluate``.

    Args:
        names: Task names to load; all when None.
        tasks_dirs: Extra folders of user tasks (or single task folders).
        languages: Keep only tasks (and language subsets) in these languages, e.g. ``["de"]``.
        include_builtin: Include the built-in clinical suite.

    Returns:
        A list of ``AbsTaskRetrieval`` / ``AbsTaskSTS`` objects.

    Examples:
        >>> import mteb, medbench
        >>> tasks = medbench.load_tasks(languages=["de"])        # doctest: +SKIP
        >>> mteb.evaluate(mteb.get_model("intfloat/multilingual-e5-small"), tasks)  # doctest: +SKIP
    """
    all_tasks = discover(tasks_dirs, include_builtin=include_builtin)
    chosen, unknown = select(all_tasks, names, languages)
    if unknown:
        known = [t.spec.name for t in all_tasks]
        raise MedbenchError(f"unknown task {unknown[0]!r}.{suggest(unknown[0], known)}")
    return [filter_languages(to_mteb_task(t), t, languages) for t in chosen]


BENCHMARK_NAME = "medbench"


def get_benchmark(languages: Iterable[str] | None = None) -> Any:
    """The built-in clinical suite as an ``mteb.Benchmark``, offline (the data are read from the task folders).

    Args:
        languages: Keep only these languages, e.g. ``["de"]``; all when None.

    Returns:
        ``mteb.Benchmark`` named ``medbench`` (or ``medbench-de`` ...) with the built-in tasks.

    Examples:
        >>> import mteb, medbench
        >>> results = mteb.evaluate(mteb.get_model("intfloat/multilingual-e5-small"), medbench.get_benchmark())  # doctest: +SKIP
    """
    import mteb

    langs = sorted(set(languages)) if languages else None
    tasks = load_tasks(languages=langs)
    return mteb.Benchmark(
        name=BENCHMARK_NAME + ("-" + "-".join(langs) if langs else ""),
        tasks=tasks,
        description=(
            "medbench's built-in clinical suite: synthetic German and English clinical documents (discharge letters, "
            "radiology, pathology, operation notes); cross-patient and within-record retrieval, and STS. "
            "Each task's data card is tasks/<Task>/README.md in the medbench repository."
        ),
        reference=None,
        citation=None,
    )


def filter_languages(task: AbsTask, data: TaskData, languages: Iterable[str] | None) -> AbsTask:
    """Keep only the requested languages' subsets of a multilingual task."""
    if languages and data.spec.multilingual:
        task.hf_subsets = [lang for lang in data.spec.languages if lang in set(languages)]
    return task


def env_tasks_dirs() -> list[Path]:
    """Extra task folders from ``MEDBENCH_TASKS_PATH`` (``os.pathsep``-separated)."""
    value = os.environ.get("MEDBENCH_TASKS_PATH", "")
    return [Path(p) for p in value.split(os.pathsep) if p]

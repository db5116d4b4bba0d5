"""Checked task data -> mteb task objects (``AbsTaskRetrieval`` / ``AbsTaskSTS``) and the suite as an ``mteb.Benchmark``.

In: :class:`~medbench.tasks.data.TaskData` from discovery. Out: mteb task objects that hold their
data in memory and never touch the Hugging Face hub; their dataset revision is the content hash of
the data files. Next: :mod:`medbench.evaluate` (or the user's own ``mteb.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medbench.errors import MedbenchError, TaskFormatError
from medbench.tasks.data import TaskData
from medbench.tasks.discover import discover, select, suggest
from medbench.tasks.spec import TASK_FILE

if TYPE_CHECKING:
    from mteb.abstasks import AbsTask


def _metadata(data: TaskData) -> Any:
    from mteb.abstasks.task_metadata import TaskMetadata

    spec = data.spec
    eval_langs: Any = (
        {lang: [ll] for lang, ll in zip(spec.languages, spec.eval_langs, strict=True)} if spec.multilingual else spec.eval_langs
    )
    same = ("name", "description", "main_score", "reference", "date", "domains", "license", "annotations_creators",
            "dialect", "sample_creation", "task_subtypes", "is_public")  # task.yaml keys that mteb takes as they are
    kwargs: dict[str, Any] = {key: getattr(spec, key) for key in same}
    kwargs.update(dataset={"path": f"medbench/{spec.name}", "revision": data.revision}, type=data.mteb_type,
                  category="t2t", modalities=["text"], eval_splits=spec.splits, eval_langs=eval_langs,
                  bibtex_citation=spec.bibtex_citation or "")
    try:
        return TaskMetadata(**kwargs)
    except Exception as exc:  # pydantic's ValidationError: a value mteb does not accept
        from medbench.errors import Problem

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

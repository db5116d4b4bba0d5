"""Publishing one model's results: a Hugging Face model-card block and a copy in MTEB's results layout.

``publish("org/model", "results", "publish")`` writes::

    publish/model_cards/<org__model>/<revision>.md       front matter with ``model-index`` + a scores table
    publish/results/<org__model>/<revision>/<Task>.json  the task results, byte for byte
    publish/results/<org__model>/<revision>/model_meta.json (and run_settings.jsonl when there is one)

``publish/results/`` has the layout of MTEB's public results repository
(github.com/embeddings-benchmark/results), the files that ``mteb.ResultCache.submit_results``
copies there. medbench's own files stay behind: the run log (it holds local paths) and the
per-item scores.

No task text leaves: result files hold scores, and the card names tasks and datasets only. To be
sure, every query, document and sentence of the tasks involved that medbench can read is searched
for in everything publish would write (as written and JSON-escaped), and a hit stops it before any
file is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import re
from pathlib import Path
from typing import Any

import yaml

from medbench.errors import MedbenchError
from medbench.tasks import builtin_task_names, discover, mteb_task_names
from medbench.leaderboard import (
    METRICS, MISSING, TITLES, Board, Column, ModelResults, build_board, task_infos,
)
from medbench.leaderboard.read import name_path, read_named_model

#: mteb task type -> Hugging Face task id (as mteb's TaskMetadata._hf_task_type maps them).
HF_TASK_TYPE = {"Retrieval": "text-retrieval", "STS": "sentence-similarity"}
RUN_SETTINGS = "run_settings.jsonl"  # mteb writes it; its submission copies it
MIN_TEXT = 8  # shorter texts ("CT", "Visite") could match a model or task name by chance


@dataclass
class PublishReport:
    name: str
    revision: str
    card: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    scanned_texts: int = 0


#: absolute paths of the usual home, temp and user folders (POSIX and Windows)
_LOCAL_PATH = re.compile(r"(?<![\w.])(/(?:tmp|home|root|Users|var/folders|mnt|srv|data)/[^\s\"']+|[A-Za-z]:\\\\?Users\\\\?[^\s\"']+)")


def find_local_paths(files: dict[str, bytes]) -> list[tuple[str, str]]:
    """Absolute paths of this machine (home, temp, working folder) found in the files about to be published."""
    own = {str(Path.home()), str(Path.cwd())} - {"/"}
    hits = []
    for rel, data in files.items():
        text = data.decode("utf-8", errors="replace")
        found = _LOCAL_PATH.search(text)
        if found:
            hits.append((rel, found.group(0)))
            continue
        for prefix in own:
            if prefix in text:
                hits.append((rel, prefix))
                break
    return hits


def _dataset_path(task: str, known: bool, builtin: set[str] = frozenset()) -> str:
    """The dataset a score belongs to: a built-in medbench task, a user's own task, or one of mteb's."""
    if task in builtin:
        return f"medbench/{task}"  # the dataset path medbench gives its tasks (tasks._metadata)
    if known:
        return f"local/{task}"  # a user's own task folder: not a dataset anyone else can load
    import mteb

    return str(mteb.get_task(task).metadata.dataset["path"])


def model_index(model: ModelResults, board: Board, infos: dict[str, Any], builtin: set[str] | None = None) -> dict[str, Any]:
    """The Hugging Face ``model-index`` metadata of one model's medbench scores (``board`` of that model)."""
    row = board.rows[0]
    builtin_names = builtin_task_names() if builtin is None else builtin
    groups: dict[tuple[str, str, str], list[Column]] = {}
    for col in board.columns:
        groups.setdefault((col.task, col.split, row.cells[col].subset), []).append(col)
    results = []
    for (task, split, subset), cols in sorted(groups.items()):
        ttype = cols[0].task_type
        results.append({
            "task": {"type": HF_TASK_TYPE[ttype], "name": ttype},
            "dataset": {"name": f"{task} ({subset})", "type": _dataset_path(task, task in infos, builtin_names), "config": subset,
                        "split": split, "revision": row.cells[cols[0]].dataset_revision},
            "metrics": [{"type": c.metric, "value": round(row.cells[c].value, 6), "name": TITLES[c.metric]}
                        for c in sorted(cols, key=lambda c: METRICS[ttype].index(c.metric))],
        })
    card: dict[str, Any] = {"tags": ["medbench", "mteb"]}
    if model.origin and not model.origin.base_model.startswith("local/"):  # the hub's base_model is a hub id
        card["base_model"] = model.origin.base_model
    card["model-index"] = [{"name": model.name, "results": results}]
    return card


def card_text(model: ModelResults, board: Board, card: dict[str, Any]) -> str:
    """Front matter plus a table of the scores with their 95% intervals."""
    row = board.rows[0]
    front = yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=1000)
    lines = ["---", front.rstrip("\n"), "---", "", f"# medbench results: {model.name}", "",
             f"Revision `{model.revision}`. Scores of the medbench evaluation (MTEB format); in brackets the 95% "
             "bootstrap confidence interval over queries or pairs.", "",
             "| Task | Lang | Split | Score | Value | 95% CI |", "|:---|:---|:---|:---|---:|---:|"]
    for col in board.columns:
        cell = row.cells[col]
        ci = f"[{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]" if cell.ci else MISSING
        lines.append(f"| {col.task} | {col.language} | {col.split} | {TITLES[col.metric]} | {cell.value:.4f} | {ci} |")
    return "\n".join(lines) + "\n"


def task_texts(tasks: Iterable[Any]) -> set[str]:
    """Every query, document (title and text) and sentence of the given tasks (``TaskData``)."""
    texts: set[str] = set()
    for t in tasks:
        for lang in t.languages.values():
            texts.update(lang.queries.values())
            for title, text in lang.corpus.values():
                texts.update((title, text))
            for pairs in lang.pairs.values():
                for a, b, _ in pairs:
                    texts.update((a, b))
            for row in lang.train:
                texts.update(v for v in row.values() if isinstance(v, str))
    return {x.strip() for x in texts if len(x.strip()) >= MIN_TEXT}


def find_task_text(files: dict[str, bytes], texts: Iterable[str]) -> list[tuple[str, str]]:
    """(file, text) for every task text found in the files, as written or JSON-escaped."""
    hits = []
    decoded = {rel: data.decode("utf-8", errors="replace") for rel, data in files.items()}
    for text in sorted(texts):
        forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        for rel, content in decoded.items():
            if any(form in content for form in forms):
                hits.append((rel, text))
    return hits


def publish(model_name_or_folder: str | Path, results_dir: Path | str | Sequence[Path | str] = "results",
            out_dir: Path | str = "publish", *, tasks_dirs: Sequence[Path | str] = (),
            include_builtin: bool = True, allow_private: bool = False) -> PublishReport:
    """Write a model's model-card metadata and a copy of its results in MTEB's layout.

    Args:
        model_name_or_folder: A result name (``org/model`` or ``org/model@revision``), a result
            folder (``results/<org__model>/<revision>``) or a local model folder.
        results_dir: The results folder(s) to look in.
        out_dir: Where to write (``model_cards/`` and ``results/`` inside).
        tasks_dirs: Task folders besides the built-in suite: their texts are kept out of the output.
        include_builtin: Look for the model's tasks among the built-in suite too.
        allow_private: Publish scores of tasks marked ``is_public: false`` (refused otherwise).
        include_builtin: Read the built-in suite too.

    Returns:
        The model's name and revision, the card data and the files written.

    Raises:
        MedbenchError: Unknown model, ambiguous revision, or task text found in the output.

    Examples:
        >>> publish("medbench/minilm-clinical", "results", "publish").files  # doctest: +SKIP
    """

    dirs = [results_dir] if isinstance(results_dir, (str, Path)) else list(results_dir)
    model = read_named_model(model_name_or_folder, dirs)
    folder = model.folder
    from medbench.store import check_writable

    check_writable(Path(out_dir), "the publication", "--out")
    tasks = discover(list(tasks_dirs), include_builtin=include_builtin)
    by_name = {t.spec.name: t for t in tasks}
    unchecked = sorted(t for t in model.results if t not in by_name and t not in mteb_task_names())
    if unchecked:
        raise MedbenchError(
            f"refusing to publish: the task data of {', '.join(unchecked)} was not found, so the output cannot be "
            "checked for task text. Give the task folders with --tasks-dir (or MEDBENCH_TASKS_PATH)."
        )
    private = sorted(t for t in model.results if t in by_name and not by_name[t].spec.is_public)
    if private and not allow_private:
        raise MedbenchError(
            f"{', '.join(private)} {'is' if len(private) == 1 else 'are'} marked is_public: false (private data): "
            "publishing its scores tells others about it. Pass --allow-private to publish them anyway."
        )
    infos = task_infos(tasks)
    builtin = builtin_task_names()
    board = build_board([model], infos)
    card = model_index(model, board, infos, builtin)
    dest = f"results/{name_path(model.name)}/{model.revision}"
    files: dict[str, bytes] = {}
    for path in [*sorted(folder.glob("*.json")), folder / RUN_SETTINGS]:  # what mteb submits; not per_item/, not the run log
        if path.is_file():
            files[f"{dest}/{path.name}"] = path.read_bytes()
    files[f"model_cards/{name_path(model.name)}/{model.revision}.md"] = card_text(model, board, card).encode("utf-8")
    involved = [t for t in tasks if t.spec.name in model.results]
    texts = task_texts(involved)
    hits = find_task_text(files, texts)
    if hits:
        shown = "; ".join(f"{rel}: {text[:60]!r}" for rel, text in hits[:5])
        raise MedbenchError(f"refusing to publish: task text found in the output ({len(hits)} hit(s)): {shown}")
    paths = find_local_paths(files)
    if paths:
        shown = "; ".join(f"{rel}: {found!r}" for rel, found in paths[:5])
        raise MedbenchError(f"refusing to publish: a local path is in the output ({shown}); "
                            "paths on this machine can name people and projects")
    out = Path(out_dir)
    report = PublishReport(model.name, model.revision, card, scanned_texts=len(texts))
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        report.files.append(path)
    return report

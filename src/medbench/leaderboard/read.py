"""Reading result folders: mteb task results, per-item scores, and where a fine-tuned model came from."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


from medbench import per_item
from medbench.jsonl import read_rows
from medbench.errors import MedbenchError
from medbench.leaderboard.model import FINETUNE_FILE, ModelResults, Origin, RUN_LOG, TaskInfo


def task_infos(tasks: Iterable[Any]) -> dict[str, TaskInfo]:
    """:class:`TaskInfo` of checked tasks (``medbench.tasks.data.TaskData``, e.g. from ``tasks.discover``)."""
    out = {}
    for t in tasks:
        out[t.spec.name] = TaskInfo(t.spec.name, t.mteb_type, t.subset_languages, t.revision)
    return out


def results_root(path: Path) -> Path:
    """Accept both the folder of ``<org__model>/`` folders and the folder holding ``results/``."""
    path = Path(path)
    if (path / "results").is_dir() and not any(path.glob("*/*/model_meta.json")):
        return path / "results"
    return path


def name_path(name: str) -> str:
    """The folder name of a result name (``org/model`` -> ``org__model``)."""
    return name.replace("/", "__").replace(" ", "_")


def _has_results(folder: Path) -> bool:
    return any(p.name != "model_meta.json" for p in folder.glob("*.json"))


def find_model(model: str | Path, results_dirs: Sequence[Path | str]) -> Path:
    """The result folder (``<org__model>/<revision>/``) of a result name, ``name@revision`` (a revision
    prefix will do), a result folder, or a local model folder (found by its weights' revision); a
    name not stored gets the closest stored names as a suggestion, a name in another case is found."""
    roots = [results_root(Path(d)) for d in results_dirs]
    path = Path(str(model)).expanduser()
    if path.is_dir():
        if (path / "model_meta.json").is_file() and _has_results(path):
            return path
        if (path / "config.json").is_file() or (path / "modules.json").is_file():
            from medbench.models import weights_revision

            revision = weights_revision(path)
            found = sorted(
                rev for root in roots if root.is_dir() for rev in root.glob(f"*/{revision}*")
                if rev.is_dir() and _has_results(rev) and (rev.name == revision or rev.name.startswith(f"{revision}-prompts-"))
            )
            if len(found) == 1:
                return found[0]
            if not found:
                raise MedbenchError(f"no results of the model folder {path} (revision {revision}) in "
                                    f"{', '.join(map(str, roots))}; run `medbench run --model {path}` first")
            raise MedbenchError(f"several results of the model folder {path}: {', '.join(str(f) for f in found)}; "
                                "pass one of these folders instead")
        revisions = [p for p in sorted(path.iterdir()) if p.is_dir() and _has_results(p)]
        if len(revisions) == 1:
            return revisions[0]
        raise MedbenchError(f"{path}: expected a result folder (results/<org__model>/<revision>/) or a model folder")
    name, _, revision = str(model).partition("@")
    name = _canonical(name)
    stored = {p.name: p for root in roots if root.is_dir() for p in root.iterdir() if p.is_dir()}
    folder = name_path(name)
    if folder not in stored:  # another case: Sentence-Transformers/all-minilm-l6-v2
        folder = next((f for f in stored if f.casefold() == folder.casefold()), folder)
    revisions = sorted(
        p for root in roots for p in (root / folder).glob("*") if p.is_dir() and _has_results(p)
    )
    if revision:
        chosen = [p for p in revisions if p.name == revision] or [p for p in revisions if p.name.startswith(revision)]
        if len(chosen) == 1:
            return chosen[0]
        if revisions and not chosen:
            raise MedbenchError(f"no results of {name!r} at revision {revision!r}; stored: "
                                + ", ".join(f"{name}@{p.name}" for p in revisions))
        revisions = chosen or revisions
    elif len(revisions) == 1:
        return revisions[0]
    if not revisions:
        names = sorted(f.replace("__", "/") for f in stored)
        tails = {n.rpartition("/")[2]: n for n in names}  # the part after the organisation: other-org/all-MiniLM-L6-v2
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5) or [
            tails[t] for t in difflib.get_close_matches(name.rpartition("/")[2], list(tails), n=3, cutoff=0.5)]
        raise MedbenchError(f"no results of {name!r} in {', '.join(map(str, roots))}"
                            " (give a result name such as org/model, a result folder or a model folder)"
                            + (f"; did you mean {', '.join(close)}?" if close else ""))
    listed = ", ".join(f"{name}@{p.name}" for p in revisions)
    raise MedbenchError(f"{name!r} has several revisions; pick one: {listed}")


def read_named_model(model: str | Path, results_dirs: Sequence[Path | str]) -> ModelResults:
    """The stored results of a model as :func:`find_model` finds it."""
    folder = find_model(model, results_dirs)
    found = read_model_folder(folder)
    if found is None:
        raise MedbenchError(f"{folder}: no task results")
    return found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MedbenchError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); fix or remove the file") from None
    except UnicodeDecodeError:
        raise MedbenchError(f"{path}: not UTF-8 text") from None


def read_model_folder(folder: Path) -> ModelResults | None:
    """The results stored in one ``<org__model>/<revision>/`` folder (None when it holds none)."""
    folder = Path(folder)
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "model_meta.json":
            continue
        data = _read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or "task_name" not in data:
            raise MedbenchError(f"{path}: not an mteb task result (expected task_name and scores)")
        results[data["task_name"]] = data
    if not results:
        return None
    meta = _read_json(folder / "model_meta.json") if (folder / "model_meta.json").is_file() else {}
    name = meta.get("name") or folder.parent.name.replace("__", "/")
    items: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for task in results:
        path = per_item.per_item_path(folder, task)
        if path.is_file():
            for row in read_rows(path):
                items.setdefault((task, str(row.get("split")), str(row.get("subset"))), []).append(row)
    incomplete = _incomplete(folder, results)
    for task in incomplete:
        del results[task]
    return ModelResults(name, folder.name, folder, results, items, read_origin(folder, folder.name, meta), incomplete)


def _incomplete(folder: Path, results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Results that medbench wrote only in part, shown as absent: a kill after mteb wrote ``<Task>.json``
    and before medbench logged the run (results written before the store wrote them atomically).

    A folder whose run log names no task was written by plain mteb (or comes from MTEB's results
    repository, or holds only lineage): its results are whole as they are, only without intervals.
    """
    from medbench.store import run_log_tasks

    logged = run_log_tasks(folder)
    if not logged:
        return {}
    return {task: "the run that wrote it did not finish (no line in medbench_runs.jsonl); run `medbench run` again"
            for task in results if task not in logged}


def read_origin(folder: Path, revision: str, meta: dict[str, Any] | None = None) -> Origin | None:
    """The base model of a fine-tuned model's result folder, or None (see the module docstring)."""
    log = Path(folder) / RUN_LOG
    entries = read_rows(log) if log.is_file() else []
    for entry in reversed(entries):
        info = entry.get("finetune") or (entry.get("model") or {}).get("finetune")
        if isinstance(info, dict) and info.get("base_model"):
            return _origin(info, f"{log.name}")
    for entry in reversed(entries):
        location = (entry.get("model") or {}).get("location")
        card = Path(location) / FINETUNE_FILE if isinstance(location, str) and location else None
        if card is not None and card.is_file():
            info = _read_json(card)
            if isinstance(info, dict) and info.get("base_model") and _same_weights(card.parent, info, revision):
                return _origin(info, str(card))
    adapted = (meta or {}).get("adapted_from")
    if isinstance(adapted, str) and adapted:
        return Origin(_canonical(adapted), None, None, "model_meta.json adapted_from")
    return None


def _same_weights(folder: Path, info: dict[str, Any], revision: str) -> bool:
    """Whether the model folder still holds the weights a result was computed from (its revision,
    maybe with a prompts suffix): the revision ``medbench.json`` records, else the folder's hash."""
    def matches(rev: str) -> bool:
        return revision == rev or revision.startswith(f"{rev}-prompts-")

    if isinstance(info.get("revision"), str) and matches(info["revision"]):
        return True
    from medbench.models import weights_revision

    try:
        return matches(weights_revision(folder))
    except MedbenchError:
        return False


def _canonical(name: str) -> str:
    """The result name of a base model as ``medbench run --model`` names it: aliases resolved, a
    folder path as ``local/<folder name>`` (never a local path on the board)."""
    from medbench.models.providers import ALIASES

    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return f"local/{Path(name.rstrip('/')).name}"
    return ALIASES.get(name.lower(), name)


def _origin(info: dict[str, Any], found_in: str) -> Origin:
    rev = info.get("base_revision")
    return Origin(_canonical(str(info["base_model"])), str(rev) if rev else None, _recipe_label(info), found_in)


def _recipe_label(info: dict[str, Any]) -> str | None:
    """A short name for the recipe: its file name (the trainer stores the whole recipe too)."""
    file, recipe = info.get("recipe_file"), info.get("recipe")
    if isinstance(file, str) and file:
        return Path(file).name
    if isinstance(recipe, dict):
        return str(recipe.get("name") or info.get("name") or "") or None
    return str(recipe) if recipe else None


def load_results(results_dirs: Sequence[Path | str]) -> list[ModelResults]:
    """Every model revision stored under ``results_dirs``; for the same model revision in several
    folders the first folder's file of a task wins."""
    found: dict[tuple[str, str], ModelResults] = {}
    for root in results_dirs:
        root = results_root(Path(root))
        if not root.is_dir():
            raise MedbenchError(f"{root}: no such results folder (run `medbench run` first, or pass --results-dir)")
        for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for rev_dir in sorted(p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                model = read_model_folder(rev_dir)
                if model is None:
                    continue
                key = (model.name, model.revision)
                if key in found:
                    have = found[key]
                    for task, result in model.results.items():
                        if task not in have.results:
                            have.results[task] = result
                            have.items.update({k: v for k, v in model.items.items() if k[0] == task})
                else:
                    found[key] = model
    return [found[k] for k in sorted(found)]

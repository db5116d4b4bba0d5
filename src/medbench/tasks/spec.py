"""The task file format: ``task.yaml`` as a pydantic model, :class:`TaskFile`, with file and line in every error.

Each field's description is what an error says was expected; :mod:`medbench._yaml` reads the
file and turns pydantic's errors into problems at ``task.yaml:<line>: <key>: ...``.

A task is a folder::

    my-task/
      task.yaml                      # this schema
      corpus.jsonl queries.jsonl qrels/test.tsv     # retrieval, one language
      de/... en/...                  # one subfolder per language where a task has several

A folder without ``task.yaml`` is read as a plain BEIR folder (retrieval) or a folder of
``<split>.jsonl`` sentence pairs (STS); see :func:`infer_spec`.

Nothing here imports torch, mteb or sentence-transformers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator

from medbench import _yaml
from medbench._yaml import Schema, invalid
from medbench.errors import ProblemCollector

TASK_FILE = "task.yaml"
DEFAULT_MAIN_SCORE = {"retrieval": "ndcg_at_10", "sts": "cosine_spearman"}
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,79}$")
SPLIT_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

#: ISO 639-1 codes users write -> mteb's ISO 639-3 + script codes.
LANGUAGES = {
    "de": "deu-Latn", "en": "eng-Latn", "fr": "fra-Latn", "es": "spa-Latn", "it": "ita-Latn",
    "nl": "nld-Latn", "pt": "por-Latn", "pl": "pol-Latn", "sv": "swe-Latn", "da": "dan-Latn",
    "no": "nob-Latn", "fi": "fin-Latn", "cs": "ces-Latn", "tr": "tur-Latn", "ru": "rus-Cyrl",
}
LANGSCRIPT_RE = re.compile(r"^[a-z]{3}-[A-Z][a-z]{3}$")


def _path(what: str) -> Any:
    return Field(None, description=f"the {what} file relative to the task folder ({{lang}} and {{split}} may be used)")


class DataPaths(Schema):
    """``paths:``: where a task's files are, when not in the default layout."""

    corpus: str = _path("corpus")
    queries: str = _path("queries")
    qrels: str = _path("qrels")
    top_ranked: str = _path("top_ranked")
    pairs: str = _path("sentence pairs")
    train: str = _path("training pairs")

    @field_validator("*")
    @classmethod
    def _inside(cls, value: str, info: ValidationInfo) -> str:
        unknown = sorted(set(re.findall(r"{[^}]*}", value)) - {"{lang}", "{split}"})
        if unknown:
            raise invalid(f"unknown placeholder {unknown[0]} in {value!r}: use {{lang}} and {{split}}")
        folder = (info.context or {}).get("folder")
        if folder is not None:
            try:
                (folder / value).resolve().relative_to(folder.resolve())
            except ValueError:
                raise invalid(f"{value!r} leaves the task folder {folder}; data files must stay inside it") from None
        return value


def _language(lang: str) -> str:
    if lang not in LANGUAGES and not LANGSCRIPT_RE.match(lang):
        raise invalid(f"unknown language {lang!r}: use a code such as de, en or an ISO 639-3 code with script such as deu-Latn")
    return lang


def _dates(value: Any) -> Any:
    return [str(d) for d in value] if isinstance(value, list) else value  # YAML reads 2024-01-31 as a date


class TaskFile(Schema):
    """``task.yaml`` as written; :func:`load_spec` makes it a :class:`TaskSpec`."""

    name: str = Field(pattern=NAME_RE.pattern, description="a task name: letters, digits, '_', '-', '.', starting with a letter")
    type: Literal["retrieval", "sts"] = Field(description="one of: retrieval, sts")
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(description="a non-empty text")
    languages: list[Annotated[str, AfterValidator(_language)]] = Field(
        min_length=1, description="a list of language codes such as [de] or [de, en]")
    splits: list[Annotated[str, StringConstraints(pattern=SPLIT_RE.pattern)]] = Field(
        ["test"], min_length=1, description="a list of evaluation split names, default [test]")
    main_score: str = Field(None, min_length=1, description="an mteb score name, default ndcg_at_10 (retrieval) / cosine_spearman (sts)")
    license: str = Field("not specified", description="a license id such as apache-2.0 or cc-by-4.0")
    domains: list[str] = Field(["Medical"], description="a list of mteb domains such as [Medical]")
    version: int | float | str = Field(1, description="a version number or string")
    score_range: list[float] = Field(
        None, min_length=2, max_length=2, description="[min, max] of the gold scores with min < max (sts only), default [0, 5]")
    # mteb accepts only a web address; a data card path goes into the description
    reference: str = Field(None, pattern=r"^https?://\S+$", description="a URL")
    date: Annotated[list[Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]] | None, BeforeValidator(_dates)] = Field(
        None, min_length=2, max_length=2, description="[first, last] dates of the texts as YYYY-MM-DD")
    annotations_creators: str = Field(None, description="an mteb annotator type such as expert-annotated")
    sample_creation: str = Field(None, description="an mteb sample creation method such as created")
    dialect: list[str] = Field(None, description="a list of dialects")
    task_subtypes: list[str] = Field(None, description="a list of mteb task subtypes")
    bibtex_citation: str = Field(None, description="a BibTeX entry")
    is_public: bool = Field(True, description="true or false (false for private data)")
    paths: DataPaths = Field(default_factory=DataPaths, description="a mapping of data files relative to the task folder (see README)")

    @field_validator("languages")
    @classmethod
    def _once(cls, languages: list[str]) -> list[str]:
        twice = [lang for i, lang in enumerate(languages) if lang in languages[:i]]
        if twice:
            raise invalid(f"language {twice[0]!r} is listed twice")
        return languages

    @field_validator("score_range")
    @classmethod
    def _range(cls, score_range: list[float], info: ValidationInfo) -> list[float]:
        if info.data.get("type") != "sts":
            raise invalid("score_range only applies to type: sts")
        if not score_range[0] < score_range[1]:
            raise ValueError("min >= max")  # said as: expected <the field's description>, got <the value as written>
        return score_range


@dataclass
class TaskSpec:
    """A validated ``task.yaml`` (or the spec inferred for a plain folder)."""

    name: str
    type: str
    description: str
    languages: list[str]
    folder: Path
    splits: list[str] = field(default_factory=lambda: ["test"])
    main_score: str = ""
    license: str = "not specified"
    domains: list[str] = field(default_factory=lambda: ["Medical"])
    version: str = "1"
    score_range: tuple[float, float] = (0.0, 5.0)
    reference: str | None = None
    date: tuple[str, str] | None = None
    annotations_creators: str | None = None
    sample_creation: str | None = None
    dialect: list[str] | None = None
    task_subtypes: list[str] | None = None
    bibtex_citation: str | None = None
    is_public: bool = True
    paths: dict[str, Any] = field(default_factory=dict)
    inferred: bool = False

    @property
    def multilingual(self) -> bool:
        return len(self.languages) > 1

    @property
    def eval_langs(self) -> list[str]:
        return [LANGUAGES.get(lang, lang) for lang in self.languages]

    def language_dir(self, lang: str) -> Path:
        """Where a language's files live: ``<folder>/<lang>/`` if it exists, else the folder itself."""
        sub = self.folder / lang
        if sub.is_dir() or self.multilingual:
            return sub
        return self.folder


def load_spec(folder: Path, problems: ProblemCollector) -> TaskSpec | None:
    """Read and check ``folder/task.yaml``. Returns None (with problems recorded) when it is unusable."""
    doc = _yaml.read(folder / TASK_FILE, problems, "name: ..., type: ...")
    task = doc and _yaml.validate(TaskFile, doc, problems, context={"folder": folder})
    if task is None:
        return None
    values = task.model_dump()
    values.update(
        main_score=task.main_score or DEFAULT_MAIN_SCORE[task.type],
        version=str(task.version),
        score_range=tuple(float(v) for v in task.score_range or (0, 5)),
        date=tuple(task.date) if task.date else None,
        paths=task.paths.model_dump(exclude_unset=True),
    )
    return TaskSpec(folder=folder, **values)


def looks_like_task(folder: Path) -> bool:
    """True when a folder holds one task (as opposed to a folder of task folders)."""
    if (folder / TASK_FILE).is_file() or (folder / "corpus.jsonl").is_file():
        return True
    return any(_is_sts_split_file(p) for p in folder.glob("*.jsonl"))


def _is_sts_split_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return '"sentence1"' in first and '"sentence2"' in first


def infer_spec(folder: Path, language: str, problems: ProblemCollector) -> TaskSpec | None:
    """The spec of a plain folder with no ``task.yaml``.

    A BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) is a retrieval
    task; a folder of ``<split>.jsonl`` sentence pairs is an STS task. Either is named after
    the folder and evaluated on ``test`` when that split exists, else on every split found.
    """
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", folder.resolve().name)
    if not name[:1].isalpha():
        name = "task_" + name
    lang = language
    if (folder / "corpus.jsonl").is_file():
        ttype = "retrieval"
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) + sorted(
            p.stem for p in (folder / "qrels").glob("*.jsonl")
        )
        if not found:
            problems.add(folder / "qrels", "no qrels files: expected qrels/test.tsv (BEIR layout)")
            return None
    else:
        ttype = "sts"
        found = sorted(p.stem for p in folder.glob("*.jsonl") if _is_sts_split_file(p))
    splits = ["test"] if "test" in found else sorted(set(found))
    if ttype == "retrieval" and "train" in splits and len(splits) > 1:
        splits.remove("train")
    return TaskSpec(
        name=name,
        type=ttype,
        description=f"Plain {'BEIR retrieval' if ttype == 'retrieval' else 'STS'} folder {folder}",
        languages=[lang],
        folder=folder,
        splits=splits,
        main_score=DEFAULT_MAIN_SCORE[ttype],
        license="not specified",
        score_range=(0.0, 5.0),
        inferred=True,
    )

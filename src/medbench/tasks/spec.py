"""The task file format: a strict schema for ``task.yaml``, with file and line in every error.

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
from typing import Any

import yaml

from medbench.errors import ProblemCollector

TASK_FILE = "task.yaml"
TASK_TYPES = ("retrieval", "sts")
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

#: Keys accepted in task.yaml: key -> (required, description of what is expected).
SCHEMA: dict[str, tuple[bool, str]] = {
    "name": (True, "a task name: letters, digits, '_', '-', '.', starting with a letter"),
    "type": (True, "one of: retrieval, sts"),
    "description": (True, "a non-empty text"),
    "languages": (True, "a list of language codes such as [de] or [de, en]"),
    "splits": (False, "a list of evaluation split names, default [test]"),
    "main_score": (False, "an mteb score name, default ndcg_at_10 (retrieval) / cosine_spearman (sts)"),
    "license": (False, "a license id such as apache-2.0 or cc-by-4.0"),
    "domains": (False, "a list of mteb domains such as [Medical]"),
    "version": (False, "a version number or string"),
    "score_range": (False, "[min, max] of the gold scores (sts only), default [0, 5]"),
    "reference": (False, "a URL"),
    "date": (False, "[first, last] dates of the texts as YYYY-MM-DD"),
    "annotations_creators": (False, "an mteb annotator type such as expert-annotated"),
    "sample_creation": (False, "an mteb sample creation method such as created"),
    "dialect": (False, "a list of dialects"),
    "task_subtypes": (False, "a list of mteb task subtypes"),
    "bibtex_citation": (False, "a BibTeX entry"),
    "is_public": (False, "true or false (false for private data)"),
    "paths": (False, "a mapping of data files relative to the task folder (see README)"),
}

PATH_KEYS = {"corpus", "queries", "qrels", "top_ranked", "pairs", "train"}


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


def _key_lines(node: yaml.Node | None) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """Line of each top-level key, and keys that appear twice (yaml.safe_load keeps the last silently)."""
    lines: dict[str, int] = {}
    dupes: list[tuple[str, int]] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines:
                dupes.append((key, line))
            lines[key] = line
    return lines, dupes


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def load_spec(folder: Path, problems: ProblemCollector) -> TaskSpec | None:
    """Read and check ``folder/task.yaml``. Returns None (with problems recorded) when it is unusable."""
    path = folder / TASK_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        problems.add(path, "is not UTF-8 text", line=line)
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problems.add(path, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", line=line)
        return None
    if not isinstance(raw, dict):
        problems.add(path, "expected a mapping of keys (name: ..., type: ...), got " + type(raw).__name__)
        return None
    lines, dupes = _key_lines(node)
    for key, line in dupes:
        problems.add(path, "key appears more than once", line=line, field=key)

    def bad(key: str, message: str | None = None) -> None:
        problems.add(path, message or f"expected {SCHEMA[key][1]}, got {raw.get(key)!r}", line=lines.get(key), field=key)

    before = len(problems.problems)
    for key in raw:
        if key not in SCHEMA:
            from difflib import get_close_matches

            close = get_close_matches(str(key), SCHEMA, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(SCHEMA)}"
            problems.add(path, f"unknown key{hint}", line=lines.get(key), field=str(key))
    for key, (required, what) in SCHEMA.items():
        if required and key not in raw:
            problems.add(path, f"missing required key (expected {what})", field=key)

    name = raw.get("name")
    if "name" in raw and not (isinstance(name, str) and NAME_RE.match(name)):
        bad("name")
    ttype = raw.get("type")
    if "type" in raw and ttype not in TASK_TYPES:
        bad("type")
    desc = raw.get("description")
    if "description" in raw and not (isinstance(desc, str) and desc.strip()):
        bad("description")
    languages = raw.get("languages")
    if "languages" in raw:
        if not _is_str_list(languages):
            bad("languages")
        else:
            for lang in languages:
                if lang not in LANGUAGES and not LANGSCRIPT_RE.match(lang):
                    bad("languages", f"unknown language {lang!r}: use a code such as de, en "
                        "or an ISO 639-3 code with script such as deu-Latn")
            if len(set(languages)) != len(languages):
                bad("languages", "a language is listed twice")
    splits = raw.get("splits", ["test"])
    if not _is_str_list(splits) or not all(SPLIT_RE.match(s) for s in splits):
        bad("splits")
    main_score = raw.get("main_score", DEFAULT_MAIN_SCORE.get(ttype, ""))
    if not isinstance(main_score, str) or not main_score:
        bad("main_score")
    for key in ("license", "reference", "annotations_creators", "sample_creation", "bibtex_citation"):
        if key in raw and not isinstance(raw[key], str):
            bad(key)
    if isinstance(raw.get("reference"), str) and not re.match(r"https?://\S+$", raw["reference"]):
        bad("reference")  # mteb accepts only a web address; a data card path goes into the description
    for key in ("domains", "dialect", "task_subtypes"):
        if key in raw and not (isinstance(raw[key], list) and all(isinstance(v, str) for v in raw[key])):
            bad(key)
    if "version" in raw and not isinstance(raw["version"], (int, float, str)):
        bad("version")
    if "is_public" in raw and not isinstance(raw["is_public"], bool):
        bad("is_public")
    score_range = raw.get("score_range", [0, 5])
    if "score_range" in raw and ttype != "sts":
        bad("score_range", "score_range only applies to type: sts")
    if not (
        isinstance(score_range, list) and len(score_range) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in score_range)
        and score_range[0] < score_range[1]
    ):
        bad("score_range", f"expected [min, max] with min < max, got {score_range!r}")
    date = raw.get("date")
    if date is not None:
        date = [str(d) for d in date] if isinstance(date, list) else date
        if not (isinstance(date, list) and len(date) == 2 and all(re.match(r"^\d{4}-\d{2}-\d{2}$", d) for d in date)):
            bad("date")
    paths = raw.get("paths", {})
    if not isinstance(paths, dict) or set(paths) - PATH_KEYS:
        bad("paths", f"expected a mapping with keys among {sorted(PATH_KEYS)}, got {paths!r}")
    if len(problems.problems) > before:
        return None
    return TaskSpec(
        name=name,
        type=ttype,
        description=desc.strip(),
        languages=list(languages),
        folder=folder,
        splits=list(splits),
        main_score=main_score,
        license=raw.get("license", "not specified"),
        domains=raw.get("domains", ["Medical"]),
        version=str(raw.get("version", 1)),
        score_range=(float(score_range[0]), float(score_range[1])),
        reference=raw.get("reference"),
        date=tuple(date) if date else None,
        annotations_creators=raw.get("annotations_creators"),
        sample_creation=raw.get("sample_creation"),
        dialect=raw.get("dialect"),
        task_subtypes=raw.get("task_subtypes"),
        bibtex_citation=raw.get("bibtex_citation"),
        is_public=raw.get("is_public", True),
        paths=paths,
    )


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

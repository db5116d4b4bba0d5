"""Reading and checking a task folder's data files (JSONL, TSV), with file and line in every error.

Nothing here imports torch, mteb or sentence-transformers: ``medbench tasks list`` and
``medbench tasks validate`` run on this module alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from medbench.errors import ProblemCollector
from medbench.jsonl import iter_lines, iter_rows
from medbench.tasks.spec import TaskSpec

Qrels = dict[str, dict[str, int]]


@dataclass
class LanguageData:
    """The data of one language of a task (or of the only language)."""

    corpus: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (title, text)
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, Qrels] = field(default_factory=dict)  # split -> qrels
    top_ranked: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> qid -> doc ids
    pairs: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)  # split -> pairs
    train: list[dict[str, Any]] = field(default_factory=list)  # optional training rows

    def counts(self, split: str) -> dict[str, int]:
        if split in self.pairs:
            return {"pairs": len(self.pairs[split])}
        qrels = self.qrels.get(split, {})
        out = {
            "documents": len(self.corpus),
            "queries": len(qrels),
            "qrels": sum(len(v) for v in qrels.values()),
        }
        if split in self.top_ranked:
            out["candidates"] = sum(len(v) for v in self.top_ranked[split].values())
        return out


#: medbench task type -> mteb task type
MTEB_TYPE = {"retrieval": "Retrieval", "sts": "STS"}


@dataclass
class TaskData:
    """A checked task: its spec, its data per language and the content hash of its files."""

    spec: TaskSpec
    languages: dict[str, LanguageData]
    revision: str
    files: list[Path]

    @property
    def subset_languages(self) -> dict[str, str]:
        """mteb's subset name -> language: ``{"de": "de", "en": "en"}`` for a multilingual task, else ``{"default": lang}``."""
        if self.spec.multilingual:
            return {lang: lang for lang in self.spec.languages}
        return {"default": self.spec.languages[0]}

    @property
    def mteb_type(self) -> str:
        """The task type as mteb names it (``Retrieval``, ``STS``)."""
        return MTEB_TYPE[self.spec.type]

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{split: {language: {"documents": n, "queries": n, "qrels": n} or {"pairs": n}}}``."""
        return {
            split: {lang: data.counts(split) for lang, data in self.languages.items()}
            for split in self.spec.splits
        }


class _Reader:
    """Reads files of one task, recording problems and hashing every byte it reads."""

    def __init__(self, spec: TaskSpec, problems: ProblemCollector):
        self.spec = spec
        self.problems = problems
        self.root = spec.folder.resolve()
        self.files: dict[Path, bytes] = {}

    # -- paths ---------------------------------------------------------------------------
    def path(self, key: str, lang: str, default: str, split: str | None = None) -> Path:
        """The file for ``key``: from ``paths:`` in task.yaml (relative to the task folder), else the default layout."""
        template = self.spec.paths.get(key)
        if template is not None:
            rel = str(template).replace("{lang}", lang).replace("{split}", split or "")
            return self.spec.folder / rel
        return self.spec.language_dir(lang) / default

    def inside(self, path: Path, field_name: str) -> bool:
        """Paths (and symlinks) must stay inside the task folder."""
        try:
            path.resolve().relative_to(self.root)
            return True
        except ValueError:
            self.problems.add(
                self.spec.folder / "task.yaml" if field_name else path,
                f"{path} leaves the task folder {self.spec.folder}; data files must stay inside it",
                field=field_name or None,
            )
            return False

    def read(self, path: Path, field_name: str = "") -> bytes | None:
        if not self.inside(path, field_name):
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.problems.add(path, "file not found")
            return None
        except IsADirectoryError:
            self.problems.add(path, "expected a file, found a folder")
            return None
        self.files[path] = data
        return data

    # -- line readers (the one JSONL reader, problems collected) -------------------------
    def lines(self, path: Path, data: bytes) -> Iterator[tuple[int, str]]:
        return iter_lines(path, data, problems=self.problems)

    def jsonl(self, path: Path, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter_rows(path, data, problems=self.problems)

    def text_field(self, path: Path, lineno: int, row: dict, key: str, required: bool = True) -> str | None:
        value = row.get(key)
        if value is None:
            if required:
                self.problems.add(path, f"missing field {key!r}", line=lineno, field=key)
            return None
        if not isinstance(value, str):
            self.problems.add(path, f"expected a string, got {type(value).__name__}", line=lineno, field=key)
            return None
        if required and not value.strip():
            self.problems.add(path, "empty text", line=lineno, field=key)
            return None
        return value

    def id_field(self, path: Path, lineno: int, row: dict, key: str) -> str | None:
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            self.problems.add(path, f"expected a non-empty id (string or integer), got {value!r}", line=lineno, field=key)
            return None
        return str(value)

    # -- retrieval -----------------------------------------------------------------------
    def _id_texts(self, path: Path, paths_key: str, *, title: bool) -> dict[str, tuple[str, str]]:
        """``_id`` -> (title, text) of a corpus or queries file, with id, text and duplicate checks."""
        out: dict[str, tuple[str, str]] = {}
        data = self.read(path, f"paths.{paths_key}" if paths_key in self.spec.paths else "")
        if data is None:
            return out
        first_line: dict[str, int] = {}
        for lineno, row in self.jsonl(path, data):
            item_id = self.id_field(path, lineno, row, "_id")
            text = self.text_field(path, lineno, row, "text")
            heading = (self.text_field(path, lineno, row, "title", required=False) or "") if title else ""
            if item_id is None or text is None:
                continue
            if item_id in out:
                self.problems.add(path, f"duplicate id {item_id!r} (first on line {first_line[item_id]})", line=lineno, field="_id")
                continue
            first_line[item_id] = lineno
            out[item_id] = (heading, text)
        return out

    def corpus(self, path: Path) -> dict[str, tuple[str, str]]:
        before = len(self.problems)  # the collector is shared: only this file's problems count here
        out = self._id_texts(path, "corpus", title=True)
        if not out and len(self.problems) == before:
            self.problems.add(path, "no documents")
        return out

    def queries(self, path: Path) -> dict[str, str]:
        return {qid: text for qid, (_, text) in self._id_texts(path, "queries", title=False).items()}

    def qrels(self, path: Path, corpus: dict, queries: dict) -> Qrels:
        out: Qrels = {}
        data = self.read(path, "paths.qrels" if "qrels" in self.spec.paths else "")
        if data is None:
            return out
        rows: list[tuple[int, Any, Any, Any]] = []
        if path.suffix == ".jsonl":
            for lineno, row in self.jsonl(path, data):
                missing = [k for k in ("query-id", "corpus-id", "score") if k not in row]
                if missing:
                    self.problems.add(path, f"missing field(s) {missing}; expected query-id, corpus-id, score", line=lineno)
                    continue
                rows.append((lineno, row["query-id"], row["corpus-id"], row["score"]))
        else:
            for lineno, line in self.lines(path, data):
                cells = next(csv.reader(io.StringIO(line), delimiter="\t"))
                if lineno == 1 and cells[:2] == ["query-id", "corpus-id"]:
                    continue  # BEIR header
                if len(cells) == 4:  # TREC qrels: query-id, iteration, corpus-id, score
                    cells = [cells[0], cells[2], cells[3]]
                if len(cells) != 3:
                    self.problems.add(path, f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cells)}", line=lineno)
                    continue
                rows.append((lineno, *cells))
        for lineno, qid, did, score in rows:
            qid, did = str(qid), str(did)
            try:
                value = int(score) if not isinstance(score, float) or score.is_integer() else None
            except (TypeError, ValueError):
                value = None
            if value is None or value < 0 or isinstance(score, bool):
                self.problems.add(path, f"score must be a whole number >= 0 (graded relevance), got {score!r}", line=lineno, field="score")
                continue
            if qid not in queries:
                self.problems.add(path, f"unknown query id {qid!r} (not in the queries file)", line=lineno, field="query-id")
                continue
            if did not in corpus:
                self.problems.add(path, f"unknown document id {did!r} (not in the corpus file)", line=lineno, field="corpus-id")
                continue
            if did in out.get(qid, {}):
                self.problems.add(path, f"pair ({qid!r}, {did!r}) appears twice", line=lineno)
                continue
            out.setdefault(qid, {})[did] = value
        for qid, docs in out.items():
            if not any(v > 0 for v in docs.values()):
                self.problems.add(path, f"query {qid!r} has no relevant document (no score > 0)", field="score")
        if data is not None and not out and not rows:
            self.problems.add(path, "no relevance judgements")
        return out

    def top_ranked(self, path: Path, corpus: dict, qrels: Qrels) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        data = self.read(path, "paths.top_ranked" if "top_ranked" in self.spec.paths else "")
        if data is None:
            return out
        for lineno, row in self.jsonl(path, data):
            qid = self.id_field(path, lineno, row, "query-id")
            ids = row.get("corpus-ids")
            if qid is None:
                continue
            if not isinstance(ids, list) or not ids:
                self.problems.add(path, "expected a non-empty list of document ids", line=lineno, field="corpus-ids")
                continue
            unknown = [str(d) for d in ids if str(d) not in corpus]
            if unknown:
                self.problems.add(path, f"unknown document id(s) {unknown[:3]}", line=lineno, field="corpus-ids")
                continue
            out[qid] = [str(d) for d in ids]
        for qid in qrels:
            if qid not in out:
                self.problems.add(path, f"query {qid!r} has no candidate list", field="query-id")
        return out

    # -- sts -----------------------------------------------------------------------------
    def pairs(self, path: Path, score_range: tuple[float, float] | None) -> list[tuple[str, str, float]]:
        out: list[tuple[str, str, float]] = []
        before = len(self.problems)  # the collector is shared: only this file's problems count here
        data = self.read(path, "paths.pairs" if "pairs" in self.spec.paths else "")
        if data is None:
            return out
        for lineno, row in self.jsonl(path, data):
            s1 = self.text_field(path, lineno, row, "sentence1")
            s2 = self.text_field(path, lineno, row, "sentence2")
            score = row.get("score")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                self.problems.add(path, f"score must be a number, got {score!r}", line=lineno, field="score")
                continue
            if score_range and not score_range[0] <= score <= score_range[1]:
                self.problems.add(
                    path, f"score {score} outside the declared score_range [{score_range[0]:g}, {score_range[1]:g}]",
                    line=lineno, field="score",
                )
                continue
            if s1 is not None and s2 is not None:
                out.append((s1, s2, float(score)))
        if not out and len(self.problems) == before:
            self.problems.add(path, "no sentence pairs")
        return out

    def train_rows(self, path: Path, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        data = self.read(path)
        self.files.pop(path, None)  # training data is not evaluated: it does not change the revision
        out: list[dict[str, Any]] = []
        if data is None:
            return out
        for lineno, row in self.jsonl(path, data):
            if all(self.text_field(path, lineno, row, k) is not None for k in keys if k != "score"):
                out.append(row)
        return out


def _judged_queries(path: Path) -> set[str]:
    """Query ids of a qrels file of a split that is not evaluated (BEIR's train/dev): ``.jsonl``
    rows' ``query-id``, else the first tab-separated column. Not checked further: unreadable
    lines are skipped."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".jsonl":
        return {line.split("\t")[0] for line in text.splitlines()}
    return {str(row["query-id"]) for _, row in iter_rows(path, skip_damaged=True) if "query-id" in row}


def _qrels_path(reader: _Reader, lang: str, split: str) -> Path:
    if "qrels" in reader.spec.paths:
        return reader.path("qrels", lang, "", split)
    base = reader.spec.language_dir(lang) / "qrels"
    tsv, jsonl = base / f"{split}.tsv", base / f"{split}.jsonl"
    return jsonl if jsonl.exists() and not tsv.exists() else tsv


def read_task(spec: TaskSpec, problems: ProblemCollector) -> TaskData | None:
    """Read and check every data file of a task. Returns None when problems were found."""
    before = len(problems)  # the collector is shared by every folder checked together
    reader = _Reader(spec, problems)
    languages: dict[str, LanguageData] = {}
    for lang in spec.languages:
        ld = LanguageData()
        lang_dir = spec.language_dir(lang)
        if "corpus" not in spec.paths and "pairs" not in spec.paths and not lang_dir.is_dir():
            problems.add(spec.folder, f"language {lang!r} is declared but has no folder {lang_dir.name}/", field="languages")
            continue
        if spec.type == "retrieval":
            ld.corpus = reader.corpus(reader.path("corpus", lang, "corpus.jsonl"))
            ld.queries = reader.queries(reader.path("queries", lang, "queries.jsonl"))
            for split in spec.splits:
                ld.qrels[split] = reader.qrels(_qrels_path(reader, lang, split), ld.corpus, ld.queries)
                top = reader.path("top_ranked", lang, f"top_ranked/{split}.jsonl", split)
                if "top_ranked" in spec.paths or top.exists():
                    ld.top_ranked[split] = reader.top_ranked(top, ld.corpus, ld.qrels[split])
            judged = {q for qrels in ld.qrels.values() for q in qrels}
            extra_qrels = [p for p in sorted((lang_dir / "qrels").glob("*")) if p.is_file() and p.stem not in spec.splits]
            for p in extra_qrels:  # other splits (train, dev) in BEIR folders: their queries are judged too
                judged |= _judged_queries(p)
            unjudged = [q for q in ld.queries if q not in judged]
            if unjudged:
                problems.add(
                    reader.path("queries", lang, "queries.jsonl"),
                    f"{len(unjudged)} quer{'y has' if len(unjudged) == 1 else 'ies have'} no relevant document "
                    f"in any qrels file, e.g. {unjudged[:3]}",
                )
            train = reader.path("train", lang, "train.jsonl")
            if train.exists():
                ld.train = reader.train_rows(train, ("query", "positive"))
        else:
            declared = None if spec.inferred else spec.score_range
            for split in spec.splits:
                ld.pairs[split] = reader.pairs(reader.path("pairs", lang, f"{split}.jsonl", split), declared)
            train = reader.path("train", lang, "train.jsonl")
            if "train" not in spec.splits and train.exists():
                ld.train = reader.train_rows(train, ("sentence1", "sentence2", "score"))
        languages[lang] = ld
    if len(problems) > before:
        return None
    if spec.inferred and spec.type == "sts":
        scores = [s for ld in languages.values() for pairs in ld.pairs.values() for *_, s in pairs]
        low, high = math.floor(min(scores)), math.ceil(max(scores))
        spec.score_range = (float(low), float(high if high > low else low + 1))
    digest = hashlib.sha256()
    for path in sorted(reader.files, key=lambda p: str(p.relative_to(spec.folder))):
        digest.update(str(path.relative_to(spec.folder)).encode() + b"\0")
        digest.update(hashlib.sha256(reader.files[path]).digest())
    return TaskData(spec=spec, languages=languages, revision=digest.hexdigest()[:16], files=sorted(reader.files))

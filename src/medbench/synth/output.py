"""Output: the kept questions -> a medbench task folder with training pairs, written whole or not at all.

In: the test patients' passages and every kept question (streamed, in passage order), the BM25
index (hard negatives), the generation log. Out: ``--out``::

    task.yaml          retrieval, the language, is_public: false, license: not specified
    corpus.jsonl       every passage of the test patients
    queries.jsonl      the test patients' kept questions (with their kind: search or record)
    qrels/test.tsv     each question -> its source passage, grade 2
    train.jsonl        the training patients' questions: query, positive (+ negative with --hard-negatives)
    README.md          the data card: the counts of every step (:func:`medbench.synth.card.render`)
    synth.json         the same counts, for programs (and ``--audit-report``)
    generation.jsonl   the generation log: every call's request and answer
    audit.csv          with --audit N: N kept pairs for a person to mark

Everything is written into ``.<name>.tmp-<pid>/`` beside the output and then renamed into place,
so a kill leaves the old folder or the new one. Training rows whose question or passages repeat a
test text (exactly or nearly, :func:`medbench.train.leakage.find_overlaps`, the check ``medbench
train`` runs) are dropped and counted, so the folder passes that check.
Next: ``medbench tasks validate``, ``medbench run --tasks-dir``, ``medbench train``/``loop``.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError
from medbench.store import check_writable
from medbench.synth.card import render
from medbench.synth.filters import Question
from medbench.synth.log import LOG_FILE
from medbench.synth.passages import PassageStore
from medbench.synth.stream import stream_rows

REPORT_FILE = "synth.json"
AUDIT_FILE = "audit.csv"
NEGATIVE_CANDIDATES = 12
MINING_BATCH = 1024


#: every entry of a report with its start value: the settings of the run, then the count of every step
REPORT_FIELDS: dict[str, Any] = {
    "name": "", "model": None, "language": "", "endpoints": 0, "questions_per_passage": 2, "top_k": 5,
    "test_share": 0.2, "seed": 0, "hard_negatives": False, "evidence": "quote", "temperature": 0.7,
    "documents": 0, "passages": 0, "words": 0, "patients": 0, "groups": 0, "test_groups": 0, "train_groups": 0,
    "asked": 0,  # passages asked in this run
    "calls": 0,  # every call in the log, retries and earlier runs included
    "errors": {}, "tokens": {}, "answered": 0, "failed": 0, "proposed": 0, "drops": {}, "kept": 0,
    "test_queries": 0, "test_passages": 0, "train_pairs": 0, "train_leakage": 0, "train_no_negative": 0,
    "seconds": 0.0, "generation_seconds": 0.0, "generation_cpu_seconds": 0.0,
    "audit_pairs": 0, "audit": None,
    # --judge K: pairs graded, grades (0, 1, 2), answers not a grade, pairs without answer, qrels lines added
    "judge_k": 0, "judge_pairs": 0, "judge_grades": {}, "judge_unreadable": 0, "judge_failed": 0, "judge_added": 0,
}


class Report(dict):
    """The counts of every step (:data:`REPORT_FIELDS`), as attributes: the data card's table, ``synth.json``
    and the command's summary."""

    def __init__(self, **values: Any):
        unknown = set(values) - set(REPORT_FIELDS)
        if unknown:
            raise TypeError(f"unknown report entries {sorted(unknown)}")
        super().__init__(copy.deepcopy(REPORT_FIELDS), **values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in REPORT_FIELDS:
            raise AttributeError(key)
        self[key] = value

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self))


def task_name(out: Path, name: str | None) -> str:
    """``--name``, or the output folder's name made a valid task name; checked against taken names."""
    from medbench.tasks.discover import name_taken_elsewhere
    from medbench.tasks.spec import NAME_RE

    if name is None:
        name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", out.resolve().name).strip("-.") or "synth"
        if not name[0].isalpha():
            name = "Synth-" + name
        name = name[:80]
    elif not NAME_RE.match(name):
        raise MedbenchError(f"--name {name!r}: a task name is letters, digits, '_', '-', '.', starting with a letter")
    taken = name_taken_elsewhere(name)
    if taken:
        raise MedbenchError(f"the task name {name!r} is {taken}; give another with --name")
    return name


def check_out(out: Path) -> None:
    """``--out`` may be new, empty, or a folder this command wrote before (it is replaced)."""
    if out.exists() and not out.is_dir():
        raise MedbenchError(f"--out {out}: is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_FILE).is_file():
        raise MedbenchError(f"--out {out}: the folder holds files that medbench synth did not write; "
                            "give a new folder (it is replaced as a whole on every run)")
    check_writable(out.parent, "the task folder", "--out")
    out.parent.mkdir(parents=True, exist_ok=True)


def _jsonl(f: Any, row: dict[str, Any]) -> None:
    f.write(json.dumps(row, ensure_ascii=False) + "\n")


class TaskWriter:
    """Writes the task folder into a temporary folder beside ``out``; :meth:`publish` renames it into place."""

    def __init__(self, out: Path, store: PassageStore, report: Report):
        self.out, self.store, self.report = out, store, report
        self.tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        (self.tmp / "qrels").mkdir(parents=True)
        self._corpus = (self.tmp / "corpus.jsonl").open("w", encoding="utf-8")
        self._queries = (self.tmp / "queries.jsonl").open("w", encoding="utf-8")
        self._qrels = (self.tmp / "qrels" / "test.tsv").open("w", encoding="utf-8")
        self._qrels.write("query-id\tcorpus-id\tscore\n")
        self._pending_path = self.tmp / ".train-pending.jsonl"
        self._pending = self._pending_path.open("w", encoding="utf-8")
        self._files = [self._corpus, self._queries, self._qrels, self._pending]

    def add_passage(self, row: dict[str, Any]) -> None:
        """A test patient's passage: into the corpus."""
        _jsonl(self._corpus, {"_id": row["id"], **({"title": row["title"]} if row.get("title") else {}), "text": row["text"]})
        self.report.test_passages += 1

    def add_question(self, qid: str, q: Question, i: int) -> None:
        """A kept question about passage number ``i``: a test query, or a training pair waiting for the leakage check."""
        self.report.kept += 1
        if self.store.test[i]:
            pid = qid.rsplit("-q", 1)[0]
            _jsonl(self._queries, {"_id": qid, "text": q.question, "kind": q.kind})
            self._qrels.write(f"{qid}\t{pid}\t2\n")
            self.report.test_queries += 1
        else:
            _jsonl(self._pending, {"query": q.question, "kind": q.kind, "p": i})

    # -- training pairs -------------------------------------------------------------------------
    def finish_train(self, index: Any, hard_negatives: bool, seed: int) -> None:
        """Mine negatives (when asked), drop rows that repeat test texts, write ``train.jsonl``."""
        for f in self._files:
            f.close()
        pending = self._pending_path
        if not pending.stat().st_size:
            return
        if hard_negatives:
            pending = self._mine(index, seed)
        bad_queries, bad_passages = self._leaks(pending)
        written = 0
        with self.store.open() as passages, (self.tmp / "train.jsonl").open("w", encoding="utf-8") as out:
            for n, (_, _, row) in enumerate(stream_rows(pending)):
                p = row["p"]
                if n in bad_queries or p in bad_passages:
                    self.report.train_leakage += 1
                    continue
                positive = self.store.row(p, passages)
                item = {"query": row["query"], "positive": positive["text"]}
                if hard_negatives:
                    negative = next((c for c in row["c"] if c not in bad_passages), None)
                    if negative is None:
                        self.report.train_no_negative += 1
                        continue
                    item["negative"] = self.store.row(negative, passages)["text"]
                _jsonl(out, {**item, "kind": row["kind"], "passage": positive["id"]})
                written += 1
        self.report.train_pairs = written
        if not written:
            (self.tmp / "train.jsonl").unlink()

    def _mine(self, index: Any, seed: int) -> Path:
        """Each pending row gets candidate negatives: the training passages BM25 ranks best for its question
        (not its own document's), then two at random from other documents, in case all of those repeat a test text."""
        import numpy as np

        store = self.store
        mask = np.frombuffer(bytes(store.test), dtype=np.uint8) == 0
        train_ids = np.flatnonzero(mask)
        out_path = self.tmp / ".train-mined.jsonl"
        with out_path.open("w", encoding="utf-8") as out:
            batch: list[dict[str, Any]] = []

            def flush() -> None:
                ids, scores = index.top([r["query"] for r in batch], NEGATIVE_CANDIDATES, mask.astype(np.float32))
                for r, row_ids, row_scores in zip(batch, ids, scores, strict=True):
                    own = store.doc[r["p"]]
                    cands = [int(c) for c, s in zip(row_ids, row_scores, strict=True) if s > 0 and store.doc[int(c)] != own]
                    rng = random.Random(f"{seed}:{r['p']}:{r['query']}")
                    for _ in range(20):
                        if len(cands) >= NEGATIVE_CANDIDATES // 2 + 2 or not len(train_ids):
                            break
                        c = int(train_ids[rng.randrange(len(train_ids))])
                        if store.doc[c] != own and c not in cands:
                            cands.append(c)
                    _jsonl(out, {**r, "c": cands})
                batch.clear()

            for _, _, row in stream_rows(self._pending_path):
                batch.append(row)
                if len(batch) >= MINING_BATCH:
                    flush()
            if batch:
                flush()
        return out_path

    def _leaks(self, pending: Path) -> tuple[set[int], set[int]]:
        """Pending rows (by number) and passages (by number) whose text repeats a test query or passage."""
        from medbench.train.leakage import find_overlaps

        used: set[int] = set()
        for _, _, row in stream_rows(pending):
            used.add(row["p"])
            used.update(row.get("c", ()))

        def train() -> Any:
            for n, (_, _, row) in enumerate(stream_rows(pending)):
                yield f"q{n}", row["query"]
            with self.store.open() as f:
                for i in sorted(used):
                    yield f"p{i}", self.store.row(i, f)["text"]

        def evaluation() -> Any:
            for name in ("corpus.jsonl", "queries.jsonl"):
                for _, _, row in stream_rows(self.tmp / name):
                    yield name, row["text"]

        bad_queries: set[int] = set()
        bad_passages: set[int] = set()
        for overlap in find_overlaps(train(), evaluation()):
            kind, number = overlap.train_source[0], int(overlap.train_source[1:])
            (bad_queries if kind == "q" else bad_passages).add(number)
        return bad_queries, bad_passages

    # -- the folder -----------------------------------------------------------------------------
    def publish(self, log_path: Path, reservoir: Any) -> None:
        """Write task.yaml, the data card, the log copy and the audit sheet; rename the folder into place."""
        from medbench.synth.audit import write_sheet

        report = self.report
        if not report.test_queries:
            drops = ", ".join(f"{k} {v}" for k, v in report.drops.items() if v)
            raise MedbenchError(
                f"no question about a test patient's passage survived ({report.answered} of {report.passages} passages "
                f"answered, {report.proposed} questions proposed; dropped: {drops or 'none'}); nothing written. "
                "The generation log is kept: fix the cause and run the same command again.")
        for leftover in self.tmp.glob(".train-*.jsonl"):
            leftover.unlink()
        (self.tmp / "task.yaml").write_text(task_yaml(report), encoding="utf-8")
        if reservoir.items:
            write_sheet(self.tmp / AUDIT_FILE, reservoir.items, self.store)
            report.audit_pairs = len(reservoir.items)
        write_report(self.tmp, report.to_dict())
        shutil.copyfile(log_path, self.tmp / LOG_FILE)
        old = None
        if self.out.exists():
            old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        for f in self._files:
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def task_yaml(report: Report) -> str:
    description = (f"Synthetic questions ({report.model}) about passages of {report.documents} clinical documents, "
                   "filtered for grounding, language, copying, round trip and duplicates; see README.md in this folder.")
    return (f"name: {report.name}\ntype: retrieval\ndescription: {json.dumps(description, ensure_ascii=False)}\n"
            f"languages: [{report.language}]\nsplits: [test]\nmain_score: ndcg_at_10\nlicense: not specified\n"
            "is_public: false\ndomains: [Medical]\nannotations_creators: LM-generated\nsample_creation: found\n")


def write_report(folder: Path, report: dict[str, Any]) -> None:
    """``synth.json`` and the data card ``README.md`` from the counts (each file replaced whole)."""
    for name, text in ((REPORT_FILE, json.dumps(report, indent=2, ensure_ascii=False) + "\n"), ("README.md", render(report))):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)

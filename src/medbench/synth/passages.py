"""Passages: the documents cut by the chunker, in one work file, and the split of their patients into train and test.

In: the documents (:mod:`medbench.synth.documents`), a function giving each passage's request key.
Out: a :class:`PassageStore`: ``passages.jsonl`` in the work folder (one passage a line: id,
document, patient group, type, title, text, request key) and, in memory, a few numbers per
passage (file offset, document number, group number, test or train); texts are read back from
the file when needed, never all held at once. Next: :mod:`medbench.synth.pipeline` asks for
questions about the passages that the log has no answer for.

The split keeps a patient's documents together (a document without a patient is its own group):
the groups, sorted by name, are shuffled with the seed and the first ``round(share * groups)``
(at least one, and at most all but one) become the test split. The same input and seed give the
same split on every run.
"""

from __future__ import annotations

import json
import os
import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from medbench.errors import MedbenchError, ProblemCollector
from medbench.synth import chunk
from medbench.synth.documents import iter_documents
from medbench.synth.stream import read_at, stream_rows

PASSAGES_FILE = "passages.jsonl"


@dataclass
class PassageStore:
    """Every passage of the input, by number (0, 1, ...), in document order."""

    path: Path | None
    offsets: array = field(default_factory=lambda: array("q"))
    doc: array = field(default_factory=lambda: array("i"))
    group: array = field(default_factory=lambda: array("i"))
    groups: list[str] = field(default_factory=list)
    test: bytearray = field(default_factory=bytearray)  # per passage: 1 = test split
    documents: int = 0
    words: int = 0
    answered: int = 0  # passages whose request the log has answered
    types: dict[str, int] = field(default_factory=dict)  # document type -> documents

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def patients(self) -> int:
        return sum(g.startswith("patient:") for g in self.groups)

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(number, row)`` of every passage, streamed from the work file."""
        assert self.path is not None
        for i, (_, _, row) in enumerate(stream_rows(self.path)):
            yield i, row

    def open(self) -> IO[bytes]:
        assert self.path is not None
        return self.path.open("rb")

    def row(self, i: int, f: IO[bytes]) -> dict[str, Any]:
        return read_at(f, self.offsets[i])

    def split(self, share: float, seed: int) -> tuple[int, int]:
        """Mark the test passages (see the module docstring); ``(test groups, train groups)``."""
        order = sorted(range(len(self.groups)), key=lambda g: self.groups[g])
        random.Random(seed).shuffle(order)
        n = len(order)
        n_test = min(max(1, round(share * n)), n - 1) if n > 1 else n
        test_groups = set(order[:n_test])
        self.test = bytearray(1 if g in test_groups else 0 for g in self.group)
        return n_test, n - n_test


def build(source: Path, work: Path | None, key_of: Callable[[dict[str, Any]], str], done: set[str] | dict[str, int],
          min_words: int = chunk.MIN_WORDS, max_words: int = chunk.MAX_WORDS) -> PassageStore:
    """Read and chunk every document; with ``work``, write ``work/passages.jsonl`` (replaced whole).

    Raises:
        TaskFormatError: Problems in the input (all of them, with file and line); nothing is written.
    """
    problems = ProblemCollector()
    store = PassageStore(work / PASSAGES_FILE if work is not None else None)
    group_number: dict[str, int] = {}
    tmp = store.path.with_name(f".{PASSAGES_FILE}.{os.getpid()}.tmp") if store.path is not None else None
    out = tmp.open("wb") if tmp is not None else None
    try:
        offset = 0
        for doc in iter_documents(source, problems):
            store.documents += 1
            store.types[doc.type or "-"] = store.types.get(doc.type or "-", 0) + 1
            g = group_number.setdefault(doc.group, len(group_number))
            for pid, text in chunk.passages(doc.id, doc.text, min_words, max_words):
                row = {"id": pid, "doc": doc.id, "group": doc.group, "type": doc.type, "title": doc.title,
                       "date": doc.date, "text": text}
                row["key"] = key_of(row)
                store.answered += row["key"] in done
                store.offsets.append(offset)
                store.doc.append(store.documents - 1)
                store.group.append(g)
                store.words += len(text.split())
                if out is not None:
                    line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
                    out.write(line)
                    offset += len(line)
        problems.raise_if_any()
        if not len(store):
            raise MedbenchError(f"{source}: no documents with text")
        if out is not None:
            out.close()
            os.replace(tmp, store.path)
    finally:
        if out is not None and not out.closed:
            out.close()
        if tmp is not None and tmp.exists():
            tmp.unlink()
    store.groups = sorted(group_number, key=group_number.__getitem__)
    return store

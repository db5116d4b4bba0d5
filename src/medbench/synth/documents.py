"""The user's documents: a folder of ``.txt`` files, or one ``.jsonl`` / ``.csv`` file, read one document at a time.

In: ``INPUT`` of ``medbench synth``. Out: :class:`Document` objects, streamed (a 400k-document
export is never in memory whole); every problem goes into a
:class:`~medbench.errors.ProblemCollector` with file and line, so all of them are reported at once.
Next: :mod:`medbench.synth.chunk` cuts each document into passages.

Layouts:
    folder/            every ``*.txt`` below it (hidden files and folders left out) is one document;
                       its id is the path without ``.txt`` (the file stem for a flat folder)
    docs.jsonl         one object per line: ``id``, ``text`` and optional ``patient``, ``type``,
                       ``date``, ``title`` (read with :func:`medbench.jsonl.iter_rows`'s rules)
    docs.csv           the same columns, with a header line; ``,`` ``;`` or tab between cells

Other keys or columns are ignored, except one that looks like a misspelt field name (``patinet``):
that is an error, so a typo never silently loses the patient (the split into train and test is by patient).
"""

from __future__ import annotations

import csv
import difflib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError, ProblemCollector
from medbench.synth.stream import stream_rows

FIELDS = ("id", "text", "patient", "type", "date", "title")
OPTIONAL = FIELDS[2:]
FORMATS = "a folder of .txt files, a .jsonl file or a .csv file"


@dataclass(frozen=True)
class Document:
    """One document of the input."""

    id: str
    text: str
    patient: str | None = None
    type: str | None = None
    date: str | None = None
    title: str | None = None
    where: str = ""  # file (and line) it came from, for messages

    @property
    def group(self) -> str:
        """What the train/test split keeps together: the patient, or the document itself."""
        return f"patient:{self.patient}" if self.patient else f"document:{self.id}"


def iter_documents(path: Path, problems: ProblemCollector) -> Iterator[Document]:
    """Every valid document of ``path``, in file order; problems (file:line) go into ``problems``.

    Raises:
        MedbenchError: ``path`` does not exist or is not one of the three layouts.
    """
    path = Path(path)
    if path.is_dir():
        readers = _folder(path, problems)
    elif not path.exists():
        raise MedbenchError(f"{path}: no such file or folder (expected {FORMATS})")
    elif path.suffix.lower() == ".jsonl":
        readers = _jsonl(path, problems)
    elif path.suffix.lower() == ".csv":
        readers = _csv(path, problems)
    else:
        raise MedbenchError(f"{path}: expected {FORMATS}, got a {path.suffix or 'file without'} extension")
    seen: dict[str, str] = {}
    for doc in readers:
        first = seen.get(doc.id)
        if first is not None:
            file, _, line = doc.where.rpartition(":")
            problems.add(Path(file or doc.where), f"duplicate document id {doc.id!r} (first at {first})",
                         line=int(line) if line.isdigit() else None, field="id")
            continue
        seen[doc.id] = doc.where
        yield doc


def _folder(folder: Path, problems: ProblemCollector) -> Iterator[Document]:
    files = sorted(p for p in folder.rglob("*.txt")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise MedbenchError(f"{folder}: no .txt files in this folder (expected {FORMATS})")
    for file in files:
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            problems.add(file, "not UTF-8 text; save the file as UTF-8", line=raw[: exc.start].count(b"\n") + 1)
            continue
        if not text.strip():
            problems.add(file, "empty document")
            continue
        yield Document(file.relative_to(folder).with_suffix("").as_posix(), text, where=str(file))


def _jsonl(path: Path, problems: ProblemCollector) -> Iterator[Document]:
    for lineno, _, row in stream_rows(path, problems=problems):
        doc = _document(path, lineno, row, problems)
        if doc is not None:
            yield doc


def _csv(path: Path, problems: ProblemCollector) -> Iterator[Document]:
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a long document is one cell; restored below
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            yield from _csv_rows(path, f, problems)
    except UnicodeDecodeError:
        problems.add(path, "not UTF-8 text; save the file as CSV UTF-8")
    finally:
        csv.field_size_limit(limit)


def _csv_rows(path: Path, f: Any, problems: ProblemCollector) -> Iterator[Document]:
    header_line = f.readline()
    if not header_line.strip():
        problems.add(path, "empty file: expected a header line with the columns id and text", line=1)
        return
    delimiter = max(",;\t", key=header_line.count)
    header = next(csv.reader([header_line], delimiter=delimiter))
    missing = [k for k in ("id", "text") if k not in header]
    if missing:
        problems.add(path, f"the header has no column {' and no column '.join(missing)} (it has {', '.join(header)})", line=1)
        return
    reader = csv.reader(f, delimiter=delimiter)
    lineno = 1
    while True:
        start = lineno + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(path, f"not readable as CSV: {exc}", line=1 + reader.line_num)
            return
        lineno = 1 + reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.add(path, f"expected {len(header)} cells (as in the header), got {len(cells)}", line=start)
            continue
        doc = _document(path, start, dict(zip(header, cells, strict=True)), problems)
        if doc is not None:
            yield doc


def _document(path: Path, lineno: int, row: dict[str, Any], problems: ProblemCollector) -> Document | None:
    before = len(problems)
    for key in row:
        close = _misspelt(str(key))
        if close:
            problems.add(path, f"unknown key {key!r}: did you mean {close!r}?", line=lineno, field=str(key))
    doc_id = row.get("id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or not str(doc_id).strip():
        problems.add(path, f"expected a non-empty id (string or integer), got {doc_id!r}", line=lineno, field="id")
    elif any(c in str(doc_id) for c in "\t\r\n"):
        problems.add(path, "an id must not hold tabs or line breaks", line=lineno, field="id")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.add(path, f"expected a non-empty text, got {_show(text)}", line=lineno, field="text")
    extra: dict[str, str | None] = {}
    for key in OPTIONAL:
        value = row.get(key)
        if value is None or value == "":
            extra[key] = None
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            problems.add(path, f"expected a string, got {_show(value)}", line=lineno, field=key)
        else:
            extra[key] = str(value).strip() or None
    if len(problems) > before:
        return None
    return Document(str(doc_id).strip(), str(text), where=f"{path}:{lineno}", **extra)


@functools.lru_cache(maxsize=256)
def _misspelt(key: str) -> str | None:
    """The field name an unknown key looks like a typo of (``patinet`` -> ``patient``), if any."""
    if key in FIELDS:
        return None
    close = difflib.get_close_matches(key.casefold(), FIELDS, n=1, cutoff=0.75)
    return close[0] if close else None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

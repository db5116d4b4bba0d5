"""The audit: a random sample of kept pairs -> a sheet a person marks -> the rates the data card reports.

In: the kept questions as they stream past (a seeded reservoir sample of ``--audit N``), later the
sheet a person marked. Out: ``audit.csv`` in the task folder (pair, split, kind, question,
evidence, passage id, passage, and the empty columns ``hallucinated`` and ``wrong`` to fill with
y or n, plus ``note``); :func:`report` reads the marked sheet (problems with file:line) and writes
the rates into ``synth.json`` and the data card beside it.

Marks: ``y``/``yes``/``j``/``ja``/``x``/``1`` and ``n``/``no``/``nein``/``0`` (any case); a row with both
columns empty is not marked yet and left out of the rates. The sheet may be saved back by a
spreadsheet program with ``;`` between cells (as German Excel does), in UTF-8.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError, ProblemCollector

COLUMNS = ("pair", "split", "kind", "question", "evidence", "passage_id", "passage", "hallucinated", "wrong", "note")
MARKS = ("hallucinated", "wrong")
YES = {"y", "yes", "j", "ja", "x", "1", "true"}
NO = {"n", "no", "nein", "0", "false"}


class Reservoir:
    """A uniform random sample of ``n`` items from a stream of unknown length (seeded: the same every run)."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.items: list[Any] = []
        self.seen = 0
        self._random = random.Random(seed)

    def add(self, item: Any) -> None:
        if self.n <= 0:
            return
        self.seen += 1
        if len(self.items) < self.n:
            self.items.append(item)
        else:
            j = self._random.randrange(self.seen)
            if j < self.n:
                self.items[j] = item


def write_sheet(path: Path, items: list[tuple[str, Any, int, bool]], store: Any) -> None:
    """The sheet: one row per sampled ``(question id, Question, passage number, is test)``, in question-id order."""
    with store.open() as f, path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for qid, q, i, test in sorted(items, key=lambda item: item[0]):
            row = store.row(i, f)
            writer.writerow([qid, "test" if test else "train", q.kind, q.question, q.evidence, row["id"], row["text"], "", "", ""])


def _mark(value: str) -> bool | None:
    value = value.strip().casefold()
    if value in YES:
        return True
    if value in NO:
        return False
    raise ValueError(value)


def read_sheet(path: Path) -> dict[str, Any]:
    """The counts of a marked sheet; every bad mark is reported at once with file:line."""
    if not path.is_file():
        raise MedbenchError(f"--audit-report {path}: no such file")
    problems = ProblemCollector()
    counts = {"marked": 0, "unmarked": 0, "hallucinated": 0, "wrong": 0}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header_line = f.readline()
            delimiter = max(",;\t", key=header_line.count)
            header = next(csv.reader([header_line], delimiter=delimiter), [])
            missing = [c for c in ("pair", *MARKS) if c not in header]
            if missing:
                raise MedbenchError(f"{path}:1: the header has no column {', '.join(missing)}; "
                                    f"expected the sheet medbench synth --audit wrote ({', '.join(COLUMNS)})")
            reader = csv.reader(f, delimiter=delimiter)
            line = 1
            for cells in reader:
                start, line = line + 1, 1 + reader.line_num
                if not any(c.strip() for c in cells):
                    continue
                row = dict(zip(header, cells, strict=False))
                values = [row.get(c, "").strip() for c in MARKS]
                if not any(values):
                    counts["unmarked"] += 1
                    continue
                marks: list[bool] = []
                for column, value in zip(MARKS, values, strict=True):
                    try:
                        marks.append(_mark(value))
                    except ValueError:
                        shown = repr(value) if value else "nothing"
                        problems.add(path, f"expected y or n, got {shown} (pair {row.get('pair', '?')})", line=start, field=column)
                if len(marks) == len(MARKS):
                    counts["marked"] += 1
                    counts["hallucinated"] += marks[0]
                    counts["wrong"] += marks[1]
    except UnicodeDecodeError:
        raise MedbenchError(f"{path}: not UTF-8 text; save the sheet as CSV UTF-8") from None
    except csv.Error as exc:
        raise MedbenchError(f"{path}: not readable as CSV: {exc}") from None
    problems.raise_if_any()
    if not counts["marked"]:
        raise MedbenchError(f"{path}: no row is marked yet: fill the columns hallucinated and wrong with y or n")
    counts["hallucinated_rate"] = counts["hallucinated"] / counts["marked"]
    counts["wrong_rate"] = counts["wrong"] / counts["marked"]
    return counts


def report(sheet: Path) -> tuple[dict[str, Any], Path | None]:
    """Read the marked sheet and write its rates into the data card beside it; ``(counts, card or None)``."""
    from medbench.synth.output import REPORT_FILE, write_report

    counts = read_sheet(sheet)
    folder = sheet.parent
    summary = folder / REPORT_FILE
    if not summary.is_file():
        return counts, None
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MedbenchError(f"{summary}: not readable ({exc}); the rates are not written into the data card") from None
    data["audit"] = counts
    write_report(folder, data)
    return counts, folder / "README.md"

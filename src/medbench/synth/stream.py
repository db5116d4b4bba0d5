"""Big JSON-lines files read a block at a time through medbench's one reader, :func:`medbench.jsonl.iter_rows`.

In: a JSON-lines file of any size (400k documents, a generation log of millions of calls).
Out: ``(line number, byte offset, object)`` for each line, with the reader's rules and file:line
messages unchanged; at most one block (``BLOCK`` bytes of whole lines) is in memory at a time.
The byte offset lets a caller come back to one line later (:func:`read_at`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError, ProblemCollector
from medbench.jsonl import iter_rows

BLOCK = 8 << 20


def stream_rows(path: Path, *, problems: ProblemCollector | None = None, skip_damaged: bool = False,
                block: int = BLOCK) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(line number, byte offset of the line, object)`` for every JSON line of ``path``.

    A damaged line goes to ``problems`` (file:line), is skipped with ``skip_damaged`` (a log whose
    last line a kill cut short), or raises :class:`~medbench.errors.MedbenchError` naming file and line.
    """
    path = Path(path)
    first_line, start = 1, 0
    with path.open("rb") as f:
        carry = b""
        while True:
            data = f.read(block)
            buf = carry + data
            cut = buf.rfind(b"\n") + 1 if data else len(buf)
            chunk, carry = buf[:cut], buf[cut:]
            if chunk:
                yield from _rows(path, chunk, first_line, start, problems, skip_damaged)
                first_line += chunk.count(b"\n")
                start += len(chunk)
            if not data:
                return


def _rows(path: Path, chunk: bytes, first_line: int, start: int, problems: ProblemCollector | None,
          skip_damaged: bool) -> Iterator[tuple[int, int, dict[str, Any]]]:
    offsets = [0]
    for line in chunk.split(b"\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    local = ProblemCollector()
    shown = 0

    def move() -> None:  # the block's problems, in line order with the rows
        nonlocal shown
        for p in local.problems[shown:]:
            line = first_line + p.line - 1 if p.line is not None else None
            if problems is None:
                raise MedbenchError(f"{path}:{line}: {p.message}")
            problems.add(path, p.message, line=line, field=p.field)
        shown = len(local.problems)

    for lineno, row in iter_rows(path, chunk, problems=None if skip_damaged else local, skip_damaged=skip_damaged):
        move()
        yield first_line + lineno - 1, start + offsets[lineno - 1], row
    move()


def read_at(f: Any, offset: int) -> dict[str, Any]:
    """The JSON object on the line that starts at byte ``offset`` of an open binary file."""
    import json

    f.seek(offset)
    return json.loads(f.readline())

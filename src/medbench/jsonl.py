"""The one JSON-lines reader: the same rules for every file medbench reads, and file:line in every error.

Task data, training pairs, per-item scores, run logs and the suite's sources all go through
:func:`iter_rows`. Rules: UTF-8 (checked per line, so the error names the line), a byte-order mark
on the first line ignored, ``\\r\\n`` accepted, blank lines skipped, one JSON object per line. A bad
line is recorded in a :class:`~medbench.errors.ProblemCollector` when one is given (so that all
problems of a folder are reported together), skipped when ``skip_damaged`` (a log whose last line
a kill cut short), and otherwise raises :class:`~medbench.errors.MedbenchError` naming file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError, ProblemCollector


def iter_lines(path: Path, data: bytes | None = None, *, problems: ProblemCollector | None = None,
               skip_damaged: bool = False) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a text file with their numbers (1-based), decoded as UTF-8."""
    raw = Path(path).read_bytes() if data is None else data
    for lineno, chunk in enumerate(raw.split(b"\n"), 1):
        try:
            line = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            _bad(path, lineno, f"not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8",
                 problems, skip_damaged)
            continue
        if lineno == 1:
            line = line.lstrip("\ufeff")
        if line.strip():
            yield lineno, line.rstrip("\r")


def iter_rows(path: Path, data: bytes | None = None, *, problems: ProblemCollector | None = None,
              skip_damaged: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every line of a JSON-lines file."""
    for lineno, line in iter_lines(path, data, problems=problems, skip_damaged=skip_damaged):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            _bad(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})", problems, skip_damaged)
            continue
        if not isinstance(row, dict):
            _bad(path, lineno, f"expected a JSON object per line, got {type(row).__name__}", problems, skip_damaged)
            continue
        yield lineno, row


def read_rows(path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Every object of a JSON-lines file (see :func:`iter_rows` for the options)."""
    return [row for _, row in iter_rows(path, **kwargs)]


def _bad(path: Path, lineno: int, message: str, problems: ProblemCollector | None, skip: bool) -> None:
    if problems is not None:
        problems.add(Path(path), message, line=lineno)
    elif not skip:
        raise MedbenchError(f"{path}:{lineno}: {message}")

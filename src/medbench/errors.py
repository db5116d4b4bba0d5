"""User-facing errors: every problem names a file, a line or field, and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's input.

    Attributes:
        path: The file (or folder) the problem is in.
        message: What is wrong and what was expected.
        line: 1-based line number, when the problem sits on one line.
        field: The key or column concerned, when there is one.
    """

    path: Path
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


class MedbenchError(Exception):
    """A user mistake: the CLI prints it without a traceback and exits 1."""


class TaskFormatError(MedbenchError):
    """One or more problems in a task folder, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProblemCollector:
    """Collects problems so several can be reported at once.

    Examples:
        >>> c = ProblemCollector()
        >>> c.add(Path("task.yaml"), "missing key", field="name")
        >>> c.raise_if_any()
        Traceback (most recent call last):
        ...
        medbench.errors.TaskFormatError: task.yaml: name: missing key
    """

    #: Stop collecting after this many problems: one broken 100k-line file would flood the terminal.
    LIMIT = 50

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, *, line: int | None = None, field: str | None = None) -> None:
        if len(self.problems) < self.LIMIT:
            self.problems.append(Problem(Path(path), message, line, field))
        elif len(self.problems) == self.LIMIT:
            self.problems.append(Problem(Path(path), "too many problems; fix these first"))

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise TaskFormatError(list(self.problems))

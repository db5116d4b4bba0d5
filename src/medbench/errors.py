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

    One collector is shared by every folder (and file) that is checked together, so callers that
    need to know whether *their* part added a problem compare ``len(collector)`` (or
    ``len(collector.problems)``) before and after, never ``bool(collector)``: that would also be
    true for a problem of an earlier folder, and hide the checks that depend on it.

    Examples:
        >>> c = ProblemCollector()
        >>> c.add(Path("task.yaml"), "missing key", field="name")
        >>> c.raise_if_any()
        Traceback (most recent call last):
        ...
        medbench.errors.TaskFormatError: task.yaml: name: missing key
    """

    #: Report at most this many problems: one broken 100k-line file would flood the terminal.
    LIMIT = 50

    def __init__(self) -> None:
        #: Every problem found, in order. Past :attr:`LIMIT` a problem is counted but not kept
        #: (one shared placeholder per problem), so the length is always the number found and a
        #: file with millions of bad lines costs a pointer per line.
        self.problems: list[Problem] = []
        self._first_hidden: Path | None = None

    def add(self, path: Path, message: str, *, line: int | None = None, field: str | None = None) -> None:
        if len(self.problems) < self.LIMIT:
            self.problems.append(Problem(Path(path), message, line, field))
            return
        if self._first_hidden is None:
            self._first_hidden = Path(path)
        self.problems.append(_HIDDEN)

    def __len__(self) -> int:
        """The number of problems found so far (including those past the limit)."""
        return len(self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def shown(self) -> list[Problem]:
        """The problems to report: the first :attr:`LIMIT`, then one line counting the rest."""
        out = self.problems[: self.LIMIT]
        hidden = len(self.problems) - len(out)
        if hidden:
            assert self._first_hidden is not None
            more = f"{hidden} more problem{'s' if hidden > 1 else ''} not shown; fix these first"
            out.append(Problem(self._first_hidden, more))
        return out

    def raise_if_any(self) -> None:
        if self.problems:
            raise TaskFormatError(self.shown())


#: The placeholder kept for each problem past ProblemCollector.LIMIT.
_HIDDEN = Problem(Path("."), "not shown")

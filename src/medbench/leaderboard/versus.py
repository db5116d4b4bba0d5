"""Any two stored models side by side: ``medbench compare A B``.

In: result folders, two model names (``org/name`` or ``org/name@revision``, a revision prefix is
enough). Out: :class:`Versus`, every score column both have, with B - A, a paired bootstrap interval
and a paired permutation p over the same queries/pairs (the test the leaderboard runs between a
fine-tuned model and its base, :func:`medbench.leaderboard.rows.compare`). Next: the command prints it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medbench.errors import MedbenchError
from medbench.leaderboard.model import RESAMPLES, BoardRow, Comparison, ModelResults
from medbench.leaderboard.read import load_results, task_infos
from medbench.leaderboard.rows import build_board, compare


@dataclass
class Versus:
    a: BoardRow
    b: BoardRow
    comparisons: list[Comparison]  # base = A, tuned = B: delta = B - A


def pick(models: Sequence[ModelResults], spec: str) -> ModelResults:
    """The stored model a user named: ``name`` (its only revision) or ``name@revision`` (a prefix will do)."""
    name, _, revision = spec.partition("@")
    same = [m for m in models if m.name == name] or [m for m in models if m.name.casefold() == name.casefold()]
    if not same:
        names = sorted({m.name for m in models})
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5) or difflib.get_close_matches(
            name.rpartition("/")[2], [n.rpartition("/")[2] for n in names], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; stored: {', '.join(names)}"
        raise MedbenchError(f"no stored results of the model {name!r}{hint}")
    if revision:
        same = [m for m in same if m.revision.startswith(revision)]
        if not same:
            raise MedbenchError(f"no stored results of {name} at revision {revision!r}")
    if len(same) > 1:
        options = ", ".join(f"{m.name}@{m.revision[:12]}" for m in sorted(same, key=lambda m: m.revision))
        raise MedbenchError(f"{name} has results of {len(same)} revisions: name one, e.g. {options}")
    return same[0]


def versus(results_dirs: Sequence[Path | str], a: str, b: str, *, tasks_dirs: Sequence[Path | str] = (),
           resamples: int = RESAMPLES) -> Versus:
    """Model ``b`` against model ``a`` in every column both have (see the module docstring)."""
    from medbench.tasks import discover

    models = load_results(results_dirs)
    if not models:
        raise MedbenchError(f"no results found in {', '.join(map(str, results_dirs))} (run `medbench run` first)")
    ma, mb = pick(models, a), pick(models, b)
    if (ma.name, ma.revision) == (mb.name, mb.revision):
        raise MedbenchError(f"{a} and {b} are the same model revision: name two different ones")
    board = build_board([ma, mb], task_infos(discover(list(tasks_dirs))), resamples)
    rows = {(r.name, r.revision): r for r in board.rows}
    ra, rb = rows[(ma.name, ma.revision)], rows[(mb.name, mb.revision)]
    return Versus(ra, rb, compare(rb, ra, mb, ma, resamples))

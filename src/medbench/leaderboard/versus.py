"""Any two stored models side by side: ``medbench compare A B``.

In: result folders, two models named as ``medbench publish`` names one (``org/name`` or
``org/name@revision``, a revision prefix is enough; a result folder; a local model folder), found by
:func:`medbench.leaderboard.read.find_model`. Out: :class:`Versus`, every score column both have,
with B - A, a paired bootstrap interval and a paired permutation p over the same queries/pairs (the
test the leaderboard runs between a fine-tuned model and its base,
:func:`medbench.leaderboard.rows.compare`). Next: the command prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medbench.errors import MedbenchError
from medbench.leaderboard.model import RESAMPLES, BoardRow, Comparison
from medbench.leaderboard.read import read_named_model, task_infos
from medbench.leaderboard.rows import build_board, compare


@dataclass
class Versus:
    a: BoardRow
    b: BoardRow
    comparisons: list[Comparison]  # base = A, tuned = B: delta = B - A


def versus(results_dirs: Sequence[Path | str], a: str, b: str, *, tasks_dirs: Sequence[Path | str] = (),
           resamples: int = RESAMPLES) -> Versus:
    """Model ``b`` against model ``a`` in every column both have (see the module docstring)."""
    from medbench.tasks import discover

    ma, mb = read_named_model(a, results_dirs), read_named_model(b, results_dirs)
    if (ma.name, ma.revision) == (mb.name, mb.revision):
        raise MedbenchError(f"{a} and {b} are the same model revision: name two different ones")
    board = build_board([ma, mb], task_infos(discover(list(tasks_dirs))), resamples)
    rows = {(r.name, r.revision): r for r in board.rows}
    ra, rb = rows[(ma.name, ma.revision)], rows[(mb.name, mb.revision)]
    return Versus(ra, rb, compare(rb, ra, mb, ma, resamples))

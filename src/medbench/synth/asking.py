"""Asking: many requests at once over the endpoints, each call logged, with a progress bar.

In: an iterator of ``(log id, request key, request body)`` for the requests the log has no answer
for, the :class:`~medbench.synth.client.ChatClient`, the :class:`~medbench.synth.log.LogWriter`.
Out: every call appended to the generation log (the answers are read back from it later); the
number of requests asked. Used for the questions (:mod:`medbench.synth.pipeline`) and for the
judge's grades (:mod:`medbench.synth.judge`).

``concurrency`` threads send requests; the main thread feeds them at most twice that many at a
time (so a 400k-passage input is never held in memory) and stops the run when
:data:`FAILURES_IN_A_ROW` requests in a row fail on every attempt (the endpoints are down).
"""

from __future__ import annotations

import functools
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from medbench.errors import MedbenchError
from medbench.synth.client import ChatClient, Result
from medbench.synth.log import LogWriter

#: this many requests failing in a row (every attempt) stops the run: the endpoints are down
FAILURES_IN_A_ROW = 25

Item = tuple[str, str, dict[str, Any]]  # (id in the log, request key, request body)


def ask_all(items: Iterator[Item], client: ChatClient, writer: LogWriter, concurrency: int, *, progress: bool,
            total: int, initial: int = 0, unit: str = "passage", desc: str = "asking",
            count: Callable[[Result, Item], int] = lambda r, i: 0, counted: str = "") -> int:
    """Send every item's request (``concurrency`` at once); returns how many were asked.

    ``count(result, item)`` adds to the number shown after ``counted`` in the bar (e.g. questions kept).
    """
    from tqdm import tqdm

    tasks: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            item = tasks.get()
            if item is None:
                return
            log_id, key, body = item
            try:
                result = client.complete(body, functools.partial(writer.write, log_id, key, body), stop)
                results.put((result, count(result, item)))
            except BaseException as exc:  # noqa: B036 - handed to the main thread, which raises it
                results.put((exc, 0))

    threads = [threading.Thread(target=work, daemon=True, name=f"synth-{n}") for n in range(concurrency)]
    for t in threads:
        t.start()
    bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, disable=not progress, dynamic_ncols=True, file=sys.stderr)
    asked = shown = failed = in_a_row = in_flight = 0
    try:
        while True:
            while in_flight < 2 * concurrency:
                item = next(items, None)
                if item is None:
                    break
                tasks.put(item)
                in_flight += 1
            if not in_flight:
                break
            try:
                result, n = results.get(timeout=0.2)
            except queue.Empty:
                continue
            in_flight -= 1
            if isinstance(result, BaseException):
                raise result
            asked += 1
            shown += n
            if result.ok:
                in_a_row = 0
            else:
                failed += 1
                in_a_row += 1
                if in_a_row >= max(FAILURES_IN_A_ROW, 2 * concurrency):
                    last_error = result.attempts[-1].error or ""
                    raise MedbenchError(f"the last {in_a_row} requests failed on every attempt (last error: {last_error}); "
                                        "check --endpoint. The generation log keeps every answer so far: the same command resumes.")
            bar.update(1)
            postfix = [f"{counted} so far≈{shown}"] if counted else []
            bar.set_postfix_str(", ".join(postfix + ([f"failed {failed}"] if failed else [])), refresh=False)
    finally:
        stop.set()
        for _ in threads:
            tasks.put(None)
        bar.close()
    return asked

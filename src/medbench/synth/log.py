"""The generation log: every LLM call, one JSON line each, append-only; what a resumed run reads first.

In: the :class:`~medbench.synth.client.Attempt` of every call with its passage id and request.
Out: ``generation.jsonl`` (passage, request key, endpoint, attempt number, time, seconds, HTTP
status, the raw request, the raw answer or the error), each line written whole and flushed at
once; :func:`scan` reads it back, streamed, into the answers a new run need not ask for again.
Next: :mod:`medbench.synth.filters` reads the answers through :meth:`LogState.answer`.

Resume rule: a passage is done when the log holds a successful answer to the very request this
run would send (same model, prompt, passage and schema: the request key). A last line cut short
by a kill is skipped (and closed with a line break, so the next line starts clean).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from medbench.synth.client import Attempt
from medbench.synth.stream import read_at, stream_rows

LOG_FILE = "generation.jsonl"


@dataclass
class LogState:
    """What the log holds: the answer of each done request (by byte offset) and the counts of its calls."""

    path: Path
    done: dict[str, int] = field(default_factory=dict)  # request key -> offset of its successful line
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # error kind -> calls
    damaged: int = 0
    tokens: Counter[str] = field(default_factory=Counter)  # prompt_tokens / completion_tokens the servers reported

    def answer(self, key: str, f: IO[bytes]) -> str | None:
        """The answer to the request ``key`` (``f``: the log opened for reading in binary mode)."""
        offset = self.done.get(key)
        return None if offset is None else read_at(f, offset)["answer"]

    def count(self, record: dict[str, Any], offset: int) -> None:
        self.calls += 1
        if record.get("ok") and isinstance(record.get("answer"), str):
            self.done.setdefault(str(record.get("key")), offset)
            for name in ("prompt_tokens", "completion_tokens"):
                value = (record.get("usage") or {}).get(name)
                if isinstance(value, int):
                    self.tokens[name] += value
        else:
            self.errors[error_kind(record.get("error"), record.get("status"))] += 1


def error_kind(error: str | None, status: int | None) -> str:
    """A short name for the data card: ``HTTP 429``, ``timeout``, ``connection``, ``not a completion``."""
    if status and status != 200:
        return f"HTTP {status}"
    text = error or "unknown"
    for kind in ("timeout", "connection", "not a chat completion"):
        if text.startswith(kind):
            return kind
    return text.split(":")[0][:40]


def scan(path: Path) -> LogState:
    """Read a log (streamed); a missing file is an empty log, damaged lines are counted and skipped."""
    state = LogState(Path(path))
    if not state.path.exists():
        return state
    rows = 0
    for _, offset, record in stream_rows(state.path, skip_damaged=True):
        rows += 1
        state.count(record, offset)
    with state.path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    state.damaged = lines - rows
    return state


class LogWriter:
    """Appends lines to the log from any thread; each line is one write, flushed at once."""

    def __init__(self, state: LogState):
        self.state = state
        self._lock = threading.Lock()
        state.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[bytes] | None = state.path.open("ab")
        if self._f.tell() > 0:
            with state.path.open("rb") as r:
                r.seek(-1, 2)
                if r.read(1) != b"\n":  # a line a kill cut short: end it, so it stays one damaged line
                    self._f.write(b"\n")
                    self._f.flush()

    def write(self, passage: str, key: str, request: dict[str, Any], attempt: Attempt) -> None:
        record = {
            "passage": passage, "key": key, "endpoint": attempt.endpoint, "attempt": attempt.attempt,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(attempt.started)) + "Z",
            "seconds": attempt.seconds, "status": attempt.status, "ok": attempt.ok, "request": request,
        }
        if attempt.ok:
            record["answer"] = attempt.answer
            if attempt.usage:
                record["usage"] = attempt.usage
        else:
            record["error"] = attempt.error
            if attempt.response is not None:
                record["response"] = attempt.response
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._f is None:  # closed after Ctrl-C: the answer is lost, the passage is asked again next time
                return
            offset = self._f.tell()
            self._f.write(line)
            self._f.flush()
            self.state.count(record, offset)

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None

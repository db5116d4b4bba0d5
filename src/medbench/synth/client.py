"""The LLM client: chat requests -> answers from OpenAI-compatible ``/v1/chat/completions`` endpoints.

In: request bodies (:func:`medbench.synth.prompts.request_body`), one or more endpoint URLs, the
name of the environment variable that holds the API key. Out: :class:`Attempt` records (one per
HTTP call, for the generation log) and the final :class:`Result` of each request.
Next: :mod:`medbench.synth.log` writes every attempt; :mod:`medbench.synth.filters` reads the answers.

Only the standard library (``http.client``): one kept-alive connection per thread and endpoint.
Each request goes to the least busy endpoint (ties in turn), a retry to another one when there
are several. Retried, with exponential backoff and jitter, up to ``max_attempts`` calls: 429
(waiting at least its ``Retry-After``), 408, 5xx, timeouts, refused or dropped connections and
answers that are not a chat completion. Not retried: 400, 413, 422 (the passage fails). Fatal for
the whole run (:class:`EndpointError`): 401, 403, 404 (wrong key, model or URL).

The API key is read from the environment and sent as ``Authorization: Bearer``; it is never
logged, and removed from any server text that is logged.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from medbench.errors import MedbenchError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401: "the API key was refused", 403: "access is forbidden",
                404: "no such URL or model (check --endpoint and --llm)"}


class EndpointError(MedbenchError):
    """An endpoint refuses every request (bad key, URL or model): retrying cannot help."""


@dataclass
class Attempt:
    """One HTTP call: what the generation log records."""

    endpoint: str
    attempt: int
    started: float
    seconds: float
    status: int | None = None
    answer: str | None = None  # the message content of a chat completion
    usage: dict[str, Any] | None = None
    error: str | None = None
    response: str | None = None  # the start of the body when it was not a usable answer
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.answer is not None


@dataclass
class Result:
    """The outcome of one request after all its attempts."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].ok

    @property
    def answer(self) -> str | None:
        return self.attempts[-1].answer if self.attempts else None


@dataclass
class Endpoint:
    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    busy: int = 0


def parse_endpoint(url: str) -> Endpoint:
    """``http://gpu-box:8000/v1`` (or the full ``.../chat/completions`` URL) -> an :class:`Endpoint`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MedbenchError(f"--endpoint {url!r}: expected a URL such as http://gpu-box:8000/v1")
    if parts.username or parts.password:
        raise MedbenchError(f"--endpoint {parts.scheme}://...@{parts.hostname}: no credentials in the URL; "
                            "put the key into an environment variable and name it with --api-key-env")
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    try:
        port = parts.port
    except ValueError:
        raise MedbenchError(f"--endpoint {url!r}: the port is not a number") from None
    return Endpoint(url.strip().rstrip("/"), parts.scheme, parts.hostname, port, path)


class ChatClient:
    """Sends chat requests to the endpoints, from any number of threads at once.

    Args:
        urls: The endpoints (``--endpoint``, repeatable).
        api_key: The key, or None for servers without one.
        timeout: Seconds to wait for one answer.
        max_attempts: Calls per request at the most.
        backoff: Seconds before the first retry (doubled each time, plus up to as much again at random).
        max_backoff: The longest wait between two calls (a ``Retry-After`` may ask for up to ``max_retry_after``).
    """

    def __init__(self, urls: list[str], api_key: str | None = None, *, timeout: float = 120.0, max_attempts: int = 5,
                 backoff: float = 1.0, max_backoff: float = 60.0, max_retry_after: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep):
        if not urls:
            raise MedbenchError("give at least one --endpoint")
        self.endpoints = [parse_endpoint(u) for u in urls]
        self.api_key = api_key or None
        self.timeout, self.max_attempts = timeout, max(1, max_attempts)
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, max_retry_after
        self.sleep = sleep
        self._lock = threading.Lock()
        self._turn = 0
        self._local = threading.local()
        self._connections: set[http.client.HTTPConnection] = set()  # every thread's, for close()
        self._random = random.Random()

    # -- choosing an endpoint -------------------------------------------------------------------
    def _acquire(self, avoid: Endpoint | None) -> Endpoint:
        with self._lock:
            n = len(self.endpoints)
            order = [self.endpoints[(self._turn + i) % n] for i in range(n)]
            self._turn = (self._turn + 1) % n
            choices = [e for e in order if e is not avoid] or order
            best = min(choices, key=lambda e: e.busy)
            best.busy += 1
            return best

    def _release(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.busy -= 1

    # -- one call -------------------------------------------------------------------------------
    def _connection(self, endpoint: Endpoint) -> http.client.HTTPConnection:
        pool = self._local.__dict__.setdefault("pool", {})
        conn = pool.get(endpoint.url)
        if conn is None:
            cls = http.client.HTTPSConnection if endpoint.scheme == "https" else http.client.HTTPConnection
            conn = pool[endpoint.url] = cls(endpoint.host, endpoint.port, timeout=self.timeout)
            with self._lock:
                self._connections.add(conn)
        return conn

    def _drop(self, endpoint: Endpoint) -> None:
        conn = self._local.__dict__.get("pool", {}).pop(endpoint.url, None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._connections.discard(conn)

    def _call(self, endpoint: Endpoint, payload: bytes, number: int) -> Attempt:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        started = time.time()
        attempt = Attempt(endpoint.url, number, started, 0.0)
        try:
            for tries in (1, 2):  # a kept-alive connection the server closed meanwhile: once more on a new one
                conn = self._connection(endpoint)
                try:
                    conn.request("POST", endpoint.path, body=payload, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._drop(endpoint)
                    if tries == 2:
                        raise
            attempt.status = response.status
            if response.getheader("Connection", "").lower() == "close":
                self._drop(endpoint)
            self._read(attempt, response, body)
        except (TimeoutError, socket.timeout):
            self._drop(endpoint)
            attempt.error = f"timeout after {self.timeout:g}s"
        except (OSError, http.client.HTTPException) as exc:
            self._drop(endpoint)
            attempt.error = f"connection failed: {type(exc).__name__}: {exc}"
        attempt.seconds = round(time.time() - started, 4)
        return attempt

    def _read(self, attempt: Attempt, response: http.client.HTTPResponse, body: bytes) -> None:
        text = body.decode("utf-8", errors="replace")
        if response.status != 200:
            attempt.error = f"HTTP {response.status} {response.reason}"
            attempt.response = self._redact(text[:2000])
            attempt.retry_after = _retry_after(response.getheader("Retry-After"))
            return
        try:
            data = json.loads(text)
            content = data["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            attempt.error = f"not a chat completion ({type(exc).__name__}: {exc})"
            attempt.response = self._redact(text[:2000])
            return
        attempt.answer = self._redact(content)
        usage = data.get("usage")
        attempt.usage = usage if isinstance(usage, dict) else None

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "[API key]") if self.api_key else text

    # -- a request with its retries ------------------------------------------------------------
    def complete(self, body: dict[str, Any], on_attempt: Callable[[Attempt], None] = lambda a: None,
                 stop: threading.Event | None = None) -> Result:
        """Send one request, retrying as the module docstring says; ``on_attempt`` sees every call.

        Raises:
            EndpointError: The endpoint answered 401, 403 or 404.
        """
        payload = json.dumps(body, ensure_ascii=False).encode()
        result = Result()
        previous: Endpoint | None = None
        for number in range(1, self.max_attempts + 1):
            endpoint = self._acquire(previous)
            try:
                attempt = self._call(endpoint, payload, number)
            finally:
                self._release(endpoint)
            result.attempts.append(attempt)
            on_attempt(attempt)
            if attempt.ok:
                return result
            if attempt.status in FATAL_STATUS:
                raise EndpointError(f"{endpoint.url} answered {attempt.error}: {FATAL_STATUS[attempt.status]}"
                                    + (f"\n  {attempt.response[:300]}" if attempt.response else ""))
            retryable = attempt.status is None or attempt.status in RETRY_STATUS or attempt.status == 200
            if not retryable or number == self.max_attempts or (stop is not None and stop.is_set()):
                return result
            previous = endpoint
            wait = min(self.max_backoff, self.backoff * 2 ** (number - 1))
            wait += self._random.uniform(0, wait)
            if attempt.retry_after is not None:
                wait = max(wait, min(attempt.retry_after, self.max_retry_after))
            if stop is not None:
                if stop.wait(wait):
                    return result
            else:
                self.sleep(wait)
        return result

    def close(self) -> None:
        """Close every thread's connections (call when no request is running any more)."""
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            conn.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

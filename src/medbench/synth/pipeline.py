"""``medbench synth``: documents -> passages -> LLM questions -> filters -> a task folder with train.jsonl.

In: a :class:`SynthConfig` (the command's options). Out: the task folder at ``config.out``
(:mod:`medbench.synth.output`) and a :class:`~medbench.synth.output.Report` of the counts of every step.
The steps, each in its own module:

    documents.py   the input, one document at a time        chunk.py      passages of 100-250 words
    passages.py    the passages' work file, train/test split prompts.py    the request per passage
    client.py      OpenAI-compatible endpoints, retries     log.py        every call, the resume state
    asking.py      many requests at once, the progress bar   judge.py      --judge: grades of other passages
    filters.py     parsing and the per-question filters     retrieval.py  BM25 round trip, hard negatives
    output.py      the task folder and its data card        audit.py      the sheet for a person to mark

The work folder ``.<out name>.synth/`` beside the output keeps the passages and the generation log
between runs: a run that stops (Ctrl-C, a kill, a server gone) resumes from the log when the same
command runs again, asking only for the passages it has no answer for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError
from medbench.synth import filters, passages
from medbench.synth.asking import Item, ask_all
from medbench.synth.client import ChatClient
from medbench.synth.log import LOG_FILE, LogState, LogWriter, scan
from medbench.synth.output import Report, TaskWriter, check_out, task_name
from medbench.synth.prompts import Templates, evidence_choices, request_body, request_key

#: tokens per word for the dry run's estimate (German clinical text; English is nearer 1.3)
TOKENS_PER_WORD = 1.4
#: words an answer takes per question (question, evidence and the JSON around them), for the estimate
ANSWER_WORDS_PER_QUESTION = 45
ROUND_TRIP_BATCH = 1024


@dataclass
class SynthConfig:
    """The options of ``medbench synth`` (see its ``--help``)."""

    input: Path
    language: str
    out: Path | None = None
    endpoints: list[str] = field(default_factory=list)
    model: str | None = None
    questions: int = 2
    concurrency: int = 8
    prompts: Path | None = None
    top_k: int = 5
    test_share: float = 0.2
    seed: int = 0
    hard_negatives: bool = False
    audit: int = 0
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 120.0
    max_attempts: int = 5
    backoff: float = 1.0
    temperature: float = 0.7
    name: str | None = None
    evidence: str = "quote"  # or "choose": the schema lists the passage's sentences (prompts.EVIDENCE_MODES)
    judge: int = 0  # > 0: the LLM grades the top k other test passages of each test question (medbench.synth.judge)


def work_folder(out: Path) -> Path:
    """Where the passages and the generation log live between runs: ``.<name>.synth/`` beside the output."""
    return out.parent / f".{out.name}.synth"


def _keyer(config: SynthConfig, templates: Templates) -> Callable[[dict[str, Any]], str]:
    return lambda row: request_key(_body(config, templates, row))


def _body(config: SynthConfig, templates: Templates, row: dict[str, Any]) -> dict[str, Any]:
    messages = templates.messages(row["text"], row.get("type"), row.get("title"), config.questions)
    choices = evidence_choices(row["text"]) if config.evidence == "choose" else None
    return request_body(config.model or "", messages, config.questions, config.temperature, choices)


def dry_run(config: SynthConfig) -> dict[str, Any]:
    """Count documents and passages and estimate calls and tokens; asks nothing, writes nothing."""
    templates = Templates.load(config.language, config.prompts, config.evidence)
    done = scan(work_folder(config.out) / LOG_FILE).done if config.out is not None else {}
    store = passages.build(config.input, None, _keyer(config, templates), done)
    prompt_words = len(" ".join(m["content"] for m in templates.messages("", None, None, config.questions)).split())
    left = len(store) - store.answered
    return {
        "documents": store.documents, "passages": len(store), "words": store.words, "patients": store.patients,
        "groups": len(store.groups), "types": store.types, "calls": left, "answered": store.answered,
        "prompt_tokens": round((store.words + prompt_words * len(store)) * TOKENS_PER_WORD * left / max(1, len(store))),
        "completion_tokens": round(left * config.questions * ANSWER_WORDS_PER_QUESTION * TOKENS_PER_WORD),
        "tokens_per_word": TOKENS_PER_WORD, "answer_words_per_question": ANSWER_WORDS_PER_QUESTION,
    }


def run(config: SynthConfig, *, progress: bool = True, echo: Callable[[str], None] = lambda s: None) -> Report:
    """The whole pipeline (see the module docstring). Ctrl-C leaves the log whole; the same call resumes."""
    if config.out is None or not config.endpoints or not config.model:
        raise MedbenchError("medbench synth needs --out, --endpoint and --llm (or --dry-run)")
    name = task_name(config.out, config.name)
    check_out(config.out)
    templates = Templates.load(config.language, config.prompts, config.evidence)
    client = ChatClient(config.endpoints, os.environ.get(config.api_key_env) or None, timeout=config.timeout,
                        max_attempts=config.max_attempts, backoff=config.backoff)
    work = work_folder(config.out)
    work.mkdir(parents=True, exist_ok=True)
    with _only_run(work, config.out):
        return _run(config, name, templates, client, work, progress, echo)


@contextlib.contextmanager
def _only_run(work: Path, out: Path) -> Iterator[None]:
    """One run per work folder at a time: a second one stops at once (it would ask for the same passages)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with (work / "lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MedbenchError(f"another medbench synth is writing {out} (its work folder {work} is locked); "
                                "wait for it to finish or stop it") from None
        yield


def _run(config: SynthConfig, name: str, templates: Templates, client: ChatClient, work: Path, progress: bool,
         echo: Callable[[str], None]) -> Report:
    started = time.time()
    log_path = work / LOG_FILE
    assert config.out is not None
    if not log_path.exists() and (config.out / LOG_FILE).is_file():  # the work folder was deleted: start from the copy
        shutil.copyfile(config.out / LOG_FILE, log_path)
    state = scan(log_path)
    store = passages.build(config.input, work, _keyer(config, templates), state.done)
    test_groups, train_groups = store.split(config.test_share, config.seed)
    echo(f"{store.documents} documents, {len(store)} passages, {len(store.groups)} patient groups "
         f"({test_groups} test, {train_groups} train); {len(store) - store.answered} to ask, {store.answered} in the log")
    report = Report(name=name, model=config.model, language=config.language, endpoints=len(config.endpoints),
                    questions_per_passage=config.questions, top_k=config.top_k, test_share=config.test_share,
                    seed=config.seed, hard_negatives=config.hard_negatives, evidence=config.evidence, temperature=config.temperature,
                    documents=store.documents,
                    passages=len(store), words=store.words, patients=store.patients, groups=len(store.groups),
                    test_groups=test_groups, train_groups=train_groups)
    writer = LogWriter(state)
    wall, cpu = time.time(), time.process_time()
    try:
        report.asked = _generate(config, templates, store, client, writer, progress)
        report.generation_seconds = round(time.time() - wall, 3)
        report.generation_cpu_seconds = round(time.process_time() - cpu, 3)
        echo("filtering the answers and writing the task folder ..." + (" (then the judge)" if config.judge else ""))
        _select_and_write(config, store, state, report, log_path, client, writer, progress)
    finally:
        writer.close()
        client.close()
    report.seconds = round(time.time() - started, 1)
    return report


# -- asking -------------------------------------------------------------------------------------


def _generate(config: SynthConfig, templates: Templates, store: passages.PassageStore, client: ChatClient,
              writer: LogWriter, progress: bool) -> int:
    """Ask for every passage the log has no answer for; returns how many were asked."""
    texts: dict[str, str] = {}  # the passages in flight, for the bar's count of questions kept

    def todo() -> Iterator[Item]:
        for _, row in store.rows():
            if row["key"] not in writer.state.done:
                texts[row["id"]] = row["text"]
                yield row["id"], row["key"], _body(config, templates, row)

    def kept(result: Any, item: Item) -> int:
        return _quick_keep(result.answer, texts.pop(item[0]), config)

    return ask_all(todo(), client, writer, config.concurrency, progress=progress, total=len(store),
                   initial=store.answered, count=kept, counted="questions kept")


def _quick_keep(answer: str | None, passage: str, config: SynthConfig) -> int:
    """Questions that pass the cheap filters (for the progress bar; the real count comes after the round trip)."""
    if answer is None:
        return 0
    try:
        questions, _ = filters.parse_answer(answer, config.questions)
    except filters.Malformed:
        return 0
    grams = filters.ngrams(filters.words(passage))
    return sum(filters.check(q, passage, grams, config.language) is None for q in questions)


# -- filtering and writing ---------------------------------------------------------------------


def _select_and_write(config: SynthConfig, store: passages.PassageStore, state: LogState, report: Report,
                      log_path: Path, client: ChatClient, log: LogWriter, progress: bool) -> None:
    from medbench.synth.audit import Reservoir
    from medbench.synth.retrieval import PassageIndex

    index = PassageIndex(config.language)
    index.build(row["text"] for _, row in store.rows())
    writer = TaskWriter(config.out, store, report)
    reservoir = Reservoir(config.audit, config.seed)
    dupes = filters.NearDuplicates()
    drops: Counter[str] = Counter()
    batch: list[tuple[str, filters.Question, int]] = []
    test_numbers: dict[str, int] = {}  # test passage id -> number, for the judge

    def flush() -> None:
        passed = index.round_trip([q.question for _, q, _ in batch], [i for *_, i in batch], config.top_k)
        for (qid, q, i), ok in zip(batch, passed, strict=True):
            if not ok:
                drops["round_trip"] += 1
            elif not dupes.add(q.question):
                drops["duplicate"] += 1
            else:
                writer.add_question(qid, q, i)
                reservoir.add((qid, q, i, bool(store.test[i])))
        batch.clear()

    try:
        with log_path.open("rb") as log_file:
            for i, row in store.rows():
                if store.test[i]:
                    writer.add_passage(row)
                    if config.judge:
                        test_numbers[row["id"]] = i
                answer = state.answer(row["key"], log_file)
                if answer is None:
                    report.failed += 1
                    continue
                report.answered += 1
                try:
                    questions, bad = filters.parse_answer(answer, config.questions)
                except filters.Malformed:
                    drops["malformed_answer"] += 1
                    continue
                report.proposed += len(questions) + bad
                drops["malformed"] += bad
                grams = filters.ngrams(filters.words(row["text"]))
                for j, q in enumerate(questions, 1):
                    reason = filters.check(q, row["text"], grams, config.language)
                    if reason:
                        drops[reason] += 1
                    else:
                        batch.append((f"{row['id']}-q{j}", q, i))
                if len(batch) >= ROUND_TRIP_BATCH:
                    flush()
            flush()
        report.drops = {r: drops.get(r, 0) for r in filters.REASONS}
        writer.finish_train(index, config.hard_negatives, config.seed)
        if config.judge and report.test_queries:
            from medbench.synth.judge import judge

            report.update(judge(writer.tmp, index, store, test_numbers, model=config.model or "", language=config.language,
                                k=config.judge, client=client, writer=log, concurrency=config.concurrency, progress=progress))
        report.calls, report.errors, report.tokens = state.calls, dict(state.errors), dict(state.tokens)
        writer.publish(log_path, reservoir)
    except BaseException:
        writer.abort()
        raise

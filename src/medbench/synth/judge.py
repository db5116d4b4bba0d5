"""The LLM judge (``--judge K``): grades the passages BM25 ranks high for each test question, to find
relevant passages that the question's own passage does not stand for alone.

A generated question is labelled with one passage, the one it was written from; another test
passage (the same patient's next report, another patient with the same finding) may answer it as
well, and without a label a retriever that ranks it first is punished. The judge asks the LLM, for
each test question, about the top ``K`` other test passages of BM25 (score above 0): grade 2 (it
answers the question), 1 (about the question's subject, answers it in part), 0 (does not). Grades
1 and 2 become extra lines of ``qrels/test.tsv``; every grade is counted in the data card.

In: the test queries and corpus in the task folder being written, the BM25 index over all
passages, the client and the log writer. Out: the qrels lines appended, the counts in the report.
Every call goes to the generation log like the questions' calls, so an interrupted judge resumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medbench.synth import filters, prompts
from medbench.synth.asking import Item, ask_all
from medbench.synth.client import ChatClient
from medbench.synth.log import LogWriter
from medbench.synth.passages import PassageStore
from medbench.synth.stream import stream_rows

GRADES = (0, 1, 2)
BATCH = 1024

_SYSTEM = {
    "de": "Du bist eine erfahrene Klinikerin und beurteilst, ob ein Abschnitt eines klinischen Dokuments eine Suchfrage "
          "beantwortet. Du antwortest nur mit JSON.",
    "en": "You are an experienced clinician judging whether a passage of a clinical document answers a search question. "
          "You answer with JSON only.",
}
_USER = {
    "de": """Suchfrage: {question}

<passage>
{passage}
</passage>

Bewerte den Abschnitt für diese Frage:
2 = der Abschnitt beantwortet die Frage.
1 = der Abschnitt handelt vom Gegenstand der Frage, beantwortet sie aber nur zum Teil.
0 = der Abschnitt beantwortet die Frage nicht.
Antworte nur mit JSON in dieser Form: {{"grade": 0}}""",
    "en": """Search question: {question}

<passage>
{passage}
</passage>

Grade the passage for this question:
2 = the passage answers the question.
1 = the passage is about the question's subject but answers it only in part.
0 = the passage does not answer the question.
Answer with JSON only, in this form: {{"grade": 0}}""",
}
SCHEMA = {"type": "object", "properties": {"grade": {"type": "integer", "enum": list(GRADES)}},
          "required": ["grade"], "additionalProperties": False}


def request_body(model: str, language: str, question: str, passage: str) -> dict[str, Any]:
    """The judge's ``/v1/chat/completions`` body: one question, one passage, the grade's schema; temperature 0."""
    return {
        "model": model,
        "messages": [{"role": "system", "content": _SYSTEM[language]},
                     {"role": "user", "content": _USER[language].format(question=question.strip(), passage=passage.strip())}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": SCHEMA}},
        "temperature": 0.0,
        "max_tokens": 16,
    }


def request_key(body: dict[str, Any]) -> str:
    """The resume key of a judge's request: the questions' key (:func:`medbench.synth.prompts.request_key`), marked."""
    return "judge-" + prompts.request_key(body)


def parse_grade(answer: str | None) -> int | None:
    """The grade of an answer (``{"grade": 0|1|2}``, a Markdown fence unwrapped); ``None`` when it is not that.

        >>> parse_grade('```json\\n{"grade": 2}\\n```'), parse_grade('{"grade": 3}'), parse_grade("yes")
        (2, None, None)
    """
    if answer is None:
        return None
    try:
        data = json.loads(filters.unwrap(answer))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != {"grade"}:
        return None
    grade = data["grade"]
    return grade if type(grade) is int and grade in GRADES else None


def judge(folder: Path, index: Any, store: PassageStore, test_numbers: dict[str, int], *, model: str, language: str,
          k: int, client: ChatClient, writer: LogWriter, concurrency: int, progress: bool) -> dict[str, Any]:
    """Grade the top ``k`` other test passages of every query in ``folder`` (the task being written) and append
    grades 1 and 2 to its ``qrels/test.tsv``; returns the counts for the report.

    ``index``: the BM25 :class:`~medbench.synth.retrieval.PassageIndex` over all passages of ``store``;
    ``test_numbers``: test passage id -> its number in both.
    """
    import numpy as np

    mask = np.zeros(index.size, dtype=np.float32)
    mask[list(test_numbers.values())] = 1.0
    by_number = {n: pid for pid, n in test_numbers.items()}
    pairs_path = folder / ".judge-pairs.jsonl"
    counts: dict[str, Any] = {"judge_k": k, "judge_pairs": 0, "judge_grades": {str(g): 0 for g in GRADES},
                              "judge_unreadable": 0, "judge_failed": 0, "judge_added": 0}
    answered = 0  # pairs the log already has a grade for (a resumed run)

    def body(question: str, pid: str, f: Any) -> dict[str, Any]:
        return request_body(model, language, question, store.row(test_numbers[pid], f)["text"])

    # the pairs to grade, streamed to disk with their request keys: each request is built once here,
    # and again only for the pairs the log has no answer for
    with pairs_path.open("w", encoding="utf-8") as out, store.open() as passages:
        batch: list[tuple[str, str, str]] = []

        def flush() -> None:
            nonlocal answered
            ids, scores = index.top([q for _, q, _ in batch], k + 1, mask)
            for (qid, question, source), row_ids, row_scores in zip(batch, ids, scores, strict=True):
                others = [by_number[int(c)] for c, s in zip(row_ids, row_scores, strict=True) if s > 0 and by_number[int(c)] != source]
                for pid in others[:k]:
                    key = request_key(body(question, pid, passages))
                    out.write(json.dumps({"q": qid, "p": pid, "text": question, "key": key}, ensure_ascii=False) + "\n")
                    counts["judge_pairs"] += 1
                    answered += key in writer.state.done
            batch.clear()

        for _, _, row in stream_rows(folder / "queries.jsonl"):
            batch.append((row["_id"], row["text"], row["_id"].rsplit("-q", 1)[0]))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()

    def pairs() -> Iterator[dict[str, Any]]:
        return (pair for _, _, pair in stream_rows(pairs_path))

    def todo() -> Iterator[Item]:
        with store.open() as passages:
            for pair in pairs():
                if pair["key"] not in writer.state.done:
                    yield f"judge:{pair['q']}:{pair['p']}", pair["key"], body(pair["text"], pair["p"], passages)

    ask_all(todo(), client, writer, concurrency, progress=progress, total=counts["judge_pairs"], initial=answered,
            unit="pair", desc="judging")
    with writer.state.path.open("rb") as log, (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as qrels:
        for pair in pairs():
            key = pair["key"]
            if key not in writer.state.done:
                counts["judge_failed"] += 1
                continue
            grade = parse_grade(writer.state.answer(key, log))
            if grade is None:
                counts["judge_unreadable"] += 1
                continue
            counts["judge_grades"][str(grade)] += 1
            if grade:
                qrels.write(f"{pair['q']}\t{pair['p']}\t{grade}\n")
                counts["judge_added"] += 1
    pairs_path.unlink()
    return counts

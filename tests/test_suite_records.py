"""Suite v2 test records (suite/records.py): whole documents cut by the chunker, graded by quotes."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from conftest import REPO, import_suite


@pytest.fixture(scope="module")
def records():
    return import_suite("records")


def _section(doc: int, sec: int) -> str:
    filler = " ".join(f"w{doc}x{sec}y{i}" for i in range(110))
    return f"Abschnitt {sec}:\nBefundtext {filler} Ende des Abschnitts {doc}-{sec}."


def _record() -> dict:
    types = ["radiology", "pathology", "operation_note", "discharge_letter"]
    docs = [{"id": f"d{d}", "type": types[d - 1], "date": f"2024-0{d}-10", "title": f"Dokument {d}",
             "text": "\n\n".join(_section(d, s) for s in range(1, 7))} for d in range(1, 5)]
    # one answer per question, each in a different passage (d1#2 ... d4#5): spread over the record
    targets = [(d, s) for d in range(1, 5) for s in range(2, 6)]
    chart = [{"id": f"c{n + 1}", "text": f"Frage nach Wert {n} im Verlauf bitte", "answers": [f"w{d}x{s}y5 w{d}x{s}y6"]}
             for n, (d, s) in enumerate(targets[:8])]
    cross = [{"id": f"q{n + 1}", "text": f"Suche Befund Nummer {n} beim Patienten", "answers": [f"w{d}x{s}y7 w{d}x{s}y8"],
              "context": [f"w{d}x{s + 1}y9 w{d}x{s + 1}y10"]} for n, (d, s) in enumerate(targets[8:])]
    return {"patient": "de-test-001", "scenario": "lung cancer", "age": 60, "sex": "f", "diagnosis": "NSCLC",
            "documents": docs, "chart_queries": chart, "queries": cross}


def _problems(records, tmp_path: Path, data: dict) -> tuple[object, list[str]]:
    path = tmp_path / "001.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return records.load_record(path)


def test_a_valid_record_is_chunked_and_graded_through_its_quotes(records, tmp_path) -> None:
    rec, problems = _problems(records, tmp_path, _record())
    assert problems == []
    assert len(rec.passages) == 24 and rec.passages[0].id == "de-test-001-d1#1"
    assert rec.chart[0].grades == {"de-test-001-d1#2": 2}
    assert rec.cross[0].grades == {"de-test-001-d3#2": 2, "de-test-001-d3#3": 1}
    assert all(p.title == f"Dokument {p.doc[1]}" for p in rec.passages)


def test_quotes_that_are_missing_or_cross_a_seam_are_errors(records, tmp_path) -> None:
    data = _record()
    data["chart_queries"][0]["answers"] = ["nicht im Dokument"]
    data["chart_queries"][1]["answers"] = ["Ende des Abschnitts 1-2. Abschnitt 3:"]  # end of d1#2 + start of d1#3
    _, problems = _problems(records, tmp_path, data)
    assert any("chart_queries[0].answers[0]" in p and "not in any document" in p for p in problems)
    assert any("chart_queries[1].answers[0]" in p and "crosses a passage seam" in p for p in problems)


def test_question_rules(records, tmp_path) -> None:
    data = _record()
    data["chart_queries"][0]["text"] = "Wert bei der 60-jährigen Patientin?"
    data["chart_queries"][1]["text"] = "w1x3y5 w1x3y6 w1x3y7 und mehr"  # three words of its answering passage
    data["queries"] = data["queries"][:7]
    _, problems = _problems(records, tmp_path, data)
    assert any("chart_queries[0]" in p and "age" in p for p in problems)
    assert any("chart_queries[1]" in p and "copies" in p for p in problems)
    assert any("queries: expected exactly 8" in p for p in problems)


def test_record_rules_short_records_dates_and_spread(records, tmp_path) -> None:
    short = _record()
    short["documents"] = short["documents"][:3]
    _, problems = _problems(records, tmp_path, short)
    assert any("at least 20" in p for p in problems)

    unordered = _record()
    unordered["documents"][1]["date"] = "2023-01-01"
    _, problems = _problems(records, tmp_path, unordered)
    assert any("documents[1]" in p and "before the previous" in p for p in problems)

    piled = copy.deepcopy(_record())  # three questions answered by the record's first passage
    for q in piled["chart_queries"][:3]:
        q["answers"] = ["w1x1y1 w1x1y2"]
    _, problems = _problems(records, tmp_path, piled)
    assert any("first passage of the record" in p and "answers 3 questions" in p for p in problems)


def test_pooled_judgements_replace_and_count_the_authors_grades(records, tmp_path) -> None:
    sys.path.insert(0, str(REPO / "suite"))
    try:
        import build
    finally:
        sys.path.remove(str(REPO / "suite"))
    rec, problems = _problems(records, tmp_path, _record())
    assert problems == []
    q = rec.cross[0]  # author: d3#2 = 2, d3#3 = 1
    judged = {q.id: {"de-test-001-d3#2": 2, "de-test-001-d3#3": 0, "de-test-001-d1#1": 1, "de-test-001-d4#6": 2}}
    counts = build.PoolCounts()
    _, queries, qrels, _ = build.flatten([rec], "cross", judged, counts)
    grades = {d: g for qid, d, g in qrels if qid == q.id}
    assert grades == {"de-test-001-d3#2": 2, "de-test-001-d1#1": 1, "de-test-001-d4#6": 2}
    assert (counts.questions, counts.judged, counts.added, counts.added_answers, counts.removed) == (1, 4, 2, 1, 1)
    assert "2 grades added" in counts.line() and "1 removed" in counts.line()
    with pytest.raises(SystemExit, match="no longer exist"):
        build.flatten([rec], "cross", {q.id: {"de-test-001-d9#1": 2}}, build.PoolCounts())
    with pytest.raises(SystemExit, match="no passage answers"):
        build.flatten([rec], "cross", {q.id: {"de-test-001-d3#2": 0}}, build.PoolCounts())

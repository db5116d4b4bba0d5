"""Suite v2 test patients: whole documents, cut by medbench's one chunker, graded through quotes.

    python suite/records.py suite/src/de/test/001.json ...   # check files, print each record's figures

A v2 test patient (``suite/src/<lang>/test/NNN.json``) is a record of whole documents as a hospital
system holds them. The passages are not written by hand: the build cuts every document with
:func:`medbench.synth.chunk.passages` (about 100-250 words, at section and paragraph seams), the
same chunker ``medbench synth`` uses. Questions name their answers by **quoting** the documents, so
a chunker change regrades by itself::

    {
      "patient": "de-test-001",            # <lang>-test-NNN, unique
      "scenario": "lung cancer",           # diagnosis group: a scenario lives in one split only
      "age": 67, "sex": "m",
      "diagnosis": "one-line summary, never shown to a model",
      "documents": [                       # in the order of their dates (oldest first)
        {"id": "d1", "type": "radiology", "date": "2024-02-03",
         "title": "CT Thorax/Abdomen mit Kontrastmittel",
         "text": "Klinik für Radiologie ...\\n\\nBefund:\\n..."}
      ],
      "chart_queries": [                   # asked inside the open record (patient-centred task)
        {"id": "c1", "text": "...",
         "answers": ["verbatim quote that answers", "..."],   # -> grade 2
         "context": ["verbatim quote that helps"]}            # -> grade 1 (optional)
      ],
      "queries": [ ...same shape, cross-patient questions ("q1", ...)... ]
    }

A quote is 2 to 60 words copied from one document (whitespace may differ); every passage that
contains it gets the grade. A quote must lie inside one passage; one that crosses a passage seam
is an error (quote less).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "suite"))

from check_sources import word_ngrams  # noqa: E402  (the copy check the v1 bundles use)
from medbench.synth.chunk import passages as chunk_passages  # noqa: E402

DOC_TYPES = ("discharge_letter", "radiology", "pathology", "operation_note")
KEYS = {"patient", "scenario", "age", "sex", "diagnosis", "documents", "chart_queries", "queries"}
DOC_KEYS = {"id", "type", "date", "title", "text"}
Q_KEYS = {"id", "text", "answers", "context"}
MIN_PASSAGES = 20
CHART_PER_PATIENT = 8
CROSS_PER_PATIENT = 8
MAX_ANSWER_PASSAGES = 3
MAX_CONTEXT_PASSAGES = 3
#: a single passage that a question-blind rule would rank first answers at most this many questions
MAX_ANSWERS_PER_SINGLE_RULE = 2
AGE = re.compile(r"\b\d{1,3}\s*(-\s*)?(year|yr|yo|y/o|j\.|jahr|jährig)", re.IGNORECASE)
PATIENT_ID = re.compile(r"^(de|en)-test-\d{3}$")


def _norm(text: str) -> str:
    return " ".join(text.split())


def content_words(text: str) -> set[str]:
    """Words of 4+ letters, lower-cased (the data cards' and the audit's measure)."""
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 3}


@dataclass
class Passage:
    id: str  # corpus id: <patient>-<doc id>#<n>
    doc: str
    title: str
    text: str
    date: str
    type: str


@dataclass
class Question:
    id: str  # <patient>-<c1|q1>
    text: str
    grades: dict[str, int]  # corpus id -> 1 or 2


@dataclass
class Record:
    path: Path
    patient: str
    lang: str
    scenario: str
    diagnosis: str
    passages: list[Passage] = field(default_factory=list)
    chart: list[Question] = field(default_factory=list)
    cross: list[Question] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)


def _locate(quote: str, passages: list[Passage]) -> list[str]:
    q = _norm(quote).lower()
    return [p.id for p in passages if q in _norm(p.text).lower()]


def _in_document(quote: str, documents: list[dict]) -> bool:
    q = _norm(quote).lower()
    return any(q in _norm(str(d.get("text", ""))).lower() for d in documents)


def _grade(where: str, query: dict, passages: list[Passage], documents: list[dict], errors: list[str]) -> dict[str, int]:
    grades: dict[str, int] = {}
    for key, grade, most in (("answers", 2, MAX_ANSWER_PASSAGES), ("context", 1, MAX_CONTEXT_PASSAGES)):
        quotes = query.get(key, [])
        if key == "answers" and not quotes:
            errors.append(f"{where}.answers: at least one quote is needed")
        if not isinstance(quotes, list) or not all(isinstance(x, str) for x in quotes):
            errors.append(f"{where}.{key}: expected a list of quoted strings")
            continue
        found: set[str] = set()
        for n, quote in enumerate(quotes):
            words = len(quote.split())
            if not 2 <= words <= 60:
                errors.append(f"{where}.{key}[{n}]: a quote has 2 to 60 words, this one {words}")
            ids = _locate(quote, passages)
            if not ids:
                if _in_document(quote, documents):
                    errors.append(f"{where}.{key}[{n}]: {quote[:60]!r} crosses a passage seam; quote a shorter span")
                else:
                    errors.append(f"{where}.{key}[{n}]: {quote[:60]!r} is not in any document (copy it verbatim)")
            found.update(ids)
        for pid in sorted(found):
            if grades.get(pid, 0) < grade:
                grades[pid] = grade
        graded = [p for p, g in grades.items() if g == grade]
        if len(graded) > most:
            errors.append(f"{where}.{key}: quotes match {len(graded)} passages ({', '.join(sorted(graded))}); at most {most}")
    return grades


def load_record(path: Path) -> tuple[Record | None, list[str]]:
    """Read, chunk and grade one v2 test patient; (record, problems)."""
    errors: list[str] = []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return None, [f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]
    if not isinstance(data, dict):
        return None, [f"{path}: expected a JSON object"]
    for key in sorted(KEYS - set(data)):
        errors.append(f"{path}: missing key {key!r}")
    for key in sorted(set(data) - KEYS):
        errors.append(f"{path}: unknown key {key!r}")
    patient = str(data.get("patient", ""))
    if not PATIENT_ID.match(patient):
        errors.append(f"{path}: patient {patient!r} must look like de-test-001 / en-test-001")
    lang = patient[:2]
    rec = Record(path, patient, lang, str(data.get("scenario", "")), str(data.get("diagnosis", "")))
    rec.documents = docs = data.get("documents", []) if isinstance(data.get("documents"), list) else []
    last_date = None
    doc_ids: set[str] = set()
    for d, doc in enumerate(docs):
        where = f"{path}: documents[{d}]"
        for key in sorted(DOC_KEYS - set(doc)):
            errors.append(f"{where}: missing key {key!r}")
        for key in sorted(set(doc) - DOC_KEYS):
            errors.append(f"{where}: unknown key {key!r}")
        did = str(doc.get("id", ""))
        if not re.fullmatch(r"d\d+", did) or did in doc_ids:
            errors.append(f"{where}: id {did!r} must be d1, d2, ... and unique")
        doc_ids.add(did)
        if doc.get("type") not in DOC_TYPES:
            errors.append(f"{where}: type {doc.get('type')!r} must be one of {', '.join(DOC_TYPES)}")
        try:
            when = date.fromisoformat(str(doc.get("date", "")))
            if last_date and when < last_date:
                errors.append(f"{where}: date {when} is before the previous document's; order documents by date")
            last_date = when
        except ValueError:
            errors.append(f"{where}: date {doc.get('date')!r} must be YYYY-MM-DD")
        if not str(doc.get("title", "")).strip():
            errors.append(f"{where}: title is empty")
        for pid, text in chunk_passages(did, str(doc.get("text", ""))):
            rec.passages.append(Passage(f"{patient}-{pid}", did, str(doc.get("title", "")), text,
                                        str(doc.get("date", "")), str(doc.get("type", ""))))
    if len({doc.get("type") for doc in docs}) < 3:
        errors.append(f"{path}: a record needs at least three document types")
    if len(rec.passages) < MIN_PASSAGES:
        errors.append(f"{path}: the chunker cuts {len(rec.passages)} passages; a test record needs at least {MIN_PASSAGES}")
    for key, prefix, count, out in (("chart_queries", "c", CHART_PER_PATIENT, rec.chart), ("queries", "q", CROSS_PER_PATIENT, rec.cross)):
        questions = data.get(key, [])
        if not isinstance(questions, list) or len(questions) != count:
            found = len(questions) if isinstance(questions, list) else repr(questions)
            errors.append(f"{path}: {key}: expected exactly {count} questions, found {found}")
            questions = questions if isinstance(questions, list) else []
        seen: set[str] = set()
        for n, query in enumerate(questions):
            where = f"{path}: {key}[{n}]"
            for extra in sorted(set(query) - Q_KEYS):
                errors.append(f"{where}: unknown key {extra!r}")
            qid = str(query.get("id", ""))
            if not re.fullmatch(prefix + r"\d+", qid) or qid in seen:
                errors.append(f"{where}: id {qid!r} must be {prefix}1, {prefix}2, ... and unique")
            seen.add(qid)
            text = str(query.get("text", "")).strip()
            words = len(text.split())
            if not 3 <= words <= 30:
                errors.append(f"{where}: a question has 3 to 30 words, this one {words}")
            grades = _grade(where, query, rec.passages, docs, errors)
            answer_texts = [p.text for p in rec.passages if grades.get(p.id) == 2]
            n_copy = 3 if key == "chart_queries" else 4
            for ptext in answer_texts:
                shared = word_ngrams(text, n_copy) & word_ngrams(ptext, n_copy)
                if shared:
                    errors.append(f"{where}: copies {' '.join(sorted(shared)[0])!r} from its answering passage; use other words")
                    break
            if key == "chart_queries" and (age := AGE.search(text)):
                errors.append(f"{where}: names the patient's age ({age.group(0)!r}); the record is open, do not identify the patient")
            out.append(Question(f"{patient}-{qid}", text, grades))
    errors += _spread_problems(path, rec)
    return rec, errors


def _spread_problems(path: Path, rec: Record) -> list[str]:
    """Answers spread over the record: no single passage that a question-blind rule ranks first
    (the record's first, its last, its longest) answers more than a couple of questions."""
    if not rec.passages:
        return []
    errors = []
    questions = rec.chart + rec.cross
    picks = {"first passage of the record": rec.passages[0], "last passage of the record": rec.passages[-1],
             "longest passage": max(rec.passages, key=lambda p: len(p.text.split()))}
    for rule, psg in picks.items():
        answered = sum(1 for q in questions if q.grades.get(psg.id) == 2)
        if answered > MAX_ANSWERS_PER_SINGLE_RULE:
            errors.append(f"{path}: the {rule} ({psg.id}) answers {answered} questions; at most "
                          f"{MAX_ANSWERS_PER_SINGLE_RULE} (move answers elsewhere in the record)")
    last_doc = rec.passages[-1].doc
    in_last = sum(1 for q in questions if any(g == 2 and pid.split("-")[-1].startswith(last_doc + "#") for pid, g in q.grades.items()))
    share_docs = sum(1 for p in rec.passages if p.doc == last_doc) / len(rec.passages)
    if questions and in_last / len(questions) > share_docs + 0.15:
        errors.append(f"{path}: the latest document answers {in_last} of {len(questions)} questions but holds "
                      f"{share_docs:.0%} of the passages; spread answers over the record")
    return errors


def figures(rec: Record) -> str:
    words = [len(p.text.split()) for p in rec.passages]
    overlaps = []
    for q in rec.cross:
        cw = content_words(q.text)
        answers = [p.text for p in rec.passages if q.grades.get(p.id) == 2]
        if cw and answers:
            overlaps.append(max(len(cw & content_words(a)) for a in answers) / len(cw))
    mean_overlap = sum(overlaps) / len(overlaps) if overlaps else 0.0
    return (f"{rec.patient}: {len(rec.documents)} documents, {len(rec.passages)} passages "
            f"({min(words, default=0)}-{max(words, default=0)} words), cross-question word overlap {mean_overlap:.2f}")


def main(argv: list[str]) -> int:
    files = [f for a in argv for f in (sorted(Path(a).glob("*.json")) if Path(a).is_dir() else [Path(a)])]
    problems = 0
    for f in files:
        rec, errors = load_record(f)
        for e in errors:
            print(e)
        problems += len(errors)
        if rec is not None:
            print(("OK   " if not errors else "FAIL ") + figures(rec))
    print(f"checked {len(files)} files, {problems} problems")
    return 1 if problems or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

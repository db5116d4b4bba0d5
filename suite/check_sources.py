"""Check authored suite source files (training patient bundles and STS pair files).

Test patients are v2 records of whole documents: ``suite/records.py`` checks those.

Usage:
    python suite/check_sources.py suite/src/de/test/a-001.json suite/src/de/sts/test-a.jsonl ...
    python suite/check_sources.py suite/src            # every file under a folder

Patient bundle (one JSON file per patient, ``suite/src/<lang>/<split>/*.json``)::

    {
      "patient": "de-train-c-001",           # unique across the suite
      "scenario": "hip fracture",            # diagnosis group: never one of the test scenarios
      "age": 67, "sex": "f",
      "diagnosis": "NSCLC rechter Oberlappen", # author's one-line summary, not shown to models
      "documents": [
        {"type": "radiology", "title": "CT Thorax mit KM",
         "passages": [{"id": "p1", "text": "..."}, {"id": "p2", "text": "..."}]}
      ],
      "queries": [                              # cross-patient questions: name a distinguishing detail
        {"text": "...", "relevant": {"p2": 2, "p1": 1}}
      ],
      "chart_queries": [                        # optional: questions asked inside the open record
        {"text": "...", "relevant": {"p5": 2}}  # (GUIDELINE 3b); they become training pairs too
      ]
    }

STS pair file (``suite/src/<lang>/sts/<split>-*.jsonl``), one pair per line::

    {"sentence1": "...", "sentence2": "...", "score": 1, "kind": "negation"}
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from medbench.errors import ProblemCollector
from medbench.jsonl import iter_rows

DOC_TYPES = {"discharge_letter", "radiology", "pathology", "operation_note"}
STS_KINDS_HINT = (
    "paraphrase, abbreviation, synonym, lay_technical, detail, partial, topic, "
    "negation, laterality, dose, measurement, stage, unrelated"
)
KEYS = {"patient", "scenario", "age", "sex", "diagnosis", "documents", "queries", "chart_queries"}
# chart questions are asked with the record already open: they never identify the patient by age
AGE = re.compile(r"\b\d{1,3}\s*(-\s*)?(year|yr|yo|y/o|j\.|jahr|jährig)", re.IGNORECASE)


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text.lower())
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def check_questions(path: Path, key: str, questions: list, ids: set[str]) -> list[str]:
    errors = []
    for q, query in enumerate(questions):
        if not str(query.get("text", "")).strip():
            errors.append(f"{path}: {key}[{q}].text is empty")
        rel = query.get("relevant", {})
        if not isinstance(rel, dict) or 2 not in rel.values():
            errors.append(f"{path}: {key}[{q}] needs at least one passage graded 2")
            continue
        for pid, grade in rel.items():
            if pid not in ids:
                errors.append(f"{path}: {key}[{q}] names unknown passage {pid!r}")
            if grade not in (1, 2):
                errors.append(f"{path}: {key}[{q}] grade for {pid!r} must be 1 or 2, got {grade!r}")
    return errors


def check_chart_questions(path: Path, data: dict, texts: dict[str, str]) -> list[str]:
    """Rules of GUIDELINE 3b that a script can check: count, no age, no copied 3-word phrase."""
    errors = []
    chart = data.get("chart_queries", [])
    errors += check_questions(path, "chart_queries", chart, set(texts))
    cross = {str(q.get("text", "")).strip().lower() for q in data.get("queries", [])}
    for q, query in enumerate(chart):
        text = str(query.get("text", ""))
        age = AGE.search(text)
        if age:
            errors.append(f"{path}: chart_queries[{q}] names the patient's age ({age.group(0)!r}); "
                          "the record is already open, ask without identifying the patient")
        if text.strip().lower() in cross:
            errors.append(f"{path}: chart_queries[{q}] repeats a cross-patient question")
        rel = query.get("relevant")
        answers = [pid for pid, grade in rel.items() if grade == 2] if isinstance(rel, dict) else []
        for pid in answers:
            shared = word_ngrams(text, 3) & word_ngrams(texts.get(pid, ""), 3)
            if shared:
                errors.append(f"{path}: chart_queries[{q}] copies {' '.join(sorted(shared)[0])!r} from passage {pid}; "
                              "use other words than the passage")
    return errors


def check_bundle(path: Path) -> list[str]:
    errors: list[str] = []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return [f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]
    for key in ("patient", "age", "sex", "diagnosis", "documents", "queries"):
        if key not in data:
            errors.append(f"{path}: missing key {key!r}")
    extra = set(data) - KEYS
    if extra:
        errors.append(f"{path}: unknown keys {sorted(extra)}")
    ids: set[str] = set()
    texts: dict[str, str] = {}
    types: set[str] = set()
    for d, doc in enumerate(data.get("documents", [])):
        if doc.get("type") not in DOC_TYPES:
            errors.append(f"{path}: documents[{d}].type must be one of {sorted(DOC_TYPES)}")
        types.add(doc.get("type"))
        if not str(doc.get("title", "")).strip():
            errors.append(f"{path}: documents[{d}].title is empty")
        for p, psg in enumerate(doc.get("passages", [])):
            pid, text = psg.get("id"), str(psg.get("text", ""))
            if not pid or pid in ids:
                errors.append(f"{path}: documents[{d}].passages[{p}] id missing or duplicate: {pid!r}")
            ids.add(pid)
            texts[pid] = text
            n = len(text.split())
            if not 40 <= n <= 230:
                errors.append(f"{path}: passage {pid}: {n} words, expected 50 to 200")
    if len(types) < 2:
        errors.append(f"{path}: needs at least two document types, has {sorted(t for t in types if t)}")
    if not data.get("queries"):
        errors.append(f"{path}: no queries")
    errors += check_questions(path, "queries", data.get("queries", []), ids)
    errors += check_chart_questions(path, data, texts)
    return errors


def check_sts(path: Path) -> list[str]:
    errors: list[str] = []
    problems = ProblemCollector()
    for lineno, row in iter_rows(path, problems=problems):
        for key in ("sentence1", "sentence2", "score", "kind"):
            if key not in row:
                errors.append(f"{path}:{lineno}: missing key {key!r}")
        score = row.get("score")
        if not isinstance(score, (int, float)) or not 0 <= score <= 5:
            errors.append(f"{path}:{lineno}: score must be a number 0..5, got {score!r}")
        for key in ("sentence1", "sentence2"):
            if not str(row.get(key, "")).strip():
                errors.append(f"{path}:{lineno}: {key} is empty")
    return [str(p) for p in problems.problems] + errors


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for arg in argv:
        p = Path(arg)
        files.extend(sorted(f for f in p.rglob("*.json*") if f.parent.name in ("train", "sts") and f.name != "second-pass.jsonl")
                     if p.is_dir() else [p])
    errors: list[str] = []
    for f in files:
        errors.extend(check_sts(f) if f.suffix == ".jsonl" else check_bundle(f))
    for e in errors:
        print(e)
    print(f"checked {len(files)} files, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

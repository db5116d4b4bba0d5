"""Check authored suite source files (patient bundles and STS pair files).

Usage:
    python suite/check_sources.py suite/src/de/test/a-001.json suite/src/de/sts/test-a.jsonl ...
    python suite/check_sources.py suite/src            # every file under a folder

Patient bundle (one JSON file per patient, ``suite/src/<lang>/<split>/*.json``)::

    {
      "patient": "de-test-a-001",            # unique across the suite
      "age": 67, "sex": "f",
      "diagnosis": "NSCLC rechter Oberlappen", # author's one-line summary, not shown to models
      "documents": [
        {"type": "radiology", "title": "CT Thorax mit KM",
         "passages": [{"id": "p1", "text": "..."}, {"id": "p2", "text": "..."}]}
      ],
      "queries": [
        {"text": "...", "relevant": {"p2": 2, "p1": 1}}
      ]
    }

STS pair file (``suite/src/<lang>/sts/<split>-*.jsonl``), one pair per line::

    {"sentence1": "...", "sentence2": "...", "score": 1, "kind": "negation"}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOC_TYPES = {"discharge_letter", "radiology", "pathology", "operation_note"}
STS_KINDS_HINT = (
    "paraphrase, abbreviation, synonym, lay_technical, detail, partial, topic, "
    "negation, laterality, dose, measurement, stage, unrelated"
)


def check_bundle(path: Path) -> list[str]:
    errors: list[str] = []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return [f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]
    for key in ("patient", "age", "sex", "diagnosis", "documents", "queries"):
        if key not in data:
            errors.append(f"{path}: missing key {key!r}")
    extra = set(data) - {"patient", "age", "sex", "diagnosis", "documents", "queries"}
    if extra:
        errors.append(f"{path}: unknown keys {sorted(extra)}")
    ids: set[str] = set()
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
            n = len(text.split())
            if not 40 <= n <= 230:
                errors.append(f"{path}: passage {pid}: {n} words, expected 50 to 200")
    if len(types) < 2:
        errors.append(f"{path}: needs at least two document types, has {sorted(t for t in types if t)}")
    if not data.get("queries"):
        errors.append(f"{path}: no queries")
    for q, query in enumerate(data.get("queries", [])):
        if not str(query.get("text", "")).strip():
            errors.append(f"{path}: queries[{q}].text is empty")
        rel = query.get("relevant", {})
        if not isinstance(rel, dict) or 2 not in rel.values():
            errors.append(f"{path}: queries[{q}] needs at least one passage graded 2")
            continue
        for pid, grade in rel.items():
            if pid not in ids:
                errors.append(f"{path}: queries[{q}] names unknown passage {pid!r}")
            if grade not in (1, 2):
                errors.append(f"{path}: queries[{q}] grade for {pid!r} must be 1 or 2, got {grade!r}")
    return errors


def check_sts(path: Path) -> list[str]:
    errors: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{lineno}: invalid JSON: {exc.msg}")
            continue
        for key in ("sentence1", "sentence2", "score", "kind"):
            if key not in row:
                errors.append(f"{path}:{lineno}: missing key {key!r}")
        score = row.get("score")
        if not isinstance(score, (int, float)) or not 0 <= score <= 5:
            errors.append(f"{path}:{lineno}: score must be a number 0..5, got {score!r}")
        for key in ("sentence1", "sentence2"):
            if not str(row.get(key, "")).strip():
                errors.append(f"{path}:{lineno}: {key} is empty")
    return errors


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for arg in argv:
        p = Path(arg)
        files.extend(sorted(p.rglob("*.json*")) if p.is_dir() else [p])
    errors: list[str] = []
    for f in files:
        errors.extend(check_sts(f) if f.suffix == ".jsonl" else check_bundle(f))
    for e in errors:
        print(e)
    print(f"checked {len(files)} files, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

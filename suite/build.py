"""Build the built-in task folders under tasks/ from the authored sources in suite/src/.

    python suite/build.py            # rebuild tasks/ (deterministic: same sources, same bytes)
    python suite/build.py --check    # exit 1 when tasks/ is out of date with suite/src/

Sources (written by hand against suite/GUIDELINE.md; format in suite/check_sources.py):
    suite/src/<lang>/test/*.json     test patients  -> retrieval tasks (cross-patient, patient-centred)
    suite/src/<lang>/train/*.json    train patients -> train.jsonl of the cross-patient task
    suite/src/<lang>/sts/test-*.jsonl, train-*.jsonl -> the STS task

Training items that repeat a test query, passage or pair (exact or near-duplicate, see
medbench.train.leakage) are dropped and listed; test data is never changed by the build.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "suite" / "src"
TASKS = ROOT / "tasks"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "suite"))

from check_sources import check_bundle, check_sts  # noqa: E402
from medbench.train.leakage import find_overlaps  # noqa: E402

LANG_NAME = {"de": "German", "en": "English"}
LANG_UPPER = {"de": "DE", "en": "EN"}
TYPE_NAME = {
    "discharge_letter": "discharge letters",
    "radiology": "radiology reports",
    "pathology": "pathology reports",
    "operation_note": "operation notes",
}
COMMON_YAML = """license: apache-2.0
domains: [Medical]
version: 1
date: ["2026-11-01", "2026-11-24"]
annotations_creators: expert-annotated
sample_creation: created
# No reference: mteb accepts only a URL there, and this suite has no public web address.
# The task's data card is README.md in this folder (named in the description).
"""


def load_patients(lang: str, split: str) -> list[dict]:
    patients = []
    for path in sorted((SRC / lang / split).glob("*.json")):
        problems = check_bundle(path)
        if problems:
            raise SystemExit("\n".join(problems))
        patients.append(json.loads(path.read_text(encoding="utf-8")))
    return patients


def load_pairs(lang: str, prefix: str) -> list[dict]:
    pairs = []
    for path in sorted((SRC / lang / "sts").glob(f"{prefix}-*.jsonl")):
        problems = check_sts(path)
        if problems:
            raise SystemExit("\n".join(problems))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                row["_source"] = f"{path.relative_to(ROOT)}:{n}"
                pairs.append(row)
    return pairs


Flat = tuple[list[dict], list[dict], list[tuple[str, str, int]], dict[str, list[str]]]


def flatten(patients: list[dict], key: str = "queries", tag: str = "q") -> Flat:
    """Corpus rows, query rows (from ``key``: ``queries`` or ``chart_queries``), qrels and each
    query's candidate list (its patient's passages)."""
    corpus, queries, qrels, candidates = [], [], [], {}
    for p in patients:
        pid = p["patient"]
        ids = []
        for doc in p["documents"]:
            for psg in doc["passages"]:
                did = f"{pid}-{psg['id']}"
                ids.append(did)
                corpus.append({"_id": did, "title": doc["title"], "text": psg["text"], "type": doc["type"]})
        for n, q in enumerate(p[key], 1):
            qid = f"{pid}-{tag}{n}"
            queries.append({"_id": qid, "text": q["text"]})
            for psg_id, grade in sorted(q["relevant"].items()):
                qrels.append((qid, f"{pid}-{psg_id}", grade))
            candidates[qid] = ids
    return corpus, queries, qrels, candidates


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_qrels(path: Path, qrels: list[tuple[str, str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels), encoding="utf-8")


def write_task_yaml(folder: Path, name: str, ttype: str, lang: str, description: str, main_score: str, extra: str = "") -> None:
    """task.yaml of a built-in task; ``description`` is already wrapped into indented lines.

    The description ends by naming the task's data card (``README.md`` beside task.yaml), the
    only reference that exists: mteb's ``reference`` must be a URL, and the suite has none.
    """
    folder.mkdir(parents=True, exist_ok=True)
    description += f"  Data card: tasks/{name}/README.md in the medbench repository.\n"
    (folder / "task.yaml").write_text(
        f"name: {name}\ntype: {ttype}\ndescription: >-\n{description}"
        f"languages: [{lang}]\nsplits: [test]\nmain_score: {main_score}\n{extra}{COMMON_YAML}", encoding="utf-8")


def write_retrieval_files(folder: Path, corpus_rows: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> None:
    write_jsonl(folder / "corpus.jsonl", corpus_rows)
    write_jsonl(folder / "queries.jsonl", queries)
    write_qrels(folder / "qrels" / "test.tsv", qrels)


def words(text: str) -> int:
    return len(text.split())


def word_overlap(corpus: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> tuple[float, float]:
    """Mean and median share of a question's words (4+ letters) that its best-matching answering
    passage (grade 2) contains: how much a word-matching retriever is handed."""
    def tokens(text: str) -> set[str]:
        return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 3}

    texts = {c["_id"]: c["text"] for c in corpus}
    answers: dict[str, list[str]] = {}
    for q, d, g in qrels:
        if g == 2:
            answers.setdefault(q, []).append(d)
    shares = []
    for q in queries:
        words_q = tokens(q["text"])
        if words_q and q["_id"] in answers:
            shares.append(max(len(words_q & tokens(texts[d])) for d in answers[q["_id"]]) / len(words_q))
    shares.sort()
    return sum(shares) / len(shares), shares[len(shares) // 2]


def retrieval_card(name: str, lang: str, kind: str, patients, corpus, queries, qrels, train_rows, dropped) -> str:
    types = Counter(row["type"] for row in corpus)
    lengths = sorted(words(r["text"]) for r in corpus)
    grades = Counter(g for *_, g in qrels)
    per_query = Counter(q for q, _, g in qrels if g == 2)
    per_patient = Counter(row["_id"].rsplit("-", 1)[0] for row in corpus)
    overlap = word_overlap(corpus, queries, qrels)
    title = "cross-patient" if kind == "cross" else "patient-centred"
    ranking = (
        "Each question is ranked against **all passages of all patients** of the test set."
        if kind == "cross" else
        "Each question is ranked only among the passages of **its own patient** (mteb's `top_ranked` "
        "candidates, `top_ranked/test.jsonl`), as in a RAG system that has already selected the patient's record."
    )
    train_note = (
        f"`train.jsonl`: {len(train_rows)} (query, positive passage) pairs from {len({r['patient'] for r in train_rows})} "
        f"training patients who appear in no test set. Columns: `query`, `positive`, plus ids. "
        f"{dropped} training items were dropped by the build because they repeated test text (exact or near-duplicate)."
        if train_rows else "The training split for this data lives in the cross-patient task's `train.jsonl`."
    )
    questions = (
        "- Questions were written per patient, phrased as clinicians ask, mostly in other words than the passage,\n"
        "  and each names a detail that points to its patient among others with the same diagnosis (guideline section 3).\n"
        if kind == "cross" else
        "- Questions are *chart questions* (guideline section 3b): three per patient, written separately from the\n"
        "  cross-patient task's questions, asked as on the ward once the record is open (no age, sex or diagnosis\n"
        "  to identify the patient). At least two of each patient's three ask for a detail that the record gives\n"
        "  at more than one time point (before/after the operation, at discharge, at follow-up) and say which one,\n"
        "  so the other time point's passage is a tempting wrong answer. They use other words than the answering\n"
        "  passage: no three-word phrase of a passage graded 2 appears in the question (checked by the build).\n"
    ) + "- Graded: 2 = the passage answers the question, 1 = relevant context (same patient and topic).\n"
    distractors = (
        "- Patients are grouped by diagnosis (several patients per diagnosis who differ in side, size, stage,\n"
        "  dose, complications), so most questions have hard distractors from other patients.\n"
        if kind == "cross" else
        "- The candidates are the patient's own passages only, so the hard distractors are the record's\n"
        "  near-misses: the same finding or value at another time point, in another document.\n"
    )
    limit = (
        "- Relevance was judged within each question's own patient; another patient's passage is assumed\n"
        "  not relevant, which is true by construction for questions that name the patient's distinguishing\n"
        "  details but may occasionally miss a generic match.\n"
        if kind == "cross" else
        "- Every candidate passage of a question belongs to its patient and was judged by the question's author;\n"
        "  borderline context (grade 1 against not relevant) is a judgement call of one annotator.\n"
    )
    return f"""# {name}

{LANG_NAME[lang]} clinical retrieval, {title}: a clinician's question -> passages of clinical documents.
{ranking}

**Synthetic data.** Every patient and every text was invented and written by the medbench team
for this benchmark, following the written guideline in `suite/GUIDELINE.md` of the medbench
repository. There is no real patient data and nothing was copied from an outside source.

## How it was made

- {len(patients)} invented patients, each with {min(per_patient.values())} to {max(per_patient.values())} passages from at least two of the four document
  types of clinical RAG systems ({", ".join(f"{TYPE_NAME[t]}: {n}" for t, n in sorted(types.items()))}).
- Each record holds near-misses for its own questions: the same organ or finding at another time
  point (imaging before treatment, follow-up letters with new values and doses, earlier biopsies).
{distractors}- Documents follow {"German" if lang == "de" else "US/UK"} clinical conventions, with abbreviations and their
  expansions, synonyms, negations, laterality, measurements and doses.
{questions}- Sources: `suite/src/{lang}/test/*.json`; this folder is generated by `python suite/build.py`.

## Statistics (test split)

| | |
|---|---|
| patients | {len(patients)} |
| passages | {len(corpus)} (words per passage: median {lengths[len(lengths) // 2]}, min {lengths[0]}, max {lengths[-1]}) |
| queries | {len(queries)} |
| qrels | {len(qrels)} (grade 2: {grades.get(2, 0)}, grade 1: {grades.get(1, 0)}) |
| passages graded 2 per query | mean {sum(per_query.values()) / max(len(per_query), 1):.2f} |
| question words (4+ letters) found in the answering passage | mean {overlap[0]:.0%}, median {overlap[1]:.0%} |

## Training split

{train_note}

## License

Apache-2.0, the license of the medbench project (its `LICENSE` file).

## Known limits

- Synthetic text written to a guideline: it reads like real documentation but lacks the noise of
  real records (typos, dictation errors, copy-forward text, very long letters).
{limit}- One author wrote each patient's documents and questions; questions may share more vocabulary with
  their passage than real clinicians' questions do.
- Small: scores carry sampling uncertainty of a few points (see the leaderboard's confidence intervals).
"""


def sts_card(name: str, lang: str, test: list[dict], train: list[dict], dropped: int) -> str:
    dist = Counter(round(r["score"]) for r in test)
    kinds = Counter(r["kind"] for r in test)
    return f"""# {name}

{LANG_NAME[lang]} clinical semantic textual similarity: pairs of clinical sentences scored 0 to 5
for **clinical meaning**, not word overlap. Main score: cosine Spearman.

**Synthetic data.** Every sentence was written by the medbench team for this benchmark, following
`suite/GUIDELINE.md`; no real patient data, nothing copied from an outside source.

## Annotation guideline

| score | meaning | examples of what earns it |
|---|---|---|
| 5 | the same clinical statement | abbreviation spelled out, synonyms (Hypertonie / Bluthochdruck; HTN / high blood pressure), reordering, units written differently |
| 4 | the same statement, an unimportant detail differs or is missing | a time of day, a non-decisive qualifier |
| 3 | roughly the same statement, important information differs or is missing | one sentence adds a second finding; a size given in one only |
| 2 | same topic, different statements that do not contradict | two different findings of the same CT |
| 1 | same topic but contradictory on a clinically decisive point | negation flipped, left/right flipped, dose or measurement changed in a way that changes management, different stage |
| 0 | unrelated clinical statements | a knee MRI finding and a discharge medication |

Every pair was scored by this scale by its author. Many pairs are deliberately hard: high word
overlap with a low score (flipped negation, side, dose) and low word overlap with a high score
(abbreviation vs. expansion, lay vs. technical wording).

## Statistics

| | |
|---|---|
| test pairs | {len(test)} |
| score distribution (rounded) | {", ".join(f"{k}: {dist.get(k, 0)}" for k in range(6))} |
| phenomena | {", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))} |
| train pairs (`train.jsonl`) | {len(train)} ({dropped} dropped by the build for repeating test text) |

Files: `test.jsonl` and `train.jsonl` with `sentence1`, `sentence2`, `score` and `kind` (the phenomenon
the pair tests). Sources: `suite/src/{lang}/sts/`; generated by `python suite/build.py`.

## License

Apache-2.0, the license of the medbench project (its `LICENSE` file).

## Known limits

- One annotator per pair (the author); no inter-annotator agreement was measured.
- Scores are integers (some .5); ties are frequent, which caps the attainable Spearman below 1.
- Sentences are synthetic and cleaner than real notes.
"""


def build(out: Path) -> list[str]:
    report = []
    for lang in ("de", "en"):
        up = LANG_UPPER[lang]
        test_patients = load_patients(lang, "test")
        train_patients = load_patients(lang, "train")
        corpus, queries, qrels, _ = flatten(test_patients)
        _, chart, chart_qrels, candidates = flatten(test_patients, "chart_queries", "c")
        # training pairs: each (query, grade-2 passage) of the training patients
        train_rows = []
        for p in train_patients:
            texts = {psg["id"]: psg["text"] for doc in p["documents"] for psg in doc["passages"]}
            titles = {psg["id"]: doc["title"] for doc in p["documents"] for psg in doc["passages"]}
            for n, q in enumerate(p["queries"], 1):
                for psg_id, grade in sorted(q["relevant"].items()):
                    if grade == 2:
                        train_rows.append({
                            "query": q["text"], "positive": texts[psg_id], "title": titles[psg_id],
                            "query_id": f"{p['patient']}-q{n}", "passage_id": f"{p['patient']}-{psg_id}",
                            "patient": p["patient"],
                        })
        evaluation = [(f"query {q['_id']}", q["text"]) for q in queries + chart] + [(f"passage {c['_id']}", c["text"]) for c in corpus]
        kept, dropped = [], 0
        bad = {o.train_source for o in find_overlaps(
            [(f"{i}:q", r["query"]) for i, r in enumerate(train_rows)] + [(f"{i}:p", r["positive"]) for i, r in enumerate(train_rows)],
            evaluation)}
        for i, r in enumerate(train_rows):
            if f"{i}:q" in bad or f"{i}:p" in bad:
                dropped += 1
            else:
                kept.append(r)
        train_rows = kept

        cross = out / f"MedbenchRetrieval{up}"
        write_task_yaml(
            cross, f"MedbenchRetrieval{up}", "retrieval", lang,
            f"  Synthetic {LANG_NAME[lang]} clinical documents (discharge letters, radiology, pathology,\n"
            f"  operation notes): retrieve the passage that answers a clinician's question among all patients' passages.\n",
            "ndcg_at_10")
        corpus_rows = [{"_id": c["_id"], "title": c["title"], "text": c["text"]} for c in corpus]
        write_retrieval_files(cross, corpus_rows, queries, qrels)
        write_jsonl(cross / "train.jsonl", train_rows)
        (cross / "README.md").write_text(retrieval_card(f"MedbenchRetrieval{up}", lang, "cross", test_patients, corpus,
                                                        queries, qrels, train_rows, dropped), encoding="utf-8")

        patient = out / f"MedbenchPatientRetrieval{up}"
        write_task_yaml(
            patient, f"MedbenchPatientRetrieval{up}", "retrieval", lang,
            f"  Synthetic {LANG_NAME[lang]} clinical documents: rank only the passages of the question's own\n"
            f"  patient (top_ranked candidates), as a RAG system does after selecting the patient's record.\n",
            "ndcg_at_10")
        write_retrieval_files(patient, corpus_rows, chart, chart_qrels)
        write_jsonl(patient / "top_ranked" / "test.jsonl",
                    [{"query-id": q["_id"], "corpus-ids": candidates[q["_id"]]} for q in chart])
        (patient / "README.md").write_text(retrieval_card(f"MedbenchPatientRetrieval{up}", lang, "patient", test_patients,
                                                          corpus, chart, chart_qrels, [], dropped), encoding="utf-8")

        sts_test = load_pairs(lang, "test")
        sts_train = load_pairs(lang, "train")
        pair_text = lambda r: f"{r['sentence1']} || {r['sentence2']}"  # noqa: E731
        overl = find_overlaps(
            [(str(i), pair_text(r)) for i, r in enumerate(sts_train)]
            + [(f"{i}r", f"{r['sentence2']} || {r['sentence1']}") for i, r in enumerate(sts_train)],
            [(r["_source"], pair_text(r)) for r in sts_test])
        bad_pairs = {o.train_source.rstrip("r") for o in overl}
        sts_train_kept = [r for i, r in enumerate(sts_train) if str(i) not in bad_pairs]
        sts = out / f"MedbenchSTS{up}"
        write_task_yaml(
            sts, f"MedbenchSTS{up}", "sts", lang,
            f"  Synthetic {LANG_NAME[lang]} clinical sentence pairs scored 0-5 for clinical meaning\n"
            f"  (negation, laterality, dose and abbreviations decide the score).\n",
            "cosine_spearman", "score_range: [0, 5]\n")
        strip = lambda r: {k: r[k] for k in ("sentence1", "sentence2", "score", "kind")}  # noqa: E731
        write_jsonl(sts / "test.jsonl", [strip(r) for r in sts_test])
        write_jsonl(sts / "train.jsonl", [strip(r) for r in sts_train_kept])
        (sts / "README.md").write_text(sts_card(f"MedbenchSTS{up}", lang, sts_test, sts_train_kept,
                                                len(sts_train) - len(sts_train_kept)), encoding="utf-8")
        report.append(
            f"{lang}: {len(test_patients)} test patients, {len(corpus)} passages, {len(queries)} queries, "
            f"{len(qrels)} qrels, {len(chart)} chart questions\n"
            f"    train: {len(train_patients)} patients, {len(train_rows)} pairs ({dropped} dropped) | "
            f"STS test {len(sts_test)}, train {len(sts_train_kept)} ({len(sts_train) - len(sts_train_kept)} dropped)"
        )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when tasks/ is out of date")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "tasks"
        report = build(fresh)
        if args.check:
            stale = [
                str(p.relative_to(fresh)) for p in sorted(fresh.rglob("*"))
                if p.is_file() and (not (TASKS / p.relative_to(fresh)).is_file()
                                    or (TASKS / p.relative_to(fresh)).read_bytes() != p.read_bytes())
            ]
            if stale:
                print("tasks/ is out of date; run python suite/build.py. Differs:", *stale[:10], sep="\n  ")
                return 1
            print("tasks/ is up to date")
            return 0
        for name in [p.name for p in fresh.iterdir()]:
            shutil.rmtree(TASKS / name, ignore_errors=True)
            shutil.copytree(fresh / name, TASKS / name)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

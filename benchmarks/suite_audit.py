"""Audit of the built-in suite: the figures of issue 12's review, measured, against the v2 targets.

    python benchmarks/suite_audit.py [--json FILE] [--write-readme] [--groups]

Reads the built-in tasks through medbench (``medbench.tasks.discover``) and, where the task files do
not hold it, the authored sources in ``suite/src`` (the order of passages in each record, the
patients' diagnosis summaries, the STS ``kind`` label). Nothing is changed. Per language it prints:

- question-blind shortcuts on the patient-centred tasks: how often a rule that never reads the
  question puts an answering passage (grade 2) at rank 1 ("last passage of the record first",
  "first passage first", "longest first", "time-marked title first"), against a random order
  (exact expectations, ties broken at random); v2: no rule beats random by more than 0.10;
- the metric floor: the expected nDCG@10 of a random order on the patient-centred tasks (exact, with
  graded gains as pytrec_eval/mteb compute it); v2: <= 0.40; and the candidates per question;
- training twins: TF-IDF cosine (numbers masked) of the training passages (``train.jsonl``
  positives) to the test passages, against test passages to other test patients' passages;
  v2: train share >= 0.5 at most 2 x the test-to-other share + 1 point; and the training patients
  whose diagnosis group (scenario) also has test patients; v2: none;
- the share of a cross-patient question's content words (4+ letters, as the data cards count them)
  found in its answering passage, German against English; v2: about the same (within 5 points);
- STS: Spearman of the phenomenon label alone (each ``kind`` encoded by its mean gold score) with the
  gold score (v2: <= 0.85), pairs scored 0 (v2: <= 8%), pairs whose sentences differ by two word tokens
  or fewer (v2: none);
- the sizes issue 12 keeps (>= 300 test questions per retrieval task, >= 400 STS test pairs,
  >= 1,000 training pairs).

The v1 suite failed 20 of these 30 checks; suite v2 is built to pass them all (``tests/test_suite.py`` asserts it).
``--json FILE`` writes every figure with its details; ``--write-readme`` replaces the block between
the suite-audit markers of README.md; ``--groups`` lists the diagnosis group of every patient.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "suite" / "src"
START, END = "<!-- suite-audit:start -->", "<!-- suite-audit:end -->"
LANGS = ("de", "en")
LANG_NAME = {"de": "German", "en": "English"}

# --- v2 targets (issue 12) ---------------------------------------------------------------------
SHORTCUT_MARGIN = 0.10  # no question-blind rule beats random at rank 1 by more than this
RANDOM_NDCG_MAX = 0.40  # random-order nDCG@10 on the patient-centred tasks
MIN_CANDIDATES = 20  # passages per test patient record
TWIN_THRESHOLD = 0.5  # TF-IDF cosine (numbers masked) that counts as a twin
TWIN_FACTOR, TWIN_SLACK = 2.0, 0.01  # train share <= 2 x test-to-other share + 1 point
OVERLAP_GAP = 0.05  # "about the same fraction" of content words, de against en
KIND_SPEARMAN_MAX = 0.85
ZERO_SHARE_MAX = 0.08
MAX_FRAME_SWAP_TOKENS = 2  # pairs differing by this many word tokens or fewer: none allowed
MIN_TEST_QUESTIONS, MIN_STS_PAIRS, MIN_TRAIN_PAIRS = 300, 400, 1000


# =================================================================================================
# Exact expectations of a random order (graded qrels, as pytrec_eval and mteb score them)
# =================================================================================================

def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ideal_dcg(grades: Iterable[float], k: int = 10) -> float:
    """DCG@k of the ideal order: every judged grade > 0, largest first (trec_eval's ndcg_cut)."""
    gains = sorted((g for g in grades if g > 0), reverse=True)[:k]
    return float(np.dot(gains, _discounts(len(gains)))) if gains else 0.0


def expected_random_ndcg(candidate_grades: Sequence[float], judged_grades: Iterable[float] | None = None, k: int = 10) -> float:
    """Expected nDCG@k when the ``n = len(candidate_grades)`` candidates are put in a uniformly random order.

    Each candidate lands on each of the n ranks with probability 1/n, so
    ``E[DCG@k] = sum(gains) / n * sum_{r <= min(k, n)} 1 / log2(r + 1)``. The ideal DCG is taken over
    ``judged_grades`` (all of the query's judgements, default: the candidates' grades), as pytrec_eval
    does: a judged passage missing from the candidates still counts in the ideal ranking.
    """
    n = len(candidate_grades)
    ideal = ideal_dcg(candidate_grades if judged_grades is None else judged_grades, k)
    if n == 0 or ideal == 0:
        return 0.0
    gains = sum(g for g in candidate_grades if g > 0)
    return gains / n * float(_discounts(min(k, n)).sum()) / ideal


def expected_random_rr(n: int, relevant: int, k: int = 10) -> float:
    """Expected reciprocal rank @k (mteb's MRR@k: first passage with grade > 0) of a random order.

    P(the first relevant is at rank r) = prod_{i < r-1} (n - R - i) / (n - i) * R / (n - r + 1).
    """
    if relevant <= 0 or n <= 0:
        return 0.0
    expected, none_yet = 0.0, 1.0
    for r in range(1, min(k, n) + 1):
        hit = relevant / (n - r + 1)
        expected += none_yet * hit / r
        none_yet *= 1.0 - hit
        if none_yet <= 0:
            break
    return expected


def expected_random_ap(n: int, relevant: int, judged_relevant: int | None = None, k: int = 100) -> float:
    """Expected average precision @k (trec_eval's map_cut, mteb's MAP@k) of a random order.

    AP@k = (1 / R_judged) * sum over relevant ranks r <= k of precision@r. Rank r holds a relevant
    passage with probability R/n; given that, each of the r - 1 ranks above holds one with probability
    (R - 1)/(n - 1), so E[precision@r | relevant at r] = (1 + (r - 1)(R - 1)/(n - 1)) / r.
    """
    judged = relevant if judged_relevant is None else judged_relevant
    if relevant <= 0 or n <= 0 or judged <= 0:
        return 0.0
    expected = 0.0
    for r in range(1, min(k, n) + 1):
        above = (r - 1) * (relevant - 1) / (n - 1) if n > 1 else 0.0
        expected += relevant / n * (1.0 + above) / r
    return expected / judged


def random_retrieval_scores(qrels: dict[str, dict[str, int]], candidates: dict[str, list[str]] | None, corpus_ids: Sequence[str]) -> dict[str, float]:
    """Expected nDCG@10, MRR@10, MAP@100 and Recall@5 of a random order, averaged over the queries.

    ``candidates``: each query's top_ranked list (reranking tasks), else every passage of the corpus.
    """
    totals: Counter = Counter()
    for qid, judged in qrels.items():
        cands = candidates[qid] if candidates is not None else corpus_ids
        n = len(cands)
        cand_grades = [judged.get(d, 0) for d in cands]
        positives = sum(1 for g in cand_grades if g > 0)
        judged_pos = sum(1 for g in judged.values() if g > 0)
        totals["ndcg_at_10"] += expected_random_ndcg(cand_grades, judged.values(), 10)
        totals["mrr_at_10"] += expected_random_rr(n, positives, 10)
        totals["map_at_100"] += expected_random_ap(n, positives, judged_pos, 100)
        totals["recall_at_5"] += positives / n * min(5, n) / judged_pos if judged_pos and n else 0.0
    return {key: value / len(qrels) for key, value in totals.items()}


# =================================================================================================
# Question-blind shortcuts
# =================================================================================================

UNITS = {"de": r"(?:Tage?n?|Wochen?|Monate?n?|Jahre?n?|Stunden?|h|Zyklen)",
         "en": r"(?:days?|weeks?|months?|years?|hours?|h|cycles?)"}
TIME_WORDS = {"de": r"nach|vor|später|früher|postoperativ\w*|präoperativ\w*|Verlauf\w*|Kontroll\w*|Nachsorge\w*|Tag \d+",
              "en": r"after|before|later|earlier|post-?operative|pre-?operative|follow-up|day \d+"}
TIME_MARK = {lang: re.compile(rf"\b\d+\s*(?:-\s*)?{UNITS[lang]}\b|\b(?:{TIME_WORDS[lang]})\b", re.I) for lang in LANGS}


def time_marked(title: str, lang: str) -> bool:
    """A title that places its document in time relative to another ("3 Monate nach ...", "12 weeks on",
    "follow-up", "präoperativ"): what a question-blind ranker can use to find the near-miss passages."""
    return bool(TIME_MARK[lang].search(title))


def expected_rank1_hit(grades: Sequence[int], keys: Sequence[float], answer: int = 2) -> float:
    """Expected chance that the candidate ranked first by ``keys`` (largest first, ties in random order)
    has grade >= ``answer``. With all keys equal this is a random order's chance."""
    top = max(keys)
    tied = [g for g, key in zip(grades, keys, strict=True) if key == top]
    return sum(1 for g in tied if g >= answer) / len(tied)


#: rule name -> key of one candidate (larger = ranked higher) from (position in the record, record length, title, text, language)
SHORTCUTS: dict[str, Callable[[int, int, str, str, str], float]] = {
    "last passage of the record first": lambda pos, n, title, text, lang: pos,
    "first passage first": lambda pos, n, title, text, lang: -pos,
    "longest first": lambda pos, n, title, text, lang: len(text.split()),
    "time-marked title first": lambda pos, n, title, text, lang: float(time_marked(title, lang)),
}


LATEST_DOCUMENT = "latest document first"


def shortcut_accuracy(qrels: dict[str, dict[str, int]], candidates: dict[str, list[str]], corpus: dict[str, tuple[str, str]],
                      record_position: dict[str, int], lang: str,
                      document_position: dict[str, int] | None = None) -> dict[str, float]:
    """Rank-1 accuracy (grade 2 first) of a random order and of each rule in :data:`SHORTCUTS`, mean over questions.

    ``record_position``: each passage's place in its patient's record (0 = first passage of the first document).
    ``document_position``: each passage's document's place in the record; with it, the rule "latest document
    first" (every passage of the latest document ahead of the rest, in random order) is measured too.
    """
    sums: Counter = Counter()
    for qid, judged in qrels.items():
        cands = sorted(candidates[qid], key=lambda d: record_position[d])
        grades = [judged.get(d, 0) for d in cands]
        sums["random order"] += expected_rank1_hit(grades, [0.0] * len(cands))
        for name, rule in SHORTCUTS.items():
            keys = [rule(record_position[d], len(cands), *corpus[d], lang) for d in cands]
            sums[name] += expected_rank1_hit(grades, keys)
        if document_position is not None:
            sums[LATEST_DOCUMENT] += expected_rank1_hit(grades, [float(document_position[d]) for d in cands])
    names = ["random order", *SHORTCUTS] + ([LATEST_DOCUMENT] if document_position is not None else [])
    return {name: sums[name] / len(qrels) for name in names}


# =================================================================================================
# Training twins: TF-IDF cosine with numbers masked
# =================================================================================================

NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def mask_numbers(text: str) -> str:
    """Every number (``3,1``, ``12.5``, ``2019``, ``1/3``) becomes the same token."""
    return NUMBER.sub(" NUM ", text)


def tfidf(texts: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows, fitted on ``texts`` themselves: scikit-learn's
    ``TfidfVectorizer(sublinear_tf=True)`` (lowercase, tokens of 2+ word characters, tf = 1 + ln(count),
    smooth idf = ln((1 + n) / (1 + df)) + 1). Sublinear tf keeps the masked-number token, frequent in
    reports full of measurements, from dominating the vectors; it is the measure issue 12's review used."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        counts = Counter(TOKEN.findall(text.lower()))
        for token, count in counts.items():
            rows.append(i)
            cols.append(vocab.setdefault(token, len(vocab)))
            vals.append(1.0 + math.log(count))  # sublinear tf
    matrix = sparse.csr_matrix((np.asarray(vals, dtype=float), (rows, cols)), shape=(len(texts), len(vocab)))
    df = np.bincount(cols, minlength=len(vocab))
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    matrix = sparse.csr_matrix(matrix.multiply(idf[None, :]))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


def twin_shares(train_texts: Sequence[str], test_texts: Sequence[str], test_groups: Sequence[str],
                threshold: float = TWIN_THRESHOLD) -> dict[str, float]:
    """Share of training passages whose closest test passage has cosine >= ``threshold``, and share of test
    passages whose closest passage of another group (test patient) does; TF-IDF fitted on both sets, numbers masked."""
    matrix = tfidf([mask_numbers(t) for t in [*train_texts, *test_texts]])
    train, test = matrix[: len(train_texts)], matrix[len(train_texts):]
    to_test = (train @ test.T).toarray()
    within = (test @ test.T).toarray()
    groups = np.asarray(test_groups)
    within[groups[:, None] == groups[None, :]] = -1.0  # same patient (and the passage itself) do not count
    train_max = to_test.max(axis=1) if len(test_texts) else np.zeros(len(train_texts))
    test_max = within.max(axis=1)
    train_share = float((train_max >= threshold - 1e-12).mean()) if len(train_texts) else 0.0
    test_share = float((test_max >= threshold - 1e-12).mean()) if len(test_texts) else 0.0
    return {"train_share": train_share, "test_other_share": test_share,
            "limit": TWIN_FACTOR * test_share + TWIN_SLACK,
            "train_passages": len(train_texts), "test_passages": len(test_texts)}


# =================================================================================================
# Scenarios (diagnosis groups)
# =================================================================================================

#: group -> (German pattern, English pattern), matched against the author's one-line diagnosis summary.
#: The group whose pattern matches earliest in the summary wins ("LAE bei Kolonkarzinom" is a pulmonary
#: embolism). A source with a ``scenario`` field (suite v2) is grouped by that field instead.
GROUPS: dict[str, tuple[str, str]] = {
    "lung cancer": (r"NSCLC|Bronchialkarzinom|Lungenkarzinom|Plattenepithelkarzinom (?:der Lunge|zentral|rechter|linker)",
                    r"\bN?SCLC\b|small cell|lung (?:adeno)?carcinoma|lung cancer|carcinoma (?:right|left) (?:upper|middle|lower) lobe"),
    "colorectal cancer": (r"Sigmakarzinom|Zökumkarzinom|Kolonkarzinom|Transversumkarzinom|Rektumkarzinom",
                          r"colon|cecal|sigmoid adenocarcinoma|splenic flexure|rectal adenocarcinoma|rectal cancer"),
    "breast cancer": (r"Mammakarzinom", r"breast"),
    "prostate cancer": (r"Prostatakarzinom", r"prostat"),
    "pancreatic cancer": (r"Pankreas\w*karzinom", r"pancreatic (?:head|body|tail|body/tail) (?:adenocarcinoma|cancer)"),
    "kidney cancer": (r"Nierenzellkarzinom", r"\bRCC\b|renal cell carcinoma"),
    "melanoma": (r"Melanom", r"melanoma"),
    "gastric cancer": (r"Magenkarzinom|Siegelringzellkarzinom des Magens|Antrumkarzinom", r"gastric (?:body )?(?:adeno)?carcinoma|gastric cancer"),
    "bladder cancer": (r"Urothelkarzinom", r"urothelial carcinoma"),
    "endometrial cancer": (r"Endometriumkarzinom", r"endometri\w* (?:adeno)?carcinoma|uterine serous"),
    "ovarian cancer": (r"Ovarialkarzinom", r"ovarian (?:clear cell )?(?:carcinoma|cancer)"),
    "lymphoma": (r"DLBCL|Hodgkin|Lymphom\b", r"DLBCL|Hodgkin|lymphoma"),
    "thyroid cancer": (r"Schilddrüsenkarzinom", r"thyroid carcinoma"),
    "liver cancer": (r"\bHCC\b", r"\bHCC\b"),
    "stroke": (r"\w*infarkt\b|Schlaganfall", r"stroke|\binfarct\b"),
    "pulmonary embolism": (r"\bLAE\b|Lungenarterienembolie|Lungenembolie", r"\bPE\b|pulmonary embolism"),
    "pneumonia": (r"\w*pneumonie\b", r"pneumonia|\bCAP\b"),
    "appendicitis": (r"Appendizitis", r"appendicitis"),
    "gallbladder": (r"Cholezyst|Choledocholith", r"cholecyst|cholelith|choledocholith"),
    "hip fracture": (r"Schenkelhalsfraktur|Femurfraktur", r"femoral neck fracture|intertrochanteric|femur fracture|hip fracture"),
    "knee ligament/meniscus": (r"\bVKB\b|meniskus|Korbhenkel", r"\bACL\b|menisc"),
    "heart failure": (r"Herzinsuffizienz|HFrEF|HFpEF|Kardiomyopathie", r"\bHF\b|HFrEF|HFpEF|heart failure|cardiomyopathy"),
    "myocardial infarction": (r"\bN?STEMI\b", r"\bN?STEMI\b"),
    "atrial fibrillation": (r"Vorhofflimmern|\bVHF\b", r"\bAF\b|atrial fibrillation"),
    "COPD": (r"COPD", r"COPD"),
    "diverticulitis": (r"Divertikulitis", r"diverticulitis"),
    "hernia": (r"hernie", r"hernias?\b"),
    "disc herniation": (r"Bandscheibenvorfall|Massenprolaps|Kauda-equina", r"disc (?:herniation|extrusion)|cauda equina"),
    "aortic aneurysm": (r"Aortenaneurysma|\bBAA\b", r"\bAAA\b|aortic aneurysm"),
    "venous thrombosis": (r"venenthrombose|\bTVT\b", r"\bDVT\b|thrombosis"),
    "urinary stone/urosepsis": (r"Pyelonephritis|Harnleiterstein|Nierenbecken\w*stein|Urosepsis",
                                r"ureteral|ureteric|\bcalculus\b|staghorn|urosepsis|pyelonephritis"),
}
_GROUP_RE = {lang: {g: re.compile(p[i], re.I) for g, p in GROUPS.items()} for i, lang in enumerate(LANGS)}


def scenario(patient: dict, lang: str) -> str | None:
    """The diagnosis group of a source patient: its ``scenario`` field, else the earliest matching
    pattern of :data:`GROUPS` in its diagnosis summary; None when nothing matches."""
    if patient.get("scenario"):
        return str(patient["scenario"])
    text = patient.get("diagnosis", "")
    found = [(m.start(), group) for group, rx in _GROUP_RE[lang].items() if (m := rx.search(text))]
    return min(found)[1] if found else None


def shared_scenarios(train_groups: dict[str, str | None], test_groups: dict[str, str | None]) -> list[str]:
    """Training patients whose diagnosis group also has test patients (sorted ids)."""
    in_test = {g for g in test_groups.values() if g}
    return sorted(pid for pid, g in train_groups.items() if g and g in in_test)


# =================================================================================================
# Question wording, STS
# =================================================================================================

def content_words(text: str) -> set[str]:
    """Words of 4+ letters, lower-cased: the data cards' measure (suite/build.py, ``word_overlap``)."""
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 3}


def answer_overlap(queries: dict[str, str], corpus: dict[str, tuple[str, str]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean over questions of the share of their content words found in their best-matching answering passage (grade 2)."""
    shares = []
    for qid, text in queries.items():
        words = content_words(text)
        answers = [d for d, g in qrels.get(qid, {}).items() if g == 2]
        if words and answers:
            shares.append(max(len(words & content_words(corpus[d][1])) for d in answers) / len(words))
    return sum(shares) / len(shares) if shares else 0.0


def label_spearman(labels: Sequence[str], scores: Sequence[float]) -> float:
    """How well a label alone predicts the score: Spearman of (each label's mean score) with the score."""
    by_label: dict[str, list[float]] = defaultdict(list)
    for label, score in zip(labels, scores, strict=True):
        by_label[label].append(score)
    means = {label: sum(v) / len(v) for label, v in by_label.items()}
    encoded = [means[label] for label in labels]
    if len(set(encoded)) < 2 or len(set(scores)) < 2:
        return 0.0
    return float(spearmanr(encoded, scores).statistic)


def word_tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_edit_distance(a: str, b: str, cap: int | None = None) -> int:
    """Levenshtein distance between the word-token sequences of two sentences (punctuation and case ignored).
    With ``cap``, any distance above it is returned as ``cap + 1`` (early exit)."""
    x, y = word_tokens(a), word_tokens(b)
    if cap is not None and abs(len(x) - len(y)) > cap:
        return cap + 1
    previous = list(range(len(y) + 1))
    for i, tx in enumerate(x, 1):
        current = [i]
        for j, ty in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (tx != ty)))
        if cap is not None and min(current) > cap:
            return cap + 1
        previous = current
    return previous[-1]


# =================================================================================================
# Reading the suite
# =================================================================================================

def load_sources(lang: str, split: str) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((SRC / lang / split).glob("*.json"))]


def load_sts_kinds(lang: str) -> dict[tuple[str, str], str]:
    kinds = {}
    for path in sorted((SRC / lang / "sts").glob("test-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                kinds[(row["sentence1"], row["sentence2"])] = row.get("kind", "")
    return kinds


def _record_ids(patient: dict) -> list[tuple[str, int]]:
    """(corpus id, index of its document) in record order: authored passages (v1 bundles) or the
    chunker's passages of whole documents (v2 records, suite/records.py)."""
    from medbench.synth.chunk import passages as chunk_passages

    out = []
    for n, doc in enumerate(patient["documents"]):
        if "passages" in doc:
            out += [(f"{patient['patient']}-{psg['id']}", n) for psg in doc["passages"]]
        else:
            out += [(f"{patient['patient']}-{pid}", n) for pid, _ in chunk_passages(doc["id"], doc["text"])]
    return out


def record_positions(patients: list[dict]) -> dict[str, int]:
    """Corpus id -> place in its patient's record (documents and passages in record order)."""
    out = {}
    for p in patients:
        out.update({did: i for i, (did, _) in enumerate(_record_ids(p))})
    return out


def document_positions(patients: list[dict]) -> dict[str, int]:
    """Corpus id -> index of its document in its patient's record (documents are in date order)."""
    return {did: n for p in patients for did, n in _record_ids(p)}


def patient_of(doc_id: str) -> str:
    return doc_id.rsplit("-", 1)[0]


# =================================================================================================
# The audit
# =================================================================================================

def figure(key: str, lang: str, label: str, value: float | int, target: str, passed: bool | None,
           fmt: str = "{:.3f}", **details: Any) -> dict[str, Any]:
    return {"id": key, "language": lang, "label": label, "value": value, "shown": fmt.format(value),
            "target": target, "pass": passed, "details": details}


def audit_language(tasks: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    up = lang.upper()
    figures: list[dict[str, Any]] = []
    test_patients = load_sources(lang, "test")
    train_patients = load_sources(lang, "train")

    # -- patient-centred tasks: shortcuts, floor, candidates -------------------------------------
    patient_task = tasks[f"MedbenchPatientRetrieval{up}"].languages[lang]
    qrels, candidates = patient_task.qrels["test"], patient_task.top_ranked["test"]
    positions = record_positions(test_patients)
    missing = [d for c in candidates.values() for d in c if d not in positions]
    if missing:
        raise SystemExit(f"{lang}: {len(missing)} candidates are not in suite/src/{lang}/test (e.g. {missing[0]}); "
                         "are tasks/ and suite/src in step? (python suite/build.py --check)")
    acc = shortcut_accuracy(qrels, candidates, patient_task.corpus, positions, lang, document_positions(test_patients))
    base = acc["random order"]
    figures.append(figure("rank1_random", lang, "Patient-centred: rank-1 accuracy of a random order (expected)",
                          base, "(reference)", None))
    for name in [n for n in acc if n != "random order"]:
        margin = acc[name] - base
        figures.append(figure(f"shortcut:{name}", lang, f"Shortcut '{name}': rank-1 accuracy (margin over random)",
                              margin, f"margin <= {SHORTCUT_MARGIN:.2f}", margin <= SHORTCUT_MARGIN + 1e-12, "{:+.3f}",
                              accuracy=acc[name], random=base))
    floor = random_retrieval_scores(qrels, candidates, list(patient_task.corpus))
    figures.append(figure("random_ndcg10", lang, "Patient-centred: nDCG@10 of a random order (expected)",
                          floor["ndcg_at_10"], f"<= {RANDOM_NDCG_MAX:.2f}", floor["ndcg_at_10"] <= RANDOM_NDCG_MAX,
                          mrr_at_10=floor["mrr_at_10"], map_at_100=floor["map_at_100"]))
    sizes = sorted(len(c) for c in candidates.values())
    figures.append(figure("candidates", lang, "Patient-centred: candidates per question (min)", sizes[0],
                          f">= {MIN_CANDIDATES}", sizes[0] >= MIN_CANDIDATES, "{:d}",
                          minimum=sizes[0], median=sizes[len(sizes) // 2], maximum=sizes[-1], mean=sum(sizes) / len(sizes)))
    figures[-1]["shown"] = f"{sizes[0]} (median {sizes[len(sizes) // 2]}, max {sizes[-1]})"

    # -- training twins ---------------------------------------------------------------------------
    cross = tasks[f"MedbenchRetrieval{up}"].languages[lang]
    train_passages: dict[str, str] = {}
    for row in cross.train:
        train_passages.setdefault(row.get("passage_id") or row["positive"], row["positive"])
    test_ids = sorted(cross.corpus)
    twins = twin_shares(list(train_passages.values()), [cross.corpus[d][1] for d in test_ids], [patient_of(d) for d in test_ids])
    figures.append(figure("twins_test_other", lang,
                          f"Test passages with TF-IDF cosine >= {TWIN_THRESHOLD} to another test patient's passage",
                          twins["test_other_share"], "(reference)", None, "{:.1%}", **twins))
    figures.append(figure("twins_train", lang,
                          f"Training passages with TF-IDF cosine >= {TWIN_THRESHOLD} to a test passage (numbers masked)",
                          twins["train_share"], f"<= 2 x test-other + 1 pt = {twins['limit']:.1%}",
                          twins["train_share"] <= twins["limit"] + 1e-12, "{:.1%}", **twins))
    train_groups = {p["patient"]: scenario(p, lang) for p in train_patients}
    test_groups = {p["patient"]: scenario(p, lang) for p in test_patients}
    shared = shared_scenarios(train_groups, test_groups)
    ungrouped = sorted(pid for pid, g in test_groups.items() if g is None)
    figures.append(figure("shared_scenarios", lang, "Training patients whose diagnosis group has test patients",
                          len(shared), "0", not shared, "{:d}", of=len(train_patients), patients=shared,
                          test_patients_without_group=ungrouped))
    figures[-1]["shown"] = f"{len(shared)} of {len(train_patients)}"

    # -- question wording ---------------------------------------------------------------------------
    overlap = answer_overlap(cross.queries, cross.corpus, cross.qrels["test"])
    figures.append(figure("overlap", lang, "Cross-patient questions: content words (4+ letters) found in the answering passage",
                          overlap, f"de and en within {OVERLAP_GAP * 100:.0f} points", None, "{:.1%}",
                          chart_questions=answer_overlap(patient_task.queries, patient_task.corpus, qrels)))

    # -- STS ----------------------------------------------------------------------------------------
    sts = tasks[f"MedbenchSTS{up}"].languages[lang]
    pairs = sts.pairs["test"]
    kinds_by_pair = load_sts_kinds(lang)
    kinds = [kinds_by_pair.get((s1, s2), "") for s1, s2, _ in pairs]
    scores = [score for *_, score in pairs]
    unlabelled = sum(1 for k in kinds if not k)
    rho = label_spearman(kinds, scores)
    figures.append(figure("sts_kind_spearman", lang, "STS: Spearman of the phenomenon label alone with the gold score",
                          rho, f"<= {KIND_SPEARMAN_MAX:.2f}", rho <= KIND_SPEARMAN_MAX, unlabelled_pairs=unlabelled,
                          mean_score_per_kind={k: round(sum(s for kk, s in zip(kinds, scores, strict=True) if kk == k) / c, 3)
                                               for k, c in sorted(Counter(kinds).items())}))
    zero = sum(1 for s in scores if s == 0) / len(scores)
    figures.append(figure("sts_zero_share", lang, "STS: pairs scored 0", zero, f"<= {ZERO_SHARE_MAX:.0%}",
                          zero <= ZERO_SHARE_MAX, "{:.1%}", pairs=len(scores)))
    close = [i for i, (s1, s2, _) in enumerate(pairs) if token_edit_distance(s1, s2, MAX_FRAME_SWAP_TOKENS) <= MAX_FRAME_SWAP_TOKENS]
    figures.append(figure("sts_frame_swaps", lang, f"STS: pairs differing by {MAX_FRAME_SWAP_TOKENS} word tokens or fewer",
                          len(close), "0", not close, "{:d}", pair_indices=close,
                          kinds=dict(Counter(kinds[i] for i in close))))

    # -- sizes issue 12 keeps -----------------------------------------------------------------------
    n_cross, n_chart = len(cross.qrels["test"]), len(qrels)
    figures.append(figure("size_questions", lang, "Test questions per retrieval task (smaller of the two)", min(n_cross, n_chart),
                          f">= {MIN_TEST_QUESTIONS}", min(n_cross, n_chart) >= MIN_TEST_QUESTIONS, "{:d}",
                          cross_patient=n_cross, patient_centred=n_chart))
    figures.append(figure("size_sts", lang, "STS test pairs", len(pairs), f">= {MIN_STS_PAIRS}", len(pairs) >= MIN_STS_PAIRS, "{:d}"))
    figures.append(figure("size_train", lang, "Training query/passage pairs", len(cross.train), f">= {MIN_TRAIN_PAIRS:,}",
                          len(cross.train) >= MIN_TRAIN_PAIRS, "{:d}"))
    return figures


def cross_language(figures: list[dict[str, Any]]) -> None:
    """The overlap target compares the languages: set the verdict on both rows."""
    rows = {f["language"]: f for f in figures if f["id"] == "overlap"}
    if set(rows) >= set(LANGS):
        gap = abs(rows["de"]["value"] - rows["en"]["value"])
        for row in rows.values():
            row["pass"] = gap <= OVERLAP_GAP + 1e-12
            row["details"]["gap"] = gap


def audit(languages: Sequence[str] = LANGS) -> list[dict[str, Any]]:
    from medbench.tasks import discover

    tasks = {t.spec.name: t for t in discover()}
    figures = [f for lang in languages for f in audit_language(tasks, lang)]
    cross_language(figures)
    return figures


def verdict(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "FAIL")


def table(figures: list[dict[str, Any]], languages: Sequence[str] = LANGS) -> str:
    from tabulate import tabulate

    order: list[str] = []
    by_key: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for f in figures:
        if f["id"] not in order:
            order.append(f["id"])
        by_key[f["id"]][f["language"]] = f
    rows = []
    for key in order:
        cells = by_key[key]
        first = next(iter(cells.values()))
        target = first["target"] if key not in ("twins_train",) else "<= 2 x test-other + 1 pt"
        values = []
        for lang in languages:
            f = cells.get(lang)
            if f is None:
                values.append("–")
                continue
            shown = f["shown"]
            if key.startswith("shortcut:"):
                shown = f"{f['details']['accuracy']:.3f} ({f['shown']})"
            if key == "twins_train":
                shown = f"{f['shown']} (limit {f['details']['limit']:.1%})"
            values.append(f"{shown} {verdict(f['pass'])}".strip())
        rows.append([first["label"], target, *values])
    return tabulate(rows, headers=["figure", "v2 target", *(LANG_NAME[lang] for lang in languages)],
                    tablefmt="github", disable_numparse=True)


def summary(figures: list[dict[str, Any]]) -> str:
    judged = [f for f in figures if f["pass"] is not None]
    failed = sum(1 for f in judged if not f["pass"])
    return f"{len(judged) - failed} of {len(judged)} checks pass, {failed} fail"


def readme_block(figures: list[dict[str, Any]]) -> str:
    return (f"{START}\nThe suite's figures against the targets of issue 12 (suite v2), measured with "
            "`python benchmarks/suite_audit.py --write-readme` (and asserted by `tests/test_suite.py`); shortcut rows show "
            "how often a rule that never reads the question puts an answering passage (grade 2) first and, in brackets, "
            "its margin over a random order:\n\n"
            f"{table(figures)}\n\n{summary(figures)}.\n{END}")


def write_readme(figures: list[dict[str, Any]], readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: the markers {START} and {END} are missing; add them in the suite section")
    block = readme_block(figures)
    readme.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S), encoding="utf-8")


def print_groups(languages: Sequence[str]) -> None:
    for lang in languages:
        for split in ("test", "train"):
            for p in load_sources(lang, split):
                print(f"{p['patient']:18} {scenario(p, lang) or '-':24} {p.get('diagnosis', '')[:90]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure with its details as JSON")
    parser.add_argument("--write-readme", action="store_true", help="replace the suite-audit block of README.md")
    parser.add_argument("--groups", action="store_true", help="list each patient's diagnosis group and exit")
    parser.add_argument("--languages", default=",".join(LANGS))
    args = parser.parse_args(argv)
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    if args.groups:
        print_groups(languages)
        return 0
    figures = audit(languages)
    print(table(figures, languages))
    print(summary(figures))
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "targets_from": "issue 12"}, indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    if args.write_readme:
        write_readme(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

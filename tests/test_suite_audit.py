"""The measuring functions of benchmarks/suite_audit.py (and suite.py's random row) on tiny data with known answers.

These check the instruments, not the suite: v1 fails most of issue 12's v2 targets, by design.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import REPO


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


audit = _load("suite_audit_under_test", REPO / "benchmarks" / "suite_audit.py")


def _all_orders(candidates: list[str]):
    """Every order of the candidates as a run (score = descending rank), each equally likely."""
    n = len(candidates)
    for perm in itertools.permutations(candidates):
        yield {doc: float(n - i) for i, doc in enumerate(perm)}


# -- random order: exact expectations against pytrec_eval / mteb over every permutation ----------------

def test_one_relevant_among_n_has_the_closed_form_ndcg() -> None:
    for n in (1, 4, 7, 10, 20):
        grades = [2] + [0] * (n - 1)
        expected = sum(1 / math.log2(r + 1) for r in range(1, min(10, n) + 1)) / n
        assert audit.expected_random_ndcg(grades) == pytest.approx(expected)
    assert audit.expected_random_ndcg([2]) == pytest.approx(1.0)
    assert audit.expected_random_ndcg([0, 0, 0]) == 0.0


def test_random_ndcg_map_mrr_equal_the_mean_over_all_permutations() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    candidates = ["a", "b", "c", "d", "e", "f"]
    # graded, with one judged passage ("z") that is not among the candidates: it still counts in the ideal
    judged = {"a": 2, "c": 1, "z": 1}
    evaluator = pytrec_eval.RelevanceEvaluator({"q": judged}, {"ndcg_cut.10", "map_cut.100", "recall.5"})
    sums = {"ndcg": 0.0, "map": 0.0, "rr": 0.0, "recall": 0.0}
    runs = list(_all_orders(candidates))
    for run in runs:
        m = evaluator.evaluate({"q": run})["q"]
        sums["ndcg"] += m["ndcg_cut_10"]
        sums["map"] += m["map_cut_100"]
        sums["recall"] += m["recall_5"]
        ranked = sorted(run, key=run.get, reverse=True)[:10]  # mteb's MRR@10: first passage with grade > 0
        sums["rr"] += next((1 / (i + 1) for i, d in enumerate(ranked) if judged.get(d, 0) > 0), 0.0)
    mean = {k: v / len(runs) for k, v in sums.items()}
    grades = [judged.get(d, 0) for d in candidates]
    assert audit.expected_random_ndcg(grades, judged.values()) == pytest.approx(mean["ndcg"])
    assert audit.expected_random_ap(len(candidates), 2, judged_relevant=3) == pytest.approx(mean["map"])
    assert audit.expected_random_rr(len(candidates), 2) == pytest.approx(mean["rr"])
    scores = audit.random_retrieval_scores({"q": judged}, {"q": candidates}, candidates)
    assert scores["ndcg_at_10"] == pytest.approx(mean["ndcg"])
    assert scores["map_at_100"] == pytest.approx(mean["map"])
    assert scores["mrr_at_10"] == pytest.approx(mean["rr"])
    assert scores["recall_at_5"] == pytest.approx(mean["recall"])


def test_cutoffs_of_mrr_and_map_on_long_lists() -> None:
    # one relevant among 1,000: MRR@10 = sum_{r<=10} 1/(r n); AP@100 = sum_{r<=100} 1/(r n)
    n = 1000
    assert audit.expected_random_rr(n, 1, 10) == pytest.approx(sum(1 / r for r in range(1, 11)) / n)
    assert audit.expected_random_ap(n, 1, 1, 100) == pytest.approx(sum(1 / r for r in range(1, 101)) / n)
    assert audit.expected_random_rr(5, 5) == pytest.approx(1.0)  # everything relevant
    assert audit.expected_random_ap(5, 5) == pytest.approx(1.0)
    assert audit.expected_random_rr(5, 0) == 0.0


def test_random_scores_without_candidates_rank_the_whole_corpus() -> None:
    corpus = [f"d{i}" for i in range(40)]
    scores = audit.random_retrieval_scores({"q": {"d3": 2}}, None, corpus)
    assert scores["ndcg_at_10"] == pytest.approx(audit.expected_random_ndcg([2] + [0] * 39))
    assert scores["recall_at_5"] == pytest.approx(5 / 40)


# -- question-blind shortcuts ---------------------------------------------------------------------

def _record(n_patients: int = 3, n_passages: int = 5, answer_at: int = -1, marked: tuple[int, ...] = ()):
    corpus, positions, qrels, candidates = {}, {}, {}, {}
    for p in range(n_patients):
        ids = [f"p{p}-x{i}" for i in range(n_passages)]
        for i, did in enumerate(ids):
            title = "Kontrolle 3 Monate nach OP" if i in marked else "Entlassungsbrief"
            corpus[did] = (title, " ".join(["Wort"] * (10 + i)))  # later passages are longer
            positions[did] = i
        qrels[f"p{p}-q"] = {ids[answer_at]: 2, ids[0]: 1}
        candidates[f"p{p}-q"] = list(reversed(ids))  # the candidate list's order must not matter
    return qrels, candidates, corpus, positions


def test_a_rule_that_is_always_right_scores_one_and_random_one_in_n() -> None:
    qrels, candidates, corpus, positions = _record(answer_at=-1)
    acc = audit.shortcut_accuracy(qrels, candidates, corpus, positions, "de")
    assert acc["random order"] == pytest.approx(1 / 5)
    assert acc["last passage of the record first"] == 1.0
    assert acc["longest first"] == 1.0
    assert acc["first passage first"] == 0.0  # the first passage is only context (grade 1)
    assert acc["time-marked title first"] == pytest.approx(1 / 5)  # no title marked: all tied, a random order


def test_ties_are_broken_at_random() -> None:
    qrels, candidates, corpus, positions = _record(answer_at=2, marked=(2, 4))
    acc = audit.shortcut_accuracy(qrels, candidates, corpus, positions, "de")
    assert acc["time-marked title first"] == pytest.approx(0.5)  # two marked titles, one answers
    assert audit.expected_rank1_hit([2, 0, 2, 0], [1, 1, 1, 0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(("title", "lang", "marked"), [
    ("CT Thorax/Abdomen 3 Monate nach Tumornephrektomie links", "de", True),
    ("Ambulante Kontrolle Neurochirurgie 6 Wochen postoperativ", "de", True),
    ("MRT Leber – Nachsorge", "de", True),
    ("Entlassungsbrief Thoraxchirurgie", "de", False),
    ("Histologie Prostatastanzbiopsien", "de", False),
    ("Cardiology clinic letter, 10 weeks after cardiac arrest", "en", True),
    ("Vascular surgery clinic letter (pre-operative consultation)", "en", True),
    ("Discharge summary thoracic surgery", "en", False),
    ("MRI left knee 3 Tesla", "en", False),
])
def test_time_marked_titles(title: str, lang: str, marked: bool) -> None:
    assert audit.time_marked(title, lang) is marked


# -- training twins ---------------------------------------------------------------------------------

def test_numbers_are_masked() -> None:
    assert audit.mask_numbers("Rundherd 3,1 x 2,6 cm, PSA 12.5, 1/3 LK, 2019") == audit.mask_numbers(
        "Rundherd 4,2 x 1,9 cm, PSA 0.8, 2/7 LK, 2021")


def test_tfidf_matches_scikit_learn_sublinear() -> None:
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    texts = ["Kein Pleuraerguss, kein Pneumothorax.", "Pleuraerguss rechts, Drainage gelegt, Drainage gezogen.",
             "Ramipril 5 mg bei Hypertonie", "Hypertonie, Ramipril, Ramipril"]
    ours = audit.tfidf(texts)
    theirs = sklearn_text.TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    np.testing.assert_allclose((ours @ ours.T).toarray(), (theirs @ theirs.T).toarray(), atol=1e-12)


def test_twin_shares_count_copies_and_ignore_the_same_patient() -> None:
    test = ["Sigmakarzinom pT3 pN1, laparoskopische Sigmaresektion, Wundinfekt am 5. Tag.",
            "Sigmakarzinom pT3 pN1, laparoskopische Sigmaresektion, Wundinfekt am 5. Tag.",  # same patient: not counted
            "Kniegelenk: vordere Kreuzbandruptur, Innenmeniskus intakt.",
            "Schilddrüse: Knoten links 1,2 cm, TIRADS 4."]
    groups = ["a", "a", "b", "c"]
    train = ["Sigmakarzinom pT2 pN0, laparoskopische Sigmaresektion, Wundinfekt am 7. Tag.",  # a twin, numbers masked
             "Appendizitis mit Perforation, Laparoskopie."]
    shares = audit.twin_shares(train, test, groups)
    assert shares["train_share"] == pytest.approx(0.5)
    assert shares["test_other_share"] == 0.0
    assert shares["limit"] == pytest.approx(0.01)
    shares = audit.twin_shares(train, test, ["a", "b", "c", "d"])  # the two copies now belong to two patients
    assert shares["test_other_share"] == pytest.approx(0.5)


# -- scenarios, question words, STS ----------------------------------------------------------------

def test_scenario_groups() -> None:
    assert audit.scenario({"diagnosis": "Inzidentelle LAE rechts bei metastasiertem Kolonkarzinom"}, "de") == "pulmonary embolism"
    assert audit.scenario({"diagnosis": "Sigmakarzinom pT3, Wundinfekt"}, "de") == "colorectal cancer"
    assert audit.scenario({"diagnosis": "Right DVT in a patient on tamoxifen for breast cancer"}, "en") == "venous thrombosis"
    assert audit.scenario({"diagnosis": "Left frontal meningioma"}, "en") is None
    assert audit.scenario({"diagnosis": "NSCLC", "scenario": "lung-7"}, "en") == "lung-7"  # a v2 source field wins
    shared = audit.shared_scenarios({"t1": "stroke", "t2": None, "t3": "COPD"}, {"x": "stroke", "y": "hernia"})
    assert shared == ["t1"]


def test_every_test_patient_of_the_suite_has_a_group() -> None:
    for lang in audit.LANGS:
        for p in audit.load_sources(lang, "test"):
            assert audit.scenario(p, lang), p["patient"]


def test_answer_overlap() -> None:
    corpus = {"d1": ("t", "Der Tumor maß 3 cm im Resektat."), "d2": ("t", "Nichts davon.")}
    queries = {"q1": "Wie groß war der Tumor im Resektat?", "q2": "Anderes Thema hier"}
    qrels = {"q1": {"d1": 2, "d2": 1}, "q2": {"d2": 2}}
    # q1: content words {groß, tumor, resektat} -> 2 of 3 in d1 (groß is not); q2: {anderes, thema, hier} -> 0
    assert audit.content_words(queries["q1"]) == {"groß", "tumor", "resektat"}
    assert audit.answer_overlap(queries, corpus, qrels) == pytest.approx((2 / 3 + 0) / 2)


def test_label_spearman() -> None:
    assert audit.label_spearman(["neg", "neg", "syn", "syn"], [1, 1, 5, 5]) == pytest.approx(1.0)
    assert audit.label_spearman(["a", "a", "a"], [1, 3, 5]) == 0.0  # one label predicts nothing
    # labels that do not separate the scores: both labels have mean 3
    assert audit.label_spearman(["a", "b", "a", "b"], [1, 1, 5, 5]) == 0.0


def test_token_edit_distance() -> None:
    assert audit.token_edit_distance("Fraktur des linken Radius.", "Fraktur des rechten Radius.") == 1
    assert audit.token_edit_distance("Kein Hinweis auf Metastasen.", "Hinweis auf Metastasen.") == 1
    assert audit.token_edit_distance("V.a. Lungenembolie", "v.a. lungenembolie!") == 0  # case and punctuation ignored
    assert audit.token_edit_distance("a b c d e f", "u v w x y z") == 6
    assert audit.token_edit_distance("a b c d e f", "u v w x y z", cap=2) == 3


# -- output -----------------------------------------------------------------------------------------

def _figures() -> list[dict]:
    return [audit.figure("random_ndcg10", lang, "Random nDCG@10", value, "<= 0.40", value <= 0.40)
            for lang, value in (("de", 0.63), ("en", 0.35))]


def test_table_and_readme_block(tmp_path: Path) -> None:
    text = audit.table(_figures())
    assert "0.630 FAIL" in text and "0.350 PASS" in text and "v2 target" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{audit.START}\nold\n{audit.END}\noutro\n", encoding="utf-8")
    audit.write_readme(_figures(), readme)
    written = readme.read_text(encoding="utf-8")
    assert written.startswith("intro\n") and written.endswith("outro\n") and "old" not in written
    assert "targets of issue 12" in written and "1 of 2 checks pass, 1 fail" in written
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        audit.write_readme(_figures(), readme)


def test_audit_of_the_built_in_suite_measures_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    assert audit.main(["--json", str(out)]) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))["figures"]
    ids = {f["id"] for f in figures}
    assert {"random_ndcg10", "candidates", "twins_train", "twins_test_other", "shared_scenarios", "overlap",
            "sts_kind_spearman", "sts_zero_share", "sts_frame_swaps"} <= ids
    assert {f"shortcut:{name}" for name in audit.SHORTCUTS} <= ids
    assert {f["language"] for f in figures} == {"de", "en"}
    for f in figures:
        assert isinstance(f["value"], (int, float)) and math.isfinite(f["value"]), f


# -- benchmarks/suite.py: stored MRR/MAP and the random-order row --------------------------------------

def test_suite_reads_stored_metrics_and_computes_the_random_row(tmp_path: Path) -> None:
    suite = _load("suite_bench_under_test", REPO / "benchmarks" / "suite.py")
    (tmp_path / "T.json").write_text(json.dumps({"task_name": "T", "scores": {"test": [
        {"hf_subset": "default", "ndcg_at_10": 0.5, "mrr_at_10": 0.4, "map_at_100": 0.3}]}}), encoding="utf-8")
    assert suite.stored_metrics(tmp_path, ["T", "Missing"]) == {("T", "MRR@10"): 0.4, ("T", "MAP@100"): 0.3}

    lang = SimpleNamespace(qrels={"test": {"q": {"a": 2}}}, top_ranked={"test": {"q": ["a", "b", "c", "d"]}},
                           corpus={d: ("", "") for d in "abcdefgh"})
    retrieval = SimpleNamespace(spec=SimpleNamespace(name="R", type="retrieval"), languages={"de": lang})
    sts = SimpleNamespace(spec=SimpleNamespace(name="S", type="sts"), languages={"de": SimpleNamespace()})
    main, extra = suite.random_order([retrieval, sts])
    # one relevant among the 4 candidates (not the 8 passages of the corpus)
    assert main[("R", "nDCG@10")] == pytest.approx(sum(1 / math.log2(r + 1) for r in range(1, 5)) / 4)
    assert extra[("R", "MRR@10")] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert main[("S", "Spearman")] == 0.0

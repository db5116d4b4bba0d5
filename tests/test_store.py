"""Nothing lost, nothing half-written: kills at every step of writing a result, and two runs at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medbench.evaluate import run as run_tasks
from medbench.models import resolve_model
from medbench.results import model_dir
from medbench.store import RUN_LOG
from medbench.tasks import discover

#: runs the CLI with a hook: kill the process (SIGKILL) right after one step of writing a result
KILLER = """
import os, signal, sys
import medbench.evaluate as ev
step = os.environ["KILL_AFTER"]
ev._after_commit_step = lambda s: os.kill(os.getpid(), signal.SIGKILL) if s == step else None
from medbench.cli import main
sys.argv = ["medbench", *sys.argv[1:]]
main()
"""

#: runs the CLI with every mteb evaluation slowed down, so that two runs surely overlap
SLOW = """
import sys, time
import mteb
_evaluate = mteb.evaluate
def slow(*args, **kwargs):
    time.sleep(3)
    return _evaluate(*args, **kwargs)
mteb.evaluate = slow
from medbench.cli import main
sys.argv = ["medbench", *sys.argv[1:]]
main()
"""


def _cli(script: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.mark.parametrize("step", ["per_item", *(pytest.param(s, marks=pytest.mark.slow) for s in ("mteb_files", "run_log", "result"))])
def test_a_kill_at_any_step_leaves_the_old_state_or_the_new(step: str, tasks_root: Path, tiny_model_dir: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _cli(KILLER, ["run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks-dir", str(tasks_root),
                         "--tasks", "TinySTS", "--output-dir", str(out), "-q"], {"KILL_AFTER": step})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -9, err
    ref = resolve_model(str(tiny_model_dir), name="org/tiny")
    folder = model_dir(out / "results", ref.name, ref.revision)
    written = (folder / "TinySTS.json").is_file()
    assert written == (step == "result")  # the result file is written last, and only then does it count
    again = run_tasks(ref, [t for t in discover([tasks_root], include_builtin=False) if t.spec.name == "TinySTS"],
                      output_dir=out, show_progress=False, echo=lambda s: None)
    assert (again.cached, again.ran) == ((["TinySTS"], []) if written else ([], ["TinySTS"]))
    log = [json.loads(line) for line in (folder / RUN_LOG).read_text(encoding="utf-8").splitlines()]
    assert [e["task"] for e in log] == ["TinySTS"] * (1 if written else 2 if step == "run_log" else 1)
    per_item = (folder / "per_item" / "TinySTS.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(per_item) == 6 and all(json.loads(line)["split"] == "test" for line in per_item)
    assert not list((out / ".medbench-work").glob("TinySTS-*/results/*/*/*.json")) or step != "result"


def test_an_incomplete_stored_result_is_computed_again(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    ref = resolve_model(str(tiny_model_dir), name="org/tiny")
    tasks = [t for t in discover([tasks_root], include_builtin=False) if t.spec.name == "TinyRetrieval"]
    out = tmp_path / "out"
    assert run_tasks(ref, tasks, output_dir=out, show_progress=False, echo=lambda s: None).ran == ["TinyRetrieval"]
    folder = model_dir(out / "results", ref.name, ref.revision)
    (folder / "per_item" / "TinyRetrieval.jsonl").unlink()  # what a kill between mteb's file and ours used to leave
    assert run_tasks(ref, tasks, output_dir=out, show_progress=False, echo=lambda s: None).ran == ["TinyRetrieval"]
    assert (folder / "per_item" / "TinyRetrieval.jsonl").is_file()


@pytest.mark.slow  # two processes that import torch and mteb: about a minute on 2 cores
def test_two_runs_at_once_compute_each_task_once(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks-dir", str(tasks_root),
            "--output-dir", str(out), "-q", "--format", "json"]
    first, second = _cli(SLOW, args), _cli(SLOW, args)
    reports = []
    for proc in (first, second):
        stdout, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(stdout))
    ran = sorted(t for r in reports for t in r["ran"])
    assert ran == ["TinyRetrieval", "TinySTS"]  # each task computed by one of the two runs only
    assert sorted(t for r in reports for t in r["cached"]) == ["TinyRetrieval", "TinySTS"]
    ref = resolve_model(str(tiny_model_dir), name="org/tiny")
    log = (model_dir(out / "results", ref.name, ref.revision) / RUN_LOG).read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["task"] for line in log) == ["TinyRetrieval", "TinySTS"]

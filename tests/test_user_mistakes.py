"""What a new user found by trying to break medbench: each case reproduced, each a clear answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO, write_retrieval
from medbench.cli import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not result.exception or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def test_a_user_task_named_like_a_builtin_or_mteb_task_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "my_tasks"
    write_retrieval(root / "a", yaml_text="name: MedbenchRetrievalDE\ntype: retrieval\ndescription: x\nlanguages: [de]\n"
                    "license: apache-2.0\n")
    write_retrieval(root / "b", yaml_text="name: SciFact\ntype: retrieval\ndescription: x\nlanguages: [de]\n"
                    "license: apache-2.0\n")
    code, out = invoke("tasks", "validate", str(root))
    assert code == 1
    assert f"{root / 'a' / 'task.yaml'}:1" in out and "built-in medbench task 'MedbenchRetrievalDE'" in out
    assert f"{root / 'b' / 'task.yaml'}:1" in out and "mteb's own task 'SciFact'" in out
    # at run time too, before anything is written
    output = tmp_path / "out"
    code, out = invoke("run", "--model", "bm25", "--tasks-dir", str(root / "a"), "--output-dir", str(output), "-q")
    assert code == 1 and "built-in medbench task" in out and not output.exists()


def test_two_user_folders_with_one_name_are_refused(tmp_path: Path) -> None:
    yaml_text = "name: WardNotes\ntype: retrieval\ndescription: x\nlanguages: [de]\nlicense: apache-2.0\n"
    write_retrieval(tmp_path / "one" / "notes", yaml_text=yaml_text)
    write_retrieval(tmp_path / "two" / "notes", yaml_text=yaml_text.replace("WardNotes", "wardnotes"))
    code, out = invoke("tasks", "validate", str(tmp_path / "one"), str(tmp_path / "two"))
    assert code == 1 and "'wardnotes' is already used by" in out


def test_an_unwritable_output_folder_fails_before_any_work(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code, out = invoke("run", "--model", str(tiny_model_dir), "--tasks-dir", str(tasks_root),
                       "--output-dir", str(blocker / "out"), "-q")
    assert code == 1 and "cannot write results to" in out and "is a file" in out
    assert "Loading model" not in out and "Traceback" not in out


@pytest.mark.parametrize("device", ["cuda", "foo", "cuda:7"])
def test_a_device_that_does_not_exist_names_those_that_do(device: str, tasks_root: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out = invoke("run", "--model", "bm25", "--tasks-dir", str(tasks_root), "--device", device)
    assert code == 1 and f"--device {device}" in out.replace("'", "") and "here: cpu" in out and "Traceback" not in out


def test_an_unknown_hub_model_offline_fails_at_once_with_close_names(tasks_root: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    code, out = invoke("run", "--model", "sentence-transformers/all-MiniLM-L6-v3", "--tasks-dir", str(tasks_root),
                       "--output-dir", str(tmp_path), "-q")
    assert code == 1, out
    assert "not in the Hugging Face cache" in out and "all-MiniLM-L6-v2" in out
    assert time.perf_counter() - start < 60  # no retry loop against an unreachable hub (it took 10 s and more)


def test_language_is_not_a_filter(tmp_path: Path) -> None:
    code, out = invoke("run", "--model", "bm25", "--language", "de", "--output-dir", str(tmp_path))
    assert code == 1 and "use --languages de" in out


def _spawn(script: str, args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1"})


SLOW_SECOND_TASK = """
import sys, time
import mteb
_evaluate, calls = mteb.evaluate, []
def slow(*args, **kwargs):
    calls.append(1)
    if len(calls) > 1:
        time.sleep(120)
    return _evaluate(*args, **kwargs)
mteb.evaluate = slow
from medbench.cli import main
sys.argv = ["medbench", *sys.argv[1:]]
main()
"""


@pytest.mark.slow  # a real process that imports torch and mteb
def test_ctrl_c_keeps_finished_tasks_and_exits_130(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    proc = _spawn(SLOW_SECOND_TASK, ["run", "--model", str(tiny_model_dir), "--name", "org/tiny", "--tasks-dir",
                                     str(tasks_root), "--output-dir", str(tmp_path), "-q"], tmp_path)
    seen = ""
    deadline = time.time() + 240
    while "[2/2]" not in seen and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "[2/2]" in seen, seen
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest
    assert "interrupted: finished tasks are kept" in rest and "Aborted!" not in rest
    assert list((tmp_path / "results").glob("org__tiny/*/TinyRetrieval.json"))
    assert not list((tmp_path / "results").glob("org__tiny/*/TinySTS.json"))


@pytest.mark.slow  # real processes: the bars are printed by libraries into the real stderr
def test_quiet_shows_no_progress_bars_or_loading_notices(tasks_root: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    for model in (str(tiny_model_dir), "bm25"):
        proc = _spawn("from medbench.cli import main; import sys; sys.argv = ['medbench', *sys.argv[1:]]; main()",
                      ["run", "--model", model, "--tasks-dir", str(tasks_root), "--output-dir", str(tmp_path), "-q",
                       "--tasks", "TinyRetrieval"], tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        for noise in ("Loading weights", "Standardizing", "it/s]", "%|"):
            assert noise not in err, (model, noise, err)
        assert "TinyRetrieval" in out


def test_an_unwritable_leaderboard_folder_is_a_clear_error(tmp_path: Path) -> None:
    from medbench.cli.board import leaderboard

    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = CliRunner().invoke(leaderboard, ["--results-dir", str(REPO / "results"), "--out", str(blocker / "board")])
    assert result.exit_code == 1 and "cannot write the leaderboard to" in result.output and "is a file" in result.output
    assert "Traceback" not in result.output

"""benchmarks/gpu_check.py on the CPU with tiny sizes (``--device cpu --smoke``): the GPU check's plumbing.

The GPU call runs the same code with the real sizes; here every part must run, write its figures,
resume after the forced stop, and agree with itself on the CPU. ``--compare`` (the step that
re-evaluates the GPU run's packed model on this CPU) is checked on the smoke run's output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gpu-check")
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    result = json.loads((out / "gpu_check.json").read_text()) if (out / "gpu_check.json").is_file() else {}
    return proc, out, result


def test_smoke_runs_every_part_and_passes_its_checks(smoke) -> None:
    proc, _, result = smoke
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert result["errors"] == {}
    assert result["mode"] == "smoke" and result["device"] == "cpu"
    assert result["checks"] and all(result["checks"].values()), result["checks"]
    assert "checks:" in proc.stdout and "[FAIL]" not in proc.stdout
    for part in ("1. miracle-german throughput", "2. trainer end to end", "3. cpu vs CPU fp32", "4. medbench run encoding"):
        assert part in proc.stdout


def test_throughput_figures(smoke) -> None:
    t = smoke[2]["throughput"]
    assert t["recipe"]["name"] == "miracle-german" and t["recipe"]["loss"] == "cached_mnrl"
    assert t["recipe"]["learning_rate"] == 2e-5 and t["recipe"]["precision_asked"] == "bf16"
    assert t["recipe"]["precision_used"] == "fp32"  # the CPU trains in fp32
    assert t["recipe"]["prompts"] == {"query": "query: ", "document": "passage: "}
    assert t["model"]["seed"] == 42 and t["model"]["parameters"] > 0
    assert t["pairs_counted"] and t["timed_steps"] >= 2
    for key in ("seconds_per_step_mean", "seconds_per_step_median", "pairs_per_step_mean", "pairs_per_second",
                "tokens_per_second", "projected_epoch_hours_11M_pairs"):
        assert t[key] > 0, key
    assert t["projected_epoch_hours_11M_pairs"] == pytest.approx(11e6 / t["pairs_per_second"] / 3600, rel=0.01)


def test_trainer_stops_resumes_and_saves(smoke) -> None:
    tr = smoke[2]["trainer"]
    assert tr["recipe"] == "cpu-quick" and "training.precision=bf16" in tr["overrides"]
    assert tr["interrupted"] and tr["phase1_done_at_stop"] and tr["checkpoints_at_stop"] == ["checkpoint-2"]
    assert tr["phases_resumed"] == [2]
    assert [p["name"] for p in tr["phases"]] == ["sts", "retrieval", "sts-again"]
    assert [p["steps"] for p in tr["phases"]] == [tr["max_steps"]] * 3
    assert tr["phases"][1]["resumed_from"] == "checkpoint-2" and tr["phases"][0]["resumed_from"] is None
    assert len(tr["revision"]) == 12 and tr["eval"]["revision"] == tr["revision"]
    assert tr["eval"]["scores"] and all(-1 <= v <= 1 for v in tr["eval"]["scores"].values())


def test_cpu_agrees_with_itself_and_the_model_is_packed(smoke) -> None:
    _, out, result = smoke
    a = result["agreement"]
    assert a["compare_same_machine"]["within_tolerance"] and a["compare_same_machine"]["max_abs_diff"] <= 1e-3
    assert a["compare_same_machine"]["n"] == len(a["scores_device"]) >= 3
    assert (out / a["model_archive"]).stat().st_size == a["model_archive_bytes"] > 0


def test_encoding_figures(smoke) -> None:
    e = smoke[2]["encoding"]
    assert [r["batch_size"] for r in e["batch_sizes"]] == [32, 64] and not e["skipped_batch_sizes"]
    for r in e["batch_sizes"]:
        assert r["texts"] > r["documents"] > 0
        assert r["texts_per_second_run"] > 0 and r["texts_per_second_encode"] > 0 and r["documents_per_second"] > 0
    assert e["projected_minutes_400k_documents"] > 0 and e["best_batch_size"] in (32, 64)


def test_compare_re_evaluates_the_packed_model(smoke, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = smoke
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    assert module.main(["--compare", str(out / "gpu_check.json"), "--out", str(tmp_path)]) == 0
    compared = json.loads((tmp_path / "gpu_check_compare.json").read_text())
    assert compared["same_weights"] and compared["compare"]["within_tolerance"]
    assert compared["compare"]["max_abs_diff"] <= 1e-3
    assert "within 0.001" in capsys.readouterr().out

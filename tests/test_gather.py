"""Contrastive losses under two processes (torchrun, gloo on the CPU) meet the other process's passages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import QA_PAIRS

WORKER = r"""
import json, os, sys
import torch, torch.distributed as dist
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses
from medbench.train.losses import LOSSES

dist.init_process_group("gloo")
rank = dist.get_rank()
pairs = json.loads(sys.argv[2])[rank * 4:(rank + 1) * 4]  # each process its own 4 pairs
model = SentenceTransformer(sys.argv[1], device="cpu")
out = {}
for name, gather in (("cached_mnrl", True), ("cached_mnrl", False), ("mnrl", True)):
    spec = LOSSES[name](name=name, gather_across_devices=gather, **({"mini_batch_size": 2} if name == "cached_mnrl" else {}))
    loss = spec.build(losses, model, lambda n: None)
    shapes = []
    original = loss.similarity_fct
    def spy(a, b, _original=original, _shapes=shapes):
        _shapes.append([a.shape[0], b.shape[0]])
        return _original(a, b)
    loss.similarity_fct = spy
    features = [model.tokenize([q for q, _ in pairs]), model.tokenize([p for _, p in pairs])]
    value = loss(features, labels=None)
    value.backward()
    out[f"{name}:{gather}"] = {"shapes": shapes, "loss": float(value)}
print("RESULT " + json.dumps({"rank": rank, **out}), flush=True)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_contrastive_losses_gather_negatives_across_two_processes(tiny_model_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
                           str(script), str(tiny_model_dir), json.dumps(QA_PAIRS)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line.split("RESULT ", 1)[1]) for line in proc.stdout.splitlines() if "RESULT " in line]
    assert sorted(r["rank"] for r in results) == [0, 1]
    for r in results:
        # gathered: each process's 4 anchors are scored against the 8 passages of both processes
        assert all(cols == 8 for _, cols in r["cached_mnrl:True"]["shapes"]), r
        assert all(cols == 8 for _, cols in r["mnrl:True"]["shapes"]), r
        # not gathered: only its own 4
        assert all(cols == 4 for _, cols in r["cached_mnrl:False"]["shapes"]), r

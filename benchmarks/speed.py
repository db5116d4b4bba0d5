"""How much time does the harness add to pure encoding? Measures and prints; asserts nothing.

    python benchmarks/speed.py [--model minilm] [--threads N]

1. ``medbench run`` on the built-in tasks into a fresh temporary output folder (wall time of
   the whole command: interpreter start, imports, model load, data, encoding, scoring, writing);
2. the same model encoding the same distinct texts with plain ``SentenceTransformer.encode``
   (same batch size and threads), timed around the encode calls only;
3. ``medbench run`` again: every result is stored, so nothing is loaded or encoded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def medbench(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medbench.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def distinct_texts() -> dict[str, list[str]]:
    """The texts a run encodes, by role, deduplicated as medbench encodes them."""
    from medbench.tasks import discover

    roles: dict[str, dict[str, None]] = {"query": {}, "document": {}, "sentence": {}}
    for task in discover():
        for lang in task.languages.values():
            if task.spec.type == "retrieval":
                for title, text in lang.corpus.values():
                    roles["document"][f"{title} {text}".strip()] = None
                for qrels in lang.qrels.values():
                    for qid in qrels:
                        roles["query"][lang.queries[qid]] = None
            else:
                for pairs in lang.pairs.values():
                    for a, b, _ in pairs:
                        roles["sentence"][a] = None
                        roles["sentence"][b] = None
    return {k: list(v) for k, v in roles.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    extra = ["--batch-size", str(args.batch_size), "-q", "--no-cache"] + (["--threads", str(args.threads)] if args.threads else [])
    with tempfile.TemporaryDirectory() as out:
        run_s = medbench(["run", "--model", args.model, "--output-dir", out, *extra], env)
        cached_s = medbench(["run", "--model", args.model, "--output-dir", out, *extra], env)

    import torch
    from sentence_transformers import SentenceTransformer

    from medbench.models import resolve_model
    if args.threads:
        torch.set_num_threads(args.threads)
    ref = resolve_model(args.model)
    location = ref.weights_location()
    model = SentenceTransformer(location, device="cpu")
    prompts = ref.prompts or {}
    texts = distinct_texts()
    start = time.perf_counter()
    model.encode(texts["query"], prompt=prompts.get("query"), batch_size=args.batch_size)
    model.encode(texts["document"], prompt=prompts.get("document"), batch_size=args.batch_size)
    model.encode(texts["sentence"], batch_size=args.batch_size)
    encode_s = time.perf_counter() - start
    result = {
        "model": ref.name, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
        "texts": {k: len(v) for k, v in texts.items()},
        "medbench_run_s": round(run_s, 1), "pure_encode_s": round(encode_s, 1),
        "ratio": round(run_s / encode_s, 3), "cached_rerun_s": round(cached_s, 2),
    }
    print(json.dumps(result, indent=2))
    print(f"medbench run {run_s:.1f} s vs pure encoding {encode_s:.1f} s: ratio {run_s / encode_s:.2f} "
          f"(harness adds {100 * (run_s / encode_s - 1):.0f}%); cached re-run {cached_s:.2f} s")


if __name__ == "__main__":
    main()

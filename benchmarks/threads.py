"""Measure torch CPU threads for encoding: prints seconds per setting on this machine.

    python benchmarks/threads.py [--n 600] [--model sentence-transformers/all-MiniLM-L6-v2]

Texts are the passages of the built-in German and English cross-patient tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    from medbench.models import resolve_model

    texts = []
    for lang in ("DE", "EN"):
        for line in (ROOT / "tasks" / f"MedbenchRetrieval{lang}" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(f"{row['title']} {row['text']}")
    texts = texts[: args.n]
    model = SentenceTransformer(resolve_model(args.model).location, device="cpu")
    model.encode(texts[:32])  # warm-up
    print(f"{len(texts)} passages, {os.cpu_count()} cores, model {args.model}")
    for threads in sorted({1, 2, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        model.encode(texts, batch_size=32)
        print(f"threads={threads}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()

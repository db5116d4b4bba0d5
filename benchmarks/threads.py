"""Measure torch CPU threads for encoding: prints seconds per setting on this machine.

    python benchmarks/threads.py [--n 600] [--model sentence-transformers/all-MiniLM-L6-v2]

``--model`` takes what ``medbench run --model`` takes (hub id, local folder, alias such as
``minilm``). Texts are the passages of the built-in German and English cross-patient tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def model_location(model: str, echo=lambda s: print(s, file=sys.stderr)) -> tuple[str, str | None]:
    """What ``SentenceTransformer`` loads for ``model``, and the hub revision to load (None for a folder).

    An offline package's model is its folder on disk (``ModelRef.location`` only describes the
    package), a local folder is itself, a hub id stays a hub id at mteb's registered revision.
    """
    from medbench.errors import MedbenchError
    from medbench.models import resolve_model

    ref = resolve_model(model)
    if ref.is_bm25:
        raise MedbenchError(f"{model}: BM25 has no encoder; threads.py measures neural encoders")
    location = ref.weights_location(echo)
    return location, None if Path(location).is_dir() else ref.load_revision


def passages(n: int) -> list[str]:
    texts = []
    for lang in ("DE", "EN"):
        for line in (ROOT / "tasks" / f"MedbenchRetrieval{lang}" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(f"{row['title']} {row['text']}")
    return texts[:n]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    import torch
    from sentence_transformers import SentenceTransformer

    location, revision = model_location(args.model)
    texts = passages(args.n)
    model = SentenceTransformer(location, revision=revision, device="cpu")
    model.encode(texts[:32])  # warm-up
    print(f"{len(texts)} passages, {os.cpu_count()} cores, model {args.model} ({location})")
    default = torch.get_num_threads()
    try:
        for threads in sorted({1, 2, os.cpu_count() or 1}):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            model.encode(texts, batch_size=32)
            print(f"threads={threads}: {time.perf_counter() - start:.2f} s")
    finally:
        torch.set_num_threads(default)


if __name__ == "__main__":
    main()

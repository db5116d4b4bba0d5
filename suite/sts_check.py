"""The v2 STS targets (issue 12), measured straight from the authored pair files.

    python suite/sts_check.py de          # suite/src/de/sts/test-*.jsonl
    python suite/sts_check.py en --split train

Prints: pairs, the score histogram, pairs scored 0 (v2: <= 8%), pairs whose sentences differ by two
word tokens or fewer (v2: none; each is listed with file:line), the Spearman of the phenomenon label
alone with the score (v2: <= 0.85), and per kind the scores used (a kind whose pairs all share one
score is listed: grade within phenomena). Exit 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from suite_audit import label_spearman, token_edit_distance  # noqa: E402

MAX_ZERO_SHARE = 0.08
MAX_LABEL_SPEARMAN = 0.85
MIN_TOKEN_EDITS = 3
MIN_TEST_PAIRS = 400


def load(lang: str, split: str) -> list[tuple[str, dict]]:
    rows = []
    for path in sorted((ROOT / "suite" / "src" / lang / "sts").glob(f"{split}-*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                rows.append((f"{path.relative_to(ROOT)}:{n}", json.loads(line)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lang", choices=["de", "en"])
    parser.add_argument("--split", default="test", choices=["test", "train"])
    args = parser.parse_args(argv)
    rows = load(args.lang, args.split)
    if not rows:
        print("no pairs found")
        return 1
    ok = True
    scores = [float(r["score"]) for _, r in rows]
    kinds = [str(r.get("kind", "")) for _, r in rows]
    print(f"{len(rows)} pairs; scores: {dict(sorted(Counter(int(round(s)) for s in scores).items()))}")
    if args.split == "test" and len(rows) < MIN_TEST_PAIRS:
        ok = False
        print(f"FAIL fewer than {MIN_TEST_PAIRS} test pairs")
    zeros = sum(1 for s in scores if s == 0) / len(scores)
    ok &= zeros <= MAX_ZERO_SHARE
    print(f"{'ok  ' if zeros <= MAX_ZERO_SHARE else 'FAIL'} pairs scored 0: {zeros:.1%} (<= {MAX_ZERO_SHARE:.0%})")
    close = [(where, r) for where, r in rows if token_edit_distance(r["sentence1"], r["sentence2"], cap=MIN_TOKEN_EDITS) < MIN_TOKEN_EDITS]
    ok &= not close
    print(f"{'ok  ' if not close else 'FAIL'} pairs differing by two word tokens or fewer: {len(close)}")
    for where, r in close:
        print(f"     {where}: {r['sentence1']!r} / {r['sentence2']!r}")
    rho = label_spearman(kinds, scores)
    ok &= rho <= MAX_LABEL_SPEARMAN
    print(f"{'ok  ' if rho <= MAX_LABEL_SPEARMAN else 'FAIL'} Spearman of the kind label alone with the score: {rho:.3f} (<= {MAX_LABEL_SPEARMAN})")
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for k, s in zip(kinds, scores, strict=True):
        by_kind[k][int(round(s))] += 1
    for k, c in sorted(by_kind.items()):
        flag = "  <- one score only" if len(c) == 1 else ""
        print(f"     {k or '(no kind)':<16} {sum(c.values()):>4} pairs, scores {dict(sorted(c.items()))}{flag}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""A second, independent scoring pass over STS test pairs, and the agreement with the first.

    python suite/sts_agreement.py sheet de [--n 160] [--seed 2026]   # a blind sheet: pairs without scores
    python suite/sts_agreement.py report de                          # agreement, disagreements to adjudicate

``sheet`` draws ``n`` test pairs at random and writes them, **without** their scores or ``kind``, to
``suite/src/<lang>/sts/second-pass.jsonl`` (``{"sentence1", "sentence2", "score": null}``). A second
annotator, who has not seen the first scores, fills ``score`` by the guideline (sections 4 and 7).
``report`` then prints the agreement of the two passes (quadratic-weighted Cohen's kappa on the
integer scores and Spearman) and lists every pair where they differ; an adjudicator decides each
and writes ``"adjudicated": <final score>`` on its line (and corrects the test file when the final
score differs from the first pass). ``suite/build.py`` puts these figures in the STS data card.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "suite" / "src"


def test_pairs(lang: str) -> dict[tuple[str, str], float]:
    out = {}
    for path in sorted((SRC / lang / "sts").glob("test-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out[(row["sentence1"], row["sentence2"])] = float(row["score"])
    return out


def weighted_kappa(a: list[int], b: list[int], categories: int = 6) -> float:
    """Cohen's kappa with quadratic weights over the integer scores 0..categories-1."""
    n = len(a)
    observed = [[0.0] * categories for _ in range(categories)]
    for x, y in zip(a, b, strict=True):
        observed[x][y] += 1 / n
    pa = [sum(row) for row in observed]
    pb = [sum(observed[i][j] for i in range(categories)) for j in range(categories)]
    w = [[(i - j) ** 2 / (categories - 1) ** 2 for j in range(categories)] for i in range(categories)]
    num = sum(w[i][j] * observed[i][j] for i in range(categories) for j in range(categories))
    den = sum(w[i][j] * pa[i] * pb[j] for i in range(categories) for j in range(categories))
    return 1.0 - num / den if den else 1.0


def agreement(lang: str) -> dict | None:
    """Figures of the second pass, or None when there is none (yet)."""
    path = SRC / lang / "sts" / "second-pass.jsonl"
    if not path.is_file():
        return None
    from scipy.stats import spearmanr

    gold = test_pairs(lang)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(r.get("score") is None for r in rows):
        return None
    first, second, disagreements, adjudicated, changed = [], [], [], 0, 0
    for n, row in enumerate(rows, 1):
        key = (row["sentence1"], row["sentence2"])
        # the first pass is the author's score as it stood; after adjudication the test file holds the final one
        one = float(row.get("first", gold.get(key, float("nan"))))
        two = float(row["score"])
        first.append(one)
        second.append(two)
        if round(one) != round(two):
            disagreements.append((n, one, two, row.get("adjudicated")))
            adjudicated += "adjudicated" in row
            changed += "adjudicated" in row and float(row["adjudicated"]) != one
    return {
        "pairs": len(rows),
        "kappa": weighted_kappa([round(x) for x in first], [round(x) for x in second]),
        "spearman": float(spearmanr(first, second).statistic),
        "exact": sum(round(a) == round(b) for a, b in zip(first, second, strict=True)) / len(rows),
        "disagreements": disagreements,
        "adjudicated": adjudicated,
        "changed": changed,
    }


def sheet(lang: str, n: int, seed: int) -> None:
    pairs = sorted(test_pairs(lang))
    chosen = random.Random(seed).sample(pairs, min(n, len(pairs)))
    path = SRC / lang / "sts" / "second-pass.jsonl"
    path.write_text("".join(json.dumps({"sentence1": a, "sentence2": b, "score": None}, ensure_ascii=False) + "\n"
                            for a, b in chosen), encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(chosen)} pairs to score blind")


def report(lang: str) -> int:
    path = SRC / lang / "sts" / "second-pass.jsonl"
    gold = test_pairs(lang)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # record the first pass on each line once, before any adjudication changes the test file
    if any("first" not in r for r in rows):
        missing = [r for r in rows if (r["sentence1"], r["sentence2"]) not in gold]
        if missing:
            print(f"{len(missing)} pairs of the sheet are no longer test pairs, e.g. {missing[0]['sentence1']!r}")
            return 1
        for r in rows:
            r.setdefault("first", gold[(r["sentence1"], r["sentence2"])])
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    fig = agreement(lang)
    if fig is None:
        print("the second pass is not complete (a score is null)")
        return 1
    print(f"{fig['pairs']} pairs: weighted kappa {fig['kappa']:.3f}, Spearman {fig['spearman']:.3f}, "
          f"exact agreement {fig['exact']:.1%}; {len(fig['disagreements'])} disagreements, "
          f"{fig['adjudicated']} adjudicated ({fig['changed']} changed the first score)")
    for n, one, two, adj in fig["disagreements"]:
        print(f"  {path.relative_to(ROOT)}:{n}: first {one:g}, second {two:g}, adjudicated {adj if adj is not None else '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("lang", choices=["de", "en"])
    s.add_argument("--n", type=int, default=160)
    s.add_argument("--seed", type=int, default=2026)
    r = sub.add_parser("report")
    r.add_argument("lang", choices=["de", "en"])
    args = parser.parse_args(argv)
    if args.command == "sheet":
        sheet(args.lang, args.n, args.seed)
        return 0
    return report(args.lang)


if __name__ == "__main__":
    sys.exit(main())

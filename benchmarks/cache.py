"""What the embedding cache saves: a re-run after changing one qrel line, against the first run.

    python benchmarks/cache.py [--model minilm] [--threads 1]

Copies the six built-in tasks to a temporary folder (renamed ``CacheBench...``: a user folder may not
reuse built-in names), then times three ``medbench run`` processes
with an empty cache of their own (``$MEDBENCH_CACHE`` in the temporary folder):

1. the first run (every text encoded, vectors stored);
2. the run after one qrel line of one task changed (that task's data revision changes, so its result
   is recomputed; every other result is reused, and no text is encoded again);
3. the same edit again with ``--overwrite --no-cache`` (every task recomputed, every text encoded):
   what a re-run cost before the cache.

Prints seconds and each run's fraction of the first, and checks that runs 2 and 3 give the same scores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def medbench(args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from medbench.cli import main; main()", *args, "--format", "json"], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return seconds, json.loads(proc.stdout)


def edit_one_qrel(tasks: Path) -> str:
    """Raise one grade-1 line of the cross-patient German task to 2 (or lower a 2 to 1)."""
    path = tasks / "MedbenchRetrievalDE" / "qrels" / "test.tsv"  # the copy named CacheBenchMedbenchRetrievalDE
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[1:], 1):
        q, d, g = line.split("\t")
        if g in ("1", "2"):
            lines[i] = f"{q}\t{d}\t{'2' if g == '1' else '1'}"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return f"{path.relative_to(tasks)}:{i + 1}"
    raise SystemExit("no qrel line to edit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medbench-cache-bench-") as tmp:
        tmp_path = Path(tmp)
        tasks = tmp_path / "tasks"
        shutil.copytree(ROOT / "tasks", tasks)
        for spec in tasks.glob("*/task.yaml"):  # a user folder may not reuse built-in names: rename the copies
            text = spec.read_text(encoding="utf-8")
            spec.write_text(text.replace("name: Medbench", "name: CacheBenchMedbench", 1), encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEDBENCH_CACHE": str(tmp_path / "cache")}
        base = ["run", "--model", args.model, "--tasks-dir", str(tasks), "--output-dir", str(tmp_path / "out"), "-q"]
        base += ["--threads", str(args.threads)] if args.threads else []
        first, r1 = medbench(base, env)
        where = edit_one_qrel(tasks)
        second, r2 = medbench(base, env)
        third, r3 = medbench([*base, "--overwrite", "--no-cache"], env)
    print(f"model {r1['model']['name']} @ {r1['model']['revision']}; six built-in tasks; edited {where}")
    print(f"{'run':<58} {'seconds':>8} {'of first':>9}  tasks computed")
    for label, secs, rep in (("1. first run (empty cache)", first, r1),
                             ("2. after one qrel edit (cache)", second, r2),
                             ("3. after one qrel edit, --overwrite --no-cache (no cache)", third, r3)):
        print(f"{label:<58} {secs:>8.1f} {secs / first:>9.2f}  {len(rep['ran'])} ({', '.join(rep['ran'])})")
    scores2 = {(r["task"], r["language"]): r["scores"] for r in r2["rows"]}
    scores3 = {(r["task"], r["language"]): r["scores"] for r in r3["rows"]}
    print(f"scores of run 2 and run 3 identical: {scores2 == scores3}")
    return 0 if scores2 == scores3 else 1


if __name__ == "__main__":
    sys.exit(main())

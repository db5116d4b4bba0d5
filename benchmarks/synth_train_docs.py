"""Write the built-in TRAINING patients' documents as input for `medbench synth` (issue 14, part 8).

    python benchmarks/synth_train_docs.py [--out .synth] [--sample N]

Reads suite/src/<lang>/train/*.json (the 112 training patients per language, in scenarios no test
patient has; never the test patients) and writes ``<out>/train-docs-<lang>.jsonl`` with ``id``, ``text`` (the document's passages
joined by blank lines), ``patient``, ``type`` and ``title``. ``--sample N`` keeps N documents per
language, drawn with a fixed seed (generation with a small CPU model is slow). Prints the counts.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def documents(lang: str) -> list[dict]:
    rows = []
    for bundle in sorted((ROOT / "suite" / "src" / lang / "train").glob("*.json")):
        data = json.loads(bundle.read_text(encoding="utf-8"))
        for doc in data["documents"]:
            rows.append({"id": f"{bundle.stem}-{doc['passages'][0]['id']}", "text": "\n\n".join(p["text"] for p in doc["passages"]),
                         "patient": data["patient"], "type": doc["type"], "title": doc["title"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".synth")
    parser.add_argument("--sample", type=int, default=0, help="documents per language (0: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in ("de", "en"):
        rows = documents(lang)
        if args.sample:
            random.Random(0).shuffle(rows)
            rows = rows[: args.sample]
        path = args.out / f"train-docs-{lang}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path}: {len(rows)} documents of {len({r['patient'] for r in rows})} training patients, "
              f"{sum(len(r['text'].split()) for r in rows)} words")


if __name__ == "__main__":
    main()

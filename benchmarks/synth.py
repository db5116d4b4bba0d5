"""How fast is medbench synth's own machinery? Measures and prints; asserts nothing. No GPU, no network.

    python benchmarks/synth.py [--passages 1500] [--levels 1,8,64]

Part 9 of issue 14: the fake OpenAI-compatible server (medbench.synth.fakeserver) runs in its own
process on 127.0.0.1 and answers at once, so what is measured is medbench's overhead: building
each request, HTTP, the generation log (one flushed line per call), the cheap filters behind the
progress bar. For each concurrency the whole pipeline runs into a fresh folder; the table shows
the asking stage (requests per second, wall, and medbench's CPU milliseconds per request, all its
threads together) and the time the filters, BM25 round trip and the task folder took after it.
The server shares the machine's cores, so on a small machine the wall figures are a lower bound.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = """Befund Rundherd Oberlappen Unterlappen Pleuraerguss Lymphknoten Infiltrat Konsolidierung Metastase
Adenokarzinom Resektion Lobektomie Drainage Antibiose Ampicillin Ramipril Bisoprolol Hypertonie Diabetes Niere
Leber Milz Pankreas Kolon Sigma Rektum Anastomose Wundheilung Mobilisation Physiotherapie Kontrolle Sonographie
Computertomographie Magnetresonanz Kontrastmittel Histologie Immunhistochemie Grading Staging Tumorboard
Chemotherapie Bestrahlung Nachsorge Entlassung Aufnahme Verlauf Fieber Schmerz Analgesie Thrombose Embolie""".split()
GLUE = "der die das mit ohne bei nach im am und kein keine zeigt zeigte wurde wurden ist sind".split()


def documents(n: int, seed: int = 7) -> list[dict]:
    """``n`` distinct documents of about 150 words, made of clinical words (not real text: the server only quotes it);
    each sentence holds a made-up identifier word, so that questions about it can find their passage."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sentences = []
        for j in range(12):
            words = [rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(GLUE) for _ in range(10)]
            tag = "".join(chr(97 + (i * 12 + j) // 26**k % 26) for k in range(4))
            sentences.append(" ".join([words[0].capitalize(), *words[1:], f"Verlaufskennung{tag}"]) + ".")
        out.append({"id": f"doc{i}", "patient": f"p{i // 3}", "type": "radiology", "text": " ".join(sentences)})
    return out


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "medbench.synth.fakeserver", "--port", "0"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(levels: list[int], passages: int) -> list[dict]:
    """One full run per concurrency against a fresh fake server process; the asking stage's figures."""
    from medbench.synth import SynthConfig, run

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs.jsonl"
        docs.write_text("".join(json.dumps(d) + "\n" for d in documents(passages)), encoding="utf-8")
        for level in levels:
            proc, url = start_server()
            try:
                config = SynthConfig(input=docs, out=Path(tmp) / f"c{level}", endpoints=[url], model="fake", language="de",
                                     concurrency=level)
                started = time.perf_counter()
                server_cpu = cpu_seconds(proc.pid)
                report = run(config, progress=False)
                total = time.perf_counter() - started
                server_cpu = (cpu_seconds(proc.pid) or 0.0) - server_cpu if server_cpu is not None else None
            finally:
                proc.terminate()
                proc.wait()
            rows.append({"concurrency": level, "requests": report.asked, "seconds": report.generation_seconds,
                         "rps": report.asked / report.generation_seconds,
                         "cpu_ms": 1000 * report.generation_cpu_seconds / report.asked,
                         "server_ms": None if server_cpu is None else 1000 * server_cpu / report.asked,
                         "after": total - report.generation_seconds, "kept": report.kept})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1500, help="documents (one passage each) per run")
    parser.add_argument("--levels", default="1,8,64", help="concurrency levels, comma-separated")
    args = parser.parse_args()
    import os

    from tabulate import tabulate

    rows = throughput([int(x) for x in args.levels.split(",")], args.passages)
    print(f"medbench synth against an instant fake server, {args.passages} passages per run, {os.cpu_count()} CPU(s):\n")
    print(tabulate([[r["concurrency"], r["requests"], f"{r['seconds']:.2f}", f"{r['rps']:.0f}", f"{r['cpu_ms']:.2f}",
                     "-" if r["server_ms"] is None else f"{r['server_ms']:.2f}", f"{r['after']:.2f}", r["kept"]] for r in rows],
                   headers=["concurrency", "requests", "asking s", "requests/s", "medbench CPU ms/request",
                            "fake server CPU ms/request", "filters+BM25+folder s", "questions kept"], tablefmt="github"))


if __name__ == "__main__":
    main()

"""``medbench synth``: a thin click command over :mod:`medbench.synth` (questions from your own documents)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medbench.cli._util import CONTEXT, user_errors
from medbench.errors import MedbenchError

INTERRUPTED = ("\ninterrupted: every answer so far is in the generation log; the same command resumes "
               "and asks only for the passages without an answer")


@click.command(context_settings=CONTEXT)
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option("--endpoint", "endpoints", multiple=True, metavar="URL",
              help="An OpenAI-compatible server, e.g. http://gpu-box:8000/v1 (repeatable: the work is spread over all). "
                   "Your text goes to these servers and nowhere else.")
@click.option("--llm", "model", metavar="MODEL", help="The model name the server knows, e.g. Qwen/Qwen2.5-7B-Instruct.")
@click.option("--language", type=click.Choice(["de", "en"]), help="The documents' language; the questions are asked in it.")
@click.option("--out", type=click.Path(path_type=Path), help="The task folder to write (replaced as a whole at the end).")
@click.option("--questions", default=2, show_default=True, type=click.IntRange(1, 10), help="Questions per passage.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 1024), help="Requests at once.")
@click.option("--prompts", type=click.Path(path_type=Path), help="A YAML or JSON file of prompt templates per language and document type.")
@click.option("--evidence", default="quote", show_default=True, type=click.Choice(["quote", "choose"]),
              help="quote: the LLM quotes the sentence a question rests on (the grounding filter checks it); choose: the "
                   "request's schema lists the passage's sentences and the LLM picks one before writing the question "
                   "(for small models that cannot quote; needs a server that honours enum in json_schema).")
@click.option("--temperature", default=0.7, show_default=True, type=click.FloatRange(0, 2),
              help="Sampling temperature of the LLM (small models write less gibberish lower).")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1),
              help="Round trip: BM25 must rank a question's source passage in the top k.")
@click.option("--test-share", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the patients (documents without one) whose passages become the test split.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and the audit sample.")
@click.option("--hard-negatives", is_flag=True, help="Add a BM25-mined negative from another training document to each training pair.")
@click.option("--judge", default=0, show_default=True, type=click.IntRange(0), metavar="K",
              help="Have the LLM grade the top K other test passages (BM25) of each test question; grades 1-2 become "
                   "extra qrels (finds relevant passages the question's own passage does not stand for alone).")
@click.option("--audit", default=0, show_default=True, type=click.IntRange(0), metavar="N",
              help="Write N random kept pairs with their passages to audit.csv for a person to mark.")
@click.option("--audit-report", type=click.Path(path_type=Path), metavar="SHEET",
              help="Read a marked audit.csv and write its rates into the data card (no INPUT then).")
@click.option("--dry-run", is_flag=True,
              help="Count documents and passages, estimate calls and tokens; ask nothing (with --out and --llm: "
                   "only the calls the log has not answered).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, metavar="NAME",
              help="The environment variable holding the API key (never give the key itself on the command line).")
@click.option("--name", help="The task name (default: the --out folder's name).")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(0, min_open=True), help="Seconds to wait for one answer.")
@click.option("--max-attempts", default=5, show_default=True, type=click.IntRange(1),
              help="Calls per passage at the most (retries on 429, 5xx, timeouts).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@user_errors
def synth(input_path: Path | None, endpoints: tuple[str, ...], model: str | None, language: str | None, out: Path | None,
          questions: int, concurrency: int, prompts: Path | None, evidence: str, temperature: float,
          top_k: int, test_share: float, seed: int,
          hard_negatives: bool, judge: int, audit: int, audit_report: Path | None, dry_run: bool, api_key_env: str, name: str | None,
          timeout: float, max_attempts: int, quiet: bool) -> None:
    """Write questions about your own documents with an LLM: a task folder with train.jsonl.

    INPUT is a folder of .txt files (one document each) or a .jsonl/.csv file with id, text and
    optional patient, type, date, title. Each document is cut into passages of 100-250 words;
    an OpenAI-compatible server writes questions with quoted evidence for each; the questions are
    filtered (schema, grounding, language, copying, BM25 round trip, near-duplicates) and split
    by patient into test queries and training pairs. Stopped (Ctrl-C, a kill), the same command
    resumes from the generation log.

    \b
    Examples:
      medbench synth ./notes --endpoint http://gpu-box:8000/v1 --llm Qwen/Qwen2.5-7B-Instruct --language de --out ./my_tasks/notes-qa
      medbench synth notes.jsonl --language de --dry-run
      medbench synth notes.csv --endpoint http://a:8000/v1 --endpoint http://b:8000/v1 --llm qwen2.5 --language en --out qa
      medbench synth notes.csv --llm qwen2.5 --endpoint http://a:8000/v1 --language en --out qa --hard-negatives --audit 100
      medbench synth --audit-report ./my_tasks/notes-qa/audit.csv
    """
    if audit_report is not None:
        if input_path is not None:
            raise MedbenchError("--audit-report reads a marked sheet: give it without INPUT")
        _audit_report(audit_report)
        return
    if input_path is None:
        raise MedbenchError("give INPUT (a folder of .txt files, a .jsonl or a .csv file), or --audit-report SHEET")
    if language is None:
        raise MedbenchError("give the documents' language: --language de or --language en")
    from medbench.synth import SynthConfig, pipeline

    config = SynthConfig(input=input_path, language=language, out=out, endpoints=list(endpoints), model=model,
                         questions=questions, concurrency=concurrency, prompts=prompts, top_k=top_k, test_share=test_share,
                         seed=seed, hard_negatives=hard_negatives, audit=audit, api_key_env=api_key_env, timeout=timeout,
                         max_attempts=max_attempts, name=name, evidence=evidence, temperature=temperature,
                         judge=judge)
    if dry_run:
        counts = pipeline.dry_run(config)
        _dry_run(counts)
        if judge:
            click.echo(f"--judge {judge}: up to {judge} more calls per kept test question (about "
                       f"{round(counts['passages'] * test_share * questions)} questions are asked about test passages; "
                       "how many survive the filters is known only after generation)")
        return
    missing = [o for o, v in (("--endpoint", endpoints), ("--llm", model), ("--out", out)) if not v]
    if missing:
        raise MedbenchError(f"give {', '.join(missing)} (or --dry-run to only count)")
    try:
        report = pipeline.run(config, progress=not quiet, echo=(lambda s: None) if quiet else lambda s: click.echo(s, err=True))
    except KeyboardInterrupt:
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    _summary(report, out)


def _dry_run(d: dict) -> None:
    from tabulate import tabulate

    types = ", ".join(f"{t} {n}" for t, n in sorted(d["types"].items()))
    rows = [["documents", d["documents"]], ["  by type", types], ["patients", d["patients"]],
            ["passages", d["passages"]], ["words", d["words"]],
            ["calls to make", f"{d['calls']} ({d['answered']} passages already answered in the log)"],
            ["prompt tokens (estimate)", d["prompt_tokens"]], ["completion tokens (estimate)", d["completion_tokens"]]]
    click.echo(tabulate(rows, tablefmt="github", headers=["dry run", "count"]))
    click.echo(f"\nestimates: {d['tokens_per_word']} tokens per word, {d['answer_words_per_question']} words of answer per "
               "question; nothing was sent anywhere")


def _summary(report, out: Path) -> None:  # type: ignore[no-untyped-def]
    from tabulate import tabulate

    drops = report.drops
    rows = [["documents / passages", f"{report.documents} / {report.passages}"],
            ["calls (all runs) / asked now", f"{report.calls} / {report.asked}"],
            ["answered / without answer", f"{report.answered} / {report.failed}"],
            ["questions proposed", report.proposed],
            *([f"  dropped: {k}", v] for k, v in drops.items()),
            ["questions kept", report.kept],
            ["test queries / corpus passages", f"{report.test_queries} / {report.test_passages}"],
            ["train pairs (dropped: repeat a test text)", f"{report.train_pairs} ({report.train_leakage})"]]
    if report.judge_k:
        grades = report.judge_grades
        rows += [[f"judge: pairs graded (top {report.judge_k})", report.judge_pairs],
                 ["  grade 2 / 1 / 0", f"{grades.get('2', 0)} / {grades.get('1', 0)} / {grades.get('0', 0)}"],
                 ["  not a grade / no answer", f"{report.judge_unreadable} / {report.judge_failed}"],
                 ["  qrels added", report.judge_added]]
    click.echo(tabulate(rows, tablefmt="github", headers=[report.name, "count"]))
    if report.failed:
        click.echo(f"\nwarning: {report.failed} passage(s) got no answer (errors in generation.jsonl); "
                   "run the same command again to retry them", err=True)
    click.echo(f"\nwrote {out} in {report.seconds:.0f}s; next: medbench tasks validate {out}")


def _audit_report(sheet: Path) -> None:
    from medbench.synth.audit import report

    counts, card = report(sheet)
    click.echo(f"{counts['marked']} pairs marked ({counts['unmarked']} unmarked): "
               f"hallucinated {counts['hallucinated']} ({counts['hallucinated_rate']:.1%}), "
               f"wrong {counts['wrong']} ({counts['wrong_rate']:.1%})")
    if card is None:
        click.echo(f"note: no synth.json beside {sheet}: keep the sheet in its task folder to have the data card updated", err=True)
    else:
        click.echo(f"written into {card}")

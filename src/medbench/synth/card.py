"""The data card: the counts of a ``medbench synth`` run -> the task folder's ``README.md``.

In: the report's dictionary (``synth.json``), with the audit's rates once a person has marked the
sheet. Out: Markdown: what the task is, a table with the count of every step (documents,
passages, calls, answers, each filter's drops, kept, the split), how it was made, and the audit.
Next: nothing; a person reads it. No machine path goes into it.
"""

from __future__ import annotations

from typing import Any

LANGUAGE = {"de": "German", "en": "English"}
DROPS = {
    "malformed_answer": "answers dropped: not the schema's JSON (whole answer)",
    "malformed": "questions dropped: item breaks the schema, or past the N asked for",
    "ungrounded": "questions dropped: evidence not found in the passage",
    "language": "questions dropped: wrong language",
    "copy": "questions dropped: copy 8+ consecutive words of the passage",
    "round_trip": "questions dropped: BM25 does not rank the source passage in the top k",
    "duplicate": "questions dropped: near-duplicate of a kept question (Jaccard >= 0.8)",
}


def _rate(part: int, whole: int) -> str:
    return f" ({100 * part / whole:.1f}%)" if whole else ""


def render(r: dict[str, Any]) -> str:
    """The data card of one run (see the module docstring)."""
    lang = LANGUAGE.get(r["language"], r["language"])
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.get("errors", {}).items())) or "none"
    tokens = r.get("tokens") or {}
    rows = [
        ("documents", r["documents"]),
        ("passages (100-250 words, medbench's chunker)", r["passages"]),
        ("patient groups (a document without a patient is its own)", f"{r['groups']} ({r['patients']} patients)"),
        ("split: test / train groups", f"{r['test_groups']} / {r['train_groups']}"),
        ("LLM calls (every run and retry)", f"{r['calls']} (errors: {errors})"),
        ("passages answered", f"{r['answered']}{_rate(r['answered'], r['passages'])}"),
        ("passages without an answer (run again to retry)", r["failed"]),
        ("questions proposed", r["proposed"]),
        *((DROPS[k], f"{v}{_rate(v, r['answered'] if k == 'malformed_answer' else r['proposed'])}")
          for k, v in r.get("drops", {}).items()),
        ("questions kept", f"{r['kept']}{_rate(r['kept'], r['proposed'])}"),
        ("test: queries / corpus passages", f"{r['test_queries']} / {r['test_passages']}"),
        ("train: pairs in train.jsonl" + (" (each with a hard negative)" if r["hard_negatives"] else ""), r["train_pairs"]),
        ("train: pairs dropped, repeat a test text", r["train_leakage"]),
    ]
    if r["hard_negatives"]:
        rows.append(("train: pairs dropped, no usable hard negative", r["train_no_negative"]))
    if r.get("judge_k"):
        grades = r.get("judge_grades") or {}
        rows += [(f"judge: other test passages graded (BM25 top {r['judge_k']} per query)", r["judge_pairs"]),
                 ("judge: grade 2 / 1 / 0", f"{grades.get('2', 0)} / {grades.get('1', 0)} / {grades.get('0', 0)}"),
                 ("judge: answers not a grade / pairs without an answer", f"{r['judge_unreadable']} / {r['judge_failed']}"),
                 ("judge: qrels added (grades 1 and 2)", r["judge_added"])]
    if tokens:
        rows.append(("tokens the servers reported (prompt / completion)",
                     f"{tokens.get('prompt_tokens', 0)} / {tokens.get('completion_tokens', 0)}"))
    table = "\n".join(f"| {step} | {value} |" for step, value in rows)
    return f"""# {r['name']}

A retrieval task in {lang} written by `medbench synth` from {r['documents']} private clinical documents:
questions that an LLM (`{r['model']}`, {r['endpoints']} endpoint(s)) wrote about passages of the documents,
filtered, each judged relevant (grade 2) to the passage it was asked about. Private data: not for
publication (`is_public: false`).

## Counts

| step | count |
|---|---|
{table}

## How it was made

- **Passages.** Each document is cut at section headings and paragraphs into passages of about
  100-250 words (over-long paragraphs at sentence ends), ids `<document id>#<n>`.
- **Questions.** {r['questions_per_passage']} per passage, from templates per document type and
  language: `search` questions (across all patients) and `record` questions (inside the patient's
  open record), each with {_evidence(r.get('evidence', 'quote'))}. The request carries the answer's
  JSON schema (`response_format`); every call's request and answer are in `generation.jsonl`.
- **Filters**, in this order: the answer must be the schema's JSON (a Markdown code fence is
  unwrapped); the evidence must be in the passage (verbatim after normalising case, quotes and
  whitespace, or with a character ratio >= 0.9); the question must be in {lang}; it must not copy
  8 or more consecutive words of the passage; BM25 (bm25s, Snowball stemmer) must rank the source
  passage in the top {r['top_k']} of all {r['passages']} passages; and it must not be a near-duplicate
  of a question kept before it.
- **Split.** By patient (by document where no patient is given), seed {r['seed']}, test share
  {r['test_share']}: the test patients' passages are the corpus and their questions the queries;
  the other patients' questions with their passages are `train.jsonl`. Training rows whose question
  or passage repeats a test text (exactly or nearly, the check `medbench train` runs) are dropped.
{_judge(r)}
{_audit(r.get('audit'), r.get('audit_pairs', 0))}"""


def _judge(r: dict[str, Any]) -> str:
    if not r.get("judge_k"):
        return ("- **Judge.** Not run: each query has one relevant passage, the one it was written from "
                "(`--judge K` has the LLM grade the top K other test passages).\n")
    return (f"- **Judge** (`--judge {r['judge_k']}`). The same LLM graded the {r['judge_k']} test passages BM25 ranks "
            "highest for each query (other than its own; score above 0) at temperature 0: 2 answers the question, "
            "1 answers it in part, 0 does not. Grades 1 and 2 were added to `qrels/test.tsv`. The judge is the "
            "generator: its errors are not independent of the questions', and BM25's pool misses passages that "
            "share no words with the question.\n")


def _evidence(mode: str) -> str:
    if mode == "choose":
        return ("the evidence chosen from the passage's sentences, which the schema lists (`--evidence choose`): the "
                "evidence is then grounded by construction, and only the round trip and the audit test whether the "
                "question asks what that sentence says")
    return "the evidence quoted from the passage"


def _audit(audit: dict[str, Any] | None, pairs: int) -> str:
    if not audit:
        sheet = (f"`audit.csv` holds {pairs} random kept pairs with their passages" if pairs else
                 "`medbench synth ... --audit N` writes N random kept pairs with their passages to `audit.csv`")
        return (f"## Audit\n\nNot audited yet. {sheet};\na person marks `hallucinated` and `wrong` (y or n) for each, "
                "then `medbench synth --audit-report audit.csv` writes the rates here.\n")
    return (f"## Audit\n\nA person marked {audit['marked']} random kept pairs ({audit['unmarked']} left unmarked):\n\n"
            "| finding | pairs | rate |\n|---|---|---|\n"
            f"| hallucinated (the passage does not support the question) | {audit['hallucinated']} | {audit['hallucinated_rate']:.1%} |\n"
            f"| factually wrong | {audit['wrong']} | {audit['wrong_rate']:.1%} |\n")

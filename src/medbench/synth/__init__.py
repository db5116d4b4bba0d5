"""Synthetic questions from a hospital's own documents: ``medbench synth``.

In: documents (a folder of ``.txt``, or one JSONL/CSV file), one or more OpenAI-compatible
endpoints (vLLM, llama.cpp's server, Ollama, TGI, a hosted API) and a model name.
Out: a medbench task folder (``task.yaml``, corpus, queries, qrels, ``train.jsonl``, a data card,
the generation log) that ``medbench tasks validate`` accepts and ``medbench run``/``train``/``loop`` use.
Next: :mod:`medbench.tasks` reads the folder; :mod:`medbench.train` trains on its ``train.jsonl``.

Rooms, one per step (:mod:`medbench.synth.pipeline` ties them together):
    documents.py   the input, streamed, problems with file:line
    chunk.py       medbench's chunker: passages of about 100-250 words at paragraph and section seams
    passages.py    the passages' work file, the train/test split by patient
    prompts.py     templates per document type and language, the answer's JSON schema, the request
    client.py      the endpoints: concurrency, least-busy choice, retries with backoff, the API key
    asking.py      many requests at once, each call logged, the progress bar
    log.py         the append-only generation log and the resume state read from it
    filters.py     strict parsing, grounding, language, copying, near-duplicates
    retrieval.py   BM25 over all passages: the round-trip filter, hard negatives
    judge.py       --judge K: the LLM grades the top K other test passages of each test question
    output.py      the task folder, written whole; card.py its data card
    audit.py       the sheet for a person to mark, and the rates from it
    stream.py      big JSON-lines files read a block at a time through medbench.jsonl
    fakeserver.py  a fake OpenAI-compatible server for tests and benchmarks

Nothing here imports torch, mteb or sentence-transformers.
"""

from medbench.synth.pipeline import SynthConfig, dry_run, run

__all__ = ["SynthConfig", "dry_run", "run"]

"""Shared fixtures: tiny task folders and a tiny sentence-transformers model built in code.

Nothing here downloads anything: the hub is switched off for the whole test session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

CORPUS = [
    ("d1", "CT Thorax", "Im rechten Oberlappen eine 2,3 cm große spikulierte Raumforderung, V.a. Bronchialkarzinom."),
    ("d2", "CT Thorax", "Kein Hinweis auf pulmonale Rundherde. Kein Pleuraerguss. Unauffälliger Befund."),
    ("d3", "Histologie", "Adenokarzinom der Lunge, TTF-1 positiv, Resektionsränder tumorfrei (R0)."),
    ("d4", "Entlassungsbrief", "Entlassung mit Ramipril 5 mg 1-0-0 und Bisoprolol 2,5 mg 1-0-0 bei arterieller Hypertonie."),
]
QUERIES = [
    ("q1", "Tumor im rechten Oberlappen"),
    ("q2", "Histologie Lungenkarzinom Resektionsrand"),
    ("q3", "Medikation Bluthochdruck bei Entlassung"),
]
QRELS = [("q1", "d1", 2), ("q1", "d3", 1), ("q2", "d3", 2), ("q3", "d4", 2)]
PAIRS = [
    ("Kein Hinweis auf Metastasen.", "Hinweis auf Metastasen.", 1.0),
    ("V.a. Lungenarterienembolie.", "Verdacht auf Lungenarterienembolie.", 5.0),
    ("Hypertonie bekannt.", "Bluthochdruck bekannt.", 5.0),
    ("Fraktur des linken Radius.", "Fraktur des rechten Radius.", 1.0),
    ("Knie-MRT mit Meniskusriss.", "Entlassung mit Ramipril.", 0.0),
    ("Pneumonie rechts basal.", "Infiltrat rechts basal.", 4.0),
]

#: question -> passage pairs for the trainer's tests (German, one topic each)
QA_PAIRS = [
    ("Ramipril Dosis", "Ramipril 5 mg morgens bei Hypertonie."),
    ("Fraktur Radius", "Distale Radiusfraktur links, Gips für sechs Wochen."),
    ("Pneumonie Therapie", "Ambulant erworbene Pneumonie, Therapie mit Amoxicillin."),
    ("Meniskus Knie", "MRT Knie: Riss des Innenmeniskus im Hinterhorn."),
    ("Lungenembolie Befund", "CT-Angiographie: zentrale Lungenarterienembolie rechts."),
    ("Histologie Kolon", "Tubuläres Adenom des Kolon ohne Dysplasie."),
    ("Blutzucker Einstellung", "Diabetes mellitus Typ 2, HbA1c 7,9 Prozent, Metformin gesteigert."),
    ("Schilddrüse Knoten", "Sonographie: echoarmer Knoten im rechten Schilddrüsenlappen."),
]


def import_suite(name: str):  # noqa: ANN201 - a module
    """A module of ``suite/`` (the authoring tools, not a package), imported without leaving it on sys.path."""
    import importlib
    import sys

    sys.path.insert(0, str(REPO / "suite"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "suite"))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_retrieval(folder: Path, *, yaml_text: str | None = None, lang_dirs: tuple[str, ...] = ()) -> Path:
    """A small valid retrieval task (with task.yaml unless ``yaml_text == ''``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in lang_dirs or ("",):
        base = folder / sub
        write_jsonl(base / "corpus.jsonl", [{"_id": i, "title": t, "text": x} for i, t, x in CORPUS])
        write_jsonl(base / "queries.jsonl", [{"_id": i, "text": x} for i, x in QUERIES])
        (base / "qrels").mkdir(parents=True, exist_ok=True)
        (base / "qrels" / "test.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS), encoding="utf-8"
        )
    if yaml_text is None:
        langs = ", ".join(lang_dirs) if lang_dirs else "de"
        yaml_text = (
            "name: TinyRetrieval\ntype: retrieval\ndescription: A tiny clinical retrieval task.\n"
            f"languages: [{langs}]\nsplits: [test]\nlicense: apache-2.0\n"
        )
    if yaml_text:
        (folder / "task.yaml").write_text(yaml_text, encoding="utf-8")
    return folder


def write_sts(folder: Path, *, yaml_text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "test.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in PAIRS])
    if yaml_text is None:
        yaml_text = (
            "name: TinySTS\ntype: sts\ndescription: A tiny clinical STS task.\nlanguages: [de]\n"
            "score_range: [0, 5]\nlicense: apache-2.0\n"
        )
    if yaml_text:
        (folder / "task.yaml").write_text(yaml_text, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty embedding cache of its own (never the user's ~/.cache)."""
    folder = tmp_path_factory.mktemp("embedding-cache")
    monkeypatch.setenv("MEDBENCH_CACHE", str(folder))
    return folder


@pytest.fixture
def tasks_root(tmp_path: Path) -> Path:
    root = tmp_path / "my_tasks"
    write_retrieval(root / "tiny-retrieval")
    write_sts(root / "tiny-sts")
    return root


def _build_tiny_model(folder: Path) -> Path:
    """A 2-layer BERT with a 300-token vocabulary, random weights, as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    words = sorted({w.lower().strip(".,()") for _, t, x in CORPUS for w in (t + " " + x).split()}
                   | {w.lower().strip(".,") for _, x in QUERIES for w in x.split()}
                   | {w.lower().strip(".,") for a, b, _ in PAIRS for w in (a + " " + b).split()})
    chars = list("abcdefghijklmnopqrstuvwxyzäöüß0123456789")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + c for c in chars), *words]
    vocab = list(dict.fromkeys(vocab))
    hf = folder / "hf"
    hf.mkdir(parents=True)
    (hf / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(hf / "vocab.txt"), do_lower_case=True).save_pretrained(hf)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(hf)
    transformer = models.Transformer(str(hf), max_seq_length=64)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), "mean")
    out = folder / "tiny-model"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_tiny_model(tmp_path_factory.mktemp("models"))

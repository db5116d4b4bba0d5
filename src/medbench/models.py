"""Resolving ``--model``: hub ids, local sentence-transformers folders and offline packages.

:func:`resolve_model` decides the name, revision and prompts under which results are stored
without importing torch, so a fully cached run never loads a model. :func:`load_model` then
builds the mteb-compatible encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MedbenchError
from .offline import ALIASES, BM25_NAME, PROVIDERS

E5_PROMPTS = {"query": "query: ", "document": "passage: "}
E5_RE = re.compile(r"(^|[/_\-])(multilingual-)?e5([_\-]|$)", re.IGNORECASE)
#: Files whose bytes decide what a model computes (weights, config, tokenizer); not its README.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".pt", ".onnx")
NOT_WEIGHTS = {"medbench.json"}  # the trainer's model card, written after the revision is computed


DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class ModelRef:
    """What to load and under which name/revision results are stored.

    Attributes:
        name: Result name, always ``org/model`` (results go to ``results/org__model/``).
        revision: Pins the weights (and non-default prompts).
        source: ``hub``, ``package``, ``local`` or ``bm25``.
        location: What ``SentenceTransformer`` loads: a folder or a hub id.
        prompts: Query/document prompts, or None.
        load_revision: Hub revision to download, when loading from the hub.
    """

    name: str
    revision: str
    source: str
    location: str
    prompts: dict[str, str] | None = None
    load_revision: str | None = None
    languages: list[str] = field(default_factory=list)

    @property
    def is_bm25(self) -> bool:
        return self.source == "bm25"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "revision": self.revision, "source": self.source, "location": self.location, "prompts": self.prompts}


def weights_revision(folder: Path) -> str:
    """A content hash of the files that decide a model's output (not its README)."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and p.name not in NOT_WEIGHTS
        and "checkpoint-" not in str(p.relative_to(folder))
    )
    if not files:
        raise MedbenchError(f"{folder}: no model files found (expected a sentence-transformers folder with config.json and weights)")
    for p in files:
        digest.update(str(p.relative_to(folder)).encode() + b"\0")
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _folder_prompts(folder: Path) -> dict[str, str] | None:
    cfg = folder / "config_sentence_transformers.json"
    if cfg.is_file():
        try:
            prompts = json.loads(cfg.read_text(encoding="utf-8")).get("prompts") or None
        except json.JSONDecodeError:
            return None
        return {k: v for k, v in prompts.items() if v} or None if prompts else None
    return None


def default_prompts(name: str, folder: Path | None = None) -> dict[str, str] | None:
    """Prompts a model expects: those saved with it, else ``query: ``/``passage: `` for the E5 family."""
    if folder is not None:
        saved = _folder_prompts(folder)
        if saved:
            return saved
    return dict(E5_PROMPTS) if E5_RE.search(name) else None


def _with_prompts(ref: ModelRef, defaults: dict[str, str] | None, query_prompt: str | None, document_prompt: str | None) -> ModelRef:
    prompts = dict(defaults or {})
    if query_prompt is not None:
        prompts["query"] = query_prompt
    if document_prompt is not None:
        prompts["document"] = document_prompt
    prompts = {k: v for k, v in prompts.items() if v} or None
    ref.prompts = prompts
    if prompts != defaults:  # other prompts give other embeddings: never reuse the default prompts' results
        tag = hashlib.sha256(json.dumps(prompts, sort_keys=True).encode()).hexdigest()[:8]
        ref.revision = f"{ref.revision}-prompts-{tag}"
    return ref


def resolve_model(
    model: str,
    *,
    name: str | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> ModelRef:
    """Decide where ``model`` comes from and how its results are named, without loading it.

    Args:
        model: A hub id, a local sentence-transformers folder, or a known alias.
        name: Result name for a local folder (default ``local/<folder name>``).
        query_prompt: Prompt prepended to queries (and STS sentences).
        document_prompt: Prompt prepended to documents.

    Returns:
        The resolved reference.

    Examples:
        >>> resolve_model("sentence-transformers/all-MiniLM-L6-v2").revision  # doctest: +SKIP
        '8b3219a92973c328a8e22fadcfa821b5dc75636a'
    """
    model = ALIASES.get(model.lower(), model)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise MedbenchError(f"{path}: not a sentence-transformers model folder (no modules.json or config.json)")
        result_name = name or f"local/{path.resolve().name}"
        if "/" not in result_name:
            result_name = f"local/{result_name}"
        ref = ModelRef(result_name, weights_revision(path), "local", str(path.resolve()))
        return _with_prompts(ref, default_prompts(result_name, path), query_prompt, document_prompt)
    if model.startswith((".", "/", "~")) or os.sep in model.replace("/", "", 1) or model.count("/") > 1:
        raise MedbenchError(f"model folder {model} does not exist")
    if model == BM25_NAME:
        return ModelRef(BM25_NAME, "0_3_0", "bm25", "bm25s (mteb)", languages=["multilingual"])
    provider = PROVIDERS.get(model)
    if provider is not None and provider.installed():
        ref = ModelRef(provider.name, provider.revision(), "package", f"{provider.name} from {', '.join(provider.packages)}",
                       languages=list(provider.languages))
        return _with_prompts(ref, provider.default_prompts() or default_prompts(model), query_prompt, document_prompt)
    if "/" not in model:
        known = sorted(set(PROVIDERS) | set(ALIASES))
        from .tasks import suggest

        raise MedbenchError(
            f"unknown model {model!r}: give a hub id (org/name), a local folder, or one of: {', '.join(known)}."
            + suggest(model, known)
        )
    revision = None
    languages: list[str] = []
    try:
        import mteb

        meta = mteb.get_model_meta(model)
        revision, languages = meta.revision, list(meta.languages or [])
    except Exception:  # not in mteb's registry: the weights decide the revision after loading
        pass
    ref = ModelRef(model, revision or "", "hub", model, load_revision=revision, languages=languages)
    return _with_prompts(ref, default_prompts(model), query_prompt, document_prompt)


def load_model(ref: ModelRef, device: str | None = None, echo: Any = lambda s: None) -> Any:
    """Load the encoder for ``ref`` and wrap it for ``mteb.evaluate`` under ``ref``'s name and revision."""
    if ref.is_bm25:
        import mteb

        return mteb.get_model(BM25_NAME)
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    location = str(PROVIDERS[ref.name].folder(echo)) if ref.source == "package" else ref.location
    try:
        st = SentenceTransformer(location, device=device, revision=ref.load_revision if ref.source == "hub" else None)
    except OSError as exc:
        hint = ""
        if ref.source == "hub":
            provider = PROVIDERS.get(ref.name)
            hint = (
                f" Offline? Install it with: {provider.install}" if provider
                else " Is the Hugging Face hub reachable? Offline, pass a local model folder instead."
            )
        raise MedbenchError(f"could not load model {ref.name!r} from {ref.location}: {str(exc).splitlines()[0]}.{hint}") from None
    if not ref.revision:
        snapshot = Path(getattr(st, "_model_card_vars", {}).get("model_path", "") or "")
        ref.revision = weights_revision(snapshot) if snapshot.is_dir() else hashlib.sha256(
            b"".join(p.detach().cpu().numpy().tobytes()[:4096] for p in st.parameters())
        ).hexdigest()[:12]
    memoize_encoding(st)
    wrapper = SentenceTransformerEncoderWrapper(st, model_prompts=ref.prompts)
    meta = None
    try:
        import mteb

        meta = mteb.get_model_meta(ref.name) if ref.source in ("hub", "package") else None
    except Exception:
        meta = None
    if meta is None:
        meta = wrapper.mteb_model_meta
    wrapper.mteb_model_meta = meta.model_copy(update={"name": ref.name, "revision": ref.revision})
    return wrapper


def memoize_encoding(st: Any) -> Any:
    """Encode each distinct text once per run, whatever task asks for it.

    Tasks often share texts (the cross-patient and patient-centred tasks share their corpus and
    queries); mteb encodes per task. The memo is keyed by method (query / document / plain),
    every argument that changes the output (prompt, normalisation, precision) and the text.
    """
    import numpy as np

    memo: dict[tuple, Any] = {}
    ignored = {"batch_size", "show_progress_bar"}
    for method in ("encode", "encode_query", "encode_document"):
        original = getattr(st, method, None)
        if original is None:
            continue

        def encode(*args: Any, _original: Any = original, _method: str = method, **kwargs: Any) -> Any:
            key = next((k for k in ("inputs", "sentences") if k in kwargs), None)
            sentences = kwargs.pop(key) if key else (args[0] if len(args) == 1 else None)
            if (
                not isinstance(sentences, list) or not all(isinstance(x, str) for x in sentences)
                or kwargs.get("convert_to_tensor")
                or kwargs.get("output_value", "sentence_embedding") != "sentence_embedding"
            ):
                if key:
                    kwargs[key] = sentences
                return _original(*args, **kwargs)
            settings = (_method, repr(sorted((k, repr(v)) for k, v in kwargs.items() if k not in ignored)))
            missing = list(dict.fromkeys(x for x in sentences if (settings, x) not in memo))
            if missing:
                vectors = _original(missing, **kwargs)
                for text, vector in zip(missing, vectors, strict=True):
                    memo[(settings, text)] = vector
            rows = [memo[(settings, x)] for x in sentences]
            if not rows:
                return _original(sentences, **kwargs)
            if isinstance(rows[0], np.ndarray):
                return np.stack(rows)
            import torch

            return torch.stack(rows)

        setattr(st, method, encode)
    return st


def available_models(models_dir: Path | str = "models") -> list[dict[str, Any]]:
    """The models medbench can load right now, without loading any.

    Lists the offline providers (installed or with the command that installs them), BM25,
    sentence-transformers folders under ``models_dir``, models in the Hugging Face cache,
    and, when the hub is reachable, the hub ids of the suite's reference models.
    """
    rows: list[dict[str, Any]] = []
    for p in PROVIDERS.values():
        ok = p.installed()
        rows.append({
            "name": p.name, "source": "offline package", "available": ok, "size_mb": p.size_mb,
            "languages": list(p.languages), "note": p.note if ok else f"install: {p.install}",
        })
    rows.append({"name": BM25_NAME, "source": "lexical (bm25s)", "available": importlib_available("bm25s"),
                 "size_mb": 0, "languages": ["deu", "eng", "multilingual"],
                 "note": "BM25 with language-specific stemming and stop words; retrieval tasks only"})
    folder = Path(models_dir)
    if folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if (p / "modules.json").is_file()):
            size = sum(f.stat().st_size for f in sub.rglob("*") if f.is_file()) / 1e6
            card = sub / "medbench.json"
            info = json.loads(card.read_text(encoding="utf-8")) if card.is_file() else {}
            rows.append({"name": str(sub), "source": "local folder", "available": True, "size_mb": round(size),
                         "languages": info.get("languages", []), "note": info.get("base_model", "")})
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub")
    if hub_cache.is_dir():
        for sub in sorted(hub_cache.glob("models--*")):
            name = sub.name[len("models--"):].replace("--", "/")
            size = sum(f.stat().st_size for f in sub.rglob("*") if f.is_file()) / 1e6
            rows.append({"name": name, "source": "hub cache", "available": True, "size_mb": round(size),
                         "languages": [], "note": "downloaded earlier; loads offline"})
    if os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False"):
        for name in ("intfloat/multilingual-e5-small", "intfloat/multilingual-e5-large"):
            rows.append({"name": name, "source": "hub", "available": None, "size_mb": None,
                         "languages": ["multilingual"], "note": "downloads on first use when the hub is reachable"})
    return rows


def importlib_available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None

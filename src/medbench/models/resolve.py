"""Resolving ``--model``: hub ids, local sentence-transformers folders and offline packages.

:func:`resolve_model` decides the name, revision and prompts under which results are stored
without importing torch, so a fully cached run never loads a model. :func:`load_model` then
builds the mteb-compatible encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.results import FINETUNE_CARD
from medbench.errors import MedbenchError
from medbench.models.providers import ALIASES, BM25_NAME, PROVIDERS, feed_file

#: Files whose bytes decide what a model computes (weights, config, tokenizer); not its README.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".pt", ".pth", ".onnx", ".py", ".npy", ".gguf",
                   ".msgpack", ".h5", ".tiktoken", ".vocab", ".bpe")
NOT_WEIGHTS = {FINETUNE_CARD}  # the trainer's model card, written after the revision is computed


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
        mteb_name: The name in mteb's model registry whose loader builds the encoder (None: a plain
            sentence-transformers wrapper with the model's saved prompts).
        prompt_override: True when ``--query-prompt``/``--document-prompt`` replaced the model's prompts.
    """

    name: str
    revision: str
    source: str
    location: str
    languages: list[str] = field(default_factory=list)
    prompts: dict[str, str] | None = None
    load_revision: str | None = None
    mteb_name: str | None = None
    prompt_override: bool = False

    @property
    def is_bm25(self) -> bool:
        return self.source == "bm25"

    def weights_location(self, echo: Any = lambda s: None) -> str:
        """What sentence-transformers loads: an offline package's folder (built once), else ``location``."""
        if self.source == "package":
            return str(PROVIDERS[self.name].folder(echo))
        return self.location

    def describe(self) -> dict[str, Any]:
        """What the run log records: never a machine path (a local folder is named relative to the working folder)."""
        return {"name": self.name, "revision": self.revision, "source": self.source, "location": portable_location(self),
                "prompts": self.prompts, "loader": self.loader_description()}

    def loader_description(self) -> str:
        if self.is_bm25:
            return "mteb bm25s"
        meta = registered_meta(self.mteb_name) if self.mteb_name else None
        if meta is not None and not (self.prompt_override and meta.loader.__name__ != "SentenceTransformerEncoderWrapper"):
            return f"mteb loader {_loader_name(meta.loader)} of {self.mteb_name}"
        return "mteb SentenceTransformerEncoderWrapper (prompts saved with the model)" if not self.prompt_override \
            else "mteb SentenceTransformerEncoderWrapper (prompts from the command line)"


def portable_location(ref: ModelRef) -> str:
    """``ref.location`` without machine paths: a local folder relative to the working folder, else its name."""
    return portable_path(ref.location) if ref.source == "local" else ref.location


def portable_path(path: str | Path | None) -> str | None:
    """A path as it may be committed or published: relative to the working folder, else ``<folder name>``.

    Absolute paths name people and projects on a hospital machine; they never go into results.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return f"<{path.name}>"


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
        feed_file(digest, p)
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


def registered_prompts(mteb_name: str | None) -> dict[str, str] | None:
    """The ``model_prompts`` that mteb's loader passes for a registered model (None for instruction templates)."""
    meta = registered_meta(mteb_name) if mteb_name else None
    prompts = (meta.loader_kwargs.get("model_prompts") if meta is not None else None) or None
    return dict(prompts) if prompts else None


def _with_prompts(ref: ModelRef, defaults: dict[str, str] | None, query_prompt: str | None, document_prompt: str | None) -> ModelRef:
    """Apply ``--query-prompt``/``--document-prompt``: other prompts give other embeddings, so another revision."""
    prompts = dict(defaults or {})
    if query_prompt is not None:
        prompts["query"] = query_prompt
    if document_prompt is not None:
        prompts["document"] = document_prompt
    prompts = {k: v for k, v in prompts.items() if v} or None
    ref.prompts = prompts
    if (query_prompt is not None or document_prompt is not None) and prompts != defaults:
        ref.prompt_override = True
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
        return _with_prompts(ref, _folder_prompts(path), query_prompt, document_prompt)
    if model.startswith((".", "/", "~")) or os.sep in model.replace("/", "", 1) or model.count("/") > 1:
        raise MedbenchError(f"model folder {model} does not exist")
    if model == BM25_NAME:
        return ModelRef(BM25_NAME, "0_3_0", "bm25", "bm25s (mteb)", languages=["multilingual"])
    provider = PROVIDERS.get(model)
    if provider is not None and provider.installed():
        mteb_name = provider.mteb_loader or provider.name
        ref = ModelRef(provider.name, provider.revision(), "package", f"{provider.name} from {', '.join(provider.packages)}",
                       languages=list(provider.languages), mteb_name=mteb_name if registered_meta(mteb_name) else None)
        return _with_prompts(ref, registered_prompts(ref.mteb_name) if ref.mteb_name else provider.default_prompts(),
                             query_prompt, document_prompt)
    if "/" not in model:
        known = sorted(set(PROVIDERS) | set(ALIASES))
        from medbench.tasks import suggest

        raise MedbenchError(
            f"unknown model {model!r}: give a hub id (org/name), a local folder, or one of: {', '.join(known)}."
            + suggest(model, known)
        )
    meta = registered_meta(model)
    revision = meta.revision if meta is not None else None
    languages = list(meta.languages or []) if meta is not None else []
    # not in mteb's registry: the hub commit (or the weights) decides the revision after loading
    ref = ModelRef(model, revision or "", "hub", model, load_revision=revision, languages=languages,
                   mteb_name=model if meta is not None else None)
    return _with_prompts(ref, registered_prompts(ref.mteb_name), query_prompt, document_prompt)


def registered_meta(name: str) -> Any | None:
    """mteb's registered metadata for ``name`` (prompts, loader, revision), or None when mteb does not know it."""
    try:
        from mteb.models.model_implementations import MODEL_REGISTRY
    except ImportError:  # pragma: no cover - mteb is a hard dependency
        return None
    meta = MODEL_REGISTRY.get(name)
    return meta if meta is not None and meta.loader is not None else None


def _registry_names() -> set[str]:
    try:
        from mteb.models.model_implementations import MODEL_REGISTRY
    except ImportError:  # pragma: no cover
        return set()
    return set(MODEL_REGISTRY)


def _loader_name(loader: Any) -> str:
    return getattr(getattr(loader, "func", loader), "__name__", str(loader))

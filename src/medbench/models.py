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

#: Files whose bytes decide what a model computes (weights, config, tokenizer); not its README.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".pt", ".pth", ".onnx", ".py", ".npy", ".gguf",
                   ".msgpack", ".h5", ".tiktoken", ".vocab", ".bpe")
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
        mteb_name: The name in mteb's model registry whose loader builds the encoder (None: a plain
            sentence-transformers wrapper with the model's saved prompts).
        prompt_override: True when ``--query-prompt``/``--document-prompt`` replaced the model's prompts.
    """

    name: str
    revision: str
    source: str
    location: str
    prompts: dict[str, str] | None = None
    load_revision: str | None = None
    languages: list[str] = field(default_factory=list)
    mteb_name: str | None = None
    prompt_override: bool = False

    @property
    def is_bm25(self) -> bool:
        return self.source == "bm25"

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
        from .tasks import suggest

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


def check_device(device: str) -> None:
    """Fail at once, with the devices that exist, when ``--device`` names one this machine or torch lacks."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise MedbenchError(f"--device {device!r} is not a device name; here: {', '.join(available_devices())}") from None
    backend = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None), "xpu": getattr(torch, "xpu", None)}
    if parsed.type in backend:
        module = backend[parsed.type]
        if module is None or not module.is_available():
            build = " (this torch is a CPU-only build)" if parsed.type == "cuda" and torch.version.cuda is None else ""
            raise MedbenchError(f"--device {device}: no {parsed.type} device is available{build}; "
                                f"here: {', '.join(available_devices())}")
        if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise MedbenchError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s); "
                                f"here: {', '.join(available_devices())}")
    elif parsed.type != "cpu":
        raise MedbenchError(f"--device {device}: medbench runs on cpu, cuda or mps; here: {', '.join(available_devices())}")


def available_devices() -> list[str]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def registered_meta(name: str) -> Any | None:
    """mteb's registered metadata for ``name`` (prompts, loader, revision), or None when mteb does not know it."""
    try:
        from mteb.models.model_implementations import MODEL_REGISTRY
    except ImportError:  # pragma: no cover - mteb is a hard dependency
        return None
    meta = MODEL_REGISTRY.get(name)
    return meta if meta is not None and meta.loader is not None else None


def _hub_commit(model_id: str) -> str | None:
    """The commit of ``model_id`` that the Hugging Face cache holds (after loading it), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    for filename in ("modules.json", "config.json"):
        found = try_to_load_from_cache(model_id, filename)
        if isinstance(found, str):
            commit = Path(found).parent.name
            if re.fullmatch(r"[0-9a-f]{40}", commit):
                return commit
    return None


def parameters_revision(module: Any) -> str:
    """A hash of every byte of every parameter and buffer (the last resort when no file or commit pins a model)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode() + b"\0" + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch_uint8()).numpy().tobytes())
    return digest.hexdigest()[:12]


def torch_uint8() -> Any:
    import torch

    return torch.uint8


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _check_offline_cache(ref: ModelRef) -> None:
    """With the hub switched off, a hub model that is not in the cache fails at once, with close names."""
    if ref.source != "hub" or not _offline() or Path(ref.location).is_dir() or _hub_commit(ref.location):
        return
    provider = PROVIDERS.get(ref.name)
    if provider is not None:
        raise MedbenchError(f"model {ref.name!r} is not installed and HF_HUB_OFFLINE=1 forbids downloading it. "
                            f"Install it offline with: {provider.install}")
    raise MedbenchError(
        f"model {ref.name!r} is not in the Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it."
        + suggest_model(ref.name)
        + " Offline, use an offline package (`medbench models list`) or a local model folder."
    )


def suggest_model(name: str) -> str:
    """`` Did you mean ...?`` from mteb's registry and medbench's offline models."""
    import difflib

    known = sorted(set(PROVIDERS) | set(ALIASES) | _registry_names())
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.75)
    if not close:  # compare the part after the organisation too (all-MiniLM-L6-v3 -> .../all-MiniLM-L6-v2)
        tails = {k.split("/")[-1].lower(): k for k in known}
        close = [tails[c].lower() for c in difflib.get_close_matches(name.split("/")[-1].lower(), list(tails), n=3, cutoff=0.75)]
    return f" Did you mean: {', '.join(lowered[c] for c in close)}?" if close else ""


def _registry_names() -> set[str]:
    try:
        from mteb.models.model_implementations import MODEL_REGISTRY
    except ImportError:  # pragma: no cover
        return set()
    return set(MODEL_REGISTRY)


def _loader_name(loader: Any) -> str:
    return getattr(getattr(loader, "func", loader), "__name__", str(loader))


def load_model(ref: ModelRef, device: str | None = None, echo: Any = lambda s: None) -> Any:
    """Load the encoder for ``ref`` the way mteb does, and name it with ``ref``'s name and revision.

    A model that mteb's registry knows (``ref.mteb_name``) is built by mteb's own loader with mteb's
    loader arguments, so prompts, instructions per task type, similarity function, max length and
    pooling are exactly MTEB's; only the place the weights come from may differ (an offline package's
    folder instead of the hub). Other models (local folders, unregistered hub ids) are wrapped in
    mteb's ``SentenceTransformerEncoderWrapper``, which uses the prompts and similarity saved with
    the model. ``--query-prompt``/``--document-prompt`` replace the model's prompts. Either way the
    underlying sentence-transformers model encodes each distinct text once per run.
    """
    if ref.is_bm25:
        import mteb

        return mteb.get_model(BM25_NAME)
    _check_offline_cache(ref)
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    location = str(PROVIDERS[ref.name].folder(echo)) if ref.source == "package" else ref.location
    local = Path(location).is_dir()
    meta = registered_meta(ref.mteb_name) if ref.mteb_name else None
    try:
        if meta is not None and (not ref.prompt_override or meta.loader is SentenceTransformerEncoderWrapper):
            kwargs = dict(meta.loader_kwargs)
            if ref.prompt_override:
                kwargs["model_prompts"] = ref.prompts
            if device is not None:
                kwargs["device"] = device
            model = meta.loader(location, revision=None if local else ref.load_revision, **kwargs)
            meta = meta.model_copy(update={"loader_kwargs": kwargs})
        else:
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(location, device=device, revision=None if local else ref.load_revision)
            model = SentenceTransformerEncoderWrapper(st, model_prompts=ref.prompts if ref.prompt_override else None)
            meta = model.mteb_model_meta
    except OSError as exc:
        hint = ""
        if ref.source == "hub":
            provider = PROVIDERS.get(ref.name)
            hint = (
                f" Offline? Install it with: {provider.install}" if provider
                else " Is the Hugging Face hub reachable? Offline, pass a local model folder instead."
            )
        raise MedbenchError(f"could not load model {ref.name!r} from {ref.location}: {str(exc).splitlines()[0]}.{hint}") from None
    st = getattr(model, "model", None)
    if not ref.revision:  # an unregistered hub model: its commit, else every byte of its weights
        ref.revision = _hub_commit(location) or (weights_revision(Path(location)) if local else parameters_revision(st))
    if st is not None and hasattr(st, "encode"):
        memoize_encoding(st)
    update: dict[str, Any] = {"name": ref.name, "revision": ref.revision}
    if ref.source == "local":
        try:
            from .lineage import model_meta_updates
        except ImportError:  # pragma: no cover - until the trainer's lineage module lands
            model_meta_updates = None
        if model_meta_updates is not None:
            update.update(model_meta_updates(Path(location)))
    model.mteb_model_meta = meta.model_copy(update=update)
    return model


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

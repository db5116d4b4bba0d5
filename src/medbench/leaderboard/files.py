"""Output files of a board: render, then write what changed (or, in check mode, only compare)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


from medbench.errors import MedbenchError
from medbench.leaderboard.model import Board, FILE_NAMES, FORMATS, PLOTS_DIR, PNG_DATA_KEY
from medbench.leaderboard.text import render_csv, render_json, render_markdown, render_tex
from medbench.leaderboard.page import render_html
from medbench.leaderboard.plots import Plot, plots, png_text


def parse_formats(formats: Iterable[str]) -> list[str]:
    chosen: list[str] = []
    for f in formats:
        for part in str(f).split(","):
            part = part.strip().lower()
            if part == "all":
                chosen += FORMATS
            elif part in FORMATS:
                chosen.append(part)
            elif part:
                raise MedbenchError(f"unknown format {part!r}: expected all or one of {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in chosen] or list(FORMATS)


def render_files(board: Board, formats: Iterable[str] = FORMATS) -> dict[str, str | Plot]:
    """Every output file of the board: text, or a :class:`Plot` rendered when written."""
    renderers = {"md": render_markdown, "csv": render_csv, "json": render_json, "tex": render_tex, "html": render_html}
    chosen = parse_formats(formats)
    files: dict[str, str | Plot] = {FILE_NAMES[f]: renderers[f](board) for f in chosen}
    if "md" in chosen or "html" in chosen:  # the pages show the plots
        files.update(plots(board))
    return dict(sorted(files.items()))


def _up_to_date(path: Path, content: str | Plot) -> bool:
    if not path.is_file():
        return False
    if isinstance(content, Plot):
        return png_text(path.read_bytes()).get(PNG_DATA_KEY) == content.digest
    return path.read_bytes() == content.encode("utf-8")


@dataclass
class SyncReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # check mode: files that differ, are missing or are extra


def sync_files(out_dir: Path, files: dict[str, str | Plot], check: bool = False) -> SyncReport:
    """Write the files that changed (and remove plots no longer generated); in check mode only compare."""
    out_dir = Path(out_dir)
    report = SyncReport()
    has_plots = any(isinstance(c, Plot) for c in files.values())
    extra = sorted(
        f"{PLOTS_DIR}/{p.name}" for p in (out_dir / PLOTS_DIR).glob("*.png") if f"{PLOTS_DIR}/{p.name}" not in files
    ) if has_plots and (out_dir / PLOTS_DIR).is_dir() else []
    for rel, content in files.items():
        path = out_dir / rel
        if _up_to_date(path, content):
            report.unchanged.append(rel)
        elif check:
            report.stale.append(rel + ("" if path.exists() else " (missing)"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.render() if isinstance(content, Plot) else content.encode("utf-8")
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            report.written.append(rel)
    for rel in extra:
        if check:
            report.stale.append(rel + " (no longer generated)")
        else:
            (out_dir / rel).unlink()
            report.removed.append(rel)
    return report

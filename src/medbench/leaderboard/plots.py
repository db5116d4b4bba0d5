"""PNG bar charts of a board, identified by the hash of the data they show."""

from __future__ import annotations

import hashlib
import io
import json
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


from medbench.leaderboard.model import Board, Cell, MISSING, PLOT_VERSION, PNG_DATA_KEY, TITLES
from medbench.leaderboard.fmt import COMPARISON_PLOT, _cell_groups, _round, plot_name


PLOT_STYLE = {
    "font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0, "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0, "ytick.labelsize": 7.0, "legend.fontsize": 7.0, "figure.dpi": 100.0,
    "savefig.dpi": 100.0, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "medbench",
}
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


@dataclass
class Plot:
    """A PNG to render on demand, identified by the hash of the data it shows."""

    spec: dict[str, Any]
    draw: Callable[[Any, dict[str, Any]], None]

    @property
    def digest(self) -> str:
        text = json.dumps({"version": PLOT_VERSION, **self.spec}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def figure(self) -> Any:
        """The drawn, laid-out matplotlib figure (in :func:`plot_style`; measure it inside that too)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with plot_style():
            fig = Figure(figsize=tuple(self.spec["size"]))
            FigureCanvasAgg(fig)
            self.draw(fig, self.spec)
        return fig

    def render(self) -> bytes:
        with plot_style():
            fig = self.figure()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", metadata={"Software": None, PNG_DATA_KEY: self.digest})
        return buf.getvalue()


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib's defaults plus :data:`PLOT_STYLE`: a user's matplotlibrc must not change the bytes."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(PLOT_STYLE)
        yield


#: Margin around everything drawn, and the least width of the plotting area (inches).
PAD_IN = 0.08
MIN_AXES_WIDTH_IN = 4.2


def fit_to_labels(fig: Any, ax: Any) -> None:
    """Margins from what is drawn around the axes (tick labels, title, legend, value labels): every
    one inside the figure, however long the model names. The figure widens when the labels would
    leave the bars less than ``MIN_AXES_WIDTH_IN``; its height stays unless the decorations need more."""
    renderer = fig.canvas.get_renderer()
    for _ in range(3):  # the tick labels do not change with the margins; a second pass settles rounding
        dpi = fig.dpi
        box, area = ax.get_tightbbox(renderer), ax.get_window_extent(renderer)
        left = (area.x0 - box.x0) / dpi + PAD_IN
        right = (box.x1 - area.x1) / dpi + PAD_IN
        top = (box.y1 - area.y1) / dpi + PAD_IN
        bottom = (area.y0 - box.y0) / dpi + PAD_IN
        width, height = fig.get_size_inches()
        width = max(width, left + right + MIN_AXES_WIDTH_IN)
        height = max(height, top + bottom + 0.5)
        fig.set_size_inches(width, height)
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)


def _bar_spec(title: str, groups: list[str], series: list[dict[str, Any]], xlabel: str) -> dict[str, Any]:
    return {"title": title, "groups": groups, "series": series, "xlabel": xlabel,
            "size": [7.0, round(1.1 + 0.32 * len(groups) * max(1, len(series)) ** 0.5 + 0.1 * len(series), 2)]}


def _draw_bars(fig: Any, spec: dict[str, Any]) -> None:
    """Horizontal grouped bars with interval whiskers; the first group on top."""
    ax = fig.add_subplot(1, 1, 1)
    groups, series = spec["groups"], spec["series"]
    height = 0.8 / max(1, len(series))
    lows = [0.0]
    for k, s in enumerate(series):
        ys = [i + (k - (len(series) - 1) / 2) * height for i in range(len(groups))]
        vals = [v if v is not None else 0.0 for v in s["values"]]
        ax.barh(ys, vals, height=height * 0.95, color=COLORS[k % len(COLORS)], label=s["label"])
        for y, v, ci, mark in zip(ys, s["values"], s["cis"], s.get("marks") or [""] * len(ys), strict=True):
            if v is None:
                ax.text(0.005, y, MISSING, va="center", fontsize=7)
                continue
            if ci is not None:
                ax.errorbar([v], [y], xerr=[[v - ci[0]], [ci[1] - v]], fmt="none", ecolor="#222222", capsize=2, lw=0.8)
                lows.append(ci[0])
            lows.append(v)
            hi = ci[1] if ci else v
            ax.text(hi + 0.01, y, f"{v:.3f}{mark}", va="center", fontsize=6.5)
    ax.set_yticks(range(len(groups)), labels=groups)
    ax.invert_yaxis()
    lo, hi = min(0.0, min(lows) - 0.05), 1.15
    ax.set_xlim(lo, hi)
    ax.set_xticks([t for t in ax.get_xticks() if lo - 1e-9 <= t <= hi + 1e-9])  # only the ticks drawn
    ax.set_xlabel(spec["xlabel"])
    ax.set_title(spec["title"], loc="left")
    ax.axvline(0, color="#888888", lw=0.6)
    if len(series) > 1:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(series), frameon=False, borderaxespad=0.2)
    fit_to_labels(fig, ax)


def _ci(cell: Cell | None) -> list[float] | None:
    return [round(cell.ci[0], 4), round(cell.ci[1], 4)] if cell and cell.ci else None


def plots(board: Board) -> dict[str, Plot]:
    """One bar chart per task and language (every model, every score, 95% intervals), and one of
    the fine-tuned models beside their bases (main scores, * = p < 0.05)."""
    out: dict[str, Plot] = {}
    for task, lang, split, cols in _cell_groups(board):
        rows = [r for r in board.rows if any(c in r.cells for c in cols)]
        series = [{"label": TITLES[c.metric], "values": [_round(r.cells[c].value, 4) if c in r.cells else None for r in rows],
                   "cis": [_ci(r.cells.get(c)) for r in rows]} for c in cols]
        title = f"{task} ({lang}{', ' + split if split != 'test' else ''})"
        out[plot_name(task, lang, split)] = Plot(_bar_spec(title, [r.label for r in rows], series, "score (95% CI)"), _draw_bars)
    groups, base_vals, tuned_vals, base_cis, tuned_cis, marks = [], [], [], [], [], []
    for pair in board.pairs:
        if pair.base is None:
            continue
        for c in pair.comparisons:
            if not c.column.is_main:
                continue
            short = pair.tuned.name.split("/")[-1]
            groups.append(f"{short}: {c.column.task_label} ({c.column.language})")
            base_vals.append(_round(c.base, 4))
            tuned_vals.append(_round(c.tuned, 4))
            base_cis.append(_ci(pair.base.cells.get(c.column)))
            tuned_cis.append(_ci(pair.tuned.cells.get(c.column)))
            marks.append("*" if c.significant else "")
    if groups:
        series = [{"label": "base", "values": base_vals, "cis": base_cis},
                  {"label": "fine-tuned", "values": tuned_vals, "cis": tuned_cis, "marks": marks}]
        out[COMPARISON_PLOT] = Plot(_bar_spec("Fine-tuned vs base", groups, series,
                                              "main score: nDCG@10 / Spearman (95% CI); * = p < 0.05"), _draw_bars)
    return out


def png_text(data: bytes) -> dict[str, str]:
    """The text chunks of a PNG (empty for anything else), read by Pillow."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return {str(k): str(v) for k, v in getattr(image, "text", {}).items()} if image.format == "PNG" else {}
    except (UnidentifiedImageError, OSError):
        return {}

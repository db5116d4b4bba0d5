"""Shared click pieces: user mistakes become a clear message and exit code 1, with no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from pathlib import Path

from medbench.errors import MedbenchError, TaskFormatError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def as_click_error(exc: MedbenchError) -> click.ClickException:
    """The message click prints for a user mistake (every problem of a task folder on its own line)."""
    if isinstance(exc, TaskFormatError):
        lines = "\n".join(f"  {p}" for p in exc.problems)
        return click.ClickException(f"{len(exc.problems)} problem(s) found:\n{lines}")
    return click.ClickException(str(exc))


class UserErrorGroup(click.Group):
    """A command group whose commands report user mistakes without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MedbenchError as exc:
            raise as_click_error(exc) from None


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """The same for one command, also when it runs on its own (outside a UserErrorGroup)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MedbenchError as exc:
            raise as_click_error(exc) from None

    return wrapper


def split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


tasks_dir_option = click.option(
    "--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Folder of your own tasks, or one task folder (repeatable). Also read from MEDBENCH_TASKS_PATH.",
)
language_option = click.option(
    "--language", default="en", show_default=True,
    help="Language of plain folders without task.yaml (BEIR or STS pairs).",
)


def quiet_progress() -> None:
    """``-q``: no progress bars or loading notices from any library (the CLI owns the process, a library call doesn't)."""
    import logging
    import os

    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    for name in ("mteb", "sentence_transformers", "transformers", "bm25s", "datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
    # some libraries (bm25s) pass disable=False explicitly, which TQDM_DISABLE does not override
    import tqdm.std

    if not getattr(tqdm.std.tqdm.__init__, "_medbench_quiet", False):
        original = tqdm.std.tqdm.__init__

        def quiet_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["disable"] = True
            original(self, *args, **kwargs)

        quiet_init._medbench_quiet = True  # type: ignore[attr-defined]
        tqdm.std.tqdm.__init__ = quiet_init  # type: ignore[method-assign]

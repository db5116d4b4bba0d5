"""Shared click pieces: user mistakes become a clear message and exit code 1, with no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from .errors import MedbenchError, TaskFormatError

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

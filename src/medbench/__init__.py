"""medbench: an MTEB plugin for clinical text embeddings in German and English.

Examples:
    >>> import mteb, medbench
    >>> tasks = medbench.load_tasks(languages=["de"])  # doctest: +SKIP
    >>> mteb.evaluate(model, tasks)                     # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "get_benchmark", "load_tasks"]


def load_tasks(*args: Any, **kwargs: Any) -> list[Any]:
    """The medbench tasks as mteb task objects; see :func:`medbench.tasks.load_tasks`."""
    from medbench.tasks import load_tasks as _load

    return _load(*args, **kwargs)


def get_benchmark(languages: Any = None) -> Any:
    """The built-in clinical suite as an ``mteb.Benchmark``; see :func:`medbench.tasks.get_benchmark`.

    Examples:
        >>> import mteb, medbench
        >>> mteb.evaluate(model, medbench.get_benchmark())  # doctest: +SKIP
    """
    from medbench.tasks import get_benchmark as _get

    return _get(languages)

"""Process-wide settings that a library call may change only for its own duration.

A library must leave the process as it found it (warning filters, torch's thread count): the
``medbench`` command sets what it wants at its entry point, and library calls use these context
managers, which restore the previous state on the way out, also when the call raises.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_library_notices() -> Iterator[None]:
    """Hide renamed-method notices from inside mteb / sentence-transformers (they say nothing to a medbench user)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch CPU threads inside the block (torch's setting unchanged when None)."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

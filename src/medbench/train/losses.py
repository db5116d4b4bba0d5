"""The losses a recipe may name: a registry, :data:`LOSSES`, of one class per loss.

A loss's class is its whole entry: the name recipes write, the data layouts it trains on
(:data:`medbench.train.data.LAYOUTS`), whether it learns from in-batch negatives (``contrastive``:
no_duplicates batches by default) or caches gradients (``cached``: drops the last incomplete batch
by default), its recipe arguments as pydantic fields with defaults (their descriptions are what an
error says was expected), and :meth:`Loss.build`, which makes the sentence-transformers loss. The
recipe schema takes a phase's ``loss:`` as one of these classes (a bare name or a mapping), so
names and arguments are checked against the registry. A new loss is one more ``@register`` class;
Matryoshka is not one: it wraps any loss (a phase's ``matryoshka:``, in :mod:`medbench.train.steps`).
Nothing here imports torch: :meth:`Loss.build` is handed sentence-transformers' ``losses`` module.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from medbench._yaml import Number, Schema, Text

#: Loss name -> its class, in the order recipes' messages list them.
LOSSES: dict[str, type[Loss]] = {}
#: What each data layout is, in messages.
LAYOUT_TEXT = {"pairs": "(anchor, positive)", "triplets": "(anchor, positive, negative) rows",
               "scored": "scored sentence pairs (sentence1, sentence2, score)"}


class Loss(Schema):
    """A phase's loss as the recipe writes it: a bare name (``loss: mnrl``) or a mapping (``{name: triplet, margin: 0.2}``)."""

    name: str
    key: ClassVar[str]
    layouts: ClassVar[tuple[str, ...]]
    contrastive: ClassVar[bool]
    cached: ClassVar[bool]

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def params(self) -> dict[str, Any]:
        """The arguments as the recipe wrote them (the defaults are the fields')."""
        return self.model_dump(exclude_unset=True, exclude={"name"})

    @classmethod
    def needs(cls) -> str:
        """The rows it trains on, in words."""
        text = " or ".join(LAYOUT_TEXT[layout] for layout in cls.layouts)
        return text + (", or pairs with mine_hard_negatives" if cls.layouts == ("triplets",) else "")

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str | None]:
        known = [k for k in cls.keys() if k != "name"]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (f"did you mean {close[0]!r}?" if close else f"{cls.key} takes: {', '.join(known)}" if known
                else f"{cls.key} takes no parameters")
        return f"unknown parameter of loss {cls.key!r}; {hint}", close[0] if close else None

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        """The sentence-transformers loss for ``model``.

        Args:
            losses: ``sentence_transformers.sentence_transformer.losses``.
            model: The SentenceTransformer being trained.
            load: Loads another model by the name a recipe gives (hub id, folder or alias), on the training device.
        """
        raise NotImplementedError


def register(name: str, layouts: tuple[str, ...], *, contrastive: bool = False, cached: bool = False) -> Callable[[type[Loss]], type[Loss]]:
    """Add a :class:`Loss` subclass to :data:`LOSSES` under the name recipes write."""
    def add(cls: type[Loss]) -> type[Loss]:
        cls.key, cls.layouts, cls.contrastive, cls.cached = name, layouts, contrastive, cached
        LOSSES[name] = cls
        return cls
    return add


def _gather(wanted: bool) -> bool:
    """Gather across processes only where there are several (torchrun and accelerate set WORLD_SIZE): in one
    process sentence-transformers would warn on every step and gather nothing."""
    return wanted and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def _scale() -> Any:
    return Field(20.0, gt=0, description="a positive number, the similarity scale (default 20)")


@register("mnrl", ("pairs", "triplets"), contrastive=True)
class MNRL(Loss):
    """MultipleNegativesRankingLoss: each anchor against its positive and every other passage of the batch."""

    scale: Number = _scale()
    gather_across_devices: bool = Field(True, description="true or false: under torchrun/accelerate, each anchor "
                                        "also meets the other processes' passages as negatives (no effect in one process)")

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        return losses.MultipleNegativesRankingLoss(model, scale=self.scale, gather_across_devices=_gather(self.gather_across_devices))


@register("cached_mnrl", ("pairs", "triplets"), contrastive=True, cached=True)
class CachedMNRL(Loss):
    """CachedMultipleNegativesRankingLoss (GradCache): a large contrastive batch in the memory of a small one."""

    mini_batch_size: int = Field(32, ge=1, description="a whole number >= 1: texts per forward pass (memory), not the contrastive batch")
    scale: Number = _scale()
    gather_across_devices: bool = Field(True, description="true or false: under torchrun/accelerate, each anchor "
                                        "also meets the other processes' passages as negatives (no effect in one process)")

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        return losses.CachedMultipleNegativesRankingLoss(model, scale=self.scale, mini_batch_size=self.mini_batch_size,
                                                         gather_across_devices=_gather(self.gather_across_devices))


@register("cosine", ("scored",))
class Cosine(Loss):
    """CosineSimilarityLoss: the cosine of each pair towards its score."""

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        return losses.CosineSimilarityLoss(model)


@register("triplet", ("triplets",))
class Triplet(Loss):
    """TripletLoss: the positive closer than the negative by a margin."""

    margin: Number = Field(5.0, ge=0, description="a number >= 0: how much closer the positive must be than the negative (default 5)")
    distance: Literal["euclidean", "cosine", "manhattan"] = Field(
        "euclidean", description="a distance: one of euclidean, cosine, manhattan (default euclidean)")

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        metric = getattr(losses.TripletDistanceMetric, self.distance.upper())
        return losses.TripletLoss(model, distance_metric=metric, triplet_margin=self.margin)


@register("gist", ("pairs", "triplets"), contrastive=True)
class GIST(Loss):
    """GISTEmbedLoss: in-batch negatives that a guide model finds too close to the anchor are left out."""

    guide_model: Text = Field(description="the guide model that filters false in-batch negatives (hub id, folder or alias)")
    temperature: Number = Field(0.01, gt=0, description="a positive number (default 0.01)")

    def build(self, losses: Any, model: Any, load: Callable[[str], Any]) -> Any:
        return losses.GISTEmbedLoss(model, guide=load(self.guide_model), temperature=self.temperature)


def _loss_name(value: Any) -> str | None:
    name = value.get("name") if isinstance(value, dict) else value
    return name if isinstance(name, str) else None


#: A phase's ``loss:``: the registered class its name picks.
LossSpec = Annotated[Union[tuple(Annotated[cls, Tag(name)] for name, cls in LOSSES.items())], Discriminator(_loss_name)]  # noqa: UP007
#: Losses that learn from in-batch negatives, and gradient-cached losses, by name.
CONTRASTIVE = {name for name, cls in LOSSES.items() if cls.contrastive}
CACHED = {name for name, cls in LOSSES.items() if cls.cached}

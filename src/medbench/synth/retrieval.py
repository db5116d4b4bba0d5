"""BM25 over every passage: the round-trip filter and the miner of hard negatives.

In: the texts of all passages (streamed, in passage order), questions. Out: for each question,
whether its source passage ranks in the top k (:meth:`PassageIndex.round_trip`), and the best
ranked passages among a subset (:meth:`PassageIndex.top`, for hard negatives from the training
patients only). Next: :mod:`medbench.synth.output`.

Tokenised as mteb's BM25 baseline does for German and English: bm25s' word splitter and stop
words, PyStemmer's Snowball stemmer. Only token ids are kept (as int32 arrays), never the texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

STEMMERS = {"de": "german", "en": "english"}
BATCH = 1024


class PassageIndex:
    """A bm25s index over passages numbered 0, 1, ... in the order they were given."""

    def __init__(self, language: str):
        import Stemmer
        from bm25s.tokenization import Tokenizer

        self.language = language
        self.tokenizer = Tokenizer(stopwords=language, stemmer=Stemmer.Stemmer(STEMMERS[language]).stemWord)
        self.size = 0
        self._bm25: Any = None

    def build(self, texts: Iterable[str]) -> None:
        import bm25s
        import numpy as np

        ids = [np.asarray(row, dtype=np.int32) for row in self.tokenizer.streaming_tokenize(texts, update_vocab=True)]
        self.size = len(ids)
        if not self.size:
            return
        self._bm25 = bm25s.BM25()
        self._bm25.index((ids, self.tokenizer.get_vocab_dict()), show_progress=False)

    def top(self, queries: Sequence[str], k: int, mask: Any = None) -> tuple[Any, Any]:
        """``(passage numbers, scores)``, each ``len(queries) x k`` (k at most the number of passages), best first.

        ``mask``: 1.0 for passages that may be returned, 0.0 for the others.
        """
        import numpy as np

        k = min(k, self.size)
        if not queries or not k:
            return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0))
        out_ids, out_scores = [], []
        for start in range(0, len(queries), BATCH):
            batch = list(queries[start:start + BATCH])
            tokens = self.tokenizer.tokenize(batch, update_vocab=False, return_as="ids", show_progress=False)
            kwargs = {"weight_mask": np.asarray(mask, dtype=np.float32)} if mask is not None else {}
            ids, scores = self._bm25.retrieve(tokens, k=k, show_progress=False, **kwargs)
            out_ids.append(ids)
            out_scores.append(scores)
        return np.concatenate(out_ids), np.concatenate(out_scores)

    def round_trip(self, queries: Sequence[str], sources: Sequence[int], k: int) -> list[bool]:
        """For each question, whether its source passage is among the top ``k`` with a score above 0."""
        ids, scores = self.top(queries, k)
        return [bool(((row == src) & (sc > 0)).any()) for row, sc, src in zip(ids, scores, sources, strict=True)]

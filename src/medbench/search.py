"""How a dense model searches a retrieval corpus: exact (mteb's chunked search) or an approximate index.

In: the loaded encoder and the run's search settings. Out: the object ``mteb.evaluate`` searches with.
Used by :mod:`medbench.evaluate`.

- **Exact** (default): mteb's ``SearchEncoderWrapper`` encodes the corpus ``corpus_chunk_size`` passages at
  a time, scores each chunk against all queries and keeps a running top-k per query (a heap), so memory
  holds one chunk's vectors and one chunk's score matrix, never the whole corpus or a full score matrix.
- **HNSW** (``--index hnsw``): the corpus vectors go into a usearch HNSW graph (float32, the model's
  similarity: cosine or inner product), and each query takes its top-k from the graph. Faster for large
  corpora, approximate: ``benchmarks/scale.py --ann`` measures its recall@10 against exact search.

``top_k`` is the number of passages kept per query (mteb's default: 1000, its largest cutoff). The
metrics medbench reports stop at 100 (MAP@100), so ``top_k`` >= 100 leaves every reported score exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

INDEXES = ("exact", "hnsw")
DEFAULT_CHUNK = 50_000


@dataclass(frozen=True)
class SearchSettings:
    """A run's search settings. Chunk size never changes a score; an approximate index and a ``top_k``
    other than mteb's change what is stored (recall@1000 needs 1000 results), so such results are kept
    apart: their revision gets a suffix (``<revision>+hnsw``, ``+k100``) and never mixes with exact ones."""

    corpus_chunk_size: int | None = None
    top_k: int | None = None
    index: str = "exact"

    def variant(self, bm25: bool = False) -> str:
        parts = ([] if bm25 or self.index == "exact" else [self.index]) + ([f"k{self.top_k}"] if self.top_k else [])
        return "+".join(parts)


class HnswIndex:
    """An mteb search-index backend (``IndexEncoderSearchProtocol``) over a usearch HNSW graph."""

    def __init__(self, model: Any, connectivity: int = 32, expansion_add: int = 256, expansion_search: int = 1024) -> None:
        from mteb.models.model_meta import ScoringFunction

        from medbench.errors import MedbenchError

        try:
            import usearch.index  # noqa: F401
        except ImportError:
            raise MedbenchError("--index hnsw needs usearch: pip install 'medbench[ann]' (or pip install usearch)") from None

        similarity = getattr(getattr(model, "mteb_model_meta", None), "similarity_fn_name", ScoringFunction.COSINE)
        self.metric = "ip" if similarity == ScoringFunction.DOT_PRODUCT else "cos"
        if similarity not in (ScoringFunction.COSINE, ScoringFunction.DOT_PRODUCT, None):
            raise MedbenchError(f"--index hnsw supports cosine and dot-product models; this one scores by {similarity}")
        self.params = {"connectivity": connectivity, "expansion_add": expansion_add, "expansion_search": expansion_search}
        self.index: Any = None
        self.size = 0
        self.vectors: list[np.ndarray] = []
        self.ids: list[str] = []

    def add_documents(self, embeddings: Any, idxs: list[str]) -> None:
        from usearch.index import Index

        vectors = _numpy(embeddings)
        if self.index is None:
            self.index = Index(ndim=vectors.shape[1], metric=self.metric, dtype="f32", **self.params)
        self.index.add(np.arange(self.size, self.size + len(vectors)), vectors)
        self.vectors.append(vectors)  # kept for exact scores among given candidates (top_ranked)
        self.ids.extend(idxs)
        self.size += len(vectors)

    def search(self, embeddings: Any, top_k: int, similarity_fn: Any, top_ranked: Any = None,
               query_idx_to_id: dict[int, str] | None = None) -> tuple[list[list[float]], list[list[int]]]:
        queries = _numpy(embeddings)
        if top_ranked is not None:  # candidates given (a patient's record): exact scores among them
            return self._rerank(queries, top_k, top_ranked, query_idx_to_id or {})
        found = self.index.search(queries, min(top_k, self.size))
        keys = np.asarray(found.keys).reshape(len(queries), -1)
        distances = np.asarray(found.distances).reshape(len(queries), -1)
        return (1.0 - distances).tolist(), keys.astype(int).tolist()  # usearch: distance = 1 - cos (or 1 - ip)

    def _rerank(self, queries: np.ndarray, top_k: int, top_ranked: Any,
                query_idx_to_id: dict[int, str]) -> tuple[list[list[float]], list[list[int]]]:
        corpus = np.concatenate(self.vectors)
        if self.metric == "cos":
            corpus = corpus / np.maximum(np.linalg.norm(corpus, axis=1, keepdims=True), 1e-12)
            queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        where = {d: i for i, d in enumerate(self.ids)}
        scores_all, idx_all = [], []
        for qi, query in enumerate(queries):
            cand = [where[d] for d in top_ranked.get(query_idx_to_id[qi], []) if d in where]
            scores = corpus[cand] @ query if cand else np.zeros(0)
            order = np.argsort(-scores, kind="stable")[:top_k]
            scores_all.append(scores[order].tolist())
            idx_all.append([cand[i] for i in order])
        return scores_all, idx_all

    def clear(self) -> None:
        self.index, self.size, self.vectors, self.ids = None, 0, [], []


def _numpy(embeddings: Any) -> np.ndarray:
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32))


def search_model(model: Any, *, corpus_chunk_size: int | None = None, index: str = "exact") -> Any:
    """The object mteb searches with: ``model`` itself (mteb wraps it with its defaults) or mteb's
    ``SearchEncoderWrapper`` with the chunk size and index asked for. BM25 and other search models
    are returned as they are."""
    from mteb.models.models_protocols import EncoderProtocol, SearchProtocol
    from mteb.models.search_wrappers import SearchEncoderWrapper

    if isinstance(model, SearchProtocol) or not isinstance(model, EncoderProtocol):
        return model
    if corpus_chunk_size is None and index == "exact":
        return model
    backend = HnswIndex(model) if index == "hnsw" else None
    return SearchEncoderWrapper(model, corpus_chunk_size=corpus_chunk_size or DEFAULT_CHUNK, index_backend=backend)

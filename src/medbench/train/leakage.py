"""Exact and near-duplicate overlap between training texts and evaluation texts.

Two texts are near-duplicates when the Jaccard similarity of their word unigram+bigram sets
reaches ``threshold`` (default 0.8) after normalisation (case, punctuation, whitespace).
Candidates are found through an inverted index over rare features, so checking thousands of
training texts against thousands of test texts takes well under a second.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def features(text: str) -> frozenset[str]:
    words = normalize(text).split()
    return frozenset(words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)])


@dataclass(frozen=True)
class Overlap:
    """A training text that repeats an evaluation text."""

    train_source: str
    train_text: str
    eval_source: str
    eval_text: str
    similarity: float  # 1.0 = identical after normalisation

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


def find_overlaps(
    train: Iterable[tuple[str, str]],
    evaluation: Iterable[tuple[str, str]],
    threshold: float = 0.8,
    max_df: int = 30,
) -> list[Overlap]:
    """Training texts that are exact or near duplicates of evaluation texts.

    Args:
        train: ``(source, text)`` pairs, source describing where the text is (file and row).
        evaluation: ``(source, text)`` pairs of the evaluation tasks.
        threshold: Jaccard similarity from which two texts count as near-duplicates.
        max_df: Features in more evaluation texts than this are too common to find candidates.

    Returns:
        One overlap per training text (its most similar evaluation text), in input order.

    Examples:
        >>> find_overlaps([("t", "Kein Hinweis auf Metastasen!")], [("e", "kein hinweis auf metastasen")])[0].exact
        True
    """
    evals = [(src, text, features(text)) for src, text in evaluation]
    exact: dict[str, int] = {}
    index: defaultdict[str, list[int]] = defaultdict(list)
    for i, (_, text, feats) in enumerate(evals):
        exact.setdefault(normalize(text), i)
        for f in feats:
            index[f].append(i)
    df = {f: len(ids) for f, ids in index.items()}
    out: list[Overlap] = []
    for src, text, in train:
        norm = normalize(text)
        if norm in exact:
            e = evals[exact[norm]]
            out.append(Overlap(src, text, e[0], e[1], 1.0))
            continue
        feats = features(text)
        if not feats:
            continue
        shared: Counter[int] = Counter()
        for f in feats:
            if df.get(f, max_df + 1) <= max_df:
                shared.update(index[f])
        best, best_sim = None, 0.0
        for i, _ in shared.most_common(20):
            other = evals[i][2]
            sim = len(feats & other) / len(feats | other)
            if sim > best_sim:
                best, best_sim = i, sim
        if best is not None and best_sim >= threshold:
            out.append(Overlap(src, text, evals[best][0], evals[best][1], best_sim))
    return out

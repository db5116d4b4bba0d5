"""Filters: an LLM's raw answer -> the questions worth keeping, and a count of why each other one went.

In: the answer text from the generation log, the passage it was asked about. Out: parsed
:class:`Question` objects and, per question, the first filter that drops it (``None``: keep).
Next: :mod:`medbench.synth.retrieval` checks the survivors' round trip, then the near-duplicate
check here runs against the questions kept so far; :mod:`medbench.synth.output` writes them.

The filters, in the order they run (each drop is counted under its name, :data:`REASONS`):

``malformed_answer``  the answer is not JSON (after unwrapping a Markdown code fence), or not
                      ``{"questions": [...]}`` with 1 or more items
``malformed``         an item that breaks the schema (missing or extra key, empty text, unknown
                      kind), or an item past the N asked for
``ungrounded``        the evidence is not in the passage: neither verbatim after normalising case,
                      whitespace and quotes, nor nearly (a character ratio >= 0.9 against a window
                      of passage words of about its length); an evidence with ``...`` is checked
                      piece by piece; under 8 characters is not evidence
``language``          the question is in the other language (stop words of German and English)
``copy``              the question repeats >= 8 consecutive words of the passage
``round_trip``        BM25 does not rank the source passage in the top k for the question
``duplicate``         normalised word sets with Jaccard >= 0.8 against a question already kept
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from array import array
from dataclasses import dataclass

from medbench.synth.prompts import KINDS, MIN_EVIDENCE_CHARS

REASONS = ("malformed_answer", "malformed", "ungrounded", "language", "copy", "round_trip", "duplicate")
GROUNDING_RATIO = 0.9
COPY_WORDS = 8
DUPLICATE_JACCARD = 0.8

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.S)
_WORD = re.compile(r"\w+")
_ELLIPSIS = re.compile(r"\s*(?:\[\s*(?:\.\.\.|…)\s*\]|\(\s*(?:\.\.\.|…)\s*\)|\.\.\.+|…)\s*")
_QUOTES = str.maketrans({"„": '"', "“": '"', "”": '"', "«": '"', "»": '"', "‚": "'", "‘": "'", "’": "'",
                         "–": "-", "—": "-", "\u00a0": " "})

# Words of one language only (words both use, such as in, an, so, was, will, die, hat, are left out).
_STOP = {
    "de": frozenset("""der das und ist nicht ein eine einer eines einem einen mit von zu den dem des auf für bei nach
        wurde wurden welche welcher welches welchen wann wie warum wer wo wird werden sind haben im ins vom zum zur über
        unter durch oder auch noch nur sich gibt gab liegt lag zeigt zeigte seit wegen ohne kein keine keinen beim aus
        wieviel wieviele viele hatte hatten ob dass bis gegen zwischen""".split()),
    "en": frozenset("""the of and is are were what which when how why who where does did do has have had with for from
        to on at by this that these those there any after before during been being not or no was patient's patients
        whose whom into than then should could would their its there's what's""".split()),
}


class Malformed(ValueError):
    """An answer that cannot be read as the schema's JSON."""


@dataclass(frozen=True)
class Question:
    question: str
    kind: str
    evidence: str


def unwrap(text: str) -> str:
    """The JSON inside an answer: surrounding whitespace and one Markdown code fence removed."""
    text = text.strip()
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def parse_answer(text: str, n: int) -> tuple[list[Question], int]:
    """``(valid questions, number of malformed items)`` of an answer; raises :class:`Malformed` for the whole answer.

    Examples:
        >>> parse_answer('```json\\n{"questions": [{"question": "Q?", "kind": "search", "evidence": "E"}]}\\n```', 2)
        ([Question(question='Q?', kind='search', evidence='E')], 0)
    """
    try:
        data = json.loads(unwrap(text))
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or set(data) != {"questions"}:
        raise Malformed("expected an object with the one key 'questions'")
    items = data["questions"]
    if not isinstance(items, list) or not items:
        raise Malformed("expected a non-empty list of questions")
    out: list[Question] = []
    bad = max(0, len(items) - n)
    for item in items[:n]:
        if (not isinstance(item, dict) or set(item) != {"question", "kind", "evidence"}
                or not all(isinstance(item[k], str) and item[k].strip() for k in item) or item["kind"] not in KINDS):
            bad += 1
            continue
        out.append(Question(item["question"].strip(), item["kind"], item["evidence"].strip()))
    return out, bad


def normalize(text: str) -> str:
    """Case, Unicode forms, typographic quotes and dashes, and whitespace made uniform."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def grounded(evidence: str, passage: str, ratio: float = GROUNDING_RATIO) -> bool:
    """Whether the evidence is quoted from the passage, verbatim or nearly (see the module docstring)."""
    norm_passage = normalize(passage)
    parts = [p.strip(" \"'.,;:") for p in _ELLIPSIS.split(normalize(evidence))]
    parts = [p for p in parts if len(p) >= 3]
    if sum(len(p) for p in parts) < MIN_EVIDENCE_CHARS:
        return False
    passage_words = norm_passage.split()
    return all(part in norm_passage or _nearly_in(part, passage_words, ratio) for part in parts)


def _nearly_in(part: str, passage_words: list[str], ratio: float) -> bool:
    n = len(part.split())
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(part)
    for size in sorted({max(1, n - 1), n, n + 1}):
        for i in range(max(1, len(passage_words) - size + 1)):
            matcher.set_seq1(" ".join(passage_words[i:i + size]))
            if matcher.real_quick_ratio() >= ratio and matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio:
                return True
    return False


def language_of(text: str) -> str | None:
    """``de``, ``en`` or None (no signal either way) by stop words; umlauts and ß count for German."""
    tokens = words(text)
    de = sum(t in _STOP["de"] for t in tokens) + sum(c in "äöüß" for c in text.casefold())
    en = sum(t in _STOP["en"] for t in tokens)
    if de == en:
        return None
    return "de" if de > en else "en"


def ngrams(tokens: list[str], n: int = COPY_WORDS) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copies(question: str, passage_grams: set[tuple[str, ...]], n: int = COPY_WORDS) -> bool:
    """Whether the question repeats ``n`` consecutive words of the passage (``passage_grams``: its n-grams)."""
    return bool(ngrams(words(question), n) & passage_grams)


def check(q: Question, passage: str, passage_grams: set[tuple[str, ...]], language: str) -> str | None:
    """The first of the per-question filters (grounding, language, copy) that drops ``q``, or None."""
    if not grounded(q.evidence, passage):
        return "ungrounded"
    if language_of(q.question) not in (None, language):
        return "language"
    if copies(q.question, passage_grams):
        return "copy"
    return None


class NearDuplicates:
    """Questions kept so far; :meth:`add` refuses one whose word set has Jaccard >= ``threshold`` with a kept one.

    Exact and fast at millions of questions (prefix filtering): two sets with Jaccard >= t share at
    least one of any ``floor((1 - t) * |A|) + 1`` words of A, so only the kept questions holding
    one of A's rarest words that many are compared. Words are numbered once; a kept question costs
    a tuple of word numbers and 4 bytes per word in the index (about 200 bytes).
    """

    def __init__(self, threshold: float = DUPLICATE_JACCARD):
        self.threshold = threshold
        self.vocab: dict[str, int] = {}
        self.sets: list[tuple[int, ...]] = []
        self.index: dict[int, array] = {}

    def add(self, text: str) -> bool:
        """Keep ``text`` (True) unless it nearly repeats a kept question (False)."""
        tokens = {self.vocab.setdefault(w, len(self.vocab)) for w in words(text)}
        if not tokens:
            return False
        empty = array("i")
        probe = sorted(tokens, key=lambda w: (len(self.index.get(w, empty)), w))[: int((1 - self.threshold) * len(tokens) + 1e-9) + 1]
        seen: set[int] = set()
        for w in probe:
            for i in self.index.get(w, empty):
                if i in seen:
                    continue
                seen.add(i)
                other = self.sets[i]
                shared = sum(x in tokens for x in other)
                if shared >= self.threshold * (len(tokens) + len(other) - shared):
                    return False
        number = len(self.sets)
        self.sets.append(tuple(tokens))
        for w in tokens:
            self.index.setdefault(w, array("i")).append(number)
        return True

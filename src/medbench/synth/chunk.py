"""The chunker: one document's text -> passages of about 100-250 words, cut where the text has seams.

In: a document's text (any length, any line endings). Out: a list of passage texts, in order;
:func:`passages` numbers them ``<doc id>#<n>`` (1-based). Next: :mod:`medbench.synth.prompts`
asks for questions about each passage.

This is the one chunker of medbench: ``medbench synth`` uses it, and the built-in suite's next
version will cut its documents with it too. The rules, in order:

1. The text is split into sections at heading lines (a short line ending in ``:``, a Markdown
   ``#`` heading or a short line in capitals); a heading stays with the text that follows it.
2. Sections are split into paragraphs at blank lines.
3. A paragraph over ``max_words`` is split at its line breaks, a line over ``max_words`` at
   sentence ends (a period, ``!`` or ``?`` before a capital or a digit, not after a short
   abbreviation such as ``re.``, ``V.a.``, ``ca.``), and a sentence over ``max_words`` every
   ``max_words`` words.
4. The pieces are packed greedily into passages of at most ``max_words`` words; a new section
   starts a new passage once the current one has ``min_words``; a last passage under
   ``min_words`` joins the one before when both fit in ``max_words``.

Words are whitespace-separated tokens. The same text always gives the same passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORDS = 100
MAX_WORDS = 250

_HEADING_MAX_WORDS = 8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-ZÄÖÜ0-9])")
#: a period after these (or after a single letter, or a word with a period inside: V.a., z.B.) ends no sentence
_ABBREVIATIONS = frozenset("""re li bds ca bzw vs dr prof pat ggf evtl inkl max min std nr st sog usw etc vgl tbl tab
abb mio mrd zt od u o a e.g i.e approx fig no resp dd""".split())
_LAST_WORD = re.compile(r"(\S+)\.$")


@dataclass(frozen=True)
class Piece:
    """A run of text that stays whole, and whether a section starts with it."""

    text: str
    words: int
    starts_section: bool = False


def is_heading(line: str) -> bool:
    """A line that names a section: ``Befund:``, ``# Verlauf``, ``DIAGNOSEN`` (at most 8 words)."""
    line = line.strip()
    if not line or len(line.split()) > _HEADING_MAX_WORDS or len(line) > 80:
        return False
    if line.startswith("#"):
        return True
    if line.endswith(":"):
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and not line.endswith((".", ","))


def split_sentences(text: str) -> list[str]:
    """Sentences of one line of text; a period after a short abbreviation does not end one."""
    out: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start:match.start()]
        last = _LAST_WORD.search(before)
        if last and ((len(last.group(1)) == 1 and last.group(1).isalpha()) or "." in last.group(1) or last.group(1).casefold() in _ABBREVIATIONS):
            continue
        out.append(before.strip())
        start = match.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _sections(text: str) -> list[list[str]]:
    """Sections as lists of lines (blank lines kept as ``""``), cut before each heading line."""
    sections: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.rstrip()
        if is_heading(line) and any(x.strip() for x in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return [s for s in sections if any(x.strip() for x in s)]


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _split_long(text: str, max_words: int) -> list[str]:
    """One over-long line -> sentences -> runs of ``max_words`` words."""
    out: list[str] = []
    for sentence in split_sentences(text):
        words = sentence.split()
        if len(words) <= max_words:
            out.append(sentence)
        else:
            out.extend(" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words))
    return out


def _pieces(text: str, max_words: int) -> list[Piece]:
    pieces: list[Piece] = []
    for section in _sections(text):
        first = True
        for paragraph in _paragraphs(section):
            joined = "\n".join(paragraph)
            n = len(joined.split())
            if n <= max_words:
                parts = [joined]
            else:  # lines that fit stay lines; longer ones are cut at sentence ends
                parts = []
                for line in paragraph:
                    parts.extend([line] if len(line.split()) <= max_words else _split_long(line, max_words))
                parts = _pack_lines(parts, max_words)
            for part in parts:
                pieces.append(Piece(part, len(part.split()), first))
                first = False
    return pieces


def _pack_lines(parts: list[str], max_words: int) -> list[str]:
    """Lines of one paragraph packed back together up to ``max_words`` (a list stays a list)."""
    out: list[str] = []
    count = 0
    for part in parts:
        n = len(part.split())
        if out and count + n <= max_words:
            out[-1] += "\n" + part
            count += n
        else:
            out.append(part)
            count = n
    return out


def chunk(text: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[str]:
    """The passages of one document's text (see the module docstring for the rules).

    Examples:
        >>> chunk("Befund:\\nKein Erguss.\\n\\nBeurteilung:\\nUnauffällig.")
        ['Befund:\\nKein Erguss.\\n\\nBeurteilung:\\nUnauffällig.']
        >>> [len(p.split()) for p in chunk(" ".join(["Wort"] * 600))]
        [250, 250, 100]
    """
    if not 0 < min_words <= max_words:
        raise ValueError(f"need 0 < min_words <= max_words, got {min_words}, {max_words}")
    passages: list[list[Piece]] = []
    count = 0
    for piece in _pieces(text, max_words):
        full = count + piece.words > max_words
        new_section = piece.starts_section and count >= min_words
        if not passages or full or new_section:
            passages.append([piece])
            count = piece.words
        else:
            passages[-1].append(piece)
            count += piece.words
    if len(passages) > 1:
        last, before = passages[-1], passages[-2]
        if sum(p.words for p in last) < min_words and sum(p.words for p in last + before) <= max_words:
            passages[-2:] = [before + last]
    return ["\n\n".join(p.text for p in group) for group in passages]


def passages(doc_id: str, text: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[tuple[str, str]]:
    """``(passage id, text)`` of a document, ids ``<doc id>#1``, ``<doc id>#2``, ..."""
    return [(f"{doc_id}#{n}", part) for n, part in enumerate(chunk(text, min_words, max_words), 1)]

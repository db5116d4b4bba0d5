"""Prompts: one passage -> the chat request that asks an LLM for N questions about it, with the answer's JSON schema.

In: a passage, its document's type and title, the language (de, en), N; optionally a user file
of templates. Out: the request body of an OpenAI-compatible ``/v1/chat/completions`` call
(:func:`request_body`), whose ``response_format`` carries :func:`answer_schema`.
Next: :mod:`medbench.synth.client` sends it.

Templates exist per document type (discharge, radiology, pathology, operation, and ``default``
for every other type) and language. A user file (YAML or JSON) replaces any of them::

    de:
      default:                 # every type without its own entry in this file
        system: Du bist ...
        user: |
          ... {passage} ...    # placeholders: {passage} (required), {n}, {title}, {type}, {language}
      radiology:
        user: ...              # the system text stays the built-in one of this type

A type in the file is matched after lower-casing with spaces, ``-`` and ``_`` made one
(``Operation Note`` = ``operation_note``), or by the built-in type it maps to (``CT Thorax`` ->
``radiology``); a part left out (``system``) is the built-in one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError, ProblemCollector, TaskFormatError
from medbench.synth.chunk import split_sentences

LANGUAGES = {"de": "Deutsch", "en": "English"}
TYPES = ("discharge", "radiology", "pathology", "operation", "default")
KINDS = ("search", "record")
PLACEHOLDERS = ("passage", "n", "title", "type", "language")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: words in a document's type that make it one of the built-in types
_TYPE_WORDS = {
    "discharge": ("discharge", "entlass", "arztbrief", "epikrise"),
    "radiology": ("radiolog", "röntgen", "rontgen", "x-ray", "xray", "ct", "mrt", "mri", "sonograph", "ultrasound", "imaging"),
    "pathology": ("patholog", "histolog", "cytolog", "zytolog", "biops"),
    "operation": ("operation", "op-bericht", "op bericht", "surgery", "surgical", "procedure", "eingriff", "op_note", "op note"),
}

_TYPE_NAMES = {
    "de": {"discharge": "Entlassungsbrief", "radiology": "radiologischen Befund", "pathology": "pathologischen Befund",
           "operation": "Operationsbericht", "default": "klinischen Dokument"},
    "en": {"discharge": "discharge letter", "radiology": "radiology report", "pathology": "pathology report",
           "operation": "operation note", "default": "clinical document"},
}
_FOCUS = {
    "de": {"discharge": "Diagnosen, Verlauf, Entlassmedikation mit Dosis, Empfehlungen zur Weiterbehandlung",
           "radiology": "Befunde mit Lokalisation und Größe, Vergleich mit Voraufnahmen, Beurteilung",
           "pathology": "Histologie, Grading, Staging (TNM), Resektionsränder, Immunhistochemie und Molekularpathologie",
           "operation": "Indikation, Eingriff und Zugang, intraoperative Befunde, Komplikationen, Drainagen",
           "default": "Befunde, Diagnosen, Therapien und Verlauf"},
    "en": {"discharge": "diagnoses, course, discharge medication with dose, recommendations for follow-up care",
           "radiology": "findings with location and size, comparison with prior studies, impression",
           "pathology": "histology, grade, stage (TNM), resection margins, immunohistochemistry and molecular pathology",
           "operation": "indication, procedure and approach, intraoperative findings, complications, drains",
           "default": "findings, diagnoses, treatments and course"},
}
_SYSTEM = {
    "de": "Du bist eine erfahrene Klinikerin. Du schreibst Fragen, mit denen Ärztinnen und Ärzte klinische Dokumente "
          "durchsuchen. Du antwortest nur mit JSON.",
    "en": "You are an experienced clinician. You write the questions doctors use to search clinical documents. "
          "You answer with JSON only.",
}
_USER = {
    "de": """Hier ist ein Abschnitt aus einem {type} (Titel: {title}).

<passage>
{passage}
</passage>

Schreibe {n} Frage(n) auf Deutsch, die dieser Abschnitt beantwortet, so wie Ärztinnen und Ärzte im Klinikalltag fragen, \
zum Beispiel zu: %(focus)s.
- kind "search": eine Suche über alle Patienten hinweg ("Patient mit ... nach ...", "Befund ... bei ...").
- kind "record": eine Frage in der geöffneten Akte dieses Patienten ("Welche Dosis ...?", "Wann wurde ...?").
Bei mehr als einer Frage: mindestens eine von jeder Art.
Regeln:
- Jede Frage lässt sich allein mit diesem Abschnitt beantworten.
- Formuliere mit eigenen Worten; kopiere keine langen Textstücke aus dem Abschnitt.
%(rule)s
Antworte nur mit JSON in dieser Form:
%(form)s""",
    "en": """Here is a passage from a {type} (title: {title}).

<passage>
{passage}
</passage>

Write {n} question(s) in English that this passage answers, the way doctors ask in daily clinical work, \
for example about: %(focus)s.
- kind "search": a search across all patients ("patient with ... after ...", "finding ... in ...").
- kind "record": a question inside this patient's open record ("Which dose ...?", "When was ...?").
With more than one question: at least one of each kind.
Rules:
- Each question can be answered from this passage alone.
- Use your own words; do not copy long stretches of the passage.
%(rule)s
Answer with JSON only, in this form:
%(form)s""",
}
#: how the answer names its evidence: ``quote`` (the LLM quotes it; the grounding filter checks the
#: quote) or ``choose`` (the schema's ``enum`` lists the passage's sentences, the LLM picks one, then
#: writes the question: grounded by construction where the server honours the schema; for small models)
EVIDENCE_MODES = ("quote", "choose")
_RULE = {
    "quote": {
        "de": '- Gib zu jeder Frage als "evidence" den Satz oder Satzteil an, der sie beantwortet, wörtlich aus dem Abschnitt zitiert.',
        "en": '- For each question give as "evidence" the sentence or part of a sentence that answers it, quoted verbatim from the passage.',
    },
    "choose": {
        "de": '- Wähle für jede Frage zuerst als "evidence" den Satz des Abschnitts, der sie beantwortet, und schreibe dann die Frage dazu.',
        "en": '- For each question first choose as "evidence" the sentence of the passage that answers it, then write the question about it.',
    },
}
_FORM = {
    "quote": '{"questions": [{"question": "...", "kind": "search", "evidence": "..."}]}',
    "choose": '{"questions": [{"evidence": "...", "question": "...", "kind": "search"}]}',
}
_ORDINAL_END = re.compile(r"(?:^|\s)\d{1,2}\.$")
#: shorter evidence (quotes, spaces and ``.,;:`` at its ends left out) is no evidence
MIN_EVIDENCE_CHARS = 8
#: at most this many sentences go into the schema's enum (a passage of 100-250 words has 5-25)
MAX_CHOICES = 40


def doc_type(raw: str | None) -> str:
    """The type key of a document's ``type`` field: spaces, ``-`` and ``_`` made one, lower case."""
    return re.sub(r"[\s_\-]+", "_", (raw or "").strip().casefold())


def builtin_type(raw: str | None) -> str:
    """One of :data:`TYPES` for a document's ``type`` (``Entlassungsbrief`` -> discharge; unknown -> default)."""
    text = (raw or "").casefold()
    words = set(re.findall(r"\w+", text))
    for key, hints in _TYPE_WORDS.items():
        if any((h in words) if len(h) <= 3 else (h in text or h.replace(" ", "_") in text) for h in hints):
            return key
    return "default"


def evidence_choices(passage: str) -> list[str]:
    """The passage's sentences (lines cut at sentence ends) that the grounding filter accepts as
    evidence (:data:`MIN_EVIDENCE_CHARS`), in order, no repeats, at most :data:`MAX_CHOICES`: the
    ``enum`` of the evidence in ``choose`` mode.

        >>> evidence_choices("Befund:\\nKein Erguss rechts. Lunge frei.\\nKein Erguss rechts.")
        ['Kein Erguss rechts.', 'Lunge frei.']
    """
    out: list[str] = []
    for line in passage.splitlines():
        pieces: list[str] = []
        for piece in split_sentences(line.strip()):
            if pieces and _ORDINAL_END.search(pieces[-1]):  # "am 3. Mai": a German ordinal, not a sentence end
                pieces[-1] += " " + piece
            else:
                pieces.append(piece)
        for sentence in pieces:
            if len(sentence.strip(" \"'.,;:")) >= MIN_EVIDENCE_CHARS and sentence not in out:
                out.append(sentence)
    return out[:MAX_CHOICES]


def answer_schema(n: int, choices: list[str] | None = None) -> dict[str, Any]:
    """The JSON schema of an answer: 1 to ``n`` questions, each with its kind and verbatim evidence.

    With ``choices`` (``choose`` mode) the evidence is one of them and comes first, so that the
    question is written after the sentence it rests on (servers generate properties in order)."""
    evidence: dict[str, Any] = {"type": "string", "enum": list(choices)} if choices else {"type": "string"}
    properties: dict[str, Any] = {"question": {"type": "string"}, "kind": {"type": "string", "enum": list(KINDS)}}
    properties = {"evidence": evidence, **properties} if choices else {**properties, "evidence": evidence}
    item = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"questions": {"type": "array", "items": item, "minItems": 1, "maxItems": n}},
        "required": ["questions"],
        "additionalProperties": False,
    }


@dataclass
class Templates:
    """The templates of one language, the built-in ones with a user file's entries on top."""

    language: str
    entries: dict[str, dict[str, str]] = field(default_factory=dict)  # built-in: type key -> {"system", "user"}
    user: dict[str, dict[str, str]] = field(default_factory=dict)  # from the user's file

    @classmethod
    def load(cls, language: str, path: Path | None = None, evidence: str = "quote") -> Templates:
        if language not in LANGUAGES:
            raise MedbenchError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
        if evidence not in EVIDENCE_MODES:
            raise MedbenchError(f"unknown evidence mode {evidence!r}: choose one of {', '.join(EVIDENCE_MODES)}")
        entries = {t: {"system": _SYSTEM[language],
                       "user": _USER[language] % {"focus": _FOCUS[language][t], "rule": _RULE[evidence][language],
                                                  "form": _FORM[evidence]}}
                   for t in TYPES}
        out = cls(language, entries)
        if path is not None:
            for key, parts in read_user_file(Path(path)).get(language, {}).items():
                out.user[key] = {**entries.get(key, entries["default"]), **parts}
        return out

    def template(self, raw_type: str | None) -> tuple[str, dict[str, str]]:
        """``(type key used, {"system", "user"})`` for a document's ``type``: the user file's entry for
        the type, else the user file's ``default``, else the built-in template of the type."""
        key = doc_type(raw_type)
        if key and key in self.user:
            return key, self.user[key]
        builtin = builtin_type(raw_type)
        if builtin in self.user:
            return builtin, self.user[builtin]
        if "default" in self.user:
            return builtin, self.user["default"]
        return builtin, self.entries[builtin]

    def messages(self, passage: str, raw_type: str | None, title: str | None, n: int) -> list[dict[str, str]]:
        key, parts = self.template(raw_type)
        values = {"passage": passage.strip(), "n": str(n), "language": LANGUAGES[self.language],
                  "type": _TYPE_NAMES[self.language].get(key, raw_type or _TYPE_NAMES[self.language]["default"]),
                  "title": (title or raw_type or "-").strip()}
        fill = lambda text: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)  # noqa: E731
        return [{"role": "system", "content": fill(parts["system"])}, {"role": "user", "content": fill(parts["user"])}]


def request_body(model: str, messages: list[dict[str, str]], n: int, temperature: float = 0.7,
                 choices: list[str] | None = None) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body; ``response_format`` holds the answer's schema (vLLM, llama.cpp, Ollama
    honour it), with the evidence restricted to ``choices`` when given (``choose`` mode)."""
    return {
        "model": model,
        "messages": messages,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "questions", "strict": True, "schema": answer_schema(n, choices)}},
        "temperature": temperature,
        "max_tokens": 64 + 160 * n,
    }


def request_key(body: dict[str, Any]) -> str:
    """A hash of everything that shapes the answer (model, prompt, passage, schema): the resume key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


def read_user_file(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    """A user's template file, checked: ``{language: {type: {"system"?, "user"?}}}``; problems with file:line."""
    from medbench import _yaml

    problems = ProblemCollector()
    try:
        doc = _yaml.read(path, problems, "languages de, en")
    except OSError as exc:
        raise MedbenchError(f"{path}: cannot read the prompt file ({exc.strerror or exc})") from None
    if doc is None:
        problems.raise_if_any()
        return {}
    out: dict[str, dict[str, dict[str, str]]] = {}
    for lang, types in doc.data.items():
        if lang not in LANGUAGES:
            problems.add(path, f"unknown language {lang!r}: expected {', '.join(LANGUAGES)}", line=doc.line((lang,)), field=str(lang))
            continue
        if not isinstance(types, dict):
            problems.add(path, "expected a mapping of document types (default, radiology, ...)", line=doc.line((lang,)), field=lang)
            continue
        for type_name, parts in types.items():
            where = (lang, type_name)
            dotted = f"{lang}.{type_name}"
            if not isinstance(parts, dict) or not parts:
                problems.add(path, "expected a mapping with system and/or user", line=doc.line(where), field=dotted)
                continue
            checked: dict[str, str] = {}
            for part, text in parts.items():
                line, name = doc.line((*where, part)), f"{dotted}.{part}"
                if part not in ("system", "user"):
                    problems.add(path, f"unknown key {part!r}: expected system or user", line=line, field=name)
                elif not isinstance(text, str) or not text.strip():
                    problems.add(path, "expected a non-empty text", line=line, field=name)
                else:
                    unknown = sorted({m for m in _PLACEHOLDER.findall(text) if m not in PLACEHOLDERS})
                    if unknown:
                        problems.add(path, f"unknown placeholder {{{unknown[0]}}}: use {', '.join('{%s}' % p for p in PLACEHOLDERS)}",
                                     line=line, field=name)
                    elif part == "user" and "{passage}" not in text:
                        problems.add(path, "the user template must hold {passage} (where the passage goes)", line=line, field=name)
                    else:
                        checked[part] = text
            if checked:
                out.setdefault(lang, {})[doc_type(str(type_name))] = checked
    if problems:
        raise TaskFormatError(problems.shown())
    return out

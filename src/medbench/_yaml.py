"""medbench's YAML files (``task.yaml``, recipes) read like code: every problem with file, line and dotted key.

:func:`read` loads a file and knows the line of every key and list item by path;
:func:`validate` checks it against a pydantic model (``extra="forbid"``) and turns each error
into a problem at ``file:line: dotted.path: message``, with the schema's field descriptions
saying what was expected (``phases.1.training.learning_rate: expected ..., got ...``), so a typo
deep in a file is as easy to find as one at the top. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from medbench.errors import ProblemCollector

M = TypeVar("M", bound=BaseModel)


@dataclass
class Document:
    """A YAML file's data and the line of every key and list item, by path (``("phases", 0, "loss")``)."""

    path: Path
    data: Any
    lines: dict[tuple, int]

    def line(self, where: Sequence) -> int | None:
        """The line of ``where``, or of its nearest parent in the file (None at the top)."""
        for n in range(len(where), 0, -1):
            if tuple(where[:n]) in self.lines:
                return self.lines[tuple(where[:n])]
        return None


def read(path: Path, problems: ProblemCollector, expected: str) -> Document | None:
    """Read a YAML file holding a mapping; None (with the problem recorded) when it is not UTF-8, not YAML or not a mapping.

    Keys given twice are reported (the last one counts, as in ``yaml.safe_load``) and reading goes on.
    A file that cannot be read raises OSError: the caller knows what a missing file means.
    ``expected`` names the top-level keys for the message about a file that is not a mapping.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.add(path, "is not UTF-8 text", line=raw[: exc.start].count(b"\n") + 1)
        return None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark, start = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        message = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
        if mark and start and start.line != mark.line and getattr(exc, "context", None):
            message += f" ({exc.context} that starts on line {start.line + 1})"
        problems.add(path, message, line=mark.line + 1 if mark else None)
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__} {show(data)}"
        problems.add(path, f"expected a mapping of keys ({expected}), got {got}")
        return None
    lines, dupes = node_lines(node)
    for where, line in dupes:
        problems.add(path, "key appears more than once", line=line, field=".".join(map(str, where)))
    return Document(path, data, lines)


def node_lines(node: yaml.Node | None, path: tuple = (), out: dict | None = None,
                dupes: list | None = None) -> tuple[dict[tuple, int], list[tuple[tuple, int]]]:
    """Line of every key and list item, by path (``("phases", 0, "loss")``), and keys given twice."""
    out = {} if out is None else out
    dupes = [] if dupes is None else dupes
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = (*path, key)
            if key in seen:
                dupes.append((sub, key_node.start_mark.line + 1))
            seen.add(key)
            out[sub] = key_node.start_mark.line + 1
            node_lines(value_node, sub, out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            node_lines(item, (*path, i), out, dupes)
    return out, dupes


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- checking against a pydantic model ---------------------------------------------------------------------


class Schema(BaseModel):
    """A file's schema: YAML types as written (no "5" for 5, no "yes" for true), unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


def invalid(message: str) -> PydanticCustomError:
    """The error a validator raises to say a message of its own.

    Any other error (a ``ValueError`` too) is said as ``expected <the field's description>, got <the value as written>``.
    """
    return PydanticCustomError("medbench", message)


def validate(model: type[M], doc: Document, problems: ProblemCollector, *, context: Any = None,
             overridden: Iterable[tuple] = ()) -> M | None:
    """``model`` from the file's data; None (with every problem recorded, in line order) when it does not fit.

    ``overridden``: paths set on the command line, whose problems say ``(value from --set)``.
    """
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        said = [_problem(model, doc, _in_data(doc.data, error["loc"], error["type"] == "missing"), error) for error in exc.errors()]
        meant = {(*loc[:-1], close) for loc, _, _, close, _ in said if close}  # the keys an unknown key's suggestion names
        found: dict[tuple[str | None, str], int | None] = {}
        for loc, where, message, _, union in said:
            if message.startswith("missing required key") and loc in meant:
                continue  # "langauges: unknown key; did you mean 'languages'?" says it already
            if union and any(w[: len(where)] == where and len(w) > len(where) for _, w, *_ in said):
                continue  # a union (a name or a mapping) given a mapping: the mapping's own problems say more
            if any(loc[: len(o)] == o for o in overridden):
                message += " (value from --set)"
            found.setdefault((".".join(map(str, where)) or None, message), doc.line(loc))
        for (field, message), line in sorted(found.items(), key=lambda item: (item[1] is None, item[1] or 0)):
            if not any(f == field and m.startswith(message.removesuffix(" (value from --set)") + ";") for f, m in found):
                problems.add(doc.path, message, line=line, field=field)  # once, with a "did you mean" if one has it
        return None


def _problem(model: type[BaseModel], doc: Document, loc: tuple, error: Any) -> tuple[tuple, tuple, str, str | None, bool]:
    """For one pydantic error at ``loc``: ``loc``, the key to name (the field the schema describes), the message,
    the known key an unknown key is close to, and whether it is about one member of a union."""
    said = _said(model, doc, loc, error)
    return (loc, *said, len(error["loc"]) > len(loc))


def _said(model: type[BaseModel], doc: Document, loc: tuple, error: Any) -> tuple[tuple, str, str | None]:
    field, info, owner = _walk(model, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = list(getattr(owner, "model_fields", ()))
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return loc, f"unknown key; {hint}", close[0] if close else None
    if kind == "missing":
        return loc, f"missing required key (expected {getattr(info, 'description', None) or 'a value'})", None
    if kind == "medbench" or info is None or not info.description:
        return field or loc, error["msg"], None
    message = f"expected {info.description}, got {show(_value_at(doc.data, field))}"
    if kind == "literal_error" and isinstance(error["input"], str):
        close = difflib.get_close_matches(error["input"], _literal_options(info.annotation), n=1, cutoff=0.5)
        message += f"; did you mean {close[0]!r}?" if close else ""
    return field, message, None


def _in_data(data: Any, loc: Sequence, missing: bool) -> tuple:
    """The error location as a path in the data: pydantic's union member tags (``'str'``) left out."""
    out: list = []
    for i, part in enumerate(loc):
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and part < len(data):
            out.append(part)
            data = data[part]
        elif missing and i == len(loc) - 1:
            out.append(part)
    return tuple(out)


def _value_at(data: Any, where: Sequence) -> Any:
    for part in where:
        data = data[part]
    return data


def _alternatives(tp: Any) -> list:
    """The types a value of ``tp`` may be: Optional and unions split, Annotated unwrapped."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _alternatives(arg)]
    return [tp]


def _walk(model: type[BaseModel], loc: tuple) -> tuple[tuple, Any, Any]:
    """The deepest model field along ``loc`` (its path and FieldInfo), and the model that holds ``loc[-1]``."""
    tp: Any = model
    field: tuple = ()
    info = owner = None
    for i, part in enumerate(loc):
        owner, nxt = None, None
        for t in _alternatives(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                owner = t
                if part in t.model_fields:
                    info, field, nxt = t.model_fields[part], loc[: i + 1], t.model_fields[part].annotation
            elif typing.get_origin(t) in (list, tuple) and isinstance(part, int):
                nxt = typing.get_args(t)[0]
            elif typing.get_origin(t) is dict:
                nxt = typing.get_args(t)[1]
            if nxt is not None:
                break
        if nxt is None:
            break
        tp = nxt
    return field, info, owner


def _literal_options(tp: Any) -> list[str]:
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return [o for arg in typing.get_args(tp) for o in _literal_options(arg)]


# -- the recipe's hand-written checks (until recipe.py moves to pydantic too) --------------------------------


class Checker:
    """Records problems at a path of a YAML file, with the line of that path (or of its nearest parent)."""

    def __init__(self, path: Path, lines: dict[tuple, int], overridden: set[tuple], problems: ProblemCollector):
        self.path, self.lines, self.overridden, self.problems = path, lines, overridden, problems

    def add(self, where: tuple, message: str) -> None:
        dotted = ".".join(map(str, where)) or None
        if any(where[: len(o)] == o for o in self.overridden):
            message += " (value from --set)"
        line = None
        for n in range(len(where), 0, -1):
            if where[:n] in self.lines:
                line = self.lines[where[:n]]
                break
        self.problems.add(self.path, message, line=line, field=dotted)

    def mapping(self, where: tuple, value: Any, allowed: dict[str, str], required: Iterable[str] = ()) -> dict | None:
        if not isinstance(value, dict):
            self.add(where, f"expected a mapping of keys ({', '.join(allowed)}), got {show(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
                self.add((*where, key), f"unknown key; {hint}")
        for key in required:
            if key not in value:
                self.add(where, f"missing required key {key!r} ({allowed[key]})")
        return value

    def number(self, where: tuple, value: Any, what: str, *, integer: bool = False, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False) -> Any:
        """A number within bounds; numeric strings such as ``2e-5`` (which YAML reads as text) count."""
        number: float | int | None = None
        if isinstance(value, bool):
            number = None
        elif integer:
            number = value if isinstance(value, int) else None
        elif isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        ok = number is not None and number == number  # not NaN
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number < high if high_open else number <= high
        if not ok:
            self.add(where, f"expected {what}, got {show(value)}")
            return None
        return number

    def choice(self, where: tuple, value: Any, options: Sequence[str], what: str) -> str | None:
        if isinstance(value, str) and value in options:
            return value
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        self.add(where, f"expected {what}: one of {', '.join(options)}, got {show(value)}{hint}")
        return None

    def text(self, where: tuple, value: Any, what: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.add(where, f"expected {what}, got {show(value)}")
        return None


# -- overrides -----------------------------------------------------------------------------------


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], problems: ProblemCollector, path: Path,
                    cwd: Path | None = None) -> set[tuple]:
    """Apply ``key=value`` overrides with dotted keys (``phases.0.training.learning_rate=1e-4``) in place.

    Values are read as YAML (``2``, ``true``, ``[64, 32]``, ``{task: X}``). Missing mappings are
    created; list items must exist. A relative ``...file=`` path is taken from the current folder.

    Returns:
        The paths that were set, so that problems with them can say they came from ``--set``.
    """
    done: set[tuple] = set()
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = [p for p in key.strip().split(".")]
        if not sep or not all(parts):
            problems.add(path, f"--set {item!r}: expected key=value with a dotted key, e.g. training.max_steps=2")
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            problems.add(path, f"--set {item!r}: the value is not valid YAML ({getattr(exc, 'problem', exc)})")
            continue
        if parts[-1] == "file" and isinstance(value, str) and not Path(value).is_absolute():
            value = str(((cwd or Path.cwd()) / value).resolve())
        target: Any = raw
        where: list[Any] = []
        ok = True
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(target, list):
                if not part.isdigit() or int(part) >= len(target):
                    problems.add(path, f"--set {item!r}: {'.'.join(map(str, where)) or 'the recipe'} has "
                                       f"{len(target)} item(s); {part!r} is not one of 0..{len(target) - 1}")
                    ok = False
                    break
                index: Any = int(part)
            elif isinstance(target, dict):
                index = part
            else:
                problems.add(path, f"--set {item!r}: {'.'.join(map(str, where))} is {show(target)}, not a mapping or list")
                ok = False
                break
            where.append(index)
            if last:
                target[index] = value
            else:
                if isinstance(target, dict) and index not in target:
                    target[index] = {}
                target = target[index]
        if ok:
            done.add(tuple(where))
    return done

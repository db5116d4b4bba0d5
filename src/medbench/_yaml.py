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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import yaml
from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, StringConstraints, Tag, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

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
    lines, dupes = _node_lines(node)
    for where, line in dupes:
        problems.add(path, "key appears more than once", line=line, field=".".join(map(str, where)))
    return Document(path, data, lines)


def _node_lines(node: yaml.Node | None, path: tuple = (), out: dict | None = None,
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
            _node_lines(value_node, sub, out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _node_lines(item, (*path, i), out, dupes)
    return out, dupes


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- checking against a pydantic model ---------------------------------------------------------------------


def as_number(value: Any) -> Any:
    """Text that spells a number, as that number (YAML reads ``2e-5``, with no dot, as text); anything else as it is."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


#: A finite number; text that spells one counts (:func:`as_number`).
Number = Annotated[float, BeforeValidator(as_number), AllowInfNan(False)]
#: A text with something in it besides spaces.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Schema(BaseModel):
    """A file's schema: YAML types as written (no "5" for 5, no "yes" for true), unknown keys are errors.

    Fields with ``exclude=True`` are set by the program after validation (a place in the file, a
    hash): a file that gives one gets "unknown key".
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_from_the_file(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name and cls.model_fields[info.field_name].exclude:
            raise PydanticKnownError("extra_forbidden")
        return value

    @classmethod
    def keys(cls) -> list[str]:
        """The keys a file may give, as written (a field's alias, else its name)."""
        return [f.alias or name for name, f in cls.model_fields.items() if not f.exclude]

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str | None]:
        """What an unknown ``key`` is told, and the known key it is close to (None when none is)."""
        close = difflib.get_close_matches(key, cls.keys(), n=1, cutoff=0.6)
        if close:
            return f"unknown key; did you mean {close[0]!r}?", close[0]
        return f"unknown key; known keys: {', '.join(cls.keys())}", None


def invalid(message: str) -> PydanticCustomError:
    """The error a validator raises to say a message of its own.

    Any other error (a ``ValueError`` too) is said as ``expected <the field's description>, got <the value as written>``.
    """
    return PydanticCustomError("medbench", message)


def also_invalid(handler: Callable[[Any], Any], value: Any, message: str) -> NoReturn:
    """Fail with ``message`` and with whatever ``handler`` (a wrap validator's) finds wrong in ``value``: both are reported."""
    errors: list[Any] = [{"type": invalid(message), "loc": (), "input": value}]
    try:
        handler(value)
    except ValidationError as exc:
        errors += [{"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]} for e in exc.errors()]
    raise ValidationError.from_exception_data("value", errors)


def validate(model: type[M], doc: Document, problems: ProblemCollector, *, context: Any = None,
             overridden: Iterable[tuple] = ()) -> M | None:
    """``model`` from the file's data; None (with every problem recorded, in line order) when it does not fit.

    ``overridden``: paths set on the command line, whose problems say ``(value from --set)``.
    """
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        said = [_problem(model, doc, error) for error in exc.errors()]
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


def _problem(model: type[BaseModel], doc: Document, error: Any) -> tuple[tuple, tuple, str, str | None, bool]:
    """For one pydantic error: its path in the data, the key to name (the field the schema describes), the
    message, the known key an unknown key is close to, and whether pydantic's location went through a union
    member (``'str'``, a loss name) that is not in the data."""
    kind = error["type"]
    loc, field, info, owner, tp = _locate(model, doc.data, error["loc"], kind == "missing")
    union = len(error["loc"]) > len(loc)
    if kind == "extra_forbidden":
        message, close = owner.unknown_key(str(loc[-1])) if owner and issubclass(owner, Schema) else ("unknown key", None)
        return loc, loc, message, close, union
    if kind == "missing":
        return loc, loc, f"missing required key (expected {getattr(info, 'description', None) or 'a value'})", None, union
    whole = isinstance(tp, type) and issubclass(tp, BaseModel) and loc != field  # a list item's mapping, as a whole
    if whole and kind in ("model_type", "dict_type"):
        return loc, loc, f"expected a mapping of keys ({', '.join(tp.keys())}), got {show(_value_at(doc.data, loc))}", None, union
    if kind == "medbench" or info is None or not info.description:
        return loc, (loc if whole else field or loc), error["msg"], None, union
    said = (error.get("ctx") or {}).get("tag", error["input"])  # a discriminated union's tag: the name in a mapping
    message = f"expected {info.description}, got {show(said if kind == 'union_tag_invalid' else _value_at(doc.data, field))}"
    if kind in ("literal_error", "union_tag_invalid") and isinstance(said, str):
        close = difflib.get_close_matches(said, _options(info.annotation), n=1, cutoff=0.5)
        message += f"; did you mean {close[0]!r}?" if close else ""
    return loc, field, message, None, union


def _locate(model: type[BaseModel], data: Any, loc: Sequence, missing: bool) -> tuple[tuple, tuple, Any, Any, Any]:
    """Follow pydantic's error location through the data and the schema together.

    Returns the location as a path in the data (union member tags such as ``'str'`` or a loss name left
    out), the path of the deepest schema field on the way and its FieldInfo, the model that holds the
    last key, and the type at the end.
    """
    tp: Any = model
    path: list = []
    field: tuple = ()
    info = owner = None
    for i, part in enumerate(loc):
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and part < len(data):
            path.append(part)
            data = data[part]
        elif missing and i == len(loc) - 1:
            path.append(part)
        owner, nxt = None, None
        for t in _alternatives(tp):
            tags = [m.tag for m in getattr(t, "__metadata__", ()) if isinstance(m, Tag)]
            if tags:
                nxt = typing.get_args(t)[0] if part in tags else None  # a discriminated union's member
            elif isinstance(t, type) and issubclass(t, BaseModel):
                owner = t
                fields = {f.alias or name: f for name, f in t.model_fields.items()}
                if part in fields:
                    info, field, nxt = fields[part], tuple(path), fields[part].annotation
            elif typing.get_origin(t) in (list, tuple) and isinstance(part, int):
                nxt = typing.get_args(t)[0]
            elif typing.get_origin(t) is dict:
                nxt = typing.get_args(t)[1]
            if nxt is not None:
                break
        tp = nxt if nxt is not None else tp  # a part that names no member ('str', '[key]') stays at the same type
    return tuple(path), field, info, owner, tp


def _value_at(data: Any, where: Sequence) -> Any:
    for part in where:
        data = data[part]
    return data


def _alternatives(tp: Any) -> list:
    """The types a value of ``tp`` may be: Optional and unions split, Annotated unwrapped (a tagged union member kept)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated and not any(isinstance(m, Tag) for m in tp.__metadata__):
        return _alternatives(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _alternatives(arg)]
    return [tp]


def _options(tp: Any) -> list[str]:
    """The values a Literal, or the tags a discriminated union, allows."""
    if isinstance(tp, Tag):
        return [tp.tag]
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return [o for arg in typing.get_args(tp) for o in _options(arg)]


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

"""YAML files checked like code: the line of every nested key, strict mappings, and dotted-key overrides.

Used by the recipe schema (:mod:`medbench.recipe`): every problem carries the file, the line and
the dotted path of the value (``phases.1.training.learning_rate``), so a typo deep in a file
is as easy to find as one at the top. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from medbench.errors import ProblemCollector


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


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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

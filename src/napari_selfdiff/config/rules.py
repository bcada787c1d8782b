"""Validation rules of the config dataclasses: each a (field, test, rule in words) triple.

A section's ``__post_init__`` passes its rules to :func:`_validate`, which raises
:class:`~napari_selfdiff.errors.ConfigError` naming the field, the value and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from napari_selfdiff.errors import ConfigError

#: (field, test of its value, the rule in words), checked in order; the first failure raises.
Rule = tuple[str, Callable[[Any], bool], str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validate(config: Any, rules: list[Rule]) -> None:
    for name, test, rule in rules:
        value = getattr(config, name)
        if not test(value):
            raise ConfigError(f"`{name}` must be {rule}, got {value!r}")


def _count(name: str, low: int = 1) -> Rule:
    return name, lambda v: _is_int(v) and v >= low, f"an integer >= {low}"


def _positive(name: str) -> Rule:
    return name, lambda v: _is_number(v) and v > 0, "a finite number > 0"


def _non_negative(name: str) -> Rule:
    return name, lambda v: _is_number(v) and v >= 0, "a finite number >= 0"


def _within(name: str, low: float, high: float, brackets: str) -> Rule:
    """``brackets`` is "()", "[)", "(]" or "[]": open or closed ends, as written in the rule."""
    low_ok = (lambda v: v >= low) if brackets[0] == "[" else (lambda v: v > low)
    high_ok = (lambda v: v <= high) if brackets[1] == "]" else (lambda v: v < high)
    rule = f"a number in {brackets[0]}{low}, {high}{brackets[1]}"
    return name, lambda v: _is_number(v) and low_ok(v) and high_ok(v), rule


def _choice(name: str, choices: tuple[str, ...]) -> Rule:
    words = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
    return name, lambda v: v in choices, words


def _flag(name: str) -> Rule:
    return name, lambda v: isinstance(v, bool), "True or False"

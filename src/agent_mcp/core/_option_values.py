"""The options' values from text: each converter raises ValueError saying what the text should be,
which start-up shows with the option's flag or variable (config.load_settings)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be a positive number of seconds, got {text!r}")
    return value


MAX_USD = 1_000_000.0
"""The largest spending cap taken (a caller's or a setting's): more is a typo, not a budget."""


def _within(text: str, lowest: float, most: float, expected: str, zero: bool) -> float:
    """The number the text is, from `lowest` (or above it, unless `zero`) to `most`, else ValueError(expected):
    not a number, nan and the infinities included."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(expected) from None
    if not (math.isfinite(value) and (lowest <= value if zero else lowest < value) and value <= most):
        raise ValueError(expected)
    return value


def dollars(text: str) -> float:
    expected = f"must be a positive number of US dollars, at most {MAX_USD:,.0f}, got {text!r}"
    return _within(text, 0, MAX_USD, expected, zero=False)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be a whole number of at least 1, got {text!r}")
    return value


def switch(text: str) -> bool:
    if text in ("1", "0"):
        return text == "1"
    raise ValueError(f"must be 1 (on) or 0 (off), got {text!r}")


def roots(text: str) -> tuple[Path, ...]:
    """Resolve roots once, at start-up, so a symlinked root compares equal to resolved cwds."""
    roots = []
    for part in text.split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part).expanduser()
        if not path.is_absolute():
            raise ValueError(f"allowed root {part!r} is not an absolute path")
        roots.append(path.resolve())
    return tuple(roots)


def directory(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{text!r} is not an absolute path")
    return path


def existing_file(text: str) -> Path:
    path = directory(text)
    if not path.is_file():
        raise ValueError(f"{text!r} is not a file")
    return path


YEAR_S = 366 * 86400


def seconds_within(most: float, zero: str) -> Callable[[str], float]:
    """Seconds from 0 (which means `zero`) to `most`: a window or a wait of centuries is a typo, and one
    past the clock's range would fail every call that uses it."""

    def seconds(text: str) -> float:
        return _within(
            text, 0, most, f"must be a number of seconds from 0 ({zero}) to {most:g}, got {text!r}", zero=True
        )

    return seconds


def seconds_or_off(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"must be a number of seconds (0 turns it off), got {text!r}")
    return value


def one_of(first: str, second: str) -> Callable[[str], str]:
    def choice(text: str) -> str:
        if text not in (first, second):
            raise ValueError(f"must be {first} or {second}, got {text!r}")
        return text

    return choice


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number from 0 to 65535, got {text!r}")
    return value


def non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text

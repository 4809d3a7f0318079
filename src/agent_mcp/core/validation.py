"""Checks on caller input, each raising InvalidInput with a message that names the problem.

Pure functions over values (the only I/O is looking at the file system for directories), so the
pool can run every check before it changes anything.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_mcp.core._option_values import MAX_USD
from agent_mcp.core.errors import InvalidInput, OutsideRoots
from agent_mcp.core.models import EFFORTS, PERMISSION_MODES, AgentMessage, AgentOptions

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LARGEST_INTEGER = 2**53 - 1
"""The most any integer argument may be: every JSON reader holds it exactly (JavaScript's safe
integers), it fits SQLite's 64-bit integers, and it prints (Python refuses to turn an int of over
4,300 digits into text, so a refusal that quoted one would fail instead)."""


def shown(number: float) -> str:
    """A number as a refusal quotes it: an integer too long to read (or to print at all) by its size."""
    if isinstance(number, int) and abs(number).bit_length() > 256:
        return f"an integer of about {int(abs(number).bit_length() * math.log10(2)) + 1} digits"
    return repr(number)


def check_integer(what: str, value: int, lowest: int, highest: int = LARGEST_INTEGER, expected: str = "") -> int:
    """`expected` says what the value should be, when more than its range says it."""
    if not lowest <= value <= highest:
        if not expected:
            expected = (
                f"between {lowest} and {highest}"
                if highest != LARGEST_INTEGER
                else f"at least {lowest}"
                if value < lowest
                else f"at most {highest} (2**53 - 1)"
            )
        raise InvalidInput(f"{what} must be {expected}, got {shown(value)}")
    return value


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid agent name {name!r}: use 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit"
        )
    return name


def check_text(what: str, text: str, max_bytes: int) -> str:
    """Sizes are UTF-8 bytes and inclusive; whitespace-only counts as empty."""
    if not text.strip():
        raise InvalidInput(f"{what} is empty; give some text")
    if "\x00" in text:
        raise InvalidInput(f"{what} contains a NUL character, which cannot be passed to claude; remove it")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} contains unpaired surrogates and is not valid Unicode text") from None
    if size > max_bytes:
        raise InvalidInput(f"{what} is {size} bytes of UTF-8, over the limit of {max_bytes} bytes; shorten it")
    return text


def check_path(what: str, raw: str, allowed_roots: tuple[Path, ...]) -> Path:
    """Expand ~, refuse relative paths, resolve symlinks, then apply the roots to the resolved path."""
    if not raw.strip() or "\x00" in raw:
        raise InvalidInput(f"{what} {raw!r} is not a usable path; give an absolute path")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidInput(
            f"{what} {raw!r} is relative; give an absolute path (the server's own directory means nothing to you)"
        )
    resolved = real_path(what, path)
    if not os.path.exists(resolved):  # False too where a directory on the way may not be searched
        raise InvalidInput(f"{what} {raw!r} does not exist; create it first or pick an existing one")
    check_within_roots(what, resolved, allowed_roots)
    return resolved


def real_path(what: str, path: Path) -> Path:
    """path with every symlink resolved (what does not exist yet stays as written); a symlink loop is
    the caller's to fix, not the server's error."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"{what} {str(path)!r} cannot be resolved ({exc}); give one without a loop") from None


def check_within_roots(
    what: str, resolved: Path, allowed_roots: tuple[Path, ...], fix: str = "pick one under them"
) -> None:
    """resolved must already be free of symlinks: the roots apply to where a path really leads."""
    if allowed_roots and not any(resolved.is_relative_to(root) for root in allowed_roots):
        raise OutsideRoots(what, str(resolved), ", ".join(str(r) for r in allowed_roots), fix)


def check_directory(what: str, raw: str, allowed_roots: tuple[Path, ...]) -> Path:
    resolved = check_path(what, raw, allowed_roots)
    if not resolved.is_dir():
        raise InvalidInput(f"{what} {raw!r} is not a directory")
    return resolved


def check_permission_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in PERMISSION_MODES:
        raise InvalidInput(f"unknown permission_mode {mode!r}; use one of {', '.join(PERMISSION_MODES)}")
    return mode


def check_effort(effort: str | None) -> str | None:
    if effort is not None and effort not in EFFORTS:
        raise InvalidInput(f"unknown effort {effort!r}; use one of {', '.join(EFFORTS)}")
    return effort


def check_mcp_config(
    config: dict[str, Any] | str | None, allowed_roots: tuple[Path, ...]
) -> dict[str, Any] | str | None:
    """An object is passed to the CLI as JSON text; a string must name an existing JSON file."""
    if config is None:
        return None
    if isinstance(config, dict):
        if not isinstance(config.get("mcpServers"), dict):
            raise InvalidInput('mcp_config must be an object with an "mcpServers" object, or the path of such a file')
        return config
    path = check_path("mcp_config", config, allowed_roots)
    if not path.is_file():
        raise InvalidInput(f"mcp_config {config!r} is not a file; give the path of a JSON file or the object itself")
    return str(path)


def check_model(model: str | None) -> str | None:
    if model is not None and (not model.strip() or model.startswith("-") or "\x00" in model):
        raise InvalidInput(f"invalid model {model!r}; give a model name or alias such as 'sonnet'")
    return model


def check_tools(what: str, tools: list[str] | None) -> list[str] | None:
    if tools is None:
        return None
    for tool in tools:
        if not tool.strip() or "\x00" in tool or "," in tool:
            raise InvalidInput(f"invalid entry {tool!r} in {what}: give one tool name or pattern per entry")
    return list(tools)


def check_max_turns(turns: int | None) -> int | None:
    return None if turns is None else check_integer("max_turns", turns, 1)


def check_budget(budget: float | None, what: str = "max_budget_usd") -> float | None:
    if budget is not None and not (math.isfinite(budget) and 0 < budget <= MAX_USD):
        raise InvalidInput(
            f"{what} must be a positive number of US dollars, at most {MAX_USD:,.0f}, got {shown(budget)}"
        )
    return budget


def check_timeout(timeout_s: float | None) -> float | None:
    if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
        raise InvalidInput(f"timeout_s must be a positive number of seconds, got {shown(timeout_s)}")
    return timeout_s


def check_wait(wait_s: float) -> float:
    if not (math.isfinite(wait_s) and wait_s >= 0):
        raise InvalidInput(f"wait_s must be a number of seconds of at least 0, got {shown(wait_s)}")
    return wait_s


def check_window(part: str, offset: int | None, limit: int | None, most: int) -> tuple[int, int] | None:
    """get_run's window on a run's reply (part "text") or message: None when neither argument is given
    (it comes cut as usual). The offset is checked against the text's length once that is known."""
    if offset is None and limit is None:
        return None
    if offset is not None:
        check_integer(f"{part}_offset", offset, 0)
    if limit is not None:
        check_integer(
            f"{part}_limit", limit, 1, most, f"between 1 and {most} (AGENT_MCP_MAX_REPLY_CHARS / --max-reply-chars)"
        )
    return offset or 0, limit or most


def check_limit(limit: int) -> int:
    return check_integer("limit", limit, 1, 1000)


def check_after(after: int) -> int:
    """A transcript's place: 0 or a `next` this server gave (a seq, far below SQLite's 64-bit limit)."""
    return check_integer("after", after, 0, expected="0 or the `next` of a page before")


def check_add_dirs(add_dirs: list[str] | None, allowed_roots: tuple[Path, ...]) -> list[str] | None:
    if add_dirs is None:
        return None
    return [str(check_directory("add_dirs entry", d, allowed_roots)) for d in add_dirs]


# One check per creation option: a new option is a field of AgentOptions, a line here and one in argv.
_OPTION_CHECKS: dict[str, Callable[[Any, tuple[Path, ...]], Any]] = {
    "model": lambda value, _: check_model(value),
    "permission_mode": lambda value, _: check_permission_mode(value),
    "allowed_tools": lambda value, _: check_tools("allowed_tools", value),
    "disallowed_tools": lambda value, _: check_tools("disallowed_tools", value),
    "max_turns": lambda value, _: check_max_turns(value),
    "max_budget_usd": lambda value, _: check_budget(value),
    "add_dirs": check_add_dirs,
    "mcp_config": check_mcp_config,
    "effort": lambda value, _: check_effort(value),
    "max_total_usd": lambda value, _: check_budget(value, "max_total_usd"),
}
assert _OPTION_CHECKS.keys() == AgentOptions.model_fields.keys(), "every option needs its check"


def check_options(options: AgentOptions, allowed_roots: tuple[Path, ...]) -> AgentOptions:
    """Every option checked, paths resolved: the options as they are stored and given to the CLI."""
    return AgentOptions(
        **{field: check(getattr(options, field), allowed_roots) for field, check in _OPTION_CHECKS.items()}
    )


def fan_out(
    agents: list[str] | None, message: str | None, messages: list[AgentMessage] | None
) -> list[tuple[str, str]]:
    if messages is not None and (agents is not None or message is not None):
        raise InvalidInput("give either agents and message, or messages, not both")
    if messages is not None:
        pairs = [(m.agent, m.message) for m in messages]
    elif agents is not None and message is not None:
        pairs = [(agent, message) for agent in agents]
    else:
        raise InvalidInput("give agents and message (one message for every agent), or messages ([{agent, message}])")
    if not pairs:
        raise InvalidInput("no agents given; name at least one")
    return pairs

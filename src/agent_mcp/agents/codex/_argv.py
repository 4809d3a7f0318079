"""Agent options to `codex exec`'s argv (docs/agent-kinds.md#codex; watched with codex-cli 0.171.0).

`codex exec --json --skip-git-repo-check [exec's options] [resume THREAD] -`: the message is read
from stdin to its end, verbatim (`-`), so it never touches argv and cannot be taken for a flag, and
any size fits. exec's own options (-m, -s, --add-dir) go before `resume`, which refuses them after it
(tests/fixtures/codex/15_resume_sandbox_after) and honours them before (14_resume_flags).
--skip-git-repo-check: codex refuses to run outside a git repository without it (11_no_git), and an
agent's cwd need not be one.

Every value goes in the `--flag=value` form, which clap binds whole, even a value that starts with
`-`; the role goes in one `--config=developer_instructions="…"` entry, a TOML string written here, so
no role can be read as another TOML value or another key.
"""

from __future__ import annotations

from agent_mcp.agents.commands import role_text
from agent_mcp.core.models import AgentOptions

SANDBOXES = {
    "plan": ["--sandbox=read-only"],
    "dontAsk": ["--sandbox=read-only"],
    "default": [],
    "acceptEdits": ["--sandbox=workspace-write"],
    "auto": ["--sandbox=workspace-write"],
    "bypassPermissions": ["--dangerously-bypass-approvals-and-sandbox"],
}
"""permission_mode to codex's sandbox: codex exec never asks (an action its sandbox does not allow is
refused), and by default runs commands in a read-only sandbox. Edits need workspace-write (cwd and
add_dirs writable); bypassPermissions drops the sandbox. `ask` has no equivalent: refused at create."""

EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
"""effort to codex's model_reasoning_effort (codex's highest is xhigh)."""

OPTIONS = frozenset({"model", "permission_mode", "add_dirs", "effort"})
"""The creation options codex exec has a flag for; the rest (tool lists, max_turns, budgets, an MCP
config) are refused when an agent is created."""

_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML multi-line basic string holding exactly `text`: newlines and tabs as they are (a role of
    many lines costs no more bytes), quotes, backslashes and the other control characters escaped, and
    a newline first, which TOML drops, so text that starts with a newline keeps it."""
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif (ord(char) < 0x20 and char not in "\n\t") or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"""\n' + "".join(out) + '"""'


def role_entry(name: str, role: str) -> str:
    return "developer_instructions=" + toml_string(role_text(name, role))


def build_argv(codex_bin: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
    argv = [codex_bin, "exec", "--json", "--skip-git-repo-check"]
    if options.model is not None:
        argv.append(f"--model={options.model}")
    argv += SANDBOXES[options.permission_mode or "default"]
    argv += [f"--add-dir={directory}" for directory in options.add_dirs or ()]
    if options.effort is not None:
        argv.append(f'--config=model_reasoning_effort="{EFFORTS[options.effort]}"')  # one of EFFORTS' words
    # The thread keeps its first turn's instructions (a resumed turn's are not added): given every run
    # all the same, so a first turn that failed before the thread was kept still starts with them.
    argv.append("--config=" + role_entry(name, role))
    if resume is not None:
        argv += ["resume", resume]
    return [*argv, "-"]

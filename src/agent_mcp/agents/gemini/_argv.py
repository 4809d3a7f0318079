"""Agent options to the gemini CLI's argv, and the options it has no flag for.

Every value goes in the `--flag=value` form: yargs binds exactly one value that way, even one that
starts with `-` (`--model=-m` is the model "-m"). The message is never in argv: it is the CLI's stdin,
which `-p ""` makes the prompt verbatim (observed with 0.61.0: the prompt is `STDIN + "\\n\\n" + PROMPT`,
and an empty PROMPT adds nothing).

The role: gemini has no flag for instructions. GEMINI_SYSTEM_MD replaces its whole system prompt (tool
rules included) from a file, and GEMINI.md context files are the user's own files in the project, so
neither fits. It goes where gemini documents `-p` goes: "appended to input on stdin". A session's first
turn is started with `--prompt=<the role sentence>`, so the model reads `<message>\\n\\n<role sentence>`,
and the session keeps it for every later turn; a resumed turn gets `--prompt=` (nothing appended).
"""

from __future__ import annotations

from agent_mcp.agents.commands import role_text
from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.models import AgentOptions

PROMPT_FLAG = "--prompt="

APPROVAL_MODES = {"default": "default", "dontAsk": "default", "acceptEdits": "auto_edit",
                  "bypassPermissions": "yolo", "plan": "plan"}  # fmt: skip
"""agent-mcp's permission modes as gemini's --approval-mode. Headless, gemini's `default` leaves out
every tool that would need an approval (observed: the model's run_shell_command is "not found"), which is
what dontAsk means. `ask` (gemini cannot ask anyone headless) and `auto` (no classifier mode) have none."""


def refusal(options: AgentOptions) -> str | None:
    """Why the gemini CLI cannot run with these values, naming the option: None when it can (the options
    it has no flag for at all are OPTIONS' complement, refused before: agents/kind.py unhonoured)."""
    mode = options.permission_mode
    if mode is not None and mode not in APPROVAL_MODES:
        return (
            f"the gemini CLI has no permission_mode {mode!r} (its --approval-mode takes default, auto_edit, yolo, "
            f"plan); use one of {', '.join(sorted(APPROVAL_MODES))} for a gemini agent"
        )
    for directory in options.add_dirs or ():
        if "," in directory:
            return (
                f"add_dirs {directory!r} holds a comma, and the gemini CLI splits --include-directories at commas; "
                "use a directory whose path has none"
            )
    return None


OPTIONS = frozenset({"model", "permission_mode", "allowed_tools", "add_dirs"})
"""The creation options gemini has a flag for; the rest are refused when an agent is created."""


def build_argv(gemini_bin: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
    """Raises InvalidInput for an option gemini has no flag for (so create_agent refuses it)."""
    why = refusal(options)
    if why is not None:
        raise InvalidInput(why)
    argv = [gemini_bin, "--output-format=stream-json", "--skip-trust"]
    if resume is None:
        argv.append(PROMPT_FLAG + role_text(name, role))
    else:
        argv += [PROMPT_FLAG, f"--resume={resume}"]
    if options.model is not None:
        argv.append(f"--model={options.model}")
    if options.permission_mode is not None:
        argv.append(f"--approval-mode={APPROVAL_MODES[options.permission_mode]}")
    argv.extend(f"--allowed-tools={tool}" for tool in options.allowed_tools or ())
    argv.extend(f"--include-directories={directory}" for directory in options.add_dirs or ())
    return argv

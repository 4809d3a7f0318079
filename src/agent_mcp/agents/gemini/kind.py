"""Google's gemini CLI (@google/gemini-cli, observed with 0.61.0) as an agent kind.

One process per message: `gemini --output-format=stream-json --skip-trust --prompt=… [--resume=<id>]`
reads the whole message from its stdin (a pipe, closed once the message is written: gemini reads to its
end, up to 8 MiB), answers that one turn and exits. So no warm turns, and nothing can be asked of it
mid-turn: headless, it cannot ask for a permission (no `ask` mode), and it has no interrupt but a
signal (the pool ends its process tree). The message is stdin's bytes, never argv: any text, a leading
`-` included, reaches the model as it was sent. The role: see _argv.py (appended to a session's first
message, gemini's documented use of `-p`).

gemini relaunches itself: the `gemini` process starts a child `node … gemini …` in the same process
group, and ignores SIGINT, SIGTERM and SIGHUP itself while the child runs; only the group's end (the
reaper's) ends both. Its sessions live under ~/.gemini/tmp/<project>/chats, per working directory
(~/.gemini/projects.json names the project of each): `--resume` finds a session only from the directory
it was made in, and an unknown one exits 42 (`resume_failed`, and the agent is reset).

Its failures: exit 41 no credentials (`not_logged_in`), 42 its input (`resume_failed` when it could not
resume), 52 its settings, 53 a turn limit (`max_turns`), 55 an untrusted folder, 130 cancelled; an API
failure comes as a `result` with status error (and exits with the HTTP status modulo 256: 429 -> 173,
500 -> 244, 400 -> 144), read by _stream.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.agents.commands import cli_missing, exec_problem
from agent_mcp.agents.gemini import _argv as gemini_argv
from agent_mcp.agents.gemini._stream import GeminiStream
from agent_mcp.agents.gemini._transcript import describe_event, entries_of
from agent_mcp.agents.kind import Capabilities, PermissionAsk, Step
from agent_mcp.agents.reading import ParsedTurn
from agent_mcp.core.entries import entry, first_line
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.models import AgentOptions, ErrorKind
from agent_mcp.core.rows import Entry

_INSTALL = "npm install -g @google/gemini-cli"

EXITS: dict[int, tuple[ErrorKind, str]] = {
    41: ("not_logged_in", "has no credentials: set GEMINI_API_KEY (or log in by running `gemini` once)"),
    42: ("crashed", "refused its input"),
    44: ("crashed", "could not start its sandbox"),
    52: ("crashed", "found its configuration invalid (~/.gemini/settings.json)"),
    53: ("max_turns", "reached the turn limit of its settings (model.maxSessionTurns)"),
    54: ("crashed", "failed running a tool"),
    55: ("crashed", "does not trust the agent's folder"),
    130: ("cancelled", "was cancelled"),
    144: ("api_error", "had its API request refused (HTTP 400)"),
    173: ("rate_limited", "hit a rate limit or quota (HTTP 429)"),
    244: ("api_error", "met a server error of the API (HTTP 500)"),
}
"""gemini's exit codes (its FatalError classes; an API failure exits with its HTTP status modulo 256)."""

_RESUME_FAILED = "Error resuming session"

MAX_MESSAGE_BYTES = 1 << 20
"""gemini echoes the whole prompt on its stdout and exits at once after its result: with an echo of a
MiB or more, node now and then drops its pending writes at that exit, and the turn ends without its
answer (observed with 0.61.0, through a pipe as through a socket). A larger message is refused."""


class GeminiReader(ParsedTurn):
    """The parser (GeminiStream) of one turn, its events read out as the pool's Steps: a stretch of
    answer text becomes one entry when it ends (at a tool step, an error or the result)."""

    stream: GeminiStream

    def __init__(self, stream: GeminiStream) -> None:
        super().__init__(stream)
        self._entered = 0
        """Text stretches already made entries."""

    def feed(self, line: bytes) -> Step | None:
        event = self.stream.feed(line)
        if event is None:
            return None
        if event["type"] == "message":
            return None  # a delta: its stretch becomes an entry once it ends
        texts, progress = self._ended_texts()
        return Step(texts + entries_of(event), describe_event(event) or progress)

    def _ended_texts(self) -> tuple[list[Entry], str | None]:
        """The text stretches that ended since the last step, as entries, and the last one's first line."""
        segments = self.stream.segments[self._entered :]
        self._entered = len(self.stream.segments)
        texts = ["".join(segment) for segment in segments]
        found = [entry("text", text, text) for text in texts if text.strip()]
        return found, first_line(found[-1].summary) if found else None


class GeminiKind:
    name = "gemini"
    bin_setting = "gemini_bin"
    remote_bin_setting = "gemini_bin"
    capabilities = Capabilities(
        warm_turns=False,
        ask_mode=False,
        budgets=False,
        effort=False,
        options=gemini_argv.OPTIONS,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    stripped_env: tuple[str, ...] = (
        "GEMINI_CLI_NO_RELAUNCH",
        "GEMINI_CLI_IDE_SERVER_PORT",
        "GEMINI_CLI_IDE_WORKSPACE_PATH",
        "GEMINI_CLI_IDE_PID",
        "GEMINI_CLI_IDE_AUTH_TOKEN",
        "GEMINI_CLI_IDE_SERVER_STDIO_COMMAND",
        "GEMINI_CLI_IDE_SERVER_STDIO_ARGS",
    )
    """What a gemini sets for the processes it runs (its relaunched child's marker) and what ties one to
    an IDE's companion: a gemini agent inheriting them would skip its relaunch or talk to that IDE."""

    def argv(self, executable: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
        return gemini_argv.build_argv(executable, name, role, options, resume)

    def exec_problem(self, argv: list[str], env: Mapping[str, str]) -> str | None:
        return exec_problem(self.name, argv, env)

    def message_frame(self, message: str) -> bytes:
        """The message's own bytes: gemini reads stdin to its end as the prompt (`-p ""`: verbatim)."""
        return message.encode("utf-8")

    def interrupt_frame(self) -> bytes:
        """gemini reads nothing once its prompt is in: a cancelled turn ends with its process."""
        return b""

    def answer_frame(self, ask: PermissionAsk, allow: bool, message: str) -> bytes:
        raise NotImplementedError("the gemini CLI asks for no permission headless (capabilities.ask_mode is False)")

    def reader(self, *, resumed: str | None, awaiting_init: bool) -> GeminiReader:
        return GeminiReader(GeminiStream(resumed=resumed, awaiting_init=awaiting_init))

    def state_paths(self, home: str, env: Mapping[str, str]) -> tuple[str, ...]:
        """GEMINI_CLI_HOME moves ~/.gemini (settings, sessions, projects.json) under it."""
        return (f"{env.get('GEMINI_CLI_HOME') or home}/.gemini",)

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str = "") -> tuple[ErrorKind, str]:
        if signal is not None:
            return "crashed", f"the gemini CLI was killed by signal {signal} without a result"
        if returncode == 42 and _RESUME_FAILED in tail:
            return "resume_failed", "the gemini CLI found no such session to resume (exit code 42)"
        kind, what = EXITS.get(returncode or 0, ("crashed", "ended"))
        return kind, f"the gemini CLI {what} (exit code {returncode}) without a result"

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        return cli_missing("gemini", executable, host, _INSTALL, "AGENT_MCP_GEMINI_BIN / --gemini-bin", tail)

"""The real gemini CLI (tests/clients, 0.61.0) run with the gemini kind's argv and frames on the process
layer (the local launcher, AgentProcess) against tests/mock_gemini.py: a turn, its resume, its errors.

What the mock received is checked against what was sent: a 2 MiB message that starts with `-` reaches
the model byte for byte (the role sentence after it, on a session's first turn only), and one ending
with a newline keeps it. The end-to-end through agent-mcp comes with the `cli` option of create_agent.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from conftest import MARK, marked_processes
from gemini_turns import KIND, launcher, start, take_turn
from mock_gemini import MockGemini

from agent_mcp.agents.commands import role_text

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not (Path(__file__).parents[1] / "clients/node_modules/.bin/gemini").exists(),
                       reason="the real gemini CLI is not installed in tests/clients"),
]  # fmt: skip

GEMINI = str(Path(__file__).parents[1] / "clients" / "node_modules" / ".bin" / "gemini")


def environment(tmp_path: Path, mock: MockGemini, mode: str) -> dict[str, str]:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text('{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "AGENT_MCP_"))}
    return {**env, "HOME": str(home), "GEMINI_API_KEY": "dummy", "GOOGLE_GEMINI_BASE_URL": mock.base_url(mode),
            "TMPDIR": str(tmp_path), MARK: uuid.uuid4().hex,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}  # fmt: skip


@pytest.fixture
def mock():
    with MockGemini() as api:
        yield api


async def test_a_2_mib_message_reaches_the_model_byte_for_byte(tmp_path, mock):
    """Only the input is held here. gemini 0.61.0 echoes the whole prompt on its stdout and exits right
    after its result; with an echo of a MiB or more, node's pending stdout writes are now and then lost at
    that exit (with a pipe as with a socket), so the turn may end without its result (docs/agent-kinds.md#gemini).
    And a message past its model's context window (4 MiB of this text) is not sent at all: gemini writes a
    `success` result with no answer and no tokens. So 2 MiB: gemini sends it, whole."""
    env = environment(tmp_path, mock, "ok")
    message = "--yolo -p x é\u2028 " + "0123456789abcdef" * (2 << 16)  # a leading '-', no newline at its end
    with launcher() as local:
        first = await take_turn(await start(local, GEMINI, tmp_path, env), message)
    assert first.reader.session_id is not None and first.reader.violation is None
    assert mock.user_text(mock.turns()[-1]) == message + "\n\n" + role_text("g", "a reviewer")
    assert marked_processes(env[MARK]) == []


async def test_a_turn_then_its_resume(tmp_path, mock):
    env = environment(tmp_path, mock, "ok")
    work = tmp_path / "work"
    work.mkdir()
    message = "-p --resume x\n" + "é" * 100_000  # a leading '-', a newline inside, none at its end
    with launcher() as local:
        first = await take_turn(await start(local, GEMINI, work, env), message)
        assert first.complete and first.exit.returncode == 0, first.exit
        response = first.reader.response("g")
        assert response.text == "Hello from the gemini mock." and not response.is_error
        assert response.cost_usd is None and response.input_tokens > 0
        assert mock.user_text(mock.turns()[-1]) == message + "\n\n" + role_text("g", "a reviewer")

        second = "- and again\n"
        resumed = await start(local, GEMINI, work, env, resume=response.session_id)
        again = await take_turn(resumed, second, resumed=response.session_id)
        assert again.complete and again.exit.returncode == 0
        assert again.reader.response("g").session_id == response.session_id
        request = mock.turns()[-1]
        assert mock.user_text(request) == second  # its newline kept; the role is the session's already
        texts = [part.get("text") for content in request["contents"] for part in content["parts"]]
        assert message + "\n\n" + role_text("g", "a reviewer") in texts  # the history came along
    assert marked_processes(env[MARK]) == []


async def test_an_api_failure_is_a_typed_error_and_its_exit_code(tmp_path, mock):
    env = environment(tmp_path, mock, "quota")
    with launcher() as local:
        turn = await take_turn(await start(local, GEMINI, tmp_path, env), "hello")
    assert turn.complete
    response = turn.reader.response("g")
    assert response.is_error and response.error_kind == "rate_limited" and "daily quota" in str(response.error)
    assert turn.exit.returncode == 173  # process.exit(429)


async def test_an_unknown_session_fails_its_resume_by_its_exit(tmp_path, mock):
    env = environment(tmp_path, mock, "ok")
    with launcher() as local:
        turn = await take_turn(await start(local, GEMINI, tmp_path, env, resume=str(uuid.uuid4())), "hello")
    assert not turn.complete and turn.reader.session_id is None
    kind, said = KIND.ended_without_result(turn.exit.returncode, turn.exit.signal, turn.exit.tail.decode())
    assert "resume" in said
    assert (turn.exit.returncode, kind) == (42, "resume_failed"), turn.exit.tail


async def test_no_credentials_is_not_logged_in(tmp_path, mock):
    env = environment(tmp_path, mock, "ok")
    del env["GEMINI_API_KEY"]
    with launcher() as local:
        turn = await take_turn(await start(local, GEMINI, tmp_path, env), "hello")
    assert not turn.complete
    assert KIND.ended_without_result(turn.exit.returncode, None, turn.exit.tail.decode())[0] == "not_logged_in"
    assert b"GEMINI_API_KEY" in turn.exit.tail

"""Ask mode through the SDK's client over stdio: a person answers through elicitation, or, with a
client that cannot elicit, the coordinator sees waiting_permission and answers with answer_permission."""

from __future__ import annotations

import anyio
import pytest
from conftest import person
from helpers import connect, ok, refused

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("reply", "written", "decision"),
    [
        ({"decision": "allow"}, True, "allow"),
        ({"decision": "deny", "message": "not today"}, False, "deny"),
        ("decline", False, "deny"),
    ],
)
async def test_a_person_answers_through_elicitation(reply, written, decision, tmp_path, claude_env, no_leaks):
    asked: list[str] = []
    async with connect(claude_env, mode="legacy", elicitation_callback=person(reply, asked=asked)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        response = await ok(client, "send_message", agent="dev", message="please MOCK_WRITE")
    target = tmp_path / "mock_written.txt"
    assert target.exists() is written
    [request] = response["permission_requests"]
    assert (request["decision"], request["answered_by"], request["tool_name"]) == (decision, "elicitation", "Write")
    assert asked[0].startswith(f"Agent 'dev' asks to use Write: {target}")
    if reply == "decline" or not written:
        assert [d["tool_name"] for d in response["permission_denials"]] == ["Write"]
    if isinstance(reply, dict) and reply.get("message"):
        assert request["message"] == "not today" and response["text"].endswith("not today")


async def test_allow_always_is_asked_once(tmp_path, claude_env, no_leaks):
    asked: list[str] = []
    async with connect(
        claude_env, mode="legacy", elicitation_callback=person({"decision": "allow_always"}, asked=asked)
    ) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        await ok(client, "send_message", agent="dev", message="MOCK_WRITE")
        second = await ok(client, "send_message", agent="dev", message="MOCK_WRITE again")
        agent = await ok(client, "get_agent", name="dev")
    assert len(asked) == 1 and agent["always_allowed"] == ["Write"]
    assert [(r["decision"], r["answered_by"]) for r in second["permission_requests"]] == [("allow", "rule")]


async def test_a_person_who_never_answers_meets_the_timeout(tmp_path, claude_env, no_leaks):
    env = {**claude_env, "AGENT_MCP_PERMISSION_TIMEOUT": "1"}
    async with connect(env, mode="legacy", elicitation_callback=person(None)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        with anyio.fail_after(20):
            response = await ok(client, "send_message", agent="dev", message="MOCK_WRITE")
        [request] = response["permission_requests"]
        assert (request["decision"], request["answered_by"]) == ("deny", "timeout")
        assert (await ok(client, "send_message", agent="dev", message="still here"))["is_error"] is False


async def test_without_elicitation_the_run_waits_for_answer_permission(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:  # the newest protocol: no requests from the server
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        run = await ok(client, "start_message", agent="dev", message="MOCK_WRITE")
        with anyio.fail_after(20):
            waiting = await ok(client, "get_run", run_id=run["run_id"], wait_s=15)
        assert waiting["status"] == "waiting_permission"
        pending = waiting["pending_permission"]
        assert pending["tool_name"] == "Write" and pending["input"]["content"] == "hello\n"
        [agent] = (await ok(client, "list_agents", status="waiting_permission"))["agents"]
        assert agent["status"] == "waiting_permission"
        text = await refused(client, "answer_permission", run_id=run["run_id"], request_id="nope", decision="allow")
        assert text.startswith("[invalid_input] ") and pending["request_id"] in text
        answered = await ok(client, "answer_permission", run_id=run["run_id"], request_id=pending["request_id"],
                            decision="allow")  # fmt: skip
        assert answered["pending_permission"] is None
        done = await ok(client, "get_run", run_id=run["run_id"], wait_s=15)
    assert done["status"] == "done" and (tmp_path / "mock_written.txt").exists()
    assert done["response"]["permission_requests"][0]["answered_by"] == "answer_permission"

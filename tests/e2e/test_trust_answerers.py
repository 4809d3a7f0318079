"""Who may answer a permission request, through the installed server over stdio (issue 27, point 3):
the calling model cannot allow for good in its person's place, a server set to take answers from a
person takes none from the caller, and a client whose answer does not fit the form is asked again,
then denied, never left to the permission timeout."""

from __future__ import annotations

import anyio
import pytest
from conftest import person
from helpers import connect, ok, refused

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


async def waiting(client, run_id: str) -> dict:
    """The run's pending request once it waits (polled: a wait would ask this client's person)."""
    with anyio.fail_after(20):
        while (info := await ok(client, "get_run", run_id=run_id))["status"] != "waiting_permission":
            await anyio.sleep(0.05)
    return info["pending_permission"]


async def test_the_caller_cannot_allow_for_good_while_its_person_is_asked(tmp_path, claude_env, no_leaks):
    asked: list[str] = []
    async with connect(claude_env, mode="legacy", elicitation_callback=person(None, asked=asked)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        run = await ok(client, "start_message", agent="dev", message="MOCK_WRITE")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.call_tool("get_run", {"run_id": run["run_id"], "wait_s": 60}))
            pending = await waiting(client, run["run_id"])
            with anyio.fail_after(20):
                while not asked:
                    await anyio.sleep(0.05)
            text = await refused(client, "answer_permission", run_id=run["run_id"],
                                 request_id=pending["request_id"], decision="allow_always")  # fmt: skip
            assert text.startswith("[policy] only a person can allow a tool for good") and 'decision="allow"' in text
            await ok(client, "answer_permission", run_id=run["run_id"], request_id=pending["request_id"],
                     decision="allow")  # fmt: skip
            done = await ok(client, "get_run", run_id=run["run_id"], wait_s=20)
            tg.cancel_scope.cancel()
        agent = await ok(client, "get_agent", name="dev")
    assert done["status"] == "done" and (tmp_path / "mock_written.txt").exists()
    assert agent.get("always_allowed", []) == []
    assert [(r["decision"], r["answered_by"]) for r in done["response"]["permission_requests"]] == [
        ("allow", "answer_permission")
    ]  # fmt: skip


async def test_with_answerers_person_only_the_person_answers(tmp_path, claude_env, no_leaks):
    env = {**claude_env, "AGENT_MCP_PERMISSION_ANSWERERS": "person"}
    asked: list[str] = []
    async with connect(env, mode="legacy", elicitation_callback=person({"decision": "deny"}, asked=asked)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        run = await ok(client, "start_message", agent="dev", message="MOCK_WRITE")
        pending = await waiting(client, run["run_id"])
        for decision in ("allow", "deny", "allow_always"):
            text = await refused(client, "answer_permission", run_id=run["run_id"],
                                 request_id=pending["request_id"], decision=decision)  # fmt: skip
            assert text.startswith("[policy] this server takes permission answers from a person only")
            assert "AGENT_MCP_PERMISSION_ANSWERERS" in text
        assert (await waiting(client, run["run_id"]))["request_id"] == pending["request_id"]  # nothing changed
        with anyio.fail_after(30):
            done = await ok(client, "get_run", run_id=run["run_id"], wait_s=20)  # now the person is asked
    assert len(asked) == 1 and done["status"] == "done" and not (tmp_path / "mock_written.txt").exists()
    assert [(r["decision"], r["answered_by"]) for r in done["response"]["permission_requests"]] == [
        ("deny", "elicitation")
    ]  # fmt: skip


async def test_an_answer_that_does_not_fit_is_asked_again_then_denied(tmp_path, claude_env, no_leaks):
    """The attack: {"decision": "maybe"} left send_message hanging until the permission timeout (300 s)."""
    asked: list[str] = []
    answers = person({"decision": "maybe"}, {"decision": "allow"}, {"message": "go"}, {"decision": 1}, asked=asked)
    async with connect(claude_env, mode="legacy", elicitation_callback=answers) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        with anyio.fail_after(30):
            allowed = await ok(client, "send_message", agent="dev", message="MOCK_WRITE")
            (tmp_path / "mock_written.txt").unlink()
            denied = await ok(client, "send_message", agent="dev", message="MOCK_WRITE again")
    assert len(asked) == 4 and asked[1].startswith("Your answer could not be read (decision: Input should be")
    assert asked[3].startswith("Your answer could not be read (decision: Field required)")
    assert [(r["decision"], r["answered_by"]) for r in allowed["permission_requests"]] == [("allow", "elicitation")]
    [record] = denied["permission_requests"]
    assert (record["decision"], record["answered_by"]) == ("deny", "elicitation")
    assert "could not be read (decision: Input should be" in record["message"]
    assert not (tmp_path / "mock_written.txt").exists()

"""The terminal's reader on its own (over a pipe, which reads like a terminal that hands over what it
holds), and a turn that drops a tool's long output as it arrives without losing a file edit's."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import anyio
import pytest

from agent_mcp.agents.claude._stream import StreamState
from agent_mcp.processes._output_reader import OutputReader
from agent_mcp.processes.process import AgentProcess, ProcessRegistry, ProcessSpec

pytestmark = pytest.mark.anyio


def nonblocking_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    return read_end, write_end


async def test_the_consumer_wakes_for_a_finished_line_not_for_each_piece():
    read_end, write_end = nonblocking_pipe()
    output = OutputReader(read_end, 1 << 20)
    try:
        os.write(write_end, b'{"type":')
        with anyio.move_on_after(0.3) as waited:
            await output.wait()
        assert waited.cancelled_caught  # half a line is no reason to wake
        os.write(write_end, b'"x"}\n{"ne')
        with anyio.fail_after(5):
            await output.wait()
        assert output.take() == b'{"type":"x"}\n{"ne'
        os.close(write_end)
        write_end = -1
        with anyio.fail_after(5):
            await output.wait()
        output.read_now()
        assert output.take() == b"" and output.ended
    finally:
        output.close()
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


async def test_unread_output_is_bounded_and_the_writer_is_held_up():
    """With nobody taking, the reader stops at its bound: the rest stays with the writer."""
    read_end, write_end = nonblocking_pipe()
    os.set_blocking(write_end, False)
    output = OutputReader(read_end, 256 * 1024)
    written = 0
    try:
        with anyio.fail_after(10):
            while True:  # until the pipe stays full: the reader has stopped
                try:
                    written += os.write(write_end, b"x" * 65536)
                except BlockingIOError:
                    await anyio.sleep(0.2)
                    try:
                        written += os.write(write_end, b"x" * 65536)
                    except BlockingIOError:
                        break
        held = len(output.take())
        assert 256 * 1024 <= held <= 256 * 1024 + 65536 and held < written
        os.close(write_end)
        with anyio.fail_after(10):  # taking made room: the rest comes, then the end
            while not output.ended:
                await output.wait()
                held += len(output.take())
        assert held == written
    finally:
        output.close()
        os.close(read_end)


async def test_reads_from_the_loop_and_from_the_thread_keep_the_bytes_in_order():
    read_end, write_end = nonblocking_pipe()
    output = OutputReader(read_end, 1 << 16)
    sent = b"".join(b"%08d\n" % n for n in range(200_000))

    def writer() -> None:
        view = memoryview(sent)
        while view:
            view = view[os.write(write_end, view[:4096]) :]
        os.close(write_end)

    thread = threading.Thread(target=writer)
    thread.start()
    got = []
    with anyio.fail_after(30):
        while not output.ended:
            output.read_now()  # races the reader thread on purpose
            await output.wait()
            got.append(output.take())
    thread.join()
    output.close()
    os.close(read_end)
    assert b"".join(got) == sent


async def test_closing_ends_the_thread_while_it_waits_for_output():
    read_end, write_end = nonblocking_pipe()
    before = threading.active_count()
    output = OutputReader(read_end, 1 << 20)
    assert threading.active_count() == before + 1
    await anyio.sleep(0.1)  # it is in poll now
    with anyio.fail_after(2):
        output.close()
    assert threading.active_count() == before and output.ended
    os.close(read_end)
    os.close(write_end)


# --- a turn that drops a tool's long output ------------------------------------------------------

SCRIPT = r"""
import json, sys
SID = "0f0e0d0c-0b0a-4909-8807-060504030201"  # the CLI names sessions by UUID
def say(event): sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n"); sys.stdout.flush()
def result_of(tool_id):
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": "y" * 3_000_000}
    return {"type": "user", "message": {"role": "user", "content": [block]}, "session_id": SID}
sys.stdin.readline()
say({"type": "system", "subtype": "init", "session_id": SID, "model": "m"})
say(result_of("toolu_bash"))  # nothing awaits it: dropped unread
say({"type": "assistant", "session_id": SID, "message": {"content": [
    {"type": "tool_use", "id": "toolu_write", "name": "Write", "input": {"file_path": "/w/f.txt"}}]}})
say(result_of("toolu_write"))  # a file edit awaits it: read whole
say({"type": "result", "subtype": "success", "is_error": False, "result": "done", "session_id": SID})
"""


async def test_a_tool_output_nobody_awaits_is_dropped_and_a_file_edit_still_counts(tmp_path: Path):
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    state, lengths = StreamState(), []

    async def on_line(line: bytes) -> bool:
        lengths.append(len(line))
        state.feed(line)
        return state.done

    spec = ProcessSpec(argv=[sys.executable, "-c", SCRIPT], cwd_fd=fd, env=dict(os.environ), max_line_bytes=8 << 20)
    try:
        process = AgentProcess(spec, ProcessRegistry())
        try:
            assert await process.run_turn(b"go\n", on_line, 30, 30, state.droppable)
        finally:
            await process.end()
    finally:
        os.close(fd)
    assert state.files_changed == ["/w/f.txt"] and state.response("a").text == "done"
    assert len([n for n in lengths if n > 3_000_000]) == 1  # only the awaited output reached the turn

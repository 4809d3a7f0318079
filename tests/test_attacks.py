"""Attacks on the server, each written as a hostile caller, repository or agent would make it.

Every test here is marked `attack`; the suite's summary line counts them (conftest.STATS).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from agent_mcp.errors import RunFailed
from agent_mcp.models import AgentOptions
from agent_mcp.process import ProcessRegistry, ProcessSpec, supervise

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


def swap_for_symlink(path: Path, target: Path) -> None:
    """What an agent that can write to its cwd's parent can do between two messages."""
    path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    return (tmp_path / "root").resolve()


async def test_a_cwd_swapped_for_a_symlink_out_of_the_roots_is_refused_at_run_time(
    make_pool, root, claude_env, no_leaks
):
    pool = await make_pool(claude_env, allowed_roots=(root,))
    (root / "proj").mkdir()
    await pool.create("dev", "r", str(root / "proj"), AgentOptions(permission_mode="acceptEdits"))
    assert (await pool.send("dev", "MOCK_WRITE")).is_error is False
    assert (root / "proj" / "mock_written.txt").exists()

    outside = root.parent / "outside"
    swap_for_symlink(root / "proj", outside)
    with pytest.raises(RunFailed) as refused:
        await pool.send("dev", "MOCK_WRITE")
    assert refused.value.kind == "policy"
    assert str(refused.value).startswith("[policy] ")
    assert repr(str(outside)) in str(refused.value) and str(root) in str(refused.value)
    assert not (outside / "mock_written.txt").exists()
    assert pool.live_processes == 0


@pytest.mark.parametrize("option", ["add_dirs", "mcp_config"])
async def test_an_option_path_swapped_out_of_the_roots_is_refused_at_run_time(
    make_pool, root, claude_env, no_leaks, option
):
    pool = await make_pool(claude_env, allowed_roots=(root,))
    outside = root.parent / "outside"
    if option == "add_dirs":
        (root / "extra").mkdir()
        options, path, target = AgentOptions(add_dirs=[str(root / "extra")]), root / "extra", outside
    else:
        config = json.dumps({"mcpServers": {}})
        (root / "mcp.json").write_text(config)
        (outside / "mcp.json").write_text(config)
        options, path, target = AgentOptions(mcp_config=str(root / "mcp.json")), root / "mcp.json", outside / "mcp.json"
    await pool.create("dev", "r", str(root), options)
    assert (await pool.send("dev", "hello")).is_error is False

    swap_for_symlink(path, target)
    with pytest.raises(RunFailed) as refused:
        await pool.send("dev", "hello")
    assert refused.value.kind == "policy" and repr(str(target)) in str(refused.value)


async def test_the_process_starts_in_the_directory_that_was_checked_not_where_its_path_leads_later(tmp_path):
    """The window between check and use: the path is swapped after the directory was opened and
    checked; the child must still start in the checked directory."""
    checked, elsewhere = tmp_path / "checked", tmp_path / "elsewhere"
    checked.mkdir()
    elsewhere.mkdir()
    fd = os.open(checked, os.O_PATH | os.O_DIRECTORY)
    try:
        swap_for_symlink(checked, elsewhere)
        lines: list[bytes] = []

        async def on_line(line: bytes) -> bool:
            lines.append(line)
            return False

        async def on_spawned() -> None:
            pass

        spec = ProcessSpec(
            argv=[sys.executable, "-c", "import os; print(os.getcwd())"],
            cwd_fd=fd,
            env=dict(os.environ),
            stdin=b"",
            timeout_s=20,
            idle_timeout_s=20,
            max_line_bytes=1 << 20,
        )
        await supervise(spec, on_line, ProcessRegistry(), on_spawned)
    finally:
        os.close(fd)
    assert [line.decode().strip() for line in lines if line.strip()] == [str(tmp_path / "checked.moved")]

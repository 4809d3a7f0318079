"""The box's argv (processes/sandbox.py): which mounts, in which order, for which view."""

from __future__ import annotations

import pytest

from agent_mcp.core.models import AgentOptions
from agent_mcp.processes.launcher import Workplace
from agent_mcp.processes.sandbox import FIXED, BoxView, SandboxLauncher, box_argv


def mounts(view: BoxView) -> list[tuple[str, str]]:
    argv = box_argv("bwrap", view, "/w", ["claude", "-p"])
    assert argv[-5:] == ["--chdir", "/w", "--", "claude", "-p"]
    return mounts_of(argv)


def mounts_of(argv: list[str]) -> list[tuple[str, str]]:
    assert argv[: 1 + len(FIXED)] == ["bwrap", *FIXED]
    end = argv.index("--chdir")
    rest, found = argv[1 + len(FIXED) : end], []
    while rest:
        if rest[0] == "--tmpfs":
            found.append(("hide", rest[1]))
            rest = rest[2:]
        elif rest[0] == "--ro-bind-try":
            assert rest[1] == rest[2]
            found.append(("read-only", rest[1]))
            rest = rest[3:]
        else:
            assert rest[0] == "--bind-try" and rest[1] == rest[2]
            found.append(("own", rest[1]))
            rest = rest[3:]
    return found


def test_every_box_has_its_pid_namespace_session_and_end_with_its_parent_and_a_read_only_machine():
    assert {"--unshare-pid", "--new-session", "--die-with-parent"} <= set(FIXED)
    assert "--unshare-net" not in FIXED and "--share-net" not in FIXED  # the CLI needs its API
    assert FIXED[FIXED.index("--ro-bind") : FIXED.index("--ro-bind") + 3] == ("--ro-bind", "/", "/")
    assert mounts(BoxView(own=(), hidden=())) == [("hide", "/tmp")]


def test_the_deeper_path_decides_and_nothing_redundant_is_mounted():
    view = BoxView(
        own=("/tmp/x/mine", "/home/u/.claude", "/home/u/.claude/projects", "/srv/theirs/inner"),
        hidden=("/state", "/state/worktrees", "/srv/theirs", "/tmp/x", "/srv/theirs/inner/deeper"),
    )
    assert mounts(view) == [  # the shallowest first, so what lies under a mount can change it again
        ("hide", "/state"),  # /state/worktrees and /tmp/x: hidden already
        ("hide", "/tmp"),
        ("hide", "/srv/theirs"),
        ("own", "/home/u/.claude"),  # its projects: its own already
        ("own", "/srv/theirs/inner"),
        ("own", "/tmp/x/mine"),
        ("hide", "/srv/theirs/inner/deeper"),
    ]


def test_own_wins_where_a_path_is_both_and_the_message_stays_out_of_the_options():
    assert mounts(BoxView(own=("/same",), hidden=("/same",))) == [("own", "/same"), ("hide", "/tmp")]
    argv = box_argv("bwrap", BoxView(own=("/w",), hidden=()), "/w", ["claude", "--bind", "/", "/"])
    assert argv[argv.index("--") + 1 :] == ["claude", "--bind", "/", "/"]  # the CLI's argv after bwrap's own


def test_a_git_directory_s_hooks_and_config_stay_read_only_inside_an_own_directory():
    """Written from inside, they would run code outside the box the next time anyone runs git there."""
    view = BoxView(
        own=("/w", "/repo/.git"), hidden=(), read_only=("/w/.git/hooks", "/repo/.git/hooks", "/x/.git/config")
    )
    assert mounts(view) == [
        ("hide", "/tmp"),
        ("own", "/w"),
        ("own", "/repo/.git"),
        ("read-only", "/repo/.git/hooks"),
        ("read-only", "/w/.git/hooks"),
    ]  # fmt: skip  (/x: read-only already)


class _Recording:
    """An inner launcher that only records the argv it is asked to start."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self.argv: list[str] = []

    async def start(self, agent, argv, workplace, env):  # type: ignore[no-untyped-def]
        self.argv = argv
        return None


@pytest.mark.anyio
async def test_a_cli_started_from_under_tmp_stays_visible_read_only_and_hidden_dirs_stay_hidden():
    """A checkout under /tmp (a CI's): the box's private /tmp would hide the CLI and the interpreter on its
    PATH; their top directory under /tmp is bound back read-only, and what is hidden inside stays hidden."""
    inner = _Recording(host=None)
    view = BoxView(own=("/tmp/ci/work",), hidden=("/tmp/ci/state",))
    launcher = SandboxLauncher(inner, "bwrap", view)  # type: ignore[arg-type]
    workplace = Workplace(cwd_fd=-1, cwd="/tmp/ci/work", options=AgentOptions())
    await launcher.start("a", ["/tmp/ci/repo/cli.py", "-p"], workplace, {"PATH": "/tmp/venv/bin:/usr/bin"})
    inner_view = mounts_of(inner.argv)
    assert ("read-only", "/tmp/ci") in inner_view and ("read-only", "/tmp/venv") in inner_view
    assert inner_view.index(("hide", "/tmp/ci/state")) > inner_view.index(("read-only", "/tmp/ci"))
    remote = _Recording(host="h1")
    await SandboxLauncher(remote, "bwrap", view).start("a", ["claude"], workplace, {"PATH": "/tmp/venv/bin"})  # type: ignore[arg-type]
    assert ("read-only", "/tmp/venv") not in mounts_of(remote.argv)  # a host's PATH is not this one's

"""--hosts as read at start-up (every alias ssh could misread refused) and which host `auto` picks."""

from __future__ import annotations

import shlex

import pytest

from agent_mcp.core.config import load_settings
from agent_mcp.core.errors import InvalidInput, PolicyRefusal
from agent_mcp.core.host_specs import Host, choose, parse_hosts
from agent_mcp.hosts.ssh import SshLinks, socket_dir


def test_hosts_are_aliases_or_logins_each_with_its_cap():
    hosts = parse_hosts(" build1=4, gpu-box=2,me@10.0.0.5:2222=1,")
    assert hosts == (Host("build1", 4), Host("gpu-box", 2), Host("me@10.0.0.5:2222", 1))
    assert [h.destination for h in hosts] == ["build1", "gpu-box", "ssh://me@10.0.0.5:2222"]
    assert parse_hosts("") == ()


@pytest.mark.attack
@pytest.mark.parametrize(
    "text",
    ["-oProxyCommand=touch /tmp/x=1", "h1 -v=1", "h;id=1", "$(id)=1", "h1", "h1=0", "h1=-1", "h1=x", "auto=1",
     "h1=1,H1=2", "h:99999=1", "@h=1", "h\nx=1", "a@b@c=1", "ssh://h=1"],
)  # fmt: skip
def test_an_alias_ssh_could_misread_stops_start_up(text):
    with pytest.raises(ValueError):
        parse_hosts(text)
    with pytest.raises(ValueError, match="AGENT_MCP_HOSTS"):
        load_settings({}, {"AGENT_MCP_HOSTS": text})


def test_an_ssh_config_that_is_not_a_file_stops_start_up(tmp_path):
    for bad in (str(tmp_path / "missing"), str(tmp_path), "relative/config"):
        with pytest.raises(ValueError, match="AGENT_MCP_SSH_CONFIG"):
            load_settings({}, {"AGENT_MCP_SSH_CONFIG": bad})


def test_auto_picks_the_most_free_slots_then_the_fewest_agents_then_the_first():
    hosts = (Host("a", 2), Host("b", 4), Host("c", 4))
    assert choose(hosts, "auto", {}, {}).alias == "b"
    assert choose(hosts, "auto", {"b": 3}, {}).alias == "c"
    assert choose(hosts, "auto", {}, {"b": 5, "c": 1}).alias == "c"
    assert choose(hosts, "auto", {"b": 4, "c": 4}, {}).alias == "a"
    assert choose(hosts, "B", {}, {}).alias == "b"  # a listed name, its case aside
    with pytest.raises(PolicyRefusal, match="lists a, b, c"):
        choose(hosts, "d", {}, {})
    with pytest.raises(InvalidInput, match="lists none"):
        choose((), "auto", {}, {})


@pytest.mark.attack
def test_the_remote_command_is_shlex_join_and_the_destination_follows_a_double_dash(tmp_path):
    links = SshLinks(tmp_path, None, 5)
    hostile = ["claude", "--append-system-prompt=x'; rm -rf ~; echo '", "$(id)", "`id`", "a\nb", "-oProxyCommand=x"]
    argv = links.command(Host("h1", 1), hostile)
    assert argv[-3:-1] == ["--", "h1"]
    assert argv[-1] == "exec " + shlex.join(hostile)
    assert shlex.split(argv[-1]) == ["exec", *hostile]
    assert "-a" in argv and "ClearAllForwardings=yes" in argv and "BatchMode=yes" in argv


def test_sockets_go_to_a_private_short_directory_when_the_state_dir_will_not_do(tmp_path):
    assert socket_dir(tmp_path) == tmp_path / "ssh"
    for awkward in ("a" * 80, "with space", "per%cent"):
        short = socket_dir(tmp_path / awkward)
        assert str(short).startswith("/tmp/agent-mcp-") and short.stat().st_mode & 0o777 == 0o700
        assert socket_dir(tmp_path / awkward) == short  # the same one each time

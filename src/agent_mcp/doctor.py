"""`agent-mcp doctor`: everything a run depends on, checked up front, each problem with its fix.

It spends no tokens: each CLI is only asked for its version (and codex for `login status`), and a
login is judged from what the CLI itself would read (credential variables, its credentials file).
codex and gemini are checked too; left at their default settings, a missing one is no problem (only
agents created with that cli need it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio

from agent_mcp.core.config import Settings
from agent_mcp.core.errors import HostUnreachable, box_unavailable
from agent_mcp.core.host_specs import Host
from agent_mcp.hosts.boxes import bwrap_problem
from agent_mcp.hosts.machines import RemoteMachine
from agent_mcp.hosts.ssh import SshLinks
from agent_mcp.hosts.worktree import leftover_worktrees
from agent_mcp.store.database import Store
from agent_mcp.store.file import StoreUnusable
from agent_mcp.store.owners import owner_of


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    fix: str | None = None
    """Set when the check found a problem: one line that says what to do."""
    known: bool = True


def check_cli(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    return check_executable("claude CLI", settings.claude_bin, "AGENT_MCP_CLAUDE_BIN / --claude-bin",
                            "npm install -g @anthropic-ai/claude-code", env)  # fmt: skip


def check_executable(
    name: str, executable: str, setting: str, install: str, env: Mapping[str, str], needed: bool = True
) -> list[Check]:
    """The CLI found and answering `--version`. One only some agents use (`needed` False: its setting
    left at its default) is no problem when missing, only unknown."""
    path = shutil.which(executable, path=env.get("PATH"))
    if path is None:
        fix = f"install it with `{install}`, or set {setting} to its path"
        if not needed:
            return [Check(name, f"{executable!r} not found (only agents created with its cli need it): {fix}",
                          known=False)]  # fmt: skip
        return [Check(name, f"{executable!r} not found", fix)]
    done = _run([path, "--version"], env)
    if isinstance(done, str):
        return [Check(name, f"{path}: {done}", f"check that {path} runs: `{path} --version`")]
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        detail = output[-1] if output else f"exit code {done.returncode}"
        return [Check(name, f"{path}: {detail}", f"reinstall the CLI; `{path} --version` must work")]
    return [Check(name, f"{path} ({done.stdout.strip()})")]


def _run(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str] | str:
    """The command's outcome, or why it did not run (no tokens spent: --version, login status)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=dict(env), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)


def check_other_cli(
    name: str,
    executable: str,
    default: str,
    setting: str,
    install: str,
    env: Mapping[str, str],
    login: Callable[[str, Mapping[str, str]], Check],
) -> list[Check]:
    """A CLI only some agents use (codex, gemini): found and answering, then its login (`login(path, env)`)."""
    checks = check_executable(f"{name} CLI", executable, setting, install, env, needed=executable != default)
    if checks[0].fix or not checks[0].known:
        return checks
    return [*checks, login(shutil.which(executable, path=env.get("PATH")) or executable, env)]


def codex_login(path: str, env: Mapping[str, str]) -> Check:
    """CODEX_API_KEY (which `codex exec` reads), else codex's own `login status` (exit 0: a stored login)."""
    if env.get("CODEX_API_KEY"):
        return Check("codex login", "yes (CODEX_API_KEY is set)")
    done = _run([path, "login", "status"], env)
    if isinstance(done, str):
        return Check("codex login", f"unknown: `{path} login status` did not run ({done})", known=False)
    # It answers on stderr (`Not logged in`; `API key configured - sk-…***…`), after any warning of its own.
    said = [
        line for line in (done.stdout + done.stderr).splitlines() if line.strip() and not line.startswith("WARNING")
    ]
    if done.returncode != 0:
        return Check("codex login", f"no ({said[-1] if said else 'not logged in'})", "run `codex login` (or `codex "
                     "login --with-api-key`), or set CODEX_API_KEY")  # fmt: skip
    return Check("codex login", f"yes ({said[0] if said else 'logged in'})")


GEMINI_AUTH = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA")
"""What gemini reads for its login besides ~/.gemini/settings.json (it names them when it has none)."""


def gemini_login(path: str, env: Mapping[str, str]) -> Check:
    for variable in GEMINI_AUTH:
        if env.get(variable):
            return Check("gemini login", f"yes ({variable} is set)")
    settings_file = Path(env.get("HOME") or Path.home()) / ".gemini" / "settings.json"
    if settings_file.is_file() and '"selectedType"' in settings_file.read_text(errors="replace"):
        return Check("gemini login", f"yes ({settings_file})")
    return Check("gemini login", f"no: no auth in {settings_file} and none of {', '.join(GEMINI_AUTH)}",
                 "run `gemini` once to log in, or set GEMINI_API_KEY")  # fmt: skip


def check_kinds(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    return [
        *check_other_cli("codex", settings.codex_bin, Settings.codex_bin, "AGENT_MCP_CODEX_BIN / --codex-bin",
                         "npm install -g @openai/codex", env, codex_login),
        *check_other_cli("gemini", settings.gemini_bin, Settings.gemini_bin, "AGENT_MCP_GEMINI_BIN / --gemini-bin",
                         "npm install -g @google/gemini-cli", env, gemini_login),
    ]  # fmt: skip


def check_login(env: Mapping[str, str]) -> list[Check]:
    for variable in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        if env.get(variable):
            return [Check("logged in", f"yes ({variable} is set)")]
    config_dir = Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME") or Path.home()) / ".claude")
    credentials = config_dir / ".credentials.json"
    if credentials.is_file():
        return [Check("logged in", f"yes ({credentials})")]
    return [
        Check(
            "logged in",
            "unknown: no ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, and no credentials file "
            f"({credentials}); on macOS the login lives in the keychain. Run `claude` once to log in",
            known=False,
        )
    ]


def check_store(settings: Settings) -> list[Check]:
    try:
        store = Store(settings.state_dir, owner_of(os.getpid()))
    except StoreUnusable as exc:
        return [Check("store", exc.problem, exc.fix)]
    except Exception as exc:  # any other failure here is the finding: report it, with the fix
        return [
            Check(
                "state directory",
                f"{settings.state_dir}: {exc}",
                "make the directory writable, or point AGENT_MCP_STATE_DIR / --state-dir elsewhere",
            )
        ]
    try:
        store.file.check(full=True)
        return [
            Check("state directory", str(settings.state_dir)),
            Check("store", f"{store.file.path} (schema version {store.file.version}, {store.agents.count()} agents)"),
            *check_leftovers(settings.state_dir / "worktrees", {agent.name.casefold() for agent in store.agents.all()}),
        ]
    except StoreUnusable as exc:
        return [Check("store", exc.problem, exc.fix)]
    finally:
        store.close()


def check_leftovers(worktrees_dir: Path, agent_names: set[str]) -> list[Check]:
    """A creation of a worktree agent cut short leaves a checkout (and branch) no agent owns."""
    leftovers = leftover_worktrees(worktrees_dir, agent_names)
    if not leftovers:
        return []
    names = ", ".join(path.name for path in leftovers)
    return [
        Check(
            "leftover worktrees",
            f"{len(leftovers)} without an agent in {worktrees_dir}: {names}",
            "create_agent with that name (worktree=true) clears its leftovers, or remove each with "
            "`git worktree remove --force PATH` in its repository",
        )
    ]


def check_policy(settings: Settings) -> list[Check]:
    checks = [
        Check("max concurrent", str(settings.max_concurrent)),
        Check("max agents", str(settings.max_agents)),
        Check("timeout", f"{settings.timeout_s:g} s (idle {settings.idle_timeout_s:g} s)"),
        Check("size limits", f"message {settings.max_message_bytes} B, role {settings.max_role_bytes} B"),
    ]
    if not settings.allowed_roots:
        return [*checks, Check("allowed roots", "unrestricted")]
    missing = [str(root) for root in settings.allowed_roots if not root.is_dir()]
    roots = os.pathsep.join(str(root) for root in settings.allowed_roots)
    if missing:
        fix = f"create {', '.join(missing)} or remove it from AGENT_MCP_ALLOWED_ROOTS / --allowed-roots"
        return [*checks, Check("allowed roots", f"{roots} ({', '.join(missing)} missing)", fix)]
    return [*checks, Check("allowed roots", roots)]


_HOST_PROBE = """
command -v python3 >/dev/null 2>&1 && echo "python3: yes" || echo "python3: missing"
version=$("$1" --version 2>/dev/null) && echo "claude: $version" || echo "claude: missing"
credentials="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/.credentials.json"
if [ -n "$ANTHROPIC_API_KEY" ]; then echo "login: ANTHROPIC_API_KEY is set"
elif [ -n "$CLAUDE_CODE_OAUTH_TOKEN" ]; then echo "login: CLAUDE_CODE_OAUTH_TOKEN is set"
elif [ -f "$credentials" ]; then echo "login: $credentials"
else echo "login: none"; fi
"""
"""What a run on the host needs, as its login sees it (the same environment a run gets)."""


def check_hosts(settings: Settings) -> list[Check]:
    """Each listed host: reached without a prompt (through a master connection of its own, so
    ssh's own words come back), claude's version there, python3 there, a login there."""
    return anyio.run(_check_hosts, settings) if settings.hosts else []


async def _check_hosts(settings: Settings) -> list[Check]:
    links = SshLinks(settings.state_dir, settings.ssh_config, settings.connect_timeout_s)
    checks = []
    try:
        for host in settings.hosts:
            checks += await _check_host(links, host, settings.remote_claude)
    finally:
        links.close()
    return checks


async def _check_host(links: SshLinks, host: Host, claude: str) -> list[Check]:
    name = f"host {host.alias}"
    try:
        done = await links.run(host, ["sh", "-c", _HOST_PROBE, "sh", claude], 60)
    except HostUnreachable as exc:
        fix = (f"make `ssh {host.alias}` work without a prompt: a key in your ssh agent (ssh-add), the host in "
               "~/.ssh/config and in known_hosts")  # fmt: skip
        return [Check(name, f"unreachable: {exc}", fix)]
    found = dict(line.split(": ", 1) for line in done.out.splitlines() if ": " in line)
    checks = [Check(name, f"reachable (cap {host.cap})")]
    if found.get("python3") != "yes":
        checks.append(
            Check(f"{name} python3", "missing", f"install python3 on {host.alias}: runs start claude with it")
        )
    version = found.get("claude", "missing")
    if version == "missing":
        fix = (f"install it on {host.alias} (npm install -g @anthropic-ai/claude-code), or set "
               "AGENT_MCP_REMOTE_CLAUDE / --remote-claude to its path there")  # fmt: skip
        checks.append(Check(f"{name} claude", f"{claude!r} not found on the login's PATH", fix))
    else:
        checks.append(Check(f"{name} claude", version))
    login = found.get("login", "none")
    if login == "none":
        checks.append(Check(f"{name} logged in", f"unknown: no credential variable or file; run `claude` once on "
                            f"{host.alias} to log in", known=False))  # fmt: skip
    else:
        checks.append(Check(f"{name} logged in", f"yes ({login})"))
    return checks


def check_sandbox(settings: Settings) -> list[Check]:
    """With --sandbox: a box made here and on each host, as a sandboxed agent's run makes one."""
    return anyio.run(_check_sandbox, settings) if settings.sandbox else []


async def _check_sandbox(settings: Settings) -> list[Check]:
    links = SshLinks(settings.state_dir, settings.ssh_config, settings.connect_timeout_s)
    machines = [None, *(RemoteMachine(host, links, 60) for host in settings.hosts)]
    checks = []
    try:
        for machine in machines:
            where = "on the server's machine" if machine is None else f"on host {machine.host.alias!r}"
            try:
                problem = await bwrap_problem(settings.bwrap_bin, machine)
            except HostUnreachable as exc:
                problem = str(exc)
            name = "sandbox" if machine is None else f"host {machine.host.alias} sandbox"
            if problem is None:
                checks.append(Check(name, f"bubblewrap ({settings.bwrap_bin}) makes a box"))
            else:
                checks.append(Check(name, problem, box_unavailable(settings.bwrap_bin, where)))
    finally:
        links.close()
    return checks


def run_doctor(settings: Settings, env: Mapping[str, str], out: TextIO) -> int:
    checks = [*check_cli(settings, env), *check_login(env), *check_kinds(settings, env), *check_store(settings),
              *check_policy(settings), *check_hosts(settings), *check_sandbox(settings)]  # fmt: skip
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "PROBLEM" if check.fix else "ok" if check.known else "unknown"
        out.write(f"{mark:7}  {check.name:{width}}  {check.value}\n")
        if check.fix:
            out.write(f"{'':7}  {'':{width}}  fix: {check.fix}\n")
    problems = sum(1 for check in checks if check.fix)
    out.write("no problems found\n" if not problems else f"{problems} problem(s) found\n")
    return 1 if problems else 0

"""Real SSH hosts for the tests: OpenSSH's sshd on 127.0.0.1, one per "host", each on a free port
with its own host key, home directory and PATH (whose `claude` and `codex` are the test doubles), reached
through a test ssh_config that names them by alias. Every process of a host's sessions carries
TEST_SSH_HOST=<alias>, an id of its own, and the variables it was given (the tests give their
process marker, so the leak check sees what runs "there"). The benchmark uses it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DOUBLE = Path(__file__).parent / "fake_claude.py"
CODEX_DOUBLE = Path(__file__).parent / "fake_codex.py"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
HOST_MARK = "TEST_SSH_HOST"
HOST_ID = "TEST_SSH_HOST_ID"
"""The host's alias and this set of hosts' own id: what tells its processes from another test run's."""


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live_processes() -> Iterator[tuple[int, list[str], Path]]:
    """Each process's pid, the fields of its stat after the command (state first, then ppid), and
    its /proc entry; one that is gone by the time it is read is left out."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split(), entry
            except OSError:
                continue


@dataclass
class SshHost:
    alias: str
    port: int
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    host_id: str

    def processes(self) -> list[int]:
        """Processes running "on" this host for the test: those with its marker."""
        found = []
        for pid, fields, entry in _live_processes():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"{HOST_ID}={self.host_id}".encode() in environ and fields[0] != "Z":
                found.append(pid)
        return found

    def connections(self) -> list[int]:
        """The sshd processes serving a connection: the listener's children."""
        return [pid for pid, fields, _ in _live_processes() if int(fields[1]) == self.process.pid]

    def cut(self) -> None:
        """Drop every connection to this host, as a network failure would (the sshd of each dies)."""
        for pid in self.connections():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class SshHosts:
    """Hosts started on demand in `root`; `config` is the ssh_config that names them."""

    def __init__(self, root: Path, session_env: dict[str, str]) -> None:
        self.root = root
        self.session_env = session_env
        self.id = uuid.uuid4().hex
        self.config = root / "ssh_config"
        self.hosts: dict[str, SshHost] = {}
        root.mkdir(parents=True, exist_ok=True)
        self.key = root / "id_test"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        self.config.write_text("")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory

    def start(
        self, alias: str, extra_env: dict[str, str] | None = None, max_sessions: int = 100, claude: Path | None = None
    ) -> SshHost:
        """A host whose `claude` is the double (or the program given), and whose `codex` is the codex double."""
        where = self.root / alias
        home, bin_dir = where / "home", where / "bin"
        home.mkdir(parents=True)
        bin_dir.mkdir()
        program = f"{sys.executable} {DOUBLE}" if claude is None else str(claude)
        wrapper = bin_dir / "claude"
        wrapper.write_text(f'#!/bin/sh\nexec {program} "$@"\n')
        wrapper.chmod(0o755)
        (bin_dir / "codex").write_text(f'#!/bin/sh\nexec {sys.executable} {CODEX_DOUBLE} "$@"\n')
        (bin_dir / "codex").chmod(0o755)
        host_key = where / "host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        authorized = where / "authorized_keys"
        authorized.write_text(Path(f"{self.key}.pub").read_text())
        port = free_port()
        env = {
            "HOME": str(home),
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "ANTHROPIC_API_KEY": "sk-ant-api03-dummy",
            "CODEX_API_KEY": "sk-test-dummy",
            **self.session_env,
            HOST_MARK: alias,
            HOST_ID: f"{self.id}-{alias}",
            **(extra_env or {}),
        }
        settings = [
            f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized}",
            f"PidFile {where / 'sshd.pid'}", "StrictModes no", "UsePAM no", "PermitRootLogin yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", f"MaxSessions {max_sessions}",
            "MaxStartups 100",
            "SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()),
        ]  # fmt: skip
        (where / "sshd_config").write_text("\n".join(settings) + "\n")
        log = where / "sshd.log"
        process = subprocess.Popen([SSHD, "-D", "-f", str(where / "sshd_config"), "-E", str(log)])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {log.read_text() if log.exists() else ''}") from None
                time.sleep(0.05)
        public = Path(f"{host_key}.pub").read_text().split()
        with open(self.root / "known_hosts", "a") as known:
            known.write(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        with open(self.config, "a") as config:
            config.write(
                f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {os.environ.get('USER') or _user()}\n"
                f"  IdentityFile {self.key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {self.root / 'known_hosts'}\n"
                "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
            )
        host = SshHost(alias, port, home, process, log, f"{self.id}-{alias}")
        self.hosts[alias] = host
        return host

    def login(self, alias: str) -> str:
        """The host as user@127.0.0.1:port (no alias): reached with the identity and known hosts the
        config gives every address."""
        with open(self.config, "a") as config:
            config.write(
                f"Host 127.0.0.1\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {self.root / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            )
        return f"{_user()}@127.0.0.1:{self.hosts[alias].port}"

    def add_unreachable(self, alias: str) -> int:
        """An alias whose port nothing listens on."""
        port = free_port()
        with open(self.config, "a") as config:
            config.write(f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {self.key}\n")
        return port

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop()


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name

"""Starts a real `aegis fake-api` + `aegis serve` (with real Claude Code) for the live tests."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

API_KEY = "sk-ant-test-key-000000000000"


def _read_listening(proc: subprocess.Popen[str], what: str, timeout: float) -> str:
    """Waits for the one `listening HOST:PORT` stdout line and returns HOST:PORT."""
    q: "queue.Queue[str]" = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line)
        q.put("")

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise RuntimeError(f"{what}: no 'listening' line within {timeout}s") from None
        if line == "":
            raise RuntimeError(f"{what} exited with {proc.wait()} before listening")
        if line.startswith("listening "):
            return line.split()[1].strip()


class Stack:
    """fake-api + aegis serve on private temp dirs and a private tmux socket."""

    def __init__(self, aegis_bin: str, claude_bin: str, tmp: Path, server_args: list[str] | None = None) -> None:
        self.server_args = list(server_args or [])
        self.aegis_bin = aegis_bin
        self.claude_bin = claude_bin
        self.tmp = tmp
        self.socket = f"aegis-py-{uuid.uuid4().hex[:10]}"
        self.token = uuid.uuid4().hex  # the server requires it; clients send it as a bearer token
        self.state_dir = tmp / "state"
        self.home = tmp / "home"
        self.config_dir = tmp / "claude-config"
        self.work_dir = tmp / "work"
        for d in (self.state_dir, self.home, self.config_dir, self.work_dir):
            d.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "README.md").write_text("A scratch repo for Aegis client tests.\n")
        (self.config_dir / ".claude.json").write_text(
            json.dumps(
                {
                    "hasCompletedOnboarding": True,
                    "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
                    "projects": {str(self.work_dir): {"hasTrustDialogAccepted": True}},
                }
            )
        )
        self.fake: subprocess.Popen[str] | None = None
        self.server: subprocess.Popen[str] | None = None
        self.address = ""
        self.server_starts = 0

    def start(self) -> None:
        log = open(self.tmp / "fake-api.log", "a")
        self.fake = subprocess.Popen(
            [self.aegis_bin, "fake-api", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
        self.fake_address = _read_listening(self.fake, "aegis fake-api", 30)
        self.start_server("127.0.0.1:0")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            CLAUDE_CONFIG_DIR=str(self.config_dir),
            ANTHROPIC_BASE_URL=f"http://{self.fake_address}",
            ANTHROPIC_API_KEY=API_KEY,
            DISABLE_TELEMETRY="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            CLAUDE_CODE_MAX_RETRIES="1",
        )
        env.pop("TMUX", None)
        env.pop("AEGIS_TOKEN", None)
        return env

    def start_server(self, listen: str) -> None:
        self.server_starts += 1
        log = open(self.tmp / f"serve-{self.server_starts}.log", "a")
        last_err: Exception | None = None
        for _ in range(20):  # the port of a killed server can take a moment to be free again
            self.server = subprocess.Popen(
                [
                    self.aegis_bin, "serve",
                    "--listen", listen,
                    "--state-dir", str(self.state_dir),
                    "--tmux-socket", self.socket,
                    "--claude-bin", self.claude_bin,
                    "--claude-config-dir", str(self.config_dir),
                    "--token", self.token,
                    *self.server_args,
                ],
                stdout=subprocess.PIPE, stderr=log, text=True, env=self.env(),
            )
            try:
                self.address = _read_listening(self.server, "aegis serve", 60)
                return
            except RuntimeError as err:
                last_err = err
                if self.server.poll() is None:
                    raise
                time.sleep(0.5)
        raise RuntimeError(f"aegis serve did not start: {last_err}")

    def kill_server(self, sig: int = signal.SIGKILL) -> None:
        assert self.server is not None
        self.server.send_signal(sig)
        self.server.wait(timeout=30)

    def restart_server(self) -> None:
        """Kills the server and starts a new one on the same address, state dir and tmux socket."""
        self.kill_server()
        self.start_server(self.address)

    def logs(self) -> str:
        out = []
        for p in sorted(self.tmp.glob("*.log")):
            out.append(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def close(self) -> None:
        for proc in (self.server, self.fake):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        # tmux leaves the socket file of a server that was killed; remove ours.
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)

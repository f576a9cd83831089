"""A real `redis-server` for tests and benchmarks: a free 127.0.0.1 port, no persistence.

Fixtures: `redis_url` (one server for the session) and `redis_server` (a server of its own
that a test may stop and start again on the same port). Without redis-server the tests that
need it skip locally and fail under CI (`CI` set), so a CI without Redis never passes quietly.
Set `REDIS_SERVER` to use another binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "find_redis_server", "redis_server", "redis_url"]


def find_redis_server() -> str | None:
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; `stop()` terminates it, `start()` brings it back, empty."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="mimo-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        log = Path(self._dir.name) / "redis.log"
        self._proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                "--logfile", str(log), "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}:\n{text}")
            if self._answers():
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout} s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL) and wait until the port is free."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def _binary() -> str:
    binary = find_redis_server()
    if binary is None:
        message = "redis-server is not installed (set REDIS_SERVER or install redis)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run the Redis tests", pytrace=False)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a redis-server shared by the session's tests (use a key prefix per test)."""
    server = RedisServer(_binary()).start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own, to stop and start again."""
    server = RedisServer(_binary()).start()
    try:
        yield server
    finally:
        server.close()

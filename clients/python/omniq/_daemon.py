"""Starting and stopping a private ``omniqd serve`` child."""

from __future__ import annotations

import atexit
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from .errors import BinaryNotFound, DaemonError

_live: "set[Daemon]" = set()  # strong: a daemon lives until stopped
_live_lock = threading.Lock()


def find_binary() -> str:
    """$OMNIQ_BIN, else omniqd on PATH; BinaryNotFound naming both."""
    env = os.environ.get("OMNIQ_BIN")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise BinaryNotFound(f"OMNIQ_BIN={env!r} is not an executable file; set OMNIQ_BIN to the omniqd binary "
                             "or unset it to use omniqd from PATH")
    found = shutil.which("omniqd")
    if found:
        return found
    raise BinaryNotFound("omniqd not found: OMNIQ_BIN is not set and no omniqd is on PATH "
                         "(build it with `go build -o omniqd ./cmd/omniqd`, then set OMNIQ_BIN or add it to PATH)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


try:  # resolved here: between fork and exec the child should only call it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


def _death_signal() -> None:
    # Runs in the child between fork and exec (Linux): SIGTERM the daemon
    # when the thread that started it dies, so a killed parent leaves no
    # orphan.
    _prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class Daemon:
    """One ``omniqd serve --store URL`` on a free loopback port."""

    def __init__(self, store: str, *, binary: str | None = None, args: list[str] | None = None,
                 token: str | None = None, ready_timeout: float = 60.0):
        self.store = store
        self.token = token
        self.binary = binary or find_binary()
        self._stderr = tempfile.TemporaryFile()
        last = ""
        for _ in range(5):  # the free port can be taken before omniqd binds it
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            cmd = [self.binary, "serve", "--store", store, "--listen", f"127.0.0.1:{self.port}",
                   "--log-level", "warn", *(args or [])]
            env = dict(os.environ)
            env.pop("OMNIQ_TOKEN", None)
            if token:
                env["OMNIQ_TOKEN"] = token  # not a flag: flags show in ps
            # PR_SET_PDEATHSIG follows the thread that forks: set it only
            # from the main thread, which lives as long as the process.
            pre = _death_signal if (_prctl is not None and
                                    threading.current_thread() is threading.main_thread()) else None
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, env=env, preexec_fn=pre, close_fds=True)
            with _live_lock:
                _live.add(self)
            try:
                self._wait_ready(ready_timeout)
                return
            except DaemonError as e:
                last = str(e)
                self.stop()
                if "address already in use" not in last:
                    self.close()
                    raise
        self.close()
        raise DaemonError(last)

    def _log_tail(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            code = self.proc.poll()
            if code is not None:
                raise DaemonError(f"omniqd serve --store {self._redacted()} exited with status {code}: "
                                  f"{self._log_tail() or 'no output'}")
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                c.request("GET", "/readyz",
                          headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
                r = c.getresponse()
                body = r.read()
                if r.status == 200 and json.loads(body).get("status") == "ready":
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            finally:
                c.close()
            if time.monotonic() > deadline:
                raise DaemonError(f"omniqd serve --store {self._redacted()} not ready after {timeout:.0f}s: "
                                  f"{self._log_tail() or 'no output'}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _redacted(self) -> str:
        s = self.store
        if "@" in s and "://" in s:
            scheme, rest = s.split("://", 1)
            user, _, host = rest.rpartition("@")
            if ":" in user:
                s = f"{scheme}://{user.split(':', 1)[0]}:xxxxx@{host}"
        return s

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait (SIGKILL after timeout)."""
        p = getattr(self, "proc", None)
        if p is None:
            return
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except OSError:
                pass
        with _live_lock:
            _live.discard(self)

    def close(self) -> None:
        self.stop()
        try:
            self._stderr.close()
        except OSError:
            pass


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        live = list(_live)
    for d in live:
        d.stop()

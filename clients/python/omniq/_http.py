"""A small HTTP/JSON client of omniqd (http.client, keep-alive pool)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from typing import Any

from .errors import ConnectionFailed, error_for


class HTTPClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 90.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"omniqd URL must be http://host:port or https://host:port, not {url!r}")
        self.url = url.rstrip("/")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._busy: set[http.client.HTTPConnection] = set()
        self._aborted: set[http.client.HTTPConnection] = set()  # busy ones abort() broke off
        self._lock = threading.Lock()
        self._closed = False

    def _conn(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                c = self._idle.pop()
                self._busy.add(c)
                return c, True
        if self._https:
            c: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context())
        else:
            c = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        with self._lock:
            self._busy.add(c)
        return c, False

    def _release(self, c: http.client.HTTPConnection, reuse: bool) -> None:
        with self._lock:
            self._busy.discard(c)
            if c in self._aborted:
                self._aborted.discard(c)
                reuse = False
            if reuse and not self._closed and len(self._idle) < 16:
                self._idle.append(c)
                return
        c.close()

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                ok_empty: tuple[int, ...] = ()) -> tuple[int, Any]:
        """Send a request; return (status, decoded JSON or None). Error
        answers raise the matching APIError."""
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        for try_ in range(2):
            c, reused = self._conn()
            try:
                if c.sock is None:
                    c.connect()
                with self._lock:
                    if c in self._aborted:  # abort() came while it connected
                        raise ConnectionAbortedError("request aborted")
                try:
                    c.request(method, target, body=data, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    # The server may have answered before reading the whole
                    # body (413 over --max-body) and closed: read that answer.
                    # A kept-alive connection it had closed raises
                    # RemoteDisconnected here.
                    pass
                resp = c.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                with self._lock:
                    aborted = c in self._aborted
                self._release(c, False)
                if reused and try_ == 0 and not aborted:
                    continue  # a kept-alive connection the server had closed: nothing was read
                raise ConnectionFailed(f"omniqd at {self.url}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                self._release(c, False)
                raise ConnectionFailed(f"omniqd at {self.url}: {e}") from e
            self._release(c, not resp.will_close)
            break
        status = resp.status
        if status >= 400:
            code, message, reason = "", raw.decode("utf-8", "replace")[:1024], ""
            try:
                e = json.loads(raw)["error"]
                code, message, reason = e.get("code", ""), e.get("message", ""), e.get("reason", "")
            except (ValueError, KeyError, TypeError):
                pass
            try:
                retry_after = float(resp.getheader("Retry-After") or 0)
            except ValueError:
                retry_after = 0.0
            raise error_for(code or f"http_{status}", message, reason, status, retry_after)
        if not raw:
            return status, None
        return status, json.loads(raw)

    def abort(self) -> None:
        """Break off every request in flight (their callers get
        ConnectionFailed)."""
        with self._lock:
            for c in self._busy:
                self._aborted.add(c)  # not sent again, not pooled
                sock = c.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

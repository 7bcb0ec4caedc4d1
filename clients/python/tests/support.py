"""Shared by the tests: the omniqd binary (built once per run unless
OMNIQ_BIN is set), the Go helper, and a queue per backend."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)                  # clients/python
REPO = os.path.dirname(os.path.dirname(PYROOT))  # the Go module
if PYROOT not in sys.path:
    sys.path.insert(0, PYROOT)

_tmp = tempfile.mkdtemp(prefix="omniq-pytest-")
atexit.register(shutil.rmtree, _tmp, True)
_built: dict[str, str] = {}


def _go_build(name: str, pkg: str) -> str:
    if name not in _built:
        out = os.path.join(_tmp, name)
        go = os.environ.get("GO", "go")
        r = subprocess.run([go, "build", "-o", out, pkg], cwd=REPO, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"go build {pkg} failed:\n{r.stderr}")
        _built[name] = out
    return _built[name]


def omniqd() -> str:
    """$OMNIQ_BIN, or omniqd built from this repository; also exported as
    OMNIQ_BIN so that the package finds it."""
    b = os.environ.get("OMNIQ_BIN") or _go_build("omniqd", "./cmd/omniqd")
    os.environ["OMNIQ_BIN"] = b
    return b


def gohelper() -> str:
    return _go_build("gohelper", "./clients/python/tests/gohelper")


def tmpdir() -> str:
    return tempfile.mkdtemp(dir=_tmp)


def log_name() -> str:
    return "pyt_" + uuid.uuid4().hex[:12]


# Logs on a shared server (PostgreSQL tables, Redis keys, NATS streams) the
# run created and has not dropped yet, by store URL. A queue opened by
# open_queue drops its log when it closes, once its omniqd has stopped;
# what a test left open is dropped at exit.
_undropped: set[str] = set()


def drop_log(store_url: str) -> None:
    """Drop the log store_url names (stores.Dropper, through the Go
    helper). No daemon may still run on it."""
    if store_url not in _undropped:
        return
    r = subprocess.run([gohelper(), "drop", store_url], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"gohelper drop {store_url} failed:\n{r.stderr}")
    _undropped.discard(store_url)


def leftovers(store_url: str) -> list[str]:
    """What the server of store_url holds of its log: table names, keys or
    stream names; empty once the log is dropped."""
    r = subprocess.run([gohelper(), "leftovers", store_url], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"gohelper leftovers {store_url} failed:\n{r.stderr}")
    return r.stdout.split()


def _drop_all() -> None:
    if not _undropped:
        return
    from omniq import _daemon
    _daemon._stop_all()
    for u in list(_undropped):
        try:
            drop_log(u)
        except Exception as e:  # at exit: report, go on with the others
            print(f"support: {e}", file=sys.stderr)


atexit.register(_drop_all)  # after the rmtree above is registered: runs before it


def _dropping(cls, *args, **kw):
    """An instance of a subclass of the queue class cls whose close drops
    the log after stopping its omniqd."""
    class Dropping(cls):
        def close(self):
            try:
                super().close()
            finally:
                drop_log(self.store_url)

    Dropping.__name__ = Dropping.__qualname__ = cls.__name__
    q = Dropping(*args, **kw)
    _undropped.add(q.store_url)
    return q


# name -> (env variable or None, factory(serve_args) -> async queue)
def _memory(serve_args):
    from omniq.queue import MemoryTaskQueue
    return MemoryTaskQueue(serve_args=serve_args)


def _file(serve_args):
    from omniq.queue import FileTaskQueue
    return FileTaskQueue(os.path.join(tmpdir(), "log"), serve_args=serve_args)


def _sqlite(serve_args):
    from omniq.queue import SQLiteTaskQueue
    return SQLiteTaskQueue(os.path.join(tmpdir(), "omniq.db"), serve_args=serve_args)


def _postgres(serve_args):
    from omniq.queue import PostgreSQLTaskQueue
    return _dropping(PostgreSQLTaskQueue, os.environ["OMNIQ_TEST_POSTGRES"], log=log_name(), serve_args=serve_args)


def _redis(serve_args):
    from omniq.queue import RedisTaskQueue
    u = urllib.parse.urlsplit(os.environ["OMNIQ_TEST_REDIS"])
    db = int((u.path or "/0").strip("/") or 0)
    return _dropping(RedisTaskQueue, u.hostname or "127.0.0.1", u.port or 6379, db, name=log_name(),
                     serve_args=serve_args)


def _nats(serve_args):
    from omniq.queue import NATSTaskQueue
    servers = os.environ["OMNIQ_TEST_NATS"].split(",")
    return _dropping(NATSTaskQueue, servers, name=log_name(), serve_args=serve_args)


BACKENDS = {
    "memory": (None, _memory),
    "file": (None, _file),
    "sqlite": (None, _sqlite),
    "postgres": ("OMNIQ_TEST_POSTGRES", _postgres),
    "redis": ("OMNIQ_TEST_REDIS", _redis),
    "nats": ("OMNIQ_TEST_NATS", _nats),
}


def open_queue(backend: str, serve_args=None):
    """A new queue on backend (its own omniqd); SkipTest when the backend's
    server is not configured."""
    env, factory = BACKENDS[backend]
    if env and not os.environ.get(env):
        raise unittest.SkipTest(f"{env} not set")
    omniqd()
    if env:
        gohelper()  # built now: the queue's close drops its log with it
    return factory(serve_args)


class MemoryQueueCase(unittest.TestCase):
    """Tests sharing one queue on the memory backend (its own omniqd) as
    self.q; run_ runs one of its coroutines to the end."""

    @classmethod
    def setUpClass(cls):
        cls.q = open_queue("memory")

    @classmethod
    def tearDownClass(cls):
        cls.q.close()

    def run_(self, coro):
        return asyncio.run(coro)

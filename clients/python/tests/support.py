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
    return PostgreSQLTaskQueue(os.environ["OMNIQ_TEST_POSTGRES"], log=log_name(), serve_args=serve_args)


def _redis(serve_args):
    from omniq.queue import RedisTaskQueue
    u = urllib.parse.urlsplit(os.environ["OMNIQ_TEST_REDIS"])
    db = int((u.path or "/0").strip("/") or 0)
    return RedisTaskQueue(u.hostname or "127.0.0.1", u.port or 6379, db, name=log_name(), serve_args=serve_args)


def _nats(serve_args):
    from omniq.queue import NATSTaskQueue
    servers = os.environ["OMNIQ_TEST_NATS"].split(",")
    return NATSTaskQueue(servers, name=log_name(), serve_args=serve_args)


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

"""The HTTP pool: abort() breaks off the requests in flight, never sends
one again, and an error answer sent before the body was read is read."""

import socket
import threading
import time
import unittest

import support
from omniq import errors
from omniq.models.task import Task
from omniq.sync import Queue


def _wait_for(cond, what):
    for _ in range(2000):
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def _in_thread(out, call):
    """A function for a thread: call's answer goes to out["task"], what it
    raises to out["exc"]."""
    def run():
        try:
            out["task"] = call()
        except Exception as e:  # noqa: BLE001
            out["exc"] = e
    return run


class _HoldingProxy:
    """A TCP proxy in front of omniqd. When hold_next is set, the next
    answer the daemon sends is kept back (held is set) until released."""

    def __init__(self, upstream_port):
        self.up = upstream_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.url = f"http://127.0.0.1:{self.lsock.getsockname()[1]}"
        self.hold_next = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.up))
            threading.Thread(target=self._pipe, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, True), daemon=True).start()

    def _pipe(self, src, dst, answers):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if answers and self.hold_next.is_set():
                    self.hold_next.clear()
                    self.held.set()
                    self.release.wait()
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()


class TestHTTPPool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.omniqd()

    def _check_broken_off(self, owner, q, th, out):
        """After q's abort(): the long poll in th ended with ConnectionFailed,
        and did not lease the task enqueued next."""
        owner.enqueue(Task(func="x"))  # a poll still running leases it
        th.join(60)
        self.assertFalse(th.is_alive())
        q.close()
        self.assertIsInstance(out.get("exc"), errors.ConnectionFailed,
                              f"abort() did not break off the long poll: it returned {out!r}")

    def test_abort_breaks_off_a_long_poll_on_a_kept_alive_connection(self):
        # abort() promises the callers in flight ConnectionFailed. On a
        # pooled connection the shut-down socket looks like a stale
        # keep-alive and the long poll is sent again instead.
        with Queue(store="memory://") as owner:
            q = Queue(owner.url)
            q.stats()  # leaves a kept-alive connection in the pool
            out = {}
            poll = _in_thread(out, lambda: q.dequeue(wait=50))
            th = threading.Thread(target=poll)
            th.start()
            _wait_for(lambda: q._core.http._busy, "the dequeue to take its connection")
            q._core.http.abort()
            self._check_broken_off(owner, q, th, out)

    def test_abort_of_an_answered_enqueue_does_not_send_it_again(self):
        # The daemon has enqueued the task; its answer is on the way when
        # the queue is closed (Core.close aborts). The request is sent again
        # on a new connection: a task without an id is enqueued twice.
        with Queue(store="memory://") as owner:
            port = int(owner.url.rsplit(":", 1)[1])
            proxy = _HoldingProxy(port)
            q = Queue(proxy.url)
            q.stats()  # a kept-alive connection in the pool
            out = {}
            enqueue = _in_thread(out, lambda: q.enqueue(Task(func="once", id="")))
            proxy.hold_next.set()
            th = threading.Thread(target=enqueue)
            th.start()
            self.assertTrue(proxy.held.wait(30), "the daemon answered the enqueue")
            q.close()  # aborts the request in flight
            proxy.release.set()
            th.join(60)
            self.assertFalse(th.is_alive())
            proxy.close()
            n = len(owner.list_tasks(func="once").tasks)
            self.assertEqual(n, 1, f"one enqueue call enqueued {n} tasks ({out!r})")
            self.assertIsInstance(out.get("exc"), errors.ConnectionFailed)

    def test_body_over_max_body_is_payload_too_large(self):
        # docs/http-api.md: a body over --max-body is 413 payload_too_large.
        # The daemon answers it before reading the whole body; the client,
        # still sending, gets a broken pipe and reports ConnectionFailed.
        with Queue(store="memory://", serve_args=["--max-body", "65536"]) as q:
            with self.assertRaises(errors.PayloadTooLarge):
                q.enqueue(Task(func="x", args=("a" * 8_000_000,)))

    def test_abort_breaks_off_a_request_still_connecting(self):
        # abort() shuts down the sockets of the busy connections; one whose
        # socket is not yet made (a new connection) is skipped, and its
        # request then runs in full.
        import http.client
        with Queue(store="memory://") as owner:
            q = Queue(owner.url)  # nothing pooled: the dequeue opens a connection
            connecting, go = threading.Event(), threading.Event()
            real_connect = http.client.HTTPConnection.connect

            def connect(conn):
                connecting.set()
                go.wait()
                return real_connect(conn)

            out = {}
            poll = _in_thread(out, lambda: q.dequeue(wait=50))
            http.client.HTTPConnection.connect = connect
            try:
                th = threading.Thread(target=poll)
                th.start()
                self.assertTrue(connecting.wait(30))
                q._core.http.abort()
            finally:
                http.client.HTTPConnection.connect = real_connect
                go.set()
            self._check_broken_off(owner, q, th, out)


if __name__ == "__main__":
    unittest.main()

"""The black-box harness: start a chapter's server, talk raw HTTP to it, stop it.

Nothing here knows which chapter it runs: the registry (chapters/registry.json) names the
binaries and what each model claims it can do. Starting a server, reading responses and reading
/proc are shared with the benchmark tools (scripts/serverlib.py); this file adds what tests need.
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import serverlib  # noqa: E402
from serverlib import (  # noqa: E402,F401  (re-exported for the tests)
    ROOT, UNAVAILABLE_EXIT, Reader, Response, Unavailable, child_pids, cpu_seconds, load_registry,
    read_response, read_to_end, stat_fields, tree_cpu_seconds)

STOP_TIMEOUT = 2.0  # the protocol promises exit within 2 s of SIGTERM


class Server(serverlib.ServerProcess):
    """One running server process, started with --port 0, and the ways a test talks to it."""

    def __init__(self, binary, args=(), docroot=None, env=None, preexec_fn=None):
        self.binary = Path(binary)
        cmd = [str(self.binary), "--port", "0"]
        if docroot is not None:
            cmd += ["--docroot", str(docroot)]
        super().__init__([*cmd, *args], env=env, preexec_fn=preexec_fn)
        self._stderr = b""

    def connect(self, timeout=10.0, rcvbuf=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(self.address)
        return sock

    def request(self, raw, timeout=10.0):
        """Sends raw bytes on a new connection and returns the first response."""
        with self.connect(timeout) as sock:
            sock.sendall(raw)
            return read_response(sock)

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Sends sig, then waits; returns (exit code, seconds taken, stderr). A server still running
        after timeout seconds is killed, and its exit code is reported as None."""
        code, elapsed = self.signal_and_wait(timeout, sig)
        if code is None:
            self.proc.kill()
            self.proc.wait()
        return code, elapsed, self.stderr()

    def stderr(self):
        if self.proc.poll() is not None and self.proc.stderr is not None:
            self._stderr += read_to_end(self.proc.stderr)
            self.proc.stderr.close()
            self.proc.stderr = None
        return self._stderr.decode(errors="replace")


LOADGEN_SECONDS = 240.0  # the load generator's own bound on a run


def loadgen_path(chapter):
    path = chapter.refbindir / "loadgen"
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (make)")
    return path


class LoadGen:
    """The load generator as a child process, with bounded waits on its output lines."""

    def __init__(self, chapter, srv, *args, seconds=LOADGEN_SECONDS):
        self.cmd = [str(loadgen_path(chapter)), "--host", srv.host, "--port", str(srv.port),
                    "--seconds", str(seconds), *[str(a) for a in args]]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buffer = b""

    def line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"no output from {' '.join(self.cmd)} within {timeout:.0f} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    self.proc.wait(timeout=5)
                    pytest.fail(f"loadgen ended early ({self.proc.returncode}): {self.buffer!r} "
                                f"{read_to_end(self.proc.stderr).decode(errors='replace')}")
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def go_on(self):
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def result(self, timeout):
        """The key=value result line, as a dict of numbers (and words), once the process ended."""
        line = self.line(timeout)
        self.proc.wait(timeout=10)
        fields = dict(item.split("=", 1) for item in line.split())
        return {k: _number(v) for k, v in fields.items()}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _number(text):
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def blackbox_conftest():
    """This suite's conftest.py as a module: the suites beside it (tests/exercises,
    tests/attacks) take its options, chapters and fixtures from it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("blackbox_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answered_within(sock, seconds):
    """The response read from sock within seconds, or None."""
    sock.settimeout(seconds)
    try:
        return Reader(sock).read()
    except OSError:  # a timeout, or the connection closed or reset without an answer
        return None


def sent_on_new_connections(server, count, raw, timeout=10.0):
    """count new connections with raw sent on each, left open; all closed again if one fails."""
    socks = []
    try:
        for _ in range(count):
            sock = server.connect(timeout=timeout)
            socks.append(sock)
            sock.sendall(raw)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def answered_keep_alive(server, count):
    """count keep-alive connections, each answered once with 200 and left open: clients that
    the server holds."""
    socks = sent_on_new_connections(server, count, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        for sock in socks:
            assert Reader(sock).read().status == 200
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


# The largest /compute: seconds of CPU, and a handler that SIGTERM cannot cut short.
LONGEST_COMPUTE = b"GET /compute?n=10000000 HTTP/1.1\r\nHost: x\r\n\r\n"


def on_one_cpu():
    """A preexec_fn that keeps the server, and every thread it starts, on one CPU."""
    cpu = min(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cpu})


def thread_count(pid):
    """How many threads the process has now."""
    return int(stat_fields(pid)[17])  # num_threads, field 20 of /proc/PID/stat


def received_body(reader, size):
    """After reader.read(head_only=True): the body's bytes, those the reader already holds and then
    what arrives, until there are size of them, the peer closes or the socket's timeout passes."""
    body = bytearray(reader.buffer)
    reader.buffer = b""
    try:
        while len(body) < size:
            chunk = reader.sock.recv(1 << 20)
            if not chunk:
                break
            body += chunk
    except OSError:
        pass
    return bytes(body)


def timed_round_trips(sock, count, limit=4.0):
    """Sends GET / on a held keep-alive connection and reads its 200, one after the other, count
    times or until limit seconds pass; returns (round trips done, seconds they took)."""
    reader = Reader(sock)
    start = time.monotonic()
    done = 0
    while done < count and time.monotonic() - start < limit:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reader.read().status == 200
        done += 1
    return done, time.monotonic() - start


def mask_date(raw):
    """Replaces the Date value so two responses can be compared byte for byte."""
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: <date>\r\n", raw)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def stable_fd_count(pid, limit=3.0):
    """The descriptor count once it stops changing (a closing connection may still hold one)."""
    deadline = time.monotonic() + limit
    count = fd_count(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        again = fd_count(pid)
        if again == count:
            break
        count = again
    return count


def zombies(pid):
    """The children of a process that have exited and not been waited for (state Z)."""
    found = []
    for child in child_pids(pid):
        try:
            if stat_fields(child)[0] == "Z":
                found.append(child)
        except OSError:
            continue  # reaped while we looked
    return found


def process_alive(pid):
    """True while a process runs: not gone, not a zombie."""
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def wait_until(predicate, timeout):
    """Polls predicate until it holds or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


server_cpu_seconds = tree_cpu_seconds  # a server's process, threads and children


def cpu_during(pid, seconds, children=True):
    """The CPU time a server uses in the next seconds (without its live children if told)."""
    measure = server_cpu_seconds if children else cpu_seconds
    before = measure(pid)
    time.sleep(seconds)
    return measure(pid) - before

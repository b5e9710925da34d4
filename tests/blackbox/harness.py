"""The black-box harness: start a chapter's server, talk raw HTTP to it, stop it.

Nothing here knows which chapter it runs: the registry (chapters/registry.json) names the
binaries and what each model claims it can do.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "chapters" / "registry.json"
STARTUP_TIMEOUT = 10.0  # seconds to wait for the "listening on" line
STOP_TIMEOUT = 2.0  # the protocol promises exit within 2 s of SIGTERM
LISTENING = re.compile(rb"^listening on http://(\S+):(\d+)\s*$")
# A chapter whose model needs something this machine lacks (io_uring switched off, say) exits
# with this status at start-up, after one stderr line "<what> unavailable: <why>".
UNAVAILABLE_EXIT = 3
UNAVAILABLE = re.compile(rb"^\S+ unavailable: .+$", re.MULTILINE)


def load_registry():
    with open(REGISTRY, encoding="utf-8") as f:
        return json.load(f)["chapters"]


class Unavailable(RuntimeError):
    """The server exited at start-up saying that this machine cannot run its model."""


def unavailable_reason(returncode, stderr):
    """The "<what> unavailable: <why>" line of a server that exited with UNAVAILABLE_EXIT, or None."""
    match = UNAVAILABLE.search(stderr) if returncode == UNAVAILABLE_EXIT else None
    return match.group(0).decode(errors="replace") if match else None


class Server:
    """One running server process, started with --port 0."""

    def __init__(self, binary, args=(), docroot=None, env=None, preexec_fn=None):
        self.binary = Path(binary)
        cmd = [str(self.binary), "--port", "0"]
        if docroot is not None:
            cmd += ["--docroot", str(docroot)]
        cmd += list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.host, self.port = self._wait_listening()
        self._stderr = b""

    def _wait_listening(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
                if line.endswith(b"\n"):
                    match = LISTENING.match(line)
                    if match:
                        return match.group(1).decode(), int(match.group(2))
                    line = b""
            elif self.proc.poll() is not None:
                break
        self.proc.kill()
        _, err = self.proc.communicate(timeout=5)
        reason = unavailable_reason(self.proc.returncode, err)
        if reason:
            raise Unavailable(reason)
        raise RuntimeError(f"{self.cmd} did not print its listening line: {err.decode(errors='replace')}")

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return (self.host, self.port)

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

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """Sends sig, then waits; returns (exit code, seconds taken, stderr). A server still running
        after timeout seconds is killed, and its exit code is reported as None."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, time.monotonic() - start, self.stderr()
        return self.proc.returncode, time.monotonic() - start, self.stderr()

    def stderr(self):
        if self.proc.poll() is not None and self.proc.stderr is not None:
            self._stderr += self.proc.stderr.read() or b""
            self.proc.stderr.close()
            self.proc.stderr = None
        return self._stderr.decode(errors="replace")


class Response:
    """A parsed HTTP response: status, headers (a list of pairs), body, and the raw bytes."""

    def __init__(self, raw, status, reason, headers, body):
        self.raw = raw
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_names(self):
        return [key for key, _ in self.headers]

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:60]!r}>"


class Reader:
    """Reads responses one by one from a socket, keeping bytes that belong to the next one."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a full response")
        self.buffer += chunk

    def read(self, head_only=False):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        version, status, reason = lines[0].decode().split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, value = line.decode().split(":", 1)
            headers.append((name, value.strip()))
        length = 0
        for name, value in headers:
            if name.lower() == "content-length":
                length = int(value)
        if head_only:
            length = 0
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(head + b"\r\n\r\n" + body, int(status), reason, headers, body)

    def at_eof(self, timeout=5.0):
        """True if the peer closes without sending anything more within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True


def read_response(sock, head_only=False):
    return Reader(sock).read(head_only)


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


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # the name in parentheses may contain spaces


def cpu_seconds(pid):
    """CPU time of a process, its threads and its reaped children, from /proc."""
    fields = _stat_fields(pid)
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def child_pids(pid):
    """The live children of a process (a forking server's)."""
    children = []
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                if int(_stat_fields(task)[1]) == pid:  # ppid
                    children.append(int(task))
            except (OSError, IndexError):
                continue
    return children


def zombies(pid):
    """The children of a process that have exited and not been waited for (state Z)."""
    found = []
    for child in child_pids(pid):
        try:
            if _stat_fields(child)[0] == "Z":
                found.append(child)
        except OSError:
            continue  # reaped while we looked
    return found


def process_alive(pid):
    """True while a process runs: not gone, not a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
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


def children_cpu_seconds(pid):
    """CPU time of the live children of a process."""
    total = 0.0
    for child in child_pids(pid):
        try:
            total += sum(int(f) for f in _stat_fields(child)[11:13]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def server_cpu_seconds(pid):
    """CPU time of a server: its process and threads, and its children, reaped or live."""
    return cpu_seconds(pid) + children_cpu_seconds(pid)


def cpu_during(pid, seconds, children=True):
    """The CPU time a server uses in the next seconds (without its live children if told)."""
    measure = server_cpu_seconds if children else cpu_seconds
    before = measure(pid)
    time.sleep(seconds)
    return measure(pid) - before

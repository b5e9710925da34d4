"""What the black-box suite (tests/blackbox/harness.py) and the tools of scripts/ share: the
registry, starting a chapter and waiting for its listening line, reading HTTP responses, and
reading what a process tree costs from /proc.

Nothing here names a chapter: chapters/registry.json says which exist and what each claims.
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

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "chapters" / "registry.json"
STARTUP_TIMEOUT = 10.0  # seconds to wait for the "listening on" line
LISTENING = re.compile(rb"^listening on http://(\S+):(\d+)\s*$")
# A chapter whose model needs something this machine lacks (io_uring switched off, say) exits
# with this status at start-up, after one stderr line "<what> unavailable: <why>".
UNAVAILABLE_EXIT = 3
UNAVAILABLE = re.compile(rb"^\S+ unavailable: .+$", re.MULTILINE)


def load_registry():
    with open(REGISTRY, encoding="utf-8") as f:
        return json.load(f)["chapters"]


# --- starting a chapter -----------------------------------------------------------------------


class Unavailable(RuntimeError):
    """The server exited at start-up saying that this machine cannot run its model."""


def unavailable_reason(returncode, stderr):
    """The "<what> unavailable: <why>" line of a server that exited with UNAVAILABLE_EXIT, or None."""
    match = UNAVAILABLE.search(stderr or b"") if returncode == UNAVAILABLE_EXIT else None
    return match.group(0).decode(errors="replace") if match else None


def wait_listening(proc, timeout=STARTUP_TIMEOUT):
    """Reads proc's stdout until the "listening on http://HOST:PORT" line: (host, port), or None
    if the process exited or timeout passed first. Never sleeps: each byte is awaited."""
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                return None
            line += chunk
            if line.endswith(b"\n"):
                match = LISTENING.match(line)
                if match:
                    return match.group(1).decode(), int(match.group(2))
                line = b""
        elif proc.poll() is not None:
            return None
    return None


def read_to_end(pipe, limit=5.0):
    """What is left in the pipe of a process that has exited, read until its end or for limit
    seconds: a process it started may still hold the pipe open (a forking server's child)."""
    data = bytearray()
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([pipe], [], [], left)
        if not ready:
            break
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            return bytes(data)
        data += chunk
    return bytes(data) + f"\n[still open {limit:.0f} s after the exit: a process it started holds it]".encode()


class ServerProcess:
    """A server binary of this repository, started and listening: it printed its "listening on"
    line. The black-box suite (harness.Server) and the tools (targets.py) start every chapter,
    and the floor, through this class. spawn is the Popen to use (the tools pin CPUs with
    procs.spawn); stderr goes to a pipe unless spawn_args say otherwise."""

    def __init__(self, cmd, spawn=subprocess.Popen, **spawn_args):
        self.cmd = [str(part) for part in cmd]
        spawn_args.setdefault("stderr", subprocess.PIPE)
        self.proc = spawn(self.cmd, stdout=subprocess.PIPE, **spawn_args)
        listening = wait_listening(self.proc)
        if not listening:
            self.proc.kill()
            self.proc.wait()
            err = read_to_end(self.proc.stderr) if self.proc.stderr else b""
            reason = unavailable_reason(self.proc.returncode, err)
            if reason:
                raise Unavailable(reason)
            raise RuntimeError(f"{' '.join(self.cmd)} did not print its listening line: "
                               f"{err.decode(errors='replace').strip() or self.start_failure()}")
        self.host, self.port = listening

    def start_failure(self):
        """What to say when the server did not start and its stderr was not a pipe."""
        return "(no output)"

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return (self.host, self.port)

    def alive(self):
        return self.proc.poll() is None

    def signal_and_wait(self, timeout, sig=signal.SIGTERM):
        """Sends sig (unless the process has exited) and waits up to timeout seconds: (exit code
        or None if it is still running, seconds waited)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - start
        return self.proc.returncode, time.monotonic() - start


# --- HTTP responses ---------------------------------------------------------------------------


class Response:
    """A parsed HTTP response: status, headers (a list of pairs), body, and the raw bytes."""

    def __init__(self, raw, status, reason, headers, body):
        self.raw = raw
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.elapsed = None  # seconds, when http_get() timed it

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
    """Reads responses one by one from a blocking socket, keeping bytes that belong to the next
    one. A response's body is framed by its Content-Length (every server here sends one)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _receive(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a full response")
        return chunk

    # Every server here sends a head of a few hundred bytes: past this, what arrives is no head
    # (a torn or runaway stream), and reading on could last as long as the server keeps sending.
    MAX_HEAD = 65536

    def read(self, head_only=False):
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > self.MAX_HEAD:
                raise ValueError(f"no end of a response head in {len(self.buffer)} bytes: {self.buffer[:60]!r}")
            self.buffer += self._receive()
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
        pieces, have = [self.buffer], len(self.buffer)
        while have < length:  # kept in pieces and joined once: a long body costs one copy
            pieces.append(self._receive())
            have += len(pieces[-1])
        data = b"".join(pieces)
        body, self.buffer = data[:length], data[length:]
        return Response(head + b"\r\n\r\n" + body, int(status), reason, headers, body)

    def at_eof(self, timeout=5.0):
        """True if the peer closes without sending anything more within timeout; False if it
        sends more, or is still open when timeout passes."""
        self.sock.settimeout(timeout)
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def read_response(sock, head_only=False):
    return Reader(sock).read(head_only)


def http_get(address, path, timeout=5.0):
    """One GET on a new connection, timed (Response.elapsed). Raises OSError on a timeout."""
    start = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        response = Reader(sock).read()
    response.elapsed = time.monotonic() - start
    return response


# --- what a process tree costs ----------------------------------------------------------------


def stat_fields(pid):
    """/proc/PID/stat after the command name (which may hold spaces): state is [0], ppid [1]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def child_pids(pid):
    """The live children of a process (a forking server's)."""
    children = []
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                if int(stat_fields(task)[1]) == pid:
                    children.append(int(task))
            except (OSError, IndexError):
                continue
    return children


def tree_pids(root):
    """root and all its live descendants (a forking server's children, nginx's workers), from
    one pass over /proc."""
    children = {}
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                children.setdefault(int(stat_fields(task)[1]), []).append(int(task))
            except (OSError, IndexError):
                continue
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            pids.append(pid)
            todo.extend(children.get(pid, []))
    return pids


def cpu_seconds(pid, reaped=True):
    """User plus system CPU time of a process and all its threads, and (with reaped) of its
    children that have exited and been waited for."""
    fields = stat_fields(pid)
    ticks = sum(int(f) for f in fields[11:15 if reaped else 13])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root):
    """CPU time of a server: its process and threads, and its children, reaped or live."""
    return sum(tree_cpu_split(root))


def tree_cpu_split(root):
    """(user, system) CPU seconds of a server, as tree_cpu_seconds() counts them: where its time
    went, in its own code or in the kernel's on its behalf."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = stat_fields(root)
    user = int(fields[11]) + int(fields[13])  # utime + cutime (reaped children)
    system = int(fields[12]) + int(fields[14])  # stime + cstime
    for pid in tree_pids(root)[1:]:
        try:
            fields = stat_fields(pid)
        except OSError:
            continue  # exited meanwhile: its time moves to its parent's reaped children
        user += int(fields[11])
        system += int(fields[12])
    return user / tick, system / tick

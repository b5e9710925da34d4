"""What scripts/bench.py and scripts/tour.py share: start servers (each chapter, and nginx
configured for the same job), drive load at them, and read what they cost from /proc.

Nothing here names a chapter: chapters/registry.json says which exist and what each model
claims. Every process started here is recorded and killed when the script exits, whether it
ends normally, on an exception, on Ctrl-C or on SIGTERM/SIGHUP. All traffic goes to 127.0.0.1,
and every load loop is bounded both in count and in time.

Run with Debian's /usr/bin/python3 (it sees python3-matplotlib).
"""

import atexit
import errno
import json
import math
import os
import platform
import pwd
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "chapters" / "registry.json"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
LISTENING = re.compile(rb"^listening on http://(\S+):(\d+)\s*$")
GET = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
HELLO = b"Hello, World!"

# ---------------------------------------------------------------------------------------------
# Cleanup: every child process is recorded; all of them die when this process exits.

_children = []  # Popen objects, each the leader of its own process group
_tempdirs = []


_SETPRIV = shutil.which("setpriv")


def spawn(cmd, **kwargs):
    """Popen in a new session (so the whole group, forked children included, can be killed),
    through setpriv --pdeathsig KILL where util-linux has it: the child then dies with this script
    even if the script itself is killed by SIGKILL. (No preexec_fn: it is unsafe with threads.)"""
    kwargs.setdefault("start_new_session", True)
    if _SETPRIV:
        cmd = [_SETPRIV, "--pdeathsig", "KILL", "--"] + list(cmd)
    proc = subprocess.Popen(cmd, **kwargs)
    _children.append(proc)
    return proc


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(proc, grace=5.0, sig=signal.SIGTERM):
    """Asks proc to stop, waits up to grace seconds, then kills its whole process group."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    kill_group(proc)  # leftovers: a forking server's children, nginx workers
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    if proc in _children:
        _children.remove(proc)


def cleanup():
    for proc in list(_children):
        kill_group(proc)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    _children.clear()
    for path in _tempdirs:
        shutil.rmtree(path, ignore_errors=True)
    _tempdirs.clear()


def _on_signal(signo, _frame):
    raise SystemExit(128 + signo)


def install_cleanup():
    """Kill every started process at exit, and turn SIGTERM/SIGHUP into a normal exit."""
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def make_tempdir(prefix):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _tempdirs.append(path)
    return path


def raise_nofile():
    """Raises the soft descriptor limit to the hard one (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------------------------------------
# The registry and the servers.


class Chapter:
    def __init__(self, entry, bindir):
        self.name = entry["name"]
        self.model = entry.get("model", "?")
        self.flags = list(entry.get("flags", []))
        self.caps = dict(entry.get("capabilities", {}))
        self.binary = Path(bindir) / self.name

    @property
    def built(self):
        return self.binary.exists()

    def cap(self, name):
        return bool(self.caps.get(name, False))


def load_chapters(build):
    with open(REGISTRY, encoding="utf-8") as f:
        entries = json.load(f)["chapters"]
    return [Chapter(e, Path(build) / "bin") for e in entries]


def chapter_args(chapter, workers, max_connections, idle_timeout=600):
    """The flags a chapter gets for a measure (workers=None: the model's own thread count)."""
    return _chapter_args(chapter, workers, max_connections, idle_timeout)


def _chapter_args(chapter, workers, max_connections, idle_timeout):
    """The command-line flags a chapter gets, from the flags the registry lists for it.

    --threads W for a chapter whose model takes a thread count; --max-clients raised above the
    largest connection count used, for a chapter that caps its processes or threads (otherwise
    the connections over the cap wait in the backlog and the load measures the wait); a long
    idle timeout so held idle connections stay open while they are measured.
    """
    args = ["--idle-timeout", str(idle_timeout)]
    if "threads" in chapter.flags and workers:
        args += ["--threads", str(workers)]
    if "max-clients" in chapter.flags and max_connections > 512:
        args += ["--max-clients", str(max_connections + 64)]
    return args


class Server:
    """One running server: a chapter (started with --port 0) or nginx."""

    name = "?"
    pid = None

    @property
    def address(self):
        return (HOST, self.port)

    @property
    def url(self):
        return f"http://{HOST}:{self.port}/"

    def alive(self):
        return self.proc.poll() is None

    def pids(self):
        return tree_pids(self.proc.pid)


class ChapterServer(Server):
    def __init__(self, chapter, args, docroot, logdir):
        self.name = chapter.name
        self.chapter = chapter
        self.cmd = [str(chapter.binary), "--port", "0", "--docroot", str(docroot)] + list(args)
        self.errlog = Path(logdir) / f"{chapter.name}.stderr"
        self._err = open(self.errlog, "ab")
        self.proc = spawn(self.cmd, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.port = self._wait_listening()

    def _wait_listening(self):
        import select

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
                        return int(match.group(2))
                    line = b""
            elif self.proc.poll() is not None:
                break
        terminate(self.proc, grace=0)
        raise RuntimeError(f"{' '.join(self.cmd)} did not start: {self.stderr_tail()}")

    def stderr_tail(self, lines=3):
        try:
            text = self.errlog.read_text(errors="replace").strip().splitlines()
            return " / ".join(text[-lines:]) or "(no output)"
        except OSError:
            return "(no output)"

    def stats(self):
        status, body, _ = http_get(self.address, "/stats", timeout=5)
        if status != 200:
            raise RuntimeError(f"GET /stats answered {status}")
        return json.loads(body)

    def stop(self):
        terminate(self.proc)
        self._err.close()


NGINX_CONF = """\
# Generated by scripts/loadlib.py: nginx doing the benchmark route's job and nothing else.
{user}worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    client_header_timeout 600s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def nginx_version():
    binary = nginx_binary()
    if not binary:
        return "not installed"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    return out.split("/", 1)[-1] if "/" in out else out


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class NginxServer(Server):
    """nginx on loopback with a generated config in a temporary directory, as the current user."""

    def __init__(self, workers, logdir):
        binary = nginx_binary()
        if not binary:
            raise RuntimeError("nginx is not installed (scripts/setup.sh bench installs nginx-light)")
        self.workers = workers
        self.name = f"nginx ({workers} worker{'s' if workers != 1 else ''})"
        self.prefix = make_tempdir("bench-nginx-")
        (self.prefix / "tmp").mkdir()
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = min(nofile if nofile != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
        user = ""
        if os.geteuid() == 0:  # otherwise the workers would switch to "nobody"
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
        last_error = ""
        for _ in range(3):  # the free port can be taken between the probe and nginx's bind
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(NGINX_CONF.format(user=user, workers=workers, nofile=nofile,
                                              connections=max(1024, nofile - 64),
                                              prefix=self.prefix, host=HOST, port=self.port))
            self.cmd = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
            self.proc = spawn(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
            self.pid = self.proc.pid
            if self._wait_ready():
                return
            last_error = self.error_tail()
            terminate(self.proc, grace=1)
        raise RuntimeError(f"nginx did not start: {last_error}")

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if len(self.pids()) >= 1 + self.workers:
                try:
                    status, body, _ = http_get(self.address, "/", timeout=2)
                    if status == 200 and body == HELLO:
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def error_tail(self):
        try:
            return " / ".join((self.prefix / "error.log").read_text(errors="replace").strip().splitlines()[-3:])
        except OSError:
            return "(no error log)"

    def stop(self):
        terminate(self.proc, grace=5, sig=signal.SIGQUIT)  # graceful: workers finish, then exit


# ---------------------------------------------------------------------------------------------
# /proc: processes, memory, context switches, descriptors.


def _ppid_map():
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    return parents


def tree_pids(root):
    """root and all its live descendants (a forking server's children, nginx's workers)."""
    children = _ppid_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            pids.append(pid)
            todo.extend(children.get(pid, []))
    return pids


def _status_field(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pids):
    """Resident memory of a set of processes, as PSS (proportional set size): a page shared by
    n processes counts 1/n in each, so forked children's shared pages count once in the sum.
    Falls back to VmRSS where smaps_rollup is not readable."""
    total = 0
    for pid in pids:
        pss = _status_field(f"/proc/{pid}/smaps_rollup", "Pss:")
        total += pss if pss else _status_field(f"/proc/{pid}/status", "VmRSS:")
    return total


def context_switches(pids):
    """(voluntary, nonvoluntary) context switches summed over every thread of pids."""
    vol = nonvol = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            path = f"/proc/{pid}/task/{tid}/status"
            vol += _status_field(path, "voluntary_ctxt_switches:")
            nonvol += _status_field(path, "nonvoluntary_ctxt_switches:")
    return vol, nonvol


def fd_total(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return total


def all_tids(pids):
    tids = []
    for pid in pids:
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
    return tids


# ---------------------------------------------------------------------------------------------
# Clients.


class Reader:
    """Reads HTTP responses from a blocking socket, keeping the bytes of the next one."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def read(self):
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before a full response")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        length = int(match.group(1)) if match else 0
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in a response body")
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body


def http_get(address, path, timeout=5.0):
    """One GET on a new connection: (status, body, seconds). Raises OSError on timeout."""
    start = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        status, body = Reader(sock).read()
    return status, body, time.monotonic() - start


def wait_serving(address, budget=15.0):
    """Waits (bounded) until the server answers GET / again; returns whether it did."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            status, _, _ = http_get(address, "/", timeout=max(0.1, min(3.0, deadline - time.monotonic())))
            if status == 200:
                return True
        except OSError:
            time.sleep(0.05)
    return False


def open_idle(address, count, budget):
    """Opens count connections that send nothing (non-blocking connects, 500 at a time)."""
    deadline = time.monotonic() + budget
    socks = []
    try:
        while len(socks) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(socks)} of {count} connections opened in {budget:.0f} s")
            batch = []
            for _ in range(min(500, count - len(socks))):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                batch.append(sock)
                sock.setblocking(False)
                err = sock.connect_ex(address)
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, f"connect: {os.strerror(err)}")
            socks.extend(batch)
            pending = {s.fileno(): s for s in batch}
            poller = selectors.DefaultSelector()
            for fd, sock in pending.items():
                poller.register(sock, selectors.EVENT_WRITE)
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} connects still pending after {budget:.0f} s")
                for key, _ in poller.select(1.0):
                    sock = pending.pop(key.fd)
                    poller.unregister(sock)
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, f"connect: {os.strerror(err)}")
            poller.close()
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


def wait_accepted(server, baseline_fds, count, budget):
    """Waits until the server's processes hold count more descriptors than baseline_fds."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if fd_total(server.pids()) - baseline_fds >= count:
            return True
        time.sleep(0.1)
    return False


def idle_memory(server, count, budget=60.0, settle=0.5):
    """Memory per idle connection: opens count connections that send nothing, waits until the
    server holds them, and returns (KiB before, KiB after, bytes per connection, held)."""
    wait_serving(server.address, 5)
    time.sleep(0.2)
    before = memory_kib(server.pids())
    fds = fd_total(server.pids())
    socks = open_idle(server.address, count, budget)
    try:
        held = wait_accepted(server, fds, count, budget=min(30.0, budget))
        time.sleep(settle)
        after = memory_kib(server.pids())
    finally:
        close_all(socks)
    return before, after, (after - before) * 1024.0 / count, held


def fixed_requests(address, total, connections, budget, path="/", on_done=None):
    """Sends exactly total keep-alive GETs over connections connections, one in flight on each.
    on_done() runs once every answer is in, while the connections are still open (a forking
    server's children are still alive then). Returns the seconds taken. Bounded by budget."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    deadline = time.monotonic() + budget
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(connections):
            sock = socket.create_connection(address, timeout=10)
            sock.setblocking(False)
            socks.append(sock)
        buffers = {}
        sent = done = 0
        start = time.monotonic()
        for sock in socks:
            if sent < total:
                sock.send(request)
                sent += 1
                buffers[sock.fileno()] = b""
                sel.register(sock, selectors.EVENT_READ)
        while done < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {total} requests answered in {budget:.0f} s")
            for key, _ in sel.select(1.0):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise ConnectionError("the server closed a keep-alive connection")
                buf = buffers[key.fd] + chunk
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    match = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:end], re.IGNORECASE)
                    size = end + 4 + (int(match.group(1)) if match else 0)
                    if len(buf) < size:
                        break
                    buf = buf[size:]
                    done += 1
                    if sent < total:
                        sock.send(request)
                        sent += 1
                buffers[key.fd] = buf
        elapsed = time.monotonic() - start
        if on_done:
            on_done()
        return elapsed
    finally:
        sel.close()
        close_all(socks)


class SleepLoad:
    """Keeps count /sleep?ms=ms requests in flight, each on its own keep-alive connection, until
    stopped (or max_seconds pass). Each client sends the next /sleep as soon as one is answered."""

    def __init__(self, address, count=8, ms=200, max_seconds=120.0):
        self.address = address
        self.count = count
        self.request = f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = int(max_seconds * 1000 / max(ms, 1)) + 2  # a bound on each loop
        self.stop_event = threading.Event()
        self.started = threading.Semaphore(0)
        self.completed = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.socks = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self):
        sock = reader = None
        first = True
        for _ in range(self.max_requests):
            if self.stop_event.is_set() or time.monotonic() > self.deadline:
                break
            try:
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=30)
                    with self.lock:
                        self.socks.append(sock)
                    reader = Reader(sock)
                sock.sendall(self.request)
                if first:
                    self.started.release()
                    first = False
                status, _ = reader.read()
                with self.lock:
                    self.completed += status == 200
            except OSError:
                if self.stop_event.is_set():
                    break
                with self.lock:
                    self.errors += 1
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.05)
        if first:
            self.started.release()
        if sock is not None:
            sock.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        for _ in self.threads:  # every client has sent its first /sleep (bounded wait)
            self.started.acquire(timeout=10)
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        with self.lock:
            for sock in self.socks:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a client blocked in recv
                except OSError:
                    pass
        for t in self.threads:
            t.join(timeout=5)
        return False


def slowloris_probe(address, count=50, timeout=2.0):
    """Opens count connections that send an unfinished request head and stall, then times a
    fresh GET /. Returns the seconds it took, or None if it was not answered within timeout."""
    slow = []
    try:
        for _ in range(count):
            sock = socket.create_connection(address, timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
            slow.append(sock)
        time.sleep(0.1)
        try:
            status, body, elapsed = http_get(address, "/", timeout=timeout)
            return elapsed if status == 200 else None
        except OSError:
            return None
    finally:
        close_all(slow)


def blocking_probe(address, sleeps=8, sleep_ms=1000, probes=4, timeout=None):
    """Puts sleeps GET /sleep?ms=sleep_ms in flight, each on its own connection, then sends probes
    fresh GET / at once, each on a new connection. Returns how long each took (None: not
    answered within timeout, by default a little over the sleep). Several sleeps, so that a model
    with several event loops has every loop given one (almost surely); several probes, so that one
    lucky connection does not decide."""
    timeout = timeout or sleep_ms / 1000.0 + 1.5
    busy = []
    results = [None] * probes
    try:
        for _ in range(sleeps):
            sock = socket.create_connection(address, timeout=sleep_ms / 1000.0 + 10)
            sock.sendall(f"GET /sleep?ms={sleep_ms} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            busy.append(sock)
        time.sleep(0.1)

        def probe(i):
            try:
                status, _, elapsed = http_get(address, "/", timeout=timeout)
                results[i] = elapsed if status == 200 else None
            except OSError:
                pass

        threads = [threading.Thread(target=probe, args=(i,), daemon=True) for i in range(probes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        return results
    finally:
        close_all(busy)


# ---------------------------------------------------------------------------------------------
# wrk.

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def wrk(url, connections, duration, threads=1, timeout=5, headers=()):
    """Runs wrk for a fixed whole number of seconds; returns rps, latency percentiles (ms), errors."""
    cmd = ["wrk", f"-t{max(1, min(threads, connections))}", f"-c{connections}", f"-d{int(duration)}s",
           "--timeout", f"{int(timeout)}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(url)
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=duration + timeout + 30)
    except subprocess.TimeoutExpired:
        terminate(proc, grace=0)
        raise RuntimeError(f"wrk did not finish: {' '.join(cmd)}")
    except BaseException:
        terminate(proc, grace=0)
        raise
    if proc in _children:
        _children.remove(proc)
    text = out.decode(errors="replace")
    result = {"rps": float("nan"), "requests": 0, "errors": 0, "timeouts": 0, "non2xx": 0}
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not match:
        raise RuntimeError(f"wrk failed: {text.strip()[-300:]}")
    result["rps"] = float(match.group(1))
    match = re.search(r"(\d+) requests in", text)
    result["requests"] = int(match.group(1)) if match else 0
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.MULTILINE)
        # no request completed within the run: no latency to report (not 0)
        result[f"p{pct}"] = _ms(match.group(1)) if match and result["requests"] else float("nan")
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if match:
        connect, read, write, tmo = map(int, match.groups())
        result["errors"] = connect + read + write + tmo
        result["timeouts"] = tmo
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if match:
        result["non2xx"] = int(match.group(1))
    return result


# ---------------------------------------------------------------------------------------------
# strace.


def strace_counts(pids, run, budget=60.0):
    """Attaches strace -f -c to every process in pids (all their threads), calls run(), detaches,
    and returns {syscall: calls} for what happened in between."""
    out = make_tempdir("bench-strace-") / "strace.txt"
    cmd = ["strace", "-f", "-c", "-o", str(out)]
    for pid in pids:
        cmd += ["-p", str(pid)]
    proc = spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # every thread is traced before the run starts
            tids = all_tids(pids)
            if tids and all(_status_field(f"/proc/{t}/status", "TracerPid:") for t in tids):
                break
            if proc.poll() is not None:
                raise RuntimeError("strace could not attach (ptrace not permitted here?)")
            time.sleep(0.05)
        else:
            raise RuntimeError("strace did not attach to every thread within 10 s")
        run()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # detach and write the summary
            try:
                proc.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                pass
        terminate(proc, grace=0)
    counts = {}
    try:
        text = out.read_text()
    except OSError:
        return counts
    for line in text.splitlines():
        fields = line.split()
        # "% time seconds usecs/call calls [errors] syscall"
        if len(fields) >= 5 and re.match(r"[\d.]+$", fields[0]) and fields[-1] != "total":
            try:
                counts[fields[-1]] = counts.get(fields[-1], 0) + int(fields[3])
            except ValueError:
                continue
    return counts


# ---------------------------------------------------------------------------------------------
# The machine, and progress on the terminal.


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = _status_field("/proc/meminfo", "MemTotal:")
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "kernel": f"{platform.system()} {platform.release()}",
        "memory": f"{mem / 1024 / 1024:.0f} GiB" if mem else "?",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nginx": nginx_version(),
        "wrk": wrk_version(),
    }


def wrk_version():
    if not shutil.which("wrk"):
        return "not installed"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "?"


def fmt_num(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def fmt_ms(ms):
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    if ms >= 1:
        return f"{ms:.1f} ms"
    return f"{ms * 1000:.0f} µs"


def fmt_duration(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def require_tools(*tools):
    missing = [t for t in tools if not shutil.which(t) and not (t == "nginx" and nginx_binary())]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (scripts/setup.sh bench installs them)")

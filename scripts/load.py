"""Load for the tools to measure with: wrk (keep-alive, one request per connection, pipelined),
fixed numbers of requests, blocking work kept in flight, slow clients, idle connections, and
strace around any of them. Every loop is bounded in count and in time, and all traffic goes to
127.0.0.1.
"""

import errno
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import procs
from serverlib import Reader, http_get

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}

# wrk sends whatever request() returns as one write: DEPTH requests at once, as the best-known
# public web framework benchmark pipelines them. wrk counts each response.
PIPELINE_LUA = """\
init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, "/")
  end
  pipelined = table.concat(requests)
end

request = function()
  return pipelined
end
"""


def _ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_pipeline_script = None


def _pipeline_lua():
    global _pipeline_script
    if _pipeline_script is None:
        _pipeline_script = procs.make_tempdir("bench-wrk-") / "pipeline.lua"
        _pipeline_script.write_text(PIPELINE_LUA)
    return _pipeline_script


def wrk(url, connections, duration, threads=1, timeout=5, headers=(), pipeline=0, cpus=None,
        server=None):
    """Runs wrk for a whole number of seconds. Returns requests/s, latency percentiles (ms),
    errors, and what the run cost: the server's CPU seconds (server.cpu_split() before and
    after), its CPU time per request in µs and the system (kernel) share of that time, and how
    busy wrk itself was (CPU seconds per second per wrk thread: near 1.0, the throughput measured
    is wrk's, not the server's)."""
    cmd = ["wrk", f"-t{max(1, min(threads, connections))}", f"-c{connections}", f"-d{int(duration)}s",
           "--timeout", f"{int(timeout)}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if pipeline:
        cmd += ["-s", str(_pipeline_lua())]
    cmd.append(url)
    if pipeline:
        cmd += ["--", str(pipeline)]
    split_before = server.cpu_split() if server else (0.0, 0.0)
    wrk_before = _children_cpu()
    start = time.monotonic()
    proc = procs.spawn(cmd, cpus=cpus, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=duration + timeout + 30)
    except BaseException:
        procs.terminate(proc, grace=0)
        raise
    procs.forget(proc)
    wall = time.monotonic() - start
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
    if server is not None:
        user, system = (after - before for after, before in zip(server.cpu_split(), split_before))
        result["server_cpu"] = user + system
        result["cpu_us"] = result["server_cpu"] / result["requests"] * 1e6 if result["requests"] else float("nan")
        # The kernel's share of it: system calls, TCP on loopback, scheduling.
        result["sys_share"] = system / result["server_cpu"] if result["server_cpu"] > 0 else float("nan")
    result["loadgen_busy"] = (_children_cpu() - wrk_before) / wall / max(1, min(threads, connections))
    return result


def loadgen(bindir, address, args, cpus=None, budget=120.0):
    """Runs the repository's load generator (tests/tools/loadgen.cpp: a closed loop, or an open one
    with --rate) against address, on cpus, and returns its result line as a dict."""
    cmd = [str(os.path.join(bindir, "loadgen")), "--host", address[0], "--port", str(address[1]),
           "--seconds", str(budget), *[str(a) for a in args]]
    proc = procs.spawn(cmd, cpus=cpus, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=budget + 30)
    finally:
        procs.terminate(proc, grace=0)
    lines = out.decode(errors="replace").strip().splitlines()
    if not lines or "=" not in lines[-1]:
        raise RuntimeError(f"loadgen printed no result: {err.decode(errors='replace')[-300:]}")
    return {key: _number(value) for key, value in (item.split("=", 1) for item in lines[-1].split())}


def _number(text):
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def wait_serving(address, budget=15.0):
    """Waits (bounded) until the server answers GET / again; returns whether it did."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            if http_get(address, "/", timeout=max(0.1, min(3.0, deadline - time.monotonic()))).status == 200:
                return True
        except OSError:
            time.sleep(0.05)
    return False


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


# --- fixed numbers of requests ----------------------------------------------------------------


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


def fixed_connections(address, total, clients=4, budget=120.0):
    """total connections, each one GET / with Connection: close read to the server's close, from
    clients threads. Returns the seconds taken; raises if one is not answered."""
    request = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    deadline = time.monotonic() + budget
    failures = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client():
        while time.monotonic() < deadline and not failures:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                with socket.create_connection(address, timeout=10) as sock:
                    sock.sendall(request)
                    while sock.recv(65536):
                        pass
            except OSError as e:
                failures.append(e)

    start = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(budget + 5)
    if failures:
        raise failures[0]
    if next(counter, None) is not None:
        raise TimeoutError(f"not all {total} connections were made within {budget:g} s")
    return time.monotonic() - start


# --- blocking work, slow clients, idle connections --------------------------------------------


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
                status = reader.read().status
                with self.lock:
                    self.completed += status == 200
            except (OSError, AssertionError, ValueError):
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
            response = http_get(address, "/", timeout=timeout)
            return response.elapsed if response.status == 200 else None
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
                response = http_get(address, "/", timeout=timeout)
                results[i] = response.elapsed if response.status == 200 else None
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
            for sock in pending.values():
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


@dataclass
class IdleMemory:
    """What count idle connections added to a server: user memory (PSS over its processes, KiB
    before and after) and the kernel's task memory (stacks and page tables, machine-wide)."""

    count: int
    kib_before: int
    kib_after: int
    kernel_kib_added: int
    held: bool  # every connection was accepted within the time allowed

    @property
    def bytes_per_conn(self):
        return (self.kib_after - self.kib_before) * 1024.0 / self.count

    @property
    def kernel_bytes_per_conn(self):
        return self.kernel_kib_added * 1024.0 / self.count


def idle_memory(server, count, budget=60.0, settle=0.5):
    """Memory per idle connection: opens count connections that send nothing, waits until the
    server holds them, and measures what they added (IdleMemory)."""
    wait_serving(server.address, 5)
    time.sleep(0.2)
    before = procs.memory_kib(server.pids())
    kernel_before = procs.kernel_task_kib()
    fds = procs.fd_total(server.pids())
    socks = open_idle(server.address, count, budget)
    try:
        deadline = time.monotonic() + min(30.0, budget)
        held = False
        while time.monotonic() < deadline and not held:
            held = procs.fd_total(server.pids()) - fds >= count
            time.sleep(0.1)
        time.sleep(settle)
        after = procs.memory_kib(server.pids())
        kernel_after = procs.kernel_task_kib()
    finally:
        close_all(socks)
    return IdleMemory(count, before, after, kernel_after - kernel_before, held)


# --- strace -----------------------------------------------------------------------------------


def strace_counts(pids, run, budget=60.0):
    """Attaches strace -f -c to every process in pids (all their threads), calls run(), detaches,
    and returns {syscall: calls} for what happened in between."""
    out = procs.make_tempdir("bench-strace-") / "strace.txt"
    cmd = ["strace", "-f", "-c", "-o", str(out)]
    for pid in pids:
        cmd += ["-p", str(pid)]
    proc = procs.spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # every thread is traced before the run starts
            tids = procs.all_tids(pids)
            if tids and all(procs.traced(t) for t in tids):
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
        procs.terminate(proc, grace=0)
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


def wrk_version():
    if not shutil.which("wrk"):
        return "not installed"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "?"

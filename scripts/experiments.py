"""make bench, second half: the experiments behind docs/claims.md.

The classic articles this book is built on make claims that the main workloads of make bench do
not test: that more loops than cores do not help, that a process per client thrashes past twice
the cores, that poll() costs O(n), that sendfile, TCP_NODELAY, accept4 and deferred accept each
help. Each experiment below tests one or two of them, on the same servers and settings as the
main workloads and in the same run, so that its numbers and theirs compare:

  threads      06 and 07 with 1, 2, 4 and 8 workers or loops: keep-alive GET / (256 connections),
               and 07's GET / latency with 8 /sleep requests in flight
  clients      02, 03 and 04 at 2, 4, 16 and 256 keep-alive clients: CPU per request and the
               kernel's share of it
  payload-mix  GET / latency at a fixed rate (an open loop), alone and with 100 requests/s of
               about 1 ms of computation each beside it, on 04, 05, 08, 10 and 11
  poller       the floor waiting in epoll_wait(), poll() and select() with 10, 1,000 and
               10,000 idle connections besides 4 busy ones: CPU per request
  accept       the floor with Connection: close: accept4() against accept() and two fcntl(),
               and TCP_DEFER_ACCEPT: system calls per connection, and the descriptors that 200
               silent clients take
  alloc        heap allocations per keep-alive request of every server (tests/tools/alloc_count.cpp,
               preloaded)
  file         the floor answering with a 4 MiB file: sendfile() against read() and send()
  nagle        one client, the floor's answer in one write or two, with and without TCP_NODELAY
  linger       500 new connections a second that stay open after their answer: the descriptors
               a lingering close holds, against a plain close
  backlog      01-04 while one client has sent half a request: the kernel's accept queue
  idle-clients 02 and 03 holding 1,000 idle clients: memory per client

Every value lands in bench.csv under the server's name (the floor's variants as floor+VARIANT,
of kind "experiment"), with the workload named above.
"""

import os
import socket
import threading
import time
from pathlib import Path

import load
import procs
import targets
from benchdata import FLOOR, Target, fmt_ms

THREAD_COUNTS = (1, 2, 4, 8)
CLIENT_COUNTS = (2, 4, 16, 256)
IDLE_COUNTS = (10, 1000, 10000)
MIX_CHAPTERS = ("04", "05", "08", "10", "11")
BACKLOG_CHAPTERS = ("01", "02", "03", "04")
FLOOR_VARIANTS = {  # name: (flags, close)
    "floor+poll": (["--poller", "poll"], False),
    "floor+select": (["--poller", "select"], False),
    "floor+close": ([], True),
    "floor+accept-fcntl": (["--accept-fcntl"], True),
    "floor+defer-accept": (["--defer-accept"], True),
    "floor+linger": (["--linger", "1000"], True),
    "floor+split": (["--split"], False),
    "floor+nagle": (["--nagle"], False),
    "floor+nagle-split": (["--nagle", "--split"], False),
    "floor+sendfile": (["--file", "{big}"], False),
    "floor+copy": (["--file", "{big}", "--copy"], False),
}


class Experiments:
    """The experiments' sessions, for a bench.Bench that has discovered its servers."""

    def __init__(self, bench, step, session):
        self.bench = bench
        self.cfg = bench.cfg
        self.Step = step
        self.Session = session

    # -- servers ------------------------------------------------------------------------------

    def chapter(self, number):
        return next((t for t in self.bench.chapters() if t.name[:2] == number and "+" not in t.name
                     and "@" not in t.name), None)

    def floor(self, name):
        """The target of a floor variant (added to the run the first time it is asked for)."""
        if name == FLOOR:
            return self.bench.by_name(FLOOR)
        t = self.bench.by_name(name)
        if t is None:
            t = Target(name, "experiment", "floor", 1, cpus=self.cfg.server_cpus)
            self.bench.targets.append(t)
        return t

    def floor_starter(self, name, env=None):
        cfg = self.cfg
        flags, close = FLOOR_VARIANTS.get(name, ([], False))
        flags = [f.format(big=Path(cfg.docroot) / "big.bin") for f in flags]
        return lambda: targets.FloorServer(cfg.bindir, cfg.logdir, close=close, cpus=cfg.server_cpus,
                                           args=flags, env=env, name=name)

    def chapter_starter(self, t, args=None, env=None):
        cfg = self.cfg
        ch = self.bench.chapter_of[t.name]
        return lambda: targets.ChapterServer(ch, t.args if args is None else args, cfg.docroot, cfg.logdir,
                                             cfg.server_cpus, env)

    def with_threads(self, t, n):
        ch = self.bench.chapter_of[t.name]
        return targets.chapter_args(ch, n, 256)

    def one(self, t, label, estimate, fn, start):
        return self.Session(t, 1, [self.Step(label, estimate, fn)], start)

    # -- the plan -----------------------------------------------------------------------------

    def plan(self, wanted=None):
        """The sessions of every experiment, or of those named in wanted. The three whose numbers
        are ratios of near neighbours are repeated --runs times, interleaved like the main
        workloads; the others measure counts, or differences far larger than the noise."""
        def on(name):
            return wanted is None or name in wanted
        sessions = []
        for rep in range(1, self.cfg.runs + 1):
            sessions += self.threads(rep) if on("threads") else []
            sessions += self.clients(rep) if on("clients") else []
            sessions += self.poller(rep) if on("poller") else []
        for name in ("threads", "payload-mix", "accept", "alloc", "file", "nagle", "linger", "backlog", "idle-clients"):
            if on(name):
                sessions += getattr(self, "threads_blocking" if name == "threads" else name.replace("-", "_"))()
        return sessions

    def _wrk(self, t, srv, workload, param, connections, duration=None, switches=False, **kwargs):
        """wrk against srv, recorded as (t, workload, param): rps, latency, CPU per request and
        its system share, and (switches) context switches per request."""
        cfg = self.cfg
        before = procs.context_switches(srv.pids()) if switches else None
        r = load.wrk(srv.url, connections, duration or cfg.duration, cfg.wrk_threads, cpus=cfg.loadgen_cpus,
                     server=srv, **kwargs)
        if switches and r["requests"]:
            after = procs.context_switches(srv.pids())
            self.bench.record(t, workload, param, "vol_cs_per_req", (after[0] - before[0]) / r["requests"])
            self.bench.record(t, workload, param, "nonvol_cs_per_req", (after[1] - before[1]) / r["requests"])
        for metric, key in (("rps", "rps"), ("p50_ms", "p50"), ("p99_ms", "p99"), ("cpu_us", "cpu_us"),
                            ("sys_share", "sys_share"), ("loadgen_busy", "loadgen_busy")):
            self.bench.record(t, workload, param, metric, r[key])
        self.bench.record(t, workload, param, "errors", r["errors"] + r["non2xx"])
        return (f"{r['rps']:>10,.0f} req/s  p50 {fmt_ms(r['p50']):<8} p99 {fmt_ms(r['p99']):<8} "
                f"{r['cpu_us']:6.1f} µs CPU/req ({r['sys_share']:.0%} system)")

    def warm(self, srv, connections=16):
        if self.cfg.warmup:
            load.wrk(srv.url, connections, self.cfg.warmup, self.cfg.wrk_threads, cpus=self.cfg.loadgen_cpus)

    # -- threads: more workers than cores (claims 1, 3) ---------------------------------------

    def threads(self, rep):
        sessions = []
        for number in ("06", "07"):
            t = self.chapter(number)
            if t is None:
                continue
            for n in THREAD_COUNTS:
                def run(srv, t=t, n=n):
                    self.warm(srv, 256)
                    return self._wrk(t, srv, "threads", n, 256, switches=True)
                sessions.append(self.Session(t, rep, [self.Step(f"keep-alive 256 conn, --threads {n}",
                                                                self.cfg.duration + self.cfg.warmup + 0.5, run)],
                                             self.chapter_starter(t, self.with_threads(t, n))))
        return sessions

    def threads_blocking(self):
        cfg = self.cfg
        t = self.chapter("07")
        if t is None:
            return []
        sessions = []
        for n in THREAD_COUNTS:
            def run(srv, n=n):
                with load.SleepLoad(srv.address, cfg.sleepers, cfg.sleep_ms, max_seconds=cfg.block_duration + 30):
                    return self._wrk(t, srv, "threads-blocking", n, cfg.block_conns, cfg.block_duration, timeout=10)
            sessions.append(self.one(t, f"GET / with {cfg.sleepers} sleeps, --threads {n}", cfg.block_duration + 0.5,
                                     run, self.chapter_starter(t, self.with_threads(t, n))))
        return sessions

    # -- clients: a process or a thread per client (claim 6) ----------------------------------

    def clients(self, rep):
        sessions = []
        for number in ("02", "03", "04"):
            t = self.chapter(number)
            if t is None:
                continue
            for n in CLIENT_COUNTS:
                def run(srv, t=t, n=n):
                    self.warm(srv, n)
                    # No context switches here: a process or thread per client exits with its
                    # client, taking its counts with it (the main workloads read them while alive).
                    return self._wrk(t, srv, "clients", n, n)
                sessions.append(self.Session(t, rep, [self.Step(f"keep-alive, {n} clients",
                                                                self.cfg.duration + self.cfg.warmup + 0.5, run)],
                                             self.chapter_starter(t)))
        return sessions

    # -- payload-mix: latency of cheap requests beside costly ones (claims 7, 10) -------------

    def payload_mix(self):
        cfg = self.cfg
        sessions = []
        seconds = 2.0 if cfg.quick else 4.0
        for number in MIX_CHAPTERS:
            t = self.chapter(number)
            if t is None:
                continue
            for background in (0, 100):
                def run(srv, t=t, background=background):
                    def costly():
                        load.loadgen(cfg.bindir, srv.address, [
                            "--rate", background, "--duration", seconds + 0.5, "--connections", 4,
                            "--timeout", 5, "--path", "/compute?n=20000"], cpus=cfg.loadgen_cpus, budget=seconds + 20)
                    side = threading.Thread(target=costly, daemon=True)
                    if background:
                        side.start()
                        time.sleep(0.25)
                    r = load.loadgen(cfg.bindir, srv.address, ["--rate", 2000, "--duration", seconds, "--connections",
                                                               16, "--timeout", 5, "--path", "/"],
                                     cpus=cfg.loadgen_cpus, budget=seconds + 20)
                    if background:
                        side.join(seconds + 30)
                    for metric, key in (("p50_ms", "p50_us"), ("p99_ms", "p99_us"), ("p999_ms", "p999_us")):
                        self.bench.record(t, "payload-mix", background, metric, r[key] / 1000)
                    n = max(r["scheduled"], 1)
                    self.bench.record(t, "payload-mix", background, "timed_out_share", r["timed_out"] / n)
                    return (f"GET / p50 {fmt_ms(r['p50_us'] / 1000)}, p99 {fmt_ms(r['p99_us'] / 1000)}, "
                            f"p99.9 {fmt_ms(r['p999_us'] / 1000)}")
                sessions.append(self.one(t, f"GET / at 2000/s, {background}/s of 1 ms beside", seconds + 1.0, run,
                                         self.chapter_starter(t)))
        return sessions

    # -- poller: epoll_wait against poll and select (claim 16) --------------------------------

    def poller(self, rep):
        sessions = []
        for name in (FLOOR, "floor+poll", "floor+select"):
            t = self.floor(name)
            for idle in IDLE_COUNTS:
                if name == "floor+select" and idle >= 1024:
                    if rep == 1:
                        self.bench.note(t, "poller", f"{idle} idle: not run: select() cannot watch a descriptor "
                                        f"above FD_SETSIZE (1024); the floor exits 3 when it is given one")
                    continue

                def run(srv, t=t, idle=idle):
                    socks = load.open_idle(srv.address, idle, budget=60)
                    try:
                        deadline = time.monotonic() + 30
                        while procs.fd_total(srv.pids()) < idle and time.monotonic() < deadline:
                            time.sleep(0.05)
                        self.warm(srv, 4)
                        return self._wrk(t, srv, "poller", idle, 4)
                    finally:
                        load.close_all(socks)
                sessions.append(self.Session(t, rep, [self.Step(f"4 busy conn beside {idle} idle",
                                                                self.cfg.duration + 1.0 + idle / 8000, run)],
                                             self.floor_starter(name)))
        return sessions

    # -- accept: accept4 and deferred accept (claim 5) ----------------------------------------

    def accept(self):
        cfg = self.cfg
        sessions = []
        for name in ("floor+close", "floor+accept-fcntl", "floor+defer-accept"):
            t = self.floor(name)

            def cpu(srv, t=t):
                return self._wrk(t, srv, "accept", cfg.close_conns, cfg.close_conns, headers=["Connection: close"])

            def calls(srv, t=t):
                counts = load.strace_counts(srv.pids(), lambda: load.fixed_connections(
                    srv.address, cfg.closes, clients=4, budget=300))
                self.bench.record(t, "accept", cfg.close_conns, "syscalls_per_conn", sum(counts.values()) / cfg.closes)
                for call in ("accept", "accept4", "fcntl", "epoll_wait"):
                    self.bench.record(t, "accept", cfg.close_conns, f"syscall:{call}", counts.get(call, 0) / cfg.closes)
                return f"{sum(counts.values()) / cfg.closes:.2f} system calls per connection"

            def silent(srv, t=t):
                before = procs.fd_total(srv.pids())
                socks = load.open_idle(srv.address, 200, budget=30)
                try:
                    time.sleep(0.5)
                    held = procs.fd_total(srv.pids()) - before
                finally:
                    load.close_all(socks)
                self.bench.record(t, "accept", cfg.close_conns, "silent_fds", held)
                return f"200 silent clients: {held} descriptors in the server"
            steps = [self.Step("Connection: close, CPU", cfg.duration + 0.5, cpu) for _ in range(cfg.runs)]
            steps += [self.Step(f"{cfg.closes} connections under strace", 0.5 + cfg.closes / 1500, calls),
                      self.Step("200 silent clients", 1.0, silent)]
            sessions.append(self.Session(t, 1, steps, self.floor_starter(name)))
        return sessions

    # -- alloc: heap allocations per request (claim 11) ---------------------------------------

    def alloc(self):
        cfg = self.cfg
        library = Path(cfg.bindir) / "liballoc_count.so"
        if not library.exists():
            self.bench.note("all", "alloc", f"{library} is missing (a sanitizer build has none): not measured")
            return []
        counter = procs.make_tempdir("bench-alloc-") / "count"
        sessions = []
        for t in [t for t in self.bench.targets if t.kind in ("chapter", "nginx", "floor") and "@" not in t.name]:
            env = dict(os.environ, LD_PRELOAD=str(library), ALLOC_COUNT_FILE=str(counter))
            if t.kind == "nginx":
                def start(t=t, env=env):
                    return targets.NginxServer(t.workers, cfg.logdir, cfg.server_cpus, env=env)
            elif t.kind == "floor":
                start = self.floor_starter(FLOOR, env=env)
            else:
                start = self.chapter_starter(t, env=env)

            def begin(start=start):
                counter.write_bytes(bytes(8))
                return start()

            def run(srv, t=t):
                connections = 16 if t.cap("concurrent") else 1
                load.fixed_requests(srv.address, 2000, connections, budget=120)
                before = int.from_bytes(counter.read_bytes()[:8], "little")
                load.fixed_requests(srv.address, cfg.requests, connections, budget=300)
                allocs = (int.from_bytes(counter.read_bytes()[:8], "little") - before) / cfg.requests
                self.bench.record(t, "alloc", cfg.requests, "allocs_per_req", allocs)
                return f"{allocs:.2f} allocations per request"
            sessions.append(self.one(t, f"{cfg.requests} requests, allocations counted", 1.0 + cfg.requests / 15000,
                                     run, begin))
        return sessions

    # -- file: sendfile against read and send (claim 11) --------------------------------------

    def file(self):
        cfg = self.cfg
        sessions = []
        for name in ("floor+sendfile", "floor+copy"):
            t = self.floor(name)
            steps = [self.Step("GET a 4 MiB file, 4 conn", cfg.duration + 0.5,
                               lambda srv, t=t: self._wrk(t, srv, "file", 4, 4)) for _ in range(cfg.runs)]
            sessions.append(self.Session(t, 1, steps, self.floor_starter(name)))
        return sessions

    # -- nagle: one answer in two writes, with and without TCP_NODELAY (claim 11) -------------

    def nagle(self):
        cfg = self.cfg
        sessions = []
        for name in (FLOOR, "floor+split", "floor+nagle", "floor+nagle-split"):
            t = self.floor(name)
            steps = [self.Step("keep-alive, 1 conn", cfg.duration + 0.5,
                               lambda srv, t=t: self._wrk(t, srv, "nagle", 1, 1)) for _ in range(cfg.runs)]
            sessions.append(self.Session(t, 1, steps, self.floor_starter(name)))
        return sessions

    # -- linger: descriptors held by a lingering close (claim 11) -----------------------------

    def linger(self):
        rate, seconds = 500, 2.0
        sessions = []
        for name in ("floor+close", "floor+linger"):
            t = self.floor(name)

            def run(srv, t=t):
                before = procs.fd_total(srv.pids())
                socks, peak = [], 0
                start = time.monotonic()
                try:
                    for i in range(int(rate * seconds)):
                        delay = start + i / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        sock = socket.create_connection(srv.address, timeout=5)
                        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                        sock.recv(4096)  # the answer; the client keeps the connection open
                        socks.append(sock)
                        if i % 50 == 49:
                            peak = max(peak, procs.fd_total(srv.pids()) - before)
                finally:
                    load.close_all(socks)
                self.bench.record(t, "linger", rate, "fds_held", peak)
                return f"{rate}/s new connections kept open by their clients: {peak} descriptors held"
            sessions.append(self.one(t, f"{rate}/s new connections, {seconds:.0f} s", seconds + 0.5, run,
                                     self.floor_starter(name)))
        return sessions

    # -- backlog: the accept queue of a server busy reading (claim 17) ------------------------

    def backlog(self):
        clients = 64
        sessions = []
        for number in BACKLOG_CHAPTERS:
            t = self.chapter(number)
            if t is None:
                continue

            def run(srv, t=t):
                stalled = socket.create_connection(srv.address, timeout=5)
                stalled.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n")  # half a request, then nothing
                time.sleep(0.2)
                socks = []
                try:
                    for _ in range(clients):
                        sock = socket.create_connection(srv.address, timeout=5)
                        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                        socks.append(sock)
                    time.sleep(0.5)
                    queued = accept_queue(srv.address[1])
                    answered = 0
                    deadline = time.monotonic() + 1.0
                    for sock in socks:
                        sock.settimeout(max(0.01, deadline - time.monotonic()))
                        try:
                            answered += sock.recv(64).startswith(b"HTTP/1.1 200")
                        except OSError:
                            pass
                finally:
                    load.close_all(socks)
                    stalled.close()
                self.bench.record(t, "backlog", clients, "queued", queued)
                self.bench.record(t, "backlog", clients, "answered_share", answered / clients)
                return f"{queued} of {clients} waiting in the accept queue, {answered} answered within 1 s"
            sessions.append(self.one(t, f"{clients} clients behind a half request", 2.5, run, self.chapter_starter(t)))
        return sessions

    # -- idle: memory per client of a process or thread per client (claim 18) -----------------

    def idle_clients(self):
        count = 1000
        sessions = []
        for number in ("02", "03"):
            t = self.chapter(number)
            if t is None:
                continue

            def run(srv, t=t):
                m = load.idle_memory(srv, count)
                if not m.held:
                    self.bench.note(t, "idle-clients", "not every idle connection was accepted within the time allowed")
                self.bench.record(t, "idle-clients", count, "bytes_per_conn", m.bytes_per_conn)
                self.bench.record(t, "idle-clients", count, "kernel_bytes_per_conn", m.kernel_bytes_per_conn)
                return f"{m.bytes_per_conn:,.0f} bytes per connection (+{m.kernel_bytes_per_conn:,.0f} in the kernel)"
            args = targets.chapter_args(self.bench.chapter_of[t.name], self.cfg.workers, count)
            sessions.append(self.one(t, f"{count} idle connections", 1.0 + count / 500, run,
                                     self.chapter_starter(t, args)))
        return sessions


def accept_queue(port):
    """The connections waiting in the accept queue of the listener on 127.0.0.1:port: for a
    listening socket, /proc/net/tcp's rx_queue is that queue's length."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
                return int(fields[4].split(":")[1], 16)
    return 0

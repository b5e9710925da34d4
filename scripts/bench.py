#!/usr/bin/python3
"""make bench: every chapter and nginx, measured side by side on this machine.

    /usr/bin/python3 scripts/bench.py --build build            # the full run (make bench)
    /usr/bin/python3 scripts/bench.py --build build --quick    # a 1-2 minute smoke run

Each chapter in chapters/registry.json that is built is started, and so is an nginx configured
for the same job (GET / answers "Hello, World!") with as many worker processes as the chapter
has workers (capped at --workers, the core count by default). Then, one after another and on the
same settings, repeated --runs times and reported as medians:

  1. keep-alive GET / at 1, 16, 256 and 1,024 connections (wrk --latency): requests/s, p50, p99;
  2. one request per connection (Connection: close) at 16 connections;
  3. GET / latency while 8 /sleep?ms=200 requests are kept in flight (chapters only: nginx has
     no blocking route);
  4. 10,000 idle connections: the server's memory before and after, per connection (chapters
     whose model claims c10k, and their nginx);
  5. system calls (strace -f -c) and context switches (/proc) per request, over a fixed number
     of requests.

Results: bench.csv, bench.md and PNG plots in docs/results/ (--out; a quick run writes to
BUILD/bench-quick/ so that it never replaces a full run's results).
"""

import argparse
import csv
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadlib as L  # noqa: E402

# What the project aims for. Keyed by chapter number so that a goal whose chapter does not exist
# yet (or is not built) is reported as "not measured" instead of failing.
GOALS = [
    ("04", None, "keep-alive req/s >= 1.0x nginx with one worker"),
    ("07", None, "keep-alive req/s >= 1.0x nginx with the same worker count"),
    ("08", None, "keep-alive req/s >= 1.0x nginx with the same worker count"),
    ("09", "07", "keep-alive req/s >= chapter 07's"),
    ("05", "04", "GET / p99 under blocking work <= 1/10 of chapter 04's"),
]


class Target:
    """A server to measure: a chapter, or nginx with some number of workers."""

    def __init__(self, name, kind, chapter=None, args=(), workers=1, twin=None):
        self.name = name
        self.kind = kind
        self.chapter = chapter
        self.args = list(args)
        self.workers = workers
        self.twin = twin  # the nginx target compared with this chapter

    @property
    def model(self):
        return self.chapter.model if self.chapter else "nginx"

    def cap(self, name):
        return True if self.chapter is None else self.chapter.cap(name)

    def start(self, cfg):
        if self.kind == "nginx":
            return L.NginxServer(self.workers, cfg.logdir)
        return L.ChapterServer(self.chapter, self.args, cfg.docroot, cfg.logdir)


def nginx_name(workers):
    return f"nginx-{workers}w"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="the build directory (make BUILD=...)")
    p.add_argument("--quick", action="store_true", help="a smoke run: one run, short, smaller counts")
    p.add_argument("--runs", type=int, help="repetitions; medians are reported (default 3, quick 1)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 4, quick 1)")
    p.add_argument("--workers", type=int, help="W: --threads for chapters that take it, the cap on nginx workers (default: cores)")
    p.add_argument("--connections", help="keep-alive connection counts (default 1,16,256,1024; quick 1,16,256)")
    p.add_argument("--idle", type=int, help="idle connections held for the memory measure (default 10000, quick 1000)")
    p.add_argument("--requests", type=int, help="requests counted for system calls per request (default 20000, quick 2000)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1: the server keeps the other core)")
    p.add_argument("--chapter", action="append", default=[], help="only this chapter (repeatable; prefix like 04 works)")
    p.add_argument("--out", help="output directory (default docs/results, quick: BUILD/bench-quick)")
    a = p.parse_args()
    q = a.quick
    a.runs = a.runs or (1 if q else 3)
    a.duration = a.duration or (1 if q else 4)
    a.workers = a.workers or (L.os.cpu_count() or 1)
    a.levels = [int(x) for x in (a.connections or ("1,16,256" if q else "1,16,256,1024")).split(",")]
    a.idle = a.idle or (1000 if q else 10000)
    a.requests = a.requests or (2000 if q else 20000)
    a.warmup = 0 if q else 1
    a.close_conns = 16
    a.block_conns = 16
    a.sleepers = 8
    a.sleep_ms = 200
    # Where the sleeps stall every client, one GET / waits for all of them (8 x 200 ms): the run
    # must last several such rounds for wrk to collect latencies at all.
    a.block_duration = max(a.duration, 5)
    build = Path(a.build)
    a.docroot = build / "www"
    a.out = Path(a.out) if a.out else (build / "bench-quick" if q else L.ROOT / "docs" / "results")
    return a


# ---------------------------------------------------------------------------------------------
# The plan: sessions (a server started, some measurements, the server stopped), each step with a
# time estimate, so the total is known before anything runs.


class Step:
    def __init__(self, label, estimate, fn):
        self.label = label
        self.estimate = estimate
        self.fn = fn


class Session:
    def __init__(self, target, rep, steps):
        self.target = target
        self.rep = rep
        self.steps = steps


START_COST = 0.3  # seconds to start and stop a server (estimate)


class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.values = {}  # (target, workload, param, metric) -> [values]
        self.notes = []  # (target, workload, text)
        self.top = {}  # target -> [(syscall, per request)]
        self.targets = []
        self.goals = GOALS

    def record(self, target, workload, param, metric, value):
        self.values.setdefault((target.name, workload, param, metric), []).append(value)

    def note(self, target, workload, text):
        entry = (target if isinstance(target, str) else target.name, workload, text)
        if entry not in self.notes:
            self.notes.append(entry)

    # -- discovery ----------------------------------------------------------------------------

    def discover(self):
        cfg = self.cfg
        chapters = L.load_chapters(cfg.build)
        if cfg.chapter:
            chapters = [c for c in chapters if any(c.name.startswith(w) for w in cfg.chapter)]
        top = max(cfg.levels)
        print("Starting each chapter once to read its worker count (GET /stats)...")
        for ch in chapters:
            if not ch.built:
                self.note(ch.name, "all", f"not built ({ch.binary} missing): not measured")
                continue
            args = L.chapter_args(ch, cfg.workers, top)
            try:
                srv = L.ChapterServer(ch, args, cfg.docroot, cfg.logdir)
                try:
                    workers = int(srv.stats()["workers"])
                finally:
                    srv.stop()
            except Exception as e:  # a chapter being written may not start yet: measure the rest
                self.note(ch.name, "all", f"did not start: {e}")
                continue
            # nginx's equivalent of "uses every core" is one worker per core: a chapter that
            # reports a worker per client (a process or thread per connection) or a pool larger
            # than W is compared with W nginx workers; a single-core model with one.
            twin = min(workers, cfg.workers) if ch.cap("multicore") else 1
            t = Target(ch.name, "chapter", ch, args, workers, nginx_name(twin))
            t.twin_workers = twin
            self.targets.append(t)
            extra = " ".join(args)
            print(f"  {ch.name:<20} workers={workers:<5} vs {t.twin:<9} args: {extra}")
        for w in sorted({t.twin_workers for t in self.targets}):
            self.targets.append(Target(nginx_name(w), "nginx", workers=w))

    def chapters(self):
        return [t for t in self.targets if t.kind == "chapter"]

    def by_name(self, name):
        return next((t for t in self.targets if t.name == name), None)

    # -- the plan -----------------------------------------------------------------------------

    def plan(self):
        cfg = self.cfg
        sessions = []
        d = cfg.duration
        for rep in range(1, cfg.runs + 1):
            for t in self.targets:
                steps = []
                concurrent = t.cap("concurrent")
                if cfg.warmup:
                    steps.append(Step("warm-up", cfg.warmup + 0.2, self.warm_fn(t)))
                for n in cfg.levels:
                    if n > 1 and not concurrent:
                        self.note(t, f"keep-alive {n}", "skipped: the model is not concurrent (one connection "
                                  "at a time), so the other keep-alive connections would only wait")
                        continue
                    steps.append(Step(f"keep-alive, {n} conn", d + 0.2, self.keepalive_fn(t, n)))
                steps.append(Step(f"Connection: close, {cfg.close_conns} conn", d + 0.2, self.close_fn(t)))
                if t.kind == "nginx":
                    self.note(t, "blocking", "n/a: nginx has no blocking route")
                if t.kind == "chapter" and not concurrent:
                    self.note(t, "blocking", "skipped: not concurrent (the /sleep clients and the GET / "
                              "clients would take turns, one connection at a time)")
                sessions.append(Session(t, rep, steps))
                if t.kind == "chapter" and concurrent:
                    # The model as it ships (no --threads): whether it keeps GET / fast while
                    # blocking work runs is a property of its default design (a pool sized for
                    # blocking work, say), not of the worker count matched with nginx above.
                    default = Target(t.name, "chapter", t.chapter,
                                     L.chapter_args(t.chapter, None, 0), t.workers, t.twin)
                    sessions.append(Session(default, rep, [Step(
                        f"GET / with {cfg.sleepers} x /sleep?ms={cfg.sleep_ms} in flight",
                        cfg.block_duration + 0.3, self.blocking_fn(t))]))
        c10k = [t for t in self.chapters() if t.cap("c10k")]
        for t in self.chapters():
            if not t.cap("c10k"):
                self.note(t, "memory", "skipped: the model does not claim c10k (a process or thread per "
                          "connection, or one connection at a time)")
        mem_targets = c10k + [self.by_name(n) for n in sorted({t.twin for t in c10k})]
        for rep in range(1, cfg.runs + 1):
            for t in mem_targets:
                est = 1.0 + cfg.idle / 8000
                sessions.append(Session(t, rep, [Step(f"{cfg.idle} idle connections", est, self.memory_fn(t))]))
        for t in self.targets:
            steps = [Step(f"{cfg.requests} requests, context switches", 0.1 + cfg.requests / 40000,
                          self.ctx_fn(t)) for _ in range(cfg.runs)]
            steps.append(Step(f"{cfg.requests} requests under strace -f -c", 0.5 + cfg.requests / 15000,
                              self.strace_fn(t)))
            sessions.append(Session(t, 0, steps))
        return sessions

    def conns_for(self, t, n):
        return n if t.cap("concurrent") else 1

    # -- the workloads ------------------------------------------------------------------------

    def warm_fn(self, t):
        def run(srv):
            L.wrk(srv.url, self.conns_for(t, 16), self.cfg.warmup, self.cfg.wrk_threads)
            return ""
        return run

    def _wrk_record(self, t, workload, param, r):
        self.record(t, workload, param, "rps", r["rps"])
        self.record(t, workload, param, "p50_ms", r["p50"])
        self.record(t, workload, param, "p99_ms", r["p99"])
        self.record(t, workload, param, "errors", r["errors"] + r["non2xx"])
        err = f"  ({r['errors'] + r['non2xx']} errors)" if r["errors"] + r["non2xx"] else ""
        return f"{r['rps']:>10,.0f} req/s  p50 {L.fmt_ms(r['p50'])}  p99 {L.fmt_ms(r['p99'])}{err}"

    def keepalive_fn(self, t, n):
        def run(srv):
            r = L.wrk(srv.url, n, self.cfg.duration, self.cfg.wrk_threads)
            return self._wrk_record(t, "keep-alive", n, r)
        return run

    def close_fn(self, t):
        def run(srv):
            r = L.wrk(srv.url, self.cfg.close_conns, self.cfg.duration, self.cfg.wrk_threads,
                      headers=["Connection: close"])
            return self._wrk_record(t, "close", self.cfg.close_conns, r)
        return run

    def blocking_fn(self, t):
        cfg = self.cfg

        def run(srv):
            if hasattr(srv, "stats"):
                self.record(t, "blocking", cfg.block_conns, "workers", srv.stats()["workers"])
            with L.SleepLoad(srv.address, cfg.sleepers, cfg.sleep_ms, max_seconds=cfg.duration + 30) as load:
                r = L.wrk(srv.url, cfg.block_conns, cfg.block_duration, cfg.wrk_threads, timeout=10)
            self.record(t, "blocking", cfg.block_conns, "sleeps_per_s", load.completed / cfg.block_duration)
            return self._wrk_record(t, "blocking", cfg.block_conns, r)
        return run

    def memory_fn(self, t):
        def run(srv):
            before, after, per, held = L.idle_memory(srv, self.cfg.idle)
            if not held:
                self.note(t, "memory", "not every idle connection was accepted within the time allowed")
            self.record(t, "idle", self.cfg.idle, "kib_before", before)
            self.record(t, "idle", self.cfg.idle, "kib_after", after)
            self.record(t, "idle", self.cfg.idle, "bytes_per_conn", per)
            return f"{before / 1024:.1f} MiB -> {after / 1024:.1f} MiB = {per:,.0f} bytes per connection"
        return run

    def ctx_fn(self, t):
        cfg = self.cfg

        def run(srv):
            conns = self.conns_for(t, 16)
            before = L.context_switches(srv.pids())
            after = []
            secs = L.fixed_requests(srv.address, cfg.requests, conns, budget=120,
                                    on_done=lambda: after.append(L.context_switches(srv.pids())))
            vol = (after[0][0] - before[0]) / cfg.requests
            nonvol = (after[0][1] - before[1]) / cfg.requests
            self.record(t, "syscalls", cfg.requests, "vol_cs_per_req", vol)
            self.record(t, "syscalls", cfg.requests, "nonvol_cs_per_req", nonvol)
            return f"{vol:.3f} voluntary + {nonvol:.3f} involuntary switches per request ({cfg.requests / secs:,.0f} req/s)"
        return run

    def strace_fn(self, t):
        cfg = self.cfg

        def run(srv):
            conns = self.conns_for(t, 16)
            counts = L.strace_counts(srv.pids(), lambda: L.fixed_requests(srv.address, cfg.requests, conns, budget=300))
            if not counts:
                raise RuntimeError("strace reported nothing")
            total = sum(counts.values()) / cfg.requests
            self.record(t, "syscalls", cfg.requests, "syscalls_per_req", total)
            for name, calls in counts.items():
                self.record(t, "syscalls", cfg.requests, f"syscall:{name}", calls / cfg.requests)
            top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
            return f"{total:.2f} system calls per request: " + ", ".join(f"{k} {v / cfg.requests:.2f}" for k, v in top)
        return run

    # -- running ------------------------------------------------------------------------------

    def run(self, sessions):
        total_steps = sum(len(s.steps) for s in sessions)
        estimate = sum(START_COST + sum(st.estimate for st in s.steps) for s in sessions)
        print(f"\n{len(self.targets)} servers, {total_steps} measurements, {self.cfg.runs} run(s) each: "
              f"about {L.fmt_duration(estimate)} (min:s).\n")
        width = max(len(t.name) for t in self.targets)
        start = time.monotonic()
        done_est = 0.0
        k = 0
        for s in sessions:
            rep = f"run {s.rep}/{self.cfg.runs}" if s.rep else "syscalls"
            srv = None
            for st in s.steps:
                k += 1
                elapsed = time.monotonic() - start
                remaining = max(0.0, estimate - done_est)
                prefix = f"[{k:>3}/{total_steps} {L.fmt_duration(elapsed)}, ~{L.fmt_duration(remaining)} left] {rep:<9} {s.target.name:<{width}} {st.label:<38}"
                print(prefix, end="", flush=True)
                try:
                    if srv is None or not srv.alive():
                        if srv is not None:
                            self.note(s.target, "all", f"the server exited during a run: {tail(srv)}")
                            srv.stop()
                        srv = s.target.start(self.cfg)
                        L.wait_serving(srv.address, 5)
                    summary = st.fn(srv)
                    print(" " + summary if summary else " ok")
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    print(f" FAILED: {e}")
                    self.note(s.target, st.label, f"failed: {e}")
                done_est += st.estimate + (START_COST if st is s.steps[-1] else 0)
            if srv is not None:
                srv.stop()
        return time.monotonic() - start

    # -- results ------------------------------------------------------------------------------

    def median(self, target, workload, param, metric):
        vals = [v for v in self.values.get((target, workload, param, metric), []) if not math.isnan(v)]
        return statistics.median(vals) if vals else None

    def ratio(self, t, workload, param, metric):
        """The chapter's median over its nginx twin's, at the same workload and parameter."""
        if t.kind != "chapter":
            return None
        mine = self.median(t.name, workload, param, metric)
        theirs = self.median(t.twin, workload, param, metric)
        if mine is None or not theirs:
            return None
        return mine / theirs

    def write_csv(self, path):
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["target", "kind", "model", "workers", "nginx_twin", "workload", "param", "metric",
                        "median", "vs_nginx", "runs"])
            for (name, workload, param, metric), vals in self.values.items():
                t = self.by_name(name)
                med = self.median(name, workload, param, metric)
                ratio = self.ratio(t, workload, param, metric)
                w.writerow([name, t.kind, t.model, t.workers, t.twin or "", workload, param, metric,
                            L.fmt_num(med), L.fmt_num(ratio), ";".join(L.fmt_num(v) for v in vals)])


def tail(srv):
    return srv.stderr_tail() if hasattr(srv, "stderr_tail") else srv.error_tail()


def main():
    cfg = parse_args()
    L.install_cleanup()
    L.require_tools("wrk", "nginx", "strace")
    nofile = L.raise_nofile()
    if nofile < cfg.idle + 500:
        sys.exit(f"RLIMIT_NOFILE hard limit is {nofile}: {cfg.idle} idle connections need more (--idle N)")
    cfg.logdir = L.make_tempdir("bench-logs-")
    if not cfg.docroot.exists():
        sys.exit(f"{cfg.docroot} is missing: build first (make BUILD={cfg.build})")
    bench = Bench(cfg)
    bench.discover()
    if not bench.chapters():
        sys.exit("no chapter could be started: build first (make)")
    sessions = bench.plan()
    try:
        elapsed = bench.run(sessions)
    except KeyboardInterrupt:
        print("\ninterrupted: every server is stopped, no results written")
        return 130
    cfg.out.mkdir(parents=True, exist_ok=True)
    import bench_report as report  # the tables and plots, kept apart from the measuring

    info = L.machine()
    bench.write_csv(cfg.out / "bench.csv")
    report.write_markdown(bench, info, elapsed, cfg.out / "bench.md")
    plots = report.plot(bench, cfg.out)
    print(f"\nDone in {L.fmt_duration(elapsed)}. Results: {cfg.out}/bench.md, bench.csv, " + ", ".join(p.name for p in plots))
    print()
    print(report.headline_text(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())

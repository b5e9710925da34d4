#!/usr/bin/python3
"""make bench: every chapter, nginx and the kernel floor, measured side by side on this machine.

    /usr/bin/python3 scripts/bench.py --build build            # the full run (make bench)
    /usr/bin/python3 scripts/bench.py --build build --quick    # a smoke run of about 2 minutes
    /usr/bin/python3 scripts/bench.py --cores 8                # servers on 8 cores, wrk on the rest

Each chapter in chapters/registry.json that is built is started, and so are nginx configured for
the same job (GET / answers "Hello, World!") with as many worker processes as the chapter has
workers, and the floor (tests/tools/floor.cpp: one epoll loop, one read and one write per
request, no parsing). With two CPUs or more the servers run on their own CPUs (--cores, default
all but one) and wrk on the others, so that the server's CPU time is its own. Then, on the same
settings, each workload below runs on every server in turn (a fresh server each time, warmed up
for a second) before the next workload starts, and the whole is repeated --runs times and
reported as medians:

  1. keep-alive GET / at 1, 16 and 256 connections (wrk --latency): requests/s, p50, p99, the
     server's CPU time per request, and how busy wrk was;
  2. the same, pipelined 16 deep (16 connections);
  3. one request per connection (Connection: close) at 16 connections;
  4. GET / latency while 8 /sleep?ms=200 requests are kept in flight (chapters only);
  5. 10,000 idle connections: the server's memory before and after, per connection;
  6. system calls (strace -f -c) and context switches (/proc) per keep-alive request, and system
     calls per connection with Connection: close.

Results: bench.csv and bench.json (the data), bench.md and PNG plots (scripts/bench_report.py,
scripts/bench_plots.py) in docs/results/ (--out; a quick run writes to BUILD/bench-quick/).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import experiments  # noqa: E402
import load  # noqa: E402
import procs  # noqa: E402
import targets  # noqa: E402
from serverlib import ROOT  # noqa: E402
from benchdata import FLOOR, Run, Target, fmt_duration, fmt_ms, machine  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="the build directory (make BUILD=...)")
    p.add_argument("--quick", action="store_true", help="a smoke run: one run, short, smaller counts")
    p.add_argument("--runs", type=int, help="repetitions; medians are reported (default 3, quick 1)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 4, quick 1)")
    p.add_argument("--cores", type=int, help="CPUs for the servers (default: all but one when there are "
                   "two or more); the load generator gets the others")
    p.add_argument("--workers", type=int, help="W: --threads for chapters that take it, the cap on nginx "
                   "workers (default: the servers' CPU count)")
    p.add_argument("--connections", help="keep-alive connection counts (default 1,16,256)")
    p.add_argument("--idle", type=int, help="idle connections held for the memory measure (default 10000, quick 1000)")
    p.add_argument("--requests", type=int, help="requests counted for system calls per request (default 20000, quick 2000)")
    p.add_argument("--wrk-threads", type=int, help="wrk -t (default: the load generator's CPU count)")
    p.add_argument("--chapter", action="append", default=[], help="only this chapter (repeatable; 4, 04 or 04-polling)")
    p.add_argument("--out", help="output directory (default docs/results, quick: BUILD/bench-quick)")
    p.add_argument("--experiments", default="all",
                   help="the experiments of docs/claims.md to run (scripts/experiments.py): all (the default), "
                   "none, or a comma-separated list of their names (threads,clients,poller,...)")
    p.add_argument("--no-main", action="store_true", help="skip the main workloads (with --experiments: "
                   "try an experiment alone; such a run writes to BUILD/bench-quick/ unless --out says otherwise)")
    p.add_argument("--baseline", help="a bin directory of another build (an earlier commit's, say): its "
                   "chapters are measured too, as NAME@baseline, in the same session")
    a = p.parse_args()
    q = a.quick
    a.runs = a.runs or (1 if q else 3)
    a.duration = a.duration or (1 if q else 4)
    cpus = procs.usable_cpus()
    if a.cores and not 1 <= a.cores <= len(cpus):
        p.error(f"--cores must be between 1 and {len(cpus)}")
    servers = a.cores or (len(cpus) - 1 if len(cpus) >= 2 else len(cpus))
    a.server_cpus = cpus[len(cpus) - servers:]
    a.loadgen_cpus = cpus[:len(cpus) - servers] or cpus  # no CPU left: wrk shares the servers'
    a.workers = a.workers or len(a.server_cpus)
    if not a.wrk_threads:
        a.wrk_threads = len(a.loadgen_cpus) if a.loadgen_cpus != a.server_cpus else 1
    a.levels = [int(x) for x in (a.connections or "1,16,256").split(",")]
    a.idle = a.idle or (1000 if q else 10000)
    a.requests = a.requests or (2000 if q else 20000)
    a.closes = a.requests // 10
    a.warmup = 0 if q else 1
    a.close_conns = 16
    a.pipeline_conns = 16
    a.pipeline_depth = 16
    a.block_conns = 16
    a.sleepers = 8
    a.sleep_ms = 200
    # Where the sleeps stall every client, one GET / waits for all of them (8 x 200 ms): the run
    # must last several such rounds for wrk to collect latencies at all.
    a.block_duration = max(a.duration, 5)
    # Past capacity: real work per request (about 100 µs of CPU), each server's capacity measured
    # with a closed loop, then offered at fixed rates (an open loop) from half of it to twice it.
    a.capacity_work = "/compute?n=4000"
    a.capacity_probe = 1.5 if q else 3.0
    a.capacity_steps = [0.5, 1.0, 2.0] if q else [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]
    a.capacity_duration = 1.5 if q else 4.0
    build = Path(a.build)
    a.docroot = str(build / "www")
    a.bindir = str(build / "bin")
    partial = a.no_main or a.experiments != "all"
    a.out = Path(a.out) if a.out else (build / "bench-quick" if q or partial else ROOT / "docs" / "results")
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
    def __init__(self, target, rep, steps, start):
        self.target = target
        self.rep = rep
        self.steps = steps
        self.start = start  # () -> a running server


START_COST = 0.3  # seconds to start and stop a server (estimate)
# The chapters measured past their capacity: those that keep many clients at once, by model.
PAST_CAPACITY = ("03", "04", "05", "06", "08", "09", "10", "11")


class Bench(Run):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.chapter_of = {}  # target name -> targets.Chapter

    # -- discovery ----------------------------------------------------------------------------

    def discover(self):
        cfg = self.cfg
        chapters = targets.load_chapters(cfg.build)
        if cfg.chapter:
            chapters = targets.named(chapters, cfg.chapter)
        chapters = [c for ch in chapters for c in (ch, *targets.variants_of(ch))]
        if cfg.baseline:  # each chapter of the other build right after its own, under another name
            chapters = [c for ch in chapters for c in (ch, targets.baseline_of(ch, cfg.baseline))]
        print(f"Servers on CPU {','.join(map(str, cfg.server_cpus))}, wrk on CPU "
              f"{','.join(map(str, cfg.loadgen_cpus))}. Starting each chapter once to read its worker count...")
        for ch in chapters:
            if not ch.built:
                self.note(ch.name, "all", f"not built ({ch.binary} missing): not measured")
                continue
            args = targets.chapter_args(ch, cfg.workers, max(cfg.levels))
            try:
                srv = targets.ChapterServer(ch, args, cfg.docroot, cfg.logdir, cfg.server_cpus)
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
            t = Target(ch.name, "chapter", ch.model, workers, f"nginx-{twin}w", ch.caps, cfg.server_cpus)
            t.args = args
            self.chapter_of[t.name] = ch
            self.targets.append(t)
            print(f"  {ch.name:<20} workers={workers:<5} vs {t.twin:<9} args: {' '.join(args)}")
        for w in sorted({int(t.twin.split('-')[1][:-1]) for t in self.chapters()}):
            self.targets.append(Target(f"nginx-{w}w", "nginx", "nginx", w, cpus=cfg.server_cpus))
        self.targets.append(Target(FLOOR, "floor", "floor", 1, cpus=cfg.server_cpus))

    def starter(self, t, close=False, default_args=False):
        cfg = self.cfg
        if t.kind == "nginx":
            return lambda: targets.NginxServer(t.workers, cfg.logdir, cfg.server_cpus)
        if t.kind == "floor":
            return lambda: targets.FloorServer(cfg.bindir, cfg.logdir, close=close, cpus=cfg.server_cpus)
        ch = self.chapter_of[t.name]
        args = targets.chapter_args(ch, None, 0) if default_args else t.args
        return lambda: targets.ChapterServer(ch, args, cfg.docroot, cfg.logdir, cfg.server_cpus)

    # -- the plan -----------------------------------------------------------------------------

    def plan(self):
        cfg = self.cfg
        sessions = [] if cfg.no_main else self.main_plan()
        # The experiments of docs/claims.md come last, on servers of their own (floor variants).
        wanted = None if cfg.experiments == "all" else set(cfg.experiments.split(",")) - {"none"}
        return sessions + experiments.Experiments(self, Step, Session).plan(wanted)

    def main_plan(self):
        cfg = self.cfg
        sessions = []
        # Every server in turn on one workload, then the next workload: a ratio then compares runs
        # made seconds apart, not minutes, on a machine whose speed drifts with its neighbours'.
        for rep in range(1, cfg.runs + 1):
            for n in cfg.levels:
                for t in self.targets:
                    if n > 1 and not t.cap("concurrent"):
                        self.note(t, f"keep-alive {n}", "skipped: the model is not concurrent (one connection "
                                  "at a time), so the other keep-alive connections would only wait")
                        continue
                    sessions.append(self.session(t, rep, f"keep-alive, {n} conn", self.keepalive_fn(t, n)))
            for t in self.targets:
                sessions.append(self.session(
                    t, rep, f"pipelined x{cfg.pipeline_depth}, {self.conns_for(t, cfg.pipeline_conns)} conn",
                    self.pipelined_fn(t)))
            for t in self.targets:
                # The floor answers Connection: close only when started to.
                sessions.append(self.session(t, rep, f"Connection: close, {cfg.close_conns} conn", self.close_fn(t),
                                             close=t.kind == "floor"))
            for t in self.targets:
                if t.kind == "nginx" and rep == 1:
                    self.note(t, "blocking", "n/a: nginx has no blocking route")
                if t.kind == "chapter" and not t.cap("concurrent"):
                    self.note(t, "blocking", "skipped: not concurrent (the /sleep clients and the GET / "
                              "clients would take turns, one connection at a time)")
                if t.kind == "chapter" and t.cap("concurrent"):
                    # The model as it ships (no --threads): whether it keeps GET / fast while
                    # blocking work runs is a property of its default design (a pool sized for
                    # blocking work, say), not of the worker count matched with nginx above.
                    sessions.append(Session(t, rep, [Step(
                        f"GET / with {cfg.sleepers} x /sleep?ms={cfg.sleep_ms} in flight",
                        cfg.block_duration + 0.3, self.blocking_fn(t))], self.starter(t, default_args=True)))
        over = [t for t in self.chapters() if t.name[:2] in PAST_CAPACITY]
        for t in over:
            sessions.append(Session(t, 1, [Step("capacity: closed loop, /compute", cfg.capacity_probe + 0.5,
                                                self.capacity_fn(t))], self.starter(t)))
        for share in cfg.capacity_steps:
            for t in over:
                sessions.append(Session(t, 1, [Step(f"open loop at {share:.0%} of capacity", cfg.capacity_duration + 1.0,
                                                    self.offered_fn(t, share))], self.starter(t)))
        c10k = [t for t in self.chapters() if t.cap("c10k")]
        for t in self.chapters():
            if not t.cap("c10k"):
                self.note(t, "memory", "skipped: the model does not claim c10k (a process or thread per "
                          "connection, or one connection at a time)")
        mem_targets = c10k + [self.by_name(n) for n in sorted({t.twin for t in c10k})]
        for rep in range(1, cfg.runs + 1):
            for t in mem_targets:
                sessions.append(Session(t, rep, [Step(f"{cfg.idle} idle connections", 1.0 + cfg.idle / 8000,
                                                      self.memory_fn(t))], self.starter(t)))
        for t in self.targets:
            steps = [Step(f"{cfg.requests} requests, context switches", 0.1 + cfg.requests / 40000,
                          self.ctx_fn(t)) for _ in range(cfg.runs)]
            steps.append(Step(f"{cfg.requests} requests under strace -f -c", 0.5 + cfg.requests / 15000,
                              self.strace_fn(t)))
            if t.kind != "floor":
                steps.append(Step(f"{cfg.closes} connections under strace -f -c", 0.5 + cfg.closes / 1500,
                                  self.strace_close_fn(t)))
            sessions.append(Session(t, 0, steps, self.starter(t)))
            if t.kind == "floor":
                sessions.append(Session(t, 0, [Step(f"{cfg.closes} connections under strace -f -c",
                                                     0.5 + cfg.closes / 1500, self.strace_close_fn(t))],
                                        self.starter(t, close=True)))
        return sessions

    def session(self, t, rep, label, fn, close=False):
        """A fresh server for one workload: a short warm-up, then the measured run."""
        cfg = self.cfg
        steps = [Step("warm-up", cfg.warmup + 0.2, self.warm_fn(t))] if cfg.warmup else []
        steps.append(Step(label, cfg.duration + 0.2, fn))
        return Session(t, rep, steps, self.starter(t, close=close))

    def conns_for(self, t, n):
        return n if t.cap("concurrent") else 1

    # -- the workloads ------------------------------------------------------------------------

    def _wrk(self, t, srv, workload, param, connections, duration=None, **kwargs):
        cfg = self.cfg
        r = load.wrk(srv.url, connections, duration or cfg.duration, cfg.wrk_threads,
                     cpus=cfg.loadgen_cpus, server=srv, **kwargs)
        # wrk times a pipelined burst as a whole, not each request of it: no latency for those.
        timed = not kwargs.get("pipeline")
        for metric, key in (("rps", "rps"), ("p50_ms", "p50"), ("p99_ms", "p99"), ("cpu_us", "cpu_us"),
                            ("sys_share", "sys_share"), ("loadgen_busy", "loadgen_busy")):
            if timed or metric not in ("p50_ms", "p99_ms"):
                self.record(t, workload, param, metric, r[key])
        self.record(t, workload, param, "errors", r["errors"] + r["non2xx"])
        err = f"  ({r['errors'] + r['non2xx']} errors)" if r["errors"] + r["non2xx"] else ""
        busy = "  (wrk busy: its ceiling)" if r["loadgen_busy"] >= 0.9 else ""
        p99 = f"p99 {fmt_ms(r['p99'])}" if timed else "p99 -"
        return (f"{r['rps']:>10,.0f} req/s  {p99:<11} {r['cpu_us']:5.1f} µs CPU/req"
                f"  wrk {r['loadgen_busy']:.0%}{busy}{err}")

    def warm_fn(self, t):
        def run(srv):
            load.wrk(srv.url, self.conns_for(t, 16), self.cfg.warmup, self.cfg.wrk_threads, cpus=self.cfg.loadgen_cpus)
            return ""
        return run

    def keepalive_fn(self, t, n):
        return lambda srv: self._wrk(t, srv, "keep-alive", n, n)

    def pipelined_fn(self, t):
        cfg = self.cfg
        return lambda srv: self._wrk(t, srv, "pipelined", cfg.pipeline_depth, self.conns_for(t, cfg.pipeline_conns),
                                     pipeline=cfg.pipeline_depth)

    def close_fn(self, t):
        cfg = self.cfg
        return lambda srv: self._wrk(t, srv, "close", cfg.close_conns, cfg.close_conns, headers=["Connection: close"])

    def blocking_fn(self, t):
        cfg = self.cfg

        def run(srv):
            self.record(t, "blocking", cfg.block_conns, "workers", srv.stats()["workers"])
            with load.SleepLoad(srv.address, cfg.sleepers, cfg.sleep_ms, max_seconds=cfg.duration + 30) as sleeps:
                summary = self._wrk(t, srv, "blocking", cfg.block_conns, cfg.block_conns, cfg.block_duration, timeout=10)
            self.record(t, "blocking", cfg.block_conns, "sleeps_per_s", sleeps.completed / cfg.block_duration)
            return summary
        return run

    def capacity_fn(self, t):
        cfg = self.cfg

        def run(srv):
            # Eight clients that each wait for their answer: enough to keep every core busy, too few
            # to overflow a small admission queue (a refused request is not capacity).
            r = load.loadgen(cfg.bindir, srv.address, ["--connections", 8, "--requests", 10**7, "--path",
                                                       cfg.capacity_work], cpus=cfg.loadgen_cpus, budget=cfg.capacity_probe)
            rate = (r["requests"] - r["bad_status"]) / r["seconds"]
            self.record(t, "capacity", 0, "rps", rate)
            return f"{rate:,.0f} requests/s answered 200"
        return run

    def offered_fn(self, t, share):
        cfg = self.cfg

        def run(srv):
            capacity = self.median(t.name, "capacity", 0, "rps")
            if not capacity:
                raise RuntimeError("its capacity was not measured")
            rate = share * capacity
            # A quarter of the requests come each on a new connection, as new clients do.
            r = load.loadgen(cfg.bindir, srv.address, ["--rate", f"{rate:.0f}", "--duration", cfg.capacity_duration,
                                                       "--connections", 64, "--new-share", 0.25, "--timeout", 2,
                                                       "--path", cfg.capacity_work],
                             cpus=cfg.loadgen_cpus, budget=cfg.capacity_duration + 30)
            n = max(r["scheduled"], 1)
            for metric, value in (("offered", rate), ("goodput", r["goodput"]), ("goodput_share", r["goodput"] / capacity),
                                  ("p50_ms", r["p50_us"] / 1000), ("p99_ms", r["p99_us"] / 1000),
                                  ("p999_ms", r["p999_us"] / 1000), ("refused_share", r["refused"] / n),
                                  ("refused_p99_ms", r["refused_p99_us"] / 1000),
                                  ("timed_out_share", r["timed_out"] / n), ("errors_share", r["errors"] / n)):
                self.record(t, "past-capacity", share, metric, value)
            return (f"{rate:,.0f}/s offered: goodput {r['goodput']:,.0f}/s, p99 {fmt_ms(r['p99_us'] / 1000)}, "
                    f"refused {r['refused'] / n:.0%}, timed out {r['timed_out'] / n:.0%}")
        return run

    def memory_fn(self, t):
        def run(srv):
            m = load.idle_memory(srv, self.cfg.idle)
            if not m.held:
                self.note(t, "memory", "not every idle connection was accepted within the time allowed")
            self.record(t, "idle", self.cfg.idle, "kib_before", m.kib_before)
            self.record(t, "idle", self.cfg.idle, "kib_after", m.kib_after)
            self.record(t, "idle", self.cfg.idle, "bytes_per_conn", m.bytes_per_conn)
            self.record(t, "idle", self.cfg.idle, "kernel_bytes_per_conn", m.kernel_bytes_per_conn)
            return (f"{m.kib_before / 1024:.1f} MiB -> {m.kib_after / 1024:.1f} MiB = {m.bytes_per_conn:,.0f} bytes "
                    f"per connection (kernel stacks and page tables: {m.kernel_bytes_per_conn:,.0f} more)")
        return run

    def ctx_fn(self, t):
        cfg = self.cfg

        def run(srv):
            before = procs.context_switches(srv.pids())
            after = []
            secs = load.fixed_requests(srv.address, cfg.requests, self.conns_for(t, 16), budget=120,
                                       on_done=lambda: after.append(procs.context_switches(srv.pids())))
            vol = (after[0][0] - before[0]) / cfg.requests
            nonvol = (after[0][1] - before[1]) / cfg.requests
            self.record(t, "syscalls", cfg.requests, "vol_cs_per_req", vol)
            self.record(t, "syscalls", cfg.requests, "nonvol_cs_per_req", nonvol)
            return f"{vol:.3f} voluntary + {nonvol:.3f} involuntary switches per request ({cfg.requests / secs:,.0f} req/s)"
        return run

    def _strace(self, t, srv, workload, count, unit, run):
        counts = load.strace_counts(srv.pids(), run)
        if not counts:
            raise RuntimeError("strace reported nothing")
        total = sum(counts.values()) / count
        self.record(t, workload, count, f"syscalls_per_{unit}", total)
        for name, calls in counts.items():
            self.record(t, workload, count, f"syscall:{name}", calls / count)
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
        return f"{total:.2f} system calls per {unit}: " + ", ".join(f"{k} {v / count:.2f}" for k, v in top)

    def strace_fn(self, t):
        cfg = self.cfg
        return lambda srv: self._strace(t, srv, "syscalls", cfg.requests, "req", lambda: load.fixed_requests(
            srv.address, cfg.requests, self.conns_for(t, 16), budget=300))

    def strace_close_fn(self, t):
        cfg = self.cfg
        return lambda srv: self._strace(t, srv, "syscalls-close", cfg.closes, "conn", lambda: load.fixed_connections(
            srv.address, cfg.closes, clients=4 if t.cap("concurrent") else 1, budget=300))

    # -- running ------------------------------------------------------------------------------

    def run(self, sessions):
        total_steps = sum(len(s.steps) for s in sessions)
        estimate = sum(START_COST + sum(st.estimate for st in s.steps) for s in sessions)
        print(f"\n{len(self.targets)} servers, {total_steps} measurements, {self.cfg.runs} run(s) each: "
              f"about {fmt_duration(estimate)} (min:s).\n")
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
                print(f"[{k:>3}/{total_steps} {fmt_duration(elapsed)}, ~{fmt_duration(remaining)} left] {rep:<9} "
                      f"{s.target.name:<{width}} {st.label:<38}", end="", flush=True)
                try:
                    if srv is None or not srv.alive():
                        if srv is not None:
                            self.note(s.target, "all", f"the server exited during a run: {srv.log_tail()}")
                            srv.stop()
                        srv = s.start()
                        load.wait_serving(srv.address, 5)
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


def main():
    cfg = parse_args()
    procs.install_cleanup()
    import shutil

    missing = [tool for tool in ("wrk", "strace", "taskset") if not shutil.which(tool)]
    if not targets.nginx_binary():
        missing.append("nginx")
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (scripts/setup.sh bench installs them)")
    if not (Path(cfg.bindir) / "floor").exists():
        sys.exit(f"{cfg.bindir}/floor is missing: build first (make BUILD={cfg.build})")
    nofile = procs.raise_nofile()
    if nofile < cfg.idle + 500:
        sys.exit(f"RLIMIT_NOFILE hard limit is {nofile}: {cfg.idle} idle connections need more (--idle N)")
    cfg.logdir = procs.make_tempdir("bench-logs-")
    if not Path(cfg.docroot).exists():
        sys.exit(f"{cfg.docroot} is missing: build first (make BUILD={cfg.build})")
    bench = Bench(cfg)
    bench.discover()
    if not bench.chapters():
        sys.exit("no chapter could be started: build first (make)")
    sessions = bench.plan()
    try:
        bench.elapsed = bench.run(sessions)
    except KeyboardInterrupt:
        print("\ninterrupted: every server is stopped, no results written")
        return 130
    import bench_plots  # the report's two halves, kept apart from the measuring
    import bench_report

    bench.info = machine(targets.nginx_version(), load.wrk_version())
    out = cfg.out
    bench.save(out)
    bench_report.write_markdown(bench, out / "bench.md")
    plots = bench_plots.plot(bench, out)
    import claims  # docs/claims.md from the same files (a trial run's page stays beside its data)

    official = out.resolve() == (ROOT / "docs" / "results").resolve()
    claims.write(out, page=claims.PAGE if official else out / "claims.md")
    print(f"\nDone in {fmt_duration(bench.elapsed)}. Results: {out}/bench.md, bench.csv, bench.json, "
          + ", ".join(p.name for p in plots) + f"; the claims: {claims.PAGE if official else out / 'claims.md'}")
    print()
    print(bench_report.headline_text(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())

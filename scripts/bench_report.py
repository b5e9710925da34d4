"""The tables of a make bench run (bench.md), its goals, and the summary printed at its end.

scripts/bench.py calls it at the end of a run. Run alone, it redraws a finished run from its data
files (bench.csv and bench.json, scripts/benchdata.py), without measuring again:

    /usr/bin/python3 scripts/bench_report.py --from docs/results

The plots are scripts/bench_plots.py's.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdata import (FLOOR, Run, fmt_bytes, fmt_duration, fmt_int, fmt_ms, fmt_ratio,  # noqa: E402
                       fmt_us)

BUSY = 0.9  # wrk busy this much of its CPU: the throughput measured is the load generator's


def headline_level(run, name):
    """The keep-alive connection count a server is judged at: the largest it was measured at."""
    ran = run.levels(name)
    return max(ran) if ran else None


def cpu(run, name, workload, param=None):
    if workload == "keep-alive":
        param = headline_level(run, name) if param is None else param
    elif param is None:
        param = {"pipelined": run.cfg.pipeline_depth, "close": run.cfg.close_conns}[workload]
    return None if param is None else run.median(name, workload, param, "cpu_us")


def busy_mark(run, name, workload, param):
    busy = run.median(name, workload, param, "loadgen_busy")
    return " ‡" if busy is not None and busy >= BUSY else ""


def blocking_p99(run, name):
    return run.median(name, "blocking", run.cfg.block_conns, "p99_ms")


def idle_per_conn(run, name):
    return run.median(name, "idle", run.cfg.idle, "bytes_per_conn")


def syscalls(run, name, metric="syscalls_per_req"):
    return run.median(name, "syscalls", run.cfg.requests, metric)


def past_capacity_steps(run):
    """The offered loads of the past-capacity runs, as shares of each server's capacity."""
    return sorted({p for (n, w, p, m) in run.values if w == "past-capacity"})


def past_capacity_section(run):
    """The past-capacity tables: for each chapter measured, what it did at each offered load."""
    steps = past_capacity_steps(run)
    names = [t.name for t in run.chapters() if run.median(t.name, "capacity", 0, "rps") is not None]
    if not steps or not names:
        return []
    cfg = run.cfg
    out = ["## Past capacity\n",
           f"wrk and every benchmark above are closed loops: a connection sends its next request only when "
           f"the last is answered, so a saturated server is simply asked less, and the queue it would "
           f"build never shows (coordinated omission). Here the load is open: the repository's load "
           f"generator (`loadgen --rate`, `tests/tools/loadgen.cpp`) sends requests at a fixed rate "
           f"whatever happens, a quarter of them each on a new connection, and times each one from the "
           f"moment it was due. The work is `{cfg.capacity_work}` (about 100 µs of CPU), so that the server, "
           f"not the generator, saturates. Each server's *capacity* is what it answers with 200 in "
           f"{cfg.capacity_probe:g} s of closed-loop load from 8 clients; then it is offered "
           + ", ".join(f"{s:.0%}" for s in steps) + f" of it for {cfg.capacity_duration:g} s each, on a fresh "
           f"server, with the same CPUs as every measure above. A request not answered within 2 s of "
           f"its due time is counted as timed out. One run per figure.\n"]
    rows = []
    for name in names:
        row = [name, fmt_int(run.median(name, "capacity", 0, "rps"))]
        for step in steps:
            good = run.median(name, "past-capacity", step, "goodput_share")
            p99 = run.median(name, "past-capacity", step, "p99_ms")
            refused = run.median(name, "past-capacity", step, "refused_share")
            late = run.median(name, "past-capacity", step, "timed_out_share")
            if good is None:
                row.append("-")
                continue
            cell = f"{good:.0%}, p99 {fmt_ms(p99)}"
            cell += f", {refused:.0%} refused" if refused else ""
            cell += f", {late:.0%} timed out" if late else ""
            row.append(cell)
        rows.append(row)
    out.append("Goodput (answered with 200, per second of offered load) as a share of capacity, the p99 "
               "of the answered requests, and the shares refused (503) and timed out:\n")
    out.append(table(["Chapter", "Capacity, req/s"] + [f"offered {s:.0%}" for s in steps], rows))
    out.append("")
    top = steps[-1]
    rows = []
    for name in names:
        m = {k: run.median(name, "past-capacity", top, k) for k in
             ("goodput", "p50_ms", "p99_ms", "p999_ms", "refused_share", "refused_p99_ms", "timed_out_share")}
        if m["goodput"] is None:
            continue
        rows.append([name, fmt_int(m["goodput"]), fmt_ms(m["p50_ms"]), fmt_ms(m["p99_ms"]), fmt_ms(m["p999_ms"]),
                     f"{m['refused_share']:.0%}", fmt_ms(m["refused_p99_ms"]) if m["refused_share"] else "-",
                     f"{m['timed_out_share']:.0%}"])
    out.append(f"At {top:.0%} of capacity:\n")
    out.append(table(["Chapter", "Goodput, req/s", "p50", "p99", "p99.9", "Refused", "Refusal p99", "Timed out"],
                     rows))
    out.append("\n![p99 against offered load](past_capacity_p99.png)\n")
    out.append("![Goodput against offered load](past_capacity_goodput.png)\n")
    return out


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- goals ------------------------------------------------------------------------------------

EVENT_LOOP = "c10k"  # the registry capability that tells an event-driven chapter


def goal_rows(run):
    """(goal, measured, verdict) for each goal the project has set itself."""
    by_number = {t.name[:2]: t for t in run.chapters()  # not a variant (+), not a baseline (@)
                 if "+" not in t.name and "@" not in t.name}
    rows = []

    def chapter(number):
        return by_number.get(number)

    def missing(label, why="not in this run"):
        rows.append((label, why, "not measured"))

    for number in ("04", "08", "09"):
        t = chapter(number)
        label = f"{t.name if t else number}: CPU per keep-alive request within 1.10x of the floor and below nginx's"
        mine = cpu(run, t.name, "keep-alive") if t else None
        floor, nginx = (cpu(run, FLOOR, "keep-alive", headline_level(run, t.name)), cpu(run, t.twin, "keep-alive",
                        headline_level(run, t.name))) if t and mine is not None else (None, None)
        if None in (mine, floor, nginx):
            missing(label)
            continue
        ok = mine <= 1.10 * floor and mine < nginx
        rows.append((label, f"{fmt_us(mine)}: {mine / floor:.2f}x the floor, {mine / nginx:.2f}x {t.twin}",
                     "met" if ok else "not met"))
    t, o = chapter("07"), chapter("06")
    label = f"{t.name if t else '07'}: CPU per keep-alive request below chapter 06's"
    if t and o and cpu(run, t.name, "keep-alive") is not None and cpu(run, o.name, "keep-alive") is not None:
        mine, theirs = cpu(run, t.name, "keep-alive"), cpu(run, o.name, "keep-alive")
        rows.append((label, f"{fmt_us(mine)} vs {fmt_us(theirs)} ({mine / theirs:.2f}x)",
                     "met" if mine < theirs else "not met"))
    else:
        missing(label)
    depth = run.cfg.pipeline_depth
    for t in (t for t in run.chapters() if t.cap(EVENT_LOOP)):
        label = f"{t.name}: pipelined x{depth} req/s >= 4x nginx"
        r = run.ratio(t, "pipelined", depth, "rps")
        if r is None:
            missing(label)
            continue
        rows.append((label, f"{fmt_int(run.median(t.name, 'pipelined', depth, 'rps'))} req/s, {r:.2f}x {t.twin}",
                     "met" if r >= 4 else "not met"))
    for number in ("04", "08"):
        t = chapter(number)
        label = f"{t.name if t else number}: Connection: close req/s >= 1.0x nginx"
        r = run.ratio(t, "close", run.cfg.close_conns, "rps") if t else None
        if r is None:
            missing(label)
            continue
        rows.append((label, f"{r:.2f}x {t.twin}", "met" if r >= 1.0 else "not met"))
    for t in (t for t in run.chapters() if t.cap("c10k")):
        label = f"{t.name}: memory per idle connection under 1 KiB"
        per = idle_per_conn(run, t.name)
        if per is None:
            missing(label)
            continue
        rows.append((label, f"{fmt_bytes(per)} at {run.cfg.idle:,} connections", "met" if per < 1024 else "not met"))
    t = chapter("10")
    top, half = max(past_capacity_steps(run), default=None), min(past_capacity_steps(run), default=None)
    label = f"{t.name if t else '10'}: at twice its capacity, goodput >= 90% of capacity"
    share = run.median(t.name, "past-capacity", top, "goodput_share") if t and top == 2 else None
    if share is None:
        missing(label)
    else:
        rows.append((label, f"{share:.0%} of {fmt_int(run.median(t.name, 'capacity', 0, 'rps'))} requests/s",
                     "met" if share >= 0.9 else "not met"))
    label = f"{t.name if t else '10'}: at twice its capacity, p99 of what it admits <= 10x its p99 at half"
    high = run.median(t.name, "past-capacity", top, "p99_ms") if t and top == 2 else None
    low = run.median(t.name, "past-capacity", half, "p99_ms") if t and half == 0.5 else None
    if high is None or not low:
        missing(label)
    else:
        rows.append((label, f"{fmt_ms(high)} vs {fmt_ms(low)} ({high / low:.1f}x)", "met" if high <= 10 * low else "not met"))
    t, o = chapter("05"), chapter("04")
    label = f"{t.name if t else '05'}: GET / p99 under blocking work <= 1/10 of chapter 04's"
    if t and o and blocking_p99(run, t.name) is not None and blocking_p99(run, o.name) is not None:
        mine, theirs = blocking_p99(run, t.name), blocking_p99(run, o.name)
        rows.append((label, f"{fmt_ms(mine)} vs {fmt_ms(theirs)}", "met" if mine <= theirs / 10 else "not met"))
    else:
        missing(label)
    return rows


# --- the page ---------------------------------------------------------------------------------


def headline_rows(run):
    rows = []
    for t in run.chapters():
        level = headline_level(run, t.name)
        mine = cpu(run, t.name, "keep-alive")
        rows.append([
            t.name, str(t.workers), t.twin,
            fmt_us(mine), f"**{fmt_ratio(run.vs_floor(t, 'keep-alive', level))}**" if level else "-",
            fmt_ratio(run.ratio(t, "keep-alive", level, "cpu_us")) if level else "-",
            fmt_int(run.median(t.name, "keep-alive", level, "rps")) + busy_mark(run, t.name, "keep-alive", level)
            + (f" ({level} conn)" if level and level != max(run.cfg.levels) else "") if level else "-",
            fmt_ratio(run.ratio(t, "pipelined", run.cfg.pipeline_depth, "rps")),
            fmt_ratio(run.ratio(t, "close", run.cfg.close_conns, "rps")),
            fmt_ms(blocking_p99(run, t.name)), fmt_bytes(idle_per_conn(run, t.name)),
            "-" if syscalls(run, t.name) is None else f"{syscalls(run, t.name):.2f}",
        ])
    return rows


def write_markdown(run, path):
    cfg, info = run.cfg, run.info
    top = max(cfg.levels)
    out = []
    add = out.append
    add("# Benchmarks: every chapter against nginx and the kernel floor {#results}\n")
    add(f"Measured by `make bench` on {info.get('date', '?')}; the run took {fmt_duration(run.elapsed)} (min:s). "
        "The data are [bench.csv](bench.csv) (every run's value, the medians and their ratios) and "
        "[bench.json](bench.json) (the machine, the settings, what was not measured).\n")
    add(table(["Machine", ""], [
        ["Host", info.get("host", "?")], ["CPU", info.get("cpu", "?")], ["Cores", str(info.get("cores", "?"))],
        ["Memory", info.get("memory", "?")], ["Kernel", info.get("kernel", "?")], ["nginx", info.get("nginx", "?")],
        ["wrk", info.get("wrk", "?")],
    ]))
    add("")
    shared = cfg.server_cpus == cfg.loadgen_cpus
    add(f"Every server ran on CPU {', '.join(map(str, cfg.server_cpus))} and wrk (`-t{cfg.wrk_threads}`) on CPU "
        f"{', '.join(map(str, cfg.loadgen_cpus))}" + (" (one machine, one CPU: they shared it)" if shared else "")
        + ". **CPU per request** is the server's user plus system time over a run (every process and "
        "thread of it, from `/proc`), divided by the requests answered: on a machine shared with its "
        "load generator, requests/s mostly measures the load generator, and CPU per request is the "
        "figure that tells the models apart. Its floor is the **kernel floor** (`tests/tools/floor.cpp`): "
        "one epoll loop, one read and one write per request, a canned answer, no parsing. A chapter's "
        "multiple of the floor is the cost of its model and of its code. ‡ marks a run in which wrk was "
        f"busy {BUSY:.0%} of its CPU or more: that throughput is the load generator's ceiling, not the server's.\n")
    add(f"> Each figure is the median of {cfg.runs} run(s). Each workload runs on every server in turn, "
        "a fresh server each time, before the next workload, and the whole is repeated: the runs that a "
        "ratio compares are seconds apart, so that a slow minute of a shared machine hits both. Treat "
        "differences under ~10% in CPU per request, and ~15% in requests/s, as noise. Compare servers "
        "within these tables, not with numbers from another machine.\n")

    add("## Headline\n")
    add(f"Each chapter against nginx configured for the same job (`return 200 \"Hello, World!\"`), and "
        "against the floor. *Workers* is what the chapter's `/stats` reports: its loops, its pool's threads, "
        "or, for 02 and 03, the cap on its processes or threads, which start one per connection. Its nginx "
        f"(*Compared with*) has as many workers, up to W = {cfg.workers}, or one for a model that uses one "
        f"core. Keep-alive at {top} connections. For CPU, lower is "
        "better; for requests/s, higher.\n")
    add(table(["Chapter", "Workers", "Compared with", "CPU per keep-alive request", "x floor", "CPU vs nginx",
               "Keep-alive req/s", f"Pipelined x{cfg.pipeline_depth} vs nginx",
               "Connection: close vs nginx", f"GET / p99, {cfg.sleepers} sleeps in flight †",
               "Memory per idle connection", "System calls per request"], headline_rows(run)))
    differ = [f"{t.name} {fmt_int(run.median(t.name, 'blocking', cfg.block_conns, 'workers'))}"
              for t in run.chapters()
              if run.median(t.name, "blocking", cfg.block_conns, "workers") not in (None, t.workers)]
    add("\n† Each chapter as it ships (no `--threads`): whether a model keeps `GET /` fast while blocking "
        "work runs is a property of its default design, so this column was measured with the default "
        "workers, not with the *Workers* of the row" + (f" ({', '.join(differ)})" if differ else "") + ".")
    add("")
    add("### Goals\n")
    add(table(["Goal", "Measured", "Verdict"], goal_rows(run)))
    add("")

    add("## CPU per request\n")
    add("The server's CPU time per request answered, in µs, and its multiple of the floor's in the same "
        f"workload. Keep-alive at each connection count; pipelined {cfg.pipeline_depth} deep on "
        f"{cfg.pipeline_conns} connections; Connection: close on {cfg.close_conns} (a new connection per "
        "request: accept, set-up and tear-down included).\n")
    rows = []
    for t in run.servers():
        row = [t.name, str(t.workers)]
        for workload, param in [("keep-alive", n) for n in cfg.levels] + [("pipelined", cfg.pipeline_depth),
                                                                            ("close", cfg.close_conns)]:
            v = run.median(t.name, workload, param, "cpu_us")
            r = run.vs_floor(t, workload, param)
            row.append("-" if v is None else fmt_us(v) + (f" ({r:.2f}x)" if r is not None else ""))
        rows.append(row)
    add(table(["Server", "Workers"] + [f"keep-alive {n}" for n in cfg.levels] +
              [f"pipelined x{cfg.pipeline_depth}", "Connection: close"], rows))
    add("\n![CPU per request, with the floor](cpu_per_request.png)\n")

    add("## Keep-alive throughput and latency\n")
    add(f"`wrk -t{cfg.wrk_threads} -c N -d {cfg.duration}s --latency`, GET /, connections kept open: requests/s "
        "(and the ratio to the nginx with the same workers), then p50 / p99.\n")
    rows = []
    for t in run.servers():
        row = [t.name, str(t.workers)]
        for n in cfg.levels:
            v = run.median(t.name, "keep-alive", n, "rps")
            r = run.ratio(t, "keep-alive", n, "rps")
            row.append("skipped" if v is None else fmt_int(v) + (f" ({r:.2f}x)" if r is not None else "")
                       + busy_mark(run, t.name, "keep-alive", n))
        for n in cfg.levels:
            p50, p99 = run.median(t.name, "keep-alive", n, "p50_ms"), run.median(t.name, "keep-alive", n, "p99_ms")
            row.append("-" if p50 is None else f"{fmt_ms(p50)} / {fmt_ms(p99)}")
        rows.append(row)
    add(table(["Server", "Workers"] + [f"{n} conn, req/s" for n in cfg.levels] +
              [f"{n} conn, p50 / p99" for n in cfg.levels], rows))
    add("\n![Throughput by connections](throughput_by_connections.png)\n")

    depth = cfg.pipeline_depth
    add(f"## Pipelined, {depth} deep\n")
    add(f"wrk sends {depth} `GET /` in one write on each of {cfg.pipeline_conns} connections (its "
        "`pipeline.lua`, as the best-known public web framework benchmark does) and counts every answer. "
        f"An event loop that reads the {depth} requests with one `read()` answers them all and writes the "
        f"{depth} responses with one `send()`: its output queue gathers the responses of one read into one "
        "segment. nginx writes each response as it is made, so it makes about one `writev()` per request. "
        "`test_pipeline_order.py` checks that a pipelined burst is answered with fewer writes than requests (and that the lock-step chapters write each answer alone).\n")
    rows = []
    for t in run.servers():
        v = run.median(t.name, "pipelined", depth, "rps")
        rows.append([t.name, fmt_int(v) + busy_mark(run, t.name, "pipelined", depth), fmt_ratio(run.ratio(t, "pipelined", depth, "rps")),
                     fmt_us(run.median(t.name, "pipelined", depth, "cpu_us")), fmt_ratio(run.vs_floor(t, "pipelined", depth))])
    add(table(["Server", "req/s", "vs nginx", "CPU per request", "x floor"], rows))
    add("")

    n = cfg.close_conns
    add("## One request per connection\n")
    add(f"`wrk -c {n} -H 'Connection: close'`: every request opens a connection and the server closes it "
        f"after the response, so this measures accept, set-up and tear-down. System calls per connection: "
        f"`strace -f -c` over {cfg.closes:,} such connections from a small Python client.\n")
    rows = []
    for t in run.servers():
        per = run.metrics(t.name, "syscalls-close", "syscall:")
        calls = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v and v >= 0.05)
        total = run.median(t.name, "syscalls-close", cfg.closes, "syscalls_per_conn")
        rows.append([t.name, fmt_int(run.median(t.name, "close", n, "rps")) + busy_mark(run, t.name, "close", n),
                     fmt_ratio(run.ratio(t, "close", n, "rps")), fmt_us(run.median(t.name, "close", n, "cpu_us")),
                     "-" if total is None else f"{total:.2f}", calls or "-"])
    add(table(["Server", "req/s", "vs nginx", "CPU per connection", "System calls per connection",
               "Which (per connection)"], rows))
    add("")

    add("## Latency under blocking work\n")
    add(f"{cfg.sleepers} clients keep a `GET /sleep?ms={cfg.sleep_ms}` in flight each (a new one as soon as one is "
        f"answered, each on its own connection) while `wrk -c {cfg.block_conns}` measures GET /. Each chapter runs "
        "with its default settings (no `--threads`): whether a model keeps GET / fast under blocking work is "
        "a property of its design as it ships. nginx has no blocking route.\n")
    rows = []
    for t in run.chapters():
        p99 = blocking_p99(run, t.name)
        if p99 is None:
            continue
        b = cfg.block_conns
        rows.append([t.name, fmt_int(run.median(t.name, "blocking", b, "workers")),
                     fmt_ms(run.median(t.name, "blocking", b, "p50_ms")), fmt_ms(p99),
                     fmt_int(run.median(t.name, "blocking", b, "rps")),
                     f"{run.median(t.name, 'blocking', b, 'sleeps_per_s') or 0:.1f}",
                     fmt_ms(run.median(t.name, "keep-alive", b, "p99_ms"))])
    add(table(["Chapter", "Workers (default)", "GET / p50", "GET / p99", "GET / req/s", "sleeps answered/s",
               f"p99 without sleeps ({cfg.block_conns} conn)"], rows))
    add("\n![Latency under blocking work](latency_under_blocking.png)\n")

    out.extend(past_capacity_section(run))

    add("## Memory per idle connection\n")
    add(f"{cfg.idle:,} connections opened and left idle. Memory is the server's resident memory as PSS "
        "(proportional set size: a page shared by n processes counts 1/n in each) summed over its processes, "
        "from `/proc/PID/smaps_rollup`, before the connections and once the server holds them all. It is "
        "user memory only: the kernel's own memory per socket (a few KiB, and the socket buffers once "
        "data flows) is the same for every server and not in it. The kernel's task memory (thread stacks "
        "and page tables, `/proc/meminfo`), which a thread or a process per connection would add, is its own "
        "column. Only chapters whose model claims c10k, and their nginx; `make tour` measures 02 and 03 the "
        "same way, at 1,000 connections.\n")
    rows = []
    for t in run.servers():
        per = idle_per_conn(run, t.name)
        if per is None:
            continue
        before = run.median(t.name, "idle", cfg.idle, "kib_before")
        after = run.median(t.name, "idle", cfg.idle, "kib_after")
        kernel = run.median(t.name, "idle", cfg.idle, "kernel_bytes_per_conn")
        rows.append([t.name, f"{before / 1024:.1f} MiB", f"{after / 1024:.1f} MiB", fmt_bytes(per),
                     fmt_ratio(run.ratio(t, "idle", cfg.idle, "bytes_per_conn")),
                     "-" if kernel is None else fmt_bytes(max(kernel, 0.0))])
    add(table(["Server", "Before", f"With {cfg.idle:,} idle connections", "Per connection (PSS)", "vs nginx",
               "Kernel task memory per connection"], rows))
    add("\n![Memory per connection](memory_per_connection.png)\n")

    add("## System calls and context switches per request\n")
    add(f"{cfg.requests:,} keep-alive GET / over 16 connections (1 for a chapter that is not concurrent), one "
        "request in flight on each, from a small Python client. System calls: `strace -f -c` attached to every "
        "process and thread of the server for exactly those requests. Context switches: every thread's "
        "`voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` in `/proc`, in separate runs without "
        "strace. Work submitted through io_uring is not a system call: strace sees only `io_uring_enter`.\n")
    rows = []
    for t in run.servers():
        total = syscalls(run, t.name)
        if total is None and syscalls(run, t.name, "vol_cs_per_req") is None:
            continue
        per = run.metrics(t.name, "syscalls", "syscall:")
        calls = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:4])
        vol, nonvol = syscalls(run, t.name, "vol_cs_per_req"), syscalls(run, t.name, "nonvol_cs_per_req")
        rows.append([t.name, "-" if total is None else f"{total:.2f}",
                     fmt_ratio(run.ratio(t, "syscalls", cfg.requests, "syscalls_per_req")), calls or "-",
                     "-" if vol is None else f"{vol:.3f}", "-" if nonvol is None else f"{nonvol:.3f}"])
    add(table(["Server", "System calls / request", "vs nginx", "Most frequent (per request)",
               "Voluntary switches / request", "Involuntary switches / request"], rows))
    add("\n![System calls per request](syscalls_per_request.png)\n")

    if run.notes:
        add("## Not measured, and why\n")
        merged = {}
        for name, workload, text in run.notes:
            merged.setdefault((name, text), []).append(workload)
        for (name, text), workloads in merged.items():
            add(f"- {name}, {', '.join(workloads)}: {text}")
        add("")

    add("## How it was run\n")
    add(f"- `make bench` (`scripts/bench.py`): {cfg.runs} runs, {cfg.duration} s per wrk run, keep-alive at "
        f"{', '.join(map(str, cfg.levels))} connections, a {cfg.warmup} s warm-up after each start. Every server "
        "listens on 127.0.0.1 and is restarted for each run; `taskset` puts it and wrk on their CPUs "
        "(`--cores N` gives the servers N CPUs and wrk the rest).")
    add("- Scaling past two cores: on a machine with more, `make bench CORES=N BENCH_ARGS='--chapter 06 "
        "--chapter 07 --chapter 08 --chapter 09 --out docs/results/cores-N'` for N = 1, 2, 4, 8 gives the "
        "multi-core chapters and nginx N loops, threads or workers each. `make bench-tools` packs wrk, "
        "nginx, strace and taskset with their libraries for a machine that reaches no package registry.")
    add(f"- Chapters get `--threads {cfg.workers}` if their model takes a thread count, and `--idle-timeout "
        "600`, so that held idle connections stay open. A chapter that is not concurrent is measured at "
        "one connection only.")
    add("- nginx: a generated configuration in a temporary directory, run as the current user, "
        "`location / { return 200 \"Hello, World!\"; }` with `default_type text/plain`, `access_log off`, "
        "`keepalive_requests 1000000000`, `keepalive_timeout 600s`, `worker_connections` raised to the "
        "descriptor limit, `listen ... backlog=4096` like the chapters.")
    add("- `make bench QUICK=1` is a smoke run (1 run, 1 s per measure, smaller counts) that writes to "
        "`BUILD/bench-quick/`. `/usr/bin/python3 scripts/bench_report.py --from docs/results` rewrites this page "
        "and the plots from the data files without measuring again; each chapter's page in the book shows "
        "its own numbers and plot (`chapter-NN-name.png`).")
    add("")
    Path(path).write_text("\n".join(out), encoding="utf-8")


def headline_text(run):
    rows = [[r[0], r[2], r[3], r[4].strip("*"), r[5], r[6], r[7], r[8], r[9], r[10]] for r in headline_rows(run)]
    header = ["chapter", "vs", "CPU/req", "x floor", "vs nginx", "keep-alive req/s", "pipelined", "close",
              "p99 blocked", "mem/conn"]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))] if rows else []
    floor = cpu(run, FLOOR, "keep-alive", max(run.cfg.levels))
    lines = [f"floor: {fmt_us(floor)} of CPU per keep-alive request", ""]
    lines += ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.append("")
    for goal, measured, verdict in goal_rows(run):
        lines.append(f"  [{verdict}] {goal}: {measured}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description="Rewrites bench.md and the plots of a finished make bench run "
                                                 "from its bench.csv and bench.json, without measuring again.")
    parser.add_argument("--from", dest="source", type=Path, required=True, metavar="DIR",
                        help="the run's directory (docs/results)")
    parser.add_argument("--out", type=Path, help="where bench.md and the plots go (default: DIR)")
    args = parser.parse_args()
    source = args.source if args.source.is_dir() else args.source.parent
    try:
        run = Run.load(source)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{source}: no make bench run to read ({e})")
    out = args.out or source
    out.mkdir(parents=True, exist_ok=True)
    import bench_plots

    write_markdown(run, out / "bench.md")
    plots = bench_plots.plot(run, out)
    print(f"{out}/bench.md, " + ", ".join(p.name for p in plots))
    print(headline_text(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

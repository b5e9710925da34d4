"""The tables (bench.md), the terminal summary and the plots (PNG) of scripts/bench.py."""

import math
from pathlib import Path

import loadlib as L
from loadlib import fmt_ms, fmt_num

HEADLINE_LEVEL = 256


def _ratio(r):
    return f"{r:.2f}x" if r is not None else "-"


def _int(v):
    return f"{v:,.0f}" if v is not None else "-"


def _dec(v, places=2):
    return f"{v:.{places}f}" if v is not None else "-"


def _bytes(v):
    if v is None:
        return "-"
    return f"{v / 1024:,.1f} KiB" if v >= 10240 else f"{v:,.0f} B"


def levels_run(bench, name, workload="keep-alive"):
    return sorted({p for (n, w, p, m) in bench.values if n == name and w == workload and m == "rps"})


def headline_level(bench, name):
    ran = levels_run(bench, name)
    if not ran:
        return None
    under = [n for n in ran if n <= HEADLINE_LEVEL]
    return max(under) if under else max(ran)


def blocking_p99(bench, name):
    return bench.median(name, "blocking", bench.cfg.block_conns, "p99_ms")


def idle_per_conn(bench, name):
    return bench.median(name, "idle", bench.cfg.idle, "bytes_per_conn")


def syscalls(bench, t, metric="syscalls_per_req"):
    return bench.median(t.name, "syscalls", bench.cfg.requests, metric)


def goal_rows(bench):
    """(goal, measured, verdict) for each goal of bench.GOALS."""
    rows = []
    by_prefix = {t.name[:2]: t for t in bench.chapters()}
    for who, other, text in bench.goals:
        t = by_prefix.get(who)
        o = by_prefix.get(other) if other else None
        label = f"{t.name if t else who}: {text}"
        if t is None or (other and o is None):
            missing = who if t is None else other
            rows.append((label, f"chapter {missing} not in the registry or not built", "not measured"))
            continue
        if "p99" in text:
            mine, theirs = blocking_p99(bench, t.name), blocking_p99(bench, o.name)
            if mine is None or theirs is None:
                rows.append((label, "blocking workload missing", "not measured"))
                continue
            ok = mine <= theirs / 10
            rows.append((label, f"{fmt_ms(mine)} vs {fmt_ms(theirs)} ({mine / theirs:.3f}x)", "met" if ok else "not met"))
            continue
        level = headline_level(bench, t.name)
        if level is None:
            rows.append((label, "keep-alive workload missing", "not measured"))
            continue
        if o is None:
            r = bench.ratio(t, "keep-alive", level, "rps")
            if r is None:
                rows.append((label, "nginx measure missing", "not measured"))
                continue
            rows.append((label, f"{r:.2f}x {t.twin} at {level} conn", "met" if r >= 1.0 else "not met"))
        else:
            mine = bench.median(t.name, "keep-alive", level, "rps")
            theirs = bench.median(o.name, "keep-alive", level, "rps")
            if mine is None or not theirs:
                rows.append((label, "keep-alive workload missing", "not measured"))
                continue
            rows.append((label, f"{_int(mine)} vs {_int(theirs)} req/s at {level} conn ({mine / theirs:.2f}x)",
                         "met" if mine >= theirs else "not met"))
    return rows


def headline_rows(bench):
    rows = []
    for t in bench.chapters():
        level = headline_level(bench, t.name)
        rps = bench.median(t.name, "keep-alive", level, "rps") if level else None
        close = bench.median(t.name, "close", bench.cfg.close_conns, "rps")
        rows.append([
            t.name, t.model, str(t.workers), t.twin,
            f"{_int(rps)}" + (f" ({level} conn)" if level and level != HEADLINE_LEVEL else ""),
            f"**{_ratio(bench.ratio(t, 'keep-alive', level, 'rps'))}**" if level else "-",
            _int(close), _ratio(bench.ratio(t, "close", bench.cfg.close_conns, "rps")),
            fmt_ms(blocking_p99(bench, t.name)),
            _bytes(idle_per_conn(bench, t.name)),
            _dec(syscalls(bench, t)),
        ])
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(bench, info, elapsed, path):
    cfg = bench.cfg
    out = []
    add = out.append
    add("# Benchmarks: every chapter against nginx\n")
    add(f"Measured by `make bench` on {info['date']}; the run took {L.fmt_duration(elapsed)} (min:s). The raw medians "
        "(and every run's value) are in [bench.csv](bench.csv).\n")
    add(table(["Machine", ""], [
        ["CPU", info["cpu"]], ["Cores", str(info["cores"])], ["Memory", info["memory"]],
        ["Kernel", info["kernel"]], ["nginx", info["nginx"]], ["wrk", info["wrk"]],
    ]))
    add("")
    add(f"> **These numbers are noisy.** The load generator (wrk, {cfg.wrk_threads} thread), the server "
        f"under test and everything else on the machine share its {info['cores']} cores, and other "
        "builds and test runs were going on while this was measured. Each figure is the median of "
        f"{cfg.runs} run(s), and the runs of every server are interleaved (run 1 of every server, then "
        "run 2, ...) so that a slow minute hits all of them, but treat differences under ~15% as "
        "noise. Compare servers within these tables, not with numbers from another machine.\n")
    add("## Headline\n")
    add(f"Each chapter is compared with nginx configured for the same job (`return 200 \"Hello, World!\"`) "
        f"with the same number of workers: the chapter's `/stats` `workers`, capped at W = {cfg.workers} "
        "(a model with a process or a thread per client reports one worker per client, and nginx's "
        "way of using every core is one worker per core), or 1 for a model that uses one core. "
        "**vs nginx** is the chapter's requests/s over that nginx's, so 1.00x is a tie and more is "
        f"better. Keep-alive at {HEADLINE_LEVEL} connections (or the most the chapter can serve).\n")
    add(table(["Chapter", "Model", "Workers", "Compared with", f"Keep-alive req/s", "vs nginx",
               f"Connection: close req/s ({cfg.close_conns} conn)", "vs nginx",
               f"GET / p99, {cfg.sleepers} sleeps in flight", f"Memory per idle connection",
               "System calls per request"], headline_rows(bench)))
    add("")
    add("### Goals\n")
    add(table(["Goal", "Measured", "Verdict"], goal_rows(bench)))
    add("")

    add("## Keep-alive throughput\n")
    add(f"`wrk -t{cfg.wrk_threads} -c N -d {cfg.duration}s --latency`, GET /, connections kept open. "
        "Requests/s, and in parentheses the ratio to the nginx with the same workers.\n")
    rows = []
    dagger = False
    for t in bench.targets:
        row = [t.name, str(t.workers)]
        for n in cfg.levels:
            v = bench.median(t.name, "keep-alive", n, "rps")
            r = bench.ratio(t, "keep-alive", n, "rps")
            errs = bench.median(t.name, "keep-alive", n, "errors")
            dagger = dagger or bool(errs)
            cell = _int(v) + (f" ({r:.2f}x)" if r is not None else "") + (" †" if errs else "")
            row.append(cell if v is not None else "skipped")
        rows.append(row)
    add(table(["Server", "Workers"] + [f"{n} conn" for n in cfg.levels], rows))
    add("")
    if dagger:
        add("† wrk reported socket errors or timeouts in the median run (see bench.csv, metric `errors`).\n")
    add("![Throughput by connections](throughput_by_connections.png)\n")

    add("## Keep-alive latency\n")
    add("p50 / p99 of GET / from the same runs.\n")
    rows = []
    for t in bench.targets:
        row = [t.name]
        for n in cfg.levels:
            p50 = bench.median(t.name, "keep-alive", n, "p50_ms")
            p99 = bench.median(t.name, "keep-alive", n, "p99_ms")
            row.append(f"{fmt_ms(p50)} / {fmt_ms(p99)}" if p50 is not None else "skipped")
        rows.append(row)
    add(table(["Server"] + [f"{n} conn" for n in cfg.levels], rows))
    add("")

    add("## One request per connection\n")
    add(f"`wrk -c {cfg.close_conns} -H 'Connection: close'`: every request opens a connection and the "
        "server closes it after the response, so this measures accept, connection set-up and tear-down.\n")
    rows = []
    for t in bench.targets:
        n = cfg.close_conns
        rows.append([t.name, _int(bench.median(t.name, "close", n, "rps")), _ratio(bench.ratio(t, "close", n, "rps")),
                     fmt_ms(bench.median(t.name, "close", n, "p50_ms")), fmt_ms(bench.median(t.name, "close", n, "p99_ms"))])
    add(table(["Server", "req/s", "vs nginx", "p50", "p99"], rows))
    add("")

    add("## Latency under blocking work\n")
    add(f"{cfg.sleepers} clients keep a `GET /sleep?ms={cfg.sleep_ms}` in flight each (a new one as soon "
        f"as one is answered, each on its own connection) while `wrk -c {cfg.block_conns}` measures GET /. "
        "A model that runs the handler on the thread that serves everyone makes every GET / wait for "
        "the sleeps. Here each chapter runs with its default settings (no `--threads`): whether a "
        "model keeps GET / fast under blocking work is a property of its design as it ships (a "
        "worker pool sized for blocking work, for one), so the worker count is the model's own. "
        "nginx has no blocking route, so it is not in this table; the keep-alive p99 at "
        f"16 connections, without sleeps, is there for comparison.\n")
    rows = []
    for t in bench.chapters():
        p99 = blocking_p99(bench, t.name)
        if p99 is None:
            continue
        n = cfg.block_conns
        workers = bench.median(t.name, "blocking", n, "workers")
        rows.append([t.name, _int(workers), fmt_ms(bench.median(t.name, "blocking", n, "p50_ms")), fmt_ms(p99),
                     _int(bench.median(t.name, "blocking", n, "rps")),
                     f"{bench.median(t.name, 'blocking', n, 'sleeps_per_s') or 0:.1f}",
                     fmt_ms(bench.median(t.name, "keep-alive", 16, "p99_ms"))])
    add(table(["Chapter", "Workers (default)", "GET / p50", "GET / p99", "GET / req/s", "sleeps answered/s", "p99 without sleeps"], rows))
    add("\n![Latency under blocking work](latency_under_blocking.png)\n")

    add("## Memory per idle connection\n")
    add(f"{cfg.idle:,} connections opened and left idle (nothing sent). Memory is the server's resident "
        "memory as PSS (proportional set size) summed over all its processes, read from "
        "`/proc/PID/smaps_rollup` before the connections are opened and once the server holds them "
        "all. Kernel socket buffers are not part of it. Only chapters whose model claims c10k, and "
        "their nginx.\n")
    rows = []
    for t in bench.targets:
        per = idle_per_conn(bench, t.name)
        if per is None:
            continue
        before = bench.median(t.name, "idle", cfg.idle, "kib_before")
        after = bench.median(t.name, "idle", cfg.idle, "kib_after")
        rows.append([t.name, f"{before / 1024:.1f} MiB", f"{after / 1024:.1f} MiB", _bytes(per),
                     _ratio(bench.ratio(t, "idle", cfg.idle, "bytes_per_conn"))])
    add(table(["Server", "Before", f"With {cfg.idle:,} idle connections", "Per connection", "vs nginx"], rows))
    add("\n![Memory per connection](memory_per_connection.png)\n")

    add("## System calls and context switches per request\n")
    add(f"{cfg.requests:,} keep-alive GET / over 16 connections (1 for a chapter that is not concurrent), "
        "one request in flight on each, from a small Python client (so the rate is far below wrk's). "
        "System calls: `strace -f -c` attached to every process and thread of the server for exactly "
        "those requests. Context switches: `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` "
        "of every thread in `/proc/PID/task/*/status`, before and after, in separate runs without "
        "strace (tracing multiplies them). Work submitted through io_uring is not a system call: "
        "strace sees only the `io_uring_enter` calls that submit and reap it in batches.\n")
    rows = []
    for t in bench.targets:
        total = syscalls(bench, t)
        if total is None and syscalls(bench, t, "vol_cs_per_req") is None:
            continue
        conns = cfg.requests
        per = {m.split(":", 1)[1]: bench.median(t.name, "syscalls", conns, m)
               for (n, w, p, m) in bench.values if n == t.name and w == "syscalls" and m.startswith("syscall:")}
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:4])
        rows.append([t.name, _dec(total), _ratio(bench.ratio(t, "syscalls", conns, "syscalls_per_req")),
                     top or "-", _dec(syscalls(bench, t, "vol_cs_per_req"), 3),
                     _dec(syscalls(bench, t, "nonvol_cs_per_req"), 3)])
    add(table(["Server", "System calls / request", "vs nginx", "Most frequent (per request)",
               "Voluntary switches / request", "Involuntary switches / request"], rows))
    add("\n![System calls per request](syscalls_per_request.png)\n")

    if bench.notes:
        add("## Not measured, and why\n")
        merged = {}
        for name, workload, text in bench.notes:
            merged.setdefault((name, text), []).append(workload)
        for (name, text), workloads in merged.items():
            add(f"- {name}, {', '.join(workloads)}: {text}")
        add("")

    add("## How it was run\n")
    add(f"- `make bench` (`scripts/bench.py`): {cfg.runs} runs, {cfg.duration} s per wrk run, "
        f"`wrk -t{cfg.wrk_threads}`, connection counts {', '.join(map(str, cfg.levels))}; a 1 s warm-up "
        "run after each start. Every server listens on 127.0.0.1 and is restarted for each run.")
    cap = (f", and `--max-clients {max(cfg.levels) + 64}` if their model caps its processes or threads "
           f"(the default, 512, is under the {max(cfg.levels):,}-connection load, whose extra connections "
           "would otherwise only wait in the backlog)") if max(cfg.levels) > 512 else ""
    add(f"- Chapters get `--threads {cfg.workers}` if their model takes a thread count, `--idle-timeout 600` "
        f"(so held idle connections stay open){cap}. A chapter that is not concurrent is measured at "
        "one connection only.")
    add("- nginx: a generated configuration in a temporary directory (its own pid file, error log and "
        "temp paths), run as the current user, `location / { return 200 \"Hello, World!\"; }` with "
        "`default_type text/plain`, `access_log off`, `keepalive_requests 1000000000`, "
        "`keepalive_timeout 600s`, `worker_connections` and `worker_rlimit_nofile` raised to the "
        "descriptor limit, `listen ... backlog=4096` like the chapters.")
    add("- `make bench QUICK=1` (or `make bench-quick`) is a smoke run with 1 run, 1 s per measure and "
        "smaller counts; it writes to `BUILD/bench-quick/`, not here. `make bench BENCH_ARGS='--runs 5 "
        "--duration 10'` measures longer; `/usr/bin/python3 scripts/bench.py --help` lists the options.")
    add("")
    Path(path).write_text("\n".join(out))


def headline_text(bench):
    rows = [[r[0], r[2], r[3], r[4], r[5].strip("*"), r[8], r[9], r[10]] for r in headline_rows(bench)]
    header = ["chapter", "workers", "vs", "keep-alive req/s", "vs nginx", "p99 blocked", "mem/conn", "syscalls/req"]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))] if rows else []
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.append("")
    for goal, measured, verdict in goal_rows(bench):
        lines.append(f"  [{verdict}] {goal}: {measured}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Plots.


def plot(bench, outdir):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (scripts/setup.sh bench installs python3-matplotlib): no plots")
        return []
    outdir = Path(outdir)
    made = []
    cfg = bench.cfg
    chapters = bench.chapters()
    palette = [plt.cm.tab10(i) for i in range(10) if i != 7]  # tab10 without its gray: gray is nginx's
    palette += [plt.cm.tab20(i) for i in range(1, 20, 2) if i != 15]
    colors = {t.name: palette[i % len(palette)] for i, t in enumerate(chapters)}
    nginx_styles = ["black", "dimgray", "darkgray", "silver"]
    for i, t in enumerate(t for t in bench.targets if t.kind == "nginx"):
        colors[t.name] = nginx_styles[i % len(nginx_styles)]
    subtitle = f"{cfg.runs} run(s), median; {bench.cfg.workers}-worker cap; noisy shared {L_cores()}-core machine"

    # Throughput by connections.
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for t in bench.targets:
        ns = levels_run(bench, t.name)
        ys = [bench.median(t.name, "keep-alive", n, "rps") for n in ns]
        if not ns:
            continue
        style = dict(linestyle="--", linewidth=2.2) if t.kind == "nginx" else dict(linestyle="-", linewidth=1.6)
        label = t.name if t.kind == "nginx" else f"{t.name} ({t.workers} workers)" if t.workers > 1 else t.name
        if len(ns) == 1:
            label += f" ({ns[0]} conn only)"
        marker = "s" if t.kind == "nginx" else "o^vD<>ph*"[chapters.index(t) % 9]
        ax.plot(ns, ys, marker=marker, markersize=7, color=colors[t.name], label=label, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(cfg.levels)
    ax.set_xticklabels([str(n) for n in cfg.levels])
    ax.set_xlabel("keep-alive connections")
    ax.set_ylabel("requests per second (GET /)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    ax.set_title(f"Throughput by connections\n{subtitle}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    made.append(_save(fig, outdir / "throughput_by_connections.png", plt))

    # Latency under blocking work.
    names, p50s, p99s, base = [], [], [], []
    for t in chapters:
        p99 = blocking_p99(bench, t.name)
        if p99 is None:
            continue
        names.append(t.name)
        p99s.append(p99)
        p50s.append(bench.median(t.name, "blocking", cfg.block_conns, "p50_ms") or float("nan"))
        base.append(bench.median(t.name, "keep-alive", 16, "p99_ms") or float("nan"))
    if names:
        fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 2.6))
        y = list(range(len(names)))
        h = 0.27
        ax.barh([i - h for i in y], base, height=h, color="#9ecae1", label="p99 without sleeps (16 conn)")
        ax.barh(y, p50s, height=h, color="#fd8d3c", label=f"p50 with {cfg.sleepers} x /sleep?ms={cfg.sleep_ms} in flight")
        ax.barh([i + h for i in y], p99s, height=h, color="#d62728", label=f"p99 with {cfg.sleepers} x /sleep?ms={cfg.sleep_ms} in flight")
        for i, v in enumerate(p99s):
            ax.text(v, i + h, " " + fmt_ms(v), va="center", fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(right=max(p99s) * 4)
        ax.set_xlabel("GET / latency, ms (log scale)")
        ax.set_title(f"Latency of GET / under blocking work\n{subtitle}", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
        fig.tight_layout()
        made.append(_save(fig, outdir / "latency_under_blocking.png", plt))

    # Memory per connection.
    rows = [(t, idle_per_conn(bench, t.name)) for t in bench.targets]
    rows = [(t, v) for t, v in rows if v is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 2))
        ax.barh([t.name for t, _ in rows], [v for _, v in rows], color=[colors[t.name] for t, _ in rows])
        for i, (_, v) in enumerate(rows):
            ax.text(v, i, " " + _bytes(v), va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("bytes of resident memory (PSS) per idle connection")
        ax.set_title(f"Memory per connection, {cfg.idle:,} idle connections\n{subtitle}", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xlim(right=max(v for _, v in rows) * 1.25)
        fig.tight_layout()
        made.append(_save(fig, outdir / "memory_per_connection.png", plt))

    # System calls per request.
    rows = [(t, syscalls(bench, t)) for t in bench.targets]
    rows = [(t, v) for t, v in rows if v is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 2))
        ax.barh([t.name for t, _ in rows], [v for _, v in rows], color=[colors[t.name] for t, _ in rows])
        for i, (_, v) in enumerate(rows):
            ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("system calls per request (strace -f -c, keep-alive GET /)")
        ax.set_title(f"System calls per request\n{subtitle}", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xlim(right=max(v for _, v in rows) * 1.2)
        fig.tight_layout()
        made.append(_save(fig, outdir / "syscalls_per_request.png", plt))
    return made


def L_cores():
    import os

    return os.cpu_count() or 1


def _save(fig, path, plt):
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

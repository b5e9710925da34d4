"""The tables (bench.md), the terminal summary and the plots (PNG) of scripts/bench.py.

scripts/bench.py calls it at the end of a run. Run alone, it redraws a finished run from its
bench.csv, without measuring again (after a change to the tables or the plots):

    /usr/bin/python3 scripts/bench_report.py --from docs/results/bench.csv

bench.csv holds every measure; the date, the machine, the run's length and settings, and why a
measure was skipped come from the bench.md beside it, which is then rewritten with the plots
(one for all servers per measure, and one per chapter: chapter-NN-name.png, which the chapter's
page of the book shows). scripts/book.py reads a run back the same way (RecordedBench).
"""

import argparse
import csv
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

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
    add(table(["Chapter", "Model", "Workers", "Compared with", "Keep-alive req/s", "vs nginx",
               f"Connection: close req/s ({cfg.close_conns} conn)", "vs nginx",
               f"GET / p99, {cfg.sleepers} sleeps in flight", "Memory per idle connection",
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
    add("- `/usr/bin/python3 scripts/bench_report.py --from docs/results/bench.csv` rewrites this page and "
        "the plots from bench.csv without measuring again. The page of each chapter in the book (`make docs`) "
        "shows that chapter's numbers next to its nginx, and its own plot (`chapter-NN-name.png`).")
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


def plot(bench, outdir, cores=None):
    """Draws the plots into outdir and returns their paths; cores: the measuring machine's core
    count, for the subtitle (default: this machine's)."""
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
    subtitle = f"{cfg.runs} run(s), median; {bench.cfg.workers}-worker cap; noisy shared {cores or L_cores()}-core machine"

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
        marker = "s" if t.kind == "nginx" else MARKERS[chapters.index(t) % len(MARKERS)]
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

    # One plot per chapter, for its page of the book.
    for i, t in enumerate(chapters):
        made.append(plot_chapter(bench, t, outdir / chapter_plot_name(t.name), plt, matplotlib, colors,
                                 MARKERS[i % len(MARKERS)], subtitle))
    return made


MARKERS = "o^vD<>ph*"


def chapter_plot_name(name):
    """The file name of a chapter's own plot, in the results directory."""
    return f"chapter-{name}.png"


def plot_chapter(bench, t, path, plt, matplotlib, colors, marker, subtitle):
    """One chapter against its nginx: keep-alive requests/s by connections, Connection: close
    requests/s, and the p99 of GET / with and without sleeps in flight."""
    cfg = bench.cfg
    mine, theirs = colors[t.name], colors.get(t.twin, "black")
    kilo = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0")
    fig, (ka, cl, bl) = plt.subplots(1, 3, figsize=(8.0, 3.5), gridspec_kw={"width_ratios": [2.4, 1, 1.1]})

    # Keep-alive: the chapter and its nginx, by connections; the ratio by each of the chapter's points.
    ns = levels_run(bench, t.name)
    tns = levels_run(bench, t.twin)
    if tns:
        ka.plot(tns, [bench.median(t.twin, "keep-alive", n, "rps") for n in tns], marker="s", markersize=6,
                color=theirs, linestyle="--", linewidth=2.2, label=t.twin)
    if ns:
        label = t.name + (f" ({ns[0]} conn only)" if len(ns) == 1 else "")
        ys = [bench.median(t.name, "keep-alive", n, "rps") for n in ns]
        ka.plot(ns, ys, marker=marker, markersize=6, color=mine, linestyle="-", linewidth=1.6, label=label)
        # The ratios in a row along the top, above each of the chapter's points.
        top = matplotlib.transforms.blended_transform_factory(ka.transData, ka.transAxes)
        for n in ns:
            r = bench.ratio(t, "keep-alive", n, "rps")
            if r is not None:
                ka.text(n, 0.95, f"{r:.2f}x", transform=top, ha="center", va="top", fontsize=8,
                        color="#333333", fontweight="bold")
    xlabel = "keep-alive connections"
    skipped = [n for n in cfg.levels if n not in ns]
    if ns and skipped:
        why = skip_reason(bench, t.name, f"keep-alive {skipped[0]}") or "not measured"
        xlabel += f"\n({_levels_text(skipped)}: {why})"
    ka.set_xscale("log", base=2)
    ka.set_xticks(cfg.levels)
    ka.set_xticklabels([str(n) for n in cfg.levels])
    ka.set_xlim(min(cfg.levels) / 1.7, max(cfg.levels) * 1.7)
    ka.minorticks_off()
    ka.set_xlabel(xlabel, fontsize=9)
    ka.set_ylabel("requests per second (GET /)", fontsize=9)
    ka.set_ylim(bottom=0, top=ka.get_ylim()[1] * 1.2)
    ka.yaxis.set_major_formatter(kilo)
    ka.set_title("Keep-alive, req/s\n(and the ratio to nginx)", fontsize=9)
    ka.grid(True, alpha=0.3)
    ka.legend(fontsize=8, loc="lower right")

    # Connection: close, the chapter and its nginx.
    n = cfg.close_conns
    vals = [bench.median(t.name, "close", n, "rps"), bench.median(t.twin, "close", n, "rps")]
    if vals[0] is not None:
        cl.bar([0, 1], [v or 0 for v in vals], color=[mine, theirs], width=0.6)
        for x, v in enumerate(vals):
            if v is not None:
                cl.text(x, v, f"{v / 1000:.1f}k", ha="center", va="bottom", fontsize=8)
        r = bench.ratio(t, "close", n, "rps")
        if r is not None:
            top = matplotlib.transforms.blended_transform_factory(cl.transData, cl.transAxes)
            cl.text(0, 0.95, f"{r:.2f}x", transform=top, ha="center", va="top", fontsize=8,
                    color="#333333", fontweight="bold")
        cl.set_ylim(top=max(v or 0 for v in vals) * 1.35)
        cl.yaxis.set_major_formatter(kilo)
        cl.set_xticks([0, 1])
        cl.set_xticklabels([f"ch. {t.name[:2]}", t.twin], fontsize=8)
        cl.grid(True, axis="y", alpha=0.3)
    else:
        _not_measured(cl, skip_reason(bench, t.name, "close"))
    cl.set_title(f"Connection: close\n{n} conn, req/s", fontsize=9)

    # GET / p99: without sleeps, and with the sleeps in flight (log scale: they differ by 1,000x).
    base = bench.median(t.name, "keep-alive", cfg.block_conns, "p99_ms")
    blocked = blocking_p99(bench, t.name)
    if blocked is not None:
        vals = [base, blocked]
        bl.bar([0, 1], [v or float("nan") for v in vals], color=[mine, mine], alpha=0.45, width=0.6)
        bl.patches[1].set_alpha(1.0)
        for x, v in enumerate(vals):
            if v is not None:
                bl.text(x, v * 1.15, fmt_ms(v), ha="center", va="bottom", fontsize=8)
        bl.set_yscale("log")
        low = min(v for v in vals if v)
        bl.set_ylim(low / 8, max(v for v in vals if v) * 8)
        bl.set_xticks([0, 1])
        bl.set_xticklabels(["no sleeps", f"{cfg.sleepers} sleeps"], fontsize=8)
        bl.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: fmt_ms(v).replace(".00 s", " s").replace(".0 ms", " ms")))
        bl.tick_params(axis="y", labelsize=7)
        bl.grid(True, axis="y", alpha=0.3)
    else:
        _not_measured(bl, skip_reason(bench, t.name, "blocking"))
    bl.set_title(f"GET / p99, {cfg.block_conns} conn,\n{cfg.sleepers} x /sleep?ms={cfg.sleep_ms}", fontsize=9)

    for ax in (ka, cl, bl):
        ax.tick_params(labelsize=8)
    workers = f", {t.workers:,} workers" if t.workers > 1 else ""
    fig.suptitle(f"{t.name} ({t.model}{workers}) against {t.twin}\n{subtitle}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, plt)


def _levels_text(levels):
    names = [f"{n:,}" for n in levels]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _not_measured(ax, why):
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.text(0.5, 0.5, (why or "not measured").replace(": ", ":\n"), transform=ax.transAxes,
            ha="center", va="center", fontsize=8, color="dimgray")


def skip_reason(bench, name, workload):
    """Why a measure of this target is missing, in a few words, from the run's notes: "skipped:
    the model is not concurrent", "failed", "not built" (None: no note). The notes name a
    workload ("keep-alive 16", "blocking", "memory") or "all"."""
    for key in (workload, "all"):
        for who, what, text in bench.notes:
            if who == name and what == key:
                kind, _, rest = text.partition(": ")
                if kind in ("skipped", "n/a") and rest:
                    return f"{kind}: " + re.split(r" \(|, so ", rest, maxsplit=1)[0]
                return re.split(r" \(|: ", text, maxsplit=1)[0]
    return None


def L_cores():
    import os

    return os.cpu_count() or 1


def _save(fig, path, plt):
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# A finished run, read back from bench.csv and the bench.md beside it.


class RecordedTarget:
    """A server as bench.csv records it."""

    def __init__(self, name, kind, model, workers, twin):
        self.name = name
        self.kind = kind
        self.model = model
        self.workers = workers
        self.twin = twin or None


class RecordedBench:
    """What the tables and plots need of scripts/bench.py's Bench, from a run's bench.csv: the
    targets in the run's order, every run's values, the medians and the ratios to nginx exactly
    as the CSV has them. What the CSV does not hold (the date, the machine, the run's length,
    wrk's duration and threads, W, the sleeps, and the notes on what was not measured) comes from
    the bench.md beside it, when there is one: `info`, `elapsed`, `cfg` and `notes`.

    The CSV keeps four significant digits, so a figure that bench.md prints with fewer can differ
    in its last digit where the CSV's value is a tie: the run printed 0.1485... as 0.149, while
    "0.1485" read back prints as 0.148."""

    def __init__(self, csv_path, md_path=None):
        self.csv_path = Path(csv_path)
        self.md_path = Path(md_path) if md_path else self.csv_path.with_name("bench.md")
        self.values = {}  # (target, workload, param, metric) -> [every run's value]
        self._medians = {}
        self._ratios = {}
        targets = {}
        with open(self.csv_path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                name = row["target"]
                if name not in targets:
                    targets[name] = RecordedTarget(name, row["kind"], row["model"], int(row["workers"]),
                                                   row["nginx_twin"])
                key = (name, row["workload"], _param(row["param"]), row["metric"])
                self.values[key] = [float(v) for v in row["runs"].split(";") if v]
                self._medians[key] = float(row["median"]) if row["median"] else None
                if row["vs_nginx"]:
                    self._ratios[key] = float(row["vs_nginx"])
        # As bench.py orders them: the chapters in the run's order, then nginx by worker count.
        chapters = [t for t in targets.values() if t.kind == "chapter"]
        self.targets = chapters + sorted((t for t in targets.values() if t.kind != "chapter"),
                                         key=lambda t: t.workers)
        from bench import GOALS  # here, not at the top: bench.py imports this module (in its main())

        self.goals = GOALS
        self.info, self.elapsed, settings, self.notes = read_markdown(self.md_path)
        self.cfg = self._settings(settings)
        self._order_syscalls(settings.get("top_syscalls", {}))

    def _order_syscalls(self, listed):
        """The table lists each server's most frequent system calls, highest count first. Calls
        made once per request tie in the CSV's four digits (poll, read and sendto all read 1),
        so their order there is the order bench.md listed them in: put those first."""
        def rank(key):
            name, workload, _, metric = key
            top = listed.get(name, [])
            call = metric.split(":", 1)[1] if metric.startswith("syscall:") else None
            return top.index(call) if workload == "syscalls" and call in top else len(top)

        self.values = dict(sorted(self.values.items(), key=lambda kv: rank(kv[0])))

    def _settings(self, md):
        def params(workload):
            return sorted({p for (_, w, p, _) in self.values if w == workload})

        def one(workload, default):
            found = params(workload)
            return found[0] if found else default

        nginx = [t.workers for t in self.targets if t.kind == "nginx"]
        runs = max((len(v) for (_, w, _, _), v in self.values.items() if w == "keep-alive"), default=1)
        return SimpleNamespace(
            levels=params("keep-alive"),
            runs=md.get("runs", runs),
            duration=md.get("duration", 4),
            wrk_threads=md.get("wrk_threads", 1),
            workers=md.get("workers", max(nginx, default=1)),
            close_conns=one("close", 16),
            block_conns=one("blocking", 16),
            sleepers=md.get("sleepers", 8),
            sleep_ms=md.get("sleep_ms", 200),
            idle=one("idle", 10000),
            requests=one("syscalls", 20000),
        )

    def chapters(self):
        return [t for t in self.targets if t.kind == "chapter"]

    def by_name(self, name):
        return next((t for t in self.targets if t.name == name), None)

    def median(self, target, workload, param, metric):
        return self._medians.get((target, workload, param, metric))

    def ratio(self, t, workload, param, metric):
        return self._ratios.get((t.name, workload, param, metric)) if t.kind == "chapter" else None


def _param(text):
    return int(text) if text.isdigit() else text


def read_markdown(path):
    """(info, elapsed seconds, settings, notes) from a bench.md written by write_markdown: the
    facts bench.csv does not hold. A missing file or line leaves "?" (info), None (elapsed), no
    key (settings) or no notes."""
    info = {key: "?" for key in ("date", "cpu", "cores", "memory", "kernel", "nginx", "wrk")}
    path = Path(path)
    if not path.exists():
        return info, None, {}, []
    text = path.read_text(encoding="utf-8")
    elapsed = None
    m = re.search(r"^Measured by `make bench` on (.+?); the run took (\d+):(\d\d) ", text, re.M)
    if m:
        info["date"] = m[1]
        elapsed = int(m[2]) * 60 + int(m[3])
    for key, label in (("cpu", "CPU"), ("cores", "Cores"), ("memory", "Memory"), ("kernel", "Kernel"),
                       ("nginx", "nginx"), ("wrk", "wrk")):
        m = re.search(rf"^\| {label} \| (.*?) \|$", text, re.M)
        if m:
            info[key] = m[1]
    settings = {}
    for pattern, keys in ((r"capped at W = (\d+)", ["workers"]),
                          (r"`scripts/bench.py`\): (\d+) runs?, (\d+) s per wrk run, `wrk -t(\d+)`",
                           ["runs", "duration", "wrk_threads"]),
                          (r"(\d+) clients keep a `GET /sleep\?ms=(\d+)`", ["sleepers", "sleep_ms"])):
        m = re.search(pattern, text)
        if m:
            settings.update(zip(keys, map(int, m.groups())))
    top = {}
    section = re.search(r"^## System calls and context switches per request\n\n.*?\n\n(.*?)(?:\n\n|\Z)",
                        text, re.M | re.S)
    for line in section[1].splitlines()[2:] if section else []:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[3] != "-":
            top[cells[0]] = [call.rsplit(" ", 1)[0] for call in cells[3].split(", ")]
    settings["top_syscalls"] = top
    notes = []
    section = re.search(r"^## Not measured, and why\n\n(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    for line in section[1].splitlines() if section else []:
        m = re.match(r"^- ([^,]+), (.+?): (.*)$", line)  # "- name, workload, workload: text"
        if m:
            notes += [(m[1], workload, m[3]) for workload in m[2].split(", ")]
    return info, elapsed, settings, notes


def main():
    parser = argparse.ArgumentParser(
        description="Rewrites bench.md and the plots of a finished make bench run from its bench.csv, "
                    "without measuring again (the date, the machine and the notes come from the "
                    "bench.md beside the CSV).")
    parser.add_argument("--from", dest="csv", type=Path, required=True, metavar="CSV",
                        help="the run's bench.csv (docs/results/bench.csv)")
    parser.add_argument("--out", type=Path,
                        help="where bench.md and the plots go (default: the CSV's directory)")
    args = parser.parse_args()
    if not args.csv.exists():
        sys.exit(f"{args.csv} is missing: make bench writes it")
    bench = RecordedBench(args.csv)
    if bench.elapsed is None:
        print(f"{bench.md_path} is missing or not a bench.md: the date, the machine and the notes will be '?'")
    out = args.out or args.csv.parent
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(bench, bench.info, bench.elapsed or 0, out / "bench.md")
    cores = int(bench.info["cores"]) if str(bench.info["cores"]).isdigit() else None
    plots = plot(bench, out, cores=cores)
    print(f"{out}/bench.md, " + ", ".join(p.name for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())

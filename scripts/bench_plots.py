"""The plots of a make bench run (PNG), from its data (scripts/benchdata.py): one per measure for
every server, and one per chapter (chapter-NN-name.png) for its page of the book. The kernel
floor is drawn on each, as the line no server can cross.
"""

from pathlib import Path

from benchdata import FLOOR, fmt_bytes, fmt_ms

MARKERS = "o^vD<>ph*s"
FLOOR_STYLE = dict(color="#16a34a", linestyle=":", linewidth=2.0)


def chapter_plot_name(name):
    """The file name of a chapter's own plot, in the results directory."""
    return f"chapter-{name}.png"


def plot(run, outdir):
    """Draws the plots into outdir and returns their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (scripts/setup.sh bench installs python3-matplotlib): no plots")
        return []
    outdir = Path(outdir)
    chapters = run.chapters()
    palette = [plt.cm.tab10(i) for i in range(10) if i not in (2, 7)]  # green is the floor's, gray nginx's
    palette += [plt.cm.tab20(i) for i in range(1, 20, 2) if i not in (5, 15)]
    colors = {t.name: palette[i % len(palette)] for i, t in enumerate(chapters)}
    for i, t in enumerate(t for t in run.servers() if t.kind == "nginx"):
        colors[t.name] = ["black", "dimgray", "darkgray", "silver"][i % 4]
    colors[FLOOR] = FLOOR_STYLE["color"]
    cfg = run.cfg
    subtitle = (f"{cfg.runs} run(s), median; servers on CPU {','.join(map(str, cfg.server_cpus))}, wrk on CPU "
                f"{','.join(map(str, cfg.loadgen_cpus))}; {run.info.get('cores', '?')}-core machine")
    ctx = dict(run=run, plt=plt, matplotlib=matplotlib, colors=colors, subtitle=subtitle)
    made = [throughput(outdir / "throughput_by_connections.png", **ctx),
            cpu_per_request(outdir / "cpu_per_request.png", **ctx)]
    made += [p for p in (blocking(outdir / "latency_under_blocking.png", **ctx),
                         bars(outdir / "memory_per_connection.png", "idle", cfg.idle, "bytes_per_conn", fmt_bytes,
                              "bytes of resident memory (PSS) per idle connection",
                              f"Memory per connection, {cfg.idle:,} idle connections", **ctx),
                         bars(outdir / "syscalls_per_request.png", "syscalls", cfg.requests, "syscalls_per_req",
                              lambda v: f"{v:.2f}", "system calls per request (strace -f -c, keep-alive GET /)",
                              "System calls per request", **ctx)) if p]
    made += [p for p in past_capacity(outdir, **ctx) if p]
    for i, t in enumerate(chapters):
        made.append(chapter_plot(outdir / chapter_plot_name(t.name), t, MARKERS[i % len(MARKERS)], **ctx))
    return made


def _save(fig, path, plt):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _kilo(matplotlib):
    return matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0")


def throughput(path, run, plt, matplotlib, colors, subtitle):
    cfg = run.cfg
    fig, ax = plt.subplots(figsize=(9, 5.5))
    chapters = run.chapters()
    for t in run.servers():
        ns = run.levels(t.name)
        if not ns:
            continue
        ys = [run.median(t.name, "keep-alive", n, "rps") for n in ns]
        if t.kind == "floor":
            style, marker, label = FLOOR_STYLE, "x", "the kernel floor"
        elif t.kind == "nginx":
            style, marker, label = dict(linestyle="--", linewidth=2.2, color=colors[t.name]), "s", t.name
        else:
            style = dict(linestyle="-", linewidth=1.6, color=colors[t.name])
            marker = MARKERS[chapters.index(t) % len(MARKERS)]
            label = f"{t.name} ({t.workers} workers)" if t.workers > 1 else t.name
        if len(ns) == 1:
            label += f" ({ns[0]} conn only)"
        ax.plot(ns, ys, marker=marker, markersize=7, label=label, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(cfg.levels)
    ax.set_xticklabels([str(n) for n in cfg.levels])
    ax.set_xlabel("keep-alive connections")
    ax.set_ylabel("requests per second (GET /)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_kilo(matplotlib))
    ax.set_title(f"Throughput by connections\n{subtitle}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path, plt)


def _workloads(cfg):
    top = max(cfg.levels)
    return [("keep-alive", top, f"keep-alive, {top} conn"),
            ("pipelined", cfg.pipeline_depth, f"pipelined x{cfg.pipeline_depth}"),
            ("close", cfg.close_conns, "Connection: close")]


def _why_missing(run, name, workload):
    """The run's note on why a server has no value for a workload, shortened for a plot."""
    for server, noted, text in run.notes:
        if server == name and noted.startswith(workload):
            return text.split(" (")[0].split(",")[0]
    return "not measured"


def cpu_per_request(path, run, plt, matplotlib, colors, subtitle):
    """Three panels of horizontal bars (keep-alive, pipelined, close), each with the floor's line.
    A panel whose bars span more than 20x has a log scale, so that the small ones stay readable."""
    cfg = run.cfg
    servers = [t for t in run.servers() if t.kind != "floor"]
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 0.42 * len(servers) + 2.4), sharey=True)
    for ax, (workload, param, title) in zip(axes, _workloads(cfg)):
        values = [run.median(t.name, workload, param, "cpu_us") for t in servers]
        present = [v for v in values if v]
        floor = run.median(FLOOR, workload, param, "cpu_us")
        log = bool(present) and max(present) > 20 * min(present)
        low = min(present + [floor or min(present, default=1)]) / 2 if log else 0
        ax.barh(range(len(servers)), [(v - low) if v else 0 for v in values], left=low,
                color=[colors[t.name] for t in servers])
        for i, v in enumerate(values):
            if v is not None:
                r = run.vs_floor(servers[i], workload, param)
                ax.text(v, i, f" {v:.1f}" + (f" ({r:.1f}x)" if r else ""), va="center", fontsize=7)
            else:
                ax.text(low if log else 0, i, f" {_why_missing(run, servers[i].name, workload)}",
                        va="center", fontsize=7, color="dimgray", style="italic")
        if floor:
            ax.axvline(floor, **FLOOR_STYLE)
            ax.text(floor, len(servers) - 0.35, f" floor {floor:.1f}", color=FLOOR_STYLE["color"],
                    fontsize=7, va="center", bbox=dict(facecolor="white", edgecolor="none", pad=1))
        top = max(present + [floor or 1]) * (3.0 if log else 1.45)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(low, top)
            title += " (log scale)"
        else:
            ax.set_xlim(0, top)
        ax.set_ylim(len(servers), -0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("µs of server CPU per request", fontsize=8)
        ax.grid(True, axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(range(len(servers)))
    axes[0].set_yticklabels([t.name for t in servers])
    fig.suptitle(f"CPU per request (lower is better), and the kernel floor\n{subtitle}", fontsize=10)
    return _save(fig, path, plt)


def blocking(path, run, plt, matplotlib, colors, subtitle):
    cfg = run.cfg
    names, p50s, p99s, base = [], [], [], []
    for t in run.chapters():
        p99 = run.median(t.name, "blocking", cfg.block_conns, "p99_ms")
        if p99 is None:
            continue
        names.append(t.name)
        p99s.append(p99)
        p50s.append(run.median(t.name, "blocking", cfg.block_conns, "p50_ms") or float("nan"))
        base.append(run.median(t.name, "keep-alive", cfg.block_conns, "p99_ms") or float("nan"))
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 2.6))
    y = list(range(len(names)))
    h = 0.27
    ax.barh([i - h for i in y], base, height=h, color="#9ecae1", label=f"p99 without sleeps ({cfg.block_conns} conn)")
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
    return _save(fig, path, plt)


def bars(path, workload, param, metric, show, xlabel, title, run, plt, matplotlib, colors, subtitle):
    rows = [(t, run.median(t.name, workload, param, metric)) for t in run.servers()]
    rows = [(t, v) for t, v in rows if v is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 2))
    ax.barh([t.name for t, _ in rows], [v for _, v in rows], color=[colors[t.name] for t, _ in rows])
    for i, (_, v) in enumerate(rows):
        ax.text(v, i, " " + show(v), va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlim(right=max(v for _, v in rows) * 1.25)
    return _save(fig, path, plt)


def chapter_plot(path, t, marker, run, plt, matplotlib, colors, subtitle):
    """One chapter against its nginx and the floor: CPU per request in three workloads, keep-alive
    requests/s by connections, and the p99 of GET / with and without sleeps in flight."""
    cfg = run.cfg
    mine, theirs = colors[t.name], colors.get(t.twin, "black")
    fig, (cp, ka, bl) = plt.subplots(1, 3, figsize=(9.0, 3.6), gridspec_kw={"width_ratios": [1.6, 1.7, 1.0]})

    # CPU per request: chapter, nginx, floor, in each workload.
    workloads = _workloads(cfg)
    width = 0.27
    for k, (name, color) in enumerate(((t.name, mine), (t.twin, theirs), (FLOOR, colors[FLOOR]))):
        values = [run.median(name, w, p, "cpu_us") for w, p, _ in workloads]
        xs = [i + (k - 1) * width for i in range(len(workloads))]
        cp.bar(xs, [v or 0 for v in values], width=width, color=color,
               label={0: f"ch. {t.name[:2]}", 1: t.twin, 2: "floor"}[k])
        if k == 0:
            for x, (w, p, _), v in zip(xs, workloads, values):
                r = run.vs_floor(t, w, p)
                if v is not None and r is not None:
                    cp.text(x, v, f"{r:.1f}x", ha="center", va="bottom", fontsize=7, fontweight="bold")
    cp.set_xticks(range(len(workloads)))
    cp.set_xticklabels([label.replace(", ", "\n") for _, _, label in workloads], fontsize=7)
    cp.set_ylabel("µs of CPU per request", fontsize=8)
    cp.set_ylim(top=cp.get_ylim()[1] * 1.2)
    cp.set_title("CPU per request\n(x: multiple of the floor)", fontsize=9)
    cp.grid(True, axis="y", alpha=0.3)
    cp.legend(fontsize=7, loc="upper left")

    # Keep-alive req/s by connections.
    for name, color, style, mark in ((t.twin, theirs, "--", "s"), (FLOOR, colors[FLOOR], ":", "x"),
                                     (t.name, mine, "-", marker)):
        ns = run.levels(name)
        if ns:
            ka.plot(ns, [run.median(name, "keep-alive", n, "rps") for n in ns], marker=mark, markersize=5,
                    color=color, linestyle=style, linewidth=1.8, label=name if name != FLOOR else "floor")
    ka.set_xscale("log", base=2)
    ka.set_xticks(cfg.levels)
    ka.set_xticklabels([str(n) for n in cfg.levels])
    ka.minorticks_off()
    ka.set_xlabel("keep-alive connections", fontsize=8)
    ka.set_ylim(bottom=0)
    ka.yaxis.set_major_formatter(_kilo(matplotlib))
    ka.set_title("Keep-alive, req/s", fontsize=9)
    ka.grid(True, alpha=0.3)
    ka.legend(fontsize=7, loc="lower right")

    # GET / p99, without and with sleeps in flight (log scale: they differ by 1,000x).
    base = run.median(t.name, "keep-alive", cfg.block_conns, "p99_ms")
    blocked = run.median(t.name, "blocking", cfg.block_conns, "p99_ms")
    if blocked is not None:
        vals = [base, blocked]
        bl.bar([0, 1], [v or float("nan") for v in vals], color=[mine, mine], alpha=0.45, width=0.6)
        bl.patches[1].set_alpha(1.0)
        for x, v in enumerate(vals):
            if v is not None:
                bl.text(x, v * 1.15, fmt_ms(v), ha="center", va="bottom", fontsize=7)
        bl.set_yscale("log")
        present = [v for v in vals if v]
        bl.set_ylim(min(present) / 8, max(present) * 8)
        bl.set_xticks([0, 1])
        bl.set_xticklabels(["no sleeps", f"{cfg.sleepers} sleeps"], fontsize=7)
        bl.tick_params(axis="y", labelsize=7)
        bl.grid(True, axis="y", alpha=0.3)
    else:
        bl.set_xticks([])
        bl.set_yticks([])
        bl.text(0.5, 0.5, "not measured\n(not concurrent)", transform=bl.transAxes, ha="center", va="center",
                fontsize=8, color="dimgray")
    bl.set_title(f"GET / p99, {cfg.block_conns} conn,\n{cfg.sleepers} x /sleep?ms={cfg.sleep_ms}", fontsize=9)
    for ax in (cp, ka, bl):
        ax.tick_params(labelsize=7)
    workers = f", {t.workers:,} workers" if t.workers > 1 else ""
    fig.suptitle(f"{t.name} ({t.model}{workers}) against {t.twin} and the floor\n{subtitle}", fontsize=9)
    return _save(fig, path, plt)




def past_capacity(outdir, run, plt, matplotlib, colors, subtitle):
    """Two plots, every chapter measured past its capacity on each: the p99 of the answered
    requests, and the goodput (both against the offered load, as a share of capacity)."""
    steps = sorted({p for (n, w, p, m) in run.values if w == "past-capacity"})
    names = [t.name for t in run.chapters() if run.median(t.name, "capacity", 0, "rps") is not None]
    if not steps or not names:
        return []
    made = []
    for metric, path, ylabel, title, log in (
            ("p99_ms", outdir / "past_capacity_p99.png", "p99 of the answered requests (ms, log scale)",
             "Latency past capacity (open loop, timed from each request's due time)", True),
            ("goodput_share", outdir / "past_capacity_goodput.png", "goodput: answered with 200, as a share of capacity",
             "Goodput past capacity", False)):
        fig, ax = plt.subplots(figsize=(9, 5.5))
        for i, name in enumerate(names):
            xs = [s for s in steps if run.median(name, "past-capacity", s, metric) is not None]
            ys = [run.median(name, "past-capacity", s, metric) for s in xs]
            if not xs:
                continue
            ax.plot([x * 100 for x in xs], ys, marker=MARKERS[i % len(MARKERS)], color=colors[name],
                    linewidth=2.2 if name.startswith("10") else 1.4, label=name)
        if log:
            ax.set_yscale("log")
        else:
            ax.plot([s * 100 for s in steps], [min(s, 1.0) for s in steps], color="gray", linestyle=":",
                    label="ideal: min(offered, capacity)")
        ax.set_xlabel("offered load, % of the server's capacity")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}\n{subtitle}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        made.append(_save(fig, path, plt))
    return made

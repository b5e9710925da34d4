#!/usr/bin/python3
"""make profile CH=NN: where a chapter's CPU time goes under load, as two pictures.

    /usr/bin/python3 scripts/profile.py --build build --chapter 04 [--chapter 05 ...] [--all]

The chapter serves keep-alive GET / from wrk (16 connections; the server and wrk on CPUs of their
own when there are two or more) while `perf record -e cpu-clock --call-graph dwarf` samples every
thread of it. Then, from `perf script`:

  profile-NN-name-split.png   the split of its CPU time: user space (the chapter, libc), the
                              kernel's network stack, epoll or io_uring, the scheduler and futexes,
                              and the rest of the kernel, with the CPU time per request;
  profile-NN-name-flame.png   a flame graph: each box a function, as wide as the share of samples
                              in which it is on the stack, its callers below it.

Debian packages no flame-graph renderer, so this file draws it with matplotlib from the folded
stacks (which it also writes, as profile-NN-name.folded, into the build directory). Software
cpu-clock events work in a virtual machine without hardware counters; perf needs
kernel.perf_event_paranoid <= 1 or root.
"""

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402
import procs  # noqa: E402
import targets  # noqa: E402
from serverlib import ROOT  # noqa: E402

SECONDS = 4
CONNECTIONS = 16
FREQUENCY = 499  # samples per second per CPU: enough for a flame graph, light for DWARF unwinding

# How a sample is classified: by the first kernel frame below the user/kernel boundary that
# matches, looking from the leaf down (the most specific kernel activity wins).
KERNEL_CLASSES = [
    ("kernel: network stack", re.compile(
        r"^(tcp_|__tcp|inet_|sock_|__sock|sk_|__sk|skb_|__skb|ip_|__ip|ipv4_|net_|__net|napi|__napi|"
        r"loopback|dev_|__dev|__x64_sys_(sendto|recvfrom|sendmsg|recvmsg|accept4?|shutdown|setsockopt)|"
        r"__sys_(sendto|recvfrom|sendmsg|recvmsg|accept4?|shutdown)|__do_softirq|do_softirq|release_sock|"
        r"lock_sock|tcp|inet|security_socket|sendfile|do_sendfile|splice)")),
    ("kernel: epoll / io_uring", re.compile(r"^(ep_|do_epoll|__x64_sys_epoll|io_uring|__io_|io_|__x64_sys_io_uring)")),
    ("kernel: scheduler, futex", re.compile(r"^(schedule|__schedule|futex|__futex|do_futex|finish_task_switch|"
                                            r"try_to_wake_up|pick_next|__x64_sys_futex|wake_up|__wake_up)")),
]
USER = "user space (the server, libc)"
OTHER_KERNEL = "kernel: the rest (syscall entry, files, memory)"
COLORS = {USER: "#f59e0b", "kernel: network stack": "#2563eb", "kernel: epoll / io_uring": "#7c3aed",
          "kernel: scheduler, futex": "#dc2626", OTHER_KERNEL: "#6b7280"}


def record(binary_pids, perf_data, seconds):
    cmd = ["perf", "record", "-e", "cpu-clock", "-F", str(FREQUENCY), "--call-graph", "dwarf,8192", "-o",
           str(perf_data), "-p", ",".join(map(str, binary_pids)), "--", "sleep", str(seconds)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"perf record failed: {result.stderr.strip()[-400:]}")


def samples(perf_data):
    """Every sample's stack, leaf first, as (function, is_kernel) pairs."""
    out = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "ip,sym,dso"], capture_output=True,
                         text=True, timeout=600).stdout
    stack = []
    for line in out.splitlines() + [""]:
        line = line.strip()
        if not line:
            if stack:
                yield stack
            stack = []
            continue
        match = re.match(r"^[0-9a-f]+ (.+?) \((.*)\)$", line)
        if not match:
            continue
        symbol, dso = match.groups()
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        if symbol == "[unknown]":
            symbol = f"[{Path(dso).name}]" if dso and dso != "[unknown]" else "[unknown]"
        stack.append((symbol, dso == "[kernel.kallsyms]"))


def classify(stack):
    if not stack[0][1]:
        return USER
    kernel = [name for name, in_kernel in stack if in_kernel]
    for label, pattern in KERNEL_CLASSES:
        if any(pattern.match(name) for name in kernel):
            return label
    return OTHER_KERNEL


def shorten(name, limit=60):
    name = re.sub(r"\(.*\)$", "", name)  # C++ argument lists
    name = re.sub(r"<[^<>]*>", "<>", name)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def draw_split(path, title, split, total, cpu_us, plt):
    fig, ax = plt.subplots(figsize=(8, 2.6))
    left = 0.0
    for label in [USER] + [label for label, _ in KERNEL_CLASSES] + [OTHER_KERNEL]:
        share = split.get(label, 0) / total
        if not share:
            continue
        ax.barh([0], [share], left=left, color=COLORS[label], label=f"{label}: {share:.0%}")
        if share > 0.06:
            ax.text(left + share / 2, 0, f"{share:.0%}", ha="center", va="center", color="white", fontsize=9,
                    fontweight="bold")
        left += share
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    per = f"; {cpu_us:.1f} µs of CPU per request" if cpu_us else ""
    ax.set_title(f"{title}\nwhere the CPU time goes ({total:,} samples{per})", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_flame(path, title, folded, total, plt, max_depth=34):
    """A flame graph from {root-first stack tuple: count}: boxes as wide as their share of samples."""
    tree = {}
    for stack, count in folded.items():
        node = tree
        for name in stack[:max_depth]:
            entry = node.setdefault(name, [0, {}])
            entry[0] += count
            node = entry[1]
    fig, ax = plt.subplots(figsize=(12, 7))
    depth_seen = [0]

    def draw(node, x, depth):
        for name, (count, children) in sorted(node.items(), key=lambda kv: kv[0]):
            width = count / total
            kernel = name.startswith("[k]")
            label = name[3:] if kernel else name
            color = "#93c5fd" if kernel else "#fdba74"
            ax.add_patch(plt.matplotlib.patches.Rectangle((x, depth), width, 0.95, facecolor=color,
                                                          edgecolor="white", linewidth=0.3))
            if width > 0.025:
                ax.text(x + 0.002, depth + 0.45, shorten(label, int(width * 160)), fontsize=6, va="center",
                        clip_on=True)
            depth_seen[0] = max(depth_seen[0], depth + 1)
            draw(children, x, depth + 1)
            x += width

    draw(tree, 0.0, 0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(depth_seen[0], 1))
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("share of CPU samples (user frames orange, kernel frames blue; callers below their callees)")
    ax.set_title(f"{title}: flame graph ({total:,} samples)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile(chapter, cfg, plt):
    logdir = procs.make_tempdir("profile-logs-")
    args = targets.chapter_args(chapter, len(cfg.server_cpus), CONNECTIONS)
    srv = targets.ChapterServer(chapter, args, cfg.docroot, logdir, cfg.server_cpus)
    workdir = Path(cfg.build) / "profile"
    workdir.mkdir(parents=True, exist_ok=True)
    perf_data = workdir / f"{chapter.name}.perf.data"
    try:
        load.wrk(srv.url, CONNECTIONS, 1, cpus=cfg.loadgen_cpus)  # warm up
        wrk = procs.spawn(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS + 2}s", srv.url], cpus=cfg.loadgen_cpus,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(0.5)
        before, started = srv.cpu_seconds(), time.monotonic()
        record(srv.pids(), perf_data, SECONDS)
        spent, wall = srv.cpu_seconds() - before, time.monotonic() - started
        out, _ = wrk.communicate(timeout=SECONDS + 30)
        procs.forget(wrk)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.decode()).group(1))
    finally:
        srv.stop()
    cpu_us = spent / (rps * wall) * 1e6 if rps else None  # the recording was a part of the wrk run
    split, folded, total = Counter(), Counter(), 0
    for stack in samples(perf_data):
        total += 1
        split[classify(stack)] += 1
        folded[tuple(("[k]" if kernel else "") + name for name, kernel in reversed(stack))] += 1
    if not total:
        raise RuntimeError("perf recorded no samples")
    (workdir / f"profile-{chapter.name}.folded").write_text(
        "\n".join(f"{';'.join(stack)} {count}" for stack, count in folded.most_common()) + "\n")
    title = f"{chapter.name} under keep-alive GET / ({CONNECTIONS} connections)"
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    draw_split(out / f"profile-{chapter.name}-split.png", title, split, total, cpu_us, plt)
    draw_flame(out / f"profile-{chapter.name}-flame.png", title, folded, total, plt)
    shares = ", ".join(f"{label} {count / total:.0%}" for label, count in split.most_common())
    print(f"  {chapter.name}: {total:,} samples; {shares}")
    perf_data.unlink(missing_ok=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--chapter", action="append", default=[], help="a chapter (01, 04-polling); repeatable")
    p.add_argument("--all", action="store_true", help="every chapter that is built")
    p.add_argument("--out", default=str(ROOT / "docs" / "results"), help="where the images go")
    cfg = p.parse_args()
    for tool in ("perf", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"missing: {tool} (scripts/setup.sh profile installs it)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.matplotlib = matplotlib
    procs.install_cleanup()
    cpus = procs.usable_cpus()
    cfg.server_cpus = cpus[1:] if len(cpus) >= 2 else cpus
    cfg.loadgen_cpus = cpus[:1]
    cfg.docroot = Path(cfg.build) / "www"
    chapters = [c for c in targets.load_chapters(cfg.build) if c.built]
    if not cfg.all:
        chapters = targets.named(chapters, cfg.chapter)
    if not chapters:
        sys.exit("no chapter to profile: make profile CH=NN (built first)")
    print(f"Profiling on CPU {','.join(map(str, cfg.server_cpus))} (wrk on {cfg.loadgen_cpus[0]}), {SECONDS} s each:")
    for chapter in chapters:
        try:
            profile(chapter, cfg, plt)
        except (RuntimeError, OSError, subprocess.SubprocessError, AttributeError) as e:
            print(f"  {chapter.name}: not profiled: {e}")
    print(f"Images: {cfg.out}/profile-NN-name-split.png and -flame.png; the chapter's page shows them (make docs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

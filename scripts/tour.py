#!/usr/bin/python3
"""make tour: the tutorial's story in one screen, in under a minute once built.

Every chapter in chapters/registry.json that is built gets the same short treatment:

  load      wrk, 2 s of keep-alive GET / on 16 connections (1 for a chapter that is not
            concurrent: the others would only wait): requests/s and p99;
  slow      50 slowloris connections (a request head that never ends), then a fresh GET /:
            is it answered within a second?
  blocking  8 GET /sleep?ms=500 in flight, then 4 fresh GET / at once: are they all answered
            within 0.25 s?
  memory    1,000 idle connections held: the server's user memory (PSS, over all its
            processes) after minus before, per connection, for chapters that can hold them, and
            the kernel's task memory (stacks, page tables) where it grows by a KiB or more.

nginx with one worker and with W workers gets the load and memory lines, for reference.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402
import procs  # noqa: E402
import targets  # noqa: E402
from benchdata import fmt_bytes, fmt_duration, fmt_ms  # noqa: E402

LOAD_SECONDS = 2
LOAD_CONNECTIONS = 16
SLOWLORIS = 50
SLOW_PROMPT = 1.0  # seconds: a fresh GET / answered within this is "isolated"
SLEEP_MS = 500
SLEEPS = 8
PROBES = 4
BLOCK_PROMPT = 0.25  # a GET / that waits for a sleep started 0.1 s before it waits >= 0.4 s
IDLE = 1000


def yes_no(elapsed, prompt):
    if elapsed is None:
        return False, "no (stalled)"
    if elapsed <= prompt:
        return True, f"yes ({fmt_ms(elapsed * 1000)})"
    return False, f"no ({fmt_ms(elapsed * 1000)})"


class Row:
    def __init__(self, name, model):
        self.name = name
        self.model = model
        self.rps = self.p99 = "-"
        self.slow = self.blocking = self.memory = "n/a"
        self.mismatch = []


def measure_load(srv, row, conns):
    r = load.wrk(srv.url, conns, LOAD_SECONDS, threads=1)
    row.rps = f"{r['rps']:,.0f}" + ("" if conns == LOAD_CONNECTIONS else f" ({conns} conn)")
    row.p99 = fmt_ms(r["p99"])


def measure_memory(srv, row):
    m = load.idle_memory(srv, IDLE, budget=30, settle=0.3)
    row.memory = fmt_bytes(m.bytes_per_conn) + ("" if m.held else " (?)")
    if m.kernel_bytes_per_conn >= 1024:  # a process or a thread per connection
        row.memory += f" + {fmt_bytes(m.kernel_bytes_per_conn)} kernel"


def tour_chapter(ch, cfg):
    row = Row(ch.name, ch.model)
    concurrent = ch.cap("concurrent")
    # Each model with its own default worker count: the tour shows the models as they ship.
    srv = targets.ChapterServer(ch, targets.chapter_args(ch, None, IDLE, idle_timeout=60), cfg.docroot, cfg.logdir)
    try:
        # Memory first, on the fresh server: memory that earlier connections used and freed stays
        # resident in the allocator and would be reused, hiding the cost of the new connections.
        if concurrent:
            measure_memory(srv, row)
            print(" memory,", end="", flush=True)
            load.wait_serving(srv.address, 15)
        else:
            row.memory = "n/a (one at a time)"

        measure_load(srv, row, LOAD_CONNECTIONS if concurrent else 1)
        print(" load", end="", flush=True)

        ok, row.slow = yes_no(load.slowloris_probe(srv.address, SLOWLORIS, timeout=2.0), SLOW_PROMPT)
        if ok != ch.cap("isolates_slow_clients"):
            row.mismatch.append("isolates_slow_clients")
        load.wait_serving(srv.address, 15)
        print(", slow clients", end="", flush=True)

        times = load.blocking_probe(srv.address, SLEEPS, SLEEP_MS, PROBES, timeout=SLEEP_MS / 1000 + 1.5)
        waited = [t for t in times if t is None or t > BLOCK_PROMPT]
        ok = not waited
        row.blocking = f"yes ({fmt_ms(max(times) * 1000)})" if ok else \
            (f"no ({len(waited)}/{PROBES} stalled)" if None in waited else
             f"no ({len(waited)}/{PROBES} waited, {fmt_ms(max(waited) * 1000)})")
        if ok != ch.cap("isolates_blocking_work"):
            row.mismatch.append("isolates_blocking_work")
        load.wait_serving(srv.address, 15)
        print(", blocking work", end="", flush=True)
    finally:
        srv.stop()
    return row


def tour_nginx(workers, cfg):
    row = Row(f"nginx, {workers} worker{'s' if workers > 1 else ''}", "event loop per worker")
    srv = targets.NginxServer(workers, cfg.logdir)
    try:
        measure_memory(srv, row)
        print(" memory,", end="", flush=True)
        load.wait_serving(srv.address, 15)
        measure_load(srv, row, LOAD_CONNECTIONS)
        print(" load", end="", flush=True)
        ok, row.slow = yes_no(load.slowloris_probe(srv.address, SLOWLORIS, timeout=2.0), SLOW_PROMPT)
        print(", slow clients", end="", flush=True)
        row.blocking = "n/a (no /sleep)"
    finally:
        srv.stop()
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--workers", type=int, default=len(procs.usable_cpus()),
                   help="worker processes of the second nginx (default: cores)")
    p.add_argument("--no-nginx", action="store_true", help="leave out the nginx reference rows")
    cfg = p.parse_args()
    cfg.docroot = Path(cfg.build) / "www"
    procs.install_cleanup()
    if not shutil.which("wrk"):
        sys.exit("missing: wrk (scripts/setup.sh tour installs it)")
    procs.raise_nofile()
    cfg.logdir = procs.make_tempdir("tour-logs-")
    start = time.monotonic()

    chapters = targets.load_chapters(cfg.build)
    rows, notes = [], []
    print("The tour: each chapter for a few seconds under the same load and probes, with its default settings.")
    for ch in chapters:
        if not ch.built:
            notes.append(f"{ch.name}: not built ({ch.binary} missing)")
            continue
        print(f"  {ch.name:<18}", end="", flush=True)
        try:
            rows.append(tour_chapter(ch, cfg))
            print()
        except KeyboardInterrupt:
            raise
        except Exception as e:
            print(f"  FAILED: {e}")
            notes.append(f"{ch.name}: {e}")
    if not cfg.no_nginx and targets.nginx_binary():
        for w in sorted({1, cfg.workers}):
            print(f"  {'nginx ' + str(w) + 'w':<18}", end="", flush=True)
            try:
                rows.append(tour_nginx(w, cfg))
                print()
            except Exception as e:
                print(f"  FAILED: {e}")
                notes.append(f"nginx: {e}")

    header = ["chapter", "model", "req/s", "p99", "slow client isolated?", "blocking work isolated?", "memory/conn"]
    table = [[r.name, r.model, r.rps, r.p99, r.slow + ("!" if "isolates_slow_clients" in r.mismatch else ""),
              r.blocking + ("!" if "isolates_blocking_work" in r.mismatch else ""), r.memory] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(header)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    print()
    print(f"req/s, p99: {LOAD_SECONDS} s of keep-alive GET / at {LOAD_CONNECTIONS} connections (wrk). Slow client: "
          f"a fresh GET / answered within {SLOW_PROMPT:g} s while {SLOWLORIS} slowloris connections stall. "
          f"Blocking work: {PROBES} fresh GET / all answered within {BLOCK_PROMPT:g} s while {SLEEPS} "
          f"/sleep?ms={SLEEP_MS} run. Memory: what {IDLE:,} idle connections added, per connection: user "
          "memory (PSS summed over the server's processes), and, where a connection has its own process or "
          "thread, the kernel's stacks and page tables (/proc/meminfo). Measured on a shared machine, so "
          "treat the numbers as rough; `make bench` measures properly.")
    if any(r.mismatch for r in rows):
        print("!: the measure disagrees with what chapters/registry.json claims (a loaded machine can do that; "
              "the test suite checks the claims properly).")
    for note in notes:
        print(f"not shown: {note}")
    print(f"({fmt_duration(time.monotonic() - start)} min:s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every server is stopped")
        sys.exit(130)

"""The data of a make bench run, and the one way to read it back.

A run is two files in its results directory:

    bench.csv   one row per (server, workload, parameter, metric): every run's value, their
                median, and the median's ratio to the server's nginx and to the kernel floor
    bench.json  what the rows do not say: the machine, the date, the settings, the servers (with
                the CPUs they ran on) and the notes on what was not measured, and why

scripts/bench.py writes them (Run.save()); scripts/bench_report.py, scripts/bench_plots.py and
scripts/book.py read them (Run.load()). Nothing reads the Markdown a report writes.
"""

import csv
import json
import math
import os
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

FLOOR = "floor"

# The settings of a run that bench.json records (scripts/bench.py's options, after defaults).
SETTINGS = ("quick", "runs", "duration", "warmup", "levels", "workers", "server_cpus", "loadgen_cpus",
            "wrk_threads", "pipeline_conns", "pipeline_depth", "close_conns", "block_conns", "block_duration",
            "sleepers", "sleep_ms", "idle", "requests", "closes", "capacity_work", "capacity_probe",
            "capacity_steps", "capacity_duration")


class Target:
    """A server of a run: a chapter, nginx with some number of workers, or the floor."""

    def __init__(self, name, kind, model, workers, twin=None, caps=None, cpus=None):
        self.name = name
        self.kind = kind  # "chapter", "nginx", "floor", or "experiment" (a variant of the floor)
        self.model = model
        self.workers = workers
        self.twin = twin  # the nginx it is compared with (chapters)
        self.caps = dict(caps or {})
        self.cpus = list(cpus or [])

    def cap(self, name):
        return True if self.kind != "chapter" else bool(self.caps.get(name, False))

    def as_dict(self):
        return {"name": self.name, "kind": self.kind, "model": self.model, "workers": self.workers,
                "twin": self.twin, "caps": self.caps, "cpus": self.cpus}


class Run:
    """Every value measured, keyed by (server, workload, parameter, metric), with the settings
    (cfg), the machine (info), the servers (targets, in the run's order) and the notes."""

    def __init__(self, cfg=None, info=None):
        self.cfg = cfg if cfg is not None else SimpleNamespace()
        self.info = info or {}
        self.elapsed = None
        self.values = {}
        self.targets = []
        self.notes = []  # (server, workload, text)

    # --- recording ---

    def record(self, target, workload, param, metric, value):
        name = target if isinstance(target, str) else target.name
        self.values.setdefault((name, workload, param, metric), []).append(value)

    def note(self, target, workload, text):
        entry = (target if isinstance(target, str) else target.name, workload, text)
        if entry not in self.notes:
            self.notes.append(entry)

    # --- reading ---

    def by_name(self, name):
        return next((t for t in self.targets if t.name == name), None)

    def chapters(self):
        return [t for t in self.targets if t.kind == "chapter"]

    def servers(self):
        """The servers of the main workloads: chapters, nginx and the floor (not the experiments'
        variants of the floor)."""
        return [t for t in self.targets if t.kind in ("chapter", "nginx", "floor")]

    def median(self, name, workload, param, metric):
        values = [v for v in self.values.get((name, workload, param, metric), []) if not math.isnan(v)]
        return statistics.median(values) if values else None

    def ratio(self, t, workload, param, metric, to=None):
        """The median of t over that of its nginx (or of the server named `to`)."""
        other = to or (t.twin if t.kind == "chapter" else None)
        if other is None or other == t.name:
            return None
        mine = self.median(t.name, workload, param, metric)
        theirs = self.median(other, workload, param, metric)
        return mine / theirs if mine is not None and theirs else None

    def vs_floor(self, t, workload, param, metric="cpu_us"):
        return self.ratio(t, workload, param, metric, to=FLOOR) if t.name != FLOOR else None

    def levels(self, name, workload="keep-alive"):
        return sorted({p for (n, w, p, m) in self.values if n == name and w == workload and m == "rps"})

    def metrics(self, name, workload, prefix):
        """{suffix: median} of the metrics of one workload that start with prefix ("syscall:")."""
        return {m[len(prefix):]: self.median(name, workload, p, m) for (n, w, p, m) in self.values
                if n == name and w == workload and m.startswith(prefix)}

    # --- the files ---

    def save(self, out):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "bench.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["target", "kind", "model", "workers", "nginx_twin", "workload", "param", "metric",
                        "median", "vs_nginx", "vs_floor", "runs"])
            for (name, workload, param, metric), vals in self.values.items():
                t = self.by_name(name)
                w.writerow([name, t.kind, t.model, t.workers, t.twin or "", workload, param, metric,
                            number(self.median(name, workload, param, metric)),
                            number(self.ratio(t, workload, param, metric)),
                            number(self.vs_floor(t, workload, param, metric)),
                            ";".join(number(v) for v in vals)])
        settings = {k: getattr(self.cfg, k) for k in SETTINGS if hasattr(self.cfg, k)}
        (out / "bench.json").write_text(json.dumps({
            "machine": self.info, "elapsed_s": self.elapsed, "settings": settings,
            "targets": [t.as_dict() for t in self.targets], "notes": [list(n) for n in self.notes],
        }, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory):
        """The run whose bench.csv and bench.json are in directory. Raises OSError or ValueError."""
        directory = Path(directory)
        meta = json.loads((directory / "bench.json").read_text(encoding="utf-8"))
        run = cls(SimpleNamespace(**meta["settings"]), meta["machine"])
        run.elapsed = meta.get("elapsed_s")
        run.targets = [Target(**t) for t in meta["targets"]]
        run.notes = [tuple(n) for n in meta["notes"]]
        with open(directory / "bench.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                key = (row["target"], row["workload"], _param(row["param"]), row["metric"])
                run.values[key] = [float(v) for v in row["runs"].split(";") if v]
        return run


def _param(text):
    """A workload's parameter as written: a count (256), or a share of capacity (0.5)."""
    value = float(text)
    return int(value) if value.is_integer() else value


# --- numbers and the machine ------------------------------------------------------------------


def number(v):
    """A value for bench.csv: four significant digits, whole numbers above 1,000, empty if none."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def fmt_ms(ms):
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    if ms >= 1:
        return f"{ms:.1f} ms"
    return f"{ms * 1000:.0f} µs"


def fmt_us(us):
    return "-" if us is None else f"{us:.1f} µs" if us < 100 else f"{us:,.0f} µs"


def fmt_int(v):
    return f"{v:,.0f}" if v is not None else "-"


def fmt_ratio(r):
    return f"{r:.2f}x" if r is not None else "-"


def fmt_bytes(v):
    if v is None:
        return "-"
    return f"{v / 1024:,.1f} KiB" if v >= 10240 else f"{v:,.0f} B"


def fmt_duration(seconds):
    seconds = max(0, int(round(seconds or 0)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def machine(nginx, wrk):
    """The facts a run's numbers depend on, with the versions of nginx and wrk given."""
    cpu = "unknown CPU"
    memory = 0
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            memory = next((int(line.split()[1]) for line in f if line.startswith("MemTotal:")), 0)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "kernel": f"{platform.system()} {platform.release()}",
        "memory": f"{memory / 1024 / 1024:.0f} GiB" if memory else "?",
        "host": platform.node(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nginx": nginx,
        "wrk": wrk,
    }

#!/usr/bin/python3
"""docs/claims.md: every claim of the classic articles, the number that tests it, and a verdict.

    /usr/bin/python3 scripts/claims.py --from docs/results             # rewrite docs/claims.md
    /usr/bin/python3 scripts/claims.py --from docs/results --check     # fail if it is not current

make bench calls it once its run is written (make attacks too, for the attack rows). Every number
on the page comes from the committed data of the last runs: docs/results/bench.csv and bench.json
(make bench, including the experiments of scripts/experiments.py) and docs/results/attacks.json
(make attacks). A verdict is computed from those numbers by the rule written beside its claim
below, so that a new run on another machine gives that machine's verdicts; where a value is
missing the row says what was not measured, never an older number.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdata import FLOOR, Run, fmt_bytes, fmt_duration, fmt_int, fmt_ms, fmt_us  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "claims.md"

HELD = "held"
CAVEAT = "held, with a caveat"
NOT_HELD = "did not hold"
CANNOT = "cannot be measured here"
MISSING = "not measured"

ARTICLES = {  # key: (the short name the table uses, the article)
    "tpc": ("thread-per-core", "an article on one pinned thread per core with descriptor handoff, set against "
            "pools of identical workers"),
    "voras": ("Voras", "Ivan Voras, on choosing a network server model (MP, SPED, SEDA, AMPED, SYMPED) and the "
              "low-level tricks that go with them"),
    "loop": ("event loop", "\"Event-loop server design\": one loop for socket activity, a pool for blocking work"),
    "kalin": ("Kalin", "Martin Kalin, \"Three Ways to Web Server Concurrency\": iterative, forking, threading "
              "and polling servers in C"),
    "nonblocking": ("non-blocking", "\"Non-blocking TCP server explained\": select against epoll, and event "
                    "queues served by threads"),
}

# Where a reader finds each kind of evidence (links relative to docs/).
RESULTS = "[results](results/bench.md)"
CHAPTER_DIRS = {}  # "07" -> "07-pinned-handoff", filled from the run


def chapter_link(number):
    name = CHAPTER_DIRS.get(number, number)
    return f"[{number}](../chapters/{name}/README.md)"


def exp_link(name):
    return f"[{name}](#claims-{name})"


@dataclass
class Claim:
    id: str
    article: str
    claim: str  # our words
    tested_by: str  # markdown
    measured: str = ""  # markdown: the numbers
    verdict: str = MISSING
    why: str = ""  # the caveat, or what would be needed
    chapters: tuple = ()  # the chapters whose pages link here


class Data:
    """The run's medians by short names: m("07", "keep-alive", 256, "cpu_us")."""

    def __init__(self, run, attacks):
        self.run = run
        self.attacks = attacks or {}
        self.names = {t.name: t for t in run.targets}

    def full(self, short):
        if short in self.names:
            return short
        for name in self.names:
            if name[:2] == short and "+" not in name and "@" not in name:
                return name
        return short

    def m(self, short, workload, param, metric):
        return self.run.median(self.full(short), workload, param, metric)

    def attack(self, short, attack, field="unanswered_s"):
        entry = self.attacks.get("chapters", {}).get(self.full(short), {})
        return entry.get("slowhttptest", {}).get(attack, {}).get(field)


def have(*values):
    return all(v is not None for v in values)


def ratio(a, b):
    return a / b if have(a, b) and b else None


def x(r):
    return "-" if r is None else f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


def pct(v):
    return "-" if v is None else f"{v:.0%}"


def num(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# The claims. Each function fills in a Claim from the data; its docstring-free body is the rule.


def claims(d):
    cfg = d.run.cfg
    k = max(getattr(cfg, "levels", [256]))  # the keep-alive level of the main tables
    rows = []

    # 1 -------------------------------------------------------------------------------------
    c = Claim("1", "tpc", "A pool of identical workers fed by the kernel (06) is slow; pinned loops with "
              "descriptor handoff (07) are much better.",
              f"{chapter_link('06')} against {chapter_link('07')}: {RESULTS} (main tables), experiment "
              f"{exp_link('threads')}", chapters=("06", "07"))
    cpu6, cpu7 = d.m("06", "keep-alive", k, "cpu_us"), d.m("07", "keep-alive", k, "cpu_us")
    sc6, sc7 = d.m("06", "syscalls", cfg.requests, "syscalls_per_req"), d.m("07", "syscalls", cfg.requests,
                                                                             "syscalls_per_req")
    cs6 = sum(v for v in (d.m("06", "syscalls", cfg.requests, "vol_cs_per_req"),
                          d.m("06", "syscalls", cfg.requests, "nonvol_cs_per_req")) if v is not None)
    cs7 = sum(v for v in (d.m("07", "syscalls", cfg.requests, "vol_cs_per_req"),
                          d.m("07", "syscalls", cfg.requests, "nonvol_cs_per_req")) if v is not None)
    by_n = {n: ratio(d.m("06", "threads", n, "cpu_us"), d.m("07", "threads", n, "cpu_us")) for n in (1, 2, 4, 8)}
    by_n = {n: v for n, v in by_n.items() if v is not None}
    r = ratio(cpu6, cpu7)
    if have(r):
        c.measured = (f"CPU per keep-alive request {fmt_us(cpu6)} against {fmt_us(cpu7)} ({x(r)}); system calls "
                      f"per request {num(sc6)} against {num(sc7)}; context switches per request {num(cs6, 3)} against "
                      f"{num(cs7, 3)}; with 1, 2, 4, 8 workers and loops: "
                      f"{', '.join(x(v) for v in by_n.values())} the CPU")
        c.verdict = NOT_HELD if r < 1.1 else CAVEAT
        c.why = (f"{x(ratio(sc6, sc7))} the system calls and {x(ratio(cs6, cs7))} the context switches per request, "
                 "at one worker each; measured with every thread on one server core, so the part of the argument "
                 "about a connection visiting cold caches on other cores needs a machine with cores to spare "
                 "(`make bench CORES=N`)")
        if by_n and min(by_n.values()) < 1.1:
            n = min(by_n, key=by_n.get)
            c.why = (f"the gap depends on the worker count: 06's own CPU per request goes from "
                     f"{fmt_us(d.m('06', 'threads', 1, 'cpu_us'))} with one worker to "
                     f"{fmt_us(d.m('06', 'threads', n, 'cpu_us'))} with {n}, where it is {x(by_n[n])} 07's, which "
                     "this run does not explain; " + c.why)
        if r < 1.3:
            c.why = f"only {x(r)} here, under the 1.3x that would make it 'much better'; " + c.why
    rows.append(c)

    # 2 -------------------------------------------------------------------------------------
    c = Claim("2", "tpc", "That design \"easily\" reaches 100,000 requests/s on ordinary hardware.",
              f"{chapter_link('07')}: {RESULTS} (keep-alive and pipelined)", chapters=("07",))
    rps = d.m("07", "keep-alive", k, "rps")
    busy = d.m("07", "keep-alive", k, "loadgen_busy")
    piped = d.m("07", "pipelined", cfg.pipeline_depth, "rps")
    sys7 = d.m("07", "keep-alive", k, "sys_share")
    if have(cpu7, rps):
        per_core = 1e6 / cpu7
        c.measured = (f"{fmt_us(cpu7)} of server CPU per keep-alive request ({pct(sys7)} of it in the kernel): "
                      f"{fmt_int(per_core)} requests per server core-second; measured {fmt_int(rps)}/s with the "
                      f"load generator {pct(busy)} busy on its one core; pipelined x{cfg.pipeline_depth}: "
                      f"{fmt_int(piped)}/s")
        if rps >= 100_000:
            c.verdict = HELD
            c.why = ("on one server core, with keep-alive connections and a trivial answer; the load generator was "
                     "the limit, so the server has room to spare. What the article's \"easily\" leaves out is that "
                     f"{pct(sys7)} of that CPU is the kernel's TCP work on loopback, which no server design removes")
        elif per_core >= 100_000 or (piped or 0) >= 100_000:
            c.verdict = CAVEAT
            c.why = ("one server core's worth of CPU covers it, but a closed-loop client on the one other core "
                     "cannot send that many: the measured rate is the load generator's ceiling. Measuring it "
                     "directly needs a load generator with cores of its own")
        else:
            c.verdict = NOT_HELD
            c.why = "one core of this machine does not reach it, even counted from CPU time"
    rows.append(c)

    # 3 -------------------------------------------------------------------------------------
    c = Claim("3", "tpc", "If more threads than cores helps, the state transitions are too complex: "
              "07 with 1, 2, 4 and 8 loops.", f"experiment {exp_link('threads')}", chapters=("07",))
    r1 = [d.m("07", "threads", n, "rps") for n in (1, 2, 4, 8)]
    c1 = [d.m("07", "threads", n, "cpu_us") for n in (1, 2, 4, 8)]
    b1 = [d.m("07", "threads-blocking", n, "p99_ms") for n in (1, 2, 4, 8)]
    if have(*r1):
        gain = max(r1[1:]) / r1[0]
        c.measured = (f"GET / with 1, 2, 4, 8 loops on one core: {', '.join(fmt_int(v) for v in r1)} requests/s, "
                      f"{', '.join(fmt_us(v) for v in c1)} CPU each; with 8 sleeps in flight, GET / p99 "
                      f"{', '.join(fmt_ms(v) for v in b1)}")
        c.verdict = HELD if gain < 1.15 else NOT_HELD
        c.why = (f"for non-blocking transitions, more loops than cores gave at most {x(gain)} the requests/s; "
                 "they help only when a transition blocks (the /sleep column), which is what the claim says "
                 "to fix instead")
    rows.append(c)

    # 4 -------------------------------------------------------------------------------------
    rows.append(Claim("4", "tpc", "Round-robin placement can lose to a biased pick on some workloads.",
                      f"{chapter_link('07')} (round-robin), its exercise on least-loaded placement",
                      "-", CANNOT,
                      "with one server core every loop shares the same CPU, so where a connection is placed "
                      "changes nothing the clock can see. It needs two or more server cores that the load "
                      "generator does not share, and a workload with a few heavy connections among light ones "
                      "(`make bench CORES=N` on a larger machine)", ("07",)))

    # 5 -------------------------------------------------------------------------------------
    c = Claim("5", "tpc", "Deferred accept, accept4() and a receive timeout instead of application timers "
              "each help.", f"experiment {exp_link('accept')}; {chapter_link('01')}'s system calls "
              f"({RESULTS})", chapters=("01", "07"))
    p = cfg.close_conns
    s4, sf, sd = (d.m(n, "accept", p, "syscalls_per_conn") for n in ("floor+close", "floor+accept-fcntl",
                                                                       "floor+defer-accept"))
    u4, uf, ud = (d.m(n, "accept", p, "cpu_us") for n in ("floor+close", "floor+accept-fcntl", "floor+defer-accept"))
    q4, qd = d.m("floor+close", "accept", p, "silent_fds"), d.m("floor+defer-accept", "accept", p, "silent_fds")
    polls = d.m("01", "syscalls", cfg.requests, "syscall:poll")
    total1 = d.m("01", "syscalls", cfg.requests, "syscalls_per_req")
    if have(s4, sf, sd, u4, uf, ud):
        c.measured = (f"accept4(): {num(s4)} system calls per connection against {num(sf)} with accept() and "
                      f"fcntl(), CPU {fmt_us(u4)} against {fmt_us(uf)}; deferred accept: 200 silent clients hold "
                      f"{fmt_int(qd)} descriptors against {fmt_int(q4)}, CPU per connection {fmt_us(ud)}; "
                      f"chapter 01 spends {num(polls)} of its {num(total1)} system calls per request in the poll() "
                      "that SO_RCVTIMEO would replace")
        c.verdict = CAVEAT
        change = 1 - u4 / uf
        cpu_text = (f"a {abs(change):.0%} difference in CPU, within the noise" if abs(change) < 0.1 else
                    f"{abs(change):.0%} {'less' if change > 0 else 'more'} CPU per connection")
        c.why = (f"each saves what it promises: accept4() {num(sf - s4)} system calls per connection ({cpu_text}), "
                 "deferred accept every silent client's descriptor and wake-up; but a receive timeout cannot be "
                 "woken by the shutdown signal, which is why chapters 01-03 wait in poll() and pay that call")
    rows.append(c)

    # 6 -------------------------------------------------------------------------------------
    c = Claim("6", "voras", "A process per client works while processes stay under about twice the cores; "
              "past that the kernel thrashes and the time goes to \"sys\".",
              f"experiment {exp_link('clients')} ({chapter_link('02')}, {chapter_link('03')}, "
              f"{chapter_link('04')} for reference)", chapters=("02", "03"))
    cpu2 = {n: d.m("02", "clients", n, "cpu_us") for n in (2, 4, 16, 256)}
    sys2 = {n: d.m("02", "clients", n, "sys_share") for n in (2, 4, 16, 256)}
    sys4 = d.m("04", "clients", 256, "sys_share")
    p99_2 = {n: d.m("02", "clients", n, "p99_ms") for n in (2, 256)}
    if have(*cpu2.values(), *sys2.values()) and min(cpu2[4], cpu2[16]) > 0:
        low = min(cpu2[4], cpu2[16])
        rise = cpu2[256] / low
        c.measured = (f"02 at 2, 4, 16, 256 clients: {', '.join(fmt_us(v) for v in cpu2.values())} CPU per request, "
                      f"{', '.join(pct(v) for v in sys2.values())} of it system (04 at 256: {pct(sys4)}); p99 "
                      f"{fmt_ms(p99_2[2])} at 2, {fmt_ms(p99_2[256])} at 256")
        sys_up = sys2[256] - sys2[4]
        if rise >= 1.3 and sys_up >= 0.05:
            c.verdict = HELD
        elif rise >= 1.3:
            c.verdict = CAVEAT
        else:
            c.verdict = NOT_HELD
        c.why = (f"at 256 processes on one core the CPU per request is {x(rise)} its lowest (at 4 or 16), and the "
                 f"system share moved {sys_up * 100:+.0f} points from 4 clients; on loopback most of every model's "
                 "time is the kernel's anyway, so what grows past the cores is the CPU per request and the tail "
                 "latency, not the share")
    rows.append(c)

    # 7 -------------------------------------------------------------------------------------
    c = Claim("7", "voras", "A single event loop (SPED) uses one core, and a non-uniform payload makes its "
              "latency jitter.", f"{chapter_link('04')}: experiment {exp_link('payload-mix')}; "
              "`test_capabilities.py::test_multicore` (both ways)", chapters=("04",))
    a, b = d.m("04", "payload-mix", 0, "p99_ms"), d.m("04", "payload-mix", 100, "p99_ms")
    others = {n: ratio(d.m(n, "payload-mix", 100, "p99_ms"), d.m(n, "payload-mix", 0, "p99_ms")) for n in ("05", "10")}
    if have(a, b):
        c.measured = (f"GET / p99 {fmt_ms(a)} alone, {fmt_ms(b)} beside 100/s of 1 ms requests ({x(ratio(b, a))}); "
                      f"05 and 10, which run them on other threads: {x(others['05'])} and {x(others['10'])}; one "
                      "core: the suite's multi-core test")
        c.verdict = CAVEAT if ratio(b, a) >= 1.5 else NOT_HELD
        c.why = ("a 1 ms request holds the loop, and the requests behind it wait. But on one server core the models "
                 "that move the costly work to other threads jitter too (see the measured column): the costly "
                 "requests take the one CPU from everyone. Telling the loop's own head-of-line blocking apart "
                 "needs cores to spare. The rule: a rise of 1.5x or more in p99, well above the ~15% that "
                 "separates the chapters' p99 alone")
    rows.append(c)

    # 8 -------------------------------------------------------------------------------------
    c = Claim("8", "voras", "SEDA's message passing costs more than the work when each stage does little.",
              f"{chapter_link('10')} with and without `--grouped`, against {chapter_link('04')}: {RESULTS}",
              chapters=("10",))
    c10, cg, c4 = d.m("10", "keep-alive", k, "cpu_us"), d.m("10-staged+grouped", "keep-alive", k, "cpu_us"), \
        d.m("04", "keep-alive", k, "cpu_us")
    s10, sg = d.m("10", "syscalls", cfg.requests, "syscalls_per_req"), d.m("10-staged+grouped", "syscalls",
                                                                           cfg.requests, "syscalls_per_req")
    p10, p4 = d.m("10", "pipelined", cfg.pipeline_depth, "rps"), d.m("04", "pipelined", cfg.pipeline_depth, "rps")
    if have(c10, c4):
        r = c10 / c4
        c.measured = (f"CPU per GET / {fmt_us(c10)} through the stages, {fmt_us(cg)} answered on the I/O thread "
                      f"(`--grouped`), {fmt_us(c4)} in chapter 04 ({x(r)}); system calls per request {num(s10)} "
                      f"against {num(sg)}; pipelined x{cfg.pipeline_depth} {fmt_int(p10)}/s against 04's {fmt_int(p4)}/s")
        c.verdict = HELD if r >= 1.5 else CAVEAT if r >= 1.1 else NOT_HELD
        c.why = ("GET / is the stage that does little; Welsh's own answer, grouping cheap stages onto one thread, "
                 "brings it back near the single loop")
    rows.append(c)

    # 9 -------------------------------------------------------------------------------------
    c = Claim("9", "voras", "AMPED's queue (a loop handing work to helpers) can become the bottleneck.",
              f"{chapter_link('05')} past its capacity, against {chapter_link('10')}: {RESULTS} (past capacity)",
              chapters=("05",))
    q5 = {s: d.m("05", "past-capacity", s, "p99_ms") for s in (0.5, 2.0)}
    t5 = d.m("05", "past-capacity", 2.0, "timed_out_share")
    g5 = d.m("05", "past-capacity", 2.0, "goodput_share")
    q10, r10 = d.m("10", "past-capacity", 2.0, "p99_ms"), d.m("10", "past-capacity", 2.0, "refused_share")
    if have(*q5.values()):
        c.measured = (f"at twice its capacity 05's p99 is {fmt_ms(q5[2.0])} (at half: {fmt_ms(q5[0.5])}), "
                      f"{pct(t5)} of requests time out, goodput {pct(g5)} of capacity; chapter 10 refuses "
                      f"{pct(r10)} at the door and keeps p99 at {fmt_ms(q10)}")
        grew = ratio(q5[2.0], q5[0.5])
        c.verdict = HELD if grew is not None and grew >= 10 else NOT_HELD
        c.why = ("the queue between the loop and the pool is unbounded in time: past capacity it only grows, "
                 "and every request waits behind it")
    rows.append(c)

    # 10 ------------------------------------------------------------------------------------
    c = Claim("10", "voras", "Symmetric loops (SYMPED) have a hard CPU ceiling, and their latency still varies "
              "with the payload.", f"{chapter_link('08')}: experiment {exp_link('payload-mix')}; "
              "`test_capabilities.py::test_multicore`", chapters=("08",))
    a, b = d.m("08", "payload-mix", 0, "p99_ms"), d.m("08", "payload-mix", 100, "p99_ms")
    if have(a, b):
        c.measured = (f"GET / p99 {fmt_ms(a)} alone, {fmt_ms(b)} beside 100/s of 1 ms requests ({x(ratio(b, a))}), "
                      "one loop per server core; the ceiling (N loops use at most N cores, and more than one): "
                      "the suite's multi-core test")
        c.verdict = CAVEAT if ratio(b, a) >= 1.5 else NOT_HELD
        c.why = ("within a loop it is chapter 04: a costly request delays the others that the kernel gave that "
                 "loop. The ceiling holds by construction; the jitter has the caveat of claim 7, on one core")
    rows.append(c)

    # 11 ------------------------------------------------------------------------------------
    c = Claim("11a", "voras", "Avoid dynamic allocation on the hot path.", f"experiment {exp_link('alloc')}",
              chapters=())
    per = {t.name: d.m(t.name, "alloc", cfg.requests, "allocs_per_req") for t in d.run.servers()}
    per = {n: v for n, v in per.items() if v is not None}
    if per:
        chapters_only = {n: v for n, v in per.items() if d.names[n].kind == "chapter"}
        low = min(chapters_only.values()) if chapters_only else None
        high_name = max(chapters_only, key=chapters_only.get) if chapters_only else None
        nginx = next((v for n, v in per.items() if n.startswith("nginx")), None)
        c.measured = (f"allocations per keep-alive request: the floor {num(per.get(FLOOR))}, nginx {num(nginx)}, "
                      f"the chapters from {num(low)} to {num(chapters_only.get(high_name))} ({high_name})")
        c.verdict = CAVEAT
        c.why = ("the chapters allocate about as often as nginx, and those with a hand-off allocate more; the "
                 "floor, which allocates nothing, is the whole gap's lower bound, and the allocations are a small "
                 "part of that gap next to parsing and the kernel's work. A pool per connection (as nginx's) "
                 "would remove them")
    rows.append(c)

    c = Claim("11b", "voras", "sendfile() beats reading a file and writing it.", f"experiment {exp_link('file')}")
    s, cp = d.m("floor+sendfile", "file", 4, "cpu_us"), d.m("floor+copy", "file", 4, "cpu_us")
    if have(s, cp):
        c.measured = f"server CPU per 4 MiB answer: {fmt_us(s)} with sendfile(), {fmt_us(cp)} with read() and send() ({x(cp / s)})"
        c.verdict = HELD if cp / s >= 1.15 else NOT_HELD
        c.why = "the copy through user memory is the difference; the receiver's own copy is paid either way"
    rows.append(c)

    c = Claim("11c", "voras", "Disable Nagle's algorithm (TCP_NODELAY) for request and response traffic.",
              f"experiment {exp_link('nagle')}")
    vals = {n: d.m(n, "nagle", 1, "p50_ms") for n in (FLOOR, "floor+split", "floor+nagle", "floor+nagle-split")}
    if have(*vals.values()):
        c.measured = (f"p50 of one client's requests: {fmt_ms(vals[FLOOR])} (TCP_NODELAY, one write), "
                      f"{fmt_ms(vals['floor+split'])} (TCP_NODELAY, two writes), {fmt_ms(vals['floor+nagle'])} "
                      f"(Nagle, one write), {fmt_ms(vals['floor+nagle-split'])} (Nagle, two writes)")
        bad = vals["floor+nagle-split"] / vals["floor+split"]
        c.verdict = CAVEAT if bad >= 10 else NOT_HELD
        c.why = ("only an answer written in two parts waits (for the client's delayed acknowledgement); an "
                 "answer written at once is not held back, TCP_NODELAY or not. The chapters set it anyway and "
                 "write each answer in one call")
    rows.append(c)

    c = Claim("11d", "voras", "A lingering close can exhaust descriptors at high connection rates.",
              f"experiment {exp_link('linger')}")
    fc, fl = d.m("floor+close", "linger", 500, "fds_held"), d.m("floor+linger", "linger", 500, "fds_held")
    if have(fc, fl):
        c.measured = (f"500 new connections a second whose clients keep them open: {fmt_int(fl)} descriptors held "
                      f"with a 1 s lingering close, {fmt_int(fc)} with a plain close")
        c.verdict = HELD if fl >= 100 and fl >= 10 * max(fc, 1) else NOT_HELD
        c.why = ("rate x linger time descriptors; the chapters linger only when unread input would otherwise turn "
                 "the close into a reset (docs/protocol.md), and then for at most 2 s")
    rows.append(c)

    # 12 ------------------------------------------------------------------------------------
    c = Claim("12", "loop", "Thread-based servers fall to slowloris; event loops do not.",
              "make attacks (slowhttptest, 1,000 connections); each chapter's page", chapters=("02", "03", "04"))
    blocking = {n: d.attack(n, "slowloris") for n in ("02", "03")}
    loops = {n: d.attack(n, "slowloris") for n in ("04", "05", "06", "07", "08", "09", "10", "11")}
    loops = {n: v for n, v in loops.items() if v is not None}
    if have(*blocking.values()) and loops:
        seconds = d.attacks.get("seconds")
        c.measured = (f"seconds unanswered during an {seconds} s slowloris: 02 {blocking['02']}, 03 {blocking['03']}; "
                      f"chapters {', '.join(loops)}: at most {max(loops.values())}")
        fell = all(v > 0 for v in blocking.values())
        held = all(v == 0 for v in loops.values())
        c.verdict = CAVEAT if fell and held else NOT_HELD
        c.why = (f"the thread and process servers fall once the attack passes their cap (`--max-clients` "
                 f"{d.attacks.get('max_clients')}); they stop answering, they do not crash. The event loops hold "
                 "because they have request timeouts, not only because they are loops")
    rows.append(c)

    # 13 ------------------------------------------------------------------------------------
    c = Claim("13", "loop", "Blocking work must leave the loop.", f"{RESULTS} (GET / with 8 sleeps in flight); "
              "`test_capabilities.py::test_isolates_blocking_work`", chapters=("04", "05", "06"))
    loops = {n: d.m(n, "blocking", cfg.block_conns, "p99_ms") for n in ("04", "07", "08", "09", "11")}
    pools = {n: d.m(n, "blocking", cfg.block_conns, "p99_ms") for n in ("05", "06", "10")}
    loops = {n: v for n, v in loops.items() if v is not None}
    pools = {n: v for n, v in pools.items() if v is not None}
    if loops and pools:
        c.measured = (f"GET / p99 with 8 x 200 ms sleeps in flight: loops that run them "
                      f"{', '.join(f'{n} {fmt_ms(v)}' for n, v in loops.items())}; models that hand them off "
                      f"{', '.join(f'{n} {fmt_ms(v)}' for n, v in pools.items())}")
        c.verdict = CAVEAT if max(pools.values()) * 10 <= min(loops.values()) else NOT_HELD
        c.why = (f"more loops only dilute it (07 with 1 and 8 loops: {fmt_ms(b1[0])} and {fmt_ms(b1[3])} in the "
                 "threads experiment); what keeps it out is a pool with a free worker, and a pool of N stalls "
                 "once N blocking requests are in it")
    rows.append(c)

    # 14 ------------------------------------------------------------------------------------
    c = Claim("14", "kalin", "A pool of pre-started threads would beat a thread per connection.",
              f"{chapter_link('03')} against the pools of {chapter_link('05')} and {chapter_link('06')}: {RESULTS}",
              chapters=("03",))
    c3, c5, c6 = (d.m(n, "close", cfg.close_conns, "cpu_us") for n in ("03", "05", "06"))
    k3, k5 = d.m("03", "keep-alive", k, "cpu_us"), d.m("05", "keep-alive", k, "cpu_us")
    if have(c3, c5, k3, k5):
        c.measured = (f"CPU per request with a new connection each: 03 {fmt_us(c3)}, 05 {fmt_us(c5)}, 06 "
                      f"{fmt_us(c6)}; on keep-alive connections: 03 {fmt_us(k3)}, 05 {fmt_us(k5)}")
        c.verdict = CAVEAT if c3 / c5 >= 1.5 else NOT_HELD
        c.why = ("the pool saves the thread's creation, so it wins per new connection, not per request on a "
                 "connection already open; and a pool of N blocking threads serves only N clients at once, which "
                 "is why chapters 05 and 06 feed theirs from an event loop")
    rows.append(c)

    # 15 ------------------------------------------------------------------------------------
    c = Claim("15", "kalin", "Polling servers outperform process-driven ones.",
              f"{chapter_link('04')} against {chapter_link('02')} and {chapter_link('03')}: {RESULTS}",
              chapters=("02", "03", "04"))
    kc = {n: d.m(n, "keep-alive", k, "cpu_us") for n in ("02", "03", "04")}
    cc = {n: d.m(n, "close", cfg.close_conns, "cpu_us") for n in ("02", "03", "04")}
    one = {n: d.m(n, "keep-alive", 1, "cpu_us") for n in ("03", "04")}
    if have(*kc.values(), *cc.values()):
        c.measured = (f"CPU per keep-alive request at {k} connections: 04 {fmt_us(kc['04'])}, 02 {fmt_us(kc['02'])}, "
                      f"03 {fmt_us(kc['03'])}; per new connection: 04 {fmt_us(cc['04'])}, 02 {fmt_us(cc['02'])}, 03 "
                      f"{fmt_us(cc['03'])}; at one connection 04 {fmt_us(one['04'])}, 03 {fmt_us(one['03'])}")
        better = kc["04"] < 0.8 * min(kc["02"], kc["03"]) and cc["04"] < 0.8 * min(cc["02"], cc["03"])
        c.verdict = CAVEAT if better else NOT_HELD
        c.why = "the gap is concurrency and connection churn: with one client at a time they cost about the same"
    rows.append(c)

    # 16 ------------------------------------------------------------------------------------
    c = Claim("16", "nonblocking", "select() and poll() cost O(n) per call, select() stops at FD_SETSIZE, and "
              "epoll returns only the ready descriptors.", f"experiment {exp_link('poller')}")
    e = {n: d.m(FLOOR, "poller", n, "cpu_us") for n in (10, 1000, 10000)}
    pl = {n: d.m("floor+poll", "poller", n, "cpu_us") for n in (10, 1000, 10000)}
    sl = {n: d.m("floor+select", "poller", n, "cpu_us") for n in (10, 1000)}
    if have(*e.values(), *pl.values()):
        c.measured = (f"CPU per request beside 10, 1,000, 10,000 idle connections: epoll "
                      f"{', '.join(fmt_us(v) for v in e.values())}; poll {', '.join(fmt_us(v) for v in pl.values())}; "
                      f"select {', '.join(fmt_us(v) for v in sl.values())}, and no run at 10,000 (descriptors "
                      "above 1,023)")
        grows = pl[10000] / pl[10] >= 5
        flat = e[10000] / e[10] < 1.3
        c.verdict = HELD if grows and flat else NOT_HELD
        c.why = "each poll() hands the kernel every descriptor and the kernel looks at each; epoll_wait() does not"
    rows.append(c)

    # 17 ------------------------------------------------------------------------------------
    c = Claim("17", "nonblocking", "A blocking server that accepts and then reads lets the listen queue build up "
              "while it reads.", f"experiment {exp_link('backlog')}", chapters=("01",))
    q = {n: d.m(n, "backlog", 64, "queued") for n in ("01", "02", "03", "04")}
    ans = {n: d.m(n, "backlog", 64, "answered_share") for n in ("01", "02", "03", "04")}
    if have(*q.values()):
        c.measured = (f"64 clients behind one that sent half a request: in the accept queue after 0.5 s, 01 "
                      f"{fmt_int(q['01'])} ({pct(ans['01'])} answered within 1 s); 02, 03, 04: "
                      f"{', '.join(fmt_int(q[n]) for n in ('02', '03', '04'))} ({', '.join(pct(ans[n]) for n in ('02', '03', '04'))})")
        c.verdict = HELD if q["01"] >= 32 and max(q["02"], q["03"], q["04"]) < 8 else NOT_HELD
        c.why = ("the kernel completes every handshake, so the queued clients believe they are connected; they wait "
                 "for the request timeout of the one being read")
    rows.append(c)

    # 18 ------------------------------------------------------------------------------------
    c = Claim("18", "nonblocking", "Threads instead of processes do not fix blocking reads.",
              f"{chapter_link('02')} against {chapter_link('03')}: experiment {exp_link('idle-clients')}, make attacks",
              chapters=("02", "03"))
    m2, m3 = d.m("02", "idle-clients", 1000, "bytes_per_conn"), d.m("03", "idle-clients", 1000, "bytes_per_conn")
    k2, k3m = d.m("02", "idle-clients", 1000, "kernel_bytes_per_conn"), d.m("03", "idle-clients", 1000,
                                                                           "kernel_bytes_per_conn")
    a2, a3 = d.attack("02", "slowloris"), d.attack("03", "slowloris")
    if have(m2, m3):
        c.measured = (f"memory per idle client: 02 {fmt_bytes(m2)} (+{fmt_bytes(k2)} in the kernel), 03 {fmt_bytes(m3)} "
                      f"(+{fmt_bytes(k3m)}); CPU per new connection 02 {fmt_us(cc['02'])}, 03 {fmt_us(cc['03'])}; "
                      f"slowloris: unanswered {a2} s and {a3} s")
        both_fall = have(a2, a3) and a2 > 0 and a3 > 0
        c.verdict = HELD if both_fall else NOT_HELD
        c.why = ("a thread is lighter and cheaper to start than a process, but each blocked read still holds one, "
                 "so both reach the same wall under the same attack")
    rows.append(c)
    return rows


# ---------------------------------------------------------------------------------------------
# The experiments' own tables.


def experiment_tables(d):
    run, cfg = d.run, d.run.cfg
    out = []

    def table(name, title, text, header, rows):
        out.append(f"### {title} {{#claims-{name}}}\n\n{text}\n")
        if not rows:
            out.append("Not measured in this run.\n")
            return
        out.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        out.extend("| " + " | ".join(r) + " |" for r in rows)
        out.append("")

    rows = []
    for short in ("06", "07"):
        for n in (1, 2, 4, 8):
            v = [d.m(short, "threads", n, m) for m in ("rps", "cpu_us", "sys_share", "p99_ms", "vol_cs_per_req",
                                                        "nonvol_cs_per_req")]
            if v[0] is None:
                continue
            blocked = d.m(short, "threads-blocking", n, "p99_ms")
            rows.append([d.full(short), str(n), fmt_int(v[0]), fmt_us(v[1]), pct(v[2]), fmt_ms(v[3]), num(v[4], 3),
                         num(v[5], 3), fmt_ms(blocked)])
    table("threads", "threads: more workers than cores",
          "Keep-alive GET / at 256 connections with `--threads N`, every thread on the one server CPU; the last "
          "column is GET / p99 while 8 `/sleep?ms=200` requests are kept in flight (07 only).",
          ["Server", "N", "req/s", "CPU/req", "system", "p99", "voluntary cs/req", "involuntary cs/req",
           "p99, 8 sleeps"], rows)

    rows = []
    for short in ("02", "03", "04"):
        for n in (2, 4, 16, 256):
            v = [d.m(short, "clients", n, m) for m in ("rps", "cpu_us", "sys_share", "p99_ms")]
            if v[0] is not None:
                rows.append([d.full(short), str(n), fmt_int(v[0]), fmt_us(v[1]), pct(v[2]), fmt_ms(v[3])])
    table("clients", "clients: a process or a thread per client, past the cores",
          "Keep-alive GET / with N clients (the server has one CPU).",
          ["Server", "clients", "req/s", "CPU/req", "system", "p99"], rows)

    rows = []
    for short in ("04", "05", "08", "10", "11"):
        for bg in (0, 100):
            v = [d.m(short, "payload-mix", bg, m) for m in ("p50_ms", "p99_ms", "p999_ms")]
            if v[0] is not None:
                rows.append([d.full(short), f"{bg}/s", *(fmt_ms(x_) for x_ in v)])
    table("payload-mix", "payload-mix: cheap requests beside costly ones",
          "GET / at 2,000 requests/s on 16 connections (an open loop: latency counted from each request's "
          "scheduled time), alone and beside a second client sending `/compute?n=20000` (about 1 ms of CPU) at "
          "100/s.", ["Server", "costly requests", "GET / p50", "p99", "p99.9"], rows)

    rows = []
    for name in (FLOOR, "floor+poll", "floor+select"):
        for n in (10, 1000, 10000):
            v = [d.m(name, "poller", n, m) for m in ("rps", "cpu_us", "p99_ms")]
            if v[0] is not None:
                rows.append([name, fmt_int(n), fmt_int(v[0]), fmt_us(v[1]), fmt_ms(v[2])])
            else:
                rows.append([name, fmt_int(n), "-", "not run: above FD_SETSIZE" if "select" in name else "-", "-"])
    table("poller", "poller: epoll_wait() against poll() and select()",
          "The floor (`tests/tools/floor.cpp`) waiting with `--poller epoll|poll|select`: 4 busy keep-alive "
          "connections beside N idle ones.", ["Floor", "idle", "req/s", "CPU/req", "p99"], rows)

    rows = []
    for name in ("floor+close", "floor+accept-fcntl", "floor+defer-accept"):
        v = [d.m(name, "accept", cfg.close_conns, m) for m in ("cpu_us", "syscalls_per_conn", "syscall:accept4",
                                                               "syscall:accept", "syscall:fcntl", "silent_fds")]
        if v[0] is not None:
            rows.append([name, fmt_us(v[0]), num(v[1]), num(v[2]), num(v[3]), num(v[4]), fmt_int(v[5])])
    table("accept", "accept: accept4() and deferred accept",
          f"The floor answering `Connection: close` at {cfg.close_conns} connections: CPU per connection, and system "
          "calls per connection under `strace -f -c`; then 200 clients that connect and send nothing, and the "
          "descriptors they take in the server after 0.5 s.",
          ["Floor", "CPU/conn", "calls/conn", "accept4", "accept", "fcntl", "silent clients' fds"], rows)

    rows = []
    for t in run.servers():
        v = d.m(t.name, "alloc", cfg.requests, "allocs_per_req")
        if v is not None:
            rows.append([t.name, num(v)])
    table("alloc", "alloc: heap allocations per request",
          f"Every server with `tests/tools/alloc_count.cpp` preloaded: malloc, calloc, realloc and aligned "
          f"allocations over {fmt_int(cfg.requests)} keep-alive GET / on 16 connections (1 for 01), after 2,000 "
          "to warm up.", ["Server", "allocations/request"], rows)

    rows = []
    for name in ("floor+sendfile", "floor+copy"):
        v = [d.m(name, "file", 4, m) for m in ("rps", "cpu_us", "p99_ms")]
        if v[0] is not None:
            rows.append([name, fmt_int(v[0]), fmt_us(v[1]), fmt_ms(v[2])])
    table("file", "file: sendfile() against read() and send()",
          "The floor answering every request with the 4 MiB `big.bin` (`--file`, and `--copy` for 128 KiB "
          "reads and sends), 4 keep-alive connections.", ["Floor", "answers/s", "CPU/answer", "p99"], rows)

    rows = []
    for name in (FLOOR, "floor+split", "floor+nagle", "floor+nagle-split"):
        v = [d.m(name, "nagle", 1, m) for m in ("rps", "p50_ms", "p99_ms")]
        if v[0] is not None:
            rows.append([name, fmt_int(v[0]), fmt_ms(v[1]), fmt_ms(v[2])])
    table("nagle", "nagle: TCP_NODELAY, and answers written in two parts",
          "One keep-alive client. `--split` writes the head and the body in two `send()`s; `--nagle` leaves "
          "Nagle's algorithm on.", ["Floor", "req/s", "p50", "p99"], rows)

    rows = []
    for name in ("floor+close", "floor+linger"):
        v = d.m(name, "linger", 500, "fds_held")
        if v is not None:
            rows.append([name, fmt_int(v)])
    table("linger", "linger: descriptors held by a lingering close",
          "500 new connections a second for 2 s, each one request with `Connection: close`, whose clients keep "
          "their end open; the most descriptors the server held. `floor+linger` shuts its side and waits up to "
          "1 s for the client's close.", ["Floor", "descriptors held"], rows)

    rows = []
    for short in ("01", "02", "03", "04"):
        v = [d.m(short, "backlog", 64, m) for m in ("queued", "answered_share")]
        if v[0] is not None:
            rows.append([d.full(short), fmt_int(v[0]), pct(v[1])])
    table("backlog", "backlog: the accept queue behind a read",
          "One client sends half a request and stops; 64 more connect and send a whole one. After 0.5 s: the "
          "listener's accept queue (`/proc/net/tcp`), then the answers that arrive within 1 s.",
          ["Server", "in the accept queue", "answered"], rows)

    rows = []
    for short in ("02", "03"):
        v = [d.m(short, "idle-clients", 1000, m) for m in ("bytes_per_conn", "kernel_bytes_per_conn")]
        if v[0] is not None:
            rows.append([d.full(short), fmt_bytes(v[0]), fmt_bytes(v[1])])
    table("idle-clients", "idle-clients: what a blocked client costs a process or a thread",
          "1,000 idle connections: user memory (PSS) and the kernel's stacks and page tables added, per "
          "connection.", ["Server", "memory per client", "kernel per client"], rows)
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# The page.


def render(run, attacks):
    for t in run.chapters():
        CHAPTER_DIRS.setdefault(t.name[:2], t.name.split("+")[0].split("@")[0])
    d = Data(run, attacks)
    rows = claims(d)
    cfg, info = run.cfg, run.info
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in (HELD, CAVEAT, NOT_HELD, CANNOT, MISSING)}
    out = [
        "# The classic articles' claims, measured {#claims}",
        "",
        "The articles this book is built on make claims: one design is much better than another, a trick "
        "helps, an API scales. This page takes each claim, in our words, says which chapter or experiment "
        "tests it, gives the number, and judges it: **held**, **held, with a caveat** (which one is said), "
        "**did not hold**, or **cannot be measured here** (what would be needed is said). The articles:",
        "",
        *(f"- *{short}*: {full};" if i < len(ARTICLES) - 1 else f"- *{short}*: {full}."
          for i, (short, full) in enumerate(ARTICLES.values())),
        "",
        f"Every number comes from the last `make bench` ({info.get('date', '?')}, {info.get('cpu', '?')}, "
        f"{info.get('cores', '?')} cores; servers on CPU {','.join(map(str, cfg.server_cpus))}, load on CPU "
        f"{','.join(map(str, cfg.loadgen_cpus))}; the run took {fmt_duration(run.elapsed)}) and the last "
        f"`make attacks` ({attacks.get('date', 'not run') if attacks else 'not run'}): `docs/results/bench.csv` "
        "and `attacks.json`. [The results page](results/bench.md) has the main tables; the experiments made for "
        "this page are at its end. `scripts/claims.py` writes the page from those files and judges each claim "
        "by the rule written beside it there, so a run on another machine gives that machine's verdicts. Treat "
        "differences under ~10% in CPU per request and ~15% in requests/s as noise.",
        "",
        f"Verdicts: {counts[HELD]} held, {counts[CAVEAT]} held with a caveat, {counts[NOT_HELD]} did not hold, "
        f"{counts[CANNOT]} cannot be measured here" + (f", {counts[MISSING]} not measured in this run" if counts[MISSING]
                                                       else "") + ".",
        "",
        "| # | Claim | Tested by | Measured | Verdict |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r.id} | {r.claim} ({ARTICLES[r.article][0]}) | {r.tested_by} | {r.measured or '-'} | "
                   f"**{r.verdict}** |")
    out += ["", "## Why each verdict {#claims-why}", ""]
    for article, (short, _) in ARTICLES.items():
        mine = [r for r in rows if r.article == article]
        out += [f"### The {short} article" if article in ("tpc", "loop", "nonblocking") else f"### {short}", ""]
        for r in mine:
            why = r.why or "this run has no value for it (bench.json's notes say why)"
            out.append(f"- **{r.id}. {r.verdict.capitalize()}.** {why[0].upper()}{why[1:]}.")
        out.append("")
    out += ["## The experiments {#claims-experiments}", "",
            "Run by `make bench` after its main workloads, on the same CPUs (`scripts/experiments.py`). The floor's "
            "variants are `tests/tools/floor.cpp` with one flag changed each.", "",
            experiment_tables(d), ]
    out += ["## How this page is made {#claims-how}", "",
            "`make bench` measures, writes `docs/results/`, then runs `scripts/claims.py --from docs/results`, "
            "which writes this page; `make attacks` runs it again for the attack rows. The rules that turn numbers "
            "into verdicts are in that script, one beside each claim, with the thresholds named in the text above. "
            "`make docs` fails if the committed page is not the one the committed data give.", ""]
    return "\n".join(out), rows


def load_attacks(directory):
    try:
        return json.loads((Path(directory) / "attacks.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write(directory, page=PAGE):
    run = Run.load(directory)
    text, rows = render(run, load_attacks(directory))
    page.write_text(text, encoding="utf-8")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, default=REPO / "docs" / "results", metavar="DIR")
    parser.add_argument("--check", action="store_true", help="only check that docs/claims.md is current")
    args = parser.parse_args()
    try:
        run = Run.load(args.source)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{args.source}: no make bench run to read ({e})")
    text, rows = render(run, load_attacks(args.source))
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            sys.exit("docs/claims.md differs from what docs/results gives: run "
                     "/usr/bin/python3 scripts/claims.py --from docs/results")
        return 0
    PAGE.write_text(text, encoding="utf-8")
    for r in rows:
        print(f"{r.id:>4}  {r.verdict:<24} {r.claim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

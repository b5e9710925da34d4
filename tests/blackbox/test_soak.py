"""Soak and shutdown under load, driven by the C++ load generator (tests/tools/loadgen.cpp,
built next to the chapter binaries: Python alone cannot keep 64 connections busy on 2 cores).

The soak: 200,000 keep-alive GET / over 64 connections, no error, and the server's resident
memory (with its children's) after the run within max(2 MiB, 10 %) of what it was after a
warm-up of a tenth of the requests; then, once the clients are gone, as many descriptors and no
zombie child. A model that serves one client at a time (capability "concurrent": false) would
leave 63 of the 64 connections waiting in the backlog until the first one ends, so for it the
soak runs over a single connection.

PROGRESSIVE_SOAK_REQUESTS lowers the request count: the sanitizer builds set it (see
tests/CMakeLists.txt), where every request costs several times more. Their memory is not
compared either: AddressSanitizer keeps freed blocks in quarantine and ThreadSanitizer grows its
shadow memory, so RSS only says how much they have seen; the ASan build checks leaks instead,
with LeakSanitizer at exit (an exit status other than 0 fails the test).

Shutdown under load: SIGTERM while every connection has a request in flight. Each response
that has begun must arrive whole, the server must exit 0 within 2 s, and no child may outlive
it.
"""

import os
import signal
import subprocess
import time

from harness import (LOADGEN_SECONDS, STOP_TIMEOUT, LoadGen, Reader, child_pids, fd_count, process_alive, stable_fd_count,
                     wait_until, zombies)

SOAK_REQUESTS = int(os.environ.get("PROGRESSIVE_SOAK_REQUESTS", "200000"))
CONNECTIONS = 64
RSS_SLACK_KIB = 2048
RSS_SLACK_FRACTION = 0.10
HELLO = "Hello, World!"


def connections_for(chapter):
    """64, or 1 with the reason, from the declared capabilities."""
    if chapter.caps["concurrent"]:
        return CONNECTIONS, f"{CONNECTIONS} connections"
    return 1, "1 connection (not concurrent: a second connection would wait in the backlog)"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def total_rss_kib(pid):
    """The resident memory of a server and its children (a forking model's workers)."""
    return rss_kib(pid) + sum(rss_kib(child) for child in child_pids(pid))


def sanitizer(pid):
    """'address' or 'thread' when the server runs with a sanitizer runtime, else None."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
    except OSError:
        return None
    if "libasan" in maps:
        return "address"
    if "libtsan" in maps:
        return "thread"
    return None


def test_soak_keep_alive(chapter, fresh_server):
    connections, how = connections_for(chapter)
    srv = fresh_server()
    with srv.connect() as sock:  # anything opened lazily on first use belongs to the baseline
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert Reader(sock).read().status == 200
    fds_before = stable_fd_count(srv.pid)
    warmup = max(SOAK_REQUESTS // 10, 1)
    load = LoadGen(chapter, srv, "--connections", connections, "--requests", SOAK_REQUESTS,
                   "--warmup", warmup, "--body", HELLO, "--sync")
    try:
        assert load.line(60) == "warm"
        rss_warm = total_rss_kib(srv.pid)
        load.go_on()
        assert load.line(LOADGEN_SECONDS + 10) == "done"
        rss_end = total_rss_kib(srv.pid)
        load.go_on()
        result = load.result(30)
    finally:
        load.kill()

    kind = sanitizer(srv.pid)
    growth = rss_end - rss_warm
    bound = max(RSS_SLACK_KIB, int(rss_warm * RSS_SLACK_FRACTION))
    print(f"\n{chapter.id}: soak of {result['requests']} requests over {how}: {result['rps']:.0f} requests/s, "
          f"{result['seconds']:.1f} s; RSS {rss_warm} KiB after {warmup} requests, {rss_end} KiB at the end "
          f"({growth:+d} KiB, bound {bound} KiB{', not checked: ' + kind + ' sanitizer' if kind else ''})")
    assert result["errors"] == 0, f"loadgen reported errors: {result}"
    assert result["requests"] == SOAK_REQUESTS, result
    if kind is None:
        assert growth <= bound, f"RSS grew by {growth} KiB over the soak (bound {bound} KiB): a leak?"

    # The clients are gone: no descriptor and no child may be left behind.
    fds_after = wait_until(lambda: fd_count(srv.pid) <= fds_before and fd_count(srv.pid), 5.0)
    assert fds_after and fds_after <= fds_before, \
        f"{fd_count(srv.pid)} descriptors open after the soak, {fds_before} before it"
    assert wait_until(lambda: not zombies(srv.pid), 5.0), f"zombie children: {zombies(srv.pid)}"
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(sock).read().body == HELLO.encode()


def test_sigterm_under_load_finishes_responses_and_exits(chapter, fresh_server):
    sig = signal.SIGTERM
    connections, how = connections_for(chapter)
    srv = fresh_server()
    load = LoadGen(chapter, srv, "--connections", connections, "--requests", 10**9, "--warmup", 2000,
                   "--body", HELLO, "--until-close", "--sync")
    try:
        assert load.line(60) == "warm"
        load.go_on()
        time.sleep(0.3)  # the load is running again on every connection
        children = set(child_pids(srv.pid))
        start = time.monotonic()
        srv.proc.send_signal(sig)
        try:
            code = srv.proc.wait(timeout=STOP_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - start
        result = load.result(30)
    finally:
        load.kill()
    print(f"\n{chapter.id}: {sig.name} under load over {how}: exit {code} after {took:.2f} s; {result}")
    assert code == 0, f"exit status {code} {took:.2f} s after {sig.name}: {srv.stderr()}"
    assert took < STOP_TIMEOUT, f"{took:.2f} s from {sig.name} to exit"
    assert result["truncated"] == 0, f"responses cut short by the shutdown: {result}"
    assert result["bad_status"] == 0 and result["malformed"] == 0, result
    assert result["still_open"] == 0, f"connections left open after the server exited: {result}"
    assert result["requests"] > 2000, result
    assert wait_until(lambda: not [p for p in children if process_alive(p)], 2.0), \
        f"children still running after the server exited: {[p for p in children if process_alive(p)]}"

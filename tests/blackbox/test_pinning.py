"""Thread pinning, for the models that pin their loops to cores (and turn it off with --no-pin).

Each thread's allowed CPUs are in /proc/PID/task/TID/status (Cpus_allowed_list). A pinned loop
thread allows exactly one CPU, and no two loops share one.
"""

import json
import os
import time

import pytest

from harness import Reader


def single_cpu_threads(pid):
    """The CPU of each thread of pid that may run on exactly one CPU."""
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                allowed = next(line.split(":", 1)[1].strip() for line in f if line.startswith("Cpus_allowed_list"))
        except (OSError, StopIteration):
            continue
        if allowed.isdigit():
            found.append(int(allowed))
    return found


def workers(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return json.loads(Reader(sock).read().body)["workers"]


@pytest.fixture
def pinning(chapter):
    if "no-pin" not in chapter.flags:
        pytest.skip("the model does not pin threads to cores (no --no-pin flag in the registry)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one usable CPU: pinned and unpinned threads look the same")


def test_each_loop_is_pinned_to_its_own_cpu(pinning, fresh_server):
    """Each loop thread's affinity is one CPU, and no two loops share one."""
    server = fresh_server()
    n = workers(server)
    cpus = single_cpu_threads(server.pid)
    deadline = time.monotonic() + 5
    while len(cpus) < n and time.monotonic() < deadline:  # threads pin themselves as they start
        time.sleep(0.05)
        cpus = single_cpu_threads(server.pid)
    assert len(cpus) == n, f"{n} loops, but {len(cpus)} threads pinned: {cpus}"
    assert len(set(cpus)) == min(n, len(os.sched_getaffinity(0))), f"loops share CPUs: {cpus}"


def test_no_pin_leaves_every_thread_free(pinning, fresh_server):
    server = fresh_server("--no-pin")
    assert workers(server) >= 1
    time.sleep(0.2)
    assert single_cpu_threads(server.pid) == []

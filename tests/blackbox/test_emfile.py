"""Descriptor exhaustion (EMFILE): no crash, no busy spin, recovery once descriptors are free.

The test lowers the running server's soft RLIMIT_NOFILE (prlimit) to exactly the number of
descriptors it has open, so its next accept() fails with EMFILE while connections wait in the
backlog. A naive accept loop then spins at 100% CPU, because the pending connection keeps the
listener readable. When the limit is raised again, every waiting client must be served.
"""

import resource
import time

from harness import Reader, children_cpu_seconds, cpu_seconds, fd_count

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
WATCH = 2.0  # seconds of exhaustion during which CPU use is measured


def test_emfile_no_spin_and_recovery(chapter, fresh_server):
    server = fresh_server()
    held = []
    if chapter.caps["concurrent"]:
        for _ in range(3):  # connections that are already being served must keep being served
            sock = server.connect()
            sock.sendall(GET)
            reader = Reader(sock)
            assert reader.read().status == 200
            held.append((sock, reader))

    soft, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    deadline = time.monotonic() + 5
    while True:  # let the descriptor count settle (a thread may still be closing one)
        count = fd_count(server.pid)
        time.sleep(0.2)
        if fd_count(server.pid) == count or time.monotonic() > deadline:
            break
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (count, hard))
    waiting = []
    try:
        for _ in range(10):
            sock = server.connect(timeout=15)
            sock.sendall(GET_CLOSE)
            waiting.append(sock)

        before = cpu_seconds(server.pid) + children_cpu_seconds(server.pid)
        time.sleep(WATCH)
        used = cpu_seconds(server.pid) + children_cpu_seconds(server.pid) - before
        print(f"{chapter.name}: {used:.3f} s of CPU in {WATCH} s of EMFILE")
        assert used < 0.25 * WATCH, f"the server spun while out of descriptors: {used:.2f} s CPU in {WATCH} s"
        assert server.alive()

        for sock, reader in held:  # existing connections are still served
            sock.sendall(GET)
            assert reader.read().status == 200
    finally:
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))

    for sock in waiting:  # descriptors are back: everyone who waited is served
        assert Reader(sock).read().status == 200
        sock.close()
    for sock, _ in held:
        sock.close()

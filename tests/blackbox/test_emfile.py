"""Descriptor exhaustion (EMFILE): no crash, no busy spin, recovery once descriptors are free.

The test lowers the running server's soft RLIMIT_NOFILE (prlimit) to exactly the number of
descriptors it has open, so its next accept() fails with EMFILE while connections wait in the
backlog. A naive accept loop then spins at 100% CPU, because the pending connection keeps the
listener readable. When the limit is raised again, every waiting client must be served.
"""

import resource
import time

from harness import Reader, cpu_during, fd_count, sent_on_new_connections, stable_fd_count

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
WATCH = 1.0  # seconds of exhaustion during which CPU use is measured


def test_emfile_no_spin_and_recovery(chapter, fresh_server):
    """Out of descriptors (prlimit on the running server) with clients waiting, the server does not
    spin, and once descriptors are free again the waiting clients are served."""
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
    # Exactly the descriptors open, once a thread that may still be closing one is done.
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (stable_fd_count(server.pid), hard))
    try:
        waiting = sent_on_new_connections(server, 10, GET_CLOSE, timeout=15)
        used = cpu_during(server.pid, WATCH)
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


def test_emfile_when_opening_a_static_file(chapter, fresh_server):
    """Out of descriptors between accept() and openat2(): the client being served gets an
    answer (the file, if its process still has a descriptor to spare, or an error status),
    nothing crashes, and the file is served again once descriptors are back."""
    server = fresh_server()
    sock = server.connect(timeout=10)
    reader = Reader(sock)
    sock.sendall(GET)
    assert reader.read().status == 200  # this connection is open and being served
    soft, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (stable_fd_count(server.pid), hard))
    try:
        sock.sendall(b"GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        response = reader.read()
        print(f"{chapter.id}: /static/ out of descriptors: {response.status} {response.reason}")
        assert response.status in (200, 404, 500, 503), response
        if response.header("Connection") != "close":
            sock.sendall(GET)
            assert reader.read().status == 200
        assert server.alive()
    finally:
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))
        sock.close()
    again = server.request(b"GET /static/index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert again.status == 200


LOW_LIMIT = 40  # RLIMIT_NOFILE for the whole life of the server: soft and hard
CLIENTS = 60
LOW_WATCH = 0.5  # seconds of CPU watched while clients wait beyond the limit


def test_low_descriptor_limit_from_start(chapter, fresh_server):
    """Started with only 40 descriptors, the server meets 60 clients holding half-sent requests:
    it may not crash nor spin while the rest wait, and once the requests are finished every one
    of them is answered."""
    server = fresh_server(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_LIMIT, LOW_LIMIT)))
    assert resource.prlimit(server.pid, resource.RLIMIT_NOFILE)[0] <= LOW_LIMIT
    clients = sent_on_new_connections(server, CLIENTS, b"GET / HTTP/1.1\r\n", timeout=30)
    try:
        time.sleep(0.5)  # the server takes what it can
        used = cpu_during(server.pid, LOW_WATCH)
        print(f"{chapter.id}: {fd_count(server.pid)} descriptors open, {used:.3f} s of CPU in {LOW_WATCH} s")
        assert used < 0.25 * LOW_WATCH, f"the server spun at its descriptor limit: {used:.2f} s CPU in {LOW_WATCH} s"
        assert server.alive()
        for sock in clients:
            sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        for sock in clients:
            assert Reader(sock).read().status == 200
    finally:
        for sock in clients:
            sock.close()
    assert server.request(GET_CLOSE).status == 200

"""Exercise port-zero (chapter 08): with --port 0, every loop must listen on the same port.

Port 0 asks the kernel for any free port, once per bind(): the starting copy binds each loop's
listener to port 0, so each gets a different port and only the first one, the one announced,
receives clients. The reference binds the first listener, reads its port back with
getsockname() and binds the others to it. The test counts the listening sockets on the
announced port in /proc/net/tcp.
"""


def listeners_on(port):
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
                count += 1
    return count


def test_every_loop_listens_on_the_announced_port(fresh_server):
    """With --port 0 and --threads 3, three listening sockets are bound to the announced port."""
    server = fresh_server("--threads", "3")
    assert listeners_on(server.port) == 3, f"{listeners_on(server.port)} of 3 loops listen on port {server.port}"

"""The command line, the listening line, and a clean exit on SIGTERM or SIGINT."""

import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from harness import STOP_TIMEOUT, Reader


def run(chapter, *args, timeout=5):
    try:
        return subprocess.run([str(chapter.binary), *chapter.variant_args, *args], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{chapter.binary} {' '.join(args)} did not exit within {timeout} s")


def stop_with(srv, sig):
    """Sends sig and waits for the exit; returns (exit code, seconds). Kills a server that hangs."""
    code, elapsed, _ = srv.stop(STOP_TIMEOUT + 3, sig)
    if code is None:
        pytest.fail(f"no exit {STOP_TIMEOUT + 3} s after {sig!r}")
    return code, elapsed


SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


# --- command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_exits_0(chapter, flag):
    result = run(chapter, flag)
    assert result.returncode == 0
    assert "usage" in result.stdout.decode().lower()
    for option in ["--port", "--host", "--docroot", "--idle-timeout", "--request-timeout"]:
        assert option in result.stdout.decode()


MODEL_FLAGS = {"--threads": ["2"], "--max-clients": ["4"], "--no-pin": [], "--processes": [], "--grouped": []}


def test_help_lists_exactly_the_chapter_flags(chapter):
    text = run(chapter, "--help").stdout.decode()
    for flag in MODEL_FLAGS:
        assert (flag in text) == (flag.removeprefix("--") in chapter.flags), flag


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["--port", "abc"], ["--port", "70000"], ["--port", "-1"], ["--port"], ["--idle-timeout", "0"],
     ["--idle-timeout", "x"], ["--request-timeout", "-1"], ["--help=1"], ["extra"]],
    ids=lambda args: " ".join(args),
)
def test_bad_command_line_prints_usage_and_exits_2(chapter, args):
    result = run(chapter, *args)
    assert result.returncode == 2, result
    assert "usage" in result.stderr.decode().lower()
    assert result.stdout == b""


@pytest.mark.parametrize("flag", list(MODEL_FLAGS))
def test_model_flags_exist_only_where_the_registry_says(chapter, fresh_server, flag):
    """Each model flag is accepted (and the server serves) exactly where chapters/registry.json
    lists it, and refused with the usage everywhere else."""
    if flag.removeprefix("--") in chapter.flags:
        srv = fresh_server(flag, *MODEL_FLAGS[flag])
        assert srv.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    else:
        result = run(chapter, "--port", "0", flag, *MODEL_FLAGS[flag])
        assert result.returncode == 2, result
        assert "usage" in result.stderr.decode().lower()


def test_check_validates_the_command_line_without_serving(chapter):
    """--check (what make run asks first) exits 0 for a valid command line and serves nothing."""
    result = run(chapter, "--port", "0", "--check")
    assert result.returncode == 0, result
    assert result.stdout == b""


def test_check_refuses_a_port_another_process_holds(chapter, fresh_server):
    """--check also tries the port: on a port a running server listens on it exits 1 and says which
    port, so that make run stops before it prints a curl command that would reach the other one."""
    first = fresh_server()
    result = run(chapter, "--port", str(first.port), "--check")
    assert result.returncode == 1, result
    assert f"cannot serve on port {first.port}".encode() in result.stderr, result.stderr
    assert b"Address already in use" in result.stderr


def test_an_out_of_range_value_names_the_range(chapter):
    result = run(chapter, "--port", "80000")
    assert result.returncode == 2
    assert "invalid value '80000' for --port: it takes a whole number from 0 to 65535" in result.stderr.decode()


def test_a_typo_gets_the_closest_option(chapter):
    result = run(chapter, "--idle-timout", "2")
    assert result.returncode == 2
    assert "did you mean --idle-timeout?" in result.stderr.decode()


def test_a_port_another_process_listens_on_is_refused(chapter, fresh_server):
    """A second server on the port of a running one exits 1 with one line naming bind(2), even for
    a model whose own listeners share the port with SO_REUSEPORT: joining another process's group
    would split its clients in silence."""
    first = fresh_server()
    result = run(chapter, "--port", str(first.port))
    assert result.returncode == 1, result
    assert b"Address already in use" in result.stderr and b"bind(" in result.stderr, result.stderr
    assert b"listening on" not in result.stdout
    assert first.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_missing_docroot_exits_nonzero_naming_it(chapter, tmp_path):
    missing = tmp_path / "no-such-docroot"
    result = run(chapter, "--port", "0", "--docroot", str(missing))
    assert result.returncode == 1  # a start-up failure, not a usage error
    assert str(missing) in result.stderr.decode()
    assert b"listening on" not in result.stdout


def test_listening_line(chapter):
    proc = subprocess.Popen([str(chapter.binary), *chapter.variant_args, "--port", "0", "--docroot", str(chapter.docroot)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
        # The first line on stdout, exactly; the default host is the loopback address.
        match = re.fullmatch(rb"listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        port = int(match.group(1))
        assert 0 < port < 65536
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert Reader(sock).read().body == b"Hello, World!"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT + 3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        rest = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0
    assert rest == b"", "the listening line must be the only line on stdout"


def test_host_flag_is_used(chapter, fresh_server):
    srv = fresh_server("--host", "127.0.0.1")
    assert srv.host == "127.0.0.1"
    assert srv.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


# --- signals ---------------------------------------------------------------------------------

@SIGNALS
def test_signal_on_idle_server_exits_0_quickly(fresh_server, sig):
    srv = fresh_server()
    assert srv.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    code, elapsed = stop_with(srv, sig)
    assert code == 0
    assert elapsed < STOP_TIMEOUT


@SIGNALS
def test_signal_with_idle_keep_alive_client_exits_0_quickly(fresh_server, sig):
    srv = fresh_server()
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read().status == 200  # the connection is now being served, and idle
        code, elapsed = stop_with(srv, sig)
        assert reader.at_eof(timeout=2)
    assert code == 0
    assert elapsed < STOP_TIMEOUT


@SIGNALS
def test_signal_during_big_response_completes_it(fresh_server, big_file, sig):
    """A download of big.bin (4 MiB) that is in flight when the signal lands completes, whole, and
    the server then exits 0 within 2 s. The client stops reading for a moment first, so that the
    server has filled the socket and waits for it to drain (parked, in a pool's terms): the
    shutdown must find that connection, and let it finish."""
    srv = fresh_server()
    # A small receive buffer keeps most of the file in the server's hands when the signal lands.
    with srv.connect(rcvbuf=65536) as sock:
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        time.sleep(0.3)  # not a start-up wait: the server fills the socket, then waits for room
        start = time.monotonic()
        srv.proc.send_signal(sig)
        reader = Reader(sock)
        reader.buffer = first
        response = reader.read()
        assert response.body == big_file
        assert reader.at_eof(timeout=2)
    try:
        code = srv.proc.wait(timeout=STOP_TIMEOUT + 3)
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not exit")
    assert code == 0
    assert time.monotonic() - start < STOP_TIMEOUT


def test_sigterm_during_sleep_answers_then_exits(fresh_server):
    # A /sleep in progress is cut short: 503 with Connection: close (or, had it finished, 200).
    srv = fresh_server()
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read().status == 200
        sock.sendall(b"GET /sleep?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # not a start-up wait: lets the server get into the sleep
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        response = reader.read()
        assert response.status in (200, 503), response
        if response.status == 200:
            assert response.body == b"slept 1000 ms\n"
        assert response.header("Connection") == "close"  # a response during shutdown says so
        assert reader.at_eof(timeout=2)
    code = srv.proc.wait(timeout=STOP_TIMEOUT + 3)
    assert code == 0
    assert time.monotonic() - start < STOP_TIMEOUT


def test_sigterm_stderr_is_quiet_about_errors(fresh_server):
    srv = fresh_server()
    assert srv.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    code, _, err = srv.stop()
    assert code == 0
    assert "fatal" not in err.lower()

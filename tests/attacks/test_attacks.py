"""The attacks learners have heard of, made with the tools that make them (from Debian), against
every chapter: slowhttptest's slowloris (-H), slow body (-B) and slow read (-X), then ab and
h2load --h1 as ordinary clients. Each run is bounded (8 s of attack, counted connections) and
stays on loopback.

slowhttptest probes the server with a fresh GET / every second while the attack goes on, and
reports whether it was answered within 2 s ("service available"). The verdict is checked both
ways against what the chapter's model claims (chapters/registry.json): an event loop with
timeouts stays available; a model with a process or thread per client stays available while the
attackers fit its --max-clients (512) and refuses service past it; the iterative server is taken
down by one slow client. Each chapter's page shows the commands and its verdicts.
"""

import csv
import re
import shutil
import subprocess

import pytest

MAX_CLIENTS = 512  # the default --max-clients of the models with a process or thread per client
SECONDS = 8
VERDICTS = []  # (chapter, attack, connections, seconds answered, seconds not, claimed available)
CLIENTS = []  # (chapter, tool, requests sent, requests answered 2xx): the ordinary clients' runs

# name: (slowhttptest arguments, path, connections)
ATTACKS = {
    "slowloris": (["-H", "-i", "1", "-r", "250", "-x", "24"], "/", 1000),
    "slow-body": (["-B", "-t", "POST", "-i", "1", "-r", "250", "-s", "8192", "-x", "24"], "/echo", 1000),
    "slow-read": (["-X", "-r", "100", "-w", "512", "-y", "1024", "-n", "1", "-z", "32", "-k", "3"],
                  "/static/big.bin", 200),
}


def tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (scripts/setup.sh attacks installs it)")
    return path


def expected_available(chapter, connections):
    """What the model claims: the verdict the run must give, one way or the other."""
    if not chapter.caps["isolates_slow_clients"]:
        return False
    return chapter.caps["c10k"] or connections <= MAX_CLIENTS


def availability(csv_path):
    """The seconds of the run at which slowhttptest's probe was answered, and those it was not
    (after the first second, when the attack is still ramping up)."""
    with open(csv_path, newline="") as f:
        rows = [row for row in csv.DictReader(f) if int(row["Seconds"]) >= 1]
    top = max(int(row["Service Available"]) for row in rows) if rows else 0
    available = [int(row["Seconds"]) for row in rows if top and int(row["Service Available"]) == top]
    missing = [int(row["Seconds"]) for row in rows if not top or int(row["Service Available"]) < top]
    return available, missing


def slowhttptest_args(attack, url, out):
    """The command line of one attack, after the tool's path: what the pages print."""
    args, path, connections = ATTACKS[attack]
    return [*args, "-c", str(connections), "-p", "2", "-l", str(SECONDS), "-g", "-o", str(out),
            "-u", f"{url}{path}"]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_slowhttptest(chapter, fresh_server, tmp_path, attack):
    """slowhttptest -H / -B / -X with 1,000 (slow read: 200) connections for 8 s: the probe is
    answered every second exactly when the model claims it isolates that many slow clients."""
    binary = tool("slowhttptest")
    connections = ATTACKS[attack][2]
    server = fresh_server()
    out = tmp_path / attack
    cmd = [binary, *slowhttptest_args(attack, f"http://{server.host}:{server.port}", out)]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=SECONDS + 60)
    available, missing = availability(f"{out}.csv")
    claimed = expected_available(chapter, connections)
    VERDICTS.append((chapter.id, attack, connections, len(available), len(missing), claimed))
    assert server.alive(), f"{chapter.name} died under {attack}"
    if claimed:
        assert not missing, (f"{attack}: the probe was not answered at seconds {missing}, though the model "
                             f"claims to isolate {connections} slow clients")
    else:
        assert missing, (f"{attack}: every probe was answered under {connections} slow clients, though the "
                         "model claims it cannot isolate them (is the claim in chapters/registry.json wrong?)")


def test_ab_keep_alive(chapter, fresh_server):
    """ab -k: 2,000 keep-alive GET / (20 at once, 1 for a model that is not concurrent), every one 200."""
    binary = tool("ab")
    server = fresh_server()
    concurrency = 20 if chapter.caps["concurrent"] else 1
    out = subprocess.run([binary, "-q", "-k", "-n", "2000", "-c", str(concurrency), "-s", "10",
                          f"http://{server.host}:{server.port}/"], capture_output=True, text=True, timeout=60).stdout
    complete = re.search(r"Complete requests:\s+(\d+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if complete and failed:
        CLIENTS.append((chapter.id, f"ab -k -c {concurrency}", 2000,
                        int(complete[1]) - int(failed[1]) - (int(non2xx[1]) if non2xx else 0)))
    assert complete and int(complete[1]) == 2000, out[-600:]
    assert failed and int(failed[1]) == 0, out[-600:]
    assert "Non-2xx responses" not in out, out[-600:]


def test_h2load_http1_pipelined(chapter, fresh_server):
    """h2load --h1 -m 8: 2,000 GET / pipelined 8 deep on 10 connections (1 for a model that is not
    concurrent), every one answered 2xx, none failed."""
    binary = tool("h2load")
    server = fresh_server()
    clients = 10 if chapter.caps["concurrent"] else 1
    out = subprocess.run([binary, "--h1", "-n", "2000", "-c", str(clients), "-m", "8", "-T", "10",
                          f"http://{server.host}:{server.port}/"], capture_output=True, text=True, timeout=60).stdout
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    statuses = re.search(r"status codes: (\d+) 2xx", out)
    if statuses:
        CLIENTS.append((chapter.id, f"h2load --h1 -m 8 -c {clients}", 2000, int(statuses[1])))
    assert requests, out[-600:]
    assert int(requests[3]) == 2000 and int(requests[5]) == 0 and int(requests[6]) == 0, requests[0]
    assert statuses and int(statuses[1]) == 2000, out[-600:]

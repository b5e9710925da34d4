"""Exercise shared-stats (chapter 02): /stats must count what every child did.

After fork() a child writes to its own copy-on-write copy of the parent's memory. With the
starting copy's plain `common::Stats stats;`, each child counts its own requests in its own
copy, which dies with it, and the child that answers /stats reports what the parent knew at
fork time: nothing. The reference puts the counters in a MAP_SHARED mapping made before the
first fork.
"""

import json

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
STATS = b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_stats_count_requests_served_by_other_children(fresh_server):
    """Three requests on three connections (three children): a fourth child's /stats counts them."""
    srv = fresh_server()
    for _ in range(3):
        assert srv.request(GET_CLOSE).status == 200
    stats = json.loads(srv.request(STATS).body)
    assert stats["requests"] >= 3, f"/stats says {stats['requests']} requests after 3: {stats}"
    assert stats["connections"] >= 4, f"/stats says {stats['connections']} connections after 4: {stats}"


def test_open_connections_counts_this_one(fresh_server):
    """/stats counts the connection that asks for it as open."""
    srv = fresh_server()
    stats = json.loads(srv.request(STATS).body)
    assert stats["open_connections"] >= 1, f"/stats says {stats['open_connections']} open connections while one asks"
    assert stats["model"] == "forking"

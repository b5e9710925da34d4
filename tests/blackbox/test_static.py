"""/static/: files from the docroot, byte for byte, with the right types, and never anything else."""

import http.client
import os

import pytest

from harness import Reader

TYPES = {
    "index.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "server.png": "image/png",
    "big.bin": "application/octet-stream",
}


def get(server, path, method=b"GET"):
    return server.request(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, path))


@pytest.mark.parametrize("name", ["index.html", "style.css", "server.png"])
def test_static_file_type_and_bytes(chapter, server, name):
    expected = (chapter.docroot / name).read_bytes()
    response = get(server, b"/static/" + name.encode())
    assert response.status == 200
    assert response.header("Content-Type") == TYPES[name]
    assert response.header("Content-Length") == str(len(expected))
    assert response.body == expected
    assert response.header_names() == ["Server", "Date", "Content-Type", "Content-Length"]


@pytest.mark.parametrize("name", ["index.html", "big.bin"])
def test_head_on_static_has_headers_and_no_body(chapter, server, name):
    size = (chapter.docroot / name).stat().st_size
    with server.connect() as sock:
        sock.sendall(b"HEAD /static/%s HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
        reader = Reader(sock)
        head = reader.read(head_only=True)
        after = reader.read()
    assert head.status == 200
    assert head.header("Content-Type") == TYPES[name]
    assert head.header("Content-Length") == str(size)
    assert after.body == b"Hello, World!"  # no body bytes were sent after the HEAD response


def test_big_file_raw_socket(server, big_file):
    with server.connect() as sock:
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        response = reader.read()
        after = reader.read()  # exactly Content-Length bytes were sent, no more
    assert response.status == 200
    assert response.header("Content-Type") == "application/octet-stream"
    assert response.header("Content-Length") == str(len(big_file))
    assert response.body == big_file
    assert after.body == b"Hello, World!"


def test_big_file_http_client(server, big_file):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/static/big.bin")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == big_file
        conn.request("GET", "/static/style.css")  # keep-alive after a sendfile response
        second = conn.getresponse()
        assert second.status == 200 and second.getheader("Content-Type") == TYPES["style.css"]
        second.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [b"/static/index%2Ehtml", b"/static/%69ndex.html", b"/static/index.html?v=1"])
def test_static_path_is_percent_decoded(chapter, server, path):
    response = get(server, path)
    assert response.status == 200
    assert response.body == (chapter.docroot / "index.html").read_bytes()


@pytest.mark.parametrize("path", [b"/static/missing.html", b"/static/", b"/static/.", b"/static/index.html/",
                                  b"/static/index.html/x", b"/static/INDEX.HTML"])
def test_missing_or_directory_is_404(server, path):
    response = get(server, path)
    assert response.status == 404
    assert response.body == b"404 Not Found\n"


def test_directory_in_docroot_is_404(fresh_server, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_bytes(b"inner")
    srv = fresh_server(docroot=tmp_path)
    assert get(srv, b"/static/sub").status == 404
    assert get(srv, b"/static/sub/").status == 404
    ok = get(srv, b"/static/sub/a.txt")
    assert (ok.status, ok.body) == (200, b"inner")


@pytest.mark.parametrize(
    "path",
    [b"/static/../CMakeLists.txt", b"/static/../../CMakeLists.txt", b"/static/../../../../../../etc/passwd",
     b"/static/%2e%2e/%2e%2e/CMakeLists.txt", b"/static/%2E%2E/%2E%2E/CMakeLists.txt", b"/static/.%2e/.%2e/CMakeLists.txt",
     b"/static/%2f..%2f..%2fCMakeLists.txt", b"/static/..%2f..%2fCMakeLists.txt", b"/static//etc/passwd",
     b"/static/%2fetc%2fpasswd", b"/static/x/../../../CMakeLists.txt", b"/static/..", b"/static/%2e%2e",
     b"/static/../big.bin"],
)
def test_traversal_is_refused(server, path):
    response = get(server, path)
    assert response.status in (403, 404), response
    assert b"cmake_minimum_required" not in response.body.lower()
    assert b"root:" not in response.body
    assert response.body in (b"403 Forbidden\n", b"404 Not Found\n")


@pytest.mark.parametrize("path", [b"/static/index.html%00", b"/static/index.html%00.png", b"/static/%00", b"/%00",
                                  b"/static/index%2", b"/static/%zzindex.html", b"/static/%"])
def test_bad_percent_encoding_is_400(server, path):
    assert get(server, path).status == 400


def test_symlink_out_of_docroot_is_not_served(fresh_server, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"SECRET outside the docroot\n")
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "inner.txt").write_bytes(b"inner file\n")
    (docroot / "sub").mkdir()
    os.symlink(outside, docroot / "absolute.txt")
    os.symlink("../outside.txt", docroot / "relative.txt")
    os.symlink("../../outside.txt", docroot / "sub" / "deeper.txt")
    os.symlink(tmp_path, docroot / "updir")
    os.symlink("/etc", docroot / "etc")
    srv = fresh_server(docroot=docroot)

    inner = get(srv, b"/static/inner.txt")
    assert (inner.status, inner.body) == (200, b"inner file\n")
    for path in [b"/static/absolute.txt", b"/static/relative.txt", b"/static/sub/deeper.txt",
                 b"/static/updir/outside.txt", b"/static/etc/passwd", b"/static/etc/hostname"]:
        response = get(srv, path)
        assert response.status in (403, 404), (path, response)
        assert b"SECRET" not in response.body and b"root:" not in response.body, path


def test_static_rejects_post_with_allow(server):
    response = server.request(b"POST /static/index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"

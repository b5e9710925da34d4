"""The request corpus (tests/corpus/*.cases): every case is sent, the same way, to the chapter
under test and to the reference chapter, and the two answers must be the same bytes.

The reference is the first chapter of the registry, the simplest model. Comparing it with
itself is still a determinism check. Only what must differ between two runs is masked: the
Date value, and the values of /stats (its counters, and the chapter, model and worker count
that name the server), with the Content-Length they change. The corpus also says which
statuses each case must get; the reference's answer is checked against that too.

How a case ends is part of its answer. The test reads until the expected responses are all in.
Then, if the last one says "Connection: close" (or the case half-closed), it waits for the
server to close; otherwise it half-closes itself, and the server must close after answering.
The end is recorded as one of the markers below, so a server that closes when it should keep
the connection, or the other way round, differs from the reference.

Both servers are started once per module (one pair per chapter) with --request-timeout 1, so
the 408 cases take 1 s; every other case takes a round trip plus its own pauses (the slowest,
sent one byte at a time, well under a tenth of that timeout).
"""

import hashlib
import os
import re
import select
import shutil
import socket
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from difflib import SequenceMatcher

import pytest

import harness

sys.path.insert(0, str(harness.ROOT / "tests" / "corpus"))
import corpus  # noqa: E402  (the loader lives next to the data)

CASES = corpus.load()
REQUEST_TIMEOUT = 1  # seconds, for both servers: what the 408 cases wait for
CASE_TIMEOUT = 10.0  # seconds a case may take beyond its own pauses and the request timeout
CLOSED = "[the server closed the connection]"
CLOSED_AFTER_FIN = "[open until the client's FIN; then the server closed it]"
TIMED_OUT = "[no end within {:.0f} s]"

_pool = ThreadPoolExecutor(max_workers=2)


# --- the docroot the static cases expect ------------------------------------------------------

def make_docroot(base, build_docroot):
    """A docroot with the build's files plus the files, links, FIFO and unreadable file that
    tests/corpus/static.cases asks for; outside.txt lies next to it, outside."""
    root = base / "www"
    root.mkdir()
    for name in ["index.html", "style.css", "server.png", "big.bin"]:
        shutil.copyfile(build_docroot / name, root / name)
    files = {
        "hello.txt": b"hello from the corpus docroot\n",
        "empty.txt": b"",
        "t.js": b"console.log('js');\n",
        "t.json": b"{\"json\": true}\n",
        "t.htm": b"<p>htm</p>\n",
        "t.jpg": b"\xff\xd8\xff\xe0jpg",
        "t.jpeg": b"\xff\xd8\xff\xe0jpeg",
        "t.gif": b"GIF89a",
        "t.svg": b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        "t.ico": b"\x00\x00\x01\x00",
        "UPPER.TXT": b"upper-case extension\n",
        "archive.tar.gz": b"\x1f\x8b\x08\x00",
        "noext": b"no extension\n",
        ".hidden": b"hidden file\n",
        "a b.txt": b"a name with a space\n",
        "100%.txt": b"a name with a percent sign\n",
        "semi;colon.txt": b"a name with a semicolon\n",
        "secret.txt": b"secret: mode 000\n",
        "dir.d/plain": b"a dot in the directory name only\n",
        "sub/inner.txt": b"inner file\n",
        "sub/deeper/leaf.txt": b"leaf file\n",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "secret.txt").chmod(0)
    (base / "outside.txt").write_bytes(b"SECRET: outside the docroot\n")
    (root / "inside-link.txt").symlink_to("hello.txt")
    (root / "dir-link").symlink_to("sub")
    (root / "abs-link").symlink_to(base / "outside.txt")
    (root / "up-link.txt").symlink_to("../outside.txt")
    (root / "sub" / "up2.txt").symlink_to("../../outside.txt")
    os.mkfifo(root / "pipe")
    assert stat.S_ISFIFO((root / "pipe").stat().st_mode)
    return root


@pytest.fixture(scope="module")
def servers(chapter, tmp_path_factory):
    """(the chapter's server, the reference's server), both on the corpus docroot."""
    reference = harness.load_registry()[0]["name"]
    ref_binary = chapter.refbindir / reference
    for binary in (chapter.binary, ref_binary):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: build first (make)")
    docroot = make_docroot(tmp_path_factory.mktemp("corpus"), chapter.docroot)
    args = ("--request-timeout", str(REQUEST_TIMEOUT))
    ours = chapter.start(*args, docroot=docroot)
    try:
        ref = harness.Server(ref_binary, args, docroot=docroot)
    except Exception:
        ours.stop()
        raise
    ours.label, ref.label = chapter.id, f"reference {reference}"
    yield ours, ref
    results = [(srv.label, srv.stop(timeout=10)) for srv in (ours, ref)]
    for label, (code, _, err) in results:
        assert code == 0, f"{label} exited with {code} after SIGTERM: {err}"


# --- sending a case and reading its answer -----------------------------------------------------

class Responses:
    """Splits the bytes received into responses, as they arrive; HEAD responses have no body."""

    def __init__(self, heads):
        self.heads = heads  # one flag per expected response: True for a HEAD's
        self.spans = []  # (start, head end, end) of each complete response
        self.pos = 0
        self.last_close = False

    def feed(self, data):
        while True:
            head_end = data.find(b"\r\n\r\n", self.pos)
            if head_end < 0:
                return
            head = bytes(data[self.pos:head_end])
            match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            index = len(self.spans)
            no_body = index < len(self.heads) and self.heads[index]
            length = int(match.group(1)) if match and not no_body else 0
            end = head_end + 4 + length
            if len(data) < end:
                return
            self.spans.append((self.pos, head_end + 4, end))
            self.last_close = re.search(rb"\r\nconnection: *close\r?$", head, re.IGNORECASE | re.MULTILINE) is not None
            self.pos = end


class Answer:
    def __init__(self, data, spans, end, notes):
        self.data = bytes(data)
        self.spans = spans
        self.end = end
        self.notes = notes

    def responses(self):
        return [self.data[start:end] for start, _, end in self.spans]

    def rest(self):
        return self.data[self.spans[-1][2]:] if self.spans else self.data

    def statuses(self):
        return [int(r[9:12]) if re.match(rb"HTTP/1\.1 \d{3} ", r) else None for r in self.responses()]

    def masked(self):
        """The answer as compared: each response masked, what is left, then how it ended."""
        return b"".join(mask(r) for r in self.responses()) + self.rest() + b"\n" + self.end.encode()


def exchange(address, case):
    """Sends case to address as its plan says and reads the answer (see the module docstring)."""
    plan = case.schedule()
    expect_408 = any(408 in e.statuses for e in case.expect)
    limit = CASE_TIMEOUT + case.total_pause() + (REQUEST_TIMEOUT if expect_408 else 0)
    deadline = time.monotonic() + limit
    parsed = Responses([e.head for e in case.expect])
    data = bytearray()
    notes = []
    sock = socket.create_connection(address, timeout=5)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        piece, offset, not_before = 0, 0, 0.0
        sending, fin_sent = True, False
        while True:
            now = time.monotonic()
            if now >= deadline:
                return Answer(data, parsed.spans, TIMED_OUT.format(limit), notes)
            if sending and piece == len(plan):
                sending = False
                if case.shut:
                    sock.shutdown(socket.SHUT_WR)
                    fin_sent = True
            if (not sending and not fin_sent and len(parsed.spans) >= len(case.expect)
                    and not parsed.last_close):
                sock.shutdown(socket.SHUT_WR)  # everything expected is in: the server must now close
                fin_sent = True
            writable = sending and now >= not_before
            timeout = deadline - now
            if sending and not writable:
                timeout = min(timeout, not_before - now)
            readable, can_write, _ = select.select([sock], [sock] if writable else [], [], max(0.0, timeout))
            if readable:
                try:
                    chunk = sock.recv(1 << 20)
                except BlockingIOError:
                    chunk = None
                except ConnectionResetError:
                    notes.append("the connection was reset")
                    chunk = b""
                if chunk == b"":
                    end = CLOSED_AFTER_FIN if fin_sent and not case.shut else CLOSED
                    return Answer(data, parsed.spans, end, notes)
                if chunk:
                    data += chunk
                    parsed.feed(data)
            if can_write:
                part, pause = plan[piece]
                try:
                    offset += sock.send(part[offset:]) if part else 0
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    notes.append(f"sending stopped after {sum(len(p) for p, _ in plan[:piece]) + offset} bytes: "
                                 "the server closed first")
                    sending = False
                    continue
                if offset == len(part):
                    piece, offset, not_before = piece + 1, 0, time.monotonic() + pause
    finally:
        sock.close()


# --- masking and showing ------------------------------------------------------------------------

STATS_VALUE = re.compile(rb'"(chapter|model)":"[^"]*"|"(workers|requests|connections|open_connections)":-?\d+')


MODEL_STATS = re.compile(rb'(?<="open_connections":<open_connections>),"[^\n]*\}')


def masked_stat(match):
    name = match.group(1) or match.group(2)
    return b'"%s":<%s>' % (name, name)


def mask(response):
    """Masks the Date value, and /stats values with the Content-Length they change."""
    head_end = response.find(b"\r\n\r\n") + 4
    head, body = response[:head_end], response[head_end:]
    head = re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: <date>\r\n", head)
    if b"\r\nContent-Type: application/json\r\n" in head and (body == b"" or body.startswith(b'{"chapter":')):
        body = STATS_VALUE.sub(masked_stat, body)
        # A model's own figures (the registry's "stats") follow the members every chapter has.
        body = MODEL_STATS.sub(b"}", body)
        head = re.sub(rb"\r\nContent-Length: \d+\r\n", b"\r\nContent-Length: <length>\r\n", head)
    return head + body


def escape(data):
    out = []
    for byte in data:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append({"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(char, f"\\x{byte:02x}"))
    return "".join(out)


def render(answer):
    """The masked answer as readable lines: heads line by line, short bodies escaped, long
    bodies as size and hash."""
    lines = []
    for number, response in enumerate(answer.responses(), 1):
        masked = mask(response)
        head_end = masked.find(b"\r\n\r\n") + 4
        lines.append(f"--- response {number}")
        lines += [escape(line) + "\\r\\n" for line in masked[:head_end - 2].split(b"\r\n")[:-1]]
        lines.append("\\r\\n")
        body = masked[head_end:]
        if len(body) <= 512:
            text = escape(body)
            lines += [text[i:i + 60] for i in range(0, len(text), 60)]
        else:
            lines.append(f"<body: {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}>")
    rest = answer.rest()
    if rest:
        lines.append(f"--- {len(rest)} more bytes, not a complete response")
        text = escape(rest[:400])
        lines += [text[i:i + 60] for i in range(0, len(text), 60)]
    lines.append(answer.end)
    lines += [f"({note})" for note in answer.notes]
    return lines


def side_by_side(left_title, left, right_title, right, width=64):
    def cell(text):
        return text if len(text) <= width else text[:width - 1] + "…"

    rows = [f"  {left_title:<{width}} | {right_title}", "  " + "-" * width + "-+-" + "-" * width]
    for op, a1, a2, b1, b2 in SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        pairs = max(a2 - a1, b2 - b1)
        for i in range(pairs):
            l = left[a1 + i] if a1 + i < a2 else ""
            r = right[b1 + i] if b1 + i < b2 else ""
            mark = " " if op == "equal" else "!"
            rows.append(f"{mark} {cell(l):<{width}} | {cell(r)}")
    return "\n".join(rows)


def describe(case):
    expect = " ".join(str(e) for e in case.expect) or "none"
    options = (" (trickled)" if case.trickle else "") + (" (half-closed)" if case.shut else "")
    return f"case {case.name} ({case.source}), expected {expect}{options}"


# --- the test -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_case(servers, case):
    ours, ref = servers
    ours_future = _pool.submit(exchange, ours.address, case)
    ref_future = _pool.submit(exchange, ref.address, case)
    got, want = ours_future.result(), ref_future.result()

    if got.masked() != want.masked():
        pytest.fail(f"{describe(case)}: {ours.label} and {ref.label} answer differently\n"
                    + side_by_side(ours.label, render(got), ref.label, render(want)), pytrace=False)
    statuses = want.statuses()
    fits = len(statuses) == len(case.expect) and all(s in e.statuses for s, e in zip(statuses, case.expect))
    if not fits or want.end.startswith("[no end"):
        pytest.fail(f"{describe(case)}: both answered {statuses or 'nothing'}, {want.end}\n"
                    + "\n".join(render(want)), pytrace=False)
    assert ours.alive() and ref.alive()

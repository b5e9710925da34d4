"""The request corpus: raw HTTP request cases kept as text, loaded into bytes and a delivery plan.

    /usr/bin/python3 tests/corpus/corpus.py list            # name, expected statuses, size
    /usr/bin/python3 tests/corpus/corpus.py export DIR      # one file of request bytes per case

The format is described in tests/corpus/README.md. The black-box test test_corpus.py sends each
case to the chapter under test and to the reference chapter and compares the answers; the fuzz
target (tests/fuzz/) starts from the request bytes that `export` writes.
"""

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
STATUS = re.compile(r"^(\d{3}(?:\|\d{3})*)(:head)?$")
ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.|$)", re.DOTALL)
SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"s": b" ", b"0": b"\x00", b"\\": b"\\"}
MAX_PAUSE_MS = 1000  # a pause longer than this would run into the servers' timeouts


class CorpusError(Exception):
    pass


@dataclass
class Expected:
    """One expected response: the statuses allowed (usually one) and whether it has no body."""

    statuses: tuple
    head: bool = False

    def __str__(self):
        return "|".join(str(s) for s in self.statuses) + (":head" if self.head else "")


@dataclass
class Case:
    name: str
    source: str  # file:line, for messages
    pieces: list = field(default_factory=list)  # [bytes, pause in ms after it], in order
    expect: list = None  # [Expected], one per response, in order ([] for "@expect none")
    shut: bool = False  # half-close (SHUT_WR) once everything is sent
    trickle: tuple = None  # (bytes per piece, ms between pieces), or None

    @property
    def data(self):
        """Every byte the case sends, joined."""
        return b"".join(piece for piece, _ in self.pieces)

    def schedule(self):
        """The delivery as [(bytes, pause after in seconds)], with trickling applied."""
        plan = []
        for piece, pause in self.pieces:
            if self.trickle and piece:
                size, gap = self.trickle
                parts = [piece[i:i + size] for i in range(0, len(piece), size)]
                plan += [(part, gap / 1000) for part in parts[:-1]]
                plan.append((parts[-1], pause / 1000))
            else:
                plan.append((piece, pause / 1000))
        return plan

    def total_pause(self):
        return sum(pause for _, pause in self.schedule())


def unescape(text, where):
    def replace(match):
        code = match.group(1)
        if code.startswith(b"x") and len(code) == 3:
            return bytes([int(code[1:], 16)])
        if code in SIMPLE_ESCAPES:
            return SIMPLE_ESCAPES[code]
        raise CorpusError(f"{where}: unknown escape in {text!r} (known: \\r \\n \\t \\s \\0 \\\\ \\xHH)")

    return ESCAPE.sub(replace, text.encode("utf-8"))


def parse_file(path):
    cases = []
    case = None
    current = bytearray()  # bytes of the piece being built

    def finish_case():
        if case is None:
            return
        case.pieces.append([bytes(current), 0])
        case.pieces = [p for p in case.pieces if p[0] or p[1]]
        if case.expect is None:
            raise CorpusError(f"{case.source}: case {case.name} has no @expect line ('@expect none' for no answer)")
        cases.append(case)

    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        where = f"{path.name}:{number}"
        if line != line.rstrip(" \t"):
            raise CorpusError(f"{where}: trailing whitespace is ambiguous: write \\s or \\t")
        if line.startswith("#") or line == "":
            continue
        if line.startswith("==="):
            finish_case()
            name = line[3:].strip()
            if not NAME.match(name):
                raise CorpusError(f"{where}: bad case name {name!r}")
            case = Case(name=name, source=where)
            current = bytearray()
            continue
        if case is None:
            raise CorpusError(f"{where}: data before the first '=== name' line")
        if line.startswith("@"):
            word, _, rest = line[1:].partition(" ")
            if word == "expect":
                if case.expect is not None:
                    raise CorpusError(f"{where}: a second @expect line")
                case.expect = []
                if rest.strip() != "none":
                    for token in rest.split():
                        match = STATUS.match(token)
                        if not match:
                            raise CorpusError(f"{where}: bad status {token!r}")
                        statuses = tuple(int(s) for s in match.group(1).split("|"))
                        case.expect.append(Expected(statuses, bool(match.group(2))))
            elif word == "pause":
                ms = int(rest)
                if not 0 < ms <= MAX_PAUSE_MS:
                    raise CorpusError(f"{where}: pause must be 1..{MAX_PAUSE_MS} ms")
                case.pieces.append([bytes(current), ms])
                current = bytearray()
            elif word == "repeat":
                count, _, text = rest.partition(" ")
                current += unescape(text, where) * int(count)
            elif word == "trickle":
                size, gap = (int(v) for v in rest.split())
                if size < 1 or not 0 <= gap <= 50:
                    raise CorpusError(f"{where}: @trickle BYTES MS with BYTES >= 1 and MS <= 50")
                case.trickle = (size, gap)
            elif word == "shut":
                case.shut = True
            else:
                raise CorpusError(f"{where}: unknown directive @{word}")
            continue
        current += unescape(line, where)
    finish_case()
    return cases


def load(directory=CORPUS_DIR):
    """Every case of every *.cases file, in file order; names are unique."""
    cases = []
    for path in sorted(Path(directory).glob("*.cases")):
        cases += parse_file(path)
    seen = {}
    for case in cases:
        if case.name in seen:
            raise CorpusError(f"{case.source}: case name {case.name} is also used at {seen[case.name]}")
        seen[case.name] = case.source
        if case.trickle and len(case.data) // case.trickle[0] * case.trickle[1] > 3000:
            raise CorpusError(f"{case.source}: trickling {case.name} would take over 3 s")
    return cases


def main(argv):
    if len(argv) == 2 and argv[1] == "list":
        cases = load()
        for case in cases:
            expect = " ".join(str(e) for e in case.expect) or "none"
            print(f"{case.name:44} {expect:24} {len(case.data):>8} bytes")
        print(f"{len(cases)} cases")
        return 0
    if len(argv) == 3 and argv[1] == "export":
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        cases = load()
        for case in cases:
            (out / case.name).write_bytes(case.data)
        print(f"{len(cases)} requests written to {out}")
        return 0
    print(__doc__.strip().split("\n\n")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Exercise markers in the reference code: where they are, and the code with them resolved.

An exercise is written into a chapter's own code (its server.cpp, or another .cpp file of its
folder) as one or more regions:

    // [exercise:NAME solution]
    ...the reference code, compiled and tested like any other line...
    // [exercise:NAME start]
    // ...the simpler starting code, commented out...
    // [exercise:NAME end]

render() gives a file's text with the regions of one exercise turned into their starting code
and every other region into its solution, markers removed: the starting copy of an exercise
(scripts/exercise.py), and the code the book quotes (scripts/book.py, with no exercise).
"""

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MARKER = re.compile(
    r"^(?P<indent>[ \t]*)//\s*\[exercise:(?P<name>[a-z0-9][a-z0-9-]*) (?P<kind>solution|start|end)\]\s*$")
ANY_MARKER = re.compile(r"\[exercise:")


@dataclass
class Region:
    """One solution/start/end triple: line numbers (0-based) of its three markers."""

    path: Path
    name: str
    solution: int
    start: int
    end: int
    indent: str


def source_files():
    """Every file that may hold exercise markers: the chapters' and common/'s C++ files."""
    for pattern in ("chapters/*/*.cpp", "chapters/*/*.hpp", "common/*.cpp", "common/*.hpp"):
        yield from sorted(REPO.glob(pattern))


def parse_regions(path, errors):
    """(lines, regions) of one file; malformed markers are appended to errors."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    regions, open_marker = [], None  # open_marker: (kind, name, solution line, start line)

    def where(i):
        return f"{path.relative_to(REPO)}:{i + 1}"

    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            if ANY_MARKER.search(line):
                errors.append(f"{where(i)}: not a marker line: {line.strip()}")
            elif open_marker and open_marker[0] == "start" and line.strip() and not line.lstrip().startswith("//"):
                errors.append(f"{where(i)}: the starting code of '{open_marker[1]}' must be commented out")
            continue
        name, kind = match["name"], match["kind"]
        if kind == "solution":
            if open_marker:
                errors.append(f"{where(i)}: '{name}' opens inside '{open_marker[1]}' (regions do not nest)")
            open_marker = ("solution", name, i, None)
        elif kind == "start":
            if not open_marker or open_marker[:2] != ("solution", name):
                errors.append(f"{where(i)}: [exercise:{name} start] without its solution marker before it")
                open_marker = None
                continue
            open_marker = ("start", name, open_marker[2], i)
        else:
            if not open_marker or open_marker[:2] != ("start", name):
                errors.append(f"{where(i)}: [exercise:{name} end] without its start marker before it")
                open_marker = None
                continue
            regions.append(Region(path, name, open_marker[2], open_marker[3], i, match["indent"]))
            open_marker = None
    if open_marker:
        errors.append(f"{path.relative_to(REPO)}: region '{open_marker[1]}' is not closed")
    return lines, regions


def render(path, exercise=None):
    """The text of path with exercise scaffolding resolved: the regions of `exercise` become
    their starting code, every other region keeps its solution, and markers disappear."""
    errors = []
    lines, regions = parse_regions(path, errors)
    if errors:
        raise SystemExit("\n".join(errors))
    out, by_line = [], {}
    for region in regions:
        for i in range(region.solution, region.end + 1):
            by_line[i] = region
    for i, line in enumerate(lines):
        region = by_line.get(i)
        if region is None:
            out.append(line)
        elif region.name != exercise:
            if region.solution < i < region.start:
                out.append(line)
        elif i == region.solution:
            out.append(f"{region.indent}// >>> exercise {region.name}: your code replaces this part\n")
        elif region.start < i < region.end:
            out.append(re.sub(r"^([ \t]*)// ?", r"\1", line))
        elif i == region.end:
            out.append(f"{region.indent}// <<< exercise {region.name}\n")
    return "".join(out)

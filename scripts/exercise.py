#!/usr/bin/env python3
"""Exercises a learner can check: starting copies made from markers in the reference code.

    /usr/bin/python3 scripts/exercise.py list [CH]
    /usr/bin/python3 scripts/exercise.py start CH NAME [--build BUILD]    # make exercise CH=.. EX=..
    /usr/bin/python3 scripts/exercise.py check CH NAME [--build BUILD]    # make check CH=.. EX=..
    /usr/bin/python3 scripts/exercise.py verify [--build BUILD]           # make exercises-verify

An exercise is written into the reference code itself (a chapter's server.cpp, or a file of
common/ it touches), as one or more regions:

    // [exercise:NAME solution]
    ...the reference code, compiled and tested like any other line...
    // [exercise:NAME start]
    // ...the simpler starting code, commented out...
    // [exercise:NAME end]

The starting copy replaces each solution by its starting code (one level of "// " removed), so
each lives once: the solution as real code, the start as a comment. Its test is
tests/exercises/test_NN_NAME.py (hyphens become underscores), which also names its chapter; its
task is the item that starts with **`NAME`** in the chapter README's exercise list.
docs/exercises.md explains both sides: doing an exercise, and adding one.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGISTRY = REPO / "chapters" / "registry.json"
TESTS = REPO / "tests" / "exercises"
PYTEST = "/usr/bin/pytest-3"

MARKER = re.compile(
    r"^(?P<indent>[ \t]*)//\s*\[exercise:(?P<name>[a-z0-9][a-z0-9-]*) (?P<kind>solution|start|end)\]\s*$")
ANY_MARKER = re.compile(r"\[exercise:")
TEST_FILE = re.compile(r"^test_(?P<number>\d\d)_(?P<name>[a-z0-9_]+)\.py$")
README_ITEM = re.compile(r"^(?P<indent>\s*)(?:\d+\.|[-*])\s+\*\*`(?P<name>[a-z0-9][a-z0-9-]*)`\*\*")


def load_registry():
    import json

    with open(REGISTRY, encoding="utf-8") as f:
        return json.load(f)["chapters"]


@dataclass
class Region:
    """One solution/start/end triple: line numbers (0-based) of its three markers."""

    path: Path
    name: str
    solution: int
    start: int
    end: int
    indent: str


@dataclass
class Exercise:
    name: str
    chapter: str = ""  # the registry name, "01-iterative"
    regions: list = field(default_factory=list)
    test: Path | None = None
    task: str = ""  # the README item, markdown

    @property
    def number(self):
        return self.chapter[:2]

    @property
    def files(self):
        """The repository files this exercise touches, server.cpp first."""
        paths = sorted({r.path for r in self.regions}, key=lambda p: (p.name != "server.cpp", str(p)))
        return paths


def source_files():
    """Every file that may hold exercise markers: the chapters' and common/'s C++ files."""
    for pattern in ("chapters/*/*.cpp", "chapters/*/*.hpp", "common/*.cpp", "common/*.hpp"):
        yield from sorted(REPO.glob(pattern))


def parse_regions(path, errors):
    """The exercise regions of one file; malformed markers are appended to errors."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    regions, open_marker = [], None  # open_marker: (kind, name, solution line, start line)
    where = lambda i: f"{path.relative_to(REPO)}:{i + 1}"
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


def readme_items(readme):
    """{name: markdown text} for every exercise item of a chapter README."""
    if not readme.exists():
        return {}
    items, current, indent = {}, None, ""
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = README_ITEM.match(line)
        if match:
            current, indent = match["name"], match["indent"]
            items[current] = [line.strip()]
        elif current and line.strip() and (line.startswith(indent + "   ") or line.startswith(indent + "\t")):
            items[current].append(line.strip())
        elif current and not line.strip():
            continue
        else:
            current = None
    return {name: "\n".join(text) for name, text in items.items()}


def find_exercises():
    """({name: Exercise}, [errors]) for the whole repository."""
    errors = []
    chapters = {entry["name"][:2]: entry["name"] for entry in load_registry()}
    exercises = {}
    for path in source_files():
        _, regions = parse_regions(path, errors)
        for region in regions:
            exercise = exercises.setdefault(region.name, Exercise(region.name))
            exercise.regions.append(region)
            if path.parent.parent.name == "chapters":
                chapter = path.parent.name
                if exercise.chapter and exercise.chapter != chapter:
                    errors.append(f"exercise '{region.name}' has regions in two chapters")
                exercise.chapter = chapter
    for test in sorted(TESTS.glob("test_*.py")):
        match = TEST_FILE.match(test.name)
        if not match:
            errors.append(f"{test.relative_to(REPO)}: name it test_NN_name.py")
            continue
        name = match["name"].replace("_", "-")
        chapter = chapters.get(match["number"])
        if name not in exercises:
            errors.append(f"{test.relative_to(REPO)}: no [exercise:{name} ...] markers in the code")
            continue
        exercise = exercises[name]
        if chapter is None:
            errors.append(f"{test.relative_to(REPO)}: no chapter {match['number']} in the registry")
        elif exercise.chapter and exercise.chapter != chapter:
            errors.append(f"{test.relative_to(REPO)}: the markers of '{name}' are in {exercise.chapter}")
        else:
            exercise.chapter = chapter
        exercise.test = test
    for exercise in exercises.values():
        if not exercise.chapter:
            errors.append(f"exercise '{exercise.name}': no test file names its chapter "
                          f"(tests/exercises/test_NN_{exercise.name.replace('-', '_')}.py)")
            continue
        if exercise.test is None:
            errors.append(f"exercise '{exercise.name}': tests/exercises/test_{exercise.number}_"
                          f"{exercise.name.replace('-', '_')}.py is missing")
        exercise.task = readme_items(REPO / "chapters" / exercise.chapter / "README.md").get(exercise.name, "")
        if not exercise.task:
            errors.append(f"exercise '{exercise.name}': chapters/{exercise.chapter}/README.md has no "
                          f"item starting with **`{exercise.name}`** in its exercise list")
    return exercises, errors


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


def chapter_named(ch):
    """The registry name for CH=01, CH=1 or CH=01-iterative."""
    names = [entry["name"] for entry in load_registry()]
    wanted = ch.zfill(2) if ch.isdigit() else ch
    matches = [name for name in names if name == wanted or name.startswith(wanted + "-") or name.startswith(wanted)]
    if len(matches) != 1:
        raise SystemExit(f"no single chapter matches CH={ch}; chapters: {' '.join(names)}")
    return matches[0]


def get_exercise(ch, name):
    exercises, errors = find_exercises()
    chapter = chapter_named(ch)
    if name not in exercises or exercises[name].chapter != chapter:
        here = sorted(e.name for e in exercises.values() if e.chapter == chapter)
        raise SystemExit(f"chapter {chapter} has no exercise '{name}'; it has: {', '.join(here) or 'none yet'}")
    mine = [e for e in errors if f"'{name}'" in e]
    if mine:
        raise SystemExit("\n".join(mine))
    return exercises[name]


def common_library_sources():
    """The .cpp files of the common library, as common/CMakeLists.txt lists them."""
    text = (REPO / "common" / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r"add_library\(common\s+STATIC([^)]*)\)", text)
    if match:
        return [f"common/{word}" for word in match[1].split() if word.endswith(".cpp")]
    return [str(p.relative_to(REPO)) for p in sorted((REPO / "common").glob("*.cpp"))]


def cmake_lists(exercise, directory):
    """A CMakeLists.txt that builds the copy in `directory` against the repository's common/."""
    entry = next(e for e in load_registry() if e["name"] == exercise.chapter)
    repo = os.path.relpath(REPO, directory)
    copied = {str(p.relative_to(REPO)) for p in exercise.files if p.parent.name == "common"}
    sources = []
    for source in common_library_sources():
        sources.append(source if source in copied else f"${{REPO}}/{source}")
    links = " ".join(entry.get("link", []))
    source_list = "\n".join(f"  {source}" for source in sources)
    compiled = (f"add_library(common STATIC\n{source_list}\n)\n"
                "# This directory first: a common/ header copied here wins over the repository's.\n"
                "target_include_directories(common PUBLIC ${CMAKE_CURRENT_SOURCE_DIR} ${REPO})\n"
                'target_compile_definitions(common PUBLIC PROGRESSIVE_DEFAULT_DOCROOT="${PROGRESSIVE_DOCROOT}")\n'
                "find_package(Threads REQUIRED)\n"
                "target_link_libraries(common PUBLIC Threads::Threads)")
    if copied:
        common_block = compiled
    else:
        # No file of common/ is copied here: the reference build's library will do, which saves
        # compiling it again (make check and make exercises-verify pass its path).
        imported = ("add_library(common STATIC IMPORTED)\n"
                    "set_target_properties(common PROPERTIES IMPORTED_LOCATION ${EXERCISE_COMMON_LIBRARY})\n"
                    "target_include_directories(common INTERFACE ${REPO})\n"
                    'target_compile_definitions(common INTERFACE PROGRESSIVE_DEFAULT_DOCROOT="${PROGRESSIVE_DOCROOT}")\n'
                    "find_package(Threads REQUIRED)\n"
                    "target_link_libraries(common INTERFACE Threads::Threads)")
        indent = lambda text: "\n".join("  " + line if line else line for line in text.split("\n"))
        common_block = ('set(EXERCISE_COMMON_LIBRARY "" CACHE FILEPATH\n'
                        '    "A libcommon.a built from the same sources and flags: linked instead of compiling common/")\n'
                        f"if(EXERCISE_COMMON_LIBRARY)\n{indent(imported)}\nelse()\n{indent(compiled)}\nendif()")
    return f"""# Written by `make exercise`: builds this copy of {exercise.chapter} against the repository's
# common/. Files copied here (server.cpp, and any common/ file the exercise touches) replace the
# repository's own. `make check` configures and builds it into build/.
cmake_minimum_required(VERSION 3.22)
project(exercise_{exercise.name.replace('-', '_')} LANGUAGES CXX)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()
get_filename_component(REPO "${{CMAKE_CURRENT_SOURCE_DIR}}/{repo}" ABSOLUTE)
set(PROGRESSIVE_DOCROOT "${{REPO}}/build/www" CACHE PATH "The docroot served without --docroot")
option(PROGRESSIVE_WERROR "Treat compiler warnings as errors" OFF)
set(PROGRESSIVE_SANITIZE "" CACHE STRING "'address', 'thread', or empty")
include(${{REPO}}/scripts/compile_flags.cmake)  # the repository's own flags

{common_block}

add_executable({exercise.chapter} server.cpp)
target_link_libraries({exercise.chapter} PRIVATE common {links})
set_target_properties({exercise.chapter} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${{CMAKE_BINARY_DIR}}/bin)
"""


def write_copy(exercise, directory):
    """Writes the starting copy of `exercise` into `directory` (which must not exist)."""
    directory.mkdir(parents=True)
    server = REPO / "chapters" / exercise.chapter / "server.cpp"
    (directory / "server.cpp").write_text(render(server, exercise.name), encoding="utf-8")
    for path in exercise.files:
        if path.parent.name == "common":
            (directory / "common").mkdir(exist_ok=True)
            (directory / "common" / path.name).write_text(render(path, exercise.name), encoding="utf-8")
        elif path != server:
            (directory / path.name).write_text(render(path, exercise.name), encoding="utf-8")
    (directory / "CMakeLists.txt").write_text(cmake_lists(exercise, directory), encoding="utf-8")
    (directory / "TASK.md").write_text(
        f"# Exercise {exercise.name} (chapter {exercise.chapter})\n\n{task_text(exercise)}\n\n"
        f"Check it with `make check CH={exercise.number} EX={exercise.name}` from the repository root.\n",
        encoding="utf-8")


def task_text(exercise):
    """The README item without its list number: the task, as markdown."""
    return re.sub(r"^\s*(?:\d+\.|[-*])\s+", "", exercise.task)


def copy_dir(exercise):
    return REPO / "exercises" / exercise.chapter / exercise.name


def touched(exercise, directory):
    """The files of the copy the learner edits, relative to the repository root."""
    names = ["server.cpp"] if any(p.name == "server.cpp" for p in exercise.files) else []
    names += [f"common/{p.name}" for p in exercise.files if p.parent.name == "common"]
    return [str((directory / n).relative_to(REPO)) for n in names]


def build(directory, build_dir, build_root, werror=False, sanitize="", quiet=False):
    """Configures and builds a copy against the reference build in build_root: its docroot, and
    its common library when the copy has no common/ file of its own. True on success."""
    library = build_root / "common" / "libcommon.a"
    configure = ["cmake", "-S", str(directory), "-B", str(build_dir), "--log-level=WARNING",
                 f"-DPROGRESSIVE_DOCROOT={build_root / 'www'}",
                 f"-DPROGRESSIVE_WERROR={'ON' if werror else 'OFF'}", f"-DPROGRESSIVE_SANITIZE={sanitize}",
                 f"-DEXERCISE_COMMON_LIBRARY={library if library.exists() and not sanitize else ''}"]
    compile_ = ["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)]
    output = subprocess.DEVNULL if quiet else None
    for command in (configure, compile_):
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT if quiet else None)
        if result.returncode != 0:
            return False
    return True


def pytest(args, junit=None, capture=False):
    """Runs Debian's pytest; returns (exit code, output or None, (passed, failed, skipped))."""
    command = [PYTEST, "-p", "no:cacheprovider", *args]
    if junit:
        command += ["--junitxml", str(junit)]
    result = subprocess.run(command, cwd=REPO, capture_output=capture, text=True)
    counts = (0, 0, 0)
    if junit and Path(junit).exists():
        # Per test case: a failure in the test and an error in its teardown count once.
        outcome = []
        for case in ET.parse(junit).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                outcome.append("failed")
            else:
                outcome.append("skipped" if case.find("skipped") is not None else "passed")
        counts = (outcome.count("passed"), outcome.count("failed"), outcome.count("skipped"))
    return result.returncode, (result.stdout + result.stderr) if capture else None, counts


# --- the commands ----------------------------------------------------------------------------


def cmd_list(args):
    exercises, errors = find_exercises()
    chapter = chapter_named(args.chapter) if args.chapter else None
    shown = [e for e in exercises.values() if e.chapter and (chapter is None or e.chapter == chapter)]
    if not shown:
        print(f"no exercises yet{' in ' + chapter if chapter else ''}")
    for exercise in sorted(shown, key=lambda e: (e.chapter, e.name)):
        text = re.sub(r"^\S+\s+\*\*`[^`]+`\*\*\s*(\([^)]*\))?[:.]?\s*", "", exercise.task.replace("\n", " "))
        first = re.split(r"(?<=[.:])\s", text, maxsplit=1)[0]
        print(f"  make exercise CH={exercise.number} EX={exercise.name:<18} {first}")
    for error in errors:
        print(f"warning: {error}", file=sys.stderr)
    return 0


def cmd_start(args):
    exercise = get_exercise(args.chapter, args.name)
    directory = copy_dir(exercise)
    if directory.exists():
        print(f"{directory.relative_to(REPO)}/ already exists: it may hold your work, so it is left as it is.")
        print(f"To start again: rm -r {directory.relative_to(REPO)}")
        return 1
    write_copy(exercise, directory)
    rel = directory.relative_to(REPO)
    print(f"Wrote {rel}/: a copy of {exercise.chapter} with the reference code of this exercise")
    print("replaced by a simpler start.\n")
    for line in task_text(exercise).splitlines():
        print(f"    {line}")
    print(f"\nEdit {' and '.join(touched(exercise, directory))}: the part to change lies between the")
    print(f"'>>> exercise {exercise.name}' and '<<< exercise {exercise.name}' lines. Then:\n")
    print(f"    make check CH={exercise.number} EX={exercise.name}")
    print("\nbuilds your copy and runs the exercise's tests, then the chapter's black-box suite.")
    print(f"Run your server by hand with {rel}/build/bin/{exercise.chapter} --port 8080 (after a check).")
    return 0


def cmd_check(args):
    exercise = get_exercise(args.chapter, args.name)
    directory = copy_dir(exercise)
    rel = directory.relative_to(REPO)
    if not directory.exists():
        print(f"{rel}/ does not exist yet: make exercise CH={exercise.number} EX={exercise.name}")
        return 2
    build_root = (REPO / args.build).resolve()
    docroot = build_root / "www"
    print(f"== building {rel}/")
    if not build(directory, directory / "build", build_root, sanitize=args.sanitize):
        print(f"\nYour copy does not build: fix the errors above in {' '.join(touched(exercise, directory))}.")
        return 1
    # The reference build's binaries serve as the corpus reference (chapter 01) and the load generator.
    common = ["--bindir", str(directory / "build" / "bin"), "--refbindir", str(build_root / "bin"),
              "--docroot", str(docroot), "--chapter", exercise.chapter]
    print(f"\n== the exercise's tests: {exercise.test.relative_to(REPO)}")
    code, _, mine = pytest(["-q", "-rA", str(exercise.test), *common], junit=directory / "build" / "exercise.xml")
    suite = (0, 0, 0)
    if not args.exercise_only:
        print("\n== the chapter's black-box suite (tests/blackbox) against your copy")
        suite_code, _, suite = pytest(["-q", "-rfE", str(REPO / "tests" / "blackbox"), *common],
                                      junit=directory / "build" / "suite.xml")
    print(f"\nExercise {exercise.name} ({exercise.chapter})")
    print(f"  exercise tests  {mine[0]} passed, {mine[1]} failed")
    if not args.exercise_only:
        print(f"  chapter suite   {suite[0]} passed, {suite[1]} failed, {suite[2]} skipped")
    solved = code == 0 and mine[0] > 0 and (args.exercise_only or suite[1] == 0 and suite_code == 0)
    if solved:
        print("Solved: the exercise's tests pass" + ("." if args.exercise_only else ", and so does the chapter's suite."))
        return 0
    if code == 0 and mine[0] > 0:
        print("The exercise's tests pass, but the chapter's suite does not: the failures above say what broke.")
    else:
        print("Not yet: the failing tests above say what is missing (each test's docstring says what it checks).")
    return 1


def cmd_verify(args):
    """Every exercise: the start builds (warnings are errors) and fails its tests; the reference passes them."""
    exercises, errors = find_exercises()
    build_root = (REPO / args.build).resolve()
    docroot, bindir = build_root / "www", build_root / "bin"
    if not (docroot / "big.bin").exists():
        errors.append(f"{docroot}/big.bin is missing: build the reference first (make BUILD={args.build})")
    for error in errors:
        print(f"error: {error}")
    if errors:
        return 1
    results = []
    for exercise in sorted(exercises.values(), key=lambda e: (e.chapter, e.name)):
        label = f"{exercise.chapter}/{exercise.name}"
        common = ["--docroot", str(docroot), "--refbindir", str(bindir), "--chapter", exercise.chapter]
        directory = build_root / "exercises-verify" / exercise.chapter / exercise.name
        shutil.rmtree(directory, ignore_errors=True)
        write_copy(exercise, directory)
        problems = []
        if all(render(path, exercise.name) == render(path) for path in exercise.files):
            problems.append("the starting copy is identical to the reference")
        print(f"== {label}: building the starting copy", flush=True)
        if not build(directory, directory / "build", build_root, werror=True, quiet=True):
            problems.append(f"the starting copy does not build (cmake --build {directory / 'build'})")
        else:
            code, output, counts = pytest(["-q", str(exercise.test), "--bindir", str(directory / "build" / "bin"), *common],
                                          junit=directory / "start.xml", capture=True)
            if code != 1 or counts[1] == 0:
                problems.append(f"the starting copy should fail its tests (pytest exit {code}, "
                                f"{counts[0]} passed, {counts[1]} failed)")
                print(output)
            else:
                print(f"   start:     {counts[1]} failed, {counts[0]} passed (as it should)")
        code, output, counts = pytest(["-q", str(exercise.test), "--bindir", str(bindir), *common],
                                      junit=directory / "reference.xml", capture=True)
        if code != 0 or counts[0] == 0:
            problems.append(f"the reference should pass its tests (pytest exit {code}, {counts[1]} failed)")
            print(output)
        else:
            print(f"   reference: {counts[0]} passed (as it should)")
        results.append((label, problems))
    print("\nexercises-verify")
    for label, problems in results:
        print(f"  {'ok  ' if not problems else 'FAIL'}  {label}" + "".join(f"\n        {p}" for p in problems))
    failed = sum(1 for _, problems in results if problems)
    print(f"exercises-verify: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the exercises (of one chapter)")
    p.add_argument("chapter", nargs="?")
    p.set_defaults(run=cmd_list)
    for name, run, text in (("start", cmd_start, "write a starting copy under exercises/"),
                            ("check", cmd_check, "build the copy and run its tests")):
        p = sub.add_parser(name, help=text)
        p.add_argument("chapter")
        p.add_argument("name")
        p.add_argument("--build", default="build", help="the reference build directory (for its docroot)")
        p.add_argument("--sanitize", default="", help="check: 'address' or 'thread' build")
        p.add_argument("--exercise-only", action="store_true", help="check: skip the chapter's suite")
        p.set_defaults(run=run)
    p = sub.add_parser("verify", help="every start fails its tests, every reference passes them")
    p.add_argument("--build", default="build")
    p.set_defaults(run=cmd_verify)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the output of cmake and pytest
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

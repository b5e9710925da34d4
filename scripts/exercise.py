#!/usr/bin/env python3
"""Exercises a learner can check: starting copies made from markers in the reference code.

    /usr/bin/python3 scripts/exercise.py list [CH]                        # make exercise CH=..
    /usr/bin/python3 scripts/exercise.py start CH NAME [--build BUILD]    # make exercise CH=.. EX=..
    /usr/bin/python3 scripts/exercise.py check CH NAME [--build BUILD]    # make check CH=.. EX=..
    /usr/bin/python3 scripts/exercise.py verify [--build BUILD]           # make exercises-verify

An exercise lives in its chapter's own code as marked regions (scripts/markers.py): the solution
as real code, the start as a comment next to it. Its test is tests/exercises/test_NN_NAME.py
(hyphens become underscores), which also names its chapter; its task is the item that starts
with **`NAME`** in the chapter README's exercise list. docs/exercises.md explains both sides:
doing an exercise, and adding one.
"""

import argparse
import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markers import REPO, parse_regions, render, source_files  # noqa: E402
from serverlib import load_registry  # noqa: E402

TESTS = REPO / "tests" / "exercises"
BLACKBOX = REPO / "tests" / "blackbox"
PYTEST = "/usr/bin/pytest-3"
# make exercises-verify stops what runs too long: a build step (configure, compile) after
# BUILD_LIMIT seconds, a pytest run after RUN_LIMIT. A starting copy is broken on purpose, and a
# broken server may hang instead of failing. Each test has a limit of its own (120 s,
# tests/exercises/pytest.ini), so RUN_LIMIT must outlast every test of one file timing out:
# the largest has 4 tests.
BUILD_LIMIT = 300
RUN_LIMIT = 900

TEST_FILE = re.compile(r"^test_(?P<number>\d\d)_(?P<name>[a-z0-9_]+)\.py$")
README_ITEM = re.compile(r"^(?P<indent>\s*)(?:\d+\.|[-*])\s+\*\*`(?P<name>[a-z0-9][a-z0-9-]*)`\*\*")


def registry_entry(chapter):
    return next(e for e in load_registry() if e["name"] == chapter)


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
        """The files this exercise touches, server.cpp first."""
        return sorted({r.path for r in self.regions}, key=lambda p: (p.name != "server.cpp", p.name))


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
            where = path.relative_to(REPO)
            if path.parent.parent.name != "chapters" or path.suffix != ".cpp":
                errors.append(f"{where}: exercise '{region.name}': regions live in a .cpp file of their chapter's folder")
                continue
            exercise = exercises.setdefault(region.name, Exercise(region.name))
            if exercise.chapter and exercise.chapter != path.parent.name:
                errors.append(f"exercise '{region.name}' has regions in two chapters")
            exercise.chapter = path.parent.name
            exercise.regions.append(region)
    for test in sorted(TESTS.glob("test_*.py")):
        match = TEST_FILE.match(test.name)
        if not match:
            errors.append(f"{test.relative_to(REPO)}: name it test_NN_name.py")
            continue
        name = match["name"].replace("_", "-")
        if name not in exercises:
            errors.append(f"{test.relative_to(REPO)}: no [exercise:{name} ...] markers in the code")
        elif chapters.get(match["number"]) != exercises[name].chapter:
            errors.append(f"{test.relative_to(REPO)}: the markers of '{name}' are in {exercises[name].chapter}")
        else:
            exercises[name].test = test
    for exercise in exercises.values():
        if exercise.test is None:
            errors.append(f"exercise '{exercise.name}': tests/exercises/test_{exercise.number}_"
                          f"{exercise.name.replace('-', '_')}.py is missing")
        exercise.task = readme_items(REPO / "chapters" / exercise.chapter / "README.md").get(exercise.name, "")
        if not exercise.task:
            errors.append(f"exercise '{exercise.name}': chapters/{exercise.chapter}/README.md has no "
                          f"item starting with **`{exercise.name}`** in its exercise list")
    return exercises, errors


def chapter_named(ch):
    """The registry name for CH=01, CH=1 or CH=01-iterative."""
    names = [entry["name"] for entry in load_registry()]
    wanted = ch.zfill(2) if ch.isdigit() else ch
    matches = [name for name in names if name == wanted or name.startswith(wanted + "-")]
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


# --- the copy ---------------------------------------------------------------------------------


def library_sources(chapter):
    """The files of a chapter's library ("library" in the registry), relative to the repository."""
    return [f"chapters/{chapter}/{source}" for source in registry_entry(chapter).get("library", [])]


def models_under(chapter):
    """The chapters `chapter` builds on, directly or through another, each after those it needs."""
    order = []

    def visit(name):
        for earlier in registry_entry(name).get("builds_on", []):
            if earlier not in order:
                visit(earlier)
                order.append(earlier)

    visit(chapter)
    return order


def common_sources():
    """The .cpp files of the common library, as common/CMakeLists.txt lists them."""
    text = (REPO / "common" / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r"add_library\(common\s+STATIC([^)]*)\)", text)
    return [f"common/{word}" for word in match[1].split() if word.endswith(".cpp")]


CMAKE_HEAD = """\
# Written by `make exercise`: builds this copy of {chapter} against the repository. The files
# here replace the repository's own; everything else is linked from the reference build (or
# compiled from the repository's sources, for a sanitizer build). `make check` builds it.
cmake_minimum_required(VERSION 3.22)
project(exercise_{ident} LANGUAGES CXX)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()
get_filename_component(REPO "${{CMAKE_CURRENT_SOURCE_DIR}}/{repo}" ABSOLUTE)
set(REFERENCE_BUILD "${{REPO}}/build" CACHE PATH "The repository's build: its libraries and docroot")
set(PROGRESSIVE_DOCROOT "${{REFERENCE_BUILD}}/www" CACHE PATH "The docroot served without --docroot")
option(PROGRESSIVE_WERROR "Treat compiler warnings as errors" OFF)
set(PROGRESSIVE_SANITIZE "" CACHE STRING "'address', 'thread', or empty")
include(${{REPO}}/scripts/compile_flags.cmake)  # the repository's own flags
find_package(Threads REQUIRED)

# A library of the repository: the reference build's archive when this copy changes none of its
# sources (and no sanitizer is asked for), otherwise compiled here from SOURCES.
function(reference_library name archive)
  cmake_parse_arguments(LIB "" "" "SOURCES;LINK" ${{ARGN}})
  if(archive AND EXISTS "${{REFERENCE_BUILD}}/${{archive}}" AND NOT PROGRESSIVE_SANITIZE)
    add_library(${{name}} STATIC IMPORTED)
    set_target_properties(${{name}} PROPERTIES IMPORTED_LOCATION "${{REFERENCE_BUILD}}/${{archive}}")
    set(scope INTERFACE)
  else()
    add_library(${{name}} STATIC ${{LIB_SOURCES}})
    set(scope PUBLIC)
  endif()
  target_include_directories(${{name}} ${{scope}} ${{REPO}})
  target_compile_definitions(${{name}} ${{scope}} PROGRESSIVE_DEFAULT_DOCROOT="${{PROGRESSIVE_DOCROOT}}")
  target_link_libraries(${{name}} ${{scope}} ${{LIB_LINK}} Threads::Threads)
endfunction()
"""


def cmake_lists(exercise, directory):
    """A CMakeLists.txt that builds the copy in `directory` against the repository."""
    entry = registry_entry(exercise.chapter)
    copied = {str(p.relative_to(REPO)) for p in exercise.files}

    def sources(paths):
        return " ".join(Path(p).name if p in copied else f"${{REPO}}/{p}" for p in paths)

    lines = [CMAKE_HEAD.format(chapter=exercise.chapter, ident=exercise.name.replace("-", "_"),
                               repo=os.path.relpath(REPO, directory))]
    lines.append(f"reference_library(common common/libcommon.a SOURCES {sources(common_sources())})")
    libraries = ["common"]
    for chapter in [*models_under(exercise.chapter), exercise.chapter]:
        own = library_sources(chapter)
        if not own:
            continue
        archive = "" if copied & set(own) else f"chapters/lib{chapter}-library.a"
        # A model built on an earlier one links that one's library too (chapters/CMakeLists.txt).
        deps = " ".join(["common", *(f"{c}-library" for c in registry_entry(chapter).get("builds_on", [])
                                     if library_sources(c))])
        lines.append(f'reference_library({chapter}-library "{archive}" SOURCES {sources(own)} LINK {deps})')
        libraries.append(f"{chapter}-library")
    links = " ".join([*libraries, *entry.get("link", [])])
    lines.append(f"\nadd_executable({exercise.chapter} server.cpp)")
    lines.append(f"target_link_libraries({exercise.chapter} PRIVATE {links})")
    lines.append(f"set_target_properties({exercise.chapter} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "
                 "${CMAKE_BINARY_DIR}/bin)\n")
    return "\n".join(lines)


def write_copy(exercise, directory):
    """Writes the starting copy of `exercise` into `directory` (which must not exist)."""
    directory.mkdir(parents=True)
    server = REPO / "chapters" / exercise.chapter / "server.cpp"
    for path in {server, *exercise.files}:
        (directory / path.name).write_text(render(path, exercise.name), encoding="utf-8")
    (directory / "CMakeLists.txt").write_text(cmake_lists(exercise, directory), encoding="utf-8")
    (directory / "TASK.md").write_text(
        f"# Exercise {exercise.name} (chapter {exercise.chapter})\n\n{task_text(exercise)}\n\n"
        f"Edit {' and '.join(p.name for p in exercise.files)} here, then check it with "
        f"`make check CH={exercise.number} EX={exercise.name}` from the repository root.\n",
        encoding="utf-8")


def task_text(exercise):
    """The README item without its list number: the task, as markdown."""
    return re.sub(r"^\s*(?:\d+\.|[-*])\s+", "", exercise.task)


def copy_dir(exercise):
    return REPO / "exercises" / exercise.chapter / exercise.name


def build(directory, build_root, werror=False, sanitize="", quiet=False):
    """Configures and builds a copy into directory/build, against the reference build in
    build_root. True on success."""
    build_dir = directory / "build"
    configure = ["cmake", "-S", str(directory), "-B", str(build_dir), "--log-level=WARNING",
                 f"-DREFERENCE_BUILD={build_root}", f"-DPROGRESSIVE_DOCROOT={build_root / 'www'}",
                 f"-DPROGRESSIVE_WERROR={'ON' if werror else 'OFF'}", f"-DPROGRESSIVE_SANITIZE={sanitize}"]
    compile_ = ["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)]
    for command in (configure, compile_):
        if quiet:
            code, output = run_captured(command, BUILD_LIMIT)
            if code != 0:
                print(output)
        else:
            code = subprocess.run(command).returncode
        if code != 0:
            return False
    return True


# --- running the tests ------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    passed: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # (test name, first line of its failure)
    skipped: list = field(default_factory=list)
    output: str = ""


def run_captured(command, limit):
    """Runs command in a process group of its own, its output captured: (exit code, output). A
    run still going after limit seconds is killed with everything it started (the servers of a
    pytest run among them), and its exit code is None. Whatever it leaves running when it ends,
    or when this script is interrupted, is killed too."""
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=limit)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            output, _ = proc.communicate(timeout=30)
            return None, output + f"\n(killed after {limit} s)"
        except BaseException:  # Ctrl-C, or SIGTERM (see main): the group is not in ours
            kill_group(proc.pid)
            raise
        kill_group(proc.pid)
        return code, output


def kill_group(group):
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing of it is left


def pytest(args, junit, capture=False, limit=None):
    """Runs Debian's pytest, its output captured when capture is set (and then killed, with its
    servers, after limit seconds). A test counts once, even when its teardown fails too (pytest
    writes a second <testcase> for that)."""
    command = [PYTEST, "-p", "no:cacheprovider", *args, "--junitxml", str(junit)]
    if capture:
        code, output = run_captured(command, limit)
    else:
        code, output = subprocess.run(command, cwd=REPO).returncode, ""
    outcome = Outcome(code, output=output)
    cases = {}
    if code is not None and Path(junit).exists():  # a killed run may have left half a file
        for case in ET.parse(junit).getroot().iter("testcase"):
            key = (case.get("classname"), case.get("name"))
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            state = cases.setdefault(key, ["passed", ""])
            if problem is not None and state[0] != "failed":
                state[:] = ["failed", (problem.get("message") or "").strip().split("\n")[0]]
            elif case.find("skipped") is not None and state[0] == "passed":
                state[0] = "skipped"
    for (_, name), (state, message) in cases.items():
        if state == "failed":
            outcome.failed.append((name, message))
        else:
            getattr(outcome, state).append(name)
    return outcome


def docstrings(test_file):
    """{test function name: the first paragraph of its docstring, in one line}, following
    `from module import test_x` into the black-box suite, whose tests some exercises reuse."""
    found = {}
    tree = ast.parse(test_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            found[node.name] = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
        elif isinstance(node, ast.ImportFrom) and node.module and (BLACKBOX / f"{node.module}.py").exists():
            theirs = docstrings(BLACKBOX / f"{node.module}.py")
            found.update({alias.name: theirs.get(alias.name, "") for alias in node.names})
    return found


BYTES = re.compile(r"""b(['"])(?:\\.|(?!\1).){40,}?\1""")


def short_bytes(text):
    """Long bytes literals in a failure message, each as its length: the words are the lesson,
    the bytes are there on request (make check BYTES=1)."""
    return BYTES.sub(lambda m: f"<{len(m.group(0)) - 3} bytes: BYTES=1 shows them>", text)


def explain_failures(exercise, outcome, show_bytes=False):
    """What each failing test checks, in full, and what it saw."""
    explained = docstrings(exercise.test)
    for name, message in outcome.failed:
        plain = name.split("[")[0]
        print(f"  FAILED {plain}")
        for label, text in (("checks:", explained.get(plain, "")),
                            ("saw:", message if show_bytes else short_bytes(message))):
            if text:
                print(textwrap.fill(text, width=100, initial_indent=f"         {label:<8}",
                                    subsequent_indent=" " * 17))


# --- the commands -----------------------------------------------------------------------------


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
    rel = directory.relative_to(REPO)
    if directory.exists():
        print(f"{rel}/ already exists: it may hold your work, so it is left as it is.")
        print(f"To start again: rm -r {rel}")
        return 1
    write_copy(exercise, directory)
    print(f"Wrote {rel}/: a copy of {exercise.chapter} with the reference code of this exercise")
    print("replaced by a simpler start.\n")
    for line in task_text(exercise).splitlines():
        print(f"    {line}")
    edit = " and ".join(f"{rel}/{p.name}" for p in exercise.files)
    print(f"\nEdit {edit}: the part to change lies between the")
    print(f"'>>> exercise {exercise.name}' and '<<< exercise {exercise.name}' lines.")
    print(f"\n== building the starting copy into {rel}/build/")
    if not build(directory, (REPO / args.build).resolve(), quiet=True):
        print("The starting copy does not build: the errors are above.")
        return 1
    print(f"Built. Run it as {rel}/build/bin/{exercise.chapter} --port 8080 to see what the start does;")
    print(f"check your work with\n\n    make check CH={exercise.number} EX={exercise.name}\n")
    print("which builds your copy and runs the exercise's tests, then, once they pass, the chapter's suite.")
    print(f"The solution is the chapter's own code: git diff --no-index chapters/{exercise.chapter}/"
          f"{exercise.files[0].name} {rel}/{exercise.files[0].name} (try first).")
    return 0


def cmd_check(args):
    exercise = get_exercise(args.chapter, args.name)
    directory = copy_dir(exercise)
    rel = directory.relative_to(REPO)
    if not directory.exists():
        print(f"{rel}/ does not exist yet: make exercise CH={exercise.number} EX={exercise.name}")
        return 2
    build_root = (REPO / args.build).resolve()
    print(f"== building {rel}/")
    if not build(directory, build_root, sanitize=args.sanitize):
        print(f"\nYour copy does not build: fix the errors above in {' '.join(p.name for p in exercise.files)}.")
        return 1
    # The reference build's binaries serve as the corpus reference (chapter 01) and the load generator.
    common = ["--bindir", str(directory / "build" / "bin"), "--refbindir", str(build_root / "bin"),
              "--docroot", str(build_root / "www"), "--chapter", exercise.chapter]
    if args.sanitize:
        common += ["--sanitizer", args.sanitize]
    print(f"\n== the exercise's tests: {exercise.test.relative_to(REPO)}")
    mine = pytest(["-q", "--tb=short", str(exercise.test), *common], junit=directory / "build" / "exercise.xml")
    solved_mine = mine.code == 0 and mine.passed and not mine.failed
    suite = None
    if solved_mine or args.suite:
        print("\n== the chapter's black-box suite (tests/blackbox) against your copy")
        suite = pytest(["-q", "-rfE", "--tb=short", str(BLACKBOX), *common], junit=directory / "build" / "suite.xml")
    print(f"\nExercise {exercise.name} ({exercise.chapter})")
    print(f"  exercise tests  {len(mine.passed)} passed, {len(mine.failed)} failed")
    if suite is not None:
        print(f"  chapter suite   {len(suite.passed)} passed, {len(suite.failed)} failed, {len(suite.skipped)} skipped")
    if not solved_mine:
        explain_failures(exercise, mine, args.bytes)
        print("Not yet: the tests above say what is missing." +
              ("" if args.suite else " The chapter's suite runs once they pass (SUITE=1 runs it anyway)."))
        return 1
    if suite.code == 0 and not suite.failed:
        print("Solved: the exercise's tests pass, and so does the chapter's suite.")
        return 0
    print("The exercise's tests pass, but the chapter's suite does not: the failures above say what broke.")
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
    began = time.monotonic()
    for exercise in sorted(exercises.values(), key=lambda e: (e.chapter, e.name)):
        label = f"{exercise.chapter}/{exercise.name}"
        started = time.monotonic()
        common = ["--docroot", str(docroot), "--refbindir", str(bindir), "--chapter", exercise.chapter]
        directory = build_root / "exercises-verify" / exercise.chapter / exercise.name
        shutil.rmtree(directory, ignore_errors=True)
        write_copy(exercise, directory)
        problems = []
        if all(render(path, exercise.name) == render(path) for path in exercise.files):
            problems.append("the starting copy is identical to the reference")
        print(f"== {label}: building the starting copy", flush=True)
        if not build(directory, build_root, werror=True, quiet=True):
            problems.append(f"the starting copy does not build (cmake --build {directory / 'build'})")
        else:
            start = pytest(["-q", str(exercise.test), "--bindir", str(directory / "build" / "bin"), *common],
                           junit=directory / "start.xml", capture=True, limit=RUN_LIMIT)
            if start.code != 1 or not start.failed:
                problems.append(f"the starting copy should fail its tests (pytest exit {start.code}, "
                                f"{len(start.passed)} passed, {len(start.failed)} failed)")
                print(start.output)
            else:
                print(f"   start:     {len(start.failed)} failed, {len(start.passed)} passed (as it should)")
        reference = pytest(["-q", str(exercise.test), "--bindir", str(bindir), *common],
                           junit=directory / "reference.xml", capture=True, limit=RUN_LIMIT)
        if reference.code != 0 or not reference.passed:
            problems.append(f"the reference should pass its tests (pytest exit {reference.code}, "
                            f"{len(reference.failed)} failed)")
            print(reference.output)
        else:
            print(f"   reference: {len(reference.passed)} passed (as it should)")
        print(f"   {time.monotonic() - started:.0f} s ({time.monotonic() - began:.0f} s in all)", flush=True)
        results.append((label, problems))
    print("\nexercises-verify")
    for label, problems in results:
        print(f"  {'ok  ' if not problems else 'FAIL'}  {label}" + "".join(f"\n        {p}" for p in problems))
    failed = sum(1 for _, problems in results if problems)
    print(f"exercises-verify: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `make exercise | head` ends quietly
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # run_captured cleans up
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the exercises (of one chapter)")
    p.add_argument("chapter", nargs="?")
    p.set_defaults(run=cmd_list)
    for name, run, text in (("start", cmd_start, "write and build a starting copy under exercises/"),
                            ("check", cmd_check, "build the copy and run its tests")):
        p = sub.add_parser(name, help=text)
        p.add_argument("chapter")
        p.add_argument("name")
        p.add_argument("--build", default="build", help="the reference build directory")
        p.add_argument("--sanitize", default="", help="check: 'address' or 'thread' build")
        p.add_argument("--suite", action="store_true", help="check: run the chapter's suite even if the exercise's tests fail")
        p.add_argument("--bytes", action="store_true", help="check: show the bytes a failure quotes, in full")
        p.set_defaults(run=run)
    p = sub.add_parser("verify", help="every start fails its tests, every reference passes them")
    p.add_argument("--build", default="build")
    p.set_defaults(run=cmd_verify)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the output of cmake and pytest
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

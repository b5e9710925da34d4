"""pytest wiring: one parameter, the chapter, for every test in this directory.

    pytest-3 tests/blackbox --bindir build/bin --docroot build/www [--chapter 01-iterative]

Without --chapter every chapter of the registry is tested. No test names a chapter: tests ask
the `chapter` fixture what the model claims (chapter.caps) and check that claim, either way.
"""

import signal
from pathlib import Path

import pytest

import harness


def pytest_addoption(parser):
    parser.addoption("--bindir", default=str(harness.ROOT / "build" / "bin"), help="where the chapter binaries are")
    parser.addoption("--docroot", default=str(harness.ROOT / "build" / "www"), help="the docroot with big.bin")
    parser.addoption("--chapter", action="append", default=[], help="test only this chapter (repeatable)")
    parser.addoption("--refbindir", default="",
                     help="the reference build's binaries: chapter 01 for the corpus comparison, and "
                          "loadgen (default: --bindir; make check points it at the repository's build)")
    parser.addoption("--sanitizer", default="", choices=["", "address", "thread"],
                     help="the binaries are a sanitizer build: skip what that build cannot judge")


class Chapter:
    """A chapter of the registry, or one of its variants: the same binary always started with
    extra arguments (08-reuseport+processes runs every test with --processes)."""

    def __init__(self, entry, bindir, docroot, variant=None, refbindir=""):
        self.name = entry["name"]
        self.model = entry["model"]
        self.flags = set(entry.get("flags", []))
        self.caps = entry["capabilities"]
        self.stats = list(entry.get("stats", []))  # the model's own members of GET /stats
        self.binary = Path(bindir) / self.name
        self.refbindir = Path(refbindir or bindir)  # the reference chapter and the load generator
        self.docroot = Path(docroot)
        self.variant = variant
        self.variant_args = list(entry.get("variants", {}).get(variant, []))
        self.threaded = entry.get("threaded", False) and variant not in entry.get("single_threaded_variants", [])
        self.id = self.name if variant is None else f"{self.name}+{variant}"

    def start(self, *args, **kwargs):
        """Starts this chapter's server with extra command-line args; stop it with .stop()."""
        kwargs.setdefault("docroot", self.docroot)
        try:
            return harness.Server(self.binary, [*self.variant_args, *args], **kwargs)
        except harness.Unavailable as e:
            pytest.skip(str(e))

    def __repr__(self):
        return self.id


def chapters_of(entry, bindir, docroot, refbindir=""):
    """The chapter itself, then each of its variants."""
    yield Chapter(entry, bindir, docroot, refbindir=refbindir)
    for variant in entry.get("variants", {}):
        yield Chapter(entry, bindir, docroot, variant, refbindir)


def pytest_generate_tests(metafunc):
    if "chapter" not in metafunc.fixturenames:
        return
    config = metafunc.config
    wanted = config.getoption("--chapter")
    entries = [e for e in harness.load_registry() if not wanted or e["name"] in wanted]
    unknown = set(wanted) - {e["name"] for e in entries}
    if unknown:
        raise pytest.UsageError(f"not in chapters/registry.json: {sorted(unknown)}")
    chapters = [c for e in entries
                for c in chapters_of(e, config.getoption("--bindir"), config.getoption("--docroot"),
                                     config.getoption("--refbindir"))]
    metafunc.parametrize("chapter", chapters, ids=[c.id for c in chapters], scope="module")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timing: the verdict is a latency or CPU measurement (skipped with --sanitizer)")
    # Every suite here states a per-test time limit (`timeout` in its pytest.ini): a server that
    # hangs, or a learner's copy that deadlocks, fails its test instead of holding the run.
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("the pytest-timeout plugin is missing: scripts/setup.sh test installs it "
                                "(apt-get install python3-pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    """On a sanitizer build, a test marked `timing` is skipped: its verdict is a latency or a CPU
    measurement, and a sanitizer's runtime makes the server several times slower and adds
    threads of its own. The plain build (make test) gives those verdicts."""
    sanitizer = config.getoption("--sanitizer")
    if not sanitizer:
        return
    skip = pytest.mark.skip(reason=f"a timing measurement: meaningless on the {sanitizer} sanitizer build; make test runs it")
    for item in items:
        if "timing" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module", autouse=True)
def skip_if_single_threaded_under_tsan(chapter, pytestconfig):
    """ThreadSanitizer looks for data races between threads: a chapter whose processes each run
    one thread (registry: "threaded") gives it nothing to find, and the other builds test it."""
    if pytestconfig.getoption("--sanitizer") == "thread" and not chapter.threaded:
        pytest.skip("single-threaded processes: no data race for ThreadSanitizer to find (make test and make test-asan test it)")


_unavailable = {}  # (binary, variant) -> the chapter's "unavailable" line, or None


@pytest.fixture(scope="module", autouse=True)
def skip_if_unavailable(chapter):
    """Skips every test of a chapter that exits at start-up saying this machine cannot run its
    model (harness.UNAVAILABLE_EXIT and an "<what> unavailable: <why>" line): io_uring switched
    off is a property of the machine, not a failure of the chapter. Asked once per chapter."""
    key = (str(chapter.binary), chapter.id)
    if key not in _unavailable:
        _unavailable[key] = None
        try:
            harness.Server(chapter.binary, chapter.variant_args, docroot=chapter.docroot).stop()
        except harness.Unavailable as e:
            _unavailable[key] = str(e)
        except (OSError, RuntimeError):
            pass  # a missing binary or a failing start is for the tests themselves to report
    if _unavailable[key]:
        pytest.skip(_unavailable[key])


_unstoppable = {}  # binary -> how it failed to stop once after SIGTERM


def stop_checked(chapter, srv, sanitizer):
    """Stops a server with SIGTERM and checks that it exited 0 within the grace the protocol
    promises (2 s; a sanitizer build gets 10). A binary that once failed to stop is reported
    once: its later servers are killed at once, so that a learner's copy that ignores SIGTERM
    costs seconds, not a grace period per test."""
    key = str(chapter.binary)
    if key in _unstoppable:
        srv.stop(timeout=0.2, sig=signal.SIGKILL)
        return
    code, elapsed, err = srv.stop(timeout=10 if sanitizer else harness.STOP_TIMEOUT + 1)
    if code is None:
        _unstoppable[key] = f"{chapter.name} {srv.cmd[1:]} was still running {elapsed:.1f} s after SIGTERM"
        pytest.fail(f"{_unstoppable[key]}: killed (later servers of this binary are killed without waiting)")
    assert code == 0, f"{chapter.name} {srv.cmd[1:]} exited with {code} after SIGTERM: {err}"


@pytest.fixture(scope="module")
def server(chapter, pytestconfig):
    """A server with default options, shared by the tests of one module."""
    if not chapter.binary.exists():
        pytest.fail(f"{chapter.binary} is missing: build first (make)")
    srv = chapter.start()
    yield srv
    stop_checked(chapter, srv, pytestconfig.getoption("--sanitizer"))


@pytest.fixture
def fresh_server(chapter, pytestconfig):
    """Starts servers with custom flags for one test, and stops them all after it."""
    started = []

    def start(*args, **kwargs):
        srv = chapter.start(*args, **kwargs)
        started.append(srv)
        return srv

    yield start
    # Every server is stopped before the first failure to stop one is reported: a server left
    # running would outlive the suite (and a broken one may spin on a CPU the rest need).
    failures = []
    for srv in started:
        try:
            stop_checked(chapter, srv, pytestconfig.getoption("--sanitizer"))
        except (AssertionError, pytest.fail.Exception) as e:
            failures.append(e)
    if failures:
        raise failures[0]


@pytest.fixture(scope="session")
def big_file(pytestconfig):
    path = Path(pytestconfig.getoption("--docroot")) / "big.bin"
    data = path.read_bytes()
    assert len(data) == 4 * 1024 * 1024
    return data

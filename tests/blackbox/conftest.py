"""pytest wiring: one parameter, the chapter, for every test in this directory.

    pytest-3 tests/blackbox --bindir build/bin --docroot build/www [--chapter 01-iterative]

Without --chapter every chapter of the registry is tested. No test names a chapter: tests ask
the `chapter` fixture what the model claims (chapter.caps) and check that claim, either way.
"""

from pathlib import Path

import pytest

import harness


def pytest_addoption(parser):
    parser.addoption("--bindir", default=str(harness.ROOT / "build" / "bin"), help="where the chapter binaries are")
    parser.addoption("--docroot", default=str(harness.ROOT / "build" / "www"), help="the docroot with big.bin")
    parser.addoption("--chapter", action="append", default=[], help="test only this chapter (repeatable)")


class Chapter:
    def __init__(self, entry, bindir, docroot):
        self.name = entry["name"]
        self.model = entry["model"]
        self.flags = set(entry.get("flags", []))
        self.caps = entry["capabilities"]
        self.binary = Path(bindir) / self.name
        self.docroot = Path(docroot)

    def start(self, *args, **kwargs):
        """Starts this chapter's server with extra command-line args; stop it with .stop()."""
        kwargs.setdefault("docroot", self.docroot)
        return harness.Server(self.binary, args, **kwargs)

    def __repr__(self):
        return self.name


def pytest_generate_tests(metafunc):
    if "chapter" not in metafunc.fixturenames:
        return
    config = metafunc.config
    wanted = config.getoption("--chapter")
    entries = [e for e in harness.load_registry() if not wanted or e["name"] in wanted]
    unknown = set(wanted) - {e["name"] for e in entries}
    if unknown:
        raise pytest.UsageError(f"not in chapters/registry.json: {sorted(unknown)}")
    chapters = [Chapter(e, config.getoption("--bindir"), config.getoption("--docroot")) for e in entries]
    metafunc.parametrize("chapter", chapters, ids=[c.name for c in chapters], scope="module")


@pytest.fixture(scope="module")
def server(chapter):
    """A server with default options, shared by the tests of one module."""
    if not chapter.binary.exists():
        pytest.fail(f"{chapter.binary} is missing: build first (make)")
    srv = chapter.start()
    yield srv
    code, _, err = srv.stop(timeout=10)
    assert code == 0, f"{chapter.name} exited with {code} after SIGTERM: {err}"


@pytest.fixture
def fresh_server(chapter):
    """Starts servers with custom flags for one test, and stops them all after it."""
    started = []

    def start(*args, **kwargs):
        srv = chapter.start(*args, **kwargs)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        code, _, err = srv.stop(timeout=10)
        assert code == 0, f"{chapter.name} {srv.cmd} exited with {code}: {err}"


@pytest.fixture(scope="session")
def big_file(pytestconfig):
    path = Path(pytestconfig.getoption("--docroot")) / "big.bin"
    data = path.read_bytes()
    assert len(data) == 4 * 1024 * 1024
    return data

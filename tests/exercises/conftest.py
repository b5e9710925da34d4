"""pytest wiring for the exercise tests: the black-box suite's options and fixtures, one chapter per file.

    pytest-3 tests/exercises --bindir build/bin --docroot build/www        # every exercise, on the reference
    pytest-3 tests/exercises/test_01_emfile_backoff.py --bindir exercises/01-iterative/emfile-backoff/build/bin \
        --docroot build/www --chapter 01-iterative                         # one exercise, on a learner's copy

test_NN_name.py tests exercise `name` of chapter NN, and runs against that chapter only. The
options (--bindir, --docroot, --chapter) and the fixtures (chapter, server, fresh_server,
big_file) are the black-box suite's own, from tests/blackbox/conftest.py; so is the harness.
`make check` and `make exercises-verify` (scripts/exercise.py) run these files.
"""

import sys
from pathlib import Path

import pytest

BLACKBOX = Path(__file__).resolve().parents[1] / "blackbox"
sys.path.insert(0, str(BLACKBOX))

import harness  # noqa: E402  (found through the path above)

_blackbox = harness.blackbox_conftest()

server = _blackbox.server
fresh_server = _blackbox.fresh_server
big_file = _blackbox.big_file
pytest_configure = _blackbox.pytest_configure


def pytest_addoption(parser):
    try:
        _blackbox.pytest_addoption(parser)
    except ValueError:
        pass  # both directories collected in one run: the black-box conftest added them already


def pytest_generate_tests(metafunc):
    if "chapter" not in metafunc.fixturenames:
        return
    number = Path(metafunc.module.__file__).name.split("_")[1]  # test_NN_name.py
    config = metafunc.config
    wanted = config.getoption("--chapter")
    entries = [e for e in harness.load_registry() if e["name"].startswith(number + "-")]
    if not entries:
        raise pytest.UsageError(f"{metafunc.module.__file__}: no chapter {number} in chapters/registry.json")
    entries = [e for e in entries if not wanted or e["name"] in wanted]
    chapters = [_blackbox.Chapter(e, config.getoption("--bindir"), config.getoption("--docroot"),
                                  refbindir=config.getoption("--refbindir")) for e in entries]
    metafunc.parametrize("chapter", chapters, ids=[c.name for c in chapters], scope="module")

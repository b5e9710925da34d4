"""pytest wiring for the attacks: the black-box suite's options, chapters and fixtures.

    pytest-3 tests/attacks --bindir build/bin --docroot build/www [--chapter 04-polling]   # make attacks
"""

import importlib.util
import sys
from pathlib import Path

BLACKBOX = Path(__file__).resolve().parents[1] / "blackbox"
sys.path.insert(0, str(BLACKBOX))

_spec = importlib.util.spec_from_file_location("blackbox_conftest", BLACKBOX / "conftest.py")
_blackbox = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_blackbox)

pytest_addoption = _blackbox.pytest_addoption
pytest_generate_tests = _blackbox.pytest_generate_tests
pytest_configure = _blackbox.pytest_configure
skip_if_unavailable = _blackbox.skip_if_unavailable
fresh_server = _blackbox.fresh_server


def pytest_terminal_summary(terminalreporter):
    """The verdicts, one line per chapter and attack, as the chapter pages quote them."""
    from test_attacks import VERDICTS

    if not VERDICTS:
        return
    terminalreporter.section("slowhttptest: was the probe answered, second by second?")
    for chapter, attack, connections, answered, missed in VERDICTS:
        verdict = "service available throughout" if not missed else f"service unavailable {missed} of {answered + missed} s"
        terminalreporter.write_line(f"{chapter:<26} {attack:<10} {connections:>5} connections: {verdict}")

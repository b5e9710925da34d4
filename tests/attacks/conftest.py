"""pytest wiring for the attacks: the black-box suite's options, chapters and fixtures.

    pytest-3 tests/attacks --bindir build/bin --docroot build/www [--chapter 04-polling]   # make attacks
"""

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

BLACKBOX = Path(__file__).resolve().parents[1] / "blackbox"
sys.path.insert(0, str(BLACKBOX))

import harness  # noqa: E402  (found through the path above)

_blackbox = harness.blackbox_conftest()

pytest_generate_tests = _blackbox.pytest_generate_tests
pytest_configure = _blackbox.pytest_configure
skip_if_unavailable = _blackbox.skip_if_unavailable
fresh_server = _blackbox.fresh_server


def pytest_addoption(parser):
    _blackbox.pytest_addoption(parser)
    parser.addoption("--record", metavar="JSON", help="also write the verdicts to this file (make attacks: "
                     "docs/results/attacks.json, which each chapter's page in the book shows); the chapters "
                     "of this run replace theirs, the others stay")


def pytest_terminal_summary(terminalreporter, config):
    """The verdicts, one line per chapter and attack, as the chapter pages quote them."""
    from test_attacks import CLIENTS, VERDICTS

    if not VERDICTS and not CLIENTS:
        return
    terminalreporter.section("slowhttptest: was the probe answered, second by second?")
    for chapter, attack, connections, answered, missed, claimed in VERDICTS:
        verdict = "service available throughout" if not missed else f"service unavailable {missed} of {answered + missed} s"
        agrees = "as claimed" if claimed == (not missed) else "NOT as claimed"
        terminalreporter.write_line(f"{chapter:<26} {attack:<10} {connections:>5} connections: {verdict} ({agrees})")
    for chapter, tool, sent, ok in CLIENTS:
        terminalreporter.write_line(f"{chapter:<26} {tool}: {ok:,} of {sent:,} answered 2xx")
    if config.getoption("record"):
        path = record(Path(config.getoption("record")), VERDICTS, CLIENTS)
        terminalreporter.write_line(f"verdicts written to {path}")


def record(path, verdicts, clients):
    """Merges this run's verdicts into the JSON file at path (the chapters run here replace theirs)."""
    from test_attacks import ATTACKS, MAX_CLIENTS, SECONDS, slowhttptest_args

    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    chapters = data.setdefault("chapters", {})
    for name in {v[0] for v in verdicts} | {c[0] for c in clients}:
        chapters[name] = {"slowhttptest": {}, "clients": []}
    for chapter, attack, connections, answered, missed, claimed in verdicts:
        chapters[chapter]["slowhttptest"][attack] = {"connections": connections, "answered_s": answered,
                                                     "unanswered_s": missed, "claimed_available": claimed}
    for chapter, tool, sent, ok in clients:
        chapters[chapter]["clients"].append({"tool": tool, "sent": sent, "answered_2xx": ok})
    data["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data["host"] = platform.node()
    data["seconds"] = SECONDS
    data["max_clients"] = MAX_CLIENTS
    data["commands"] = {attack: "slowhttptest " + " ".join(slowhttptest_args(attack, "http://127.0.0.1:8080", attack))
                        for attack in ATTACKS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path

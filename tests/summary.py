"""Prints how many GoogleTest and pytest tests ran in a build directory, then CTest's own count.

    python3 tests/summary.py build

CTest counts one GoogleTest case as one test but a whole chapter's pytest run as one test, so
its closing line alone hides the pytest count: this reads the pytest JUnit files for it.
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(build):
    log = (build / "ctest.log").read_text(errors="replace")
    unit = re.findall(r"Test\s+#\d+: (?!blackbox\.)\S+ \.+\s*\**(\w+)", log)
    passed = unit.count("Passed")
    skipped = unit.count("Skipped")
    print("\nSummary")
    print(f"  GoogleTest  {passed} passed, {len(unit) - passed - skipped} failed, {skipped} skipped")
    ran = set(re.findall(r"Test\s+#\d+: blackbox\.(\S+)", log))  # a stale file of another run is not counted
    for junit in sorted(build.glob("pytest-*.xml")):
        if junit.stem.removeprefix("pytest-") not in ran:
            continue
        suite = ET.parse(junit).getroot()
        suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
        total, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
        skipped = int(suite.get("skipped"))
        name = junit.stem.removeprefix("pytest-")
        print(f"  pytest      {name}: {total - failed - skipped} passed, {failed} failed, {skipped} skipped")
    closing = [line for line in log.splitlines() if re.search(r"tests passed, \d+ tests failed out of", line)]
    if closing:
        print(closing[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

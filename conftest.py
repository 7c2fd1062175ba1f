"""Prints the time each notebook (and test file) took, summed over its cells: the course's run-time table."""

from collections import defaultdict

_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    _seconds[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("time per file (setup + call + teardown, summed over its tests or cells)")
    for path, seconds in sorted(_seconds.items()):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")

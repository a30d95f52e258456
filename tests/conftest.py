"""For every test: QEMU boots and checked kernel runs shared by the session's
workers; long tests first.

Each identical QEMU boot (same image bytes, same arguments) runs once per
pytest session; the result is kept in the session's directory, which the
xdist workers share (tests/qemu.py, tests/cache.py).  So does each checked
kernel run asked for through the ``checked_run`` fixture (tests/runs.py).

Tests whose id names storm, soak or build_all are collected first, in
their own order, the rest after them in theirs: the longest tests are
among them (a whole storm or soak run, about a minute each; build-all).
pytest -n 2 hands tests out in collection order, and a long test handed
out last keeps one worker busy while the other has nothing left.
Only the order changes; every test runs, with the same arguments.

And xdist hands them out one at a time (``--maxschedchunk 1`` unless given
on the command line): by default its first hand-out gives each worker a
run of consecutive tests, a quarter of its share (281 of 2,252), so the
first worker got every long test and ran them one after the other while
the second ran the short ones (measured: at 92 % of the session one worker
was still on test_smp's soak runs).  One at a time, each worker takes the
next long test when it is free.
"""

from __future__ import annotations

import pytest

from tests import qemu
from tests.cache import session_dir

LONG = ("storm", "soak", "build_all")       # in a test's id: the longest are among these


def pytest_configure(config):
    """xdist's hand-out one test at a time (see above), unless asked otherwise."""
    if getattr(config.option, "maxschedchunk", "absent") is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items):
    """Long tests first (a stable sort: each group keeps its order)."""
    items.sort(key=lambda item: not any(word in item.nodeid for word in LONG))


@pytest.fixture(scope="session", autouse=True)
def _qemu_boots_shared_by_the_session(tmp_path_factory):
    qemu.use_cache(session_dir(tmp_path_factory, "qemu"))
    yield
    qemu.use_cache(None)


@pytest.fixture(scope="session")
def checked_run(tmp_path_factory):
    """checked_run(model, scenario, bug=None, cpus=1, max_instructions=200_000_000)
    -> KernelRun, made once per session (tests/runs.py)."""
    from tests import runs      # the emulator and the kernel's harness: only tests that run one
    directory = session_dir(tmp_path_factory, "runs")

    def get(model, scenario, bug=None, cpus=1, max_instructions=200_000_000):
        return runs.checked_run(directory, model, scenario, bug, cpus, max_instructions)
    return get

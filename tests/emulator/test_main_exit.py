"""``python -m emulator run`` ends with ``os._exit`` after flushing its
streams (emulator/__main__.py, issue 17: the interpreter's teardown was
about 6% of a short run).  What the user sees must not change: the whole
console and the summary line reach a pipe even when the streams are
block-buffered, the status is the run's, and a stream that cannot be
written is still reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from guest_kernel.harness import kernel_image

ROOT = Path(__file__).resolve().parents[2]


def run_buffered(*args, stdout=subprocess.PIPE):
    """The run with block-buffered streams (PYTHONUNBUFFERED unset), as on a
    user's machine."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-m", "emulator", "run", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, timeout=120)


def test_a_buffered_console_reaches_the_pipe_whole_with_the_runs_status():
    r = run_buffered(kernel_image("ithread"), "--append", "scenario=hello")
    assert r.stdout.splitlines()[-1] == "PASS hello"
    assert r.stdout.count("tick ") == 3
    assert r.stderr.splitlines()[-1] == "checks: 13 rules, 0 violations"
    assert r.returncode == 0


def test_a_guest_status_passes_through_the_fast_exit():
    r = run_buffered(kernel_image("ithread"), "--append", "scenario=hello",
                     "--max-instructions", "1000")
    assert "instruction budget of 1000 spent" in r.stderr
    assert r.returncode == 124


def test_a_console_that_cannot_be_written_is_still_reported():
    with open("/dev/full", "w") as full:
        r = run_buffered(kernel_image("ithread"), "--append", "scenario=hello", stdout=full)
    assert "No space left on device" in r.stderr
    assert r.returncode != 0

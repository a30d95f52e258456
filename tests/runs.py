"""Checked kernel runs shared by the session's tests, each made once.

A checked run of one configuration (model, scenario, planted bug, CPU
count, instruction budget) is deterministic: the same inputs give the same
status, console, report and trace bytes (tests/golden/test_golden.py checks
that).  Several test files assert on the same run:

- a golden configuration: tests/golden/test_golden.py compares its trace
  with the golden; tests/guest_kernel/test_irqlab.py asserts that its
  scenario passes (and prints what QEMU prints);
- a planted bug's kernel: tests/golden/test_bugs_caught.py reads the report;
  tests/golden/test_fast_path.py compares its fast path with the full Python
  path; tests/guest_kernel/test_irqlab.py asserts that the scenario finishes.

``checked_run(...)`` (the session fixture of tests/conftest.py) makes such a
run with guest_kernel.harness.run_config, tracing it, once per pytest
session in whichever xdist worker asks first (tests/cache.py; the other
waits for it), and hands every caller the same KernelRun, rebuilt from the
session's directory.  Its ``trace_path`` is the run's trace there: callers
read it and never write it.  A new session starts empty, so a result always
comes from this session's code.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from guest_kernel.harness import KernelRun, run_config
from tests.cache import once

RESULT = "run.json"         # the KernelRun's fields, but trace_path
TRACE = "trace.jsonl"


def run_key(model: str, scenario: str, bug: Optional[str], cpus: int,
            max_instructions: int) -> str:
    """The run's directory name: every input that changes the run."""
    return f"{model}-{scenario}-{bug or 'nobug'}-{cpus}cpu-{max_instructions}"


def checked_run(directory: Path, model: str, scenario: str, bug: Optional[str] = None,
                cpus: int = 1, max_instructions: int = 200_000_000) -> KernelRun:
    """run_config(model, scenario, bug, cpus, max_instructions) with a trace,
    made once per session under ``directory``."""
    def make(path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        r = run_config(model, scenario, bug=bug, trace_path=str(path / TRACE), cpus=cpus,
                       max_instructions=max_instructions)
        fields = asdict(r)
        del fields["trace_path"]
        (path / RESULT).write_text(json.dumps(fields), encoding="utf-8")

    path = once(directory, run_key(model, scenario, bug, cpus, max_instructions), make)
    fields = json.loads((path / RESULT).read_text(encoding="utf-8"))
    return KernelRun(trace_path=str(path / TRACE), **fields)

"""The C block hook (emulator/native/blockhook.c) and its Python twin
(emulator/icount.py ``InstructionClock.py_block``) count the same: a kernel
scenario run on each gives the same trace, byte for byte, the same console
and the same status -- on one CPU, and on two (APIC MMIO, a second engine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator import native
from guest_kernel.harness import run_config


def require_native() -> None:
    if not native.available():
        msg = "the native block hook is not built (python -m emulator.native build)"
        if os.environ.get("CI"):
            pytest.fail(msg + " — CI must compare both hooks")
        pytest.skip(msg)


@pytest.mark.parametrize("scenario,cpus", [("ithread_block", 1), ("smp_ipi", 2)])
def test_the_c_and_python_block_hooks_give_the_same_trace(scenario, cpus, tmp_path):
    require_native()
    runs = {}
    for hook in ("c", "python"):
        trace = tmp_path / f"{hook}.jsonl"
        r = run_config("ithread", scenario, trace_path=str(trace), cpus=cpus,
                       native=hook == "c")
        runs[hook] = (r.status, r.stdout, r.stderr, Path(trace).read_bytes())
    assert runs["c"][0] == 0 and f"PASS {scenario}" in runs["c"][1]
    assert runs["c"][3].count(b"\n") > 50          # a real run, not an empty trace
    assert runs["c"] == runs["python"]

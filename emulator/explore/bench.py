"""``make bench`` (explore's part): branches per second, and the time to
explore every point of ``ithread_block`` (host time is measured here, in a
bench, never in explore itself).

Explores the ithread kernel's ``ithread_block`` with a clock tick (IRQ 0)
at every point, on ``-j`` local processes (default: the CPUs), and prints
one table line and one JSON line: points, classes, branches, seconds (wall,
the base run and the pool's start included), branches_per_second and
cpu_seconds (this process and its workers).  The issue's goal: under a
minute on this machine's two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

GOAL_S = 60


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(jobs=None, model: str = "ithread", scenario: str = "ithread_block") -> dict:
    from emulator.explore import Plan, explore  # (lazy: only this path needs it)
    from guest_kernel.explore import target_for  # (lazy: only this path needs it)
    target = target_for(model, scenario, None, "irq=0")
    cpu0, t0 = _cpu(), time.perf_counter()
    result = explore(target, Plan(), jobs=jobs)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"scenario": f"{model}/{scenario}", "points": result.points,
            "classes": result.classes, "branches": result.branches,
            "violations": len(result.distinct), "seconds": round(seconds, 2),
            "branches_per_second": round(result.branches / seconds, 1),
            "cpu_seconds": round(cpu, 2), "jobs": jobs or os.cpu_count()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator.explore.bench")
    p.add_argument("-j", "--jobs", type=int, default=None)
    args = p.parse_args(argv)
    r = measure(args.jobs)
    ok = "OK" if r["seconds"] < GOAL_S else "over"
    print(f"explore bench: {r['scenario']}, irq 0 at every point: {r['points']} points in "
          f"{r['classes']} classes, {r['branches']} branches in {r['seconds']} s on "
          f"{r['jobs']} jobs ({r['branches_per_second']} branches/s, {r['cpu_seconds']} s CPU); "
          f"goal < {GOAL_S} s: {ok}")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

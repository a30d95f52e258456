"""Exploration: an interrupt at every point where one could arrive.

Contract
--------
``explore(target, plan, jobs=None, scheduler=None, max_branches=None) ->
Result`` does for interrupts what CHESS does for thread schedules:

1. the **base run** (the target's own injections) runs here once, observed
   and checked, with a hook on every instruction that collects the
   *points* (emulator/explore/points.py: IF=1, no interrupt shadow, the
   line unmasked) in the window, thinned by ``plan.every``;
2. the points fall in *classes* (same instruction, no event between:
   points.py); for each class a **branch** raises the explored line (or
   pushes a test device packet, or presses a key) at its first point and runs to the end
   with every rule on, from the nearest earlier snapshot
   (emulator/explore/worker.py); ``plan.depth`` 2 adds, for each, branches
   with a second interrupt at each class of points of that branch after
   the first (at most ``plan.second`` of them);
3. the branches' verdicts (emulator/explore/verdict.py: rule violations and
   the guest's own exit) are merged in point order into distinct
   violations.

Branches are spread by emulator/pool.py: this process (``jobs=1``), a local
process pool, or a Dask cluster (``scheduler="tcp://HOST:PORT"``); each
worker gets the target and the plan once and then batches of points.
Results are merged in point order, so the report is the same bytes
whatever ran where.  ``max_branches`` keeps the first classes only (depth
2: ``second`` at most ``max_branches - 1`` and ``max_branches // (1 +
second)`` first classes).  A branch that has not ended ``max(end,
HANG_GRACE)`` instructions after the base run's end is a hang (the limit
is ``Target.limit``).

``Result``: ``points`` (found), ``classes``, ``branches`` (run),
``distinct`` (the merged violations, the base run's own first), ``target``
(with ``end`` and ``limit`` filled in), ``text()``, ``json()`` and
``status`` (120 when any, else 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from emulator.explore.points import PointFinder, Window
from emulator.explore.target import Observed, Target
from emulator.explore.verdict import Record, merge, render, to_json, verdict
from emulator.explore.worker import Plan, run_item, setup

HANG_GRACE = 20_000_000         # instructions past the base run's end (2 x the liveness limit)
BASE_BUDGET = 500_000_000       # the base run must end within this
SNAPSHOTS = 32                  # base snapshots per worker, about

__all__ = ["explore", "Plan", "Target", "Window", "Result", "ExploreError"]


class ExploreError(Exception):
    """The base run could not be explored (one line for the user)."""


@dataclass
class Result:
    target: Target
    plan: Plan
    points: int
    classes: int
    branches: int
    distinct: list

    def command(self, times) -> str:
        return self.target.command(times)

    def text(self) -> str:
        return render(self.distinct, self.points, self.classes, self.branches, self.command)

    def json(self) -> dict:
        t = self.target
        about = {"image": t.image_name, "append": t.append,
                 "line": _line(t),
                 "window": self.plan.window.describe(), "every": self.plan.every,
                 "depth": self.plan.depth, "base_end": t.end}
        about["classes"] = self.classes
        return to_json(self.distinct, self.points, self.branches, self.command, about)

    @property
    def status(self) -> int:
        return 120 if self.distinct else 0


def _line(t: Target) -> dict:
    """The line explored, for --json: {"irq": N}, {"packet": V} or {"key": B}."""
    kind, _, value = t.line().partition("=")
    return {kind: int(value)}


def base_run(target: Target, plan: Plan) -> tuple:
    """The base run with the point hook: (target with end/limit, the number
    of points, their classes, the base run's Record)."""
    obs = Observed(target)
    finder = PointFinder(obs, plan.window, plan.every, merge=plan.merge)
    try:
        result = obs.m.run(BASE_BUDGET)
    finally:
        classes = finder.stop()
    if result.reason == "budget":
        raise ExploreError(f"the base run did not end within {BASE_BUDGET} instructions")
    end = obs.now
    target = replace(target, end=end, limit=end + max(end, HANG_GRACE))
    outcome = obs.finish_branch(result)
    return target, finder.points, classes, Record((), verdict(outcome, target.limit))


def explore(target: Target, plan: Plan, jobs: Optional[int] = None,
            scheduler: Optional[str] = None, max_branches: Optional[int] = None) -> Result:
    from emulator.pool import run_ordered  # (lazy: only this path needs it)
    target, points, classes, base = base_run(target, plan)
    plan = replace(plan, snap_every=max(1000, -(-target.end // SNAPSHOTS)))
    todo = classes
    if max_branches is not None and plan.depth >= 2:
        plan = replace(plan, second=max(1, min(plan.second, max_branches - 1)))
        todo = classes[:max_branches // (1 + plan.second)]
    elif max_branches is not None:
        todo = classes[:max_branches]
    records = [base]
    branches = 0
    for batch in run_ordered(run_item, todo, context=(target, plan), setup=setup,
                             jobs=jobs, scheduler=scheduler, desc="explore"):
        records.extend(batch)
        branches += len(batch)
    return Result(target, plan, points, len(classes), branches, merge(records))

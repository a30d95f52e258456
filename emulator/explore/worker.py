"""The worker side of explore: branches from the nearest earlier snapshot.

Contract
--------
``setup((target, plan)) -> Worker`` runs once per worker (emulator/pool.py
ships the context once); ``run_item(worker, (t, size)) -> [Record]`` runs
the branches of one class of points (emulator/explore/points.py), at its
first point ``t``:

- depth 1: one branch, the explored line raised at ``t``;
- depth 2: that branch, run with the point hook, and then for each class
  of its points after ``t`` (thinned by ``every``, at most
  ``plan.second``) a branch with the line raised at ``t`` and again at
  the class's first point — records in time order.

The worker keeps snapshots of the base run every ``plan.snap_every``
instructions, taken as it first passes them.  A branch at ``t`` restores
the latest one at or before ``t`` (or goes on from where the base run
stands, when that is at or before ``t`` and no branch ran since), runs the
base forward to ``t`` with every rule on, injects, and runs to the end;
so its cost follows the instructions after its snapshot, never t=0.
Workers rebuild their base run from the image rather than receive the
parent's snapshots: a snapshot holds Unicorn contexts and Python callbacks
(injections' schedules, hooks) that do not travel, and the run is
deterministic, so the rebuilt one is the same, instruction for instruction.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from emulator.explore.points import PointFinder, Window
from emulator.explore.target import Observed, Target
from emulator.explore.verdict import Record, verdict


@dataclass(frozen=True)
class Plan:
    window: Window = Window()
    every: int = 1
    depth: int = 1
    second: int = 64               # depth 2: second classes per first point, at most
    snap_every: int = 2000         # instructions between base snapshots
    merge: bool = True             # one branch per class of points (points.py)


class Worker:
    def __init__(self, target: Target, plan: Plan) -> None:
        self.target = target
        self.plan = plan
        self.obs = Observed(target)
        self.times = [0]
        self.snaps = [self.obs.save()]
        self.on_base = True            # the machine is on the base run, at obs.now

    # -- the base run ----------------------------------------------------------
    def base_at(self, t: int) -> None:
        """Bring the machine to the base run's boundary at ``t``."""
        obs = self.obs
        if not (self.on_base and obs.now <= t):
            i = bisect.bisect_right(self.times, t) - 1
            obs.restore(self.snaps[i])
            self.on_base = True
        every = self.plan.snap_every
        while obs.now < t:
            nxt = min(t, (obs.now // every + 1) * every)
            if obs.run_to(nxt) is not None:
                raise RuntimeError(f"the base run ended before t={t}: not deterministic?")
            if obs.now % every == 0 and obs.now > self.times[-1]:
                self.times.append(obs.now)
                self.snaps.append(obs.save())

    # -- branches --------------------------------------------------------------
    def branch(self, times: tuple, weight: int = 1) -> Record:
        """From the base run at times[0]: the line raised at each time."""
        self.base_at(times[0])
        self.on_base = False
        obs = self.obs
        for k, t in enumerate(times):
            obs.inject_at(t, k)
        outcome = obs.finish_branch()
        return Record(tuple(times), verdict(outcome, self.target.limit), weight)

    def pairs(self, t1: int, weight: int = 1) -> list:
        """Depth 2 at ``t1``: the single branch, then one per second point."""
        self.base_at(t1)
        self.on_base = False
        obs = self.obs
        obs.inject_at(t1, 0)
        finder = PointFinder(obs, self.plan.window, self.plan.every, first=t1,
                             limit=self.plan.second, merge=self.plan.merge)
        times, snaps = [obs.now], [obs.save()]
        every = self.plan.snap_every
        result = None
        try:
            while result is None and obs.now < self.target.limit:
                nxt = min(self.target.limit, (obs.now // every + 1) * every)
                result = obs.run_to(nxt)
                if result is None:
                    times.append(obs.now)
                    snaps.append(obs.save())
        finally:
            seconds = finder.stop()
        records = [Record((t1,), verdict(obs.finish_branch(result), self.target.limit), weight)]
        for t2, size in seconds:
            i = bisect.bisect_right(times, t2) - 1
            obs.restore(snaps[i])
            if obs.run_to(t2) is not None:
                raise RuntimeError(f"the branch at t={t1} ended before t={t2}: not deterministic?")
            obs.inject_at(t2, 1)
            records.append(Record((t1, t2), verdict(obs.finish_branch(), self.target.limit),
                                  weight * size))
        return records


def setup(context) -> Worker:
    target, plan = context
    return Worker(target, plan)


def run_item(worker: Worker, item: tuple) -> list:
    """``item``: a class of points, (its first point's time, its size)."""
    t, size = item
    if worker.plan.depth >= 2:
        return worker.pairs(t, size)
    return [worker.branch((t,), size)]

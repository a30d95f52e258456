"""Going back: reverse-stepi and reverse-continue on snapshots and determinism.

Contract
--------
``History(target, every=K, keep=M)`` keeps machine snapshots keyed by virtual
time (instructions retired).  ``checkpoint()`` is called before and during
every forward run: it takes a snapshot when the latest one at or before now is
K or more instructions old.  ``goto(t, replay)`` restores the latest snapshot
at or before ``t`` and re-runs forward exactly ``t - t_snap`` instructions
through ``replay(n)`` (the debugger's step with breakpoints silenced), so
registers, memory and devices equal what they were at ``t``: irqlab is
deterministic (DESIGN.md, "Time"), so the same start and the same count give
the same state.

What breaks determinism is what the user does by hand (``set``, ``irq``,
``inject``, writing memory).  ``changed()`` is called after each such act: it
drops every snapshot later than now and snapshots the changed state, so no
replay crosses the change from a state before it.  Going back to before a
change and forward again past it therefore does not redo the change — the
history forks there, as in gdb's record mode.

Cost is bounded: a long ``continue`` doubles the gap between its snapshots
(K, 2K, 4K, ...), so it takes O(log n) of them; at most M snapshots are kept
(fewer when the RAM copies would pass ``budget`` bytes, 512 MiB), and when
more are taken, every other one of the older half is dropped (replays from
there get longer, never wrong).

``HighWater`` tells what is new along a run that is replayed: the guest's
console (control.py's ``ConsoleOnce``) and the observer's events
(emulator/debugger/rewind.py) give each item a place ``(t, k)`` — its virtual
time and its rank among the items of that time — and ``see(t)`` is true only
for an item past the furthest place seen (``mark``).  ``place`` rides in the
snapshots; ``fork()`` (the machine changed by hand here) lowers the mark to
the place, so what follows is new.
"""

from __future__ import annotations

import bisect


class SnapshotError(Exception):
    pass


class HighWater:
    def __init__(self) -> None:
        self.place = (-1, 0)        # (t, k) of the last item seen
        self.mark = (-1, 0)         # the furthest place seen (this branch)

    def see(self, t: int) -> bool:
        """The next item, at time t: is it past the mark?"""
        last, k = self.place
        self.place = place = (t, 1) if t > last else (last, k + 1)
        if place > self.mark:
            self.mark = place
            return True
        return False

    def behind(self) -> bool:
        return self.place < self.mark

    def fork(self) -> None:
        self.mark = min(self.mark, self.place)


class History:
    def __init__(self, target, every: int = 200_000, keep: int = 64,
                 budget: int = 512 << 20) -> None:
        self.t = target
        self.every = every
        self.keep = keep
        self.budget = budget        # bytes of RAM copies kept at most (keep >= 8)
        self.times: list = []
        self.snaps: list = []
        self.broken: str = ""       # why snapshots cannot be taken (reverse is off)

    def latest_at_or_before(self, t: int):
        i = bisect.bisect_right(self.times, t) - 1
        return (self.times[i], self.snaps[i]) if i >= 0 else (None, None)

    def due_in(self, gap: int = 0) -> int:
        """Instructions until the next checkpoint is due (gap: at least every)."""
        gap = max(gap, self.every)
        t0, _ = self.latest_at_or_before(self.t.now)
        return gap if t0 is None else max(1, gap - (self.t.now - t0))

    def checkpoint(self, force: bool = False, gap: int = 0) -> bool:
        """Snapshot now if the last one is ``max(gap, every)`` old; True if taken."""
        now = self.t.now
        t0, _ = self.latest_at_or_before(now)
        if self.broken or (not force and t0 is not None and now - t0 < max(gap, self.every)):
            return False
        self._put(now, self._take())
        return True

    def _take(self):
        try:
            snap = self.t.snapshot()
            ram = snap.get("ram") if isinstance(snap, dict) else None
            if ram is not None and self.budget:
                self.keep = max(8, min(self.keep, self.budget // max(1, len(ram))))
            return snap
        except Exception as e:      # noqa: BLE001 - turns reverse off, says why
            self.broken = f"{type(e).__name__}: {e}"
            raise SnapshotError(self.broken) from None

    def _put(self, now, snap) -> None:
        i = bisect.bisect_left(self.times, now)
        if i < len(self.times) and self.times[i] == now:
            self.snaps[i] = snap
        else:
            self.times.insert(i, now)
            self.snaps.insert(i, snap)
        if len(self.times) > self.keep:
            half = len(self.times) // 2
            keep_old = [j for j in range(half) if j % 2 == 0 or j == 0]
            idx = keep_old + list(range(half, len(self.times)))
            self.times = [self.times[j] for j in idx]
            self.snaps = [self.snaps[j] for j in idx]

    def changed(self) -> None:
        now = self.t.now
        i = bisect.bisect_right(self.times, now)
        del self.times[i:], self.snaps[i:]
        if not self.broken:
            self._put(now, self._take())

    def earliest(self):
        return self.times[0] if self.times else None

    def goto(self, t: int, replay) -> None:
        t0, snap = self.latest_at_or_before(t)
        if t0 is None:
            raise ValueError(f"no history before t={t}")
        self.t.restore(snap)
        if self.t.now != t0:
            raise ValueError(f"snapshot of t={t0} restored to t={self.t.now}")
        if t > t0:
            replay(t - t0)
        if self.t.now != t:
            raise ValueError(f"replay reached t={self.t.now}, not t={t}")

    def segments_before(self, t: int):
        """(start, end) spans of history, latest first, covering [earliest, t)."""
        i = bisect.bisect_left(self.times, t) - 1
        end = t
        while i >= 0:
            yield self.times[i], end
            end = self.times[i]
            i -= 1

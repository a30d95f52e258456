"""Interrupt episodes of each IRQ line: raise -> handler start -> end -> done.

Contract
--------
``Latency()`` follows the episodes of every line for emulator/metrics.py,
which says what counts as a raise, a start, an end and a done (its
"Episode" definition) and calls ``raised``, ``start``, ``end`` and
``done_by_softint``:

- ``raised(line, t)`` opens an episode unless the line's newest one has not
  started (the same request);
- ``start(line, t)`` starts the oldest unstarted episode;
- ``end(line, t)`` ends the started one (an unstarted one starts and ends
  at ``t``); an episode whose handler scheduled a soft interrupt
  (``episode.softint``, set by the caller through ``current``) waits in
  ``waiting[softint]`` for ``done_by_softint(batch, t)``, any other is done
  at its end.
- ``to_start``, ``to_end``, ``to_done``: per line, raise -> that moment.
- ``listener(what, line, raise_t, t)``, when set, hears each "start", "end"
  and "done" (emulator/perfetto.py draws the arrows from it).

``dist(values, total=False)`` is {n, median, p90, p99, max} by nearest rank
on integers (no floats), with the sum as ``total`` when asked.
"""

from __future__ import annotations

import collections
from typing import Optional


def dist(values, total: bool = False) -> dict:
    """{n, median, p90, p99, max} by nearest rank (and ``total``); no floats."""
    v = sorted(values)
    n = len(v)
    out = {"n": n}
    for name, q in (("median", 50), ("p90", 90), ("p99", 99)):
        out[name] = v[max(0, -(-q * n // 100) - 1)] if n else None
    out["max"] = v[-1] if n else None
    if total:
        out["total"] = sum(v)
    return out



class _Episode:
    __slots__ = ("raise_t", "start_t", "end_t", "softint")

    def __init__(self, raise_t: int) -> None:
        self.raise_t = raise_t
        self.start_t: Optional[int] = None
        self.end_t: Optional[int] = None
        self.softint: Optional[str] = None


class Latency:
    """Episodes of each line: raise -> start -> end (-> done by proxy)."""

    def __init__(self) -> None:
        self.open: dict = collections.defaultdict(collections.deque)   # line -> episodes
        self.to_start: dict = collections.defaultdict(list)
        self.to_end: dict = collections.defaultdict(list)
        self.to_done: dict = collections.defaultdict(list)
        self.waiting: dict = collections.defaultdict(list)   # softint -> ended episodes
        # listener(what, line, raise_t, t), what in "start", "end", "done":
        # the timeline exporter draws an episode's flow from it
        self.listener = None

    def raised(self, line: int, t: int) -> None:
        q = self.open[line]
        if not q or q[-1].start_t is not None:
            q.append(_Episode(t))

    def start(self, line: int, t: int) -> None:
        for ep in self.open.get(line, ()):
            if ep.start_t is None:
                ep.start_t = t
                self.to_start[line].append(t - ep.raise_t)
                if self.listener:
                    self.listener("start", line, ep.raise_t, t)
                return

    def current(self, line: int) -> Optional[_Episode]:
        """The started episode whose handler has not ended."""
        for ep in self.open.get(line, ()):
            if ep.start_t is not None and ep.end_t is None:
                return ep
        return None

    def end(self, line: int, t: int) -> None:
        ep = self.current(line)
        if ep is None:
            q = self.open.get(line)
            if not q or q[0].start_t is not None:
                return
            ep = q[0]                      # never seen starting: it starts now
            ep.start_t = t
            self.to_start[line].append(t - ep.raise_t)
            if self.listener:
                self.listener("start", line, ep.raise_t, t)
        ep.end_t = t
        self.to_end[line].append(t - ep.raise_t)
        self.open[line].remove(ep)
        if self.listener:
            self.listener("end", line, ep.raise_t, t)
        if ep.softint is None:
            self.to_done[line].append(t - ep.raise_t)
            if self.listener:
                self.listener("done", line, ep.raise_t, t)
        else:
            self.waiting[ep.softint].append((line, ep.raise_t))

    def done_by_softint(self, batch: list, t: int) -> None:
        for line, raise_t in batch:
            self.to_done[line].append(t - raise_t)
            if self.listener:
                self.listener("done", line, raise_t, t)

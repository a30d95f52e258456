"""The timed devices' deadlines, cached between the moments they can change.

Contract
--------
``DeviceTimers(devices)``, one per machine, over the devices that have a
timer (``next_deadline``/``advance``, emulator/devices/base.py):

* ``next_deadline()`` -- the earliest deadline of them all (INF: none),
  worked out once and kept until ``changed()``;
* ``advance(now)`` -- when a deadline is due (``now`` reached it), every
  device advanced to ``now`` in the machine's order, as before; when none
  is due, nothing: by the device contract a device has nothing to do before
  its deadline (what it computes from the time -- the PIT's count, the RTC's
  clock bytes and flags, the PM timer -- it catches up on when next
  advanced or accessed, with the same result);
* ``access(dev, now)`` -- before a port or MMIO access to ``dev`` made by
  the instruction that retires at ``now`` (emulator/icount.py): the devices
  due *before* ``now`` as ``advance(now - 1)``, and ``dev`` itself brought
  to ``now - 1`` (it sees its accesses in time order); the caller calls
  ``changed()`` after the access.  A deadline at ``now`` itself fires after
  the access, at the boundary that follows, as on QEMU -icount: its CPU
  runs a budget that ends with the instruction at the deadline, so that
  instruction's access reads the clock at the deadline (an HPET counter
  equal to the comparator) and the device state before the timer's
  callback (the comparator not yet advanced) -- fuzz seed 6216;
* ``timed(dev)`` -- whether ``dev`` is one of them (a port access to a
  device without a timer -- the PIC's EOI -- moves no deadline);
* ``changed()`` -- forget the cached deadline.  The machine calls it after
  everything that may move a deadline: a port access to a timed device,
  any MMIO access (an IPI or the HPET may move another's), a device
  advanced, a scheduled call, an exec hook or data watch, an interrupt's
  listeners, a restore, and at the start of every run (whoever drove the
  machine between runs -- the debugger, a test -- may have touched a device).

Why: the run loop asked every timed device for its deadline and advanced
every one of them at every boundary and every port access (about twenty
calls each time); now that is one comparison until something changes.
Traces stay byte-identical (tests/golden, tests/golden/test_fast_path.py).
"""

from __future__ import annotations

from typing import Optional

from emulator.icount import INF


class DeviceTimers:
    def __init__(self, devices: list) -> None:
        self.devices = devices              # the machine's list (it may grow: the LAPICs)
        self._next: Optional[int] = None    # the cached earliest deadline (None: stale)
        self._ids = {id(d) for d in devices}

    def timed(self, dev) -> bool:
        return id(dev) in self._ids

    def changed(self) -> None:
        self._next = None

    def next_deadline(self) -> int:
        t = self._next
        if t is None:
            t = INF
            for dev in self.devices:
                d = dev.next_deadline()
                if d is not None and d < t:
                    t = d
            self._next = t
        return t

    def advance(self, now: int) -> bool:
        """Every device to ``now`` when one is due; True when they were."""
        t = self._next
        if t is None:
            t = self.next_deadline()
        if now < t:
            return False
        for dev in self.devices:
            dev.advance(now)
        self._next = None
        return True

    def access(self, dev, now: int) -> None:
        if not self.advance(now - 1) and dev is not None:
            dev.advance(now - 1)

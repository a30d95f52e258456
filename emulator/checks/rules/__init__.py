"""The thirteen rules irqlab checks while the kernel runs (issues 5 and 13).

Contract
--------
Each rule is a ``Rule`` (emulator/checks/core.py): it sees every event with
the state just before it, and returns violations that name the lock, LWP or
line involved in ``fields`` and carry symbolised backtraces in ``paths``.
Each reports a given object once (a second report of the same broken
invariant would bury the first).  emulator/checks/RULES.md explains every
rule in one paragraph, with what it cannot see and the planted bug that
proves it; ``all_rules()`` gives fresh instances in the order the issues
number them.  Thresholds are constructor arguments.

Files: interrupts.py (1 hardintr-block, 8 line-masked, 12 intr-nesting),
locks.py (2 sleep-spin-ipl, 3 biglock-sleep, 4 mutex-owner, 5 lock-order,
6 irq-safety), threads.py (7 pinned-run, 9 stack-bounds, 10 ithread-unpin,
11 liveness), spinout.py (13 spinout), helpers.py (what several share).
"""

from __future__ import annotations

from emulator.checks.rules.interrupts import (MaskedWhileHandlerBlocked, NoBlockInHardInterrupt,
                                              OneHandlerPerLevel)
from emulator.checks.rules.locks import (BigLockAcrossSleep, IrqSafety, LockOrder,
                                         MutexOwnership, NoSleepWithSpinOrIpl)
from emulator.checks.rules.spinout import Spinout
from emulator.checks.rules.threads import IthreadUnpinOnce, Liveness, PinnedNotRun, StackBounds

RULE_CLASSES = (NoBlockInHardInterrupt, NoSleepWithSpinOrIpl, BigLockAcrossSleep,
                MutexOwnership, LockOrder, IrqSafety, PinnedNotRun,
                MaskedWhileHandlerBlocked, StackBounds, IthreadUnpinOnce, Liveness,
                OneHandlerPerLevel, Spinout)
# the limit each keyword of all_rules sets
LIMITS = {"liveness": Liveness, "masked": MaskedWhileHandlerBlocked, "spinout": Spinout}


def all_rules(**limits) -> list:
    """Fresh instances of the rules (``liveness=N``, ``masked=N``, ``spinout=N``
    limits; None keeps the default)."""
    rules = []
    for cls in RULE_CLASSES:
        key = next((k for k, c in LIMITS.items() if c is cls), None)
        if key is not None and limits.get(key) is not None:
            rules.append(cls(limit=limits[key]))
        else:
            rules.append(cls())
    return rules

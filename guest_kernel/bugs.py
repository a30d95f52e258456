"""The planted bugs: which scenario exposes each and which rule must catch it.

Contract
--------
``BUGS[name]`` is a ``Bug(model, scenario, rule, what, explore, line)``:
build with ``python -m guest_kernel build --model MODEL --bug NAME``, run
SCENARIO, and the checker rule RULE (emulator/checks/RULES.md) must fire.
`make check-bugs` (emulator.checks) reads this table.  Every bug kernel
still boots and finishes its scenario; the guest does not report its own
bug.  A bug with ``explore`` is a race the scenario's own run never hits
(it prints PASS with 0 violations): ``python -m guest_kernel explore
--LINE`` (``--irq N``, ``--packet V`` or ``--key B``) must find RULE, which may be
``guest`` — the scenario's own self-check failing in a branch
(emulator/explore/verdict.py).
"""

from __future__ import annotations

from typing import NamedTuple


class Bug(NamedTuple):
    model: str
    scenario: str
    rule: str
    what: str
    explore: bool = False          # found only by explore (the scenario's run passes)
    line: str = "irq=0"            # what explore raises: irq=N, packet=V or key=B


BUGS = {
    "sleep_in_hardintr": Bug("classic", "ithread_block", "hardintr-block",
                             "the classic kbd handler takes the adaptive kbd_lock in interrupt context"),
    "spin_then_sleep": Bug("ithread", "biglock", "sleep-spin-ipl",
                           "an LWP sleeps holding the spin mutex biglock_spin (IPL_VM)"),
    "biglock_leak": Bug("ithread", "biglock", "biglock-sleep",
                        "mi_switch forgets to drop (and retake) the big lock"),
    "no_unmask": Bug("ithread", "biglock", "line-masked",
                     "pic_release never unmasks: a finished interrupt thread leaves IRQ 1 masked"),
    "resume_pinned": Bug("ithread", "ithread_block", "pinned-run",
                         "a blocking interrupt LWP switches to its pinned LWP without unpinning it"),
    "lock_order": Bug("ithread", "soak", "lock-order",
                      "main takes soak_b then soak_a, the workers soak_a then soak_b"),
    "irq_unsafe": Bug("classic", "ithread_block", "irq-safety",
                      "kbd_stat (spin, taken by the hard handler) is declared at IPL_NONE"),
    "stack_overflow": Bug("ithread", "ithread_block", "stack-bounds",
                          "the kbd handler recurses past the bottom of its interrupt LWP's stack"),
    "lost_wakeup": Bug("ithread", "ithread_block", "liveness",
                       "main tests the done flag with interrupts on and sleeps after the wake-up came"),
    "mutex_as_completion": Bug("ithread", "ithread_block", "mutex-owner",
                               "main waits for holder by taking ib_done, which it holds, again; "
                               "holder releases it"),
    "empty_ring_unlock": Bug("ithread", "soak", "mutex-owner",
                             "kbd_bottom's empty-ring shortcut jumps to the exit that releases "
                             "kbd_lock, never taken"),
    "eoi_unmasked": Bug("classic", "nested", "intr-nesting",
                        "intr_hard sends its early EOI and sti without raising the IPL: a packet "
                        "re-enters the long IRQ 5 handler"),
    "sti_before_iret": Bug("classic", "hello", "intr-nesting",
                           "intr_return does sti before popad/iret"),
    # found by `explore` only (emulator/explore): the scenario's own run
    # passes with 0 violations; an interrupt at one point breaks it
    "softint_unlocked": Bug("classic", "biglock", "liveness",
                            "the soft interrupt thread tests its pending flag with "
                            "interrupts on, then sleeps: a softint_schedule between is lost "
                            "and the flag it leaves set stops every later wake-up",
                            explore=True, line="key=0x1c"),
    "ring_publish_early": Bug("classic", "biglock", "guest",
                              "ring_put publishes the head before writing the slot: the "
                              "interrupt handler sends a stale word", explore=True,
                              line="packet=7"),
    "tx_count_no_ipl": Bug("threaded", "biglock", "guest",
                           "td_tx_inflight is read and written back at IPL_NONE: a send "
                           "counted off in between is lost", explore=True, line="packet=7"),
}

"""The planted bugs: which scenario exposes each and which rule must catch it.

Contract
--------
``BUGS[name]`` is a ``Bug(model, scenario, rule, what, names, extras,
cpus, explore, line)``: build with ``python -m guest_kernel build --model
MODEL --bug NAME``, run SCENARIO (on ``cpus`` CPUs), and the checker rule
RULE (emulator/checks/RULES.md) must fire with a violation whose fields
include ``names`` (the lock, LWP or line the report must name: ``{"lock":
"kbd_stat", "line": 1}``).  ``extras`` are the other rules the bug is
expected to make fire as well (each one a consequence of the same mistake,
said in ``what``); any other rule firing is a finding.  `make check-bugs`
(guest_kernel/checkbugs.py) reads this table and runs each configuration without the
bug as its control, which must show no violation at all.  Every bug kernel
still boots and finishes its scenario with PASS, on irqlab and on QEMU; the
guest does not report its own bug.  A bug with ``explore`` is a race the
scenario's own run never hits (it prints PASS with 0 violations):
``python -m guest_kernel explore --LINE`` (``--irq N``, ``--packet V`` or
``--key B``) must find RULE, which may be ``guest`` — the scenario's own
self-check failing in a branch (emulator/explore/verdict.py) — and
``extras`` are the other rules explore is expected to find.
"""

from __future__ import annotations

from typing import NamedTuple


class Bug(NamedTuple):
    model: str
    scenario: str
    rule: str
    what: str
    names: dict = {}             # fields the target rule's report must carry
    extras: tuple = ()           # other rules expected to fire too
    cpus: int = 1
    explore: bool = False          # found only by explore (the scenario's run passes)
    line: str = "irq=0"            # what explore raises: irq=N, packet=V or key=B


BUGS = {
    "sleep_in_hardintr": Bug(
        "classic", "ithread_block", "hardintr-block",
        "the classic kbd handler takes the adaptive kbd_lock in interrupt context (held "
        "by a sleeping holder: it blocks)",
        {"lock": "kbd_lock", "line": 1, "lwp": "lwp 0"}, ("irq-safety", "sleep-spin-ipl")),
    "spin_then_sleep": Bug(
        "ithread", "biglock", "sleep-spin-ipl",
        "an LWP sleeps holding the spin mutex biglock_spin (IPL_VM), and so takes the "
        "big lock back holding it, against the order it took them in",
        {"lock": "biglock_spin", "lwp": "lwp 0"}, ("lock-order",)),
    "biglock_leak": Bug(
        "ithread", "biglock", "biglock-sleep",
        "mi_switch forgets to drop (and retake) the big lock",
        {"lwp": "lwp 0", "depth": 2}),
    "no_unmask": Bug(
        "ithread", "biglock", "line-masked",
        "pic_release never unmasks: a finished interrupt thread leaves IRQ 1 masked",
        {"line": 1}),
    "resume_pinned": Bug(
        "ithread", "ithread_block", "pinned-run",
        "a blocking interrupt LWP switches to its pinned LWP without unpinning it "
        "(so it also leaves the CPU with its LWP pinned)",
        {"lwp": "lwp 4", "pinner": "ithread 3"}, ("ithread-unpin",)),
    "lock_order": Bug(
        "ithread", "soak", "lock-order",
        "main takes soak_b then soak_a, the workers soak_a then soak_b",
        {"lock": "soak_b", "held": "soak_a"}),
    "irq_unsafe": Bug(
        "classic", "ithread_block", "irq-safety",
        "kbd_stat (spin, taken by the hard handler) is declared at IPL_NONE",
        {"lock": "kbd_stat", "line": 1, "lwp": "lwp 0"}),
    "stack_overflow": Bug(
        "ithread", "ithread_block", "stack-bounds",
        "the kbd handler recurses past the bottom of its interrupt LWP's stack",
        {"owner": "ithread 3"}),
    "lost_wakeup": Bug(
        "ithread", "ithread_block", "liveness",
        "main tests the done flag with interrupts on and sleeps after the wake-up came",
        {"lwp": "lwp 0"}),
    "mutex_as_completion": Bug(
        "ithread", "ithread_block", "mutex-owner",
        "main waits for holder by taking ib_done, which it holds, again; holder releases it",
        {"lock": "ib_done", "owner": "lwp 0"}),
    "empty_ring_unlock": Bug(
        "ithread", "soak", "mutex-owner",
        "kbd_bottom's empty-ring shortcut jumps to the exit that releases kbd_lock, never taken",
        {"lock": "kbd_lock", "lwp": "lwp 4"}),
    "eoi_unmasked": Bug(
        "classic", "nested", "intr-nesting",
        "intr_hard sends its early EOI and sti without raising the IPL: a packet re-enters "
        "the long IRQ 5 handler",
        {"line": 5}),
    "sti_before_iret": Bug(
        "classic", "hello", "intr-nesting",
        "intr_return does sti before popad/iret",
        {"line": 0, "vector": 32}),
    # issue 13: the blind spots
    "early_unmask": Bug(
        "threaded", "ithread_block", "line-masked",
        "the handler thread unmasks its line before it runs the handler (not ONESHOT), "
        "then blocks on kbd_lock with IRQ 1 open",
        {"line": 1, "ithread": "ithread 3"}),
    "ithread_sleep": Bug(
        "ithread", "biglock", "sleep-spin-ipl",
        "kbd_bottom waits a tick (tsleep) for the controller: the interrupt thread sleeps "
        "on a wait channel, its line held",
        {"lwp": "ithread 3", "line": 1}),
    "spin_low_ipl": Bug(
        "ithread", "ithread_block", "irq-safety",
        "kbd_stat (spin, taken by the interrupt thread) is declared at IPL_NONE: main takes "
        "it with IRQ 1 open, and an IRQ 1 then would spin on it forever",
        {"lock": "kbd_stat", "line": 1, "lwp": "lwp 0"}),
    "adaptive_in_intr": Bug(
        "classic", "nested", "hardintr-block",
        "kbd_stat, which the keyboard's hard half takes, is declared adaptive: never "
        "contended, it never blocks, but it could",
        {"lock": "kbd_stat", "line": 1}),
    "biglock_order": Bug(
        "ithread", "biglock", "lock-order",
        "main takes kbd_lock then the big lock; the handler, not MPSAFE, takes the big lock "
        "then kbd_lock",
        {"lock": "kbd_lock", "held": "kernel_lock"}),
    "unpin_twice": Bug(
        "ithread", "ithread_block", "ithread-unpin",
        "turnstile_block unpins the borrowed LWP as the interrupt thread blocks, and "
        "mi_switch unpins it again when it converts",
        {"lwp": "lwp 4", "ithread": "ithread 3"}),
    "long_handler": Bug(
        "classic", "ithread_block", "spinout",
        "the kbd top half busy-waits 12 M instructions in interrupt context",
        {"line": 1, "lwp": "lwp 4"}),
    # found by `explore` only (emulator/explore): the scenario's own run
    # passes with 0 violations; an interrupt at one point breaks it
    "softint_unlocked": Bug("classic", "biglock", "liveness",
                            "the soft interrupt thread tests its pending flag with "
                            "interrupts on, then sleeps: a softint_schedule between is lost "
                            "and the flag it leaves set stops every later wake-up (the "
                            "scenario then never finishes: explore's `guest` finding, "
                            "status 124)",
                            extras=("guest",), explore=True, line="key=0x1c"),
    "ring_publish_early": Bug("classic", "biglock", "guest",
                              "ring_put publishes the head before writing the slot: the "
                              "interrupt handler sends a stale word", explore=True,
                              line="packet=7"),
    "tx_count_no_ipl": Bug("threaded", "biglock", "guest",
                           "td_tx_inflight is read and written back at IPL_NONE: a send "
                           "counted off in between is lost", explore=True, line="packet=7"),
}

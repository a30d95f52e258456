"""Every --bug kernel is caught by the rule it targets, and the report names
the lock, LWP or line involved (the guest runs behind make check-bugs).

REPORTS pins, for every bug, what its target rule must say: the fields of
one violation and a piece of its message (for a bug that breaks its rule in
two ways, one entry per way).  The table in guest_kernel/bugs.py says the
same in ``names``; a test below keeps the two in step.  The races only
explore finds (``explore`` in the table) are
tests/emulator/explore/test_explore.py's and make check-bugs'.  The controls (the
same configurations without the bug) are the goldens' runs, which must end
with 0 violations (tests/golden/test_golden.py).  A bug kernel's run is the
session's shared one (tests/runs.py): tests/golden/test_fast_path.py and
tests/guest_kernel/test_irqlab.py assert on the same run."""

import pytest

from guest_kernel.checkbugs import load_bugs

REPORTS = {
    "sleep_in_hardintr": [
        # main, interrupted by IRQ 1, takes the adaptive kbd_lock in the handler...
        ({"lock": "kbd_lock", "line": 1, "lwp": "lwp 0"},
         "lwp 0 takes the adaptive mutex kbd_lock in hard interrupt context (irq 1"),
        # ... and blocks on it there (the sleeping holder has it)
        ({"lock": "kbd_lock", "line": 1, "lwp": "lwp 0"},
         "lwp 0 blocks on kbd_lock in hard interrupt context (irq 1"),
    ],
    "spin_then_sleep": [
        ({"lock": "biglock_spin", "lwp": "lwp 0"}, "lwp 0 sleeps holding spin mutex biglock_spin"),
    ],
    "biglock_leak": [
        ({"lwp": "lwp 0", "depth": 2}, "lwp 0 leaves the CPU holding the big lock at depth 2"),
    ],
    "no_unmask": [
        ({"line": 1, "ithread": "ithread 3"},
         "irq 1 left masked: ithread 3 released it after its handler finished"),
    ],
    "resume_pinned": [
        ({"lwp": "lwp 4", "pinner": "ithread 3"}, "lwp 4 runs while pinned by ithread 3"),
    ],
    "lock_order": [
        ({"lock": "soak_b", "held": "soak_a"}, "lock order cycle soak_a -> soak_b -> soak_a"),
    ],
    "irq_unsafe": [
        ({"lock": "kbd_stat", "line": 1, "lwp": "lwp 0"},
         "kbd_stat is taken by the irq 1 handler in hard interrupt context and by lwp 0 "
         "with irq 1 enabled"),
    ],
    "stack_overflow": [
        ({"owner": "ithread 3"}, "stack of ithread 3 overflowed into its red zone"),
    ],
    "lost_wakeup": [
        ({"lwp": "lwp 0"}, "lost wake-up: lwp 0 slept on"),
    ],
    "mutex_as_completion": [
        # re-entry: main takes the mutex it holds (its contend and its block)
        ({"lock": "ib_done", "lwp": "lwp 0", "owner": "lwp 0"},
         "lwp 0 takes ib_done again while holding it"),
        # release by a non-owner: the holder releases main's mutex
        ({"lock": "ib_done", "lwp": "lwp 4", "owner": "lwp 0"},
         "lwp 4 releases ib_done, which lwp 0 holds"),
    ],
    "empty_ring_unlock": [
        # a release of a mutex nobody holds: a soak worker polling the ring
        ({"lock": "kbd_lock", "lwp": "lwp 4", "owner": None},
         "lwp 4 releases kbd_lock, which nobody holds"),
    ],
    "eoi_unmasked": [
        # the same line enters again while its handler runs on that CPU
        ({"line": 5}, "irq 5 entered again on cpu0 while its handler is active"),
    ],
    "sti_before_iret": [
        # the first clock interrupt returns with IF=1
        ({"line": 0, "vector": 32}, "with interrupts enabled (vector 32)"),
    ],
    # issue 13
    "early_unmask": [
        # ONESHOT: the release before the handler ran, the first time
        ({"line": 1, "ithread": "ithread 3"},
         "irq 1 released by ithread 3 before its handler finished"),
        # and the handler thread then blocks with its line open
        ({"line": 1, "ithread": "ithread 3"},
         "irq 1 is not masked while its handler thread ithread 3 blocks on kbd_lock"),
    ],
    "ithread_sleep": [
        ({"lwp": "ithread 3", "line": 1},
         "ithread 3 sleeps on wait channel 0x"),
    ],
    "spin_low_ipl": [
        ({"lock": "kbd_stat", "line": 1, "lwp": "lwp 0"},
         "kbd_stat is taken by the irq 1 handler in its interrupt thread ithread 3 and by "
         "lwp 0 with irq 1 enabled"),
    ],
    "adaptive_in_intr": [
        ({"lock": "kbd_stat", "line": 1},
         "takes the adaptive mutex kbd_stat in hard interrupt context (irq 1"),
    ],
    "biglock_order": [
        ({"lock": "kbd_lock", "held": "kernel_lock", "lwp": "ithread 3"},
         "lock order cycle kernel_lock -> kbd_lock -> kernel_lock: ithread 3 takes kbd_lock "
         "while holding kernel_lock"),
    ],
    "unpin_twice": [
        ({"lwp": "lwp 4", "ithread": "ithread 3"},
         "ithread 3 unpins lwp 4, which is not pinned"),
    ],
    "long_handler": [
        ({"line": 1, "lwp": "lwp 4"},
         "cpu0 has been in the irq 1 handler for 10000001 instructions"),
    ],
}


# bugs whose report's handler backtrace must cross the interrupt frame into
# the code IRQ 1 interrupted: the holder raising it, in ib_holder (classic:
# down the same stack; ithread: from the interrupt LWP's stack to the
# pinned LWP's)
CROSSES = {"irq_unsafe": "lwp 4", "spin_low_ipl": "lwp 4"}


def test_every_bug_has_its_report_pinned_and_the_table_names_what_the_report_pins():
    bugs = [b for b in load_bugs() if not b.explore]
    assert set(REPORTS) == {b.name for b in bugs}
    for b in bugs:
        assert b.names, f"{b.name}: the table names nothing"
        assert any(all(fields.get(k) == v for k, v in b.names.items())
                   for fields, _text in REPORTS[b.name]), b


@pytest.mark.parametrize("bug", [b for b in load_bugs() if not b.explore], ids=lambda b: b.name)
def test_broken_kernel_is_caught_by_its_targeted_rule(bug, checked_run):
    r = checked_run(bug.model, bug.scenario, bug=bug.name, cpus=bug.cpus)
    assert r.status == 120, r.stderr
    hits = [v for v in r.violations if v["rule"] == bug.rule]
    assert hits, f"{bug.name}: fired {r.rules}, wanted {bug.rule}\n{r.stderr}"
    assert f"checks: {bug.rule} violated" in r.stderr
    # the guest finished its scenario: it does not report its own bug
    assert f"PASS {bug.scenario}" in r.stdout, r.stdout
    for fields, text in REPORTS[bug.name]:
        assert any(text in h["message"] and all(h.get(k) == fv for k, fv in fields.items())
                   for h in hits), f"{bug.name}: no report {text!r} with {fields}\n{r.stderr}"
    if bug.name in CROSSES:
        frames = r.stderr.split("took kbd_stat", 1)[1].split(" took ", 1)[0]
        mark = f"[irq 1, vector 0x21, interrupted {CROSSES[bug.name]}] "
        assert mark in frames and "ib_holder+" in frames.split(mark, 1)[1], r.stderr
    # nothing fires that the table does not expect, and what it expects does
    assert set(r.rules) == {bug.rule, *bug.extras}, r.stderr

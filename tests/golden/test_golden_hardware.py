"""Every device interrupt in the goldens came through the hardware.

An interrupt thread that blocks (``ithread.block``) must be serving a
request the CPU acknowledged from the interrupt controller: the last
``intr.enter`` of its line is of kind ``irq`` (the machine's delivery after
an INTA cycle), not ``soft`` (an ``int n`` instruction), and in the goldens
kept whole that delivery follows the controller's acknowledge of the same
vector on that CPU (``pic.ack`` on one CPU, the Local APIC's ``apic.ack``
through the IO APIC).  And no scenario enters a device line's vector by
``int`` at all, but the one spurious IRQ 7 of ``nested`` (neither QEMU's nor
irqlab's 8259 ever answers with one, so the kernel's spurious path is taken
by ``int``: guest_kernel/scen_nested.S).
"""

from __future__ import annotations

import pytest

from tests.golden import golden

INDEX = golden.load_index()
SPURIOUS_STAND_IN = ("nested", 7)


def _check(events, scenario: str, whole: bool) -> list:
    """The complaints about one golden's events (empty when all is well)."""
    last_ack = {}           # cpu -> vector of the last controller acknowledge
    last_enter = {}         # line -> (kind, acknowledged?)
    blocks = 0
    out = []
    for ev in events:
        kind = ev["ev"]
        if kind in ("pic.ack", "apic.ack"):
            last_ack[ev["cpu"]] = ev.get("vector")
        elif kind == "intr.enter" and ev.get("line") is not None:
            line = ev["line"]
            acked = last_ack.pop(ev["cpu"], None) == ev.get("vector")
            last_enter[line] = (ev.get("kind"), acked)
            if ev.get("kind") == "soft" and (scenario, line) != SPURIOUS_STAND_IN:
                out.append(f"t={ev['t']}: irq {line} entered by a software int")
        elif kind == "ithread.block" and ev.get("line") is not None:
            blocks += 1
            how, acked = last_enter.get(ev["line"], (None, False))
            if how != "irq":
                out.append(f"t={ev['t']}: {ev.get('ithread')} blocks serving irq {ev['line']}, "
                           f"last entered as {how!r}")
            elif whole and not acked:
                out.append(f"t={ev['t']}: irq {ev['line']} was delivered without an acknowledge")
    return out


@pytest.mark.parametrize("key", sorted(INDEX) or ["(none blessed)"])
def test_each_ithread_block_in_a_golden_serves_an_acknowledged_hardware_interrupt(key):
    if key not in INDEX:
        pytest.skip("no goldens yet: run make bless")
    model, scenario, cpus = golden.parse_key(key)
    events = golden.golden_events(model, scenario, cpus)
    assert _check(events, scenario, INDEX[key]["form"] == "full") == []


def test_the_goldens_hold_blocked_interrupt_threads_to_check():
    blocked = [k for k in INDEX
               if any(e["ev"] == "ithread.block" for e in golden.golden_events(*golden.parse_key(k)))]
    assert {"ithread/ithread_block", "cpus2/ithread/ithread_block",
            "cpus4/ithread/ithread_block"} <= set(blocked)


def E(t, ev, cpu=0, **f):
    return dict({"t": t, "cpu": cpu, "ev": ev}, **f)


def test_the_check_rejects_a_blocking_handler_entered_by_int():
    evs = [E(1, "intr.enter", vector=33, line=1, kind="soft"),
           E(2, "ithread.block", ithread="ithread 3", line=1, lock="kbd_lock")]
    assert len(_check(evs, "ithread_block", True)) == 2


def test_the_check_rejects_a_delivery_with_no_acknowledge_of_its_vector():
    evs = [E(1, "pic.ack", line=0, vector=32), E(1, "intr.enter", vector=33, line=1, kind="irq"),
           E(2, "ithread.block", ithread="ithread 3", line=1, lock="kbd_lock")]
    assert _check(evs, "ithread_block", True) == ["t=2: irq 1 was delivered without an acknowledge"]
    assert _check(evs, "ithread_block", False) == []


def test_the_check_accepts_an_acknowledged_interrupt_and_the_spurious_stand_in():
    evs = [E(1, "pic.ack", line=1, vector=33), E(1, "intr.enter", vector=33, line=1, kind="irq"),
           E(2, "ithread.block", ithread="ithread 3", line=1, lock="kbd_lock"),
           E(3, "intr.enter", vector=39, line=7, kind="soft")]
    assert _check(evs, "nested", True) == []
    assert len(_check(evs, "soak", True)) == 1

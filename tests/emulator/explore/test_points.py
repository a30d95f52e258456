"""emulator/explore/points.py on tiny guests: which boundaries are points.

A point is a boundary where the explored line, raised then, is taken at
once: IF=1 (SDM vol. 3A 6.8.1), not in the shadow of sti (6.8.3), the line
unmasked at the 8259's IMR (8259A datasheet, OCW1); a halt is one point.
Every guest is bounded by an instruction count.
"""

from __future__ import annotations

import json

import pytest

import asm
from emulator.devices.testdev import TESTDEV_BASE
from emulator.explore import Plan, Window, base_run
from emulator.explore.target import Target
from tests import guests

# PICs at 0x20/0x28, every line masked but 0 and 5; no IDT entries are
# needed: the base run never takes an interrupt (IF=0 or nothing raised).
PROLOGUE = guests.start() + guests.pic_init(0xde, 0xff) + "main:\n"
EXIT = """
    mov al, 0
    out 0xf4, al
    hlt
"""


def target(body: str, irq=5, packet=None, key=None, injections=()) -> Target:
    img = asm.assemble_text(PROLOGUE + body + EXIT, entry="start")
    return Target(image=img.flat(), image_name="t.bin", symfile=json.dumps(img.symfile()),
                  mem_mib=2, injections=tuple(injections), irq=irq, packet=packet, key=key)


def points(body: str, plan=Plan(merge=False), **kw) -> list:
    _t, _n, classes, _rec = base_run(target(body, **kw), plan)
    return [t for t, _size in classes]


def main_time(body: str) -> int:
    """Virtual time when ``main`` starts: the prologue's instructions."""
    return PROLOGUE.count("\n    ")


def test_points_need_if_set_and_no_sti_shadow():
    body = """
    sti
    nop
    nop
    cli
    nop
    sti
    nop
    nop
    cli
"""
    t = main_time(body)
    # sti@t, nop@t+1 (its shadow), nop@t+2, cli@t+3, nop@t+4 (IF=0), sti@t+5,
    # nop@t+6 (shadow), nop@t+7, cli@t+8
    assert points(body) == [t + 2, t + 3, t + 7, t + 8]


def test_a_masked_line_has_no_points():
    body = """
    sti
    nop
    mov al, 0xff
    out 0x21, al
    nop
    nop
    mov al, 0xde
    out 0x21, al
    nop
    cli
"""
    t = main_time(body)
    # (t+1 is in sti's shadow) the mask write is retired at t+3: from the
    # boundary t+4 the line is masked, from t+8 open again
    assert points(body) == [t + 2, t + 3, t + 8, t + 9]


def test_a_line_unmasked_only_at_the_slave_needs_the_cascade_too():
    body = """
    sti
    mov al, 0xfe
    out 0xa1, al
    nop
    mov al, 0xda
    out 0x21, al
    nop
    cli
"""
    t = main_time(body)
    # IRQ 8: slave bit 0 open from t+3, master's cascade (bit 2) from t+6
    assert points(body, irq=8) == [t + 6, t + 7]


def test_a_halt_is_one_point_right_after_the_hlt():
    body = """
    sti
    hlt
    cli
"""
    t = main_time(body)
    # hlt@t+1 is in sti's shadow; the halt after it is one point, however
    # long: the base run's own edge at 5000 ends it (vector 0x20 has no gate:
    # the run crashes there, after the points are known)
    assert points(body, injections=("irq=0,at=5000",)) == [t + 2]


def test_a_packet_needs_the_devices_interrupt_enabled():
    body = f"""
    sti
    nop
    mov dx, {TESTDEV_BASE + 5:#x}
    mov al, 1
    out dx, al
    nop
    cli
"""
    t = main_time(body)
    assert points(body, irq=None, packet=7) == [t + 5, t + 6]


def test_a_key_needs_irq1_unmasked_and_the_8042s_keyboard_interrupt_on():
    # a key raises IRQ 1 at once only with the command byte's INT bit set
    # (reset: 0x03) and the line open; writing command byte 0 turns INT off
    body = """
    sti
    nop
    nop
    mov al, 0xdc
    out 0x21, al
    nop
    mov al, 0x60
    out 0x64, al
    mov al, 0
    out 0x60, al
    nop
    cli
"""
    t = main_time(body)
    assert points(body, irq=None, key=0x1C) == [t + 5, t + 6, t + 7, t + 8, t + 9]


def test_every_keeps_every_kth_point_and_a_window_cuts_by_time_and_code():
    body = "    sti\n" + "    nop\n" * 10 + "    cli\n"
    t = main_time(body)
    assert points(body, plan=Plan(merge=False, every=3)) == [t + 2, t + 5, t + 8, t + 11]
    assert points(body, plan=Plan(merge=False, window=Window(t0=t + 3, t1=t + 6))) == \
        [t + 3, t + 4, t + 5]


def test_a_loop_without_events_is_one_class_per_instruction():
    body = """
    sti
    mov ecx, 50
loop1:
    dec ecx
    jnz loop1
    cli
"""
    tgt = target(body)
    _t, n, classes, _rec = base_run(tgt, Plan())
    assert n == 100 + 1                         # 50 x (dec, jnz), cli (mov: sti's shadow)
    assert [size for _t, size in classes] == [50, 50, 1]

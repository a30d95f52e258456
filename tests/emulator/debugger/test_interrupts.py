"""Real interrupts through the 8259 pair: catch irq, irq pulse, bt inside a
nested interrupt, nexti over an interrupt taken meanwhile, reverse-stepi
across an interrupt restoring the PIC too, info pic / info idt."""

import pathlib

from tests.emulator.debugger.conftest import build_loop, drive
from tests.emulator.debugger.test_repl import state

IRQNEST = (pathlib.Path(__file__).parent / "irqnest.S").read_text()


def in_irq5(tmp_path):
    d, p = build_loop(tmp_path, text=IRQNEST, name="irqnest")
    out = drive(d, "b main_loop\nc\ndelete\ncatch irq 5\nirq pulse 5\nc\nsi 20\n")
    assert "Catchpoint 2 (irq 5, vector 0x25, from main_loop" in out
    assert p["wait3"] <= d.pc < p["irq3"]
    return d, p


def test_bt_inside_a_nested_interrupt_marks_each_irq_frame(tmp_path):
    d, p = in_irq5(tmp_path)
    out = drive(d, "b deep3\nirq pulse 3\nc\nbt\n")
    bt = [l.strip() for l in out[out.index("#0"):].splitlines() if l.strip()][:6]
    assert bt[0].startswith("#0") and "in deep3" in bt[0]
    assert "in irq3+0x5" in bt[1]
    assert bt[2] == "<irq 3, vector 0x23>"
    assert "in wait3" in bt[3]
    assert bt[4] == "<irq 5, vector 0x25>"
    assert "in main_loop" in bt[5]


def test_nexti_steps_over_an_interrupt_taken_meanwhile(tmp_path):
    d, p = in_irq5(tmp_path)
    flag = p["flag3"]
    drive(d, "irq pulse 3\n")
    assert d.pc == p["wait3"] + 7                           # je wait3, flags from cmp
    drive(d, "ni\n")
    assert d.t.mem_read(flag, 1) == b"\x01"                # irq3's handler ran whole
    assert d.pc == p["wait3"]                               # and the je was executed


def test_reverse_stepi_across_an_interrupt_restores_registers_memory_and_pic(tmp_path):
    d, p = in_irq5(tmp_path)
    before = state(d)
    pic_before = d.t.devices["pic"].describe()
    drive(d, "irq pulse 3\nsi 30\n")
    assert d.t.devices["pic"].describe() != pic_before or state(d) != before
    # the pulse forked the history: going back 30 lands just after it
    drive(d, "rsi 30\n")
    assert d.t.now == before[3]
    assert d.t.devices["pic"].describe() != pic_before      # IRR 3 latched by the pulse
    drive(d, "si 30\nrsi 30\n")
    assert d.t.now == before[3]


def test_info_pic_and_idt_show_the_programmed_state(tmp_path):
    d, p = in_irq5(tmp_path)
    out = drive(d, "info pic\ninfo idt\ninfo pit\ninfo uart\ninfo rtc\ninfo testdev\n")
    assert "imr=d7" in out and "isr=20" in out and "irq_base=0x20" in out
    assert "0x25 intr 0x0008:" in out and "irq5" in out and "irq 5" in out
    assert "0x23 intr 0x0008:" in out and "irq3" in out
    assert "testdev" in out and "error" not in out


def test_the_interrupt_log_goes_back_with_the_machine_and_holds_each_interrupt_once(tmp_path):
    d, p = build_loop(tmp_path, text=IRQNEST, name="irqnest")
    # irq 5 raised four instructions past main_loop, out of the sti's shadow
    drive(d, "b main_loop\nc\ndelete\nsi 4\ncatch irq 5\nirq pulse 5\nc\ndelete\nsi 20\n")
    assert p["wait3"] <= d.pc < p["irq3"]
    drive(d, "b deep3\nirq pulse 3\nc\n")
    assert d.pc == p["deep3"]
    taken = [e[:7] for e in d.intr_log]
    assert [e[2] for e in taken[-2:]] == [0x25, 0x23]
    drive(d, "rsi 1\nsi 1\n")             # replayed from before irq 3: logged once
    assert [e[:7] for e in d.intr_log] == taken
    t3 = d.intr_log[-1][0]
    drive(d, f"rsi {d.t.now - t3 + 1}\n")  # before it (and before the pulse)
    assert [e[:7] for e in d.intr_log] == taken[:-1]   # no future in it

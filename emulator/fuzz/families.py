"""The program families: one function per device or mechanism, ``fn(o: Ops)``.

Contract
--------
Each function appends ops to ``o`` (emulator/fuzz/ops.py) drawing from
``o.rng`` only, so a family's ops are a function of the seed; every op
stands alone and stays clear of the differences emulator/fuzz/gen.py lists.
``smp(o, ncpus)`` takes the CPU count.  ``FAMILY_FUNCS`` names the one-CPU
families ``mixed`` draws from.
"""

from __future__ import annotations

import datetime

from emulator.fuzz.ops import Ops, be32, delay

PM_HZ = 3_579_545


def pic(o: Ops) -> None:
    """8259s with real sources: i8042 (IRQ 1, 12), COM1 THRE (IRQ 4), the PIT (IRQ 0)."""
    r = o.rng
    for _ in range(r.randrange(20, 60)):
        k = r.choices(("imr", "kbd", "kbd_read", "uart", "pit", "read", "eoi", "window",
                       "flush", "poll"), (3, 2, 2, 2, 1, 4, 2, 3, 1, 1))[0]
        if k == "imr":
            port = r.choice((0x21, 0xA1))
            o.add(f"mov al, {r.getrandbits(8) | r.choice((0, 0xE8)):#x}", f"out {port:#x}, al")
        elif k == "kbd":
            o.add(f"mov al, {r.choice((0xD2, 0xD3)):#x}", "out 0x64, al",
                  f"mov al, {r.getrandbits(8):#x}", "out 0x60, al")
        elif k == "kbd_read":
            o.show("in al, 0x60", text="kbd")
        elif k == "uart":
            ier = r.choice((0, 2))
            o.add("mov dx, 0x3fc", "mov al, 0x08", "out dx, al",        # OUT2, no loopback
                  "mov dx, 0x3f9", f"mov al, {ier}", "out dx, al")
        elif k == "pit":
            count = r.choice((100, 500, 1193, 3000))
            o.add("mov al, 0x34", "out 0x43, al", f"mov al, {count & 0xFF}", "out 0x40, al",
                  f"mov al, {count >> 8}", "out 0x40, al")
        elif k == "read":
            chip = r.choice((0x20, 0xA0))
            if r.random() < 0.3:
                o.show(f"in al, {chip + 1:#x}", text="imr")
            else:
                ocw3 = r.choice((0x0A, 0x0B))
                o.show(f"mov al, {ocw3:#x}", f"out {chip:#x}, al", f"in al, {chip:#x}",
                       text="irr" if ocw3 == 0x0A else "isr")
        elif k == "eoi":
            chip = r.choice((0x20, 0xA0))
            cmd = r.choice((0x20, 0x60 | r.randrange(8)))
            o.add(f"mov al, {cmd:#x}", f"out {chip:#x}, al")
        elif k == "poll":
            chip = r.choice((0x20, 0xA0))
            o.show("mov al, 0x0c", f"out {chip:#x}, al", f"in al, {chip:#x}", text="poll")
        elif k == "window":
            o.window(r.choice((50, 500, 3000, 20000)))
        else:
            o.flush()
    o.add("mov al, 0x30", "out 0x43, al", "mov al, 1", "out 0x40, al", "xor al, al",
          "out 0x40, al", "mov dx, 0x3f9", "xor al, al", "out dx, al", "mov al, 0xff",
          "out 0x21, al", "out 0xa1, al")


def pit(o: Ops) -> None:
    """The 8254: every mode and access, latches, read-back, GATE 2, IRQ 0."""
    r = o.rng
    for ch in (0, 1, 2):
        o.add(f"mov al, {(ch << 6) | 0x34:#x}", "out 0x43, al", "mov al, 0xff",
              f"out {0x40 + ch:#x}, al", f"out {0x40 + ch:#x}, al")
    if r.random() < 0.5:
        o.add("mov al, 0xfe", "out 0x21, al")                         # IRQ 0 unmasked
    for _ in range(r.randrange(20, 80)):
        k = r.choices(("ctrl", "load", "latch", "readback", "read", "p61", "delay", "window"),
                      (2, 3, 1, 1, 4, 1, 2, 1))[0]
        ch = r.choice((0, 1, 2))
        if k == "ctrl":
            o.add(f"mov al, {(ch << 6) | (r.randrange(1, 4) << 4) | (r.randrange(6) << 1):#x}",
                  "out 0x43, al")
        elif k == "load":
            o.add(f"mov al, {r.choice((0, 1, 2, 3, 0x10, 0x80, 0xff, r.randrange(256))):#x}",
                  f"out {0x40 + ch:#x}, al")
        elif k == "latch":
            o.add(f"mov al, {ch << 6:#x}", "out 0x43, al")
        elif k == "readback":
            o.add(f"mov al, {0xC0 | (r.randrange(1, 4) << 4 & 0x30) | (r.randrange(1, 8) << 1):#x}",
                  "out 0x43, al")
        elif k == "read":
            o.show(f"in al, {0x40 + ch:#x}", text=f"c{ch}")
        elif k == "p61":
            if r.random() < 0.5:
                o.add(f"mov al, {r.randrange(4):#x}", "out 0x61, al")
            else:
                o.show("in al, 0x61", "and al, 0x23", text="p61")
        elif k == "delay":
            delay(o, r.choice((1, 10, 100, 838, 1000, 5000, 20000)) + r.randrange(50))
        else:
            o.window(r.choice((1000, 20000)))
            o.flush()
    o.add("mov al, 0xff", "out 0x21, al", "mov al, 0x30", "out 0x43, al", "mov al, 1",
          "out 0x40, al", "xor al, al", "out 0x40, al")


def uart(o: Ops) -> None:
    """COM1: FIFOs, IER/IIR, LSR/MSR, divisor, loopback, IRQ 4 through the 8259;
    what it sends outside loopback is compared too (emulator/fuzz/compare.py)."""
    r = o.rng

    def out(reg, value):
        o.add(f"mov dx, {0x3F8 + reg:#x}", f"mov al, {value:#x}", "out dx, al")
    out(3, 0x80)
    out(0, 1)
    out(1, 0)
    out(3, 0x03)
    if r.random() < 0.5:
        o.add("mov al, 0xef", "out 0x21, al")                         # IRQ 4 unmasked
    for _ in range(r.randrange(20, 70)):
        k = r.choices(("thr", "ier", "fcr", "lcr", "mcr", "read", "msr", "delay", "window"),
                      (5, 2, 2, 1, 1, 6, 1, 2, 1))[0]
        if k == "thr":
            out(0, r.randrange(256))
        elif k == "ier":
            out(4, r.choice((0x08, 0x0B)))                           # OUT2, no loopback
            out(1, r.randrange(8))
        elif k == "fcr":
            out(2, r.choice((0x00, 0x01, 0x07, 0x41, 0x81, 0xC1, 0x03, 0x05, 0x47)))
        elif k == "lcr":
            out(3, r.choice((0x03, 0x07, 0x1B, 0x03)))
        elif k == "mcr":
            out(1, 0)                                                # loopback: no interrupts
            out(4, r.choice((0x18, 0x1A, 0x1B, 0x1F)))
        elif k == "read":
            reg = r.choice((0, 0, 1, 2, 2, 3, 4, 5, 5, 7))
            o.show(f"mov dx, {0x3F8 + reg:#x}", "in al, dx", text=f"r{reg}")
        elif k == "msr":
            o.show("mov dx, 0x3fe", "in al, dx", "and al, 0xf0", text="msr")
        elif k == "delay":
            delay(o, r.choice((10, 1000, 30000, 100000, 400000)))
        else:
            o.window(r.choice((2000, 50000)))
            o.flush()
    out(1, 0)
    out(2, 0)
    out(4, 0x10)
    o.add("mov al, 0xff", "out 0x21, al")


def rtc(o: Ops) -> None:
    """The MC146818: CMOS bytes, registers A-D, PF after long enough, periodic IRQ 8."""
    r = o.rng
    for _ in range(r.randrange(15, 40)):
        k = r.choices(("cmos_w", "cmos_r", "a", "b", "c_after", "d", "time", "periodic",
                       "set_time"), (3, 3, 1, 1, 2, 1, 1, 1, 1))[0]
        if k == "cmos_w":
            # RAM only: not the century bytes 0x32/0x37, which are clock
            # registers on QEMU (garbage there is arithmetic, not a device)
            index = r.choice([i for i in range(0x10, 0x80) if i not in (0x32, 0x37)])
            o.add(f"mov al, {index:#x}", "out 0x70, al",
                  f"mov al, {r.getrandbits(8):#x}", "out 0x71, al")
        elif k == "set_time":
            # SET, then valid BCD time and date, then run again: both clocks
            # continue from what was written (read back at once)
            # a date from 2000 on, with its own day of the week: QEMU computes
            # the weekday from the date (the MC146818 only counts it, irqlab
            # too) and its clock arithmetic is off by a second before 1970
            day, month, year, century = (r.randrange(1, 29), r.randrange(1, 13),
                                         r.randrange(100), r.choice((20, 21)))
            weekday = datetime.date(century * 100 + year, month, day).isoweekday() % 7 + 1
            values = {0: r.randrange(60), 2: r.randrange(60), 4: r.randrange(24), 6: weekday,
                      7: day, 8: month, 9: year, 0x32: century}
            lines = ["mov al, 0x0b", "out 0x70, al", "mov al, 0x82", "out 0x71, al"]
            for reg, v in values.items():
                lines += [f"mov al, {reg:#x}", "out 0x70, al",
                          f"mov al, {(v // 10) << 4 | v % 10:#x}", "out 0x71, al"]
            lines += ["mov al, 0x0b", "out 0x70, al", "mov al, 0x02", "out 0x71, al"]
            o.add(*lines)
            reg = r.choice((0, 2, 4, 6, 7, 8, 9, 0x32, 0x37))
            o.show(f"mov al, {reg:#x}", "out 0x70, al", "in al, 0x71", text=f"t{reg:x}")
        elif k == "cmos_r":
            o.show(f"mov al, {r.randrange(0x10, 0x80):#x}", "out 0x70, al", "in al, 0x71",
                   text="cmos")
        elif k == "a":
            rate = r.randrange(3, 16)
            o.add("mov al, 0x0a", "out 0x70, al", f"mov al, {0x20 | rate:#x}", "out 0x71, al")
            o.show("mov al, 0x0a", "out 0x70, al", "in al, 0x71", "and al, 0x7f", text="a")
        elif k == "b":
            o.add("mov al, 0x0b", "out 0x70, al", f"mov al, {r.choice((0x02, 0x06, 0x00, 0x04)):#x}",
                  "out 0x71, al")
            o.show("mov al, 0x0b", "out 0x70, al", "in al, 0x71", text="b")
        elif k == "c_after":
            # PF within two periods at 1024 Hz (976 us); PIE set, as QEMU sets
            # PF only while PIE is (the MC146818 datasheet: whatever PIE says)
            o.add("mov al, 0x0a", "out 0x70, al", "mov al, 0x26", "out 0x71, al",
                  "mov al, 0x0b", "out 0x70, al", "mov al, 0x42", "out 0x71, al",
                  "mov al, 0x0c", "out 0x70, al", "in al, 0x71")
            delay(o, 2_100_000)
            o.show("mov al, 0x0c", "out 0x70, al", "in al, 0x71", "and al, 0x40", text="pf")
            o.add("mov al, 0x0b", "out 0x70, al", "mov al, 0x02", "out 0x71, al",
                  "mov al, 0x0c", "out 0x70, al", "in al, 0x71")
        elif k == "d":
            o.show("mov al, 0x0d", "out 0x70, al", "in al, 0x71", text="d")
        elif k == "time":
            reg = r.choice((0, 2, 4, 6, 7, 8, 9, 0x32, 0x37))
            o.show(f"mov al, {reg:#x}", "out 0x70, al", "in al, 0x71", text=f"t{reg:x}")
        else:
            # PF polled every 1000 instructions at 1024 Hz, PIE set (see
            # c_after): the RTC's phase is absolute time, so the count of
            # periods seen is checked to +-1
            polls = r.choice((3000, 6000, 12000))
            periods = polls * 1000 * 1024 // 1_000_000_000
            lab_loop, lab_wait, lab_end = o.label("p"), o.label("w"), o.label("e")
            o.add("mov al, 0x0a", "out 0x70, al", "mov al, 0x26", "out 0x71, al",
                  "mov al, 0x0b", "out 0x70, al", "mov al, 0x42", "out 0x71, al",
                  "mov al, 0x0c", "out 0x70, al", "in al, 0x71",
                  "xor ebx, ebx", f"mov edi, {polls}", f"{lab_loop}:", "mov al, 0x0c",
                  "out 0x70, al", "in al, 0x71", "movzx eax, al", "shr eax, 6", "and eax, 1",
                  "add ebx, eax", "mov ecx, 990", f"{lab_wait}:", f"loop {lab_wait}",
                  "dec edi", f"jnz {lab_loop}",
                  "mov al, 0x0b", "out 0x70, al", "mov al, 0x02", "out 0x71, al",
                  "mov al, 0x0c", "out 0x70, al", "in al, 0x71", "mov eax, ebx",
                  f"cmp eax, {max(0, periods - 1)}", f"jb {lab_end}", f"cmp eax, {periods + 1}",
                  f"ja {lab_end}", f"mov eax, {periods}", f"{lab_end}:",
                  "push esi", "mov esi, msg_rtc_periodic", "call say", "pop esi",
                  "call putdec", "call newline")
    o.add("mov al, 0x0b", "out 0x70, al", "mov al, 0x02", "out 0x71, al")


def lapic(o: Ops) -> None:
    """The LAPIC timer (one-shot, periodic, divide) and self-IPIs with TPR."""
    r = o.rng
    for _ in range(r.randrange(12, 40)):
        k = r.choices(("timer", "ccr", "ipi", "tpr", "isr_irr", "window", "mask"),
                      (3, 3, 3, 1, 2, 3, 1))[0]
        if k == "timer":
            div = r.choice((0xB, 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA))
            mode = r.choice((0, 0x20000))
            icr = r.choice((50, 300, 1000, 5000, 20000))
            o.add(f"mov dword ptr [LAPIC_TIMER_DCR], {div:#x}",
                  f"mov dword ptr [LAPIC_LVT_TIMER], {0x50 | mode:#x}",
                  f"mov dword ptr [LAPIC_TIMER_ICR], {icr}")
        elif k == "ccr":
            o.show("mov eax, [LAPIC_TIMER_CCR]", text="ccr32")
        elif k == "ipi":
            vec = r.randrange(0x60, 0xF0)
            o.add(f"mov dword ptr [LAPIC_ICR_LO], {0x44000 | vec:#x}")  # self, fixed
        elif k == "tpr":
            o.add(f"mov dword ptr [LAPIC_TPR], {r.choice((0, 0x40, 0x60, 0x80, 0xE0)):#x}")
        elif k == "isr_irr":
            reg = r.choice((0x100, 0x200))
            word = r.randrange(2, 8)
            o.show(f"mov eax, [LAPIC + {reg + 0x10 * word:#x}]", text=f"r{reg + 0x10 * word:x}32")
        elif k == "mask":
            o.add("mov dword ptr [LAPIC_LVT_TIMER], 0x10050")
        else:
            o.window(r.choice((100, 2000, 30000)))
            o.flush()
    o.add("mov dword ptr [LAPIC_LVT_TIMER], 0x10000", "mov dword ptr [LAPIC_TIMER_ICR], 0",
          "mov dword ptr [LAPIC_TPR], 0")
    o.window(100)


def ioapic(o: Ops) -> None:
    """IO APIC routing of real sources: PIT (pin 2), i8042 (1), COM1 (4), RTC (8)."""
    r = o.rng
    for _ in range(r.randrange(15, 50)):
        k = r.choices(("route", "mask", "read", "src", "window", "ver"), (3, 1, 2, 3, 3, 0.3))[0]
        pin = r.choice((1, 2, 4, 12))         # not the RTC's 8: its phase is absolute
        if k == "route":
            level = r.choice((0, 0x8000)) if pin != 2 else 0
            if level:
                # the source quiet first: an entry made level while its input is
                # high delivers at once on irqlab (the pin is sampled, as the
                # 82093AA does) but not on QEMU, which waits for the next rising
                # edge (emulator/devices/ioapic.py)
                o.add(*(("mov dx, 0x3f9", "xor al, al", "out dx, al") if pin == 4
                        else ("in al, 0x60", "in al, 0x60")))
            o.add(f"mov dword ptr [IOAPIC_SEL], {0x10 + 2 * pin}",
                  f"mov dword ptr [IOAPIC_WIN], {(0x30 + pin) | level:#x}")
        elif k == "mask":
            o.add(f"mov dword ptr [IOAPIC_SEL], {0x10 + 2 * pin}",
                  "or dword ptr [IOAPIC_WIN], 0x10000")
        elif k == "read":
            o.show(f"mov dword ptr [IOAPIC_SEL], {0x10 + 2 * pin}", "mov eax, [IOAPIC_WIN]",
                   text=f"rte{pin}32")
        elif k == "ver":
            o.show("mov dword ptr [IOAPIC_SEL], 1", "mov eax, [IOAPIC_WIN]", text="ver32")
        elif k == "src":
            s = r.choice(("pit", "kbd", "kbd_read", "uart_on", "uart_off"))
            if s == "pit":
                count = r.choice((500, 1193, 5000))
                o.add("mov al, 0x34", "out 0x43, al", f"mov al, {count & 0xFF}", "out 0x40, al",
                      f"mov al, {count >> 8}", "out 0x40, al")
            elif s == "kbd":
                o.add(f"mov al, {r.choice((0xD2, 0xD3)):#x}", "out 0x64, al",
                      f"mov al, {r.getrandbits(8):#x}", "out 0x60, al")
            elif s == "kbd_read":
                o.show("in al, 0x60", text="kbd")
            else:
                o.add("mov dx, 0x3fc", "mov al, 0x08", "out dx, al", "mov dx, 0x3f9",
                      f"mov al, {2 if s == 'uart_on' else 0}", "out dx, al")
        else:
            o.window(r.choice((300, 3000, 30000)))
            o.flush()
    o.add("mov al, 0x30", "out 0x43, al", "mov al, 1", "out 0x40, al", "xor al, al",
          "out 0x40, al", "mov dx, 0x3f9", "xor al, al", "out dx, al")
    for pin in (1, 2, 4, 12):
        o.add(f"mov dword ptr [IOAPIC_SEL], {0x10 + 2 * pin}", "or dword ptr [IOAPIC_WIN], 0x10000")
    o.window(100)


def hpet(o: Ops) -> None:
    """HPET: counter, comparators in every mode, routes, legacy replacement, status."""
    r = o.rng
    o.add("mov dword ptr [IOAPIC_SEL], 0x14", "mov dword ptr [IOAPIC_WIN], 0x32")   # pin 2
    for _ in range(r.randrange(15, 50)):
        k = r.choices(("conf", "tconf", "cmp", "cmphi", "counter", "isr", "read", "window"),
                      (2, 3, 3, 1, 1, 1, 4, 3))[0]
        t = r.randrange(3)
        base = 0x100 + 0x20 * t
        if k == "conf":
            o.add(f"mov dword ptr [HPET + 0x10], {r.choice((0, 1, 1, 3, 2)):#x}")
        elif k == "tconf":
            bits = r.getrandbits(9) & 0x14E                           # level, enb, periodic, setval, 32bit
            route = r.choice((2, 2, 2, 8, 0x14, 0x16))
            o.add(f"mov dword ptr [HPET + {base:#x}], {bits | (route << 9):#x}")
        elif k == "cmp":
            # at least 10 ticks: a periodic comparator far behind the counter
            # is caught up one period per step of QEMU's hpet_timer loop
            # (2^32 / period steps after the counter is set to 0xfffffff0)
            value = r.choice((10, 50, 200, 1000, 3000, max(10, r.getrandbits(12))))
            o.add(f"mov dword ptr [HPET + {base + 8:#x}], {value:#x}")
        elif k == "cmphi":
            value = r.choice((0, 0, 0xffffffff))
            # a nonzero high dword goes to the comparator (VAL_SET first),
            # never to the period of a periodic timer: QEMU 7.2 would store
            # it as the period's high dword and, for a 32-bit timer whose
            # period's low dword is 0, hpet_timer's catch-up loop
            # `t->cmp = (uint32_t)(t->cmp + t->period)` never moves: QEMU
            # hangs (README, Differential fuzzing; fuzz seeds 335 and 390)
            o.add(*([f"or dword ptr [HPET + {base:#x}], {0x40:#x}"] if value else []),
                  f"mov dword ptr [HPET + {base + 0xC:#x}], {value:#x}")
        elif k == "counter":
            o.add(f"mov dword ptr [HPET + 0xf0], {r.choice((0, 0xfffffff0, r.getrandbits(16))):#x}")
        elif k == "isr":
            o.add(f"mov dword ptr [HPET + 0x20], {r.randrange(8)}")
        elif k == "read":
            reg = r.choice((0x10, 0x20, 0xF0, 0xF4, base, base + 4, base + 8, base + 0xC))
            o.show(f"mov eax, [HPET + {reg:#x}]", text=f"h{reg:x}32")
        else:
            o.window(r.choice((200, 2000, 20000)))
            o.flush()
    o.add("mov dword ptr [HPET + 0x10], 0", "mov dword ptr [HPET + 0x100], 0",
          "mov dword ptr [HPET + 0x120], 0", "mov dword ptr [HPET + 0x140], 0",
          "mov dword ptr [HPET + 0x20], 7")
    for pin in (2, 8, 0x14, 0x16):
        o.add(f"mov dword ptr [IOAPIC_SEL], {0x10 + 2 * pin}", "or dword ptr [IOAPIC_WIN], 0x10000")
    o.window(100)


def pm(o: Ops) -> None:
    """ACPI PM: PM1 status/enable/control, SMI_CMD, GPE0, PM timer deltas (checked to +-2)."""
    r = o.rng
    for _ in range(r.randrange(10, 30)):
        k = r.choices(("sts", "en", "cnt", "smi", "gpe", "tmr", "read"), (1, 1, 1, 1, 1, 3, 3))[0]
        if k == "sts":
            o.add("mov dx, 0x600", f"mov ax, {r.choice((1, 0x8000, 0xffff, 0x400)):#x}", "out dx, ax")
        elif k == "en":
            o.add("mov dx, 0x602", f"mov ax, {r.choice((0, 0x20, 0x100, 0x400)):#x}", "out dx, ax")
        elif k == "cnt":
            o.add("mov dx, 0x604", f"mov ax, {r.choice((0, 1, 0x0c00, 0x1401)):#x}", "out dx, ax")
        elif k == "smi":
            o.add(f"mov al, {r.choice((0xf1, 0xf0)):#x}", "out 0xb2, al")
        elif k == "gpe":
            o.add(f"mov dx, {r.choice((0xafe0, 0xafe2, 0xafe3)):#x}", f"mov al, {r.getrandbits(8):#x}",
                  "out dx, al")
        elif k == "read":
            port, width = r.choice(((0x600, 16), (0x602, 16), (0x604, 16), (0xafe0, 8),
                                    (0xafe2, 8), (0xb2, 8), (0xb3, 8)))
            if width == 16:
                o.show(f"mov dx, {port:#x}", "xor eax, eax", "in ax, dx", text=f"p{port:x}32")
            else:
                o.show(f"mov dx, {port:#x}", "in al, dx", text=f"p{port:x}")
        else:
            n = r.choice((1000, 10000, 100000, 500000))
            expect = (n + 3) * PM_HZ // 1_000_000_000
            lab_ok, lab_end = o.label("ok"), o.label("e")
            lab_d = o.label("d")
            o.add("mov dx, 0x608", "in eax, dx", "mov ebx, eax", f"mov ecx, {n}", f"{lab_d}:",
                  f"loop {lab_d}", "in eax, dx", "sub eax, ebx", "and eax, 0xffffff",
                  f"cmp eax, {max(0, expect - 2)}", f"jb {lab_end}", f"cmp eax, {expect + 2}",
                  f"ja {lab_end}", "push esi", "mov esi, msg_pmt_ok", "call say", "pop esi",
                  f"jmp {lab_ok}", f"{lab_end}:", "call puthex", f"{lab_ok}:", "call newline")
    o.add("mov dx, 0x602", "xor eax, eax", "out dx, ax", "mov dx, 0x600", "mov ax, 0xffff",
          "out dx, ax")


FW_KEYS = {0x00: 4, 0x01: 4, 0x02: 16, 0x03: 8, 0x04: 2, 0x05: 2, 0x0D: 16, 0x0E: 2, 0x0F: 2,
           0x8000: 4, 0x8002: 4, 0x8003: 24, 0x8004: 24, 0x3F: 4, 0x7000: 4}
FW_FILES = {"etc/e820": 20, "etc/system-states": 6, "etc/boot-fail-wait": 4}


def fw_cfg(o: Ops) -> None:
    """fw_cfg: items both machines have, byte reads, files by name, DMA read/skip/write."""
    r = o.rng
    for _ in range(r.randrange(8, 25)):
        k = r.choices(("item", "dma", "file", "sig"), (4, 2, 1, 1))[0]
        if k == "item":
            key, size = r.choice(sorted(FW_KEYS.items()))
            n = r.randrange(1, size + 3)
            lab = o.label("b")
            o.add("mov dx, 0x510", f"mov ax, {key:#x}", "out dx, ax", "mov dx, 0x511",
                  f"mov ecx, {n}", "push esi", f"mov esi, msg_fw", "call say", "pop esi",
                  f"{lab}:", "in al, dx", "call space", "call puthex2", f"loop {lab}",
                  "call newline")
        elif k == "sig":
            o.show("mov dx, 0x514", "in eax, dx", text="dmasig32")
        elif k == "file":
            name, size = r.choice(sorted(FW_FILES.items()))
            o.add(*fw_file_lookup(o, name, size))
        else:
            key, size = r.choice(sorted(FW_KEYS.items()))
            op = r.choice((0x0A, 0x0C, 0x12, 0x02))                  # select|read, select|skip, select|write, read
            n = r.randrange(1, 24)
            lab = o.label("b")
            # select through the port first: a request without SELECT reads
            # the item selected last, which on QEMU is the firmware's
            o.add("mov dx, 0x510", f"mov ax, {key:#x}", "out dx, ax",
                  "mov edi, buffer", "mov ecx, 64", "xor al, al", "rep stosb",
                  f"mov dword ptr [scratch], {be32((key << 16) | op):#x}",
                  f"mov dword ptr [scratch + 4], {be32(n):#x}",
                  "mov dword ptr [scratch + 8], 0", "mov eax, buffer", "bswap eax",
                  "mov [scratch + 12], eax", "mov dx, 0x514", "xor eax, eax", "out dx, eax",
                  "mov eax, scratch", "bswap eax", "mov dx, 0x518", "out dx, eax",
                  "push esi", "mov esi, msg_dma", "call say", "pop esi",
                  "mov eax, [scratch]", "call puthex", "mov esi, buffer", f"mov ecx, {n}",
                  f"{lab}:", "lodsb", "call space", "call puthex2", f"loop {lab}", "call newline")


def fw_file_lookup(o: Ops, name: str, size: int) -> list:
    """Find ``name`` in the file directory, select it, print its bytes."""
    lab_next, lab_found, lab_cmp, lab_pr, lab_end = (o.label(s) for s in ("n", "f", "c", "p", "e"))
    data = o.label("fname")
    return [".data", f"{data}: .asciz \"{name}\"", "        .text",
            "mov dx, 0x510", "mov ax, 0x19", "out dx, ax", "mov dx, 0x511",
            "xor ebx, ebx", "mov ecx, 4", f"{lab_cmp}:", "shl ebx, 8", "in al, dx", "mov bl, al",
            f"loop {lab_cmp}",
            f"{lab_next}:", "test ebx, ebx", f"jz {lab_end}", "dec ebx",
            "mov edi, buffer", "mov ecx, 64", f"{lab_pr}:", "in al, dx", "stosb", f"loop {lab_pr}",
            "push esi", f"mov esi, {data}", "mov edi, buffer + 8", f"mov ecx, {len(name) + 1}",
            "repe cmpsb", "pop esi", f"jne {lab_next}",
            "movzx eax, byte ptr [buffer + 4]", "shl eax, 8", "mov al, [buffer + 5]",
            "mov dx, 0x510", "out dx, ax", "mov dx, 0x511",
            "push esi", f"mov esi, {data}", "call say", "pop esi",
            f"mov ecx, {size}", f"{lab_found}:", "in al, dx", "call space", "call puthex2",
            f"loop {lab_found}", f"{lab_end}:", "call newline"]


def exceptions(o: Ops) -> None:
    """Faults and traps with and without error codes, gate types, int n."""
    r = o.rng
    for _ in range(r.randrange(8, 25)):
        k = r.choice(("de", "ud", "bp", "of", "br", "gp_limit", "np", "ss", "gp_code", "gp_ro",
                      "int", "trap_gate", "nm", "idiv"))
        lab = o.label("r")
        pre = f"mov dword ptr [resume], {lab}"
        if k == "de":
            o.add(pre, "xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx", f"{lab}:")
        elif k == "idiv":
            o.add(pre, "mov edx, 0xffffffff", "mov eax, 0x80000000", "mov ecx, 0xffffffff",
                  "idiv ecx", f"{lab}:")
        elif k == "ud":
            o.add(pre, "ud2", f"{lab}:")
        elif k == "bp":
            o.add(pre, "int3", f"{lab}:")
        elif k == "of":
            o.add(pre, "mov al, 0x7f", "add al, 1", "into", f"{lab}:")
        elif k == "br":
            o.add(pre, "mov dword ptr [scratch], 10", "mov dword ptr [scratch + 4], 20",
                  f"mov eax, {r.choice((5, 25))}", "bound eax, [scratch]", f"{lab}:",
                  "mov dword ptr [resume], 0")
        elif k == "gp_limit":
            sel = r.choice((0x30, 0x38, 0x80, 0xfff8))
            o.add(pre, f"mov ax, {sel:#x}", "mov ds, ax", f"{lab}:", "mov ax, 0x10", "mov ds, ax")
        elif k == "np":
            o.add(pre, "mov ax, 0x18", "mov es, ax", f"{lab}:", "mov ax, 0x10", "mov es, ax")
        elif k == "ss":
            o.add(pre, "mov ax, 0x18", "mov ss, ax", f"{lab}:", "mov ax, 0x10", "mov ss, ax")
        elif k == "gp_code":
            o.add(pre, "mov ax, 0x28", "mov ds, ax", f"{lab}:", "mov ax, 0x10", "mov ds, ax")
        elif k == "gp_ro":
            o.add("mov ax, 0x20", "mov es, ax", pre, "mov edi, scratch", "stosd", f"{lab}:",
                  "mov ax, 0x10", "mov es, ax")
        elif k == "int":
            vec = r.choice((0x61, 0x7f, 0x80, 0xa5))
            o.add(f"int {vec:#x}", "mov dword ptr [LAPIC_EOI], 0")
        elif k == "trap_gate":
            vec = r.choice((0x81, 0x82))
            o.add(f"mov word ptr [idt + {vec} * 8 + 4], 0x8f00", "sti", f"int {vec:#x}", "cli",
                  f"mov word ptr [idt + {vec} * 8 + 4], 0x8e00")
        elif k == "nm":
            o.add("mov eax, cr0", "or eax, 8", "mov cr0, eax", pre, "fninit", f"{lab}:", "clts")
        if r.random() < 0.3:
            o.flush()


def smp(o: Ops, ncpus: int) -> None:
    """IPIs between CPUs: fixed to one APIC, to all others, NMI; each AP logs."""
    r = o.rng
    for _ in range(r.randrange(6, 20)):
        k = r.choice(("bsp_to_ap", "ap_to_bsp", "ap_to_ap", "broadcast", "nmi"))
        vec = r.randrange(0x60, 0xE0)
        ap = r.randrange(1, ncpus)
        if k == "bsp_to_ap":
            fn = o.label("fn")
            o.add(f"mov edx, {ap << 24}", f"mov eax, {vec:#x}", "call send_ipi",
                  f"mov dword ptr [ap_fn], {fn}", f"mov ebx, {ap}", "call ap_go",
                  f"jmp {fn}_end", f"{fn}:", "mov ecx, 100", "call window", "ret", f"{fn}_end:")
        elif k == "ap_to_bsp":
            fn = o.label("fn")
            o.add(f"mov dword ptr [ap_fn], {fn}", f"mov ebx, {ap}", "call ap_go",
                  "mov ecx, 100", "call window",
                  f"jmp {fn}_end", f"{fn}:", "xor edx, edx", f"mov eax, {vec:#x}", "call send_ipi",
                  "ret", f"{fn}_end:")
        elif k == "ap_to_ap" and ncpus > 2:
            to = r.choice([c for c in range(1, ncpus) if c != ap])
            fn, fn2 = o.label("fn"), o.label("fn")
            o.add(f"mov dword ptr [ap_fn], {fn}", f"mov ebx, {ap}", "call ap_go",
                  f"mov dword ptr [ap_fn], {fn2}", f"mov ebx, {to}", "call ap_go",
                  f"jmp {fn2}_end", f"{fn}:", f"mov edx, {to << 24}", f"mov eax, {vec:#x}",
                  "call send_ipi", "ret", f"{fn2}:", "mov ecx, 100", "call window", "ret",
                  f"{fn2}_end:")
        elif k == "broadcast":
            o.add(f"mov eax, {0xC0000 | vec:#x}", "xor edx, edx", "call send_ipi")
            for c in range(1, ncpus):
                fn = o.label("fn")
                o.add(f"mov dword ptr [ap_fn], {fn}", f"mov ebx, {c}", "call ap_go",
                      f"jmp {fn}_end", f"{fn}:", "mov ecx, 100", "call window", "ret",
                      f"{fn}_end:")
        else:
            fn = o.label("fn")
            o.add(f"mov edx, {ap << 24}", "mov eax, 0x4400", "call send_ipi",
                  f"mov dword ptr [ap_fn], {fn}", f"mov ebx, {ap}", "call ap_go",
                  f"jmp {fn}_end", f"{fn}:", "ret", f"{fn}_end:")
        o.flush()


FAMILY_FUNCS = {"pic": pic, "pit": pit, "uart": uart, "rtc": rtc, "lapic": lapic,
                "ioapic": ioapic, "hpet": hpet, "pm": pm, "fw_cfg": fw_cfg,
                "exceptions": exceptions}

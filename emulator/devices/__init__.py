"""The PC's devices, each a model of its datasheet, none importing unicorn.

Files: base.py (the interface every device offers: ports or MMIO, ``reset``,
``describe``, ``next_deadline``/``advance``, ``IrqLine``), wire.py (driving a
line as QEMU's devices do), state.py (snapshots of a device's registers),
i8259.py (the PIC pair), i8254.py (PIT, port 0x61), uart16550.py (COM1),
mc146818.py (RTC and CMOS), i8042.py (keyboard controller), debugcon.py
(0xE9 console, 0xF4 exit), testdev.py (irqlab's packet FIFO), lapic.py (a
Local APIC per CPU), apic_regs.py (the APIC register map the next three
share), ioapic.py, apicbus.py (IPIs and IO APIC messages), and
platform.py (``PcInterrupts``: the PIC pair, the LAPICs and the IO APIC
wired together as on QEMU's pc machine; ``MAX_CPUS``).  The machine
(emulator/machine.py) creates them and wires them to the CPUs.

An interrupt from a device line to the CPU: the device sets its
``IrqLine`` -> platform.py ``isa_irq(line, level)`` -> the 8259 input
(i8259.py ``set_irq``; ``_update`` recomputes INT, and ``pic_output``
drives every LAPIC's LINT0, ExtINT on the BSP after reset) and IO APIC pin
``isa_irq_to_pin(line)`` (ioapic.py: a redirection entry sends a message
over apicbus.py to a LAPIC's IRR) -> lapic.py ``intr_pending()`` is what
the CPU checks at a boundary and ``acknowledge()`` its INTA (for ExtINT,
the 8259's ``acknowledge``) -- from there emulator/accept.py and
``Cpu.deliver`` take it to the handler.
"""

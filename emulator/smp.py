"""Symmetric multiprocessing: what several CPUs need outside the machine core.

Three pieces, each usable on its own by emulator/machine.py:

``ApicPlatform`` -- the PC's interrupt fabric for N CPUs: one ``ApicBus``,
one ``LocalApic`` per CPU (APIC ID = CPU index, CPU 0 the BSP), one
``IoApic``, wired as on QEMU's pc machine:

* the 8259 pair's INT output goes to LINT0 of every LAPIC (QEMU
  pic_irq_request); each LAPIC's ExtINT acknowledge, and the IO APIC's for
  ExtINT entries, is the PIC's ``acknowledge``.  The platform takes over
  ``pic.output_changed``: after wiring, a CPU's "interrupt pending" is
  ``lapics[cpu].intr_pending()`` and its INTA is ``lapics[cpu].acknowledge()``,
  for the PIC's interrupts too (the BSP's LINT0 resets to ExtINT, so a guest
  that never touches an APIC sees the 8259 exactly as before).  A
  ``LocalApic`` is therefore a drop-in ``Cpu.interrupt_source`` (it has
  ``intr_pending()`` and ``acknowledge()``), plus ``nmi_pending`` /
  ``take_nmi()`` for the NMI the machine must deliver regardless of IF.
* every ISA IRQ line goes to the PIC input of the same number and to IO APIC
  input ``isa_irq_to_pin(irq)`` (IRQ0 -> pin 2): ``isa_line(irq)`` is the
  ``IrqLine`` to hand to a device (``pit.irq = platform.isa_line(0)``), or
  ``isa_sink(irq)`` the sink for a device's own line (``pit.irq.sink =
  platform.isa_sink(0)``, as Machine._make_devices wires the PIC today).
* MMIO: 0xFEE00000-0xFEE00FFF is the accessing CPU's own LAPIC,
  0xFEC00000-0xFEC00FFF the IO APIC (``mmio_read(cpu, addr, size)``).
* ``firmware_handoff()`` leaves the BSP's LAPIC as SeaBIOS leaves it under
  QEMU (SVR 0x1FF, LINT0 ExtINT level 0x8700, LINT1 NMI 0x8400), for
  machines that want register reads to match QEMU's before the guest
  programs the APIC.  It is optional: irqlab boots without firmware.

``RoundRobin`` -- deterministic interleaving.  Virtual time is one counter
for the whole machine: the instructions retired by all CPUs together, as
QEMU's single-threaded round-robin TCG counts them under ``-icount``.  The
order: CPUs take turns in index order 0, 1, ..., N-1, 0, ...; a turn lasts
``quantum`` retired instructions (default 1000, one virtual microsecond) or
until the CPU halts, whichever comes first; a CPU stopped inside its turn
by a device deadline, a port or MMIO exit or an interrupt to deliver
resumes the same turn.  Halted CPUs and APs waiting for a start-up IPI are
skipped; when no CPU can run, virtual time jumps to the next device
deadline (QEMU ``sleep=off``).  Nothing else -- no wall clock, no host
thread -- decides who runs, so an SMP run is as reproducible as a UP one,
and since one CPU runs at a time every instruction is atomic.

AP start-up (Unicorn helpers): ``init_registers()`` is the SDM's state after
INIT (Vol. 3A Table 9-1, as QEMU's do_cpu_init leaves it),
``enter_real_mode(uc, vector)`` loads the state a start-up IPI gives:
real mode, CS = vector << 8 (base vector << 12), IP = 0.  A UC_MODE_32
engine with CR0.PE cleared runs 16-bit real-mode code, and the trampoline
switches itself to protected mode; the helper also drops the engine's
translation cache of the trampoline page, since another CPU wrote it.

Reference: Intel SDM Vol. 3A 8.4 (MP initialisation, INIT-SIPI-SIPI), 9.1
(processor state after INIT), 10.4-10.6 (APIC); QEMU hw/i386/pc.c
(pic_irq_request, gsi_handler), hw/intc/ioapic.c (ISA IRQ0 on pin 2),
accel/tcg/tcg-accel-ops-rr.c (round-robin vCPUs sharing one icount).
"""

from __future__ import annotations

import enum
from typing import Callable, Optional

from emulator.clock import Clock
from emulator.devices.apicbus import ApicBus
from emulator.devices.base import IrqLine
from emulator.devices.ioapic import IOAPIC_BASE, IOAPIC_SIZE, IoApic, isa_irq_to_pin
from emulator.devices.lapic import (DM_EXTINT, DM_NMI, LAPIC_BASE, LAPIC_SIZE, LVT_LEVEL,
                                    LVT_LINT0, LVT_LINT1, SVR_ENABLE, LocalApic)

MAX_CPUS = 8
DEFAULT_QUANTUM = 1000
ISA_IRQS = 16


# -- the interrupt fabric -------------------------------------------------------

class ApicPlatform:
    """N local APICs, the IO APIC and the APIC bus, wired to the PIC and ISA lines."""

    def __init__(self, clock: Clock, ncpus: int, pic=None, lowest_priority: str = "first") -> None:
        if not 1 <= ncpus <= MAX_CPUS:
            raise ValueError(f"the number of CPUs must be 1-{MAX_CPUS}, not {ncpus}")
        self.clock = clock
        self.bus = ApicBus(lowest_priority=lowest_priority)
        self.lapics = [LocalApic(clock, i, self.bus) for i in range(ncpus)]
        self.ioapic = IoApic(self.bus, clock)
        self.pic = None
        self._isa_lines = [IrqLine(self.isa_sink(irq), name=f"IRQ{irq}") for irq in range(ISA_IRQS)]
        if pic is not None:
            self.wire_pic(pic)

    @property
    def ncpus(self) -> int:
        return len(self.lapics)

    def wire_pic(self, pic) -> None:
        """The 8259 pair's INT to every LINT0; its INTA behind every ExtINT."""
        self.pic = pic
        pic.output_changed = self.pic_output
        for lapic in self.lapics:
            lapic.extint_ack = pic.acknowledge
        self.ioapic.extint_ack = pic.acknowledge
        self.pic_output(pic.intr_level())

    def pic_output(self, level: int) -> None:
        """The PIC pair's INT output changed (QEMU pic_irq_request)."""
        for lapic in self.lapics:
            lapic.set_lint0(level)

    def set_trace(self, trace: Callable[..., None]) -> None:
        """Send every APIC's trace events to ``trace``."""
        self.bus.trace = trace
        self.ioapic.trace = trace
        for lapic in self.lapics:
            lapic.trace = trace

    # -- ISA lines -------------------------------------------------------------
    def isa_irq(self, irq: int, level: int) -> None:
        """Drive ISA IRQ ``irq``: PIC input ``irq`` and IO APIC input isa_irq_to_pin(irq)."""
        if self.pic is not None:
            self.pic.set_irq(irq, level)
        self.ioapic.set_irq(isa_irq_to_pin(irq), level)

    def isa_sink(self, irq: int) -> Callable[[int], None]:
        """A sink for a device's own IrqLine: ``pit.irq.sink = platform.isa_sink(0)``."""
        return lambda level: self.isa_irq(irq, level)

    def isa_line(self, irq: int) -> IrqLine:
        """The wire a device drives for ISA IRQ ``irq`` (e.g. ``pit.irq = isa_line(0)``)."""
        return self._isa_lines[irq]

    # -- MMIO ------------------------------------------------------------------
    MMIO_RANGES = ((LAPIC_BASE, LAPIC_SIZE), (IOAPIC_BASE, IOAPIC_SIZE))

    def claims(self, addr: int) -> bool:
        return any(base <= addr < base + size for base, size in self.MMIO_RANGES)

    def mmio_read(self, cpu: int, addr: int, size: int) -> int:
        """A read by CPU ``cpu``: its own LAPIC or the IO APIC."""
        if LAPIC_BASE <= addr < LAPIC_BASE + LAPIC_SIZE:
            return self.lapics[cpu].mmio_read(addr - LAPIC_BASE, size)
        return self.ioapic.mmio_read(addr - IOAPIC_BASE, size)

    def mmio_write(self, cpu: int, addr: int, size: int, value: int) -> None:
        if LAPIC_BASE <= addr < LAPIC_BASE + LAPIC_SIZE:
            self.lapics[cpu].mmio_write(addr - LAPIC_BASE, size, value)
        else:
            self.ioapic.mmio_write(addr - IOAPIC_BASE, size, value)

    # -- time ------------------------------------------------------------------
    @property
    def devices(self) -> list:
        return [*self.lapics, self.ioapic]

    def next_deadline(self) -> Optional[int]:
        deadlines = [d for d in (a.next_deadline() for a in self.lapics) if d is not None]
        return min(deadlines) if deadlines else None

    def advance(self, now: int) -> None:
        for lapic in self.lapics:
            lapic.advance(now)

    # -- housekeeping ------------------------------------------------------------
    def reset(self) -> None:
        for device in self.devices:
            device.reset()
        if self.pic is not None:
            self.pic_output(self.pic.intr_level())

    def save_state(self) -> dict:
        """Every APIC's registers (for machine snapshots); the wiring is not state."""
        return {"lapics": [a.save_state() for a in self.lapics],
                "ioapic": self.ioapic.save_state()}

    def load_state(self, state: dict) -> None:
        for lapic, s in zip(self.lapics, state["lapics"]):
            lapic.load_state(s)
        self.ioapic.load_state(state["ioapic"])

    def firmware_handoff(self) -> None:
        """The BSP's LAPIC as SeaBIOS leaves it on QEMU (read back by a probe)."""
        bsp = self.lapics[0]
        bsp.svr = SVR_ENABLE | 0xFF
        bsp.lvt[LVT_LINT0] = LVT_LEVEL | (DM_EXTINT << 8)
        bsp.lvt[LVT_LINT1] = LVT_LEVEL | (DM_NMI << 8)
        bsp.output_changed()

    def describe(self) -> list[str]:
        """One line per LAPIC, then the IO APIC (the debugger's info lapic / info ioapic)."""
        return [f"cpu{i} {a.describe()}" for i, a in enumerate(self.lapics)] + [self.ioapic.describe()]


# -- deterministic interleaving ----------------------------------------------------

class CpuState(enum.Enum):
    RUNNING = "running"
    HALTED = "halted"            # hlt: waits for an interrupt, NMI or INIT
    WAIT_SIPI = "wait-for-sipi"  # an AP after reset or INIT


class Slice:
    """One decision of the scheduler: run ``cpu`` for at most ``count`` instructions,
    or (``cpu`` None) let time jump to ``until`` (None: nothing will ever happen)."""

    __slots__ = ("cpu", "count", "until")

    def __init__(self, cpu: Optional[int], count: int = 0, until: Optional[int] = None) -> None:
        self.cpu, self.count, self.until = cpu, count, until

    def __repr__(self) -> str:
        if self.cpu is None:
            return f"Slice(idle until={self.until})"
        return f"Slice(cpu={self.cpu}, count={self.count})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Slice) and (self.cpu, self.count, self.until) == \
            (other.cpu, other.count, other.until)


class RoundRobin:
    """Who runs next and for how long (the order is in the module docstring).

    The machine loop is::

        s = rr.next_slice(clock.now, next_device_deadline)
        if s.cpu is None: jump clock.now to s.until (or stop: deadlock), advance devices
        else: run CPU s.cpu for at most s.count instructions; n retired;
              rr.retired(n); clock.now += n; if it executed hlt: rr.halt(s.cpu)

    and it calls ``wake(cpu)`` when a halted CPU has something to take (an
    interrupt it accepts, an NMI, an INIT), ``wait_sipi(cpu)`` on INIT of an
    AP, ``start(cpu)`` on the SIPI that starts it.
    """

    def __init__(self, ncpus: int, quantum: int = DEFAULT_QUANTUM) -> None:
        if quantum < 1:
            raise ValueError(f"the quantum must be at least 1 instruction, not {quantum}")
        self.quantum = quantum
        self.state = [CpuState.RUNNING] + [CpuState.WAIT_SIPI] * (ncpus - 1)
        self.current = 0                # whose turn it is
        self.used = 0                   # instructions retired in this turn
        self.turns = 0                  # turns started (for the trace and tests)

    def runnable(self, cpu: int) -> bool:
        return self.state[cpu] is CpuState.RUNNING

    def next_slice(self, now: int, deadline: Optional[int]) -> Slice:
        """The next CPU to run and its instruction budget, or an idle jump."""
        n = len(self.state)
        if not (self.runnable(self.current) and self.used < self.quantum):
            for step in range(1, n + 1):
                cpu = (self.current + step) % n
                if self.runnable(cpu):
                    self.current, self.used = cpu, 0
                    self.turns += 1
                    break
            else:
                self.used = self.quantum          # the next runnable CPU starts a fresh turn
                return Slice(None, until=deadline)
        budget = self.quantum - self.used
        if deadline is not None:
            budget = min(budget, max(deadline - now, 0))
        return Slice(self.current, budget)

    def retired(self, count: int) -> None:
        """The current CPU retired ``count`` instructions of its slice."""
        self.used += count

    def halt(self, cpu: int) -> None:
        self.state[cpu] = CpuState.HALTED

    def wake(self, cpu: int) -> None:
        if self.state[cpu] is CpuState.HALTED:
            self.state[cpu] = CpuState.RUNNING

    def wait_sipi(self, cpu: int) -> None:
        self.state[cpu] = CpuState.WAIT_SIPI

    def start(self, cpu: int) -> None:
        self.state[cpu] = CpuState.RUNNING

    def save_state(self) -> dict:
        return {"state": list(self.state), "current": self.current, "used": self.used,
                "turns": self.turns}

    def load_state(self, state: dict) -> None:
        self.state = list(state["state"])
        self.current, self.used, self.turns = state["current"], state["used"], state["turns"]

    def describe(self) -> str:
        return " ".join(f"cpu{i}={s.value}{'*' if i == self.current else ''}"
                        for i, s in enumerate(self.state))


# -- AP start-up on a Unicorn engine -------------------------------------------------

def init_registers() -> dict[str, int]:
    """Register state after INIT (SDM Vol. 3A Table 9-1), by Unicorn register name.

    EDX holds the processor signature (QEMU: family/model/stepping of its
    default CPU, 0x663 for qemu32); CR0 = 0x60000010 (CD, NW, ET).
    """
    return {"EAX": 0, "EBX": 0, "ECX": 0, "EDX": 0x663, "ESI": 0, "EDI": 0, "EBP": 0,
            "ESP": 0, "EFLAGS": 0x2, "EIP": 0xFFF0, "CR0": 0x60000010, "CR2": 0, "CR3": 0,
            "CR4": 0, "CS": 0xF000, "DS": 0, "ES": 0, "FS": 0, "GS": 0, "SS": 0}


def sipi_registers(vector: int) -> dict[str, int]:
    """Register state a start-up IPI leaves: real mode at (vector << 8):0000 (SDM 8.4.4.1)."""
    regs = init_registers()
    regs.update(CS=(vector & 0xFF) << 8, EIP=0)
    return regs


def enter_real_mode(uc, vector: int) -> None:
    """Load ``sipi_registers(vector)`` into a Unicorn x86 engine, CR0 first.

    With CR0.PE clear, Unicorn's segment loads are real-mode loads (base =
    selector << 4, 16-bit code), so a UC_MODE_32 engine executes the 16-bit
    trampoline and follows it into protected mode.  CD/NW are not modelled
    by Unicorn and are written clear.  The page at vector << 12 is dropped
    from this engine's translation cache: another CPU wrote the trampoline.
    """
    from unicorn import x86_const

    regs = sipi_registers(vector)
    uc.reg_write(x86_const.UC_X86_REG_CR0, regs.pop("CR0") & 0x1F)
    uc.reg_write(x86_const.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
    uc.reg_write(x86_const.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
    for name in ("CS", "DS", "ES", "FS", "GS", "SS"):
        uc.reg_write(getattr(x86_const, f"UC_X86_REG_{name}"), regs.pop(name))
    for name, value in regs.items():
        uc.reg_write(getattr(x86_const, f"UC_X86_REG_{name}"), value)
    base = (vector & 0xFF) << 12
    uc.ctl_remove_cache(base, base + 0x1000)

"""The run loop: one loop for 1..N CPUs.

``RunLoop(machine).run(end) -> RunResult`` runs the machine's CPUs until
virtual time reaches ``end`` (status 124, "budget"; events due exactly at
``end`` happen at the start of the next run), the guest writes port 0xF4
(``result`` set by the exit device: status = value, "exit"), the guest
crashes or deadlocks (126, "crash" / "triple-fault" / "deadlock", with a
report paragraph, emulator/report.py), or ``stop_requested`` is set
(status None, "stopped").

Each turn of the loop (emulator/roundrobin.py decides whose turn it is;
one CPU is the case N = 1, whose turn never ends):

1. wake every halted CPU that has something to take (accept.can_wake);
2. ask the round robin for a slice; with no CPU to run, let the devices and
   scheduled calls act at ``clock.now``, then jump time to the next device
   deadline (QEMU ``sleep=off``), or report a deadlock when nothing is left
   that could wake a CPU;
3. make the slice's CPU the acting one (``machine.use``) and run the
   boundary: devices advanced to now, scheduled calls due, then the event
   the CPU accepts (emulator/accept.py ``take``: exception, NMI, INTR),
   reported as ``intr.enter`` and to ``machine.on_interrupt``;
4. ``execute``: run the engine up to the earliest of the next device
   deadline, ``end`` and the end of the slice (emulator/icount.py counts
   and stops it), then fix the count (``after_run``): the exact time, and
   whether the CPU halted.

Unicorn errors become events or reports (``engine_error``): an invalid
opcode is #UD (``icebp``, which Unicorn calls invalid, is #DB as a trap);
an access outside RAM is a crash, saying whether the page tables put it
there.  With paging on, a run ends through the engine's exits list, never
emu_start's ``until`` (``start``: an unmapped ``until`` set CR2 and armed
QEMU's #DF chain).  A watchdog ends the run with a crash report after
WATCHDOG_RUNS engine runs in a row that retired nothing, delivered nothing
and did not halt: virtual time never stands still while the host spins.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import unicorn

from emulator import accept
from emulator import ioperm
from unicorn import x86_const as X

from emulator.cpu import (Cpu, CpuCrash, TripleFault, Unsupported, VEC_DB, VEC_UD,
                          reset_exception_chain)
from emulator.icount import F_STOP, F_WATCH_IF, INF, partial_until
from emulator.report import crash_report
from emulator.roundrobin import CpuState

STATUS_BUDGET = 124
STATUS_CRASH = 126
WATCHDOG_RUNS = 10_000     # engine runs in a row without progress before a crash report


@dataclass
class RunResult:
    status: Optional[int]        # exit status for the command line (None: stopped)
    reason: str                  # exit, budget, crash, triple-fault, deadlock, stopped,
                                 # poweroff (ACPI S5/S4), suspend (ACPI S3)
    report: str = ""             # the crash/deadlock paragraph


class RunLoop:
    """The machine's one run loop (see the module docstring)."""

    def __init__(self, machine) -> None:
        self.m = machine
        self.result: Optional[RunResult] = None    # decided by a device or an error
        self.stop_requested = False
        self.thread: Optional[int] = None           # the thread running the loop

    def run(self, end: int) -> RunResult:
        m = self.m
        self.stop_requested = False
        m.cpu.st.flags &= ~F_STOP
        self.thread = threading.get_ident()
        m.timers.changed()          # devices may have been touched since the last run
        rr, cpus, clock = m.rr, m.cpus, m.clock
        cpu = m.cpu
        try:
            while True:
                if self.result is not None:
                    r, self.result = self.result, None
                    return r
                if self.stop_requested:
                    self.stop_requested = False
                    return RunResult(None, "stopped")
                if clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")   # events at `end` wait for the next run
                for c in cpus:
                    if rr.state[c.index] is CpuState.HALTED and accept.can_wake(c):
                        rr.wake(c.index)
                s = rr.next_slice(clock.now, None)
                if s.cpu is None:                       # nobody can run: time jumps
                    r = self._idle(end)
                    if r is not None:
                        return r
                    continue
                cpu = cpus[s.cpu]
                if cpu is not m.cpu:
                    m.use(cpu)
                cpu.st.now = cpu.st.block_start = clock.now
                self.boundary(cpu)
                if self.result is not None:
                    continue
                if cpu.halted:
                    rr.halt(cpu.index)
                    continue
                if rr.state[cpu.index] is not CpuState.RUNNING:
                    continue                            # an INIT from a device or itself
                if clock.now >= end:
                    return RunResult(STATUS_BUDGET, "budget")
                before = clock.now
                self.execute(cpu, min(m.next_event(), end, before + s.count))
                if self._stalled(cpu, before):
                    return self._no_progress(cpu)
                rr.retired(clock.now - before)
                if cpu.halted and rr.state[cpu.index] is CpuState.RUNNING:
                    rr.halt(cpu.index)
        except TripleFault as e:
            return self.crash(cpu, "triple-fault", f"triple fault{self._on(cpu)}: {e}")
        except Unsupported as e:
            return self.crash(cpu, "crash", f"unsupported{self._on(cpu)}: {e}")
        except CpuCrash as e:
            return self.crash(cpu, "crash", f"the guest crashed{self._on(cpu)}: {e}")

    def _stalled(self, cpu: Cpu, before: int) -> bool:
        """The watchdog: True after WATCHDOG_RUNS engine runs in a row that
        retired nothing, delivered nothing and did not halt (virtual time
        would stand still while the host spins)."""
        if self.m.clock.now != before or cpu.halted or cpu.pending_exc is not None \
                or self.result is not None or self.stop_requested:
            cpu.stalls = 0
            return False
        cpu.stalls += 1
        return cpu.stalls >= WATCHDOG_RUNS

    def _no_progress(self, cpu: Cpu) -> RunResult:
        cpu.stalls = 0
        return self.crash(cpu, "crash", f"no guest progress: the engine ran {WATCHDOG_RUNS} "
                          f"times at EIP {cpu.eip:#x} without retiring an instruction "
                          f"(virtual time stood at t={self.m.clock.now})")

    def _idle(self, end: int) -> Optional[RunResult]:
        """No CPU can run: devices act now, then time jumps (or it is a deadlock)."""
        m = self.m
        m.devices_at_boundary()
        if self.result is not None:
            return None
        halted = [c for c in m.cpus if m.rr.state[c.index] is CpuState.HALTED]
        if any(accept.can_wake(c) for c in halted):
            return None
        t = m.next_event()
        if t >= INF or all(not c.interrupts_enabled for c in halted):
            return self.deadlock()
        if t >= end:
            m.clock.now = end
            return RunResult(STATUS_BUDGET, "budget")
        m.clock.now = t
        return None

    def _on(self, cpu: Cpu) -> str:
        """" on CPU n" when there are several to tell apart."""
        return f" on CPU {cpu.index}" if len(self.m.cpus) > 1 else ""

    # -- one boundary ------------------------------------------------------------
    def boundary(self, cpu: Cpu) -> None:
        """Everything that happens between two instructions at clock.now.

        When a device deadline falls here, what the CPU had to take before
        it comes first, then the devices act: QEMU -icount ends the CPU's
        budget with the instruction at the deadline, and its cpu_exec
        delivers a pending exception or interrupt (cpu_handle_interrupt)
        before it sees the budget spent and leaves to run the timers.  A
        timer's interrupt raised again while the one already pending is
        delivered is then a second interrupt, not merged with the first
        (fuzz seed 6216: an HPET comparator firing at a handler's iret)."""
        m = self.m
        if m.timers.next_deadline() <= m.clock.now and self._take(cpu):
            m.devices_at_boundary()
            return
        m.devices_at_boundary()
        self._take(cpu)

    def _take(self, cpu: Cpu) -> bool:
        """The event ``cpu`` takes at this boundary (emulator/accept.py), if any."""
        m = self.m
        taken = accept.take(cpu, lambda: m.icount.previous(cpu, cpu.pc))
        if taken is None:
            return False
        self.after_delivery(cpu, *taken)
        if taken[1] in ("exception", "soft"):
            # the handler's first instruction is a boundary: an NMI
            # waiting comes first, on top of the frame (IF does not hold it)
            nmi = accept.take_nmi(cpu)
            if nmi is not None:
                self.after_delivery(cpu, *nmi)
        return True

    def after_delivery(self, cpu: Cpu, vector: int, kind: str, eip_from: int, err) -> None:
        cpu.halted = False
        cpu.just_delivered = True
        self.m.trace.emit("intr.enter", cpu.index, vector=vector, kind=kind, eip=eip_from)
        for fn in list(self.m.on_interrupt):
            fn(cpu, vector, kind, eip_from, err)
        self.m.timers.changed()     # a listener may touch a device

    # -- running the engine -----------------------------------------------------------
    def execute(self, cpu: Cpu, limit: int) -> None:
        """Run the engine from clock.now until at most ``limit``, then fix the count."""
        st = cpu.st
        uc = cpu.uc
        now = self.m.clock.now
        st.now = st.block_start = now
        eip = cpu.eip
        pc = cpu.pc if cpu.maybe_16bit else eip
        shadow_step = (st.flags & F_WATCH_IF) == 0 and cpu.interrupt_source.intr_pending() \
            and cpu.interrupts_enabled and not cpu.just_delivered
        cpu.shadow_spent = False
        if shadow_step:
            limit = min(limit, now + 1)        # the instruction in the shadow, then deliver
            cpu.shadow_spent = True            # (a mov ss there opens no second shadow)
        elif cpu.nmi_blocked and cpu.interrupt_source.nmi_pending:
            limit = min(limit, now + 1)        # an NMI waits for the handler's iret: step
        st.deadline = limit
        until = None
        b = cpu.blocks.get(pc)
        if b is not None and now + len(b.offsets) > limit:
            until = partial_until(uc, b, limit - now)
        if self.stop_requested or self.result is not None:
            return
        st.flags &= ~F_STOP
        try:
            self.start(cpu, eip, until)
        except unicorn.UcError as e:
            self.after_run(cpu)
            self.engine_error(cpu, e)
            return
        self.after_run(cpu)

    def start(self, cpu: Cpu, eip: int, until: Optional[int]) -> None:
        """emu_start from ``eip`` to the end of the run (``until``: a partial
        block's end).  With paging on, the run ends through the engine's
        exits list, not emu_start's ``until``: an unmapped ``until`` is
        translated when the run ends, which sets CR2 and arms QEMU's #DF
        chain (test_unicorn_facts.py); without paging ``until`` costs
        nothing, the exits list a ctl call per change."""
        uc = cpu.uc
        if not cpu.paging_on:
            if cpu.exits is not None:
                uc.ctl_exits_enabled(False)
                cpu.exits = None
            uc.emu_start(eip, 0xFFFFFFFFFFFF if until is None else until)
        else:
            exits = () if until is None else (until,)
            if cpu.exits is None:
                uc.ctl_exits_enabled(True)
                cpu.exits = None if exits else ()
            if exits != cpu.exits:
                uc.ctl_set_exits(list(exits))
                cpu.exits = exits
            uc.emu_start(eip, 0)
        if cpu.cr2_kept is not None:
            # this run turned paging on: its end translated ``until`` (above)
            uc.reg_write(X.UC_X86_REG_CR2, cpu.cr2_kept)
            cpu.cr2_kept = None
            if cpu.pending_exc is None:
                reset_exception_chain(uc)

    def after_run(self, cpu: Cpu) -> None:
        """After emu_start: hooks asked for, the exact time, whether the CPU halted."""
        ic, clock, st = self.m.icount, self.m.clock, cpu.st
        if ic.pending_cr or ic.pending_strio:
            ic.install_cr_hooks()
        if ic.pending_io_hooks:
            ic.install_io_hooks()
            cur = cpu.blocks.get(st.cur_block)
            if cur is not None:
                cpu.uc.ctl_remove_cache(cur.addr, cur.addr + cur.size)
        before = clock.now
        pc = cpu.pc
        ic.sync(pc)
        st.now = st.block_start = clock.now
        st.skip_addr = -1
        ioperm.undo(self.m, cpu)               # a refused in/out did not happen
        if clock.now != before:
            cpu.just_delivered = False
        else:
            cpu.shadow_spent = False           # nothing ran: the shadow is still ahead
            if not cpu.maybe_16bit and not cpu.read("cr0") & 1:
                # the guest left protected mode (CR0.PE clear, CS reloaded in
                # real mode): EIP is an offset now, so nothing was found where
                # it pointed; count and decode its code as 16-bit from here
                cpu.maybe_16bit = True
        prev = ic.previous(cpu, pc)
        if prev == "hlt" and cpu.pending_exc is None and clock.now != before:
            cpu.halted = True

    def engine_error(self, cpu: Cpu, e: "unicorn.UcError") -> None:
        if e.errno == unicorn.UC_ERR_INSN_INVALID:
            if cpu.read_linear(cpu.pc, 1) == b"\xf1":
                # icebp: Unicorn calls it invalid; the SDM makes it #DB as a
                # trap, the instruction retired (emulator/delivery.py)
                clock = self.m.clock
                cpu.eip = (cpu.eip + 1) & 0xFFFFFFFF
                clock.now += 1
                cpu.st.now = cpu.st.block_start = clock.now
                cpu.just_delivered = False
                cpu.pending_exc = (VEC_DB, "exception", None)
                return
            cpu.pending_exc = (VEC_UD, "exception", None)
            return
        what = {unicorn.UC_ERR_READ_UNMAPPED: "read of unmapped memory",
                unicorn.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
                unicorn.UC_ERR_FETCH_UNMAPPED: "fetch from unmapped memory"}.get(e.errno, str(e))
        where = "the page tables map it outside" if cpu.paging() else "no paging: outside"
        self.result = self.crash(cpu, "crash", f"the guest crashed: {what} ({where} "
                                 f"the {self.m.mem_size >> 20} MiB of RAM)")

    # -- reports -----------------------------------------------------------------------
    def crash(self, cpu: Cpu, reason: str, what: str) -> RunResult:
        return RunResult(STATUS_CRASH, reason, crash_report(self.m, cpu, what))

    def deadlock(self) -> RunResult:
        cpus = self.m.cpus
        if len(cpus) == 1:
            cpu = cpus[0]
            why = ("halted with interrupts disabled (IF=0)" if not cpu.interrupts_enabled
                   else "halted with IF=1 but no device deadline or injection left to wake it")
            return self.crash(cpu, "deadlock", f"deadlock: CPU {cpu.index} {why}")
        states = ", ".join(
            f"CPU {c.index} " + ("waits for a start-up IPI"
                                 if self.m.rr.state[c.index] is CpuState.WAIT_SIPI else
                                 f"halted with IF={int(c.interrupts_enabled)}")
            for c in cpus)
        return self.crash(cpus[0], "deadlock",
                          f"deadlock: no CPU can run and nothing is left to wake one ({states})")

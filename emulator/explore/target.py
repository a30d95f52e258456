"""What explore runs, and one observed machine that can go back and branch.

Contract
--------
``Target`` is everything a worker needs to rebuild the base run, and it
pickles (it is shipped once per worker): the image's bytes and name (with
its symbol file's text, so a worker on another host needs no shared disk),
the kernel command line, RAM size, the base run's injection specs, the
line explored (``irq``, ``packet`` for the test device or ``key`` for the
keyboard), the time the
base run ended, and how a branch is reproduced on the command line.

``Observed(target)`` boots that machine with the observer and every rule
attached (emulator/observe), exactly as ``python -m emulator run`` does, and
adds what exploring needs:

- ``save()`` / ``restore(saved)``: the machine's snapshot, the observer's
  and checkers' state (emulator/debugger/rewind.py's ``Rewind``) and the
  console so far.  After a restore the history ahead is new (the rules
  report again what they find there) and the verdict starts empty.
  Snapshots keep the RAM below ``ram_limit`` only; a write watch on the RAM
  above it notes any write there, and the next restore then puts the boot
  image of that RAM back, so the RAM is always exactly the snapshot's.
- ``run_to(t)``: run the base run forward to the boundary at ``t``.
- ``inject_at(t, order)``: schedule one edge (or packet) of the explored
  line at ``t`` exactly as ``--inject irq=N,at=T`` given after the base
  injections would be (``order``: its rank among several such).
- ``finish_branch() -> Outcome``: run to the end (or to ``limit``), run the
  rules' end-of-run checks, and return the violations and the guest's exit.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from emulator.inject import Injection, parse
from emulator.loader import image_symbols

RAM_SLACK = 1 << 20        # RAM kept in snapshots beyond the loaded image


@dataclass
class Target:
    image: bytes
    image_name: str
    symfile: Optional[str]         # the .sym.json text beside the image, if any
    append: str = ""
    mem_mib: int = 32
    injections: tuple = ()         # --inject specs of the base run, in order
    irq: Optional[int] = None      # the line explored ...
    packet: Optional[int] = None   # ... or a test-device packet (its line)
    key: Optional[int] = None      # ... or a key pressed (the 8042's IRQ 1)
    end: int = 0                   # virtual time the base run ended at
    limit: int = 0                 # a branch running past this is a hang
    reproduce: tuple = ()          # argv prefix that re-runs the base run

    def spec(self, t: int) -> str:
        """The --inject spec of one explored edge at ``t``."""
        return f"{self.line()},at={t}"

    def line(self) -> str:
        """The line as an --inject spec's first part: irq=N, packet=V or key=B."""
        if self.packet is not None:
            return f"packet={self.packet}"
        if self.key is not None:
            return f"key={self.key}"
        return f"irq={self.irq}"

    def command(self, times) -> str:
        """The command that reproduces one branch alone."""
        args = list(self.reproduce)
        for t in times:
            args += ["--inject", self.spec(t)]
        return " ".join(_quote(a) for a in args)


def _quote(arg: str) -> str:
    import shlex  # (lazy: only this path needs it)
    return shlex.quote(arg)


@dataclass
class Outcome:
    """What one branch (or the base run) showed."""
    violations: list = field(default_factory=list)   # emulator.checks Violation
    status: Optional[int] = None                     # the guest's exit status
    reason: str = ""                                 # exit, budget, crash, deadlock ...
    report: str = ""                                 # the crash/deadlock paragraph
    console: str = ""


class _Discard(io.TextIOBase):
    """Where the rules' reports go while exploring (the verdict keeps them)."""

    def write(self, s: str) -> int:
        return len(s)


class Observed:
    def __init__(self, target: Target) -> None:
        from emulator.machine import Machine  # (lazy: only this path needs it)
        from emulator.observe import attach  # (lazy: only this path needs it)
        from emulator.debugger.rewind import Rewind  # (lazy: only this path needs it)
        self.target = target
        with tempfile.TemporaryDirectory(prefix="irqlab-explore-") as tmp:
            path = os.path.join(tmp, target.image_name)
            with open(path, "wb") as f:
                f.write(target.image)
            if target.symfile is not None:
                stem = os.path.splitext(path)[0]
                with open(stem + ".sym.json", "w") as f:
                    f.write(target.symfile)
            self.m = m = Machine.from_image(path, append=target.append,
                                            mem_mib=target.mem_mib)
            m.symbols = image_symbols(path)     # as run does: injections, the observer
        self.console = bytearray()
        m.console = self.console.extend
        self.injections = [parse(s) for s in target.injections]
        for inj in self.injections:
            m.inject(inj)
        # a --inject given after the base ones is scheduled after theirs
        self.boot_seq = sum(1 for i in self.injections if i.at is not None or i.every is not None)
        self.session = attach(m, report=_Discard())
        self.rewind = Rewind(self.session)
        self.ram_limit = _ram_limit(m)
        self.high_boot = bytes(m.ram_view[self.ram_limit:])
        self.high_dirty = False
        if self.ram_limit < m.mem_size:
            m.add_write_watch(self.ram_limit, m.mem_size - self.ram_limit, self._wrote_high)

    @property
    def now(self) -> int:
        return self.m.clock.now

    def _wrote_high(self, machine, cpu, addr, size, value) -> None:
        self.high_dirty = True

    # -- going back ----------------------------------------------------------
    def save(self) -> tuple:
        return (self.m.snapshot(ram_limit=self.ram_limit), self.rewind.save(),
                len(self.console), self.high_dirty)

    def restore(self, saved: tuple) -> None:
        snap, observed, console, high_dirty = saved
        if self.high_dirty and not high_dirty:
            self.m.ram_view[self.ram_limit:] = self.high_boot
            self.m.invalidate_code(self.ram_limit, self.m.mem_size - self.ram_limit)
        self.high_dirty = high_dirty
        self.m.restore(snap)
        self.rewind.restore(observed)
        self.rewind.fork()                  # what follows is new: check and count it
        del self.console[console:]
        checker = self.session.checker
        checker.violations = []
        checker.finished = False
        self.session.finished = None

    # -- running -------------------------------------------------------------
    def run_to(self, t: int):
        """Run until the boundary at ``t`` (None) or until the guest ends first
        (the RunResult)."""
        r = self.m.run(t - self.now)
        return None if r.reason == "budget" and self.now == t else r

    def inject_at(self, t: int, order: int = 0) -> None:
        inj = Injection(irq=self.target.irq, packet=self.target.packet, key=self.target.key,
                        at=t)
        self.m.schedule(t, inj.fire, seq=self.boot_seq + 0.5 + order / 64)

    def finish_branch(self, result=None) -> Outcome:
        if result is None:
            result = self.m.run(max(0, self.target.limit - self.now))
        if result.reason == "stopped":
            raise KeyboardInterrupt
        self.session.finish()
        return Outcome(list(self.session.violations), result.status, result.reason,
                       result.report, self.console.decode("latin-1"))


def _ram_limit(machine) -> int:
    """The RAM a snapshot keeps: up to the loaded image's end plus slack,
    in whole MiB."""
    end = machine.image_end + RAM_SLACK
    return min(machine.mem_size, (end + 0xFFFFF) & ~0xFFFFF)

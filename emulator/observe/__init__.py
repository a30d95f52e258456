"""The observer: what the kernel is doing, read from the machine itself.

Contract
--------
``attach(machine, trace_path=None, checks=True, report=None) -> Session``
is the one call ``python -m emulator run`` (and the debugger, and tests)
make after building the machine and before running it:

- it scans the image's code with capstone (emulator/observe/scan.py) for
  ``iret`` sites, ESP loads and call-return addresses, and hooks them (and
  the instruction at the kernel's ``obs_ap_stack``, an AP's first ESP load,
  in case the image's code range leaves it out);
- it names stacks by their owner (emulator/observe/stacks.py) from the
  kernel's exported constants, and turns the kernel's ``obs_`` labels into
  events (emulator/observe/kernel.py) when the image is irqlab's kernel;
- every event — the devices' ``irq.*``/``pic.*``, the observer's ``intr.*``
  and ``stack.switch``, the kernel's ``lwp.*``/``lock.*``/... — goes,
  stamped with virtual time and CPU, to the trace file (streaming JSON
  Lines, emulator/trace.py) when ``trace_path`` is given, and to the
  checkers (emulator/checks) when ``checks`` is true;
- a violation is reported on stderr (``report``, default ``sys.stderr``) as
  it happens, with backtraces and the events before it.

``reference=True`` takes the slow paths the fast ones are tested against
(tests/golden/test_fast_path.py): the scan decodes every instruction in
detail (``scan_code_full``), every lock's backtrace is worked out when it
is taken (no ``LazyBacktrace``) and the kernel's labels are read by
interpreting their field table (``read_fields``, not the compiled
``reader``).  Same events, same reports.

``session.finish() -> (violation_count, summary_line)`` emits one
``stack.usage`` per kernel stack (how deep it was ever used), runs the
rules' end-of-run checks, closes the trace and returns the line to print last on
stderr (``checks: 13 rules, 0 violations``); a trace that could not be
written (a full disk) leaves its OSError in ``session.trace_error`` (the run
and the checks go on).  ``session.exit_status(status)``
is 120 when any rule fired, else ``status``.  ``session.events`` (a
``Recent``) holds the last events for the debugger.

The symbols are the machine's (``machine.symbols``), set by whoever runs it
(``python -m emulator run``/``debug``, guest_kernel's harness); with none,
the kernel rules are off.

Files: view.py (the only place the observer touches the machine's API),
symbols.py (the symbol table, by name and by address), scan.py (the
capstone scan: iret sites, ESP loads, return addresses), stacks.py (which
owner a stack belongs to), observer.py (``intr.*`` and ``stack.switch``
from the hooks), kernel.py (irqlab's kernel: its ``obs_*`` labels as
events), fields.py (each label's field reader, compiled from kernel.py's
table), context.py (the checkers' window on the live machine).

An event from a port write to a rule's verdict: a device's ``self.trace``
(e.g. ``pic.eoi`` after the guest's ``out``) goes through the machine's
``set_trace`` routing to ``machine_sink`` here, a ``TraceSink``
(emulator/trace.py) that stamps ``t`` and ``cpu``; the observer's and the
kernel model's events go to ``sink`` the same way; ``Fanout`` hands each
event to the trace writer, the ``Recent`` buffer and the ``Checker``
(emulator/checks/core.py), whose rules judge it with the state before it
and ``ctx`` (context.py) for backtraces and the stack map.
"""

from __future__ import annotations

import sys
from typing import Optional

from emulator.checks import Checker, all_rules
from emulator.observe.context import MachineContext
from emulator.observe.kernel import KernelModel
from emulator.observe.observer import Observer
from emulator.observe.scan import scan_code, scan_code_full
from emulator.observe.stacks import StackMap, declared_stacks
from emulator.observe.symbols import Symbols
from emulator.observe.view import MachineView
from emulator.trace import Fanout, Recent, TraceSink, open_writer

VIOLATION_STATUS = 120


class Session:
    def __init__(self, machine, trace_path=None, checks: bool = True,
                 report=None, limits: Optional[dict] = None, reference: bool = False) -> None:
        self.machine = machine
        self._scan = scan_code_full if reference else scan_code
        self.view = MachineView(machine)
        self.symbols = Symbols(self.view.symbols())
        self.report_stream = report if report is not None else sys.stderr
        self.kernel = KernelModel.detect(self.view, self.symbols)
        self.stacks = StackMap(self.symbols,
                               resolver=self.kernel.resolve_stack if self.kernel else None)
        declared = []
        if self.kernel:
            self.kernel.compiled = not reference
            self.kernel._stacks = self.stacks
            self.kernel.add_static_stacks(self.stacks)
        else:
            declared = declared_stacks(self.symbols.table)     # any kernel's (OBSERVE.md)
            for lo, hi, name in declared:
                self.stacks.add(lo, hi, name)
        starts = self.symbols.lines()        # instruction starts (4,096 in the kernel)
        code, base = self.view.code()
        if not code:
            code, base = self._code_from_symbols(starts)
        self.codemap = self._scan(code, base, starts)
        if self.kernel:
            self._scan_labels(("obs_ap_stack",))
        self.fanout = Fanout()
        self.trace_error: Optional[OSError] = None
        self.writer = open_writer(trace_path) if trace_path else None
        if self.writer is not None:
            self.fanout.add(self.writer.write)
        self.events = Recent(64)
        self.fanout.add(self.events.events.append)     # Recent.__call__, a frame less
        self.sink = TraceSink(self.view.clock(), self.fanout)
        # the machine's own interrupt event says less than the observer's
        # intr.enter (no line, no stack owner) and would count each twice
        self.machine_sink = TraceSink(self.view.clock(), self.fanout,
                                      drop=("intr", "intr.enter"))
        self.ctx = MachineContext(self.view, self.symbols, self.stacks, self.codemap,
                                  kernel=self.kernel, code_range=(base, base + len(code)),
                                  lazy=not reference)
        self.ctx.line_of_vector = self._line_of_vector
        self.checker: Optional[Checker] = None
        if checks:
            self.checker = Checker(all_rules(**(limits or {})), self.ctx,
                                   kernel=self.kernel is not None, emit=self.sink.emit,
                                   report=self._report,
                                   stacks=self.kernel is not None or bool(declared))
            self.fanout.add(self.checker)
            for note in self.checker.notes:
                self._report(note)
        self.observer = Observer(self.view, self.sink, self.symbols, self.stacks, self.codemap)
        if not self.kernel:
            self.observer.scanned = [(base, base + len(code))] if code else []
        self.view.set_trace(self.machine_sink)
        self.observer.install()
        if self.kernel:
            self.kernel.install(self.observer, self.sink)
        self.observer.start()
        self.finished: Optional[tuple] = None

    def _scan_labels(self, labels) -> None:
        """Scan the instruction at each label too, wherever it lives: the SMP
        kernel's AP start-up code (its one ESP load at ``obs_ap_stack``) sits
        in .data, which an image's code range need not cover."""
        for name in labels:
            addr = self.symbols.addr(name)
            if addr is None or addr in self.codemap.esp_loads:
                continue
            data = self.view.mem_read(addr, 16)
            if data:
                extra = self._scan(data, addr, (addr,))
                if addr in extra.esp_loads:
                    self.codemap.esp_loads[addr] = extra.esp_loads[addr]

    def _code_from_symbols(self, starts: list) -> tuple:
        """The loaded image read back from memory: the ELF's executable
        sections, or from the symbol table's base to its highest line (when
        the machine does not say); ``starts`` are the line table's addresses."""
        table = self.symbols.table
        ranges = getattr(table, "code_ranges", None)
        if ranges:
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
            data = self.view.mem_read(lo, hi - lo)
            if data:
                return data, lo
        base = getattr(table, "base", None)
        if not isinstance(base, int) or not starts:
            return b"", 0
        end = max(starts) + 16
        data = self.view.mem_read(base, end - base)
        return (data, base) if data else (b"", 0)

    def _line_of_vector(self, vector: int):
        """The line of an interrupt vector, as ``intr.enter`` names it."""
        line = self.view.line_of_vector(vector)
        if line is None and self.kernel is not None:
            line = self.kernel.line_of_vector(vector)
        return line

    def _report(self, text: str) -> None:
        self.report_stream.write(text.rstrip("\n") + "\n")
        self.report_stream.flush()

    @property
    def violations(self) -> list:
        return self.checker.violations if self.checker is not None else []

    def finish(self) -> tuple:
        if self.finished is None:
            if self.kernel is not None:
                for name, kind, size, used in self.kernel.stack_usage(self.stacks):
                    self.sink.emit("stack.usage", 0, stack=name, kind=kind, size=size, used=used)
            if self.checker is not None:
                self.checker.finish()
                line = self.checker.summary_line()
            else:
                line = "checks: off"
            if self.writer is not None:
                try:
                    self.writer.close()
                except OSError as e:        # said by the caller: see trace_error
                    self.trace_error = e
            self.finished = (len(self.violations), line)
        return self.finished

    def exit_status(self, status: int) -> int:
        count, _ = self.finish()
        return VIOLATION_STATUS if count else status


def attach(machine, trace_path=None, checks: bool = True, report=None,
           limits: Optional[dict] = None, reference: bool = False) -> Session:
    """Observe ``machine``: trace to ``trace_path`` and run the checkers."""
    return Session(machine, trace_path=trace_path, checks=checks, report=report,
                   limits=limits, reference=reference)

"""irqlab's emulator: a PC on Unicorn, its observer, its checkers, its debugger.

Files and packages (each opens with its contract):

* the machine -- machine.py (the API: building the PC, memory, snapshots),
  portio.py (its port and MMIO dispatch), hooks.py (its exec hooks and
  data watches, and the engine's hooks one frame deep),
  tsc.py (RDTSC reads virtual time), runloop.py (the one run loop for 1..N
  CPUs), roundrobin.py (whose turn), icount.py (the instruction clock:
  virtual time counted block by block), accept.py (which event a CPU takes
  at an instruction boundary), cpu.py (one CPU: registers, ``deliver``
  through the IDT), clock.py (virtual time), loader.py (Multiboot images),
  inject.py (``--inject``), report.py (crash and deadlock reports),
  native/ (the C block hook and the hooks' register-reading trampolines);
* devices/ -- the PC's devices, one per file, and platform.py, the
  interrupt hardware wiring them to the CPUs (8259 pair, LAPICs, IO APIC);
* observe/ -- what the kernel is doing, read from the machine (events);
* checks/ -- the rules over those events and the machine state;
* debugger/ -- the REPL and the GDB stub;
* trace.py, trace_cli.py, trace_symbols.py -- the event model and its tools;
* run.py, __main__.py -- ``python -m emulator run|debug|trace`` (gcpause.py:
  the collector paused while they set up);
  bench.py, pool.py -- ``make bench``, spreading work over processes.

An interrupt from a device line to the handler's first instruction: a
device drives its ``IrqLine`` (devices/base.py) -> devices/platform.py
``isa_irq``: the 8259 input (devices/i8259.py; its INT output goes to every
LAPIC's LINT0) and the IO APIC pin (devices/ioapic.py, a message over
devices/apicbus.py) -> the CPU's Local APIC (devices/lapic.py) says
``intr_pending()`` -> the port access that changed it asks the engine to
stop after the instruction (portio.py ``_io_end``) -> at the boundary the
run loop (runloop.py ``boundary``) lets accept.py ``take`` decide: IF=1,
not in an interrupt shadow -> ``acknowledge()`` (INTA: the vector) ->
cpu.py ``Cpu.deliver``: IDT gate, EFLAGS/CS/EIP pushed, EIP = the handler's
first instruction; ``intr.enter`` is traced and ``on_interrupt`` told.

An event from a port write to a rule's verdict: the guest's ``out`` ->
portio.py ``_on_out`` (exact time from icount.py) -> the device (e.g. an
EOI to devices/i8259.py) calls ``self.trace("pic.eoi", ...)`` -> the
observer's sink stamps time and CPU (observe/__init__.py, trace.py) ->
``Fanout`` -> the trace file and the ``Checker`` (checks/core.py) -> the
rules interested in that kind (checks/rules/) -> a ``Violation``: a report
on stderr, a ``check.violation`` event, exit status 120.
"""

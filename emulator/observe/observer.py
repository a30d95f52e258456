"""The observer: what the CPU does with interrupts and stacks, as trace events.

Contract
--------
``Observer(view, sink, symbols, stacks, codemap)`` turns the machine's own
state into events on ``sink`` (``emit(kind, cpu, **fields)``), reading only
registers and memory, never the guest's console:

- ``intr.enter`` (vector, line, kind, eip, owner) from the machine's
  interrupt-delivery listener, after the frame is pushed; ``line`` is the
  PIC input the vector belongs to (None for exceptions and software
  interrupts), or, for an external interrupt the PICs' bases do not
  explain, what ``kernel_line(vector)`` says (the kernel model's IO APIC
  vectors; None when there is no kernel). The frame is remembered on the *stack it was pushed on*.
- ``intr.exit`` (vector, line, eip, owner, if) at every ``iret`` site found
  by the scan, before it executes, for the newest frame open on the current
  stack (an ``iret`` with no frame open there, e.g. one that starts a new
  thread, emits nothing).  ``if`` is EFLAGS.IF at the ``iret`` (1 = enabled),
  which the interrupt-nesting rule reads.
- ``stack.switch`` (from, to, esp, eip) at the instruction after each ESP
  load, when the owner of the stack ESP points into changed; at an ``iret``
  that returns to a less privileged level (it pops ESP too: ``esp`` is the
  new one, ``eip`` the iret's); and at an interrupt from ring 3, which the
  CPU takes on the TSS's ring-0 stack (the delivery listener sees the new
  ESP).

``install()`` hooks those addresses; hooks cost nothing between hits.  When
``scanned`` is a list of the ranges the image's scan covered (an image
without irqlab's kernel model), a handler entered outside them -- a kernel
running at an alias of its link address -- has its pages scanned and
hooked at its first entry.  Kernel
events (``obs_`` labels) are added by emulator/observe/kernel.py through
``hook_label``.
"""

from __future__ import annotations

import collections
from typing import Callable, Optional

from emulator.observe.scan import scan_code

EFLAGS_IF = 1 << 9
# delivery kinds that never come from a PIC input, whatever their vector
# (an ``int n`` to a vector in the PICs' range enters the kernel exactly as
# that line's interrupt does, which scenarios use, so it keeps its line)
NOT_A_LINE = ("exception", "fault", "trap", "abort", "nmi")


class Observer:
    def __init__(self, view, sink, symbols, stacks, codemap) -> None:
        self.view = view
        self.sink = sink
        self.symbols = symbols
        self.stacks = stacks
        self.codemap = codemap
        self.owner: dict = {}     # cpu -> stack owner name
        self.frames: dict = collections.defaultdict(list)   # stack owner -> [(vector, line)]
        self.after_event: Optional[Callable[[int], None]] = None
        self.last_hook: dict = {}     # cpu -> (addr, now) of the hook that ran last
        self.suppress: dict = collections.defaultdict(set)   # cpu -> {(addr, esp)}
        self.kernel_line: Optional[Callable[[int], Optional[int]]] = None
        # code scanned for iret sites and ESP loads; None: the image's scan is
        # complete (irqlab's kernel), else handlers found elsewhere are scanned
        # when first entered (a foreign kernel running at an alias)
        self.scanned: Optional[list] = None

    # ------------------------------------------------------- exactly once
    def guard(self, addr: int, fn):
        """``fn`` as an exec hook that runs once per execution of ``addr``.

        The machine runs a hook when a CPU is about to execute ``addr``, and
        may then deliver an interrupt at that same boundary; the interrupt's
        ``iret`` comes back to ``addr`` and the hook runs again.  Such a
        second run (same address, same ESP as before the interrupt) is
        skipped, so an ``obs_`` label is one event however often it is
        interrupted.
        """
        clock = self.view.clock()
        view = self.view

        def hook(machine, cpu):
            c = view.cpu_index(cpu)
            view.hold(c)            # the machine stands still until we return
            try:
                sup = self.suppress.get(c)
                if sup:
                    key = (addr, view.reg(c, "esp"))
                    if key in sup:
                        sup.discard(key)
                        return
                self.last_hook[c] = (addr, clock.now)
                fn(machine, c)
            finally:
                view.release()
        return hook

    # ------------------------------------------------------------- install
    def install(self) -> None:
        for addr in sorted(self.codemap.iret):
            self.view.add_exec_hook(addr, self.guard(addr, self._on_iret))
        for addr in sorted(set(self.codemap.esp_loads.values())):
            self.view.add_exec_hook(addr, self.guard(addr, self._on_esp))
        self.view.on_interrupt(self._on_interrupt)

    def start(self) -> None:
        """Name each CPU's initial stack (after the image is loaded)."""
        for cpu in range(self.view.ncpus()):
            # where the loader left ESP may be no stack the kernel names yet
            self.owner[cpu] = self.stacks.owner(self.view.reg(cpu, "esp"))

    # ---------------------------------------------------------------- names
    def _name(self, esp: int) -> Optional[str]:
        name = self.stacks.owner(esp)
        if name is None and len(self.stacks):
            return "?"          # the kernel names its stacks; this one is none of them
        return name

    def current_owner(self, cpu: int) -> Optional[str]:
        return self.owner.get(cpu)

    # ---------------------------------------------------------------- hooks
    def _on_interrupt(self, cpu, vector: int, kind: str, eip_from: int,
                      error_code: Optional[int] = None) -> None:
        cpu = self.view.cpu_index(cpu)
        self.view.hold(cpu)         # the frame is pushed; nothing moves until we return
        try:
            self._entered(cpu, vector, kind, eip_from, error_code)
        finally:
            self.view.release()

    def _entered(self, cpu: int, vector: int, kind: str, eip_from: int,
                 error_code: Optional[int]) -> None:
        esp = self.view.reg(cpu, "esp")
        if self.last_hook.get(cpu) == (eip_from, self.view.clock().now):
            # hooks at eip_from already ran; the iret will come back there
            frame = 12 + (4 if error_code is not None else 0)
            self.suppress[cpu].add((eip_from, esp + frame))
        if self.scanned is not None:
            self._cover(self.view.reg(cpu, "eip"))
        owner = self._refresh(cpu, esp)
        line = None if kind in NOT_A_LINE else self.view.line_of_vector(vector)
        if line is None and kind == "irq" and self.kernel_line is not None:
            line = self.kernel_line(vector)
        self.frames[owner].append((vector, line))
        fields = {"vector": vector, "line": line, "kind": kind, "eip": eip_from,
                  "owner": owner}
        if error_code is not None:
            fields["error_code"] = error_code
        self.sink.emit("intr.enter", cpu, **fields)

    def _cover(self, eip: int) -> None:
        """Scan the two pages from the handler at ``eip`` (linear) when no
        scan covered it yet, and hook what they hold."""
        if any(lo <= eip < hi for lo, hi in self.scanned):
            return
        page = eip & ~0xFFF
        self.scanned.append((page, page + 0x2000))
        data = self.view.mem_read(page, 0x2000) or self.view.mem_read(page, 0x1000)
        if not data:
            return
        found = scan_code(data, page, (eip,))
        self.codemap.returns |= found.returns
        for addr in sorted(found.iret - self.codemap.iret):
            self.codemap.iret.add(addr)
            self.view.add_exec_hook(addr, self.guard(addr, self._on_iret))
        for addr, after in sorted(found.esp_loads.items()):
            if addr not in self.codemap.esp_loads:
                self.codemap.esp_loads[addr] = after
                self.view.add_exec_hook(after, self.guard(after, self._on_esp))

    def _on_iret(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        esp = self.view.reg(cpu, "esp")
        owner = self._refresh(cpu, esp)
        frames = self.frames.get(owner)
        if frames:
            vector, line = frames.pop()
            eflags = self.view.reg(cpu, "eflags")
            self.sink.emit("intr.exit", cpu, vector=vector, line=line,
                           eip=self.view.reg(cpu, "eip"), owner=owner,
                           **{"if": 1 if eflags & EFLAGS_IF else 0})
        self._outward(cpu, esp)

    def _outward(self, cpu: int, esp: int) -> None:
        """An iret to a less privileged level (ring 0 to ring 3) also pops
        ESP and SS: the CPU leaves the kernel stack for the stack in the
        frame, which is a stack switch (emitted at the iret)."""
        cs = self.view.read_u32(esp + 4)
        if cs is None or (cs & 3) <= (self.view.reg(cpu, "cs") & 3):
            return
        new_esp = self.view.read_u32(esp + 12)
        if new_esp is not None:
            self._refresh(cpu, new_esp)

    def _on_esp(self, machine, cpu) -> None:
        cpu = self.view.cpu_index(cpu)
        self._refresh(cpu, self.view.reg(cpu, "esp"))

    def _refresh(self, cpu: int, esp: int) -> Optional[str]:
        """The owner of ESP's stack; a change is a ``stack.switch`` event."""
        name = self._name(esp)
        old = self.owner.get(cpu)
        if name != old:
            self.owner[cpu] = name
            if name is not None or old is not None:
                self.sink.emit("stack.switch", cpu, **{"from": old, "to": name, "esp": esp,
                                                       "eip": self.view.reg(cpu, "eip")})
        return name

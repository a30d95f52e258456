"""The frame every fuzz program runs in: start-up, interrupt logging, printing.

Contract
--------
``source(ops, ncpus)`` returns a complete assembly program (asm/SYNTAX.md)
for irqlab's assembler: this runtime (runtime.S, with runtime_smp.S for
several CPUs and runtime_data.S), then each op's text in order inside
``main``, then the return to ``finish``.  ``image(ops, ncpus)`` is the same
program as a Multiboot image built faster (what the fuzzer runs): the
runtime is assembled once per process and CPU count, ``main`` (the ops)
on its own at a fixed address past the runtime's .bss, with the runtime's
symbols as constants; the two images are joined and the runtime's header
made to load both.  It prints what ``source`` prints; probes are written
from ``source`` (one file that builds on its own).  The program is a Multiboot image that boots
the same on irqlab and on ``qemu-system-i386 -kernel`` and prints only on
the debug console (0xE9), then exits through isa-debug-exit with 0.

Start-up (``_start``) puts every device a program may touch in a known
state, whatever firmware ran before (QEMU boots through SeaBIOS, irqlab
does not): flat GDT (with the extra descriptors the exception ops load,
see ``GDT``), an IDT whose 256 vectors all go to ``common`` (exceptions
8, 10-14 and 17 with their error code, the rest with 0); the PIT quiet
(counter 0 mode 0 count 1, counter 2 gated off); both 8259s initialised at
0x20/0x28 with every line masked and every line edge-triggered; the BSP's
LAPIC enabled (SVR 0x1FF, TPR 0, LINT0 ExtINT, LINT1/timer/error masked);
every IO APIC entry masked, edge, vector 0x30 + pin, to APIC 0; the RTC at
32.768 kHz/1024 Hz (A = 0x26), B = 0x02 (24 h, BCD, no interrupts), C
read; COM1 in loopback with OUT2 set and interrupts off; the HPET halted and its timers
off; the PM1 enables 0 and its status cleared; the i8042 self-tested (its
system flag set, as SeaBIOS leaves it), drained, its command byte 0x03
and the byte port 0x60 repeats when empty 0x00.

``common`` logs each interrupt in ``log`` (vector, error code, IF inside
the handler -- 0 through an interrupt gate, as it was through a trap gate --
and its count) and sends the EOI its source needs: 0x20-0x2F (8259 through LINT0
ExtINT) a non-specific EOI to the master and, from 0x28, the slave; 0xFF
(LAPIC spurious) none; any other vector a LAPIC EOI.  A source that
interrupts more than ``CAP`` (48) times is silenced deterministically -- its
8259 line, IO APIC pin, LAPIC LVT entry masked -- so a level line nobody
clears cannot livelock either machine (QEMU would throttle it only after
10,000, irqlab never).  An exception (vector < 32) resumes at ``resume``
(each exception op sets it before its faulting instruction); with
``resume`` 0 it is unexpected: the program prints ``unexpected N`` and exits
with 3.

Helpers for ops (all keep every register but EAX unless said): ``puthex``
(EAX, 8 digits), ``puthex2`` (AL), ``putdec``, ``newline``, ``space``,
``say`` (the NUL-terminated string at ESI), ``flush`` (prints ``log:`` and
every entry ``vector/error/if``, then empties the log; keeps all
registers), ``window`` (interrupts enabled for ECX iterations of ``nop;
loop``: see its comment for why not a bare ``loop``).
runtime_sys.S (emulator/fuzz/families_sys.py's ops): ``paging_on`` (EAX
bit 16 = CR0.WP; 0-4 MiB identity-mapped, user, writable; PDE 1 through
``pt_test``, all not present), ``paging_off``; ``sys_on``/``sys_off``
(the system GDT with ring-3 segments 0x33/0x3b and TSSs 0x40/0x48/0x50, TR
= 0x40 with its limit [io_limit] -- 0x67, or past the I/O bitmap the ring
family's io op writes at ``tss_main + 0x68`` -- and back to the runtime's
GDT); ``task_init`` (a TSS ready to
run); ``set_gate``/``stub_gate``; ``to_user`` (run [user_fn] in ring 3
with EFLAGS = EDX until it does ``int 0xfe``).
With several CPUs, ``ap_go`` runs the op function at [ap_fn] on AP EBX and
waits for it (the BSP halts until the AP's IPI: no interleaving can change
what is printed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17}
CAP = 48
LOG_MAX = 64
STUB_SIZE = 16
HERE = Path(__file__).resolve().parent
_TEXT: dict = {}


def _text(name: str) -> str:
    """One of the runtime's .S files (read once)."""
    if name not in _TEXT:
        _TEXT[name] = (HERE / name).read_text()
    return _TEXT[name]


def stubs() -> str:
    """The 256 vector stubs as bytes, 16 each, followed at once by ``common``.

    Stub v: ``push 0`` (or two NOPs where the CPU pushes an error code),
    ``push v``, ``jmp common`` (rel32 to just past the block), padding.  The
    block is position-independent, so it is data to the assembler (32
    ``.ascii`` statements, cheap to assemble, instead of 768 instructions)
    and ``build_idt`` finds stub v at ``stubs + 16 * v``."""
    block = bytearray()
    for v in range(256):
        stub = bytearray(b"\x90\x90" if v in ERROR_CODE_VECTORS else b"\x6a\x00")
        stub += b"\x68" + v.to_bytes(4, "little")
        end = v * STUB_SIZE + len(stub) + 5
        stub += b"\xe9" + (256 * STUB_SIZE - end).to_bytes(4, "little", signed=True)
        block += stub + b"\x90" * (STUB_SIZE - len(stub))
    lines = ["        .text", "        .align 16", "stubs:"]
    for i in range(0, len(block), 128):
        lines.append('        .ascii "' + "".join(f"\\x{b:02x}" for b in block[i:i + 128]) + '"')
    return "\n".join(lines) + "\n"


def _frame(ncpus: int) -> str:
    """The runtime's text for ``ncpus`` CPUs: everything but ``main``."""
    head = ("# generated by emulator/fuzz (python -m emulator fuzz): runtime, then the ops\n"
            f"        .equ CAP, {CAP}\n        .equ LOG_MAX, {LOG_MAX}\n"
            f"        .equ NCPUS, {ncpus}\n")
    frame = _text("runtime.S")
    cut = frame.index("# common:")                  # the stub block falls through to it
    return (head + frame[:cut] + stubs() + frame[cut:] + _text("runtime_sys.S")
            + (_text("runtime_smp.S") if ncpus > 1 else ""))


def _main(ops: Iterable[str], ncpus: int) -> str:
    """``main``: the APs started, then the ops in order, then ``ret``."""
    body = ["        .text", "main:"]
    if ncpus > 1:
        body += [f"        mov ebx, {i}\n        call ap_start" for i in range(1, ncpus)]
    for op in ops:
        body.append(op.rstrip("\n"))
    body.append("        ret")
    return "\n".join(body) + "\n"


def source(ops: Iterable[str], ncpus: int = 1) -> str:
    """The whole program as one text: runtime, ``main`` made of ``ops``, data."""
    return _frame(ncpus) + _main(ops, ncpus) + _text("runtime_data.S")


def image(ops: Iterable[str], ncpus: int = 1) -> bytes:
    """The program of ``source(ops, ncpus)`` as a Multiboot image, assembling
    only the ops: the runtime is assembled once per process (per CPU count)
    with ``main`` at a fixed address past its .bss, the ops there on their
    own with the runtime's symbols as constants, and the two put end to end
    (the runtime's Multiboot header made to load both).  Prints the same as
    the one-text program; only addresses differ."""
    import asm        # the assembler is only needed when building
    rt, main_base = _runtime(ncpus)
    ops_image = asm.assemble_text(_main(ops, ncpus), filename="fuzz-ops.S", base=main_base,
                                  entry="main", defines=rt.defines)
    if ops_image.symbols["main"].value != rt.main:
        raise AssertionError("the ops' main is not where the runtime calls it")
    ops_bytes = ops_image.flat()              # its own 32-byte header: never run, harmless
    out = bytearray(rt.flat)
    out += bytes(main_base - rt.base - len(out))
    out += ops_bytes
    struct.pack_into("<2I", out, 20, ops_image.load_end, max(ops_image.bss_end, ops_image.load_end))
    return bytes(out)


@dataclass(frozen=True)
class _Runtime:
    base: int
    main: int             # where the runtime calls main (the ops' text start)
    flat: bytes           # the runtime's Multiboot image
    defines: dict         # its symbols, for the ops


_RUNTIMES: dict = {}
OPS_ALIGN = 0x1000


def _runtime(ncpus: int):
    """The runtime for ``ncpus`` CPUs, assembled once per process."""
    if ncpus not in _RUNTIMES:
        # the assembler only when a program is built (fuzz's command line,
        # its tests and the emulator's other commands start without it)
        import asm
        from asm.assembler import HEADER_SIZE
        text = _frame(ncpus) + _text("runtime_data.S")
        probe = asm.assemble_text(text, filename="fuzz-runtime.S", defines={"main": 0})
        main_base = -(-probe.bss_end // OPS_ALIGN) * OPS_ALIGN
        main = main_base + HEADER_SIZE
        rt = asm.assemble_text(text, filename="fuzz-runtime.S", defines={"main": main})
        defines = {name: sym.value for name, sym in rt.symbols.items() if name != "main"}
        _RUNTIMES[ncpus] = (_Runtime(rt.base, main, rt.flat(), defines), main_base)
    return _RUNTIMES[ncpus]

"""The kernel's structure layouts and constants: ONE table, two outputs.

Contract
--------
``STRUCTS`` and ``CONSTANTS`` are the single source of every offset and
constant the kernel's assembly and the emulator's observer share.
``write_layout_inc(path)`` turns them into ``gen/layout.inc`` (``.equ`` lines,
so every name lands in the image's symbol table too); ``gen_vectors(path)``
writes ``gen/vectors.S``, the 48 vector stubs, from ``VECTORS``;
``gen_scenario_tables(dir)`` writes ``gen/scenario_table.inc``, the name ->
entry table main.S looks every scenario up in (one kernel for 1..N CPUs,
one dispatch), from catalog.py's ``SCENARIOS`` (scenario NAME's entry is
``scen_NAME``).  Every file starts with a "generated — do
not edit" header; every build rewrites them (only when they change).
The models' values and MAX_CPUS come from catalog.py too.
"""

from __future__ import annotations

from pathlib import Path

from emulator.devices.testdev import TESTDEV_BASE, TESTDEV_IRQ
from guest_kernel.catalog import MAX_CPUS, MODELS, SCENARIOS

# name prefix, fields (name, size in bytes) in order; <PREFIX>_SIZE is the total
STRUCTS = {
    # a light-weight process (kernel thread); 4-aligned so mutex owner words
    # can carry MUTEX_BIT_WAITERS in bit 0
    "L": [("ID", 4), ("STATE", 4), ("PRIO", 4), ("BASEPRIO", 4), ("SP", 4),
          ("NEXT", 4), ("WCHAN", 4), ("STACK_LO", 4), ("STACK_HI", 4),
          ("PINNED", 4),      # the interrupt LWP that borrows (pins) this one, or 0
          ("BORROWED", 4),    # interrupt LWP: the LWP it borrows, or 0
          ("FLAGS", 4), ("BIGLOCKS", 4), ("WAITLOCK", 4), ("NAME", 4),
          ("ENTRY", 4), ("ARG", 4), ("IPL", 4), ("WAKETIME", 4), ("NRUN", 4),
          ("BIGSAVED", 4), ("LINE", 4),
          ("CPU", 4),         # the per-CPU data of the CPU it runs on or is queued on
          ("SCHEDDEPTH", 4)], # sched_lock depth it held when it switched out (switch.S)
    # per-CPU data, one per CPU in `cpus` (cpu0 = cpus), reached through the
    # GS segment (gs:[C_SELF] is this CPU's, boot.S): the scheduler's run
    # queues (RUNQ_HEAD/TAIL by priority, QLEN entries), the big-lock
    # statistics (BIGWAIT spin iterations, BIGHOLD/BIGSTART virtual ns,
    # BIGWANTED the LWP spinning for it), the clock (TICKS, QUANTUM), the
    # device interrupts it took (NINTR), its LAPIC TPR last written (TPR)
    "C": [("SELF", 4), ("ID", 4), ("CURLWP", 4), ("IPL", 4), ("SOFTPEND", 4),
          ("IDEPTH", 4), ("INTRSTACK_LO", 4), ("INTRSTACK_HI", 4),
          ("IDLELWP", 4), ("RESCHED", 4), ("PICMASK", 4), ("TICKS", 4),
          ("NSWITCH", 4), ("MAXDEPTH", 4), ("QUANTUM", 4), ("QLEN", 4),
          ("BIGWANTED", 4), ("BIGWAIT", 4), ("BIGHOLD", 4), ("BIGSTART", 4),
          ("NINTR", 4), ("TPR", 4), ("VCLOCK", 4), ("PAD", 4),
          ("RUNQ_HEAD", 4 * 8), ("RUNQ_TAIL", 4 * 8)],
    # mutex(9): OWNER = owning LWP | MUTEX_BIT_WAITERS
    "MTX": [("OWNER", 4), ("KIND", 4), ("IPL", 4), ("OLDIPL", 4),
            ("WAITERS", 4), ("NAME", 4)],
    # the big lock: owning CPU and total hold count on it
    "KL": [("CPU", 4), ("COUNT", 4)],
    # soft interrupt
    "SI": [("LEVEL", 4), ("FUNC", 4), ("ARG", 4), ("PENDING", 4), ("LWP", 4),
           ("NAME", 4), ("COUNT", 4), ("PAD", 4)],
    # single-producer single-consumer ring of 32-bit words
    "RING": [("HEAD", 4), ("TAIL", 4), ("DROPS", 4), ("PAD", 4),
             ("DATA", 4 * 64)],
    # one established interrupt handler per IRQ line (intr_establish.S):
    # MODEL is how it runs (MODEL_*), BOTTOM its second half or 0, SOFTINT
    # the soft interrupt that runs BOTTOM (classic, hybrid) or 0
    # (TSTART, LATSUM, LATN, LATMAX: the latency from entry to work done,
    # virtual ns, while a scenario measures: intr_stat.S; BACKLOG: a hybrid
    # line's bottom-half backlog bits, IHB_*, intr_establish.S)
    "IH": [("FUNC", 4), ("ARG", 4), ("IPL", 4), ("FLAGS", 4), ("LWP", 4),
           ("COUNT", 4), ("PENDING", 4), ("NAME", 4), ("MODEL", 4), ("BOTTOM", 4),
           ("SOFTINT", 4), ("TSTART", 4), ("LATSUM", 4), ("LATN", 4), ("LATMAX", 4),
           ("BACKLOG", 4)],
    # the interrupt controller's operations (pic.S intr_ops): one table for
    # the 8259s (one CPU) or for the LAPIC and IO APIC (several, apic.S),
    # chosen once at boot
    "OPS": [("APPLY", 4), ("LINE", 4), ("EOI", 4), ("EOI_EARLY", 4), ("EOI_LATE", 4),
            ("STRAY", 4)],
    # a driver's interrupt attachment, what intr_establish reads (the DRIVER
    # macro, kernel.inc): its line and IPL, top and bottom half, model, flags
    # (IH_MPSAFE), its name and its soft interrupt's name
    "DRV": [("LINE", 4), ("IPL", 4), ("TOP", 4), ("BOTTOM", 4), ("MODEL", 4),
            ("FLAGS", 4), ("NAME", 4), ("SOFTNAME", 4)],
}

CONSTANTS = {
    # LWP states
    "LSIDL": 0, "LSRUN": 1, "LSONPROC": 2, "LSSLEEP": 3, "LSBLOCKED": 4,
    "LSZOMB": 5, "LSPOOL": 6, "LSPINNED": 7,
    # LWP flags
    "LF_IDLE": 1, "LF_ITHREAD": 2, "LF_SOFTINT": 4, "LF_IRQTHREAD": 8,
    "LF_CONVERTED": 16,
    "LF_BOUND": 32,         # never taken by another CPU's steal (sched.S)
    # priorities: interrupt threads > soft interrupts > kernel threads > idle
    "PRI_IDLE": 0, "PRI_KTHREAD": 2, "PRI_SOFTINT": 4, "PRI_INTR": 6, "NPRI": 8,
    # interrupt priority levels
    "IPL_NONE": 0, "IPL_SOFTCLOCK": 1, "IPL_SOFTBIO": 2, "IPL_SOFTNET": 3,
    "IPL_SOFTSERIAL": 4, "IPL_VM": 5, "IPL_SCHED": 6, "IPL_HIGH": 7, "NIPL": 8,
    # mutex kinds and the owner word's waiters bit
    "MUTEX_ADAPTIVE": 1, "MUTEX_SPIN": 2, "MUTEX_BIT_WAITERS": 1,
    # handler flags; L_LINE of an LWP that serves no IRQ line
    "IH_MPSAFE": 1, "NO_LINE": 0xFFFFFFFF,
    # IH_BACKLOG bit numbers (hybrid): its soft interrupt scheduled and its
    # bottom half not started yet; a top half found it so (the bottom half
    # is behind); the line's release is left to the next bottom half
    "IHB_QUEUED": 0, "IHB_BEHIND": 1, "IHB_OWED": 2,
    # CPUs: at most MAX_CPUS (APIC IDs 0..MAX_CPUS-1, the index into cpus);
    # a line's IO APIC route (intr_route, apic.S): a CPU, or any CPU by
    # lowest-priority delivery
    "MAX_CPUS": MAX_CPUS, "ROUTE_LOWEST": 0xFF,
    # sizes
    "NLWP": 48, "STACK_SIZE": 4096, "STACK_GUARD": 512, "INTRSTACK_SIZE": 4096,
    "BOOTSTACK_SIZE": 4096, "NSOFTINT": 4, "RING_SLOTS": 64, "NIRQ": 16,
    # interrupt models (-D MODEL=... the default, -D <DRIVER>_MODEL=... each
    # driver's: guest_kernel/build.py; the values are catalog.py's table)
    **{f"MODEL_{name.upper()}": value for name, value in MODELS.items()},
    # vectors: the 8259s' IRQ_BASE + line; through the IO APIC and the LAPIC
    # timer LINE_CLASS_BASE + IPL * 16 + line (priority class 4 + the line's
    # IPL, apic.S); the IPIs; NVECTORS stubs in gen/vectors.S, IDT_GATES gates
    "IRQ_BASE": 0x20, "NVECTORS": 0x30, "IDT_GATES": 256, "LINE_CLASS_BASE": 0x40,
    "XCALL_VECTOR": 0xC0, "RESCHED_VECTOR": 0xC1, "SPURIOUS_VECTOR": 0xFF,
    # the clock: PIT counter 0 in mode 2, 119 counts = 99.7 us per tick
    "PIT_HZ_COUNT": 119, "QUANTUM_TICKS": 2,
    # irqlab's test device: its ports and line are the machine's
    # (emulator/devices/testdev.py), in a range QEMU's PC leaves free
    "TESTDEV": TESTDEV_BASE, "TESTDEV_IRQ": TESTDEV_IRQ,
}

# CPU exceptions that push an error code (Intel SDM vol. 3, table 6-1)
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17}

HEADER = "# generated by guest_kernel/layout.py — do not edit\n"


def struct_offsets() -> dict[str, int]:
    """Every <PREFIX>_<FIELD> offset and <PREFIX>_SIZE."""
    out = {}
    for prefix, fields in STRUCTS.items():
        off = 0
        for name, size in fields:
            out[f"{prefix}_{name}"] = off
            off += size
        out[f"{prefix}_SIZE"] = off
    return out


def all_constants() -> dict[str, int]:
    d = dict(struct_offsets())
    d.update(CONSTANTS)
    return d


def write_layout_inc(path: Path) -> None:
    lines = [HEADER, "# structure offsets and kernel constants (guest_kernel/layout.py)\n"]
    for name, value in all_constants().items():
        lines.append(f"        .equ {name}, {value}\n")
    _write_if_changed(path, "".join(lines))


def gen_vectors(path: Path) -> None:
    """The 48 IDT entry stubs: each pushes (error code or 0) and its vector."""
    out = [HEADER,
           "# vector stubs: exceptions 0-31 go to trap_entry, IRQs 32-47 to\n"
           "# intr_entry, each with [esp] = vector and [esp+4] = error code (or 0)\n",
           "        .text\n"]
    n = CONSTANTS["NVECTORS"]
    for v in range(n):
        target = "trap_entry" if v < CONSTANTS["IRQ_BASE"] else "intr_entry"
        out.append(f"vector{v}:\n")
        if v not in ERROR_CODE_VECTORS:
            out.append("        push 0\n")
        out.append(f"        push {v}\n        jmp {target}\n")
    out.append("\n        .data\n        .align 4\nvector_table:\n")
    for v in range(n):
        out.append(f"        .long vector{v}\n")
    _write_if_changed(path, "".join(out))


def gen_scenario_tables(gen_dir: Path) -> None:
    """The scenarios' table, main's lookup (scenarios.S includes it): ``.long
    sname_NAME, scen_NAME`` pairs, a 0, 0 end, then the names."""
    names = [s.name for s in SCENARIOS]
    out = [HEADER, "# main's lookup (scenarios.S includes it): name -> entry, "
           "from guest_kernel/catalog.py\n", "scenario_table:\n"]
    out += [f"        .long sname_{n}, scen_{n}\n" for n in names]
    out.append("        .long 0, 0\n")
    out += [f'sname_{n}: .asciz "{n}"\n' for n in names]
    _write_if_changed(gen_dir / "scenario_table.inc", "".join(out))


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(gen_dir: Path) -> None:
    write_layout_inc(gen_dir / "layout.inc")
    gen_vectors(gen_dir / "vectors.S")
    gen_scenario_tables(gen_dir)

"""``make bench``: how fast the machine runs guests (host time is measured
here and nowhere else in the emulator).

(a) raw Unicorn on a compute loop, no hooks at all;
(b) the same loop as a guest on the machine (the path ``python -m emulator
    run`` takes, in-process so interpreter start-up is not counted), with
    the PIT interrupting at 1 kHz of virtual time and a handler that EOIs;
(c) an interrupt storm: the same guest with IRQ 5 injected every
    ``STORM_PERIOD`` instructions; the host time per delivered interrupt is
    the storm's time minus what its instructions cost at rate (b);
(d) the kernel's ``soak`` scenario (ithread model, its injections) three
    ways: bare, with the observer and checkers attached (what ``python -m
    emulator run`` does by default), and with a trace written as well.  The
    observer's time includes attaching it (the capstone scan).

Prints a table and one JSON line: raw_mips, guest_mips, ratio (b/a),
us_per_irq, irqs, native, and for (d) observe_ratio (checked / bare),
trace_ratio (checked and traced / checked: what tracing adds), events and
us_per_event; (e) ``make compare``'s default matrix (guest_kernel/compare,
every configuration checked and traced, in parallel): compare_s,
compare_configs.  Targets: issue 3, ratio >= 0.5 on the native path, <= 20 us
per interrupt; issue 5, tracing at most 1.5 times the run without it.

(a)-(d) are timed in CPU seconds of this process (``time.process_time``):
the machine is shared, and wall time there measures the neighbours; (a)
and (b) are the median pair (by their ratio) of ``PAIRS`` taken in turn,
(c) the fastest of ``ROUNDS`` runs (``median_pair``: this VM's own speed
drifts); (e) is
wall time (its configurations run in parallel processes).  Then issue 17's
goals (emulator/bench_goals.py: whole processes against QEMU and raw
Unicorn, the classic kernel's storm, ``run`` on hello), each with its
figure and met / NOT met; their figures join the JSON line.
``--no-compare`` leaves (e) out (quick measurements while working).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time

import unicorn
from unicorn import x86_const as X

import asm
from emulator import bench_goals
from emulator.loader import image_symbols
from emulator.machine import Machine
from emulator.observe import attach
from emulator.pool import default_jobs
from guest_kernel import harness
from guest_kernel.compare import main as compare

ITERATIONS = 20_000_000            # loop iterations (4 instructions each)
STORM_ITERATIONS = 1_000_000
STORM_PERIOD = 2_000
PAIRS = 5                          # (a) and (b): the median pair of this many (median_pair)
ROUNDS = 3                         # (c): the fastest of this many runs

LOOP = """
bench_loop:
    add eax, ecx
    xor ebx, eax
    dec ecx
    jnz bench_loop
"""

GUEST = """
start:
    mov esp, 0x80000
    mov edi, idt
    mov ecx, 0x30
fill:
    mov eax, handler
    mov word ptr [edi], ax
    mov word ptr [edi + 2], 0x10
    mov word ptr [edi + 4], 0x8e00
    shr eax, 16
    mov word ptr [edi + 6], ax
    add edi, 8
    loop fill
    lidt [idtr]
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xde                 # IRQ 0 (PIT) and IRQ 5 (injections)
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    mov al, 0x34                 # PIT counter 0, mode 2, 1193: 1 kHz
    out 0x43, al
    mov al, 0xa9
    out 0x40, al
    mov al, 0x04
    out 0x40, al
    mov ecx, ITER
    sti
""" + LOOP + """
    cli
    xor al, al
    out 0xf4, al
    hlt
handler:
    push eax
    inc dword ptr [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret
    .data
    .align 8
idtr: .short 0x30 * 8 - 1
    .long idt
ticks: .long 0
    .bss
idt: .space 0x30 * 8
"""


def loop_code() -> tuple[bytes, int]:
    """(machine code loaded at 1 MiB, entry) of the bare loop."""
    code = asm.assemble_text("start:\n" + LOOP + "    hlt\n", entry="start")
    return code.flat(), code.symfile()["entry"]


def raw_unicorn(iterations: int) -> tuple[int, float]:
    data, start = loop_code()
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0x100000, 0x10000)
    uc.mem_write(0x100000, data)
    uc.reg_write(X.UC_X86_REG_ECX, iterations)
    t0 = time.process_time()
    uc.emu_start(start, 0xFFFFFFFF)
    return iterations * 4, time.process_time() - t0


def guest_image(iterations: int) -> bytes:
    return asm.assemble_text(GUEST.replace("ITER", str(iterations)), entry="start").flat()


def guest(iterations: int, native: bool, storm: bool):
    image = guest_image(iterations)
    m = Machine.from_bytes(image, native=native)
    m.console = lambda data: None
    count = [0]
    m.on_interrupt.append(lambda *a: count.__setitem__(0, count[0] + 1))
    if storm:
        m.inject(f"irq=5,every={STORM_PERIOD}")
    t0 = time.process_time()
    r = m.run(max_instructions=iterations * 8)
    dt = time.process_time() - t0
    if r.reason != "exit":
        raise SystemExit(f"bench guest did not finish: {r.reason} {r.report}")
    return m.clock.now, dt, count[0], m.native is not None


KERNEL_MODEL, KERNEL_SCENARIO = "ithread", "soak"


def kernel_image() -> str:
    """The bench kernel (the harness's build, built when stale)."""
    return harness.kernel_image(KERNEL_MODEL)


def kernel_run(image: str, observe: bool, trace: bool) -> tuple:
    """(instructions, seconds, events) of one soak run; events counted by
    the observer (0 when bare)."""
    m = Machine.from_image(image, append=f"scenario={KERNEL_SCENARIO}")
    m.symbols = image_symbols(image)
    m.console = lambda data: None
    for spec in harness.injection_specs(KERNEL_SCENARIO):
        m.inject(spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "soak.jsonl") if trace else None
        t0 = time.process_time()
        session = attach(m, trace_path=path, report=io.StringIO()) if observe else None
        count = [0]
        if session is not None:
            session.fanout.add(lambda ev: count.__setitem__(0, count[0] + 1))
        r = m.run(200_000_000)
        if session is not None:
            session.finish()
        dt = time.process_time() - t0
    if r.reason != "exit":
        raise SystemExit(f"bench kernel did not finish: {r.reason} {r.report}")
    return m.clock.now, dt, count[0]


def compare_run(image: str) -> tuple:
    """(instructions of all runs, seconds, configurations, jobs) of ``make
    compare``'s default matrix (guest_kernel/compare), into a scratch
    directory, kernels from the bench kernel's build directory."""
    build_dir = os.path.dirname(os.path.dirname(image))
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        t0 = time.perf_counter()
        status = compare(["-o", tmp, "--build-dir", build_dir])
        dt = time.perf_counter() - t0
        entries = json.load(open(os.path.join(tmp, "metrics.json"))) if status == 0 else []
    if status != 0:
        raise SystemExit(f"bench: make compare's matrix failed with status {status}")
    return sum(e["instructions"] for e in entries), dt, len(entries), default_jobs()


def median_pair(first, second) -> tuple:
    """PAIRS runs of two measurements taken in turn (first, second, first,
    ...); the pair whose ratio of times is the median.  This VM's speed
    drifts by up to 2x (raw Unicorn measured 607 to 1,238 MIPS in one
    afternoon): one run of each, minutes apart, once gave the guest a
    higher rate than raw Unicorn, and the fastest of each, taken at
    different moments, a ratio of 0.30 against 0.48-0.53 for pairs.  Each
    result's seconds are its element 1."""
    pairs = sorted(((first(), second()) for _ in range(PAIRS)),
                   key=lambda p: p[1][1] / p[0][1])
    return pairs[len(pairs) // 2]


def main(argv=()) -> int:
    native = "--no-native" not in argv
    (raw_n, raw_t), (g_n, g_t, g_irqs, is_native) = median_pair(
        lambda: raw_unicorn(ITERATIONS), lambda: guest(ITERATIONS, native, storm=False))
    s_n, s_t, s_irqs, _ = min((guest(STORM_ITERATIONS, native, storm=True)
                               for _ in range(ROUNDS)), key=lambda r: r[1])
    raw_mips = raw_n / raw_t / 1e6
    guest_mips = g_n / g_t / 1e6
    us_per_irq = max(0.0, s_t - s_n / (guest_mips * 1e6)) / max(1, s_irqs) * 1e6
    image = kernel_image()
    k_n, k_t, _ = kernel_run(image, observe=False, trace=False)
    o_n, o_t, events = kernel_run(image, observe=True, trace=False)
    t_n, t_t, _ = kernel_run(image, observe=True, trace=True)
    if not k_n == o_n == t_n:
        raise SystemExit(f"bench kernel runs differ in length: {k_n} {o_n} {t_n} instructions")
    goals, goal_figures = bench_goals.measure(guest_image(ITERATIONS), g_n,
                                              loop_code() + (ITERATIONS,), image, guest_mips)
    c_n, c_t, c_configs, c_jobs = (0, 0.0, 0, 0) if "--no-compare" in argv else compare_run(image)
    observe_ratio, trace_ratio = o_t / k_t, t_t / o_t
    us_per_event = (o_t - k_t) / max(1, events) * 1e6
    kname = f"{KERNEL_SCENARIO} ({KERNEL_MODEL})"
    rows = [("(a) raw Unicorn loop", raw_n, raw_t, f"{raw_mips:8.1f} MIPS"),
            ("(b) guest, PIT 1 kHz", g_n, g_t, f"{guest_mips:8.1f} MIPS, {g_irqs} irqs"),
            (f"(c) storm, irq every {STORM_PERIOD}", s_n, s_t, f"{us_per_irq:8.2f} us/irq, {s_irqs} irqs"),
            (f"(d) {kname}, bare", k_n, k_t, ""),
            (f"(d) {kname}, checked", o_n, o_t,
             f"{observe_ratio:8.2f} x bare, {events} events, {us_per_event:.1f} us/event"),
            (f"(d) {kname}, checked + trace", t_n, t_t, f"{trace_ratio:8.2f} x checked"),
            ("(e) make compare, default matrix", c_n, c_t,
             f"{c_configs} configurations, -j {c_jobs}")]
    print(f"{'run':36} {'instructions':>14} {'seconds':>9}  result")
    for name, n, t, res in rows:
        print(f"{name:36} {n:14d} {t:9.3f}  {res}")
    print(f"block hook: {'native (C)' if is_native else 'pure Python'}; ratio b/a = {guest_mips / raw_mips:.3f}")
    goals[2:2] = [bench_goals.Goal("bench storm, us per delivered interrupt", us_per_irq,
                                   "<= 15 us", us_per_irq <= 15, " us")]
    goals.insert(1, bench_goals.Goal("observer, us per event (soak)", us_per_event, "<= 2 us",
                                     us_per_event <= 2, " us"))
    print(f"issue 17's goals (child processes: CPU seconds, best of {bench_goals.REPEAT}; "
          f"ratios the median of {bench_goals.REPEAT} rounds; in-process rows as above):")
    for g in goals:
        print(g.row())
    print(json.dumps({**goal_figures, "raw_mips": round(raw_mips, 1), "guest_mips": round(guest_mips, 1),
                      "ratio": round(guest_mips / raw_mips, 3), "us_per_irq": round(us_per_irq, 2),
                      "irqs": s_irqs, "native": is_native,
                      "observe_ratio": round(observe_ratio, 2), "trace_ratio": round(trace_ratio, 2),
                      "events": events, "us_per_event": round(us_per_event, 2),
                      "compare_s": round(c_t, 1), "compare_configs": c_configs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

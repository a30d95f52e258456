"""Benchmark: assemble a generated 3,000-line kernel-like program; print the time.

    python -m asm.bench [--lines N] [--repeat R]

The input mixes what kernel sources hold: constants, macros, numeric local
labels, forward and backward branches (short and near), calls, memory
operands with labels, port I/O, .data tables of label addresses and a .bss
area.  The target (issue 2) is under 2 s for 3,000 lines on the project's
2-core machine; this is a measurement, not a test.  Each repetition runs in
a fresh Encoder so keystone's cache does not flatter the figure.
"""

from __future__ import annotations

import argparse
import time


def generate(lines: int = 3000) -> str:
    out = [
        "# generated benchmark input",
        ".equ PIC1_CMD, 0x20",
        ".equ PIC1_DATA, 0x21",
        ".equ KERNEL_CS, 0x08",
        ".equ STACK_SIZE, 4096",
        ".macro OUTB port, val",
        "        mov al, \\val",
        "        out \\port, al",
        ".endm",
        ".text",
        "_start:",
        "        mov esp, stack_top",
        "        lgdt [gdtr]",
        "        jmp KERNEL_CS:1f",
        "1:      call main",
        "        hlt",
    ]
    n = 0
    while len(out) < lines - 40:
        out += [
            f"func_{n}:",
            "        push ebp",
            "        mov ebp, esp",
            f"        mov eax, [var_{n % 50}]",
            "        test eax, eax",
            "        jz 1f",
            f"        lea ebx, [table + eax*4 + {n % 7}]",
            "        mov ecx, [ebx]",
            "        cmp ecx, 0x10",
            "        jae 2f",
            f"        call func_{(n + 3) % 100}",
            "        OUTB PIC1_CMD, 0x20",
            "1:      inc dword ptr [counter]",
            f"        mov dword ptr [var_{(n + 1) % 50}], eax",
            "        push offset_handler",
            "        add esp, 4",
            "2:      cmp eax, 3",
            "        jne 1b",
            f"        jmp func_{max(0, n - 1)}_end" if n else "        nop",
            f"func_{n}_end:",
            "        pop ebp",
            "        ret",
        ]
        n += 1
    out += ["offset_handler:", "main:   ret", ".data", ".align 4",
            "gdt:    .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff",
            "gdtr:   .short gdtr - gdt - 1", "        .long gdt", "counter: .long 0",
            "table:"]
    out += [f"        .long func_{i}, func_{i}_end" for i in range(min(n, 200))]
    out += [f"var_{i}: .long {i}" for i in range(50)]
    out += [".bss", ".align 16", ".space STACK_SIZE", "stack_top:"]
    return "\n".join(out[:max(lines, len(out))]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m asm.bench")
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from . import assembler, assemble_text
    text = generate(args.lines)
    nlines = text.count("\n")
    best = None
    for _ in range(args.repeat):
        assembler._encoder = None          # cold keystone cache every time
        t0 = time.perf_counter()
        image = assemble_text(text, "bench.S")
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    enc = assembler.encoder()
    print(f"asm bench: {nlines} lines -> {len(image.flat())} bytes, {len(image.symbols)} symbols; "
          f"best of {args.repeat}: {best:.3f} s ({nlines / best:,.0f} lines/s; "
          f"keystone calls {enc.calls}); target < 2 s: {'OK' if best < 2 else 'TOO SLOW'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The families of the CPU's own mechanisms: paging faults, ring changes, task switches.

Contract
--------
Like emulator/fuzz/families.py (each ``fn(o: Ops)`` appends ops drawn from
``o.rng`` only, every op stands alone), with the runtime's helpers of
runtime_sys.S: every op sets up the paging, GDT, TSS or gate it uses from a
known state and undoes it before it ends (paging off, the runtime's GDT,
the gates it changed back to their stubs), so any subset of the ops in
order is again a valid program.  What they print follows from the Intel
SDM vol. 3A alone: the interrupt log (vector, error code, IF), CR2, the
accessed and dirty bits a walk sets, CS/SS seen in ring 3, a task's back
link, NT, TR and busy bits.

They stay clear of where QEMU 7.2 departs from the SDM (tests/probes/paging
lists them): no reserved bit in a paging entry (QEMU leaves P out of the
error code), no faulting ``iret`` with an NMI held, no ``icebp``, no
reserved CR4 bit, no exception meeting a bad task gate (QEMU leaves EXT
out of the error code); TLB contents are never observed (every op reloads CR3 or
uses ``invlpg`` after it changes an entry).  No interrupt arrives while
paging is on (the LAPIC would have to be mapped) and no 16-bit TSS is used.
Ring 3's I/O runs at any IOPL against a random I/O permission bitmap in
TSS_MAIN (ports 0x80, 0x81 and the console 0xE9 allowed or not, the TSS
limit past the bitmap, cut inside it, or before it; emulator/ioperm.py).
"""

from __future__ import annotations

from emulator.fuzz.ops import Ops

PAGES = 8                           # pt_test's entries the ops use
TEST_LINEAR, TEST_FRAMES, BIG_LINEAR = 0x400000, 0x380000, 0x800000
P, W, U, A, D, PS = 1, 2, 4, 0x20, 0x40, 0x80
WP = 0x10000
USER_RET = 0xFE
TSS_MAIN, TSS_B, TSS_C = 0x40, 0x48, 0x50
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17}


def _say(text_label: str) -> list:
    return ["push esi", f"mov esi, {text_label}", "call say", "pop esi"]


def _print(o: Ops, name: str, *exprs: str) -> list:
    """Lines that print ``name`` then each 32-bit value (an operand for ``mov eax``)."""
    lab = o.label("t")
    lines = [".data", f"{lab}: .asciz \"{name}\"", "        .text", *_say(lab)]
    for e in exprs:
        lines += [f"mov eax, {e}", "call space", "call puthex"]
    return lines + ["call newline"]


def _access(kind: str, addr: int, lab: str) -> list:
    """One access to ``addr``; a fault resumes at ``lab`` (ESP restored from EBP)."""
    if kind == "read":
        return [f"mov eax, [{addr:#x}]"]
    if kind == "write":
        return [f"mov dword ptr [{addr:#x}], 0x5a5a5a5a"]
    if kind == "rmw":
        return [f"inc dword ptr [{addr:#x}]"]
    return [f"mov eax, {addr:#x}", "call eax"]          # fetch: the frame holds mov eax, 0x22; ret


def paging(o: Ops) -> None:
    """#PF with error code and CR2: present, write, WP, PDE vs PTE, 4-MiB pages, A/D bits."""
    r = o.rng
    for _ in range(r.randrange(8, 24)):
        k = r.choices(("access", "big", "split"), (6, 2, 1))[0]
        page = r.randrange(PAGES)
        off = r.choice((0, 0x10, 0x800, 0xff0))
        kind = r.choice(("read", "write", "rmw", "fetch"))
        lab = o.label("r")
        wp = r.choice((0, WP))
        frame = TEST_FRAMES + page * 0x1000
        lines = ["xor eax, eax", "mov cr2, eax",
                 f"mov dword ptr [{frame + off:#x}], 0x000022b8",      # mov eax, 0x22
                 f"mov dword ptr [{frame + off + 4:#x}], 0x0000c300",  # ...; ret
                 f"mov eax, {wp:#x}", "call paging_on"]
        if k == "big":
            pde = PS | r.choice((P | W, P | W | U, P, P | U, W, 0)) | r.choice((0, A, A | D))
            lines += [f"mov dword ptr [pgdir + 8], {pde:#x}", "mov eax, cr4", "or eax, 0x10",
                      "mov cr4, eax", "mov eax, cr3", "mov cr3, eax"]
            addr, entry = BIG_LINEAR + frame + off, "[pgdir + 8]"
        else:
            pte = frame | r.choice((P | W, P | W | U, P, P | U, W, 0, P | W)) | r.choice((0, 0, A, A | D))
            pde = r.choice((P | W | U, P | W | U, P | W, P | U, P, W | U))
            lines += [f"mov dword ptr [pt_test + {page * 4}], {pte:#x}",
                      f"mov dword ptr [pgdir + 4], pt_test + {pde:#x}"]
            if k == "split" and page + 1 < PAGES:
                nxt = (frame + 0x1000) | r.choice((P | W, 0, P))
                lines.append(f"mov dword ptr [pt_test + {page * 4 + 4}], {nxt:#x}")
                off, kind = 0xffe, r.choice(("read", "write"))
            lines.append(r.choice(("mov eax, cr3\n        mov cr3, eax",
                                   f"invlpg [{TEST_LINEAR + page * 0x1000 + off:#x}]")))
            addr, entry = TEST_LINEAR + page * 0x1000 + off, f"[pt_test + {page * 4}]"
        lines += ["mov ebp, esp", f"mov dword ptr [resume], {lab}", "mov eax, 0x11",
                  *_access(kind, addr, lab), f"{lab}:", "mov esp, ebp", "mov dword ptr [resume], 0",
                  "call paging_off", "mov ebx, eax",
                  *_print(o, "pg", "cr2", "ebx", f"dword ptr {entry}", "dword ptr [pgdir + 4]")]
        o.add(*lines)
        if r.random() < 0.4:
            o.flush()
    o.add("mov eax, cr4", "and eax, 0xffffffef", "mov cr4, eax")


def ring(o: Ops) -> None:
    """Ring 3 through the TSS and back through a DPL-3 gate: privileged
    instructions, I/O and IOPL, DPL checks on gates and segments, interrupts
    and page faults taken in ring 3."""
    r = o.rng
    for _ in range(r.randrange(6, 18)):
        k = r.choices(("priv", "io", "popf", "gate", "seg", "irq", "upf"), (3, 2, 1, 3, 2, 1, 2))[0]
        eflags = r.choice((0x2, 0x202, 0x3002, 0x3202, 0x1002))
        u = o.label("u")
        res = o.label("r")
        pre, user, post = [], [], []
        if k == "priv":
            insn = r.choice(("cli", "sti", "hlt", "mov eax, cr0", "mov cr3, eax", "lgdt [gdtr]",
                             "lidt [idtr]", "clts", "wbinvd", "invlpg [0]", "mov dr7, eax",
                             "ud2", "int3", "mov eax, 0x7f\n        add al, 1\n        into"))
            user = [f"mov dword ptr [resume], {res}", insn, f"{res}:"]
        elif k == "io":
            pre, user, post = _io(o)
        elif k == "popf":
            user = ["pushfd", "pop eax", f"xor eax, {r.choice((0x200, 0x3000, 0x3200)):#x}",
                    "push eax", "popfd", "pushfd", "pop eax", "and eax, 0x3200",
                    "mov [scratch + 8], eax"]
            post = _print(o, "popf", "dword ptr [scratch + 8]")
            pre = ["mov dword ptr [scratch + 8], 0"]
        elif k == "gate":
            vec = r.choice((0x80, 0x81, 0x61, 3, 4))
            gate = r.choice((0xee00, 0xef00, 0x8e00, 0xce00))
            pre = [f"mov ebx, {vec:#x}", "mov eax, ebx", "shl eax, 4", "add eax, stubs",
                   f"mov edx, {gate:#x}", "call set_gate"]
            trigger = {3: "int3", 4: "mov al, 0x7f\n        add al, 1\n        into"}.get(vec, f"int {vec:#x}")
            user = [f"mov dword ptr [resume], {res}", trigger, f"{res}:"]
            post = [f"mov ebx, {vec:#x}", "call stub_gate"]
        elif k == "seg":
            sel = r.choice((0x10, 0x3b, 0x38, 0x33, 0x08, 0x18, 0x43, 0x5b, 0x7b, 0x13))
            reg = r.choice(("ds", "es", "fs", "ss"))
            user = [f"mov dword ptr [resume], {res}", f"mov ax, {sel:#x}", f"mov {reg}, ax",
                    f"{res}:", "mov ax, 0x3b", "mov ss, ax", "mov ds, ax", "mov es, ax"]
        elif k == "irq":
            eflags |= 0x200
            pre = ["mov dword ptr [LAPIC_TIMER_DCR], 0xb", "mov dword ptr [LAPIC_LVT_TIMER], 0x50",
                   f"mov dword ptr [LAPIC_TIMER_ICR], {r.choice((100, 500, 2000))}"]
            lab = o.label("w")
            user = ["mov ecx, 3000", f"{lab}:", "nop", f"loop {lab}", "mov [scratch + 12], esp"]
            post = ["mov dword ptr [LAPIC_LVT_TIMER], 0x10000", "mov dword ptr [LAPIC_TIMER_ICR], 0",
                    *_print(o, "uesp", "dword ptr [scratch + 12]")]
        else:                                           # upf: #PF from ring 3 (U/S, R/W)
            page = r.randrange(PAGES)
            pte = (TEST_FRAMES + page * 0x1000) | r.choice((P | W | U, P | U, P | W, P, 0, W | U))
            addr = TEST_LINEAR + page * 0x1000 + r.choice((0, 0x40))
            eflags &= ~0x200
            pre = ["xor eax, eax", "mov cr2, eax", f"mov eax, {r.choice((0, WP)):#x}", "call paging_on",
                   f"mov dword ptr [pt_test + {page * 4}], {pte:#x}", "mov eax, cr3", "mov cr3, eax"]
            access = r.choice((f"mov eax, [{addr:#x}]", f"mov dword ptr [{addr:#x}], 1"))
            user = [f"mov dword ptr [resume], {res}", access, f"{res}:"]
            post = ["call paging_off", *_print(o, "upf", "cr2", f"dword ptr [pt_test + {page * 4}]")]
        o.add(*pre, f"mov dword ptr [user_fn], {u}", f"mov edx, {eflags:#x}", "call to_user",
              f"jmp {u}_end", f"{u}:", "mov word ptr [scratch], cs", "mov word ptr [scratch + 2], ss",
              *user, f"int {USER_RET:#x}", f"{u}_end:", "mov dword ptr [resume], 0",
              *post, *_print(o, "cs_ss", "dword ptr [scratch]"))
        if r.random() < 0.5:
            o.flush()


IOMAP = 0x68                                    # TSS_MAIN's I/O bitmap (runtime_sys.S)
IO_PORTS = (0x80, 0x81, 0xE9)
IO_LIMITS = (IOMAP + 32, IOMAP + 32, IOMAP + 0xE9 // 8, IOMAP + 0x10, 0x67)


def _io(o: Ops) -> tuple:
    """Ring-3 port accesses checked against a random bitmap and TSS limit
    (SDM vol. 1 19.5): each shows what it did ("u"/"v" through 0xE9, what
    ``in`` and ``insb`` read, printed after), or #GP(0) goes into the log
    and the next access runs."""
    r = o.rng
    pre = ["mov edi, tss_main + 0x68", "mov ecx, 33", "mov al, 0xff", "rep stosb"]
    for port in IO_PORTS:
        if r.random() < 0.6:
            pre.append(f"and byte ptr [tss_main + {IOMAP + port // 8:#x}], "
                       f"{~(1 << port % 8) & 0xFF:#x}")
    pre += [f"mov dword ptr [io_limit], {r.choice(IO_LIMITS):#x}",
            "mov dword ptr [scratch + 8], 0", "mov dword ptr [scratch + 12], 0x77"]
    text = o.label("iot")
    accesses = {
        "out": ["mov al, 0x75", "out 0xe9, al", "mov al, 10", "out 0xe9, al"],
        "outsb": [".data", f"{text}: .ascii \"v\\n\"", "        .text", f"mov esi, {text}",
                  "mov ecx, 2", "mov dx, 0xe9", "rep outsb"],
        "out80": ["mov al, 0x42", "out 0x80, al"],
        "outw80": ["mov ax, 0x4142", "out 0x80, ax"],          # 0x80 and 0x81
        "in": ["mov eax, 0x5a", "in al, 0xe9", "mov [scratch + 8], eax"],
        "insb": ["mov edi, scratch + 12", "mov dx, 0xe9", "insb"],   # 0x77 kept if refused
        "rep0": ["xor ecx, ecx", "mov dx, 0x81", "rep outsb"]}      # checked, though it moves nothing
    # (no word access touching 0xE9: QEMU splits it at the 1-byte port)
    user = []
    for name in r.sample(sorted(accesses), r.randrange(1, 4)):
        res = o.label("r")
        user += [f"mov dword ptr [resume], {res}", *accesses[name], f"{res}:"]
    post = ["mov dword ptr [io_limit], 0x67",
            *_print(o, "io", "dword ptr [scratch + 8]", "dword ptr [scratch + 12]")]
    return pre, user, post


def task(o: Ops) -> None:
    """Hardware task switches: task gates in the IDT for exceptions and int n
    (error code on the new task's stack, back link, NT, busy bits), call and
    jmp to a TSS, and the faults of a bad task gate (busy, not a TSS, not
    present, too short, in the LDT)."""
    r = o.rng
    for _ in range(r.randrange(5, 14)):
        k = r.choices(("gate", "call", "jmp", "bad"), (4, 2, 1, 2))[0]
        t, res = o.label("task"), o.label("r")
        if k == "gate":
            vec, trigger = r.choice(((6, "ud2"), (0, "xor edx, edx\n        xor ecx, ecx\n        div ecx"),
                                     (13, "mov ax, 0x60\n        mov ds, ax"), (3, "int3"),
                                     (0x90, "int 0x90"), (11, "mov ax, 0x18\n        mov es, ax")))
            body = (["pop eax", "mov [scratch], eax"] if vec in ERROR_CODE_VECTORS else [])
            o.add("call sys_on", "mov dword ptr [scratch], 0xeeeeeeee",
                  "mov edi, tss_b", f"mov eax, {t}", "mov esi, task_stack_b", "call task_init",
                  f"mov word ptr [idt + {vec} * 8 + 2], {TSS_B:#x}",
                  f"mov word ptr [idt + {vec} * 8 + 4], 0x8500",
                  "mov eax, 0x12345678", f"mov dword ptr [resume], {res}", trigger, f"{res}:",
                  "mov dword ptr [resume], 0", "mov ax, 0x10", "mov ds, ax", "mov es, ax",
                  f"mov ebx, {vec}", "call stub_gate",
                  f"movzx eax, byte ptr [gdt_sys + {TSS_B} + 5]", "mov [scratch + 16], eax",
                  "str word ptr [scratch + 20]", "call sys_off",
                  *_print(o, "tg", "dword ptr [scratch]", "dword ptr [scratch + 4]",
                          "dword ptr [scratch + 8]", "dword ptr [scratch + 16]"),
                  f"jmp {t}_end",
                  f"{t}:", *body, "pushfd", "pop eax", "and eax, 0x4000", "mov [scratch + 4], eax",
                  "str word ptr [scratch + 8]", "mov ax, [tss_b]", "mov [scratch + 10], ax",
                  f"mov dword ptr [tss_main + 0x20], {res}", "iret", f"jmp {t}", f"{t}_end:")
        elif k in ("call", "jmp"):
            back = "iret" if k == "call" else f"jmp {TSS_MAIN:#x}:0"
            o.add("call sys_on", "mov edi, tss_c", f"mov eax, {t}", "mov esi, task_stack_c",
                  "call task_init", f"{k} {TSS_C:#x}:0",
                  f"movzx eax, byte ptr [gdt_sys + {TSS_C} + 5]", "mov [scratch + 16], eax",
                  f"movzx eax, byte ptr [gdt_sys + {TSS_MAIN} + 5]", "mov [scratch + 20], eax",
                  "pushfd", "pop eax", "and eax, 0x4000", "mov [scratch + 24], eax",
                  "call sys_off",
                  *_print(o, k, "dword ptr [scratch + 4]", "dword ptr [scratch + 8]",
                          "dword ptr [scratch + 16]", "dword ptr [scratch + 20]",
                          "dword ptr [scratch + 24]"),
                  f"jmp {t}_end",
                  f"{t}:", "pushfd", "pop eax", "and eax, 0x4000", "mov [scratch + 4], eax",
                  "str word ptr [scratch + 8]", "mov ax, [tss_c]", "mov [scratch + 10], ax",
                  back, f"jmp {t}", f"{t}_end:")
        else:
            # int n only: QEMU 7.2 leaves EXT out of these error codes when an
            # exception meets a bad task gate (SDM 6.13: EXT is set)
            vec, trigger = 0x90, "int 0x90"
            how = r.choice(("busy", "data", "np", "short", "ldt"))
            sel = {"busy": TSS_MAIN, "data": 0x10, "ldt": TSS_C | 4}.get(how, TSS_C)
            spoil = {"np": [f"and byte ptr [gdt_sys + {TSS_C} + 5], 0x7f"],
                     "short": [f"mov word ptr [gdt_sys + {TSS_C}], 0x20"]}.get(how, [])
            o.add("call sys_on", "mov edi, tss_c", f"mov eax, {t}", "mov esi, task_stack_c",
                  "call task_init", *spoil,
                  f"mov word ptr [idt + {vec} * 8 + 2], {sel:#x}",
                  f"mov word ptr [idt + {vec} * 8 + 4], 0x8500",
                  f"mov dword ptr [resume], {res}", trigger, f"{res}:", "mov dword ptr [resume], 0",
                  f"mov ebx, {vec}", "call stub_gate", "call sys_off",
                  f"jmp {t}_end", f"{t}:", "iret", f"jmp {t}", f"{t}_end:")
        if r.random() < 0.5:
            o.flush()


SYS_FAMILY_FUNCS = {"paging": paging, "ring": ring, "task": task}

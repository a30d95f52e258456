"""What the debugger shows: registers, memory (x/FMT), disassembly, source,
the backtrace across interrupt frames, the IDT and the devices.

Contract: each function takes the ``Debugger`` and returns text (no I/O).

The backtrace has no debug info to follow (hand-written assembly keeps no
frame pointer), so it scans the stack upward from ESP for words that are
return addresses (the bytes before them decode as a ``call``) and for
interrupt frames (EIP, a code selector, EFLAGS with bit 1 set) whose EIP is
where a recorded interrupt was taken; those are marked
``<irq 5, vector 0x25, from lwp 3>`` (the owner of the interrupted stack,
from the observer when there is one).
"""

from __future__ import annotations

import dataclasses
import struct

from unicorn import x86_const as X

from emulator.debugger.target import GDB_REGS, TargetError

FLAGS = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
         (10, "DF"), (11, "OF")]


def eflags_text(v: int) -> str:
    return "[ " + " ".join(n for b, n in FLAGS if v >> b & 1) + " ]"


def registers(d, names=None) -> str:
    out = []
    for n in names or GDB_REGS:
        v = d.t.reg(n, d.cpu)
        extra = eflags_text(v) if n == "eflags" else (d.symbolize(v) if n == "eip" else str(v))
        out.append(f"{n:<8}{v:#010x}  {extra}")
    return "\n".join(out)


_SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
M32 = 0xFFFFFFFF
X_MOST = 65536            # units one x shows at most


class _Physical:
    """The debugger as ``examine`` uses it, reading physical memory."""

    def __init__(self, d) -> None:
        self._d = d
        self.t = self

    def mem_read(self, addr: int, n: int) -> bytes:
        return self._d.t.mem_read(addr, n, physical=True)

    def insn_at(self, addr: int):
        try:
            code = self.mem_read(addr, 16)
        except TargetError:
            return None
        return next(self._d.cs.disasm(code, addr, 1), None)

    def insn_text(self, addr: int) -> str:
        i = self.insn_at(addr)
        if i is None:
            return f"{addr:#010x}: (cannot decode)"
        return f"{addr:#010x} (physical): {i.mnemonic} {i.op_str}".rstrip()

    def __getattr__(self, name):
        return getattr(self._d, name)


def examine(d, fmt: str, addr: int, state: dict) -> str:
    """gdb's x/NFU: N count, F in xduotacsi, U in bhwg (sticky like gdb);
    irqlab's letter p reads physical memory (not sticky): the address is
    linear, through the page tables, when paging is on."""
    count, i = 0, 0
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    count = int(fmt[:i]) if i else 1
    if not 1 <= count <= X_MOST:
        raise ValueError(f"x/{fmt}: the count is 1..{X_MOST}")
    f, u = state.get("f", "x"), state.get("u", "w")
    phys = False
    for ch in fmt[i:]:
        if ch in _SIZES:
            u = ch
        elif ch in "xduotacsi":
            f = ch
        elif ch == "p":
            phys = True
        else:
            raise ValueError(f"unknown format letter '{ch}' in x/{fmt} "
                             f"(formats xduotacsi, sizes bhwg, p for physical)")
    if phys:
        d = _Physical(d)
    state["f"], state["u"] = f, u
    if f == "i":
        lines, a = [], addr
        for _ in range(count):
            ins = d.insn_at(a)
            lines.append(d.insn_text(a))
            a = (a + (ins.size if ins else 1)) & M32     # linear addresses wrap at 4 GiB
        state["next"] = a
        return "\n".join(lines)
    if f == "s":
        lines, a = [], addr
        for _ in range(count):
            raw = b""
            while len(raw) < 4096:
                c = d.t.mem_read((a + len(raw)) & M32, 1)
                if c == b"\0":
                    break
                raw += c
            lines.append(f"{a:#010x} <{d.symbolize(a)}>: {raw.decode('latin-1')!r}")
            a = (a + len(raw) + 1) & M32
        state["next"] = a
        return "\n".join(lines)
    size = 1 if f == "c" else _SIZES[u]
    data = d.t.mem_read(addr, size * count)
    per_line = {1: 8, 2: 8, 4: 4, 8: 2}[size]
    lines = []
    for k in range(0, count, per_line):
        a = (addr + k * size) & M32
        cells = []
        for j in range(k, min(count, k + per_line)):
            v = int.from_bytes(data[j * size:(j + 1) * size], "little")
            cells.append(_fmt(v, f, size, d))
        lines.append(f"{a:#010x} <{d.symbolize(a)}>:\t" + "\t".join(cells))
    state["next"] = (addr + size * count) & M32
    return "\n".join(lines)


def _fmt(v, f, size, d):
    bits = size * 8
    if f == "x":
        return f"{v:#0{size * 2 + 2}x}"
    if f == "d":
        return str(v - (1 << bits) if v >> (bits - 1) else v)
    if f == "u":
        return str(v)
    if f == "o":
        return f"{v:#o}"
    if f == "t":
        return f"{v:0{bits}b}"
    if f == "a":
        return f"{v:#x} <{d.symbolize(v)}>"
    if f == "c":
        return f"{v} {chr(v)!r}"
    raise ValueError(f)


def disassemble(d, addr: int, count: int) -> str:
    out, a, last = [], addr, None
    for _ in range(count):
        fl = d.line_of(a)
        if fl and fl != last and d.syms is not None:
            src = d.syms.source_line(*fl)
            out.append(f"{fl[0]}:{fl[1]}\t{(src or '').strip()}")
        last = fl
        ins = d.insn_at(a)
        mark = "=> " if a == d.pc else "   "
        out.append(mark + d.insn_text(a))
        a = (a + (ins.size if ins else 1)) & M32
    return "\n".join(out)


def listing(d, addr: int, around: int = 5) -> str:
    fl = d.line_of(addr)
    if not fl:
        raise ValueError(f"no source line for {addr:#x} ({d.symbolize(addr)})")
    file, line = fl
    out = []
    for n in range(max(1, line - around), line + around + 1):
        src = d.syms.source_line(file, n)
        if src is None:
            if n > line:
                break
            continue
        out.append(f"{'=>' if n == line else '  '}{n:5}\t{src}")
    if not out:
        raise ValueError(f"source file {file} not found")
    return f"{file}:\n" + "\n".join(out)


def _is_return_address(d, v: int) -> bool:
    lo, hi = d.t.code_range
    if not (lo <= v < hi) or v < 2:
        return False
    try:
        before = d.t.mem_read(v - 7, 7)
    except TargetError:
        return False
    if before[-5] == 0xE8:                       # call rel32
        return True
    for k in (2, 3, 6, 7):                       # call r/m32 (FF /2)
        if before[-k] == 0xFF and (before[-k + 1] >> 3) & 7 == 2:
            return True
    return False


def _owner(d, esp: int):
    s = d.session
    stacks = getattr(s, "stacks", None) if s is not None else None
    if stacks is None:
        return None
    try:
        return stacks.owner(esp)
    except Exception:   # noqa: BLE001 - the observer's guess must never break bt
        return None


def is_external(kind) -> bool:
    """Whether an on_interrupt kind names an interrupt from a device line."""
    k = str(kind).lower()
    return any(w in k for w in ("irq", "ext", "hw", "pic", "apic")) and "soft" not in k


def unwind(d, limit: int = 64, depth_words: int = 2048) -> list:
    """[{pc, esp, kind: 'frame'|'irq', text}] innermost first."""
    pc, esp = d.pc, d.reg("esp")
    frames = [{"pc": pc, "esp": esp, "kind": "frame", "mark": ""}]
    intrs = [e for e in d.intr_log if e[1] == d.cpu]     # taken by now, in time order
    used = set()
    try:
        words_raw = b""
        for k in range(depth_words):
            try:
                words_raw += d.t.mem_read(esp + 4 * k, 4)
            except TargetError:
                break
    except TargetError:
        words_raw = b""
    words = list(struct.unpack(f"<{len(words_raw) // 4}I", words_raw[:len(words_raw) // 4 * 4]))
    k = 0
    while k < len(words) and len(frames) < limit:
        v = words[k]
        at = esp + 4 * k
        if k + 2 < len(words) and words[k + 1] in (0x08, 0x10, 0x18, 0x20, 0x28) \
                and words[k + 2] & 2 and words[k + 2] < 0x400000:
            match = None
            for e in reversed(intrs):
                if e[4] == v and e[-1] not in used:
                    match = e
                    break
            if match is not None:
                used.add(match[-1])
                _t, _c, vector, kind, _eip, line, _esp, _seq = match
                owner = _owner(d, at + 12)
                if is_external(kind):
                    what = f"irq {line}" if line is not None else "irq"
                elif str(kind).lower() in ("soft", "int", "software"):
                    what = "int"
                else:
                    what = str(kind)
                mark = f"<{what}, vector {vector:#x}" + (f", from {owner}" if owner else "") + ">"
                frames.append({"pc": v, "esp": at + 12, "kind": "irq", "mark": mark})
                k += 3
                continue
        if _is_return_address(d, v):
            frames.append({"pc": v, "esp": at + 4, "kind": "frame", "mark": ""})
        k += 1
    return frames


def backtrace(d, limit: int = 64) -> str:
    out = []
    for n, f in enumerate(unwind(d, limit)):
        if f["mark"]:
            out.append(f"    {f['mark']}")
        fl = d.line_of(f["pc"])
        where = f" at {fl[0]}:{fl[1]}" if fl else ""
        out.append(f"#{n:<2} {f['pc']:#010x} in {d.symbolize(f['pc'])}{where}")
    return "\n".join(out)


def idt(d) -> str:
    # sidt is not readable through Unicorn's API by name: the IDTR register.
    uc = d.t._uc(d.cpu)
    try:
        _sel, base, limit, _flags = uc.reg_read(X.UC_X86_REG_IDTR)
    except Exception as e:      # noqa: BLE001 - shown to the user as a line
        raise ValueError(f"cannot read IDTR: {e}") from None
    n = (limit + 1) // 8
    out = [f"IDT at {base:#x}, limit {limit:#x} ({n} gates)"]
    for v in range(min(n, 256)):
        try:
            lo, hi = struct.unpack("<II", d.t.mem_read(base + 8 * v, 8))
        except TargetError:
            break
        if not hi >> 15 & 1:
            continue
        off = (lo & 0xFFFF) | (hi & 0xFFFF0000)
        sel = lo >> 16
        typ = {0xE: "intr", 0xF: "trap", 0x5: "task"}.get(hi >> 8 & 0xF, "?")
        line = d.line_of_vector(v)
        irq = f"  irq {line}" if line is not None else ""
        out.append(f"{v:#04x} {typ:<4} {sel:#06x}:{off:#010x} {d.symbolize(off)} dpl={hi >> 13 & 3}{irq}")
    return "\n".join(out)


def _platform(d):
    platform = getattr(d.t.m, "platform", None)
    if platform is None:
        raise ValueError("this machine has no APICs")
    return platform


def lapic(d, cpu: int) -> str:
    """``info lapic [CPU]``: every register of that CPU's local APIC, decoded."""
    lapics = _platform(d).lapics
    if not 0 <= cpu < len(lapics):
        raise ValueError(f"no CPU {cpu} (this machine has {len(lapics)})")
    return "\n".join([f"cpu {cpu}:"] + ["  " + line for line in lapics[cpu].dump()])


def ioapic(d) -> str:
    """``info ioapic``: the IO APIC's registers and its 24 redirection entries."""
    return "\n".join(_platform(d).ioapic.dump())


def device(d, name: str) -> str:
    dev = d.t.devices.get(name)
    if dev is None:
        have = ", ".join(sorted(d.t.devices)) or "none"
        raise ValueError(f"no device '{name}' (this machine has: {have})")
    out = [dev.describe() if hasattr(dev, "describe") else repr(dev)]
    for part in ("master", "slave"):
        chip = getattr(dev, part, None)
        if chip is not None:
            out.append(f"  {part}: {_fields(chip)}")
    if not any(getattr(dev, p, None) is not None for p in ("master", "slave")):
        f = _fields(dev)
        if f:
            out.append("  " + f)
    return "\n".join(out)


def _fields(obj) -> str:
    if dataclasses.is_dataclass(obj):
        items = []
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name, None)
            if isinstance(v, bool):
                items.append(f"{f.name}={int(v)}")
            elif isinstance(v, int):
                items.append(f"{f.name}={v:#x}")
        return " ".join(items)
    items = []
    for k, v in sorted(vars(obj).items()) if hasattr(obj, "__dict__") else ():
        if k.startswith("_") or isinstance(v, bool) or not isinstance(v, int):
            continue
        items.append(f"{k}={v:#x}")
    return " ".join(items[:24])

"""info threads / info locks: irqlab's kernel read from memory by its symbols.

Contract
--------
``threads(d) -> str`` and ``locks(d) -> str`` read the structures
guest_kernel/OBSERVE.md documents (``lwp_table`` of ``NLWP`` x ``L_SIZE``,
``cpu0``'s ``C_*``, mutexes whose ``MTX_NAME`` string equals their symbol,
``kernel_lock_word``) with every offset taken from the image's exported
constants — none is hard-coded.  ``available(d)`` says whether the image is
irqlab's kernel (the marker label ``obs_lwp_switch``).  Both raise
``ValueError`` with one line when the image is not.
"""

from __future__ import annotations

from emulator.debugger.target import TargetError

_STATES = ("LSIDL", "LSRUN", "LSONPROC", "LSSLEEP", "LSBLOCKED", "LSZOMB", "LSPOOL", "LSPINNED")
_FLAGS = ("LF_IDLE", "LF_ITHREAD", "LF_SOFTINT", "LF_IRQTHREAD", "LF_CONVERTED")


def available(d) -> bool:
    return d.syms is not None and "obs_lwp_switch" in d.syms


class _K:
    def __init__(self, d):
        if not available(d):
            raise ValueError("this image is not irqlab's kernel (no obs_lwp_switch): "
                             "no threads or locks to show")
        self.d = d
        self.c = d.syms.constants()
        self.sym = d.syms.addr

    def u32(self, addr):
        return self.d.t.read_u32(addr)

    def cstr(self, ptr, limit=64):
        if not ptr:
            return ""
        try:
            raw = self.d.t.mem_read(ptr, limit)
        except TargetError:
            return "?"
        return raw.split(b"\0")[0].decode("latin-1")

    def lwps(self):
        base, n, size = self.sym("lwp_table"), self.c["NLWP"], self.c["L_SIZE"]
        for i in range(n):
            a = base + i * size
            if self.u32(a + self.c["L_STACK_HI"]):
                yield a

    def f(self, lwp, name):
        return self.u32(lwp + self.c[name])

    def lwp_name(self, lwp):
        if not lwp:
            return "-"
        flags = self.f(lwp, "L_FLAGS")
        kind = "ithread" if flags & self.c.get("LF_ITHREAD", 0) else "lwp"
        return f"{kind} {self.f(lwp, 'L_ID')} ({self.cstr(self.f(lwp, 'L_NAME'))})"

    def state(self, v):
        for s in _STATES:
            if self.c.get(s) == v:
                return s[2:].lower()
        return str(v)

    def curlwp(self):
        return self.u32(self.sym("cpu0") + self.c["C_CURLWP"])

    def mutexes(self):
        for name in self.d.syms.names():
            s = self.d.syms.get(name)
            if s.kind != "label":
                continue
            try:
                if self.cstr(self.u32(s.value + self.c["MTX_NAME"]), 32) == name:
                    yield name, s.value
            except TargetError:
                continue


def threads(d) -> str:
    k = _K(d)
    cur = k.curlwp()
    rows = ["  LWP               STATE     PRI STACK                  PINNED-BY  WCHAN / LOCK           BIG"]
    for a in k.lwps():
        flags = k.f(a, "L_FLAGS")
        fl = ",".join(n[3:].lower() for n in _FLAGS if n in k.c and flags & k.c[n])
        wchan = k.f(a, "L_WCHAN")
        wl = k.f(a, "L_WAITLOCK")
        wait = (f"lock {d.symbolize(wl)}" if wl else (d.symbolize(wchan) if wchan else "-"))
        pinned = k.f(a, "L_PINNED")
        line = k.f(a, "L_LINE") if "L_LINE" in k.c else 0
        extra = f" [{fl}]" if fl else ""
        if flags & k.c.get("LF_ITHREAD", 0) or flags & k.c.get("LF_IRQTHREAD", 0):
            extra += f" irq {line}"
        borrowed = k.f(a, "L_BORROWED") if "L_BORROWED" in k.c else 0
        if borrowed:
            extra += f" borrows {k.lwp_name(borrowed)}"
        rows.append(
            f"{'*' if a == cur else ' '} {k.lwp_name(a):<17} {k.state(k.f(a, 'L_STATE')):<9} "
            f"{k.f(a, 'L_PRIO'):>3} {k.f(a, 'L_STACK_LO'):#010x}-{k.f(a, 'L_STACK_HI'):#010x}  "
            f"{(k.lwp_name(pinned) if pinned else '-'):<10} {wait:<22} {k.f(a, 'L_BIGLOCKS')}{extra}")
    return "\n".join(rows)


def locks(d) -> str:
    k = _K(d)
    rows = ["MUTEX            KIND      OWNER                 WAITERS"]
    for name, a in k.mutexes():
        word = k.u32(a + k.c["MTX_OWNER"])
        owner = word & ~3
        kind = {k.c.get("MUTEX_ADAPTIVE"): "adaptive", k.c.get("MUTEX_SPIN"): "spin"}.get(
            k.u32(a + k.c["MTX_KIND"]), "?")
        waiters, w, seen = [], k.u32(a + k.c["MTX_WAITERS"]), 0
        while w and seen < 64:
            waiters.append(k.lwp_name(w))
            w = k.f(w, "L_NEXT")
            seen += 1
        rows.append(f"{name:<16} {kind:<9} {(k.lwp_name(owner) if owner else 'free'):<21} "
                    f"{', '.join(waiters) or '-'}")
    kl = k.sym("kernel_lock_word")
    cpu = k.u32(kl + k.c["KL_CPU"])
    count = k.u32(kl + k.c["KL_COUNT"])
    if cpu:
        holders = [f"{k.lwp_name(a)} depth {k.f(a, 'L_BIGLOCKS')}" for a in k.lwps()
                   if k.f(a, "L_BIGLOCKS")]
        rows.append(f"kernel_lock      big       cpu {d.symbolize(cpu)} count {count}: "
                    + (", ".join(holders) or "-"))
    else:
        rows.append("kernel_lock      big       free")
    return "\n".join(rows)

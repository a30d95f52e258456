"""The observer on two CPUs: each CPU's events carry its index, "cur" and
the stacks are each CPU's own, an AP's stack is named before the AP fills
in its LWP, interrupt frames never cross CPUs, and the SMP labels become
the same events as the UP ones (``lock.contend`` saying whether the owner
runs on the other CPU, then ``lock.spin``)."""

import io

from asm.image import Symbol
from asm.symfile import SymbolTable
from emulator.observe import attach
from emulator.trace import read_events
from tests.emulator.observe.fakemachine import BASE, FakeMachine

CPU0, LWP_TABLE, MUTEX = 0x40000, 0x41000, 0x50000
SMP_CPUS, SMP_LWPS, AP_STACKS, AP_SIZE = 0x60000, 0x61000, 0x62000, 0x400
LINEMASK = 0x63000
L_SIZE = 32
AP1_LWP = SMP_LWPS + L_SIZE
AP1_TOP = AP_STACKS + 2 * AP_SIZE
LSONPROC, LSBLOCKED = 7, 3

# CPU 0 (the BSP): lwp 4 takes the mutex, then runs nops
BSP = [("mov esp, 0x7f00", 5), ("mov ebx, %d" % MUTEX, 5),
       ("mov ecx, %d" % (LWP_TABLE + L_SIZE), 5), ("obs_lock_acquire: nop", 1)] + \
      [("nop", 1)] * 12
# CPU 1 (AP 1): loads its stack (obs_ap_stack), comes up, contends on the
# mutex lwp 4 holds while lwp 4 runs on CPU 0
AP = [("mov eax, %d" % AP1_TOP, 5), ("obs_ap_stack: mov esp, eax", 2), ("mov ebx, 1", 5),
      ("mov edi, %d" % AP1_LWP, 5), ("obs_cpu_up: nop", 1), ("mov ebx, %d" % MUTEX, 5),
      ("mov ecx, %d" % AP1_LWP, 5), ("mov edx, %d" % (LWP_TABLE + L_SIZE), 5),
      ("mov eax, 1", 5), ("obs_smp_lock_contend: nop", 1), ("nop", 1), ("nop", 1)]
HANDLER = [("handler: iretd", 1)]


def layout():
    addrs, off, lines = {}, 0, []
    for text, size in BSP + AP + HANDLER:
        if ":" in text:
            label, text = text.split(":")
            addrs[label] = BASE + off
        if text.strip() == "mov eax, %d" % AP1_TOP and "ap" not in addrs:
            addrs["ap"] = BASE + off
        lines.append(text.strip())
        off += size
    return "\n".join(lines) + "\n", addrs


def machine():
    asm, at = layout()
    labels = {n: a for n, a in at.items() if n.startswith("obs_")}
    syms = [Symbol(n, a, "label", "k.S", i) for i, (n, a) in enumerate(sorted(labels.items()))]
    syms += [Symbol(n, a, "label", "k.S", 90) for n, a in
             (("start", BASE), ("cpu0", CPU0), ("lwp_table", LWP_TABLE), ("sc_lock", MUTEX),
              ("smp_cpus", SMP_CPUS), ("smp_lwps", SMP_LWPS), ("ap_stacks", AP_STACKS),
              ("smp_linemask", LINEMASK))]
    syms += [Symbol(k, v, "const", "k.S", 1) for k, v in dict(
        L_ID=0, L_FLAGS=4, L_STACK_LO=8, L_STACK_HI=12, L_STATE=16, L_SIZE=L_SIZE, NLWP=2,
        LF_ITHREAD=2, LF_IDLE=1, LSONPROC=LSONPROC, LSBLOCKED=LSBLOCKED, MTX_OWNER=0,
        MTX_KIND=4, MUTEX_SPIN=2, MUTEX_BIT_WAITERS=1, C_SIZE=64, C_CURLWP=8, C_IPL=12,
        C_IDLELWP=20,
        MAX_CPUS=8, AP_STACK_SIZE=AP_SIZE, LINE_CLASS_BASE=0x40).items()]
    m = FakeMachine(asm, handlers={0x25: at["handler"], 0x31: at["handler"]}, cpus=2)
    m.symbols = SymbolTable(syms)
    m.start(1, at["ap"])
    w = m.uc.mem_write

    def u32(*vals):
        return b"".join(v.to_bytes(4, "little") for v in vals)
    w(CPU0 + 8, u32(LWP_TABLE + L_SIZE))                                  # cur = lwp 4
    w(LWP_TABLE + L_SIZE, u32(4, 0, 0x7000, 0x8000, LSONPROC))           # lwp 4
    w(SMP_CPUS + 64 + 8, u32(AP1_LWP))                                    # AP 1's cur
    w(AP1_LWP, u32(101, 0, 0, 0, LSONPROC))      # its stack bounds come later
    w(MUTEX, u32(LWP_TABLE + L_SIZE, 1))                                  # adaptive, lwp 4's
    return m


def observed(tmp_path):
    m = machine()
    err = io.StringIO()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=err)
    return m, s, err


def events(tmp_path):
    return list(read_events(tmp_path / "t.jsonl"))


def test_an_ap_stack_is_named_by_its_cpu_before_the_ap_fills_in_its_lwp(tmp_path):
    m, s, err = observed(tmp_path)
    assert s.stacks.region("ap cpu1") == (AP_STACKS + AP_SIZE, AP1_TOP)
    m.step(3, cpu=1)                 # mov eax; mov esp, eax; (hook after it)
    assert s.finish() == (0, "checks: 12 rules, 0 violations"), err.getvalue()
    sw = [e for e in events(tmp_path) if e["ev"] == "stack.switch"]
    assert [(e["cpu"], e["to"]) for e in sw] == [(1, "ap cpu1")]


def test_smp_labels_are_stamped_with_the_acting_cpu_and_read_its_own_cur(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(5, cpu=0)                 # lwp 4 takes sc_lock on CPU 0
    m.step(12, cpu=1)                # AP 1 comes up and contends
    assert s.finish() == (0, "checks: 12 rules, 0 violations"), err.getvalue()
    evs = [e for e in events(tmp_path) if e["ev"] not in ("stack.switch", "stack.usage")]
    assert [(e["cpu"], e["ev"]) for e in evs] == [
        (0, "lock.acquire"), (1, "cpu.up"), (1, "lock.contend"), (1, "lock.spin")]
    up, contend = evs[1], evs[2]
    assert up["apic"] == 1 and up["lwp"] == "ap cpu1"
    assert contend["lock"] == "sc_lock" and contend["by"] == "ap cpu1"
    assert contend["owner"] == "lwp 4" and contend["owner_running"] is True


def test_an_owner_running_on_the_other_cpu_is_running_an_ap_blocked_on_a_mutex_is_not(tmp_path):
    m, s, err = observed(tmp_path)
    k = s.kernel
    assert k.running(LWP_TABLE + L_SIZE)          # current on CPU 0
    assert k.running(AP1_LWP)                     # current on CPU 1, LSONPROC
    m.uc.mem_write(AP1_LWP + 16, LSBLOCKED.to_bytes(4, "little"))
    assert not k.running(AP1_LWP)                 # halted in smp_mutex_enter
    assert k.lwp_name(AP1_LWP) == "ap cpu1"
    assert k.cpu_base(1) == SMP_CPUS + 64 and k.cpu_base(0) == CPU0


def test_interrupt_frames_are_each_cpus_own(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(5, cpu=0)
    m.step(3, cpu=1)
    m.interrupt(0x25, cpu=0)         # CPU 0 interrupted on lwp 4's stack
    m.interrupt(0x31, cpu=1)         # CPU 1 on its own
    m.step(1, cpu=1)                 # CPU 1's iret: its own frame, not CPU 0's
    m.step(1, cpu=0)
    assert s.finish() == (0, "checks: 12 rules, 0 violations"), err.getvalue()
    got = [(e["cpu"], e["ev"], e["vector"], e["owner"]) for e in events(tmp_path)
           if e["ev"].startswith("intr.")]
    assert got == [(0, "intr.enter", 0x25, "lwp 4"), (1, "intr.enter", 0x31, "ap cpu1"),
                   (1, "intr.exit", 0x31, "ap cpu1"), (0, "intr.exit", 0x25, "lwp 4")]


def test_an_ap_esp_outside_its_stack_is_reported_naming_the_ap(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(3, cpu=1)
    m.cpus[1].uc.reg_write(__import__("unicorn").x86_const.UC_X86_REG_ESP,
                           AP_STACKS + AP_SIZE - 8)   # below its bottom: AP 0's slot
    m.step(9, cpu=1)                 # obs_cpu_up: an event on CPU 1
    count, _ = s.finish()
    assert count == 1
    v = s.violations[0]
    assert v.rule == "stack-bounds" and v.cpu == 1 and v.fields["owner"] == "ap cpu1"
    assert "overflows by 8 bytes" in v.message


def test_lines_through_the_io_apic_are_named_by_their_vector_class():
    m = machine()
    s = attach(m, report=io.StringIO())
    k = s.kernel
    assert k.line_of_vector(0x40 + 6 * 16 + 0) == 0       # the BSP's LAPIC clock
    assert k.line_of_vector(0x40 + 4 * 16 + 5) == 5
    assert k.line_of_vector(0x31) is None                 # an AP's wake IPI
    assert s.observer.kernel_line == k.line_of_vector


def test_a_change_of_the_smp_linemask_is_one_mask_or_unmask_per_line():
    m = machine()
    s = attach(m, report=io.StringIO())
    got = []
    s.kernel.sink = type("Sink", (), {"emit": lambda self, kind, cpu, **f: got.append(
        (kind, cpu, f["line"], f["via"]))})()
    m.uc.mem_write(LINEMASK, (0xFFFF & ~(1 << 5) & ~1).to_bytes(4, "little"))
    s.kernel._on_linemask(m, 0)
    assert got == [("pic.unmask", 0, 0, "ioapic"), ("pic.unmask", 0, 5, "ioapic")]
    got.clear()
    m.uc.mem_write(LINEMASK, (0xFFFF & ~1).to_bytes(4, "little"))
    s.kernel._on_linemask(m, 0)
    s.kernel._on_linemask(m, 0)                            # unchanged: nothing
    assert got == [("pic.mask", 0, 5, "ioapic")]


def test_an_idle_lwp_is_named_after_the_cpu_it_idles_even_when_not_running(tmp_path):
    m = machine()
    s = attach(m, report=io.StringIO())
    idle1 = LWP_TABLE                        # slot 0: an idle LWP (LF_IDLE)
    m.uc.mem_write(idle1, (7).to_bytes(4, "little") + (1).to_bytes(4, "little"))
    m.uc.mem_write(SMP_CPUS + 64 + 20, idle1.to_bytes(4, "little"))    # AP 1's C_IDLELWP
    assert s.kernel.lwp_name(idle1) == "idle cpu1"


def test_the_ap_stack_load_is_hooked_even_when_the_scanned_code_leaves_it_out(tmp_path):
    m = machine()
    _, at = layout()
    m.image.data = m.code[:at["obs_ap_stack"] - BASE]      # the scan stops before it
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    assert at["obs_ap_stack"] in s.codemap.esp_loads
    m.step(3, cpu=1)
    s.finish()
    sw = [e for e in events(tmp_path) if e["ev"] == "stack.switch"]
    assert [(e["cpu"], e["to"]) for e in sw] == [(1, "ap cpu1")]

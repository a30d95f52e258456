"""The kernel model: obs_ labels become events, LWPs and locks get names,
stacks come from the LWP table — on a stand-in machine and memory laid out
as the exported constants say."""

import io

from asm.image import Symbol
from asm.symfile import SymbolTable
from emulator.observe import attach
from emulator.observe.kernel import KernelModel
from emulator.observe.symbols import Symbols
from emulator.observe.view import MachineView
from tests.emulator.observe.fakemachine import BASE, FakeMachine

PROGRAM = """
    mov esp, 0x7f00
    mov ebx, 0x50000
    mov ecx, 0x41010
    nop
    nop
"""
OBS = BASE + 15          # the first nop: ebx = the mutex, ecx = the new owner

CPU_INFO, LWP_TABLE, MUTEX = 0x40000, 0x41000, 0x50000


def consts(**kv):
    return [Symbol(k, v, "const", "k.S", 1) for k, v in kv.items()]


def machine():
    syms = SymbolTable(
        [Symbol("start", BASE, "label", "k.S", 1), Symbol("obs_lock_acquire", OBS, "label", "k.S", 2),
         Symbol("cpu0", CPU_INFO, "label", "k.S", 3), Symbol("lwp_table", LWP_TABLE, "label", "k.S", 4),
         Symbol("sc_lock", MUTEX, "label", "k.S", 5)]
        + consts(L_ID=0, L_FLAGS=4, L_STACK_LO=8, L_STACK_HI=12, L_SIZE=16,
                 NLWP=2, LF_ITHREAD=2, LF_IDLE=1, MTX_OWNER=0, MTX_KIND=4, MUTEX_SPIN=2,
                 MUTEX_BIT_WAITERS=1, C_SIZE=64, C_CURLWP=8, C_IPL=12))
    m = FakeMachine(PROGRAM)
    m.symbols = syms
    w = m.uc.mem_write
    def u32(*vals):
        return b"".join(v.to_bytes(4, "little") for v in vals)
    w(CPU_INFO + 8, u32(LWP_TABLE + 16))                          # curlwp = slot 1
    w(LWP_TABLE, u32(3, 2, 0x6000, 0x7000))                       # ithread 3
    w(LWP_TABLE + 16, u32(4, 0, 0x7000, 0x8000))                  # lwp 4
    w(MUTEX, u32(LWP_TABLE + 16, 2))              # spin mutex, its word as cmpxchg left it
    return m


def test_an_image_without_obs_labels_is_not_the_kernel():
    m = FakeMachine("nop\n")
    m.symbols = SymbolTable([Symbol("start", BASE, "label", "a.S", 1)])
    assert KernelModel.detect(MachineView(m), Symbols(m.symbols)) is None


def test_lwps_are_named_by_id_and_kind_and_locks_by_their_symbol():
    m = machine()
    k = KernelModel.detect(MachineView(m), Symbols(m.symbols))
    assert k.lwp_name(LWP_TABLE) == "ithread 3"
    assert k.lwp_name(LWP_TABLE + 16) == "lwp 4"
    assert k.lock_name(MUTEX) == "sc_lock"


def test_an_obs_label_becomes_an_event_and_lwp_stacks_are_named(tmp_path):
    from emulator.trace import read_events
    m = machine()
    err = io.StringIO()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=err)
    assert s.kernel is not None and "rules off" not in err.getvalue()
    assert s.stacks.region("lwp 4") == (0x7000, 0x8000)
    m.step(5)
    assert s.finish() == (0, "checks: 13 rules, 0 violations")
    evs = list(read_events(tmp_path / "t.jsonl"))
    sw = [e for e in evs if e["ev"] == "stack.switch"]
    assert sw and sw[0]["to"] == "lwp 4"
    acq = [e for e in evs if e["ev"] == "lock.acquire"]
    assert acq == [{"t": 3, "cpu": 0, "ev": "lock.acquire", "lock": "sc_lock", "owner": "lwp 4",
                    "owner_running": True, "kind": "spin", "by": "lwp 4"}]


def test_an_acquisition_whose_owner_word_names_someone_else_fires_mutex_owner(tmp_path):
    from emulator.trace import read_events
    m = machine()
    m.uc.mem_write(MUTEX, (0).to_bytes(4, "little"))   # the "new owner" never took the word
    err = io.StringIO()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=err)
    m.step(5)
    count, _ = s.finish()
    assert count == 1
    v = s.violations[0]
    assert v.rule == "mutex-owner" and v.fields["lock"] == "sc_lock" and v.fields["lwp"] == "lwp 4"
    assert "lwp 4 acquires sc_lock, but its owner word names nobody" in v.message
    kinds = [e["ev"] for e in read_events(tmp_path / "t.jsonl") if e["ev"] != "stack.usage"]
    assert kinds[-3:] == ["lock.acquire", "lock.mismatch", "check.violation"]


WATCH = """
    mov esp, 0x7f00
    push 0x11223344
    mov dword ptr [0x4000c], 5
    nop
    nop
    nop
"""
PIC_APPLY, KERNEL_LOCK, KL_WORD = BASE + 20, BASE + 22, 0x51000


def watching(ipl_then=None):
    m = machine()
    m2 = FakeMachine(WATCH)
    m2.symbols = SymbolTable(list(m.symbols.symbols.values()) + [
        Symbol("pic_apply", PIC_APPLY, "label", "k.S", 6),
        Symbol("kernel_lock", KERNEL_LOCK, "label", "k.S", 7),
        Symbol("kernel_lock_word", KL_WORD, "label", "k.S", 8)] + consts(KL_CPU=0))
    m2.uc.mem_write(0x40000, bytes(m.uc.mem_read(0x40000, 0x20000)))   # cpu0, LWPs, mutex
    m2.uc.mem_write(KL_WORD, (0x40040).to_bytes(4, "little"))   # another CPU's cpu_info
    return m2


def test_the_ipl_is_an_event_when_pic_apply_finds_it_changed(tmp_path):
    from emulator.trace import read_events
    m = watching()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    m.step(6)
    s.finish()
    ipl = [(e["t"], e["ipl"]) for e in read_events(tmp_path / "t.jsonl") if e["ev"] == "cpu.ipl"]
    assert ipl == [(3, 5)]       # one event: the IPL 5 written before pic_apply


def test_the_big_lock_held_by_another_cpu_is_a_contend_event(tmp_path):
    from emulator.trace import read_events
    m = watching()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    m.step(6)
    s.finish()
    got = [e for e in read_events(tmp_path / "t.jsonl") if e["ev"] == "biglock.contend"]
    assert [(e["t"], e["lwp"]) for e in got] == [(5, "lwp 4")]


def test_each_kernel_stack_reports_how_deep_it_was_used_at_the_end(tmp_path):
    from emulator.trace import read_events
    m = watching()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    m.step(6)
    s.finish()
    use = {e["stack"]: (e["kind"], e["size"], e["used"])
           for e in read_events(tmp_path / "t.jsonl") if e["ev"] == "stack.usage"}
    # the push wrote 0x11223344 at 0x7efc..0x7eff of lwp 4's [0x7000, 0x8000)
    assert use == {"lwp 4": ("lwp", 0x1000, 0x8000 - 0x7efc), "ithread 3": ("ithread", 0x1000, 0)}


def test_stack_usage_counts_whole_words_so_a_zero_low_byte_does_not_move_it(tmp_path):
    # the deepest word an address like 0x00101200: its lowest byte (at the
    # lowest address) is 0, yet the word was written
    from emulator.trace import read_events
    m = watching()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    m.uc.mem_write(0x7ef8, (0x00101200).to_bytes(4, "little"))
    m.step(6)
    s.finish()
    use = {e["stack"]: e["used"] for e in read_events(tmp_path / "t.jsonl")
           if e["ev"] == "stack.usage"}
    assert use["lwp 4"] == 0x8000 - 0x7ef8

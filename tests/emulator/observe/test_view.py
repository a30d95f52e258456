"""The observer's window on the machine (emulator/observe/view.py): what a
hook holds (its CPU's registers read once, the readers' memo) and that
nothing is held outside a hook."""

from unicorn import x86_const as R

from emulator.observe.view import REG_AT, MachineView
from tests.emulator.observe.fakemachine import FakeMachine

PROGRAM = """
start:
    mov eax, 0x1234
    mov ebx, 0x5678
    nop
"""


def _machine():
    m = FakeMachine(PROGRAM)
    m.step(2)
    return m, m.cpus[0].uc


def test_a_held_cpu_reads_the_values_a_register_read_gives_all_at_once():
    m, uc = _machine()
    view = MachineView(m)
    direct = {name: view.reg(0, name) for name in REG_AT}
    view.hold(0)
    assert {name: view.reg(0, name) for name in REG_AT} == direct
    assert view.regs(0) == [direct[name] for name in REG_AT]
    assert (direct["eax"], direct["ebx"]) == (0x1234, 0x5678)
    view.release()


def test_registers_stay_as_the_hook_found_them_until_release_and_are_read_again_after():
    m, uc = _machine()
    view = MachineView(m)
    view.hold(0)
    assert view.reg(0, "eax") == 0x1234
    uc.reg_write(R.UC_X86_REG_EAX, 7)       # only a test writes inside a hook
    assert view.reg(0, "eax") == 0x1234
    view.release()
    assert view.reg(0, "eax") == 7
    view.hold(0)                            # the next hook reads afresh
    assert view.reg(0, "eax") == 7
    view.release()


def test_a_register_outside_the_batch_is_read_from_the_machine_while_held():
    m, uc = _machine()
    view = MachineView(m)
    view.hold(0)
    assert view.reg(0, "ebp") == uc.reg_read(R.UC_X86_REG_EBP)
    view.release()


def test_the_memo_exists_only_while_a_hook_holds_and_is_emptied_by_the_next():
    m, _ = _machine()
    view = MachineView(m)
    assert view.memo is None
    view.hold(0)
    view.memo[1] = "kept"
    view.release()
    assert view.memo is None
    view.hold(0)
    assert view.memo == {}
    view.release()


def test_the_reference_path_holds_nothing():
    m, uc = _machine()
    view = MachineView(m)
    view.holding = False
    view.hold(0)
    uc.reg_write(R.UC_X86_REG_EAX, 9)
    assert view.reg(0, "eax") == 9
    assert view.memo is None
    view.release()

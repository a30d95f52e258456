"""The checkers' window (emulator/observe/context.py): the red zone below a
stack follows the stack when its region moves (the zones are kept between
events, keyed by the stack map's version)."""

from emulator.observe.context import MachineContext
from emulator.observe.stacks import StackMap
from emulator.observe.symbols import Symbols
from emulator.observe.view import MachineView
from tests.emulator.observe.fakemachine import FakeMachine

GUARD = 0x40


class RedZones:
    """The kernel model's ``guard``: GUARD bytes below each stack."""

    def __init__(self, stacks):
        self.stacks = stacks

    def guard(self, owner):
        lo, _hi = self.stacks.region(owner)
        return (lo - GUARD, lo)


def test_a_red_zone_written_is_found_below_where_the_stack_is_now():
    m = FakeMachine("nop")
    stacks = StackMap()
    stacks.add(0x10000, 0x11000, "lwp 1")
    ctx = MachineContext(MachineView(m), Symbols(None), stacks, None,
                         kernel=RedZones(stacks))
    assert ctx.guard_dirty("lwp 1") is None
    m.uc.mem_write(0x20000 - 8, b"\x01\x02")          # below where it will be
    assert ctx.guard_dirty("lwp 1") is None
    stacks.add(0x20000, 0x21000, "lwp 1")               # the LWP's slot reused elsewhere
    assert ctx.guard_dirty("lwp 1") == (0x20000 - GUARD, 0x20000, 2)
    stacks.add(0x10000, 0x11000, "lwp 1")               # and back
    assert ctx.guard_dirty("lwp 1") is None

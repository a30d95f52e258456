"""The observer's tolerant view over asm.symfile's table."""

from asm.image import Symbol
from asm.symfile import SymbolTable
from emulator.observe.symbols import Symbols


def table():
    return SymbolTable([Symbol("mutex_enter", 0x101000, "label", "mutex.S", 10),
                        Symbol("LWP_STACK", 0x10, "const", "lwp.S", 3)],
                       [(0x101000, "mutex.S", 12), (0x101004, "mutex.S", 13)])


def test_frames_are_symbolised_with_their_source_line():
    s = Symbols(table())
    assert s.frame(0x101005) == "0x00101005 mutex_enter+0x5 (mutex.S:13)"
    assert s.const("LWP_STACK") == 0x10 and s.addr("mutex_enter") == 0x101000


def test_unknown_names_and_addresses_answer_none_not_an_exception():
    s = Symbols(table())
    assert s.addr("nope") is None
    assert s.symbolize(0x100) is None
    assert s.frame(0x100) == "0x00000100"


def test_an_empty_table_is_false_and_lines_come_from_the_line_table():
    assert not Symbols(SymbolTable()) and not Symbols.empty()
    assert Symbols(table()).lines() == [0x101000, 0x101004]

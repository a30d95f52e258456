"""Debug console 0xE9 and isa-debug-exit 0xF4, as QEMU's."""

from emulator.devices.debugcon import DebugCon, DebugExit


def test_debugcon_writes_bytes_to_output_and_reads_back_e9():
    con = DebugCon()
    out = []
    con.output = out.append
    con.io_write(0xE9, 1, ord("h"))
    con.io_write(0xE9, 1, 0x100 | ord("i"))
    assert b"".join(out) == b"hi"
    assert con.io_read(0xE9, 1) == 0xE9


def test_debug_exit_passes_the_guest_value_unchanged():
    dev = DebugExit()
    seen = []
    dev.on_exit = seen.append
    dev.io_write(0xF4, 1, 0)
    dev.io_write(0xF4, 1, 0x2A)
    assert seen == [0, 0x2A]
    assert dev.io_read(0xF4, 1) == 0

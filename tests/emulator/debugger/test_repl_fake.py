from tests.emulator.debugger.conftest import drive


def test_break_at_symbol_and_continue_stops_there(fake_dbg):
    out = drive(fake_dbg, "b bump\nc\np $pc == bump\n")
    assert "Breakpoint 1 at" in out
    assert "Breakpoint 1, bump" in out
    assert "1 (0x1)" in out


def test_reverse_stepi_lands_on_exactly_the_earlier_state(fake_dbg):
    d = fake_dbg
    drive(d, "si 1234\n")
    regs = {n: d.t.reg(n) for n in ("eax", "ecx", "esp", "eip", "eflags")}
    mem = d.t.mem_read(0x100000, 0x100)
    t = d.t.now
    drive(d, "si 3000\nrsi 3000\n")
    assert d.t.now == t
    assert {n: d.t.reg(n) for n in regs} == regs
    assert d.t.mem_read(0x100000, 0x100) == mem


def test_mistakes_get_one_line_and_the_prompt_back(fake_dbg):
    out = drive(fake_dbg, "frobnicate\nb nosuchsym\nx/4q 0\nsi -1\nb bump if (\nprint 1/0\ninfo\nhelp si\n")
    errors = [l for l in out.splitlines() if "error:" in l]
    assert len(errors) == 7
    assert "stepi [N]" in out
    assert "Traceback" not in out

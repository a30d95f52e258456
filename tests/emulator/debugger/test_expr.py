import pytest

from emulator.debugger.expr import ExprError, evaluate, location


class Env:
    regs = {"eax": 5, "esp": 0x9000, "eip": 0x100000, "pc": 0x100000}
    syms = {"counter": 0x2000, "puts": 0x100040}
    mem = {0x2000: 0x1234, 0x9000: 0x2000}

    def reg(self, n):
        return self.regs[n]

    def symbol(self, n):
        if n not in self.syms:
            raise KeyError(f"no symbol '{n}'")
        return self.syms[n]

    def read_u32(self, a):
        return self.mem[a]

    def line_addr(self, f, l):
        if (f, l) != ("kernel.S", 12):
            raise KeyError(f"no code at {f}:{l}")
        return 0x100010


@pytest.mark.parametrize("text,value", [
    ("0x10 + 3*2", 22), ("$eax << 2", 20), ("puts+4", 0x100044), ("*counter", 0x1234),
    ("**$sp", 0x1234), ("$pc == 0x100000 && $eax > 4", 1), ("-1 & 0xff", 0xFF),
    ("(counter + 0b100) % 0o10", 4), ("~0", 0xFFFFFFFF),
])
def test_expressions_follow_c_precedence_with_registers_symbols_and_dereference(text, value):
    assert evaluate(text, Env()) == value


def test_file_colon_line_is_the_first_address_of_that_line():
    assert location("kernel.S:12", Env()) == 0x100010


@pytest.mark.parametrize("text,msg", [
    ("nosuch + 1", "no symbol 'nosuch'"), ("$xyz", "no register"), ("1 +", "ends too early"),
    ("(1", "missing ')'"), ("1 / 0", "division by zero"), ("3 @ 4", "cannot read"),
    ("kernel.S:99", "no code at kernel.S:99"),
])
def test_bad_expressions_raise_one_line_errors(text, msg):
    with pytest.raises(ExprError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        location(text, Env())

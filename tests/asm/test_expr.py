import pytest

from asm import expr as X


@pytest.mark.parametrize("text,value", [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("0x10 | 0b11", 0x13),
    ("017", 15),
    ("0ffh", 255),
    ("'A'", 65),
    ("'\\n'", 10),
    ("1 << 4 >> 2", 4),
    ("-7 / 2", -3),
    ("-7 % 2", -1),
    ("~0 & 0xff", 0xFF),
    ("3 > 2 && 2 > 3", 0),
    ("3 > 2 || 2 > 3", 1),
    ("!0", 1),
    ("1 == 1", 1),
])
def test_constant_expressions_follow_c_precedence_and_number_syntax(text, value):
    assert X.parse(text).eval(lambda n: 0) == value


def test_symbols_and_current_address_are_looked_up():
    e = X.parse(". - start + $")
    assert e.names == {"start"}
    assert e.uses_here
    assert e.eval({"start": 0x100}.__getitem__, 0x180) == 0x80 + 0x180


def test_defined_tests_presence_without_needing_a_value():
    def lookup(n):
        raise KeyError(n)
    assert X.parse("defined(FOO)").eval(lookup) == 0
    assert X.parse("defined(FOO)").eval({"FOO": 0}.__getitem__) == 1


def test_division_by_zero_is_an_expression_error():
    with pytest.raises(X.ExprError):
        X.parse("1 / 0").eval(lambda n: 0)


@pytest.mark.parametrize("text", ["1 +", "(1", "1 2", "#"])
def test_malformed_expressions_are_rejected(text):
    with pytest.raises(X.ExprError):
        X.parse(text).eval(lambda n: 0)

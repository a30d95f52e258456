"""Issue 16: every bad source is `file:line:col: error: ...`, never a hang or a traceback.

Each case the issue reported has its own test, named by its symptom; the
generated bad-input sweep lives in tests/test_bad_input_sweep.py.
"""

import os
import subprocess
import sys

import pytest

import asm
from asm import guard
from asm.encoder import Encoder

from .helpers import build, code


def error_of(src, **kw) -> asm.AsmError:
    with pytest.raises(asm.AsmError) as info:
        asm.assemble_text(src, "k.S", **kw)
    return info.value


def cli(tmp_path, src: bytes, *args, timeout=60):
    (tmp_path / "t.S").write_bytes(src)
    return subprocess.run([sys.executable, "-m", "asm", "build", str(tmp_path / "t.S"),
                           "-o", str(tmp_path / "t.bin"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


# ---- keystone hangs (keystone loops for ever on these; it must never see them)
@pytest.mark.parametrize("line", [",", "\\", "*:1", ":::", "xchg eax, : ebx", "nop ,", "mov eax,,"])
def test_a_stray_character_is_an_error_not_a_keystone_hang(line):
    e = error_of(f"_start:\n{line}\n")
    assert e.line == 2


def test_a_statement_starting_with_punctuation_says_an_instruction_was_expected():
    e = error_of("_start:\n  ,\n")
    assert (e.line, e.col) == (2, 3)
    assert e.message == "expected an instruction or a directive, found ','"


def test_including_a_binary_file_is_an_error_at_the_first_bad_line(tmp_path):
    (tmp_path / "blob.inc").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "m.S").write_text('_start: nop\n.include "blob.inc"\n')
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "m.S"])
    assert info.value.file.endswith("blob.inc")


def test_the_command_line_build_of_a_stray_comma_exits_1_quickly(tmp_path):
    r = cli(tmp_path, b"_start:\n,\n")
    assert r.returncode == 1
    assert r.stderr.startswith(f"{tmp_path / 't.S'}:2:1: error: expected an instruction")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("src,message", [
    ("mov eax, 1_000", "bad decimal number '1_000'"),
    ("mov eax, [ebx + 0x1g]", "bad hexadecimal number '0x1g'"),
    ("mov eax, 1e3", "bad decimal number '1e3'"),
])
def test_a_malformed_number_in_an_instruction_is_an_error_before_keystone(src, message):
    assert error_of(f"_start:\n{src}\n").message == message


@pytest.mark.parametrize("name", ["@", "@1", "@x.y"])
def test_a_symbol_spelled_like_an_internal_local_label_is_undefined_not_a_crash(name):
    assert error_of(f"_start:\nmov eax, {name}\n.long {name}\n").message == \
        f"undefined symbol '{name}'"


def test_tabs_inside_operands_still_assemble():
    assert code("mov\teax, [ebx +\t4]\nmov eax,\t1") == bytes.fromhex("8b4304b801000000")


def test_keystone_is_never_handed_text_outside_the_checked_grammar():
    enc = Encoder()
    ins = enc.prepare("nop", 32)
    with pytest.raises(Exception) as info:
        enc._keystone(",", 0x100000, 32, ins)
    assert "not handing keystone" in str(info.value)
    assert enc.calls == 0


@pytest.mark.parametrize("text,ok", [
    ("mov eax, 0x1", True), ("rep movsb", True), ("lock add dword ptr [ebx + 0x4], (-0x1)", True),
    ("mov eax, es:[ebx]", True), (",", False), ("mov :", False), ("mov eax,", False),
    ('mov eax, "a"', False), ("mov eax, {", False), ("mov eax, \\", False), ("mov eax, ::ebx", False),
])
def test_the_last_gate_accepts_only_the_measured_grammar(text, ok):
    assert guard.keystone_text_ok(text) is ok


def test_the_watchdog_ends_a_keystone_call_that_never_returns_with_one_line_and_status_70():
    # ',' is a statement keystone 0.9.2 loops on; the gate is bypassed on purpose
    prog = ("from keystone import Ks, KS_ARCH_X86, KS_MODE_32\n"
            "from asm import guard\n"
            "ks = Ks(KS_ARCH_X86, KS_MODE_32)\n"
            "guard.Watchdog(deadline=0.5).run(lambda: ks.asm(',', 0), 'k.S:2:1')\n")
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
    assert r.returncode == 70
    assert r.stderr == ("k.S:2:1: internal error: keystone did not return on this statement "
                        "(it loops on some malformed input; please report it)\n")


def test_the_watchdog_returns_the_value_of_a_call_that_finishes():
    seen = []
    dog = guard.Watchdog(deadline=30, exit=seen.append)
    assert dog.run(lambda: 42, "x") == 42
    assert seen == []


# ---- tracebacks that are now errors at their place
def test_a_bad_octal_number_in_data_is_an_error():
    e = error_of("_start:\n.long 09\n")
    assert (e.line, e.col) == (2, 7)
    assert e.message == "bad octal number '09' (a leading 0 means octal)"


def test_a_bad_octal_immediate_is_an_error_at_the_number():
    e = error_of("_start:\nmov eax, 08\n")
    assert (e.line, e.col) == (2, 10) and "octal" in e.message


def test_a_bad_octal_displacement_is_an_error_at_the_number():
    e = error_of("_start:\nmov eax, [ebx + 08]\n")
    assert (e.line, e.col) == (2, 17) and "octal" in e.message


@pytest.mark.parametrize("src", ["_start:\n.byte '\\x'\n", "_start:\nmov eax, '\\x'\n"])
def test_a_hex_escape_without_digits_is_an_error(src):
    assert "needs hexadecimal digits" in error_of(src).message


def test_a_negative_shift_is_an_error():
    e = error_of("_start:\n.long 1 << -1\n")
    assert e.message == "shift count -1 is out of range (0..63)" and e.col == 9


def test_a_negative_p2align_is_an_error():
    assert error_of("_start:\n.p2align -1\n").message == ".p2align -1 is out of range (0..31)"


def test_a_five_thousand_digit_literal_is_an_error():
    e = error_of("_start:\n.long " + "9" * 5000 + "\n")
    assert "does not fit in 64 bits" in e.message and e.col == 7


@pytest.mark.parametrize("expr", ["(" * 500 + "1" + ")" * 500, "-" * 5000 + "1",
                                  "+".join(["1"] * 5000), "~" * 40 + "1"])
def test_deep_or_long_expressions_are_errors_not_recursion_errors(expr):
    e = error_of(f"_start:\n.long {expr}\n")
    assert "too long" in e.message or "nested too deeply" in e.message


def test_a_memory_operand_of_five_thousand_terms_is_summed_not_a_recursion_error():
    assert code("mov eax, [ebx+" + "+".join(["1"] * 5000) + "]") == bytes.fromhex("8b8388130000")


def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(tmp_path):
    (tmp_path / "b.S").write_bytes(b"\xef\xbb\xbf_start:\nnop\n")
    assert asm.assemble([tmp_path / "b.S"]).flat()[32:33] == b"\x90"


def test_non_ascii_text_outside_strings_and_comments_is_an_error():
    e = error_of("_start:\nmov eax, \u00e9\n")
    assert (e.line, e.col) == (2, 10)
    assert e.message == "non-ASCII character '\u00e9' (U+00E9) outside a string or comment"


def test_bytes_that_are_not_utf8_are_an_error_outside_strings_and_kept_inside(tmp_path):
    (tmp_path / "b.S").write_bytes(b"_start:\n.ascii \"\xff\xc3\xa9\" # \xfe\n")
    image = asm.assemble([tmp_path / "b.S"])
    assert image.flat()[32:35] == b"\xff\xc3\xa9"          # the source's bytes, as GAS
    image.write(str(tmp_path / "b.bin"), lst=str(tmp_path / "b.lst"))
    (tmp_path / "c.S").write_bytes(b"_start:\nnop \xff\n")
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "c.S"])
    assert info.value.message == "non-ASCII byte 0xff (not UTF-8) outside a string or comment"


def test_two_hundred_nested_includes_are_an_error_not_a_recursion_error(tmp_path):
    for i in range(200):
        (tmp_path / f"i{i}.inc").write_text(f'.include "i{i + 1}.inc"\n')
    (tmp_path / "i200.inc").write_text("nop\n")
    (tmp_path / "m.S").write_text('_start:\n.include "i0.inc"\n')
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "m.S"])
    assert info.value.message == "includes nested more than 32 deep"


def test_a_source_that_is_not_a_regular_file_is_an_error():
    with pytest.raises(asm.AsmError) as info:
        asm.assemble(["/dev/zero"])
    assert "not a regular file" in info.value.message


@pytest.mark.parametrize("base", ["-4", "0xFFFFFFF0"])
def test_a_base_outside_the_32_bit_space_is_an_error(tmp_path, base):
    r = cli(tmp_path, b"_start: nop\n", "--base", base)
    assert r.returncode == 1
    assert r.stderr.startswith("<command line>: error: base address") and r.stderr.count("\n") == 1


def test_an_image_that_would_end_beyond_4_gib_is_an_error():
    e = error_of("_start: nop\n.bss\n.space 0xFFF00000\n")
    assert "beyond 4 GiB" in e.message


@pytest.mark.parametrize("directive", [".fill 0x40000000, 4, 0", ".space 0xC0000000",
                                       ".org 0x80000000", ".balign 0x80000000",
                                       ".skip 0x20000000, 1"])
def test_a_huge_reservation_is_refused_before_any_memory_is_used(directive):
    e = error_of(f"_start:\n{directive}\n")
    assert "beyond 4 GiB" in e.message or "more than 256 MiB" in e.message


def test_a_large_bss_reservation_costs_no_memory():
    image = build(".bss\nbig: .space 0x40000000\n")
    assert image.bss_end - image.bss_start == 0x40000000


def test_a_fill_size_above_8_is_an_error():
    assert "larger than 8" in error_of("_start:\n.fill 1, 9, 0\n").message


def test_a_runaway_rept_is_an_error():
    assert "repeats more than" in error_of("_start:\n.rept 1000000000\n.endr\n").message


def test_nested_repts_stop_at_the_statement_limit(monkeypatch):
    monkeypatch.setattr("asm.source.Reader.MAX_STATEMENTS", 5000)
    e = error_of("_start:\n.rept 100\n.rept 100\nnop\n.endr\n.endr\n")
    assert "more than 5,000 statements" in e.message


# ---- silently wrong before: now errors
def test_constants_defined_in_terms_of_each_other_are_an_error():
    e = error_of("_start:\n.equ A, B\n.equ B, A\nmov eax, A\n")
    assert e.message == "constant defined in terms of itself: A -> B -> A"
    assert (e.line, e.col) == (2, 6)


def test_a_set_that_uses_its_previous_value_is_not_a_cycle():
    assert build(".set A, 1\n.set A, A + 1\n.long A\n").symbols["A"].value == 2


def test_a_long_chain_of_constants_is_not_mistaken_for_a_cycle():
    chain = ".equ C0, 0\n" + "".join(f".equ C{i}, C{i - 1} + 1\n" for i in range(1, 2001))
    assert build(chain + ".long C2000\n").symbols["C2000"].value == 2000


def test_a_division_by_zero_in_a_memory_operand_is_an_error():
    e = error_of("_start:\nmov eax, [ebx + 1/0]\n")
    assert e.message == "division by zero" and (e.line, e.col) == (2, 18)


def test_memory_operand_constants_are_evaluated_with_asm_expressions():
    # the displacement capstone reads back must equal what asm computes
    assert code("mov eax, [ebx + 2*3 + 1]") == bytes.fromhex("8b4307")
    assert code("mov eax, [ebx + esi*4 - 8]") == bytes.fromhex("8b44b3f8")
    assert code("mov eax, [-8 + ebx]") == bytes.fromhex("8b43f8")


def test_an_unterminated_block_comment_is_an_error_where_it_opens():
    e = error_of("_start:\nnop\nmov eax, 1 /* open\nmov eax, 2\n")
    assert (e.line, e.col) == (3, 12)
    assert e.message == "unterminated /* comment (no */ before the end of the file)"


def test_a_string_ending_in_an_escaped_quote_is_unterminated():
    e = error_of('_start:\n.asciz "abc\\"\n')
    assert e.message.startswith("unterminated string") and e.col == 8


def test_text_after_a_string_is_an_error():
    assert "unexpected text after the string" in error_of('_start:\n.ascii "a" b\n').message


def test_incbin_outside_the_file_is_an_error(tmp_path):
    (tmp_path / "d.bin").write_bytes(b"abcd")
    (tmp_path / "m.S").write_text('_start:\n.incbin "d.bin", 2, 5\n')
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "m.S"])
    assert "do not lie inside" in info.value.message

"""Mistakes end with file:line:col: error: message, the line and a caret."""

import subprocess
import sys

import pytest

import asm

from .helpers import build


def error_of(src, **kw) -> asm.AsmError:
    with pytest.raises(asm.AsmError) as info:
        asm.assemble_text(src, "k.S", **kw)
    return info.value


def test_unknown_mnemonic_points_at_the_mnemonic():
    e = error_of("_start:\n    mvo eax, 1\n")
    assert (e.file, e.line, e.col) == ("k.S", 2, 5)
    assert e.message == "unknown mnemonic 'mvo'"
    assert str(e) == "k.S:2:5: error: unknown mnemonic 'mvo'\n        mvo eax, 1\n        ^"


def test_bad_operand_points_at_the_operands():
    e = error_of("_start: mov eax, ebx, ecx\n")
    assert (e.line, e.col) == (1, 13)
    assert "operand" in e.message and "mov" in e.message


def test_unbalanced_bracket_is_an_error_not_silently_accepted():
    e = error_of("_start: mov eax, [ebx + 4\n")
    assert "unbalanced" in e.message and e.col == 13


def test_undefined_symbol_suggests_close_names():
    e = error_of("_start: mov esp, stak_top\n.bss\nstack_top:\n")
    assert e.message == "undefined symbol 'stak_top'; did you mean 'stack_top'?"
    assert e.col == 18


def test_undefined_symbol_in_data_is_reported_at_its_column():
    e = error_of("_start: nop\n.data\n.long 1, handlr\nhandler:\n")
    assert (e.line, e.col) == (3, 10) and "'handler'" in e.message


def test_duplicate_label_names_the_first_definition():
    e = error_of("_start: nop\nfoo: nop\nfoo: nop\n")
    assert (e.line, e.col) == (3, 1)
    assert e.message == "duplicate definition of 'foo' (first defined at k.S:2)"


def test_duplicate_equ_is_an_error_but_set_may_change():
    assert "duplicate" in error_of(".equ A, 1\n.equ A, 2\n_start: nop\n").message
    assert build(".set A, 1\n.set A, 2\n").symbols["A"].value == 2


def test_redefining_a_command_line_definition_is_an_error():
    assert "command line" in error_of(".equ N, 1\n_start: nop\n", defines={"N": 2}).message


def test_missing_include(tmp_path):
    (tmp_path / "m.S").write_text('_start: nop\n.include "nowhere.inc"\n')
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "m.S"])
    e = info.value
    assert e.line == 2 and e.col == 10 and "include file 'nowhere.inc' not found" in e.message


def test_recursive_include(tmp_path):
    (tmp_path / "m.S").write_text('_start: nop\n.include "a.inc"\n')
    (tmp_path / "a.inc").write_text('.include "b.inc"\n')
    (tmp_path / "b.inc").write_text('.include "a.inc"\n')
    with pytest.raises(asm.AsmError) as info:
        asm.assemble([tmp_path / "m.S"])
    assert "recursive include" in info.value.message
    assert "a.inc -> b.inc -> a.inc" in info.value.message
    assert info.value.file.endswith("b.inc")


def test_unterminated_if_points_at_the_if():
    e = error_of("_start: nop\n.if 1\nnop\n")
    assert (e.line, e.col) == (2, 1) and "unterminated .if" in e.message


def test_unterminated_macro_points_at_the_macro():
    e = error_of("_start: nop\n.macro M\nnop\n")
    assert e.line == 2 and "unterminated .macro" in e.message


def test_else_without_if_and_endm_without_macro():
    assert ".else without .if" in error_of("_start: nop\n.else\n").message
    assert ".endm without" in error_of("_start: nop\n.endm\n").message


def test_if_on_a_label_address_is_refused_with_a_reason():
    assert "label address" in error_of("_start: nop\n.if _start\n.endif\n").message


def test_missing_numeric_local_label():
    assert "no local label '1:' after" in error_of("_start: jmp 1f\n").message
    assert "no local label '2:' before" in error_of("_start: jmp 2b\n").message


def test_missing_entry_symbol():
    e = error_of("main: nop\n")
    assert "entry symbol '_start' is not defined" in e.message
    assert build("main: nop\n", entry="main").entry == 0x100020


def test_errors_in_macro_expansions_name_the_use():
    e = error_of(".macro M\nbogus eax\n.endm\n_start: nop\nM\n")
    assert e.line == 2 and "in macro 'M' used at k.S:5" in str(e)


def test_command_line_error_is_three_lines_and_exit_status_1(tmp_path):
    src = tmp_path / "bad.S"
    src.write_text("_start:\n\tmov eax, undefined_thing\n")
    proc = subprocess.run([sys.executable, "-m", "asm", "build", str(src), "-o", str(tmp_path / "o.bin")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.rstrip("\n").split("\n")
    assert lines[0] == f"{src}:2:11: error: undefined symbol 'undefined_thing'"
    assert lines[1] == "    \tmov eax, undefined_thing"
    assert lines[2] == "    \t" + " " * 9 + "^"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.bin").exists()


def test_command_line_missing_source_is_one_line_and_exit_status_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "asm", "build", str(tmp_path / "none.S"), "-o",
                           str(tmp_path / "o.bin")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_round_trip_mismatch_fails_naming_the_source_line(monkeypatch):
    from asm import assembler
    enc = assembler.encoder()
    real = enc._keystone

    def broken(text, addr, mode, ins):
        out = real(text, addr, mode, ins)
        return out + b"\x0f" if ins.mnemonic == "cpuid" else out   # a dangling byte
    monkeypatch.setattr(enc, "_keystone", broken)
    monkeypatch.setattr(enc, "cache", {})
    e = error_of("_start: nop\n  cpuid\n")
    assert e.line == 2 and e.col == 3 and "round-trip" in e.message and "capstone decodes 2" in e.message


@pytest.mark.parametrize("src,bits", [("mov al, 0x100", 8), ("mov ax, 0x12345", 16),
                                      ("mov byte ptr [eax], 0x1ff", 8), ("mov al, BIG", 8)])
def test_immediate_too_large_is_an_error_not_truncated(src, bits):
    # keystone alone encodes `mov al, 0x100` as B0 00.
    e = error_of(f".equ BIG, 300\n_start: {src}\n")
    assert f"does not fit in the {bits}-bit immediate" in e.message and e.col == 13


@pytest.mark.parametrize("src,expected", [("mov al, -1", "b0ff"), ("mov al, 0xff", "b0ff"),
                                          ("push 0xff", "68ff000000"), ("mov eax, -1", "b8ffffffff"),
                                          ("add eax, 0xff", "05ff000000")])
def test_immediates_that_fit_are_accepted(src, expected):
    assert build(f"_start: {src}\nend:\n").flat()[32:32 + len(expected) // 2].hex() == expected


@pytest.mark.parametrize("operand", ["[esp*2]", "[esp*1]", "[ebx+esp]"])
def test_esp_as_index_register_is_an_error_not_silently_dropped(operand):
    # keystone encodes [ebx+esp] as [ebx] and [esp*1] as [0].
    e = error_of(f"_start: mov eax, {operand}\n")
    assert "esp cannot be an index register" in e.message


def test_esp_as_base_register_is_fine():
    assert build("_start: mov eax, [esp+ebx]\nmov eax, [esp + 4]\n").flat()[32:39].hex() == "8b041c8b442404"


def test_unbalanced_parentheses_and_oversized_values_are_errors():
    assert "parentheses" in error_of("_start: mov eax, ((1)\n").message
    assert "does not fit in 32 bits" in error_of("_start: mov ebx, 1 << 40\n").message

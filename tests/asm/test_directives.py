"""Every directive the assembler adds or passes through, byte for byte."""

import pytest

import asm

from .helpers import between, build, code, mem


def test_labels_and_current_address_dot_and_dollar():
    img = build("_start: nop\nhere1: .long .\nhere2: .long $\n")
    a, b = img.symbols["here1"].value, img.symbols["here2"].value
    assert mem(img, a, 8) == a.to_bytes(4, "little") + b.to_bytes(4, "little")


def test_jump_to_dollar_is_a_self_loop():
    assert code("jmp $") == b"\xeb\xfe"
    assert code("jmp .") == b"\xeb\xfe"


def test_equ_and_set_constants_and_assignment():
    img = build(".equ A, 3\n.set B, A * 2\nC = B + 1\n.set B, 100\n_start: mov eax, C\n")
    assert img.symbols["A"] == asm.Symbol("A", 3, "const", "t.S", 1)
    assert img.symbols["C"].value == 7
    assert img.symbols["B"].value == 100        # the last .set wins
    assert mem(img, img.entry, 5) == b"\xb8\x07\x00\x00\x00"


def test_constant_may_be_a_difference_of_labels_defined_later():
    img = build(".equ LEN, msg_end - msg\n_start: mov ecx, LEN\n.data\nmsg: .ascii \"abcde\"\nmsg_end:\n")
    assert img.symbols["LEN"].value == 5
    assert mem(img, img.entry, 5) == b"\xb9\x05\x00\x00\x00"


def test_numeric_local_labels_resolve_backward_and_forward():
    out = code("1: nop\njmp 1b\njmp 1f\nnop\n1: jmp 1b")
    # 0: nop; 1: eb fd (-> 0); 3: eb 01 (-> 6); 5: nop; 6: eb fe (-> 6)
    assert out == bytes.fromhex("90ebfdeb0190ebfe")


def test_numeric_local_labels_work_in_data():
    img = build("_start:\n1: nop\n.data\nptr: .long 1b, 2f\n.text\n2: nop\n")
    assert mem(img, img.symbols["ptr"].value, 8) == (img.entry).to_bytes(4, "little") + \
        (img.entry + 1).to_bytes(4, "little")


def test_numeric_local_labels_are_not_in_the_symbol_table():
    img = build("_start:\n1: jmp 1b\n")
    assert set(img.symbols) == {"_start"}


def test_include_is_relative_to_the_including_file_then_include_dirs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "inc").mkdir()
    (tmp_path / "main.S").write_text('.include "sub/a.inc"\n_start: mov eax, A + B\n')
    (tmp_path / "sub" / "a.inc").write_text('.equ A, 1\n.include "b.inc"\n')
    (tmp_path / "inc" / "b.inc").write_text(".equ B, 2\n")
    img = asm.assemble([tmp_path / "main.S"], include_dirs=[tmp_path / "inc"])
    assert mem(img, img.entry, 5) == b"\xb8\x03\x00\x00\x00"
    assert img.symbols["B"].file.endswith("b.inc") and img.symbols["B"].line == 1


def test_sibling_of_including_file_wins_over_include_dirs(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "main.S").write_text('.include "c.inc"\n_start: mov eax, C\n')
    (tmp_path / "c.inc").write_text(".equ C, 1\n")
    (tmp_path / "inc" / "c.inc").write_text(".equ C, 2\n")
    img = asm.assemble([tmp_path / "main.S"], include_dirs=[tmp_path / "inc"])
    assert img.symbols["C"].value == 1


def test_several_source_files_share_one_namespace(tmp_path):
    (tmp_path / "a.S").write_text("_start: call f\n")
    (tmp_path / "b.S").write_text("f: ret\n")
    img = asm.assemble([tmp_path / "a.S", tmp_path / "b.S"])
    assert mem(img, img.entry, 6) == b"\xe8\x00\x00\x00\x00\xc3"


@pytest.mark.parametrize("defines,expected", [({}, 1), ({"MODEL": 2}, 2), ({"MODEL": "3"}, 3),
                                              ({"MODEL": 9}, 4)])
def test_if_elif_else_choose_on_command_line_definitions(defines, expected):
    src = """
.ifndef MODEL
  .equ PICK, 1
.elif MODEL == 2
  .equ PICK, 2
.elif MODEL == 3
  .equ PICK, 3
.else
  .equ PICK, 4
.endif
_start: nop
"""
    assert build(src, defines=defines).symbols["PICK"].value == expected


def test_nested_if_in_a_false_branch_stays_false():
    src = ".if 0\n.if 1\n.equ X, 1\n.else\n.equ X, 2\n.endif\n.else\n.equ X, 3\n.endif\n"
    assert build(src).symbols["X"].value == 3


def test_if_on_equ_constants_and_defined():
    src = ".equ N, 4\n.if N > 2 && defined(N)\n.equ OK, 1\n.endif\n"
    assert build(src).symbols["OK"].value == 1


def test_command_line_definitions_are_constants_in_the_symbol_table():
    img = build("_start: mov eax, NCPU\n", defines={"NCPU": 4, "FLAG": None})
    assert img.symbols["NCPU"] == asm.Symbol("NCPU", 4, "const", "<command line>", 0)
    assert img.symbols["FLAG"].value == 1


def test_macro_with_arguments_defaults_and_unique_counter():
    src = """
.macro OUTB port, val=0
    mov al, \\val
    out \\port, al
.endm
.macro STUB n
stub_\\n\\@:
    push \\n
.endm
_start: OUTB 0xe9, 'A'
OUTB 0x80
STUB 7
"""
    img = build(src)
    assert mem(img, img.entry, 8) == bytes.fromhex("b041e6e9b000e680")
    [stub] = [n for n in img.symbols if n.startswith("stub_7")]
    assert mem(img, img.symbols[stub].value, 2) == b"\x6a\x07"


def test_macro_bodies_may_use_numeric_local_labels_each_expansion_apart():
    src = ".macro SPIN\n1: pause\njmp 1b\n.endm\n_start: SPIN\nSPIN\n"
    img = build(src)
    assert mem(img, img.entry, 8) == bytes.fromhex("f390ebfcf390ebfc")


def test_rept_and_irp_repeat_their_bodies():
    img = build("_start:\n.rept 3\nnop\n.endr\n.irp r, eax, ebx\npush \\r\n.endr\n")
    assert mem(img, img.entry, 5) == bytes.fromhex("9090905053")


def test_sections_are_laid_out_text_data_bss_and_bss_is_not_stored():
    img = build(".data\nd: .long 1\n.bss\nb: .space 64\n.text\n_start: nop\n")
    assert img.text_start == img.base + 32 == img.entry
    assert img.data_start == img.symbols["d"].value and img.data_start % 16 == 0
    assert img.data_start > img.entry
    assert img.bss_start == img.symbols["b"].value and img.bss_start >= img.load_end
    assert img.bss_end == img.bss_start + 64
    assert len(img.flat()) == img.load_end - img.base


def test_rodata_section_goes_into_data():
    img = build('.section .rodata\nr: .asciz "x"\n')
    assert img.data_start <= img.symbols["r"].value < img.load_end


def test_data_in_bss_is_an_error():
    with pytest.raises(asm.AsmError, match="bss"):
        build(".bss\n.long 1\n")


def test_align_pads_with_nop_in_text_and_zero_in_data():
    img = build("_start: nop\n.align 8\nt: nop\n.data\n.byte 1\n.align 4\nd: .byte 2\n")
    assert img.symbols["t"].value % 8 == 0
    assert between(img, "_start", "t") == b"\x90" * (img.symbols["t"].value - img.entry)
    assert mem(img, img.data_start, 5) == b"\x01\x00\x00\x00\x02"


def test_align_is_absolute_even_for_pages():
    img = build(".data\n.align 4096\npage: .space 4096\n")
    assert img.symbols["page"].value % 4096 == 0


def test_p2align_and_balign_with_fill():
    img = build("_start: nop\n.balign 4, 0xcc\na: nop\n.p2align 3\nb:\n")
    assert mem(img, img.entry, 4) == b"\x90\xcc\xcc\xcc"
    assert img.symbols["b"].value % 8 == 0


def test_fill_space_zero_ascii_asciz():
    out = code('.fill 2, 2, 0x1234\n.space 3, 0xab\n.zero 2\n.ascii "ab"\n.asciz "c\\n"\n.string "d"')
    assert out == bytes.fromhex("34123412" "ababab" "0000") + b"ab" + b"c\n\0" + b"d\0"


def test_data_widths_and_label_expressions():
    img = build(".data\nt: .byte 1, -1, 'A'\n.short 0x1234\n.word -2\n.long t + 4, t - 1\n.quad 1\n")
    t = img.symbols["t"].value
    assert mem(img, t, 23) == bytes.fromhex("01ff41" "3412" "feff") + (t + 4).to_bytes(4, "little") + \
        (t - 1).to_bytes(4, "little") + (1).to_bytes(8, "little")


def test_data_out_of_range_is_an_error():
    with pytest.raises(asm.AsmError, match="does not fit in 1 byte"):
        build(".data\n.byte 256\n")


def test_comments_and_statement_separators():
    out = code("nop # hash comment\nnop; nop /* block\ncomment */ nop\nmov al, '#'")
    assert out == b"\x90\x90\x90\x90\xb0\x23"


def test_ignored_directives_are_accepted():
    assert code(".global x\n.globl y\n.type f, @function\n.intel_syntax noprefix\nnop") == b"\x90"


def test_code16_assembles_16_bit_instructions():
    img = build("_start: nop\n.code16\nreal: mov ax, 1\n.code32\nprot: mov ax, 1\n")
    assert mem(img, img.symbols["real"].value, 3) == b"\xb8\x01\x00"
    assert mem(img, img.symbols["prot"].value, 4) == b"\x66\xb8\x01\x00"


def test_forward_branches_grow_to_near_when_the_target_is_far():
    img = build("_start: jmp far_target\n.space 200, 0x90\nfar_target: nop\n")
    assert mem(img, img.entry, 5) == b"\xe9" + (200).to_bytes(4, "little")


def test_error_directive_stops_the_build():
    with pytest.raises(asm.AsmError, match="pick a model"):
        build('.ifndef MODEL\n.error "pick a model"\n.endif\n')


def test_org_moves_forward_from_the_section_start_and_never_back():
    img = build("_start: nop\n.org 0x10, 0xcc\nat16: nop\n")
    assert img.symbols["at16"].value == img.text_start + 0x10
    assert mem(img, img.entry, 2) == b"\x90\xcc"
    with pytest.raises(asm.AsmError, match="backwards"):
        build("_start: .space 8\n.org 4\n")


def test_lcomm_reserves_aligned_space_in_bss_from_any_section():
    img = build("_start: mov eax, [counter]\n.lcomm counter, 4\n.lcomm table, 64, 64\nafter: nop\n")
    assert img.bss_start <= img.symbols["counter"].value < img.bss_end
    assert img.symbols["table"].value % 64 == 0 and img.bss_end == img.symbols["table"].value + 64
    assert img.symbols["after"].value < img.data_start          # .text continues after .lcomm


def test_incbin_includes_file_bytes(tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"ABCDEFGH")
    (tmp_path / "m.S").write_text('_start: nop\nb: .incbin "blob.bin", 2, 3\ne:\n')
    img = asm.assemble([tmp_path / "m.S"])
    assert between(img, "b", "e") == b"CDE"


def test_instruction_operands_use_the_same_expression_rules_as_data():
    img = build(".equ N, 10\n_start: mov eax, N % 4 + (N > 5)\nend:\n.data\nd: .long N % 4 + (N > 5)\n")
    assert mem(img, img.entry, 5) == b"\xb8\x03\x00\x00\x00"
    assert mem(img, img.symbols["d"].value, 4) == (3).to_bytes(4, "little")


def test_negative_constants_inside_memory_operands():
    assert code(".equ OFF, -8\nmov eax, [ebp + OFF]") == b"\x8b\x45\xf8"


def test_a_header_included_by_several_source_files_may_repeat_its_equ(tmp_path):
    (tmp_path / "k.inc").write_text(".equ KCODE, 0x08\n.equ SIZE, end_marker - _start\n")
    (tmp_path / "a.S").write_text('.include "k.inc"\n_start: mov eax, KCODE\n')
    (tmp_path / "b.S").write_text('.include "k.inc"\nf: mov eax, SIZE\nend_marker:\n')
    img = asm.assemble([tmp_path / "a.S", tmp_path / "b.S"])
    assert img.symbols["KCODE"].value == 8 and img.symbols["SIZE"].file.endswith("k.inc")


def test_a_repeated_equ_with_another_value_is_still_an_error():
    with pytest.raises(asm.AsmError, match="duplicate definition of 'A'"):
        build(".equ A, 1\n.equ A, 2\n")


def test_each_source_file_starts_in_text(tmp_path):
    (tmp_path / "a.S").write_text("_start: nop\n.data\nd: .long 1\n")
    (tmp_path / "b.S").write_text("f: ret\n")
    img = asm.assemble([tmp_path / "a.S", tmp_path / "b.S"])
    assert img.symbols["f"].value < img.data_start

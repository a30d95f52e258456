"""Each keystone 0.9.2 quirk (../shared/KEYSTONE.md) is hidden: the bytes are
the encodings Intel SDM vol. 2 gives, and capstone reads them back as written.

Layout used by every snippet: _start = 0x100020 (base 0x100000 + 32-byte
Multiboot header)."""

import pytest

from .helpers import build, code, disasm, mem

TARGET = "\ntarget: nop\n"


@pytest.mark.parametrize("mnemonic,modrm_reg,expected_mnemonic", [
    ("lgdt", 2, "lgdt"), ("lidt", 3, "lidt"), ("sgdt", 0, "sgdt"), ("sidt", 1, "sidt")])
def test_descriptor_table_instructions_take_a_32_bit_operand_without_0x66(
        mnemonic, modrm_reg, expected_mnemonic):
    # SDM: LGDT m16&32 = 0F 01 /2, LIDT /3, SGDT /0, SIDT /1; ModRM mod=00 rm=101 (disp32)
    img = build(f"_start: {mnemonic} [table]\n.data\ntable: .short 0\n.long 0\n")
    table = img.symbols["table"].value
    out = mem(img, img.entry, 7)
    assert out == bytes([0x0F, 0x01, (modrm_reg << 3) | 0b101]) + table.to_bytes(4, "little")
    [(mn, ops, size)] = disasm(out)
    assert (mn, size) == (expected_mnemonic, 7)
    assert hex(table) in ops


def test_lidt_through_a_register_has_no_operand_size_prefix():
    assert code("lidt [eax]") == bytes([0x0F, 0x01, 0x18])


def test_far_jump_to_a_label_is_ea_with_offset_then_selector():
    img = build("_start: jmp 0x08:target\n" + TARGET)
    target = img.symbols["target"].value
    out = mem(img, img.entry, 7)
    assert out == b"\xea" + target.to_bytes(4, "little") + b"\x08\x00"
    [(mn, ops, size)] = disasm(out)
    assert mn == "ljmp" and ops == f"8:{target:#x}" and size == 7


def test_far_call_to_a_label_is_9a_with_offset_then_selector():
    img = build("_start: call KERNEL_CS:target\n.equ KERNEL_CS, 0x10\n" + TARGET)
    target = img.symbols["target"].value
    out = mem(img, img.entry, 7)
    assert out == b"\x9a" + target.to_bytes(4, "little") + b"\x10\x00"
    mn, ops, size = disasm(out)[0]
    assert mn == "lcall" and ops.replace(", ", ":") == f"0x10:{target:#x}" and size == 7


def test_far_jump_to_a_numeric_local_label_works():
    img = build("_start: jmp 0x08:1f\n1: nop\n")
    assert mem(img, img.entry, 7) == b"\xea" + (img.entry + 7).to_bytes(4, "little") + b"\x08\x00"


def test_push_of_a_label_is_push_imm32():
    img = build("_start: push target\n" + TARGET)
    target = img.symbols["target"].value
    out = mem(img, img.entry, 5)
    assert out == b"\x68" + target.to_bytes(4, "little")
    assert disasm(out)[0][:2] == ("push", hex(target))


def test_push_of_label_arithmetic_is_push_imm32():
    img = build("_start: push target + 4\n" + TARGET)
    assert mem(img, img.entry, 5) == b"\x68" + (img.symbols["target"].value + 4).to_bytes(4, "little")


def test_push_of_a_small_number_keeps_the_short_form():
    assert code("push 5") == b"\x6a\x05"


def test_short_data_holds_the_low_half_of_a_label():
    img = build(".data\nlo: .short target & 0xffff\nhi: .short target >> 16\n.text\n" + TARGET)
    target = img.symbols["target"].value
    assert mem(img, img.symbols["lo"].value, 4) == (target & 0xFFFF).to_bytes(2, "little") + \
        (target >> 16).to_bytes(2, "little")


@pytest.mark.parametrize("src,expected,mn", [
    ("mov ds, ax", "8ed8", "mov"),            # MOV Sreg, r/m16 = 8E /r
    ("mov ss, ax", "8ed0", "mov"),
    ("mov es, ax", "8ec0", "mov"),
    ("push ds", "1e", "push"),                # SDM PUSH DS = 1E (a 32-bit push in 32-bit code)
    ("push es", "06", "push"),
    ("push ss", "16", "push"),
    ("push cs", "0e", "push"),
    ("pop ds", "1f", "pop"),
    ("pop es", "07", "pop"),
    ("pop ss", "17", "pop"),
    ("iret", "cf", "iretd"),                  # IRETD = CF (keystone: 66 CF)
    ("pushf", "9c", "pushfd"),
    ("popf", "9d", "popfd"),
    ("lret", "cb", "retf"),
    ("movsd", "a5", "movsd"),
    ("rep movsd", "f3a5", "rep movsd"),
])
def test_sixteen_bit_forms_keystone_picks_are_replaced_by_the_32_bit_encoding(src, expected, mn):
    out = code(src)
    assert out.hex() == expected
    [(got_mn, _ops, size)] = disasm(out)
    assert got_mn == mn and size == len(out)


def test_short_jump_keyword_is_accepted_and_stays_two_bytes():
    assert code("1: jmp short 1b") == b"\xeb\xfe"


def test_short_jump_out_of_range_is_an_error():
    import asm
    with pytest.raises(asm.AsmError, match="short jump"):
        build("_start: jmp short far_away\n.space 300\nfar_away: nop\n")


def test_far_indirect_jump_through_memory():
    assert code("jmp far [eax]") == b"\xff\x28"       # JMP m16:32 = FF /5
    assert code("call fword ptr [eax]") == b"\xff\x18"  # CALL m16:32 = FF /3


def test_offset_keyword_gives_the_address_as_an_immediate():
    img = build("_start: mov eax, offset target\n" + TARGET)
    assert mem(img, img.entry, 5) == b"\xb8" + img.symbols["target"].value.to_bytes(4, "little")


def test_decimal_numbers_stay_decimal_because_att_mode_is_never_used():
    # After AT&T mode keystone reads 10 as 0x10; the assembler never switches.
    assert code("mov al, 10") == b"\xb0\x0a"
    assert code(".att_syntax\n") if False else True


def test_att_syntax_directive_is_refused():
    import asm
    with pytest.raises(asm.AsmError, match="AT&T"):
        build(".att_syntax\n")


def test_the_encoders_keystone_reads_bare_numbers_in_radix_16_whatever_the_heap_held():
    # keystone 0.9.2 leaves a new engine's radix unset (a CI run read
    # `mov esi, [esi + 16]` as [esi + 0x16]); the encoder sets it to 16, so a
    # bare number means the same in every process ...
    from asm import assembler
    ks = assembler.encoder().ks(32)
    assert bytes(ks.asm("mov esi, [esi + 16]", 0)[0]) == bytes.fromhex("8b7616")


@pytest.mark.parametrize("src,expected", [
    ("mov esi, [esi + 16]", "8b7610"),                  # disp8 = 16
    ("mov eax, [ebx + ecx*4 + 100]", "8b448b64"),       # SIB scale 4, disp8 = 100
    ("mov eax, [ebx + 010]", "8b4308"),                 # leading 0: octal
    ("mov eax, [ebx + 10h]", "8b4310"),
    ("mov byte ptr [ebx + 'A'], 10", "c643410a"),       # 'A' = 0x41
    ("fld st(1)", "d9c1"),
    ("mov al, 10", "b00a"),
    ("shl eax, 12", "c1e00c"),
])
def test_numbers_inside_operands_are_read_as_written(src, expected):
    # ... and every number reaches it as 0x...: decimal stays decimal
    assert code(src).hex() == expected


@pytest.mark.parametrize("src,expected", [
    ("jmp target", "eb01"),               # forward short
    ("call target", "e801000000"),
    ("je target", "7401"),
])
def test_branches_to_labels_are_pc_relative(src, expected):
    img = build(f"_start: {src}\nnop\ntarget: nop\n")
    n = len(bytes.fromhex(expected))
    assert mem(img, img.entry, n).hex() == expected


def test_far_jump_from_16_bit_code_to_a_high_label_uses_a_32_bit_offset():
    # An AP trampoline: .code16 ... jmp 0x08:prot32 with prot32 above 64 KiB
    # must be 66 EA cd cw (ptr16:32), not a truncated ptr16:16.
    img = build("_start: nop\n.code16\nreal: jmp 0x08:prot32\nlow: jmp 0x08:0x1234\n.code32\nprot32: nop\n")
    prot32 = img.symbols["prot32"].value
    assert mem(img, img.symbols["real"].value, 8) == b"\x66\xea" + prot32.to_bytes(4, "little") + b"\x08\x00"
    assert mem(img, img.symbols["low"].value, 5) == b"\xea\x34\x12\x08\x00"

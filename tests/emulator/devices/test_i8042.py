"""i8042: the behaviour a guest needs to raise IRQ 1 and IRQ 12 (QEMU pckbd.c)."""

from emulator.devices.i8042 import Kbc


def make():
    kbc = Kbc()
    return kbc


def test_reset_status_and_command_byte_enable_both_interrupts():
    kbc = make()
    assert kbc.io_read(0x64, 1) == 0x18
    kbc.io_write(0x64, 1, 0x20)
    assert kbc.io_read(0x64, 1) & 1
    assert kbc.io_read(0x60, 1) == 0x03


def test_d2_writes_keyboard_output_buffer_and_raises_irq1_until_read():
    kbc = make()
    kbc.io_write(0x64, 1, 0xD2)
    kbc.io_write(0x60, 1, 0x1E)
    assert kbc.irq1.level == 1 and kbc.irq12.level == 0
    assert kbc.io_read(0x64, 1) & 0x21 == 0x01
    assert kbc.io_read(0x60, 1) == 0x1E
    assert kbc.irq1.level == 0
    assert kbc.io_read(0x64, 1) & 1 == 0


def test_d3_writes_mouse_output_buffer_and_raises_irq12():
    kbc = make()
    kbc.io_write(0x64, 1, 0xD3)
    kbc.io_write(0x60, 1, 0x08)
    assert kbc.irq12.level == 1 and kbc.irq1.level == 0
    assert kbc.io_read(0x64, 1) & 0x21 == 0x21
    assert kbc.io_read(0x60, 1) == 0x08
    assert kbc.irq12.level == 0


def test_command_byte_int_bits_gate_the_lines():
    kbc = make()
    kbc.io_write(0x64, 1, 0x60)
    kbc.io_write(0x60, 1, 0x00)                    # no INT, no INT2
    kbc.io_write(0x64, 1, 0xD2)
    kbc.io_write(0x60, 1, 0x01)
    assert kbc.irq1.level == 0
    kbc.io_write(0x64, 1, 0x60)                    # the buffer is full: command byte write
    kbc.io_write(0x60, 1, 0x01)                    # enabling INT raises the line at once
    assert kbc.irq1.level == 1


def test_disabled_keyboard_raises_no_irq1():
    kbc = make()
    kbc.io_write(0x64, 1, 0xAD)
    kbc.io_write(0x64, 1, 0xD2)
    kbc.io_write(0x60, 1, 0x01)
    assert kbc.irq1.level == 0


def test_queued_bytes_are_delivered_one_at_a_time():
    kbc = make()
    kbc.io_write(0x60, 1, 0xF2)                    # keyboard identify
    assert [kbc.io_read(0x60, 1) for _ in range(3)] == [0xFA, 0xAB, 0x83]


def test_self_test_answers_55_and_sets_sys():
    kbc = make()
    kbc.io_write(0x64, 1, 0xAA)
    assert kbc.io_read(0x64, 1) & 0x04
    assert kbc.io_read(0x60, 1) == 0x55


def test_pulse_reset_calls_on_reset():
    kbc = make()
    calls = []
    kbc.on_reset = lambda: calls.append(1)
    kbc.io_write(0x64, 1, 0xFE)
    assert calls == [1]


def test_a_newer_controller_byte_replaces_an_unread_one_as_qemu():
    kbc = make()
    kbc.io_write(0x64, 1, 0xD2)
    kbc.io_write(0x60, 1, 0x42)
    kbc.io_write(0x64, 1, 0xD3)
    kbc.io_write(0x60, 1, 0xF2)
    assert kbc.io_read(0x64, 1) & 0x21 == 0x01   # the full buffer is not changed ...
    assert kbc.io_read(0x60, 1) == 0xF2           # ... but its value is read late
    assert kbc.io_read(0x64, 1) & 0x01 == 0


def test_output_port_mirrors_obf_in_bit_4():
    kbc = make()
    kbc.io_write(0x64, 1, 0xAA)
    kbc.io_write(0x64, 1, 0xD0)
    assert kbc.io_read(0x60, 1) == 0xDF


def test_a_key_pressed_fills_the_empty_buffer_and_raises_irq1_until_read():
    # the keyboard's own byte: OBF set, MOBF clear, IRQ 1 while INT is set
    kbc = make()
    assert kbc.key_interrupts()
    kbc.key(0x1C)
    assert kbc.irq1.level == 1 and kbc.io_read(0x64, 1) & 0x21 == 0x01
    assert not kbc.key_interrupts()                # the buffer is full now
    assert kbc.io_read(0x60, 1) == 0x1C
    assert kbc.irq1.level == 0 and kbc.key_interrupts()


def test_keys_queue_behind_an_unread_byte_and_follow_one_by_one():
    kbc = make()
    kbc.key(0x1E)
    kbc.key(0x9E)                                  # press and release
    assert kbc.io_read(0x60, 1) == 0x1E
    assert kbc.irq1.level == 1                     # the next byte loaded at once
    assert kbc.io_read(0x60, 1) == 0x9E
    assert kbc.irq1.level == 0


def test_a_key_with_the_keyboard_disabled_or_int_off_raises_nothing():
    kbc = make()
    kbc.io_write(0x64, 1, 0xAD)                    # keyboard interface disabled
    assert not kbc.key_interrupts()
    kbc.key(0x1C)
    assert kbc.irq1.level == 0 and not kbc.io_read(0x64, 1) & 1
    kbc = make()
    kbc.io_write(0x64, 1, 0x60)
    kbc.io_write(0x60, 1, 0x00)                    # INT off
    assert not kbc.key_interrupts()

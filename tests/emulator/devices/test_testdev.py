"""irqlab's test device: the register map in its module docstring."""

from emulator.devices.testdev import FIFO_DEPTH, TESTDEV_BASE, TestDevice

DATA, STATUS, CONTROL, COUNT, OVERFLOW = (TESTDEV_BASE + r for r in (0, 4, 5, 6, 7))


def test_line_is_asserted_only_while_fifo_nonempty_and_enabled():
    dev = TestDevice()
    dev.push(7)
    assert dev.irq.level == 0                       # interrupt disabled after reset
    dev.io_write(CONTROL, 1, 1)
    assert dev.irq.level == 1
    assert dev.io_read(DATA, 4) == 7
    assert dev.irq.level == 0                       # FIFO empty: line falls


def test_status_bits_report_nonempty_line_and_overflow():
    dev = TestDevice()
    assert dev.io_read(STATUS, 1) == 0
    dev.io_write(CONTROL, 1, 1)
    dev.push(1)
    assert dev.io_read(STATUS, 1) == 0x03


def test_data_pops_in_fifo_order_and_reads_zero_when_empty():
    dev = TestDevice()
    for v in (0xDEADBEEF, 2, 3):
        dev.push(v)
    assert dev.io_read(COUNT, 1) == 3
    assert [dev.io_read(DATA, 4) for _ in range(4)] == [0xDEADBEEF, 2, 3, 0]
    assert dev.popped == 3


def test_push_into_a_full_fifo_is_dropped_and_counted():
    dev = TestDevice()
    assert all(dev.push(i) for i in range(FIFO_DEPTH))
    assert dev.push(99) is False
    assert dev.overflow == 1
    assert dev.io_read(OVERFLOW, 1) == 1
    assert dev.io_read(STATUS, 1) & 0x04
    assert dev.io_read(COUNT, 1) == FIFO_DEPTH


def test_control_flush_empties_fifo_and_clears_overflow():
    dev = TestDevice()
    for i in range(FIFO_DEPTH + 3):
        dev.push(i)
    dev.io_write(CONTROL, 1, 0x81)
    assert dev.io_read(COUNT, 1) == 0
    assert dev.io_read(OVERFLOW, 1) == 0
    assert dev.io_read(CONTROL, 1) == 0x01


def test_irq_number_defaults_to_5_and_is_a_constructor_argument():
    assert TestDevice().irq_number == 5
    assert TestDevice(irq=11).irq_number == 11


def _wired():
    from emulator.devices.i8259 import PicPair
    pic = PicPair()
    for cmd, data, base, icw3 in ((0x20, 0x21, 0x20, 0x04), (0xA0, 0xA1, 0x28, 0x02)):
        for port, value in ((cmd, 0x11), (data, base), (data, icw3), (data, 0x01)):
            pic.io_write(port, 1, value)
    dev = TestDevice()
    dev.irq.sink = lambda level: pic.set_irq(dev.irq_number, level)
    dev.io_write(CONTROL, 1, 1)
    return pic, dev


def test_edge_triggered_pic_sees_no_new_edge_for_a_packet_pushed_before_the_drain():
    pic, dev = _wired()
    dev.push(1)
    assert pic.acknowledge() == 0x25
    dev.push(2)                                     # line already high: no edge
    pic.io_write(0x20, 1, 0x20)
    assert pic.intr_level() == 0
    dev.io_read(DATA, 4)
    dev.io_read(DATA, 4)                            # drained: line falls
    dev.push(3)                                     # a fresh edge
    assert pic.intr_level() == 1


def test_level_triggered_pic_requests_again_after_eoi_while_packets_remain():
    pic, dev = _wired()
    pic.io_write(0x4D0, 1, 0x20)                    # IRQ 5 level
    dev.push(1)
    dev.push(2)
    assert pic.acknowledge() == 0x25
    dev.io_read(DATA, 4)                            # one taken, one left
    pic.io_write(0x20, 1, 0x20)
    assert pic.intr_level() == 1

"""save_state/load_state: a restored device behaves as it did when saved."""

from emulator.clock import Clock
from emulator.devices.i8042 import Kbc
from emulator.devices.i8254 import Pit
from emulator.devices.i8259 import PicPair
from emulator.devices.mc146818 import Rtc
from emulator.devices.testdev import TESTDEV_BASE, TestDevice
from emulator.devices.uart16550 import Uart


def pic_script(pic, clock):
    pic.set_irq(3, 1)
    pic.set_irq(11, 1)
    return [pic.acknowledge(), pic.io_read(0x20, 1), pic.acknowledge()]


def pit_script(pit, clock):
    clock.now += 5000
    pit.io_write(0x43, 1, 0x00)
    return [pit.io_read(0x40, 1), pit.io_read(0x40, 1), pit.next_deadline()]


def uart_script(uart, clock):
    uart.io_write(0x3F8, 1, 0x42)
    return [uart.io_read(0x3FA, 1), uart.io_read(0x3F8, 1), uart.io_read(0x3FD, 1)]


def rtc_script(rtc, clock):
    clock.now += 3_000_000
    rtc.io_write(0x70, 1, 0x0C)
    return [rtc.io_read(0x71, 1), rtc.io_read(0x71, 1), rtc.next_deadline()]


def kbc_script(kbc, clock):
    kbc.io_write(0x64, 1, 0xD3)
    kbc.io_write(0x60, 1, 0x77)
    return [kbc.io_read(0x64, 1), kbc.io_read(0x60, 1), kbc.irq12.level]


def fifo_script(dev, clock):
    dev.push(9)
    return [dev.io_read(TESTDEV_BASE + 6, 1), dev.io_read(TESTDEV_BASE, 4), dev.io_read(TESTDEV_BASE, 4)]


def prepare_pic(pic):
    for port, value in ((0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1),
                        (0xA0, 0x11), (0xA1, 0x28), (0xA1, 2), (0xA1, 1)):
        pic.io_write(port, 1, value)
    pic.set_irq(5, 1)


def prepare_pit(pit):
    pit.io_write(0x43, 1, 0x34)
    pit.io_write(0x40, 1, 0x00)
    pit.io_write(0x40, 1, 0x10)


def prepare_uart(uart):
    uart.io_write(0x3FC, 1, 0x1B)
    uart.io_write(0x3F9, 1, 0x03)
    uart.io_write(0x3FA, 1, 0x41)
    uart.io_write(0x3F8, 1, 0x11)


def prepare_rtc(rtc):
    rtc.io_write(0x70, 1, 0x0B)
    rtc.io_write(0x71, 1, 0x42)


def prepare_kbc(kbc):
    kbc.io_write(0x64, 1, 0xAA)


def prepare_fifo(dev):
    dev.io_write(TESTDEV_BASE + 5, 1, 1)
    dev.push(1)


CASES = [(PicPair, prepare_pic, pic_script), (Pit, prepare_pit, pit_script),
         (Uart, prepare_uart, uart_script), (Rtc, prepare_rtc, rtc_script),
         (Kbc, prepare_kbc, kbc_script), (TestDevice, prepare_fifo, fifo_script)]


def test_a_device_restored_from_a_snapshot_repeats_what_it_did():
    for cls, prepare, script in CASES:
        clock = Clock()
        dev = cls(clock)
        prepare(dev)
        clock.now = 1000
        saved, saved_now = dev.save_state(), clock.now
        first = script(dev, clock)
        described = dev.describe()
        clock.now = saved_now
        dev.load_state(saved)
        assert script(dev, clock) == first, cls.__name__
        assert dev.describe() == described, cls.__name__


def test_a_snapshot_leaves_out_the_wiring_and_is_a_copy():
    pic = PicPair()
    calls = []
    pic.output_changed = calls.append
    saved = pic.save_state()
    assert "output_changed" not in saved and "clock" not in saved and "trace" not in saved
    pic.master.imr = 0x55
    assert saved["master"].imr == 0                  # not aliased
    pic.load_state(saved)
    assert pic.master.imr == 0 and pic.output_changed == calls.append

"""fw_cfg: QEMU's docs/specs/fw_cfg.txt and what qemu-system-i386 7.2's pc
machine gives a -kernel guest (the device's docstring; the probe in
tests/probes/firmware prints the same on both)."""

import struct

from emulator.devices.fw_cfg import (DMA_ERROR, DMA_READ, DMA_SELECT, DMA_SKIP, DMA_WRITE,
                                     FW_CFG_FILE_DIR, FW_CFG_HPET, FW_CFG_ID, FW_CFG_MAX_CPUS,
                                     FW_CFG_NB_CPUS, FW_CFG_RAM_SIZE, FW_CFG_SIGNATURE, FwCfg,
                                     hpet_item, standard_files)

SEL, DATA, DMA_HI, DMA_LO = 0x510, 0x511, 0x514, 0x518


def read_item(dev, key, n):
    dev.io_write(SEL, 2, key)
    return bytes(dev.io_read(DATA, 1) for _ in range(n))


def directory(dev):
    """{name: (select, size)} as a guest parses FW_CFG_FILE_DIR."""
    dev.io_write(SEL, 2, FW_CFG_FILE_DIR)
    raw = bytes(dev.io_read(DATA, 1) for _ in range(4 + 64 * 32))
    count = struct.unpack_from(">I", raw)[0]
    out = {}
    for i in range(count):
        size, select, _ = struct.unpack_from(">IHH", raw, 4 + 64 * i)
        name = raw[12 + 64 * i:4 + 64 * (i + 1)].split(b"\0")[0].decode()
        out[name] = (select, size)
    return out


def test_signature_is_selected_after_reset_and_reads_qemu():
    dev = FwCfg()
    assert bytes(dev.io_read(DATA, 1) for _ in range(4)) == b"QEMU"
    assert read_item(dev, FW_CFG_SIGNATURE, 4) == b"QEMU"


def test_selecting_again_starts_the_item_over():
    dev = FwCfg()
    dev.io_read(DATA, 1)
    dev.io_write(SEL, 2, FW_CFG_SIGNATURE)
    assert dev.io_read(DATA, 1) == ord("Q")


def test_cpu_count_and_ram_size_are_little_endian_items():
    dev = FwCfg(ncpus=4, mem_size=64 << 20)
    assert struct.unpack("<H", read_item(dev, FW_CFG_NB_CPUS, 2))[0] == 4
    assert struct.unpack("<H", read_item(dev, FW_CFG_MAX_CPUS, 2))[0] == 4
    assert struct.unpack("<Q", read_item(dev, FW_CFG_RAM_SIZE, 8))[0] == 64 << 20


def test_id_announces_the_traditional_interface_and_dma():
    assert read_item(FwCfg(), FW_CFG_ID, 4) == b"\x03\0\0\0"


def test_reading_past_the_end_or_an_absent_key_gives_zeros():
    dev = FwCfg()
    assert read_item(dev, FW_CFG_SIGNATURE, 6) == b"QEMU\0\0"
    assert read_item(dev, 0x0C, 3) == bytes(3)          # boot_device: absent
    assert read_item(dev, 0x3FFF, 2) == bytes(2)        # past the file slots


def test_either_port_reads_data_and_byte_writes_do_nothing():
    dev = FwCfg()
    dev.io_write(DATA, 1, 0x55)
    dev.io_write(SEL, 1, 0x01)                         # a byte write is no select
    assert dev.io_read(SEL, 1) == ord("Q") and dev.io_read(DATA, 1) == ord("E")


def test_file_directory_is_sorted_big_endian_and_names_every_file():
    files = standard_files(b"RSD PTR rsdp", b"tables", 32 << 20)
    dev = FwCfg(files=files)
    d = directory(dev)
    assert sorted(d) == sorted(files) and list(d) == sorted(files)
    for name, (select, size) in d.items():
        assert size == len(files[name])
        assert read_item(dev, select, size) == files[name]


def test_e820_file_reports_all_ram_and_system_states_enable_s3_with_slp_typ_1():
    dev = FwCfg(files=standard_files(b"", b"", 32 << 20))
    d = directory(dev)
    assert read_item(dev, d["etc/e820"][0], 20) == struct.pack("<QQI", 0, 32 << 20, 1)
    assert read_item(dev, d["etc/system-states"][0], 6) == bytes([0x80, 0, 0, 0x81, 0x82, 0x80])


def test_hpet_item_names_one_block_at_its_address():
    dev = FwCfg(hpet=hpet_item(0x8086A201, 0xFED00000))
    raw = read_item(dev, FW_CFG_HPET, 121)
    assert raw[0] == 1 and struct.unpack_from("<IQ", raw, 1) == (0x8086A201, 0xFED00000)


def test_dma_registers_read_the_signature_in_memory_order():
    dev = FwCfg()
    raw = dev.io_read(DMA_HI, 4).to_bytes(4, "little") + dev.io_read(DMA_LO, 4).to_bytes(4, "little")
    assert raw == b"QEMU CFG"


class Ram:
    def __init__(self, size=0x10000):
        self.mem = bytearray(size)

    def read(self, addr, n):
        return bytes(self.mem[addr:addr + n]) if addr + n <= len(self.mem) else None

    def write(self, addr, data):
        if addr + len(data) > len(self.mem):
            return False
        self.mem[addr:addr + len(data)] = data
        return True


def dma(dev, ram, control, length, target, at=0x100):
    ram.mem[at:at + 16] = struct.pack(">IIQ", control, length, target)
    dev.io_write(DMA_HI, 4, 0)
    dev.io_write(DMA_LO, 4, int.from_bytes(at.to_bytes(4, "big"), "little"))
    return struct.unpack_from(">I", ram.mem, at)[0]


def test_dma_select_and_read_copies_the_item_and_clears_control():
    ram = Ram()
    dev = FwCfg(dma_read=ram.read, dma_write=ram.write)
    assert dma(dev, ram, (FW_CFG_SIGNATURE << 16) | DMA_SELECT | DMA_READ, 6, 0x200) == 0
    assert bytes(ram.mem[0x200:0x206]) == b"QEMU\0\0"     # zeros past the end


def test_dma_skip_moves_the_offset_for_the_next_read():
    ram = Ram()
    dev = FwCfg(dma_read=ram.read, dma_write=ram.write)
    dma(dev, ram, (FW_CFG_SIGNATURE << 16) | DMA_SELECT | DMA_SKIP, 2, 0)
    assert dev.io_read(DATA, 1) == ord("M")


def test_dma_write_is_refused_with_the_error_bit():
    ram = Ram()
    dev = FwCfg(dma_read=ram.read, dma_write=ram.write)
    assert dma(dev, ram, (FW_CFG_SIGNATURE << 16) | DMA_SELECT | DMA_WRITE, 4, 0x200) == DMA_ERROR


def test_dma_into_memory_that_is_not_there_sets_the_error_bit():
    ram = Ram()
    dev = FwCfg(dma_read=ram.read, dma_write=ram.write)
    assert dma(dev, ram, (FW_CFG_SIGNATURE << 16) | DMA_SELECT | DMA_READ, 4, 0xFFFFF000) == DMA_ERROR


def test_save_and_load_state_keep_the_selection_and_offset():
    dev = FwCfg()
    dev.io_read(DATA, 1)
    saved = dev.save_state()
    dev.io_write(SEL, 2, FW_CFG_NB_CPUS)
    dev.load_state(saved)
    assert dev.io_read(DATA, 1) == ord("E")

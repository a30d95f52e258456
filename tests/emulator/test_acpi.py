"""The ACPI tables (emulator/acpi.py): ACPI 2.0 layouts, checksums, and the
values QEMU 7.2's pc gives a -kernel guest (tests/probes/firmware prints
the same on both)."""

import struct

from emulator import acpi


def tables_by_signature(t):
    """{signature: bytes} by walking RSDP -> RSDT as a guest does."""
    mem = bytearray(0x100000)
    acpi.install(mem, t)
    assert bytes(mem[acpi.RSDP_ADDR:acpi.RSDP_ADDR + 8]) == b"RSD PTR "
    rsdt = struct.unpack_from("<I", mem, acpi.RSDP_ADDR + 16)[0]
    out = {"RSDT": bytes(mem[rsdt:rsdt + struct.unpack_from("<I", mem, rsdt + 4)[0]])}
    for i in range((len(out["RSDT"]) - 36) // 4):
        addr = struct.unpack_from("<I", out["RSDT"], 36 + 4 * i)[0]
        length = struct.unpack_from("<I", mem, addr + 4)[0]
        out[bytes(mem[addr:addr + 4]).decode()] = bytes(mem[addr:addr + length])
    fadt = out["FACP"]
    for name, off in (("FACS", 36), ("DSDT", 40)):
        addr = struct.unpack_from("<I", fadt, off)[0]
        out[name] = bytes(mem[addr:addr + struct.unpack_from("<I", mem, addr + 4)[0]])
    return out, mem


def test_rsdp_is_in_the_bios_area_on_a_16_byte_boundary_and_checksums_to_zero():
    t = acpi.build(1)
    assert 0xE0000 <= acpi.RSDP_ADDR < 0x100000 and acpi.RSDP_ADDR % 16 == 0
    assert sum(t.rsdp) % 256 == 0 and t.rsdp[15] == 0          # revision 0: RSDT only
    assert t.rsdp[9:15] == b"BOCHS "


def test_every_table_checksums_to_zero_and_has_qemus_oem_fields():
    tables, _ = tables_by_signature(acpi.build(2))
    assert sorted(tables) == ["APIC", "DSDT", "FACP", "FACS", "HPET", "RSDT", "WAET"]
    for sig, raw in tables.items():
        if sig == "FACS":                                  # no checksum, no header
            continue
        assert sum(raw) % 256 == 0, sig
        assert raw[10:16] == b"BOCHS " and raw[16:24] == b"BXPC    ", sig


def test_rsdt_lists_facp_apic_hpet_waet_in_qemus_order():
    t = acpi.build(1)
    tables, mem = tables_by_signature(t)
    sigs = [bytes(mem[a:a + 4]) for a in struct.unpack_from("<4I", tables["RSDT"], 36)]
    assert sigs == [b"FACP", b"APIC", b"HPET", b"WAET"]


def test_fadt_points_at_piix4_pm_ports_and_sci_9():
    fadt = tables_by_signature(acpi.build(1))[0]["FACP"]
    assert len(fadt) == 116 and fadt[8] == 1
    assert struct.unpack_from("<H", fadt, 46)[0] == 9                     # SCI_INT
    assert struct.unpack_from("<IBB", fadt, 48) == (0xB2, 0xF1, 0xF0)     # SMI_CMD, enable, disable
    pm1a_evt, _, pm1a_cnt, _, _, pm_tmr, gpe0 = struct.unpack_from("<7I", fadt, 56)
    assert (pm1a_evt, pm1a_cnt, pm_tmr, gpe0) == (0x600, 0x604, 0x608, 0xAFE0)
    assert tuple(fadt[88:93]) == (4, 2, 0, 4, 4)                          # block lengths
    assert not struct.unpack_from("<I", fadt, 112)[0] & 0x100             # 24-bit PM timer


def test_facs_is_64_byte_aligned_with_no_waking_vector():
    t = acpi.build(1)
    assert t.addresses["FACS"] % 64 == 0
    facs = tables_by_signature(t)[0]["FACS"]
    assert facs[:4] == b"FACS" and len(facs) == 64 and struct.unpack_from("<I", facs, 12)[0] == 0


def madt_entries(madt):
    out, off = [], 44
    while off < len(madt):
        out.append(madt[off:off + madt[off + 1]])
        off += madt[off + 1]
    return out


def test_madt_has_a_local_apic_per_cpu_the_io_apic_and_irq0_on_gsi2():
    for n in (1, 4):
        madt = tables_by_signature(acpi.build(n))[0]["APIC"]
        assert struct.unpack_from("<II", madt, 36) == (0xFEE00000, 1)
        entries = madt_entries(madt)
        lapics = [e for e in entries if e[0] == 0]
        assert [(e[2], e[3], e[4]) for e in lapics] == [(i, i, 1) for i in range(n)]
        ioapic = [e for e in entries if e[0] == 1]
        assert [struct.unpack_from("<BxII", e, 2) for e in ioapic] == [(0, 0xFEC00000, 0)]
        overrides = [struct.unpack_from("<BBIH", e, 2) for e in entries if e[0] == 2]
        assert overrides[0] == (0, 0, 2, 0)
        assert overrides[1:] == [(0, irq, irq, 0x0D) for irq in (5, 9, 10, 11)]
        assert [e for e in entries if e[0] == 4] == [bytes([4, 6, 0xFF, 0, 0, 1])]


def test_hpet_table_names_the_block_at_fed00000():
    hpet = tables_by_signature(acpi.build(1))[0]["HPET"]
    assert struct.unpack_from("<I", hpet, 36)[0] == 0x8086A201
    assert hpet[40] == 0 and struct.unpack_from("<Q", hpet, 44)[0] == 0xFED00000


def test_dsdt_names_the_sleep_states_with_qemus_slp_typ_values():
    aml = tables_by_signature(acpi.build(1))[0]["DSDT"][36:]
    assert b"\\_S3_\x12\x06\x04\x01\x01\x00\x00" in aml
    assert b"\\_S4_\x12\x08\x04\x0a\x02\x0a\x02\x00\x00" in aml
    assert b"\\_S5_\x12\x06\x04\x00\x00\x00\x00" in aml

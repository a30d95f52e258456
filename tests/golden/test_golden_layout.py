"""Goldens do not pin the kernel's layout: the same kernel with its code and
data moved (sources in another order, padding in .text, .data and .bss)
runs to a trace that, symbolised, equals the golden of the real build."""

from __future__ import annotations

import asm
from asm.symfile import from_symfile
from emulator.loader import image_symbols
from emulator.machine import Machine
from emulator.observe import attach
from emulator.trace import read_events
from emulator.trace_cli import diff_events
from emulator.trace_symbols import Symbolizer
from guest_kernel.harness import injection_specs, kernel_cmdline, kernel_image
from tests.golden import golden

MODEL, SCENARIO = "ithread", "ithread_block"

PAD = """# moves every address after boot.S (test only)
        .text
layout_pad_text:
        .rept 37
        nop
        .endr
        ret
        .data
layout_pad_data: .long 1, 2, 3
        .bss
layout_pad_bss: .space 52
"""


def _moved_kernel(tmp_path):
    """The MODEL kernel assembled with clock.S and com.S swapped and PAD after boot.S."""
    from guest_kernel import build as gk
    gk.layout.generate(gk.GEN)
    cfg = gk.Config(MODEL)
    names = [p.name if p.parent == gk.HERE else str(p.relative_to(gk.HERE))
             for p in gk.sources(cfg)]
    i, j = names.index("clock.S"), names.index("com.S")
    names[i], names[j] = names[j], names[i]
    pad = tmp_path / "pad.S"
    pad.write_text(PAD)
    paths = [str(gk.HERE / n) for n in names]
    paths.insert(1, str(pad))
    image = asm.assemble(paths, include_dirs=[str(gk.HERE)], defines=cfg.defines())
    elf = tmp_path / "kernel.elf"
    image.write(str(tmp_path / "kernel.bin"), elf=str(elf), sym=str(tmp_path / "kernel.sym.json"))
    return str(elf)


def _run(elf, trace):
    m = Machine.from_image(elf, append=kernel_cmdline(SCENARIO))
    m.symbols = image_symbols(elf)
    m.console = lambda data: None
    for spec in injection_specs(SCENARIO):
        m.inject(spec)
    session = attach(m, trace_path=trace)
    result = m.run(50_000_000)
    session.finish()
    return result.status, session.violations


def test_moving_functions_and_data_in_the_kernel_changes_no_golden(tmp_path):
    key = golden.key(MODEL, SCENARIO)
    index = golden.load_index()
    assert key in index, "no golden to compare with: make bless"
    moved = _moved_kernel(tmp_path)
    real = from_symfile(kernel_image(MODEL).replace(".elf", ".sym.json"))
    there = from_symfile(moved.replace(".elf", ".sym.json"))
    for name in ("intr_hard", "clock_intr", "com_intr", "td_lock", "cpu0", "lwp_table"):
        assert there.addr(name) != real.addr(name), f"{name} did not move"
    trace = str(tmp_path / "trace.jsonl")
    status, violations = _run(moved, trace)
    assert status == index[key]["status"] and violations == []
    same, text = diff_events(golden.golden_events(MODEL, SCENARIO),
                             golden.form_events(read_events(trace), index[key]["form"],
                                                Symbolizer.from_file(moved)),
                             names=(f"golden {key}", "moved kernel"))
    assert same, text

"""Layout-free addresses in traces (emulator/trace_symbols.py) and
``trace diff --symbolize``."""

import json

from asm.image import Symbol
from asm.symfile import SymbolTable
from emulator.trace import TraceWriter
from emulator.trace_cli import main
from emulator.trace_symbols import Symbolizer, symbolize_events

STACK = 0x1000


def table(shift=0):
    """A kernel-like image whose every label sits ``shift`` bytes further on."""
    labels = {"_start": 0x100020, "intr_hard": 0x100400, "td_lock": 0x102000,
              "cpu0": 0x102040, "boot_stack": 0x103000, "boot_stack_top": 0x103020,
              "lwp_stacks": 0x104000, "intr_stack": 0x104000 + 4 * STACK}
    consts = {"STACK_SIZE": STACK, "NLWP": 4, "INTRSTACK_SIZE": STACK}
    syms = [Symbol(n, v + shift, "label", "", 0) for n, v in labels.items()]
    syms += [Symbol(n, v, "const", "", 0) for n, v in consts.items()]
    return SymbolTable(syms)


def E(t, ev, **f):
    return dict({"t": t, "cpu": 0, "ev": ev}, **f)


def test_an_eip_becomes_the_nearest_label_below_plus_the_offset():
    s = Symbolizer(table())
    ev = s.event(E(5, "intr.enter", vector=37, line=5, eip=0x100412, owner="lwp 3"))
    assert ev == E(5, "intr.enter", vector=37, line=5, eip="intr_hard+0x12", owner="lwp 3")


def test_a_wait_channel_on_a_label_is_the_labels_name():
    s = Symbolizer(table())
    assert s.event(E(1, "lwp.sleep", lwp="lwp 0", wchan=0x102000))["wchan"] == "td_lock"
    assert s.event(E(1, "wchan.wakeup", wchan=0x10206c, by="x"))["wchan"] == "cpu0+0x2c"


def test_an_esp_is_its_owners_stack_and_the_distance_from_the_top():
    s = Symbolizer(table())
    top3 = 0x104000 + 4 * STACK
    ev = s.event(E(2, "stack.switch", to="lwp 3", esp=top3 - 0x14, eip=0x100400))
    assert ev["esp"] == "lwp 3 top-0x14" and ev["eip"] == "intr_hard"
    # an empty stack (ESP at its top) is that stack's, not the next one's
    assert s.stack(0x104000 + STACK) == "lwp_stacks[0] top-0x0"
    assert s.stack(0x103020, "boot") == "boot top-0x0"
    assert s.stack(0x104000 + 4 * STACK + 8) == "intr_stack top-0xff8"


def test_addresses_outside_the_image_and_small_numbers_stay_integers():
    s = Symbolizer(table())
    assert s.event(E(3, "cpu.start", eip=0x8000, vector=8))["eip"] == 0x8000
    assert s.event(E(3, "xcall.run", arg=8, by="ap cpu1", func="f"))["arg"] == 8
    assert s.address(0xFEE00000) == 0xFEE00000


def test_time_and_the_other_fields_are_kept_and_a_second_pass_changes_nothing():
    s = Symbolizer(table())
    evs = [E(7, "intr.exit", vector=32, line=0, eip=0x100401, owner="lwp 0", **{"if": 0}),
           E(9, "irq.raise", line=0)]
    once = list(symbolize_events(evs, s))
    assert once[0]["t"] == 7 and once[0]["if"] == 0 and list(once[0]) == list(evs[0])
    assert once[1] is evs[1]
    assert list(symbolize_events(once, s)) == once


def test_the_same_run_at_another_layout_symbolises_identically():
    a, b = Symbolizer(table()), Symbolizer(table(shift=0x230))
    ev = E(4, "stack.switch", to="lwp 1", esp=0x104000 + 2 * STACK - 0x20, eip=0x100405)
    moved = dict(ev, esp=ev["esp"] + 0x230, eip=ev["eip"] + 0x230)
    assert a.event(ev) == b.event(moved)
    assert a.event(ev) != b.event(ev)


def _symfile(path, shift):
    t = table(shift)
    path.write_text(json.dumps({"format": "irqlab-sym-1", "base": 0x100000, "entry": 0x100020,
                                "symbols": [dict(s._asdict()) for s in t.symbols.values()],
                                "lines": [], "sources": {}}))
    return str(path)


def _trace(path, events):
    with TraceWriter(str(path)) as w:
        for e in events:
            w.write(e)
    return str(path)


def test_trace_diff_symbolize_compares_two_layouts_of_one_run(tmp_path, capsys):
    ev = E(4, "intr.enter", vector=32, line=0, kind="irq", eip=0x100405, owner="lwp 0")
    a = _trace(tmp_path / "a.jsonl", [ev])
    b = _trace(tmp_path / "b.jsonl", [dict(ev, eip=0x100405 + 0x40)])
    sa, sb = _symfile(tmp_path / "a.sym.json", 0), _symfile(tmp_path / "b.sym.json", 0x40)
    assert main(["diff", a, b]) == 1
    assert main(["diff", a, b, "--symbolize", sa, "--symbolize", sb]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["diff", a, b, "--symbolize", sa]) == 1       # one image for both: eips differ
    out = capsys.readouterr().out
    assert "eip=intr_hard+0x5 " in out and "eip=intr_hard+0x45 " in out


def test_trace_diff_symbolize_with_a_bad_symbol_file_is_a_one_line_error(tmp_path, capsys):
    a = _trace(tmp_path / "a.jsonl", [E(1, "irq.raise", line=0)])
    bad = tmp_path / "bad.sym.json"
    bad.write_text("{}")
    assert main(["diff", a, a, "--symbolize", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trace: ") and "bad.sym.json" in err and len(err.splitlines()) == 1
    assert main(["diff", a, a, "--symbolize", str(tmp_path / "none.sym.json")]) == 2
    assert "cannot read symbols" in capsys.readouterr().err
    assert main(["diff", a, a] + ["--symbolize", str(bad)] * 3) == 2

"""``python -m emulator explore`` and ``python -m guest_kernel explore``:
one-line errors with status 2, the report on stdout, --json, exit 0 / 120."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import asm
from emulator.explore import cli
from tests import guests

# 0x30 gates to a handler counting into `count`; the master PIC with only
# IRQ 5 unmasked; `main` takes interrupts for four instructions (two nops,
# `window`'s two nops), then exits with the count
GUEST = (guests.start() + guests.idt_gates(0x30) + guests.pic_init(0xdf)
         + "main:\n" + guests.lines("sti", "nop", "nop")
         + "window:\n" + guests.lines("nop", "nop", "cli", "mov al, [count]", "out 0xf4, al", "hlt")
         + guests.counting_handler() + guests.idt_data(0x30, counter=True))


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """A guest that exits with the number of IRQ 5s it took: any branch
    makes it exit 1 (a guest finding), the base run exits 0."""
    out = tmp_path_factory.mktemp("explore") / "guest.bin"
    asm.assemble_text(GUEST, entry="start").write(str(out), sym=str(out.with_suffix(".sym.json")))
    return str(out)


def run(argv, capsys):
    status = cli.main(argv)
    got = capsys.readouterr()
    return status, got.out, got.err


def test_every_branch_of_a_guest_that_counts_its_interrupts_fails(image, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = run([image, "--irq", "5", "-j", "1", "--json", str(out_json)], capsys)
    assert status == 120, err
    lines = out.splitlines()
    assert lines[0] == "violation 1: guest: the guest exited with status 1"
    assert lines[-1] == "explore: 4 points, 4 branches, 1 distinct violations"
    assert f"reproduce: python -m emulator run {image} --inject irq=5,at=" in out
    report = json.loads(out_json.read_text())
    assert (report["points"], report["branches"]) == (4, 4)
    assert report["violations"][0]["objects"] == {"status": 1}
    assert report["violations"][0]["points"] == 4


def test_a_line_that_is_never_open_has_no_points_and_exits_0(image, capsys):
    status, out, _ = run([image, "--irq", "3", "-j", "1"], capsys)
    assert (status, out) == (0, "explore: 0 points, 0 branches, 0 distinct violations\n")


def test_between_a_symbol_and_the_next_label_is_that_codes_points(image, capsys):
    status, out, _ = run([image, "--irq", "5", "-j", "1", "--between", "window"], capsys)
    assert status == 120
    assert out.splitlines()[-1] == "explore: 3 points, 3 branches, 1 distinct violations"


@pytest.mark.parametrize("argv, says", [
    (["--irq", "16"], "--irq must be 0-15"),
    (["--key", "0x100"], "--key must be a byte, 0-255"),
    (["--irq", "5", "--every", "0"], "--every must be at least 1"),
    (["--irq", "5", "--between", "nowhere"], "unknown symbol 'nowhere'"),
    (["--irq", "5", "--window", "12"], "--window wants T0:T1"),
    (["--irq", "5", "--scheduler", "ray://x:1"], "expected tcp://HOST:PORT"),
])
def test_bad_options_are_one_line_and_status_2(image, capsys, argv, says):
    status, out, err = run([image] + argv + ["-j", "1"], capsys)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and says in err, err


def test_one_line_at_a_time_is_explored(image, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([image, "--key", "0x1c", "--irq", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "not allowed with" in err


def test_a_missing_image_is_one_line_and_status_2(tmp_path, capsys):
    status, _, err = run([str(tmp_path / "none.bin"), "--irq", "5"], capsys)
    assert status == 2 and len(err.splitlines()) == 1 and "cannot read" in err


def test_explore_needs_a_line(image, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([image])
    assert e.value.code == 2


def test_guest_kernel_run_adds_its_inject_after_the_scenarios_own():
    import argparse
    from guest_kernel.__main__ import _emulator_cmd
    a = argparse.Namespace(scenario="nested", cpus=1, trace=None, max_instructions=None,
                           inject=["irq=0,at=99"])
    cmd = _emulator_cmd("run", a, Path("k.elf"))
    specs = [cmd[i + 1] for i, x in enumerate(cmd) if x == "--inject"]
    assert specs[-1] == "irq=0,at=99" and len(specs) > 1


def test_guest_kernel_explore_reproduces_with_the_same_configuration():
    # --driver and the base run's --inject go into the reproduce command
    from guest_kernel.explore import _parser, reproduce_prefix
    a = _parser().parse_args(["--model", "classic", "--driver", "kbd=threaded",
                              "--scenario", "biglock", "--inject", "irq=4,at=9", "--key", "28"])
    assert " ".join(reproduce_prefix(a)) == (
        "python -m guest_kernel run --model classic --driver kbd=threaded "
        "--scenario biglock --inject irq=4,at=9")


def test_depth_2_adds_a_second_interrupt_at_each_later_point_and_reproduces_it(image, capsys):
    from emulator.machine import Machine
    status, out, _ = run([image, "--irq", "5", "-j", "2", "--depth", "2"], capsys)
    assert status == 120
    # 4 points; after a first at the k-th, the branch has 4 - k + 1 points
    # left (the interrupted instruction runs again): 4 + 3 + 2 + 1 pairs
    assert out.splitlines()[-1] == "explore: 4 points, 14 branches, 2 distinct violations"
    pair = [ln for ln in out.splitlines() if "reproduce:" in ln and ln.count("--inject") == 2][0]
    specs = [w for w in pair.split() if w.startswith("irq=5,at=")]
    m = Machine.from_image(image, mem_mib=2)
    m.console = lambda data: None
    for spec in specs:
        m.inject(spec)
    assert m.run(100_000).status == 2            # both taken: the guest counts two

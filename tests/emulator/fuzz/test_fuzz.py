"""emulator/fuzz: generation is a function of the seed, every op stands
alone, the shrinker finds a minimal diverging program, a device bug planted
in irqlab is found, shrunk and written out as a probe, and the command line
keeps its contract."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asm
from emulator.devices import fw_cfg
from emulator.fuzz import cli, compare, gen, runtime, shrink
from emulator.fuzz.gen import Program

ROOT = Path(__file__).resolve().parents[3]


def test_a_program_is_a_pure_function_of_its_seed():
    assert gen.generate(123) == gen.generate(123)
    assert gen.generate(123).ops != gen.generate(123 + len(gen.FAMILIES)).ops


def test_seeds_cycle_through_every_family():
    assert [gen.generate(s).family for s in range(len(gen.FAMILIES))] == list(gen.FAMILIES)
    assert all(gen.generate(s).ncpus > 1 for s in range(200)
               if gen.generate(s).family == "smp")


@pytest.mark.parametrize("family", gen.FAMILIES)
def test_any_subset_of_a_programs_ops_assembles(family):
    seed = gen.FAMILIES.index(family)
    p = gen.generate(seed)
    odd = Program(p.seed, p.family, p.ncpus, p.ops[::2])       # every other op: still valid
    image = asm.assemble_text(runtime.source(odd.ops, odd.ncpus)).flat()
    assert b"\x02\xb0\xad\x1b" in image[:8192]                 # a Multiboot image


def test_shrink_keeps_exactly_the_ops_the_divergence_needs():
    program = Program(7, "pic", 1, [f"op{i}" for i in range(40)])

    def diverges(p):                  # a stand-in for both machines: needs op3 and op31
        return "op3" in p.ops and "op31" in p.ops
    assert shrink.shrink(program, diverges).ops == ["op3", "op31"]


def test_shrink_never_returns_an_empty_program():
    program = Program(1, "pit", 1, ["a", "b", "c"])
    assert shrink.shrink(program, lambda p: True).ops in (["a"], ["b"], ["c"])


@pytest.fixture
def qemu():
    from tests.qemu import require_qemu
    return require_qemu()


def fw_id_ops():
    """A short fw_cfg program whose ops include a read of item 1 (the ID)."""
    o = gen.Ops(__import__("random").Random(0))
    o.add("mov dx, 0x510", "mov ax, 0", "out dx, ax", "mov dx, 0x511", "in al, dx",
          "call puthex2", "call newline")
    o.add("mov dx, 0x510", "mov ax, 1", "out dx, ax", "mov dx, 0x511", "in al, dx",
          "call puthex2", "call newline")
    o.add("mov dx, 0x510", "mov ax, 5", "out dx, ax", "mov dx, 0x511", "in al, dx",
          "call puthex2", "call newline")
    o.window(100)
    return o.ops


def test_a_bug_planted_in_irqlabs_fw_cfg_is_found_shrunk_and_written_as_a_probe(
        qemu, monkeypatch, tmp_path):
    program = Program(99, "fw_cfg", 1, fw_id_ops())
    assert compare.check(program, qemu).same                   # the real device agrees
    monkeypatch.setattr(fw_cfg, "ID_DMA", 0)                   # the bug: DMA not announced
    verdict = compare.check(program, qemu)
    assert not verdict.same and verdict.difference() == "line 2: irqlab '01', QEMU '03'"
    small = shrink.shrink(program, lambda p: not compare.check(p, qemu).same)
    assert small.ops == [program.ops[1]]                       # only the read of item 1
    path = shrink.write_probe(compare.check(small, qemu), small, tmp_path, compare.source(small))
    text = path.read_text()
    assert path.name == "fuzz-99-fw_cfg.S" and "# Where they part: line 1: irqlab '01'" in text
    asm.assemble([path])                                       # the probe builds as it is


# the CI slice: these seeds (every family) agree on irqlab and QEMU; `make
# fuzz` and README give the big run
SLICE = range(0, int(os.environ.get("IRQLAB_FUZZ_SLICE", "96")))
CHUNKS = [SLICE[i:i + 12] for i in range(0, len(SLICE), 12)]


@pytest.mark.parametrize("seeds", CHUNKS, ids=[f"{c.start}-{c.stop}" for c in CHUNKS])
def test_random_programs_print_the_same_on_irqlab_and_qemu(seeds, qemu):
    diverged = [f"seed {s} ({v.family}): {v.difference()}"
                for s in seeds for v in [compare.check(gen.generate(s), qemu)] if not v.same]
    assert not diverged, "\n".join(diverged)


def test_fuzz_command_reports_each_program_and_exits_0_when_all_agree(qemu):
    proc = subprocess.run([sys.executable, "-m", "emulator", "fuzz", "--seeds", "6:8", "-j", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["fuzz: 2 programs (seeds 6:8), 0 divergences",
                                             "families: hpet 1, pm 1"]


@pytest.mark.parametrize("argv,message", [(["--seeds", "5"], "--seeds wants A:B"),
                                          (["--seeds", "9:3"], "0 <= A < B"),
                                          (["-j", "0"], "-j wants a positive number")])
def test_fuzz_command_refuses_bad_arguments_in_one_line_with_status_2(argv, message):
    proc = subprocess.run([sys.executable, "-m", "emulator", "fuzz", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("irqlab fuzz: ")


def test_fuzz_list_names_each_seeds_family_without_running_anything():
    out = subprocess.run([sys.executable, "-m", "emulator", "fuzz", "--seeds", "10:12", "--list"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    assert re.fullmatch(r"10 smp cpus=[234] ops=\d+\n11 mixed cpus=1 ops=\d+\n", out)


def test_no_program_writes_the_high_dword_of_a_periodic_hpet_timers_period():
    # QEMU 7.2 takes a comparator-high write to a periodic timer without
    # VAL_SET as the period's high dword; a 32-bit timer whose period's low
    # dword is 0 then hangs QEMU's hpet_timer loop (seeds 335 and 390 did):
    # a nonzero high dword is written only right after VAL_SET, in the same op
    write = re.compile(r"mov dword ptr \[HPET \+ 0x1([024])c\], (0x[0-9a-f]+)")
    checked = 0
    for seed in range(gen.FAMILIES.index("hpet"), 4000, len(gen.FAMILIES)):   # hpet's seeds
        for op in gen.generate(seed).ops:
            for m in write.finditer(op):
                if int(m.group(2), 16):
                    base = 0x100 + 0x10 * int(m.group(1))
                    assert f"or dword ptr [HPET + {base:#x}], 0x40" in op[:m.start()], op
                    checked += 1
    assert checked > 50                                       # the rule was exercised


def test_a_qemu_that_does_not_finish_is_reported_apart_not_as_a_divergence(monkeypatch, capsys):
    monkeypatch.setattr(compare, "qemu_path", lambda: "qemu-system-i386")
    monkeypatch.setattr(compare, "on_qemu", lambda image, ncpus, qemu=None:
                        compare.Outcome("log:\n", "timeout"))
    status = cli.main(["--seeds", "6:7", "-j", "1"])
    out = capsys.readouterr().out.splitlines()
    assert status == 3
    assert out[0].startswith("seed 6 (hpet, 1 cpu): QEMU hung (no end within 60 s of host time")
    assert out[1] == "fuzz: 1 programs (seeds 6:7), 0 divergences, 1 QEMU hangs"


@pytest.mark.parametrize("seed", [0, 10, 11])           # pic; smp (several CPUs); mixed
def test_the_fast_image_runs_like_the_one_text_program(seed):
    # the runtime assembled once and the ops on their own, joined: the same
    # console, COM1 and end as the whole program assembled as one text
    p = gen.generate(seed)
    whole = asm.assemble_text(runtime.source(p.ops, p.ncpus)).flat()
    fast = runtime.image(p.ops, p.ncpus)
    assert fast != whole
    assert compare.on_irqlab(fast, p.ncpus) == compare.on_irqlab(whole, p.ncpus)


def ring3_ops(*user):
    """One op: ``user`` (lines) run in ring 3 with IOPL 0, then back to ring 0."""
    return ["\n".join("        " + ln for ln in (
        "mov dword ptr [user_fn], u1", "mov edx, 0x2", "call to_user", "jmp u1_end", "u1:",
        "mov dword ptr [resume], r1", *user, "r1:", "int 0xfe", "u1_end:",
        "mov dword ptr [resume], 0")), "        call flush"]


@pytest.mark.parametrize("insn,logged", [
    ("into", "0d/00000022/0"),        # SDM vol. 2A INTO: gate DPL < CPL is #GP(4*8+2)
    ("int3", "0d/0000001a/0"),        # the same for int3: #GP(3*8+2)
    ("ud2", "06/00000000/0")])        # an exception has no DPL check
def test_ring_3_soft_interrupts_through_a_dpl_0_gate_are_gp(insn, logged):
    # found by the ring family: irqlab let a ring-3 `into` through (it did
    # not see it as a software interrupt: into does not end a block)
    lines = ["mov eax, 0x7f", "add al, 1", insn] if insn == "into" else [insn]
    out = compare.on_irqlab(runtime.image(ring3_ops(*lines)), 1)
    assert out.end == "exit 0" and out.console.splitlines()[0] == f"log: {logged}"


def test_a_ring_3_out_at_iopl_0_without_an_io_bitmap_is_gp_0_and_prints_nothing():
    # SDM vol. 1 19.5: CPL 3 > IOPL 0 and TSS_MAIN's limit ends before its
    # bitmap (io_limit 0x67), so the console write is refused
    out = compare.on_irqlab(runtime.image(ring3_ops("mov al, 0x75", "out 0xe9, al")), 1)
    assert out.end == "exit 0" and out.console.splitlines()[0] == "log: 0d/00000000/0"


def seeds_of(family, n):
    return range(gen.FAMILIES.index(family), n * len(gen.FAMILIES), len(gen.FAMILIES))


def test_the_cpu_families_reach_what_they_are_for():
    # not vacuous: paging programs take #PFs with their error codes, ring
    # programs run in ring 3 (CS 0x33, SS 0x3b), task programs switch tasks
    # (NT set in the new task, the back link to the main TSS)
    logs = {f: "".join(compare.on_irqlab(compare.build(gen.generate(s)), 1).console
                       for s in seeds_of(f, 4)) for f in ("paging", "ring", "task")}
    # ring 0: not present read/fetch (0) and write (2), a write under CR0.WP (3)
    assert {"00", "02", "03"} <= set(re.findall(r"0e/000000(0[0-7])", logs["paging"]))
    assert "cs_ss 003b0033" in logs["ring"] and re.search(r"0d/000000[0-9a-f]{2}/", logs["ring"])
    assert re.search(r"^(tg [0-9a-f]{8}|call) 00004000 00400048|^call 00004000 00400050",
                     logs["task"], re.M)

"""Interrupt models per driver (guest_kernel/catalog.py DRIVERS, build.py, intr.S).

Every scenario under every model (classic, ithread, threaded, hybrid) with
--intr-stack separate and --softint fast passes on one irqlab CPU with zero
checker violations and prints the same on qemu-system-i386 (storm: irqlab
only); kernels whose drivers run under different models pass every
scenario the same way; ``--driver`` is parsed, refused and named as its
contract says; ``work.done`` closes each interrupt's work after its bottom
half in every model; the hybrid model runs the top half in a borrowing
interrupt thread and the bottom half in a soft interrupt.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from emulator import machine as machine_mod
from emulator.loader import image_symbols
from emulator.observe import attach
from guest_kernel.build import BuildError, Config, parse_drivers
from guest_kernel.catalog import MODELS, QEMU_SCENARIOS, injection_specs, kernel_cmdline, \
    scenarios_for
from tests.qemu import run_qemu

SCENARIOS = scenarios_for(1)
IRQLAB_ONLY = tuple(s for s in SCENARIOS if s not in QEMU_SCENARIOS)   # storm: its packets
MIXED = {   # the mixed kernel, and one where every threadable driver differs
    "testdev-hybrid": dict(model="ithread", drivers=("testdev=hybrid,mpsafe", "com=classic")),
    "kbd-ithread-biglock": dict(model="classic", drivers=("kbd=ithread,biglock",
                                                          "testdev=threaded")),
}


def run_checked(elf, scenario, trace=None):
    """(console, exit status, summary line) of a checked run on one CPU."""
    m = machine_mod.Machine.from_image(elf, append=kernel_cmdline(scenario))
    m.symbols = image_symbols(elf)
    out = []
    m.console = out.append
    for spec in injection_specs(scenario):
        m.inject(spec)
    session = attach(m, trace_path=trace, report=io.StringIO())
    r = m.run(max_instructions=100_000_000)
    _, line = session.finish()
    status = session.exit_status(r.status if r.status is not None else 130)
    return b"".join(out).decode("latin-1"), status, line


def _passes_here_and_on_qemu(elf, scenario):
    console, status, line = run_checked(elf, scenario)
    assert f"PASS {scenario}\n" in console, console
    assert (status, line) == (0, "checks: 13 rules, 0 violations")
    if scenario not in IRQLAB_ONLY:
        q = run_qemu(elf, append=kernel_cmdline(scenario))
        assert (q.console, q.status) == (console, 0)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("model", MODELS)
def test_every_scenario_passes_checked_with_a_separate_stack_and_fast_softints(
        kernel, model, scenario):
    _passes_here_and_on_qemu(kernel(model, intr_stack="separate", softint="fast"), scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("mix", sorted(MIXED))
def test_a_kernel_with_drivers_under_different_models_passes_every_scenario(
        kernel, mix, scenario):
    _passes_here_and_on_qemu(kernel(**MIXED[mix]), scenario)


def test_the_banner_names_the_drivers_built_otherwise(kernel):
    console, status, _ = run_checked(kernel(**MIXED["kbd-ithread-biglock"]), "hello")
    assert console.startswith("irqlab kernel, model classic, drivers kbd=ithread,biglock "
                              "testdev=threaded, scenario hello\n")
    console, _, _ = run_checked(kernel("hybrid"), "hello")
    assert console.startswith("irqlab kernel, model hybrid, scenario hello\n")


# ----------------------------------------------------------- --driver's contract
def test_driver_specs_parse_into_name_model_and_mpsafe():
    assert parse_drivers(["kbd=hybrid", "testdev=classic,biglock", "com=classic,mpsafe"]) == (
        ("kbd", "hybrid", True), ("testdev", "classic", False), ("com", "classic", True))


@pytest.mark.parametrize("spec", ["kbd", "kbd=", "kbd=hybrid,fast", "=hybrid", "kbd=a,b,c"])
def test_a_malformed_driver_spec_is_one_clear_error(spec):
    with pytest.raises(BuildError, match="expected NAME=MODEL"):
        parse_drivers([spec])


def test_unknown_drivers_models_and_threads_above_ipl_vm_are_refused():
    with pytest.raises(BuildError, match="unknown driver 'disk'"):
        Config("ithread", drivers=parse_drivers(["disk=classic"]))
    with pytest.raises(BuildError, match="unknown model 'polled' for driver kbd"):
        Config("ithread", drivers=parse_drivers(["kbd=polled"]))
    with pytest.raises(BuildError, match="com interrupts at IPL_HIGH, above IPL_VM"):
        Config("ithread", drivers=parse_drivers(["com=ithread"]))
    with pytest.raises(BuildError, match="given twice"):
        parse_drivers(["kbd=hybrid", "kbd=classic"])


def test_a_configuration_takes_driver_strings_as_the_command_line_gives_them():
    assert Config("ithread", drivers=("testdev=hybrid,mpsafe", "com=classic")) == \
        Config("ithread", drivers=parse_drivers(["testdev=hybrid,mpsafe"]))
    with pytest.raises(BuildError, match="given twice"):
        Config("ithread", drivers=("kbd=hybrid", ("kbd", "classic", True)))


def test_a_configuration_is_named_by_the_drivers_that_differ_from_its_model():
    cfg = Config("ithread", drivers=parse_drivers(["testdev=hybrid,mpsafe", "com=classic",
                                                   "kbd=ithread"]))
    assert cfg.name == "ithread-testdev-hybrid"
    assert cfg.setting("com") == ("classic", True) and cfg.setting("kbd") == ("ithread", True)
    d = cfg.defines()
    assert (d["TESTDEV_MODEL"], d["TESTDEV_NOTE"], d["KBD_NOTE"], d["CLOCK_MODEL"]) == (3, 1, 0, 0)
    assert Config("threaded", drivers=parse_drivers(["kbd=classic,biglock"])).name == \
        "threaded-kbd-classic-biglock"


def test_the_run_command_refuses_a_thread_for_com_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "guest_kernel", "run", "--driver", "com=hybrid",
                        "--build-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: driver com interrupts at IPL_HIGH") and \
        len(r.stderr.splitlines()) == 1


# ------------------------------------------------------------------ work.done
def _events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("model", MODELS)
def test_work_done_follows_each_keyboard_interrupts_bottom_half_in_every_model(
        kernel, model, tmp_path):
    trace = str(tmp_path / "t.jsonl")
    run_checked(kernel(model), "ithread_block", trace)
    evs = _events(trace)
    done = [i for i, e in enumerate(evs) if e["ev"] == "work.done" and e["line"] == 1]
    releases = [i for i, e in enumerate(evs)
                if e["ev"] == "lock.release" and e["lock"] == "kbd_lock"
                and not e["by"].startswith("lwp ")]          # the bottom half's, not holder's
    assert len(done) == len(releases) == 2
    assert all(r < d for r, d in zip(releases, done))
    by = {evs[i]["by"] for i in done}
    assert {evs[i]["driver"] for i in done} == {"kbd"}
    assert by == {evs[r]["by"] for r in releases}            # the LWP that ran the bottom half
    # the clock has no bottom half: its work is done when its handler returns
    assert any(e["ev"] == "work.done" and e["line"] == 0 and e["driver"] == "clock" for e in evs)


def test_hybrid_runs_the_top_half_in_an_interrupt_thread_and_the_rest_in_a_soft_interrupt(
        kernel, tmp_path):
    trace = str(tmp_path / "t.jsonl")
    run_checked(kernel("hybrid"), "ithread_block", trace)
    evs = _events(trace)
    enter = [e for e in evs if e["ev"] == "handler.enter" and e["line"] == 1]
    assert [e["path"] for e in enter] == ["ithread", "ithread"]
    pins = [e for e in evs if e["ev"] == "lwp.pin"]
    assert pins and all(e["by"].startswith("ithread ") for e in pins)
    # the top half hands on and never waits for the lock: only the soft interrupt blocks
    assert not [e for e in evs if e["ev"] == "ithread.block"]
    scheduled = [e for e in evs if e["ev"] == "softint.schedule" and e["softint"] == "kbd-soft"]
    assert len(scheduled) == 2 and all(e["by"] == pins[0]["by"] for e in scheduled)
    blocks = [e for e in evs if e["ev"] == "lock.block" and e["lock"] == "kbd_lock"]
    assert blocks and all(e["by"].startswith("softint ") for e in blocks)

"""The kernel on qemu-system-i386: every scenario that needs no injected
packets passes under every model, and every --bug kernel boots and finishes."""

from __future__ import annotations

import pytest

from guest_kernel.bugs import BUGS
from guest_kernel.catalog import MODELS, QEMU_SCENARIOS, SMP_SCENARIOS
from tests.qemu import run_qemu

UP_SCENARIOS = tuple(s for s in QEMU_SCENARIOS if s not in SMP_SCENARIOS)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", UP_SCENARIOS)
def test_scenario_passes_on_qemu(kernel, model, scenario):
    r = run_qemu(kernel(model), append=f"scenario={scenario}")
    assert f"PASS {scenario}\n" in r.console, r.console
    assert r.status == 0


@pytest.mark.parametrize("options", [dict(intr_stack="separate"), dict(softint="fast"),
                                     dict(intr_stack="separate", softint="fast")],
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("model", MODELS)
def test_options_pass_ithread_block_on_qemu(kernel, model, options):
    r = run_qemu(kernel(model, **options), append="scenario=ithread_block")
    assert "PASS ithread_block\n" in r.console, r.console


def test_hello_prints_banner_ticks_and_pass(kernel):
    r = run_qemu(kernel("ithread"), append="scenario=hello")
    assert r.console == ("irqlab kernel, model ithread, scenario hello\n"
                         "hello: three clock ticks\ntick 1\ntick 2\ntick 3\nPASS hello\n")


def test_an_unknown_scenario_fails_with_status_1(kernel):
    r = run_qemu(kernel("classic"), append="scenario=nope")
    assert "FAIL nope: no such scenario" in r.console
    assert r.status == 1


def test_the_console_falls_back_to_com1_without_a_debug_console(kernel):
    r = run_qemu(kernel("threaded"), append="scenario=hello", serial_stdio=True)
    assert "PASS hello" in r.console


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_bug_kernel_boots_and_finishes_its_scenario(kernel, bug):
    spec = BUGS[bug]
    r = run_qemu(kernel(spec.model, bug=bug), append=f"scenario={spec.scenario}")
    assert f"PASS {spec.scenario}" in r.console, r.console

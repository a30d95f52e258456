"""Priority lending (guest_kernel/turnstile.S, scen_lending.S): a priority
lent down a chain of blocked owners reaches the last one, and a release
keeps the highest priority the owner's other mutexes still lend."""

from __future__ import annotations

import pytest

from tests.guest_kernel.test_models import MODELS, run_checked

CHAIN = "lending: done in the order low mid high hog (low woke at priority 5)\n"
KEPT = "lending: the owner's priority after each release: 4, then 2\n"


@pytest.mark.parametrize("model", MODELS)
def test_a_chain_of_owners_runs_at_the_waiters_priority_and_a_release_keeps_what_is_lent(
        kernel, model):
    console, status, line = run_checked(kernel(model), "lending")
    assert CHAIN in console and KEPT in console, console
    assert (status, line) == (0, "checks: 13 rules, 0 violations")

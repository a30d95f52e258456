"""The planted bugs: each BUG_ flag in the sources is in BUGS, and each bug
changes the image of its model (the correct build never carries it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guest_kernel.bugs import BUGS

SOURCES = Path(__file__).resolve().parents[2] / "guest_kernel"


def _flags_in_sources() -> set:
    flags = set()
    for src in SOURCES.glob("*.S"):
        flags |= set(re.findall(r"\bBUG_[A-Z0-9_]+\b", src.read_text()))
    return flags


def test_every_bug_flag_in_the_sources_is_a_planted_bug_and_every_bug_has_one():
    assert _flags_in_sources() == {"BUG_" + name.upper() for name in BUGS}


@pytest.mark.parametrize("name", sorted(BUGS))
def test_a_bug_kernel_differs_from_the_correct_kernel_of_its_model(kernel, name):
    model = BUGS[name].model
    good = Path(kernel(model)).with_name("kernel.bin").read_bytes()
    bad = Path(kernel(model, bug=name)).with_name("kernel.bin").read_bytes()
    assert bad != good

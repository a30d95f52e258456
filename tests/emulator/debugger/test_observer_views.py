"""The views that come from the observer: trace tail, checks, stacks, catch."""

import io
import pathlib

from emulator.debugger.control import Debugger
from emulator.observe import attach
from tests.emulator.debugger.conftest import build_loop, drive

NESTED = (pathlib.Path(__file__).parent / "nested.S").read_text()


def observed(tmp_path):
    d0, p = build_loop(tmp_path, text=NESTED, name="nested")
    s = attach(d0.m, report=io.StringIO())
    return Debugger(d0.m, session=s, max_run=200_000), p


def test_trace_tail_shows_the_interrupts_taken(tmp_path):
    d, _p = observed(tmp_path)
    out = drive(d, "b deep\nc\ntrace tail 5\nchecks\n")
    assert "intr.enter vector=37" in out and "intr.enter vector=38" in out
    assert "no violations so far" in out


def test_thread_and_lock_views_say_what_they_need_on_a_non_kernel_image(tmp_path):
    d, _p = observed(tmp_path)
    out = drive(d, "info threads\ninfo locks\ncatch switch\ncatch violation\n")
    assert out.count("needs the observer's kernel model") == 2
    assert "Catchpoint 1 (switch)" in out and "Catchpoint 2 (violation)" in out


def test_without_the_observer_its_views_say_so_in_one_line(tmp_path):
    d, _p = build_loop(tmp_path, text=NESTED, name="nested")
    out = drive(d, "info threads\ninfo locks\ninfo stacks\ntrace tail\nchecks\n")
    assert out.count("needs the observer") == 4 and "checks need the observer" in out

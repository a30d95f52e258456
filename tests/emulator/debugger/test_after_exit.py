"""After the guest has exited nothing runs forward (as gdb: the program is
not running; on several CPUs the APs would otherwise spin on until Ctrl-C),
going back still works, and running forward again ends at the same exit."""

from tests.emulator.debugger.conftest import build_loop, drive

EXITS = """\
_start:
        mov esp, 0x90000
        mov ecx, 40
again:
        dec ecx
        jnz again
        mov al, 3
        out 0xf4, al          # isa-debug-exit, value 3
spin:
        jmp spin
"""


def test_forward_commands_after_the_exit_are_refused_and_run_nothing(tmp_path):
    d, _p = build_loop(tmp_path, text=EXITS, name="exits")
    out = drive(d, "c\n")
    assert "The guest exited with status 3." in out
    end = d.t.now
    for cmd in ("c", "si", "ni", "run-for 100", "until again"):
        out = drive(d, cmd + "\n")
        assert "The guest has exited (status 3)" in out, cmd
        assert d.t.now == end, cmd


def test_going_back_after_the_exit_then_forward_exits_again_at_the_same_time(tmp_path):
    d, _p = build_loop(tmp_path, text=EXITS, name="exits")
    drive(d, "c\n")
    end = d.t.now
    drive(d, "rsi 10\n")
    assert d.t.now == end - 10
    out = drive(d, "si 3\n")
    assert d.t.now == end - 7 and "exited" not in out
    out = drive(d, "c\n")
    assert "The guest exited with status 3." in out and d.t.now == end


def test_a_hand_change_before_the_exit_starts_a_history_that_runs_again(tmp_path):
    d, p = build_loop(tmp_path, text=EXITS, name="exits")
    drive(d, "c\n")
    end = d.t.now
    drive(d, "rsi 20\n")
    drive(d, "set $ecx = 50\n")                # the loop now runs 50 more times
    out = drive(d, "c\n")
    assert "The guest exited with status 3." in out
    assert d.t.now > end

"""Scripted REPL sessions through stdin, one command group at a time."""

import hashlib

from emulator.debugger.repl import COMMANDS, Repl
from tests.emulator.debugger.conftest import LOOP, build_loop, drive


def state(d):
    regs = {n: d.t.reg(n) for n in ("eax", "ebx", "ecx", "edx", "esi", "edi", "esp", "ebp",
                                     "eip", "eflags")}
    mem = hashlib.sha256(d.t.mem_read(0x100000, 0x10000)).hexdigest()
    devs = {n: getattr(dev, "describe", lambda: "")() for n, dev in d.t.devices.items()}
    return regs, mem, devs, d.t.now


def test_execution_commands_stepi_nexti_finish_until_run_for(tmp_path):
    d, p = build_loop(tmp_path)
    out = drive(d, "si 2\nni\n")
    assert d.pc == p["again"] + 5                         # over the call to bump
    assert "=> 0x" in out and "inc ecx" in out
    drive(d, "si 2\nsi\nsi\n")                          # cmp, jne, call -> in bump
    assert d.pc == p["bump"]
    out = drive(d, "finish\n")
    assert "Run till exit from bump" in out and d.pc == p["again"] + 5
    drive(d, "until done\n")
    assert d.pc != p["done"]                            # bounded by max_run first
    t = d.t.now
    drive(d, "run-for 100\n")
    assert d.t.now == t + 100
    drive(d, "si 3\n\n\n")                              # empty lines repeat si 3
    assert d.t.now == t + 109


def test_every_stop_shows_symbol_file_line_source_and_next_instruction(tmp_path):
    d, _p = build_loop(tmp_path)
    out = drive(d, "b bump\nc\n")
    stop = out[out.index("Breakpoint 1, bump"):]
    assert "bump (" in stop and "loop.S:14)" in stop
    assert "14\t        mov eax, [counter]" in stop
    assert "=> 0x" in stop and "<bump>: mov eax, dword ptr [" in stop


def test_breakpoints_conditions_tbreak_disable_enable_delete(tmp_path):
    d, p = build_loop(tmp_path)
    out = drive(d, "b bump if $ecx == 3\nc\np $ecx\ntbreak again\nc\ninfo breakpoints\n"
                   "disable 1\nc 1\ninfo b\nenable\ndelete 1\ninfo b\n")
    assert "Breakpoint 1, bump" in out
    assert "3 (0x3)" in out
    assert "Temporary breakpoint 2, again" in out
    assert "stop only if $ecx == 3" in out
    assert "No breakpoints or watchpoints." in out


def test_watch_stops_on_a_write_and_catch_lists(tmp_path):
    d, p = build_loop(tmp_path)
    out = drive(d, "watch counter\nc\nx/dw counter\ncatch irq 5\ncatch irq\ninfo b\n")
    assert "Hardware watchpoint 1: " in out and "(counter): wrote 0x2 (4 bytes" in out
    assert d.pc == p["bump"] + 0xd                  # just after the writing instruction
    assert "catchpoint      keep y              irq 5" in out


def test_reverse_stepi_lands_on_exactly_the_earlier_state(tmp_path):
    d, _p = build_loop(tmp_path, every=500)
    drive(d, "si 1234\n")
    before = state(d)
    drive(d, "si 2500\nrsi 2500\n")
    assert state(d) == before
    drive(d, "rsi\nsi\n")
    assert state(d) == before


def test_reverse_continue_goes_back_to_the_previous_breakpoint_hit(tmp_path):
    d, p = build_loop(tmp_path, every=300)
    drive(d, "si 2000\n")
    out = drive(d, "b bump\nrc\np $ecx\n")
    assert "(reverse)" in out and d.pc == p["bump"]
    ecx = d.reg("ecx")
    drive(d, "rc\n")
    assert d.pc == p["bump"] and d.reg("ecx") == ecx - 1


def test_history_forks_where_the_user_changes_the_machine(tmp_path):
    d, p = build_loop(tmp_path, every=300)
    drive(d, "si 1000\nset var counter = 77\nset $ebx = 5\nsi 100\nrsi 100\n")
    assert d.reg("ebx") == 5
    assert int.from_bytes(d.t.mem_read(p["counter"], 4), "little") == 77


def test_looking_commands(tmp_path):
    d, p = build_loop(tmp_path)
    out = drive(d, "b bump\nc\ninfo registers\nregs eip\nx/4xw counter\nx/2i $pc\nx/3xb bump\n"
                   "disassemble bump 3\nlist\nlist loop.S:5\nbt\ntime\ninfo cpus\ninfo idt\n"
                   "info threads\np bump+4\n")
    assert "eax     " in out and "eflags  " in out
    assert f"{p['counter']:#010x} <counter>:" in out
    assert "<bump+0x5>: add eax, 2" in out
    assert "loop.S:14\tmov eax, [counter]" in out
    assert "=>   14\t        mov eax, [counter]" in out
    assert "=>    5\t        call bump" in out
    assert "#0  " in out and "in bump at" in out and "#1 " in out
    assert "t = " in out and "instructions" in out
    assert "* cpu 0" in out
    assert f"{p['bump'] + 4} ({p['bump'] + 4:#x}) <bump+0x4>" in out


def test_source_runs_a_file_of_commands_and_help_lists_every_command(tmp_path):
    d, p = build_loop(tmp_path)
    script = tmp_path / "cmds.gdb"
    script.write_text("# a comment\nb bump\nc\n")
    out = drive(d, f"source {script}\nhelp\nhelp rsi\nquit\nsi\n")
    assert d.pc == p["bump"]
    for name, _a, _h in COMMANDS:
        assert name in out
    assert "reverse-stepi [N]" in out


def test_mistakes_get_one_line_and_the_prompt_back(tmp_path):
    d, _p = build_loop(tmp_path)
    bad = ["frobnicate", "b nosuchsym", "x/4q 0", "si -1", "b bump if (", "print 1/0", "info",
           "info nosuchdev", "delete 99", "watch", "catch fish", "set $nosuch = 1", "set x",
           "irq wiggle 3", "x/4xw 0xfffffff0", "source /no/such/file", "list 0", "cpu 7",
           "run-for", "trace", "until nosuch", "disassemble bump zz", "help nosuch"]
    out = drive(d, "\n".join(bad) + "\nsi\n")
    errors = [l for l in out.splitlines() if "error:" in l]
    assert len(errors) == len(bad), "\n".join(errors)
    assert "Traceback" not in out
    assert out.rstrip().endswith("(irqlab)")


def test_completion_offers_commands_then_symbols(tmp_path):
    d, _p = build_loop(tmp_path)
    r = Repl(d)
    assert "reverse-stepi" in r.complete("rev")
    assert r.complete("b bu") == ["bump"]
    assert "threads" in r.complete("info th")


def test_reverse_continue_stops_after_the_previous_write_to_a_watched_word(tmp_path):
    d, p = build_loop(tmp_path, every=300)
    drive(d, "si 1000\n")
    value = int.from_bytes(d.t.mem_read(p["counter"], 4), "little")
    out = drive(d, "watch counter\nrc\n")
    assert "Hardware watchpoint 1 (reverse)" in out
    assert d.pc == p["bump"] + 0xd
    assert int.from_bytes(d.t.mem_read(p["counter"], 4), "little") == value


def test_reverse_continue_without_an_earlier_hit_stops_at_the_start_of_history(tmp_path):
    d, p = build_loop(tmp_path, every=300)
    out = drive(d, "si 50\nb done\nrc\n")
    assert "No more reverse-execution history." in out
    assert d.t.now == 0 and d.pc == p["_start"]


def test_going_back_does_not_print_the_guest_console_again(tmp_path):
    printing = LOOP.replace("        add eax, 2\n", "        add eax, 2\n        out 0xe9, al\n")
    d, p = build_loop(tmp_path, text=printing, every=100)
    seen = []
    d.m.console = seen.append
    drive(d, "si 300\n")
    printed = b"".join(seen)
    assert printed
    drive(d, "rsi 250\nb bump\nrc\n")
    assert b"".join(seen) == printed

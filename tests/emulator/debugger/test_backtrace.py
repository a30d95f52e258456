import pathlib

from tests.emulator.debugger.conftest import build_loop, drive

NESTED = (pathlib.Path(__file__).parent / "nested.S").read_text()


def test_bt_inside_a_nested_interrupt_crosses_and_marks_both_frames(tmp_path):
    d, _p = build_loop(tmp_path, text=NESTED, name="nested")
    out = drive(d, "b deep\nc\nbt\n")
    bt = out[out.index("#0"):].splitlines()
    names = [l.split(" in ")[1].split()[0] if " in " in l else l.strip() for l in bt if l.strip()]
    assert names[:7] == ["deep", "handler26+0x5", "<int, vector 0x26>", "helper+0x2",
                         "handler25+0x5", "<int, vector 0x25>", "work+0x2"]


def test_finish_and_nexti_walk_out_through_iret(tmp_path):
    d, _p = build_loop(tmp_path, text=NESTED, name="nested")
    out = drive(d, "b deep\nc\nfinish\nni\nni\nbt\n")
    assert "=> 0x" in out and "<handler25+0x5>: iretd" in out
    tail = out[out.rindex("#0"):]
    assert "<int, vector 0x26>" not in tail and "<int, vector 0x25>" in tail


def test_nexti_steps_over_a_software_interrupt_and_its_handlers(tmp_path):
    d, p = build_loop(tmp_path, text=NESTED, name="nested")
    drive(d, "b work\nc\n")
    assert d.pc == p["work"]
    drive(d, "ni\n")
    assert d.pc == p["work"] + 2

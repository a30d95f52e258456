"""--cpus on run and debug: 1..8 accepted by the parser, anything else is
one line on stderr and status 2 (no traceback); the machine names the
acting CPU in ``current_cpu``."""
import pytest

from emulator import run
from emulator.debugger import main as debug_main
from emulator.machine import MAX_CPUS, Machine, MachineError


@pytest.mark.parametrize("n", ["0", "9", "-1"])
def test_run_rejects_cpus_outside_one_to_eight_in_one_line(n, capsys, tmp_path):
    image = tmp_path / "img"
    image.write_bytes(b"\0" * 64)
    assert run.main([str(image), "--cpus", n]) == 2
    err = capsys.readouterr().err
    assert err == "irqlab run: --cpus must be between 1 and 8\n"


@pytest.mark.parametrize("n", ["0", "9"])
def test_debug_rejects_cpus_outside_one_to_eight_in_one_line(n, capsys, tmp_path):
    image = tmp_path / "img"
    image.write_bytes(b"\0" * 64)
    assert debug_main([str(image), "--cpus", n]) == 2
    err = capsys.readouterr().err
    assert err == "debug: --cpus must be between 1 and 8\n"


def test_machine_rejects_a_cpu_count_outside_the_range_with_a_clear_error():
    assert MAX_CPUS == 8
    with pytest.raises(MachineError, match="between 1 and 8"):
        Machine(mem_mib=1, cpus=9)
    with pytest.raises(MachineError, match="between 1 and 8"):
        Machine(mem_mib=1, cpus=0)


def test_a_one_cpu_machine_names_cpu_zero_as_the_acting_cpu():
    m = Machine(mem_mib=1, cpus=1)
    assert m.current_cpu == 0
    assert len(m.cpus) == 1

"""emulator/gcpause.py: the collector is off inside the block and as it was after."""

import gc

import pytest

from emulator.gcpause import collector_paused


@pytest.mark.parametrize("before", [True, False])
def test_the_collector_is_paused_in_the_block_and_left_as_it_was(before):
    (gc.enable if before else gc.disable)()
    try:
        with pytest.raises(RuntimeError):
            with collector_paused():
                assert not gc.isenabled()
                raise RuntimeError("a failed import")
        assert gc.isenabled() is before
    finally:
        gc.enable()

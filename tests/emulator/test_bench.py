"""``make bench``'s kernel measurement measures the same guest run each way.

The ratios it reports (observe_ratio, trace_ratio) only mean something if
attaching the observer, checkers and trace leaves the guest's execution
alone: same instruction count, same end.  No timing is asserted here.
"""

from emulator import bench


def test_observed_and_bare_kernel_runs_retire_the_same_instructions():
    image = bench.kernel_image()
    bare_n, _, bare_events = bench.kernel_run(image, observe=False, trace=False)
    traced_n, _, traced_events = bench.kernel_run(image, observe=True, trace=True)
    assert bare_n == traced_n
    assert bare_events == 0
    assert traced_events > 10_000       # soak is event-dense: what the ratio is about

"""emulator/metrics.py on small synthetic traces whose numbers are worked out
by hand in each test (times in instructions)."""

from emulator.metrics import Metrics, dist, from_events


def E(t, ev, cpu=0, **f):
    return dict({"t": t, "cpu": cpu, "ev": ev}, **f)


def SW(t, old, new, cpu=0):
    return E(t, "lwp.switch", cpu, **{"from": old, "to": new})


def run(events):
    m = Metrics()
    for e in events:
        m.add(e)
    return m.result()


def test_dist_takes_nearest_ranks_of_integers():
    assert dist([]) == {"n": 0, "median": None, "p90": None, "p99": None, "max": None}
    assert dist(range(1, 101)) == {"n": 100, "median": 50, "p90": 90, "p99": 99, "max": 100}
    assert dist([3, 1, 2, 1000], total=True) == {"n": 4, "median": 2, "p90": 1000,
                                                  "p99": 1000, "max": 1000, "total": 1006}


def classic_with_softint(extra=()):
    # softint 2 ran once at boot (so the trace has said which soft interrupt
    # it runs); then IRQ 5 interrupts lwp 1, its handler schedules "sn", lwp 1
    # is preempted on the way out by softint 2, which runs sn and sleeps
    return [SW(0, None, "softint 2"), E(5, "softint.run", softint="sn", by="softint 2"),
            E(10, "lwp.sleep", lwp="softint 2", wchan=1), SW(20, "softint 2", "lwp 1"),
            E(100, "irq.raise", line=5),
            E(110, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
            E(130, "pic.mask", line=5),
            E(140, "handler.enter", line=5, by="lwp 1", path="intr"),
            E(150, "softint.schedule", softint="sn", by="lwp 1"),
            E(160, "irq.lower", line=5),
            E(200, "handler.exit", line=5, by="lwp 1", path="intr"),
            E(210, "pic.unmask", line=5),
            SW(230, "lwp 1", "softint 2"),
            E(260, "softint.run", softint="sn", by="softint 2"),
            *extra,
            E(400, "lwp.sleep", lwp="softint 2", wchan=1),
            SW(420, "softint 2", "lwp 1"),
            E(440, "intr.exit", vector=37, line=5, owner="lwp 1")]


def test_classic_work_is_done_when_the_soft_interrupt_that_took_it_over_finishes():
    r = run(classic_with_softint())
    assert r["irqs"] == {"5": 1}
    assert r["latency_start"]["5"]["median"] == 140 - 100
    assert r["latency_end"]["5"]["median"] == 200 - 100
    # the bottom half's run ends when softint 2 goes to sleep at 400
    assert r["latency_done"]["5"]["median"] == 400 - 100
    assert r["work_done_source"] == {"5": "proxy"}
    # masked at 130, raised until 160
    assert r["masked"]["5"] == {"n": 1, "median": 30, "p90": 30, "p99": 30, "max": 30,
                                "total": 30}


def test_classic_overhead_is_the_frame_and_the_soft_interrupt_dispatch_not_the_handler():
    r = run(classic_with_softint())
    # frame before the handler 110..140 = 30; after it 200..230 = 30; softint
    # 2's dispatch 230..260 = 30 and its way to sleep 400..420 = 20; lwp 1's
    # iret 420..440 = 20.  The handler (140..200) and the run (260..400) are work.
    assert r["overhead"]["total"] == 30 + 30 + 30 + 20 + 20
    assert r["overhead"]["n"] == 1
    assert r["overhead_by_line"]["5"]["median"] == 130


def test_work_done_events_replace_the_proxy_for_their_line():
    r = run(classic_with_softint(extra=[E(350, "work.done", line=5, driver="testdev",
                                          by="softint 2")]))
    assert r["latency_done"]["5"]["median"] == 350 - 100
    assert r["work_done_source"] == {"5": "work.done"}


def ithread_borrow():
    return [SW(0, None, "lwp 1"), E(100, "irq.raise", line=5),
            E(105, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
            E(110, "pic.hold", line=5), E(112, "pic.mask", line=5),
            E(120, "handler.enter", line=5, by="lwp 1", path="ithread"),
            E(130, "lwp.pin", lwp="lwp 1", by="ithread 2"),
            E(131, "stack.switch", **{"from": "lwp 1", "to": "ithread 2"}),
            E(150, "irq.lower", line=5),
            E(300, "ithread.done", ithread="ithread 2", line=5),
            E(302, "pic.release", line=5, held=0),
            E(330, "lwp.unpin", lwp="lwp 1", by="ithread 2", how="return"),
            E(340, "pic.unmask", line=5),
            E(350, "handler.exit", line=5, by="lwp 1", path="ithread"),
            E(360, "intr.exit", vector=37, line=5, owner="lwp 1")]


def test_an_ithread_starts_at_its_borrow_and_ends_at_ithread_done():
    r = run(ithread_borrow())
    assert r["latency_start"]["5"]["median"] == 130 - 100
    assert r["latency_end"]["5"]["median"] == 300 - 100
    assert r["latency_done"]["5"]["median"] == 300 - 100
    assert r["masked"]["5"]["total"] == 150 - 112
    assert r["pins"] == 1 and r["ithread_blocks"] == 0


def test_ithread_overhead_is_stub_and_unpin_not_the_borrowed_run():
    r = run(ithread_borrow())
    # stub 105..130 = 25; after ithread.done until the unpin 300..330 = 30;
    # back in the frame 330..360 = 30
    assert r["overhead"]["total"] == 25 + 30 + 30
    assert r["stack_switches_per_irq"] == 1.0 and r["switches_per_irq"] == 1.0


def test_a_blocked_ithread_finishes_as_a_thread_and_its_wait_is_counted():
    r = run([SW(0, None, "lwp 1"), E(100, "irq.raise", line=5),
             E(105, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
             E(120, "handler.enter", line=5, by="lwp 1", path="ithread"),
             E(130, "lwp.pin", lwp="lwp 1", by="ithread 2"),
             E(150, "lock.contend", lock="td_lock", owner="lwp 1", by="ithread 2"),
             E(160, "ithread.block", ithread="ithread 2", line=5, lock="td_lock", lwp="lwp 1"),
             E(165, "lock.block", lock="td_lock", owner="lwp 1", by="ithread 2"),
             E(170, "lwp.unpin", lwp="lwp 1", by="ithread 2", how="block"),
             SW(175, "ithread 2", "lwp 1"),
             E(200, "handler.exit", line=5, by="lwp 1", path="ithread"),
             E(210, "intr.exit", vector=37, line=5, owner="lwp 1"),
             E(300, "lock.release", lock="td_lock", by="lwp 1"),
             SW(310, "lwp 1", "ithread 2"),
             E(320, "lock.acquire", lock="td_lock", by="ithread 2"),
             E(400, "ithread.done", ithread="ithread 2", line=5),
             E(420, "ithread.pool", ithread="ithread 2"),
             SW(430, "ithread 2", "lwp 1")])
    assert r["latency_start"]["5"]["median"] == 30
    assert r["latency_end"]["5"]["median"] == 300
    assert r["ithread_blocks"] == 1
    assert r["mutex_wait"] == {"td_lock": {"n": 1, "median": 170, "p90": 170, "p99": 170,
                                           "max": 170, "total": 170}}
    # stub 105..130 = 25; lwp 1 back in its frame 175..210 = 35; the
    # converted thread's tail 400..420 = 20 (its run 310..400 is work)
    assert r["overhead"]["total"] == 25 + 35 + 20


def test_a_threaded_handler_starts_when_its_thread_is_switched_in():
    r = run([SW(0, None, "lwp 1"), E(100, "irq.raise", line=5),
             E(105, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
             E(110, "pic.hold", line=5), E(112, "pic.mask", line=5),
             E(120, "handler.enter", line=5, by="lwp 1", path="threaded"),
             E(125, "lwp.wakeup", lwp="ithread 2", by="lwp 1", wchan=7),
             E(140, "handler.exit", line=5, by="lwp 1", path="threaded"),
             SW(160, "lwp 1", "ithread 2"),
             E(170, "irq.lower", line=5),
             E(300, "ithread.done", ithread="ithread 2", line=5),
             E(320, "pic.unmask", line=5),
             E(330, "lwp.sleep", lwp="ithread 2", wchan=7),
             SW(350, "ithread 2", "lwp 1"),
             E(370, "intr.exit", vector=37, line=5, owner="lwp 1")])
    assert r["latency_start"]["5"]["median"] == 160 - 100
    assert r["latency_end"]["5"]["median"] == 300 - 100
    assert r["masked"]["5"]["total"] == 170 - 112
    # stub and switch 105..160 = 55; the thread after done 300..350 = 50;
    # lwp 1's iret 350..370 = 20
    assert r["overhead"]["total"] == 55 + 50 + 20
    assert r["switches_per_irq"] == 3.0


def test_a_nested_interrupt_charges_its_own_stub_not_the_outer_one():
    r = run([SW(0, None, "lwp 1"),
             E(10, "intr.enter", vector=37, line=5, kind="irq", owner="lwp 1"),
             E(20, "handler.enter", line=5, path="intr"),
             E(50, "intr.enter", vector=32, line=0, kind="irq", owner="lwp 1"),
             E(60, "handler.enter", line=0, path="intr"),
             E(80, "handler.exit", line=0, path="intr"),
             E(90, "intr.exit", vector=32, line=0, owner="lwp 1"),
             E(120, "handler.exit", line=5, path="intr"),
             E(130, "intr.exit", vector=37, line=5, owner="lwp 1")])
    assert r["overhead_by_line"]["5"]["total"] == 10 + 10
    assert r["overhead_by_line"]["0"]["total"] == 10 + 10


def test_a_raise_before_the_start_is_the_same_request_and_one_after_opens_the_next():
    r = run([E(0, "irq.raise", line=0), E(5, "irq.raise", line=0),
             E(10, "intr.enter", vector=32, line=0),
             E(15, "irq.raise", line=0), E(20, "intr.exit", vector=32, line=0),
             E(25, "intr.enter", vector=32, line=0), E(40, "intr.exit", vector=32, line=0)])
    # no handler events: interrupt frames are the start and end
    assert r["latency_start"]["0"] == dist([10, 10])
    assert r["latency_end"]["0"] == dist([20, 25])


def test_masking_counts_only_while_raised_and_prefers_the_io_apic():
    r = run([E(0, "pic.mask", line=5),                      # 8259 masked for good (SMP)
             E(10, "irq.raise", line=5),
             E(20, "pic.mask", line=5, via="ioapic"), E(50, "pic.unmask", line=5, via="ioapic"),
             E(60, "irq.lower", line=5),
             E(70, "pic.mask", line=5, via="ioapic"), E(90, "irq.raise", line=5),
             E(95, "pic.unmask", line=5, via="ioapic"),
             E(96, "intr.enter", vector=69, line=5)])
    assert r["masked"]["5"] == dist([30, 5], total=True)


def test_big_lock_hold_and_wait_are_per_cpu_and_a_sleep_drop_ends_a_hold():
    r = run([E(0, "biglock.acquire", 0, depth=1, lwp="a"),
             E(10, "biglock.contend", 1, lwp="b"),
             E(50, "biglock.acquire", 0, depth=2, lwp="a"),
             E(60, "biglock.release", 0, depth=1, lwp="a"),
             E(100, "biglock.release", 0, depth=0, lwp="a"),
             E(130, "biglock.acquire", 1, depth=1, lwp="b"),
             E(200, "biglock.release", 1, depth=0, lwp="b", saved=1),   # dropped to sleep
             E(300, "biglock.acquire", 1, depth=1, lwp="b"),            # taken back
             E(310, "biglock.release", 1, depth=0, lwp="b")])
    assert r["biglock_hold"] == {"total": 100 + 70 + 10, "per_cpu": {"0": 100, "1": 80}}
    assert r["biglock_wait"] == {"total": 120, "per_cpu": {"0": 0, "1": 120}}


def test_stack_depth_is_the_deepest_use_per_kind():
    r = run([E(900, "stack.usage", stack="lwp 0", kind="lwp", used=300),
             E(900, "stack.usage", stack="lwp 3", kind="lwp", used=500),
             E(900, "stack.usage", stack="intr cpu0", kind="intr", used=100)])
    assert r["stack_depth"] == {"intr": 100, "lwp": 500}


def test_packets_are_the_injections_that_carry_one_less_the_overflows():
    r = run([E(0, "inject", irq=-1, packet=1), E(1, "inject", irq=-1, packet=2),
             E(2, "inject", irq=5, packet=-1), E(3, "inject", irq=-1, packet=3),
             E(4, "testdev.overflow", value=3, overflow=1)])
    assert (r["packets_in"], r["packets_done"], r["packets_lost"]) == (3, 2, 1)


def test_the_result_is_the_same_from_from_events_and_ends_at_the_last_event():
    evs = ithread_borrow()
    r = from_events(evs)
    assert r == run(evs)
    assert r["instructions"] == 360 and r["virtual_ms"] == 0.0


def test_work_done_inside_the_handler_closes_the_episode_before_its_end():
    evs = ithread_borrow()
    i = next(i for i, e in enumerate(evs) if e["ev"] == "ithread.done")
    evs.insert(i, E(250, "work.done", line=5, driver="testdev", by="ithread 2"))
    r = run(evs)
    assert r["latency_done"]["5"]["median"] == 250 - 100
    assert r["latency_end"]["5"]["median"] == 300 - 100
    assert r["work_done_source"]["5"] == "work.done"


def test_one_work_done_finishes_every_started_episode_of_its_line():
    # two top halves hand their work to one soft-interrupt run
    r = run([SW(0, None, "lwp 1"),
             E(100, "irq.raise", line=5), E(110, "handler.enter", line=5, path="intr"),
             E(120, "handler.exit", line=5, path="intr"), E(130, "irq.lower", line=5),
             E(200, "irq.raise", line=5), E(210, "handler.enter", line=5, path="intr"),
             E(220, "handler.exit", line=5, path="intr"),
             E(500, "work.done", line=5, driver="testdev", by="softint 2")])
    assert r["latency_done"]["5"] == dist([400, 300])

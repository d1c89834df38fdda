import gc
import sys
import threading

import pytest

from simple_etl.overlap import ahead, no_cyclic_gc


def test_items_come_in_order_computed_in_another_thread():
    threads = []

    def items():
        for n in range(5):
            threads.append(threading.current_thread())
            yield n

    with ahead(items()) as computed:
        assert list(computed) == [0, 1, 2, 3, 4]
    assert threading.current_thread() not in threads


def test_the_workers_exception_reaches_the_caller_and_the_switch_interval_is_restored():
    interval = sys.getswitchinterval()

    def items():
        yield 1
        raise ValueError("page 2 is broken")

    got = []
    with pytest.raises(ValueError, match="page 2 is broken"), ahead(items()) as computed:
        for item in computed:
            got.append(item)
    assert got == [1]
    assert sys.getswitchinterval() == interval


def test_leaving_the_block_early_stops_the_worker():
    computed_so_far = []

    def items():
        for n in range(100):
            computed_so_far.append(n)
            yield n

    with pytest.raises(RuntimeError), ahead(items()) as computed:
        for item in computed:
            if item == 3:
                raise RuntimeError("the server failed")
    assert len(computed_so_far) <= 5  # the item in hand and at most one ahead
    assert not [t for t in threading.enumerate() if t.name.startswith("simple-etl-ahead")]


def test_the_collector_is_paused_then_restored():
    assert gc.isenabled()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()

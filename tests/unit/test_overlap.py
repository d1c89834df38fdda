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

    assert list(ahead(items())) == [0, 1, 2, 3, 4]
    assert threading.current_thread() not in threads


def test_the_workers_exception_reaches_the_caller_and_the_switch_interval_is_restored():
    interval = sys.getswitchinterval()

    def items():
        yield 1
        raise ValueError("page 2 is broken")

    got = []
    with pytest.raises(ValueError, match="page 2 is broken"):
        for item in ahead(items()):
            got.append(item)
    assert got == [1]
    assert sys.getswitchinterval() == interval


def test_the_collector_is_paused_then_restored():
    assert gc.isenabled()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()

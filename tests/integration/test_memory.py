"""Acceptance: peak memory does not grow with the number of people in a batch."""

from tests.support.memcheck import peak_rss_kib


def test_peak_rss_is_flat_from_5000_to_50000_people(etl):
    small = peak_rss_kib(etl.env, "small", 5_000)
    large = peak_rss_kib(etl.env, "large", 50_000)
    # Ten times the people in ten times the pages: memory holds one page at a time,
    # so allow only allocator noise, not growth with the total.
    assert large < small * 1.25, (small, large)
    assert etl.warehouse.scalar("SELECT sum(loaded) FROM warehouse.batches") == 55_000

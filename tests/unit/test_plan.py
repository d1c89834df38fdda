from simple_etl.config import Settings
from simple_etl.plan import batch_pages, shard_pages

SETTINGS = Settings.from_env({"SIMPLE_ETL_POOL_PAGES": "40"})


def test_a_batch_draws_distinct_pages_from_the_pool():
    pages = batch_pages(SETTINGS, "scheduled__2026-01-01T00:00:00+00:00")
    assert len(pages) == len(set(pages)) == SETTINGS.pages_per_batch
    assert all(1 <= p <= SETTINGS.pool_pages for p in pages)


def test_the_same_batch_id_always_visits_the_same_pages():
    assert batch_pages(SETTINGS, "b1") == batch_pages(SETTINGS, "b1")


def test_other_batches_revisit_some_pages_of_a_bounded_pool():
    first = set(batch_pages(SETTINGS, "b1"))
    later = [set(batch_pages(SETTINGS, f"b{n}")) for n in range(2, 12)]
    assert any(pages != first for pages in later)
    assert any(pages & first for pages in later)  # returning visitors exist


def test_shards_split_a_batch_disjointly_and_completely():
    pages = batch_pages(SETTINGS, "b1")
    shards = [shard_pages(pages, i, 3) for i in range(3)]
    assert sorted(p for shard in shards for p in shard) == pages
    assert all(shards)


def test_one_pool_draws_the_same_pages_whatever_the_order_of_its_nationalities():
    reordered = Settings.from_env({"SIMPLE_ETL_POOL_PAGES": "40", "SIMPLE_ETL_NAT": "us,de"})
    same = Settings.from_env({"SIMPLE_ETL_POOL_PAGES": "40", "SIMPLE_ETL_NAT": "DE,US,de"})
    assert batch_pages(reordered, "b1") == batch_pages(same, "b1")


def test_the_page_draw_belongs_to_the_pool_not_to_the_seed_alone():
    # Another nationality list is another pool (Settings.api_seed): its draw for a batch
    # id is its own, as deterministic as any.
    pools = [
        Settings.from_env({"SIMPLE_ETL_POOL_PAGES": "40", "SIMPLE_ETL_NAT": nat})
        for nat in ("DE", "FR", "IR")
    ]
    draws = [batch_pages(settings, "b1") for settings in pools]
    assert draws == [batch_pages(settings, "b1") for settings in pools]
    assert len({tuple(draw) for draw in draws}) == 3
    assert batch_pages(SETTINGS, "b1") not in draws

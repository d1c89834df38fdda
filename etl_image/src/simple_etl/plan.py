"""Which pages of the visitor pool a batch visits.

The pool is pages 1..POOL_PAGES of the API under the pool's seed (Settings.api_seed,
derived from SIMPLE_ETL_SEED and the nationality list): the same page always holds the
same people. A batch draws its pages from the pool deterministically from its id and
the pool, so people drawn again are genuinely returning visitors, and a re-run of the
same batch id fetches exactly the same people.
"""

from __future__ import annotations

import hashlib
import random

from simple_etl.config import Settings


def batch_pages(settings: Settings, batch_id: str) -> list[int]:
    # api_seed names the pool: one pool (whatever the order of its nationality list)
    # draws the same pages for a batch id; another pool draws independently.
    digest = hashlib.sha256(f"{settings.api_seed}\x00{batch_id}".encode()).digest()
    rng = random.Random(digest)  # noqa: S311 - reproducible sampling, not security
    return sorted(rng.sample(range(1, settings.pool_pages + 1), settings.pages_per_batch))


def shard_pages(pages: list[int], shard: int, shards: int) -> list[int]:
    """Shard i of N takes every N-th page: disjoint, and together the whole batch."""
    return pages[shard::shards]

"""A polite, resumable product-image crawler (robots.txt, per-host delay, retries, dedup).

Entry point: :func:`crawl` with a :class:`ScrapeConfig`; see :mod:`pipeline.scrape.crawler`
for how items are counted and how an interrupted crawl resumes.
"""

from pipeline.scrape.config import (
    DEMO_PUBLIC_BASE,
    ConfigError,
    HttpConfig,
    ScrapeConfig,
    Selectors,
    SourceConfig,
)
from pipeline.scrape.crawler import crawl
from pipeline.scrape.manifest import COLUMNS, read_manifest

__all__ = [
    "COLUMNS",
    "DEMO_PUBLIC_BASE",
    "ConfigError",
    "HttpConfig",
    "ScrapeConfig",
    "Selectors",
    "SourceConfig",
    "crawl",
    "read_manifest",
]

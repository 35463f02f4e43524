"""DVC stage ``scrape``: crawl the configured sources into ``data/scrape/`` (images + manifest.csv).

Sources of ``kind: demo`` are served by the embedded demo shop, started here on
127.0.0.1 for the duration of the crawl; ``kind: http`` sources are crawled at
their absolute start URLs. ``data/scrape`` is a ``persist`` output, so an
interrupted crawl resumes from its journal instead of starting over.

Metrics: ``items_in`` = product image slots found, ``items_out`` = images kept,
``skipped`` by reason (page faults prefixed ``page_``), per-source counts under
``sources``.
"""

from __future__ import annotations

import contextlib
import dataclasses

from pipeline.scrape import ConfigError, ScrapeConfig, crawl
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

OUT_DIR = "data/scrape"
METRICS = "metrics/scrape.json"


def main() -> None:
    """Read ``scrape:`` params, run the demo shop if needed, crawl, write metrics."""
    params = dict(stage_setup("scrape"))
    demo_params = params.pop("demo_shop", None) or {}
    try:
        cfg = ScrapeConfig.from_dict(params)
    except ConfigError as exc:
        raise SystemExit(f"params.yaml: {exc}") from exc
    metrics = StageMetrics("scrape")
    with contextlib.ExitStack() as stack:
        base_url: str | None = None
        sources = []
        for source in cfg.sources:
            if source.kind == "demo":
                if base_url is None:
                    # Imported only when needed: an http-only crawl does not build the shop.
                    from pipeline.demoshop import DemoShopConfig, running_demo_shop

                    try:
                        shop_cfg = DemoShopConfig.from_dict(demo_params)
                    except ValueError as exc:
                        raise SystemExit(f"params.yaml: scrape.demo_shop: {exc}") from exc
                    base_url = stack.enter_context(running_demo_shop(shop_cfg))
                source = source.bind_base(base_url)
            sources.append(source)
        crawl(dataclasses.replace(cfg, sources=tuple(sources)), OUT_DIR, metrics)
    metrics.write(METRICS)


if __name__ == "__main__":
    main()

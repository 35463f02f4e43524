"""The embedded demo shop: a small fashion catalogue generated from a seed and served on loopback.

It is the pipeline's default data source, crawled over real HTTP with the same
code path as a real shop. ``running_demo_shop(cfg)`` builds it and yields the base URL.
"""

from pipeline.demoshop.catalog import Catalog, DemoShopBuildError, Product, build_catalog
from pipeline.demoshop.config import DemoShopConfig
from pipeline.demoshop.server import running_demo_shop

__all__ = ["Catalog", "DemoShopBuildError", "DemoShopConfig", "Product", "build_catalog", "running_demo_shop"]

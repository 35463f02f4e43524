"""Serve the embedded demo shop: a generated fashion catalogue to browse or crawl.

Open the printed URL in a browser; /catalog lists the products, each product
page shows a flat garment shot and a photo of a person wearing it. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import threading

from pipeline.demoshop.catalog import DemoShopBuildError
from pipeline.demoshop.config import DemoShopConfig
from pipeline.demoshop.server import running_demo_shop
from pipeline.log import get_logger

log = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton demo-shop``."""
    defaults = DemoShopConfig()
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="catalogue seed")
    parser.add_argument("--products", type=int, default=defaults.products, help="number of products")
    parser.add_argument("--per-page", type=int, default=defaults.per_page, help="products per listing page")
    parser.add_argument("--no-traps", action="store_true", help="leave out the robots/404/duplicate test products")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit status."""
    try:
        cfg = DemoShopConfig(
            seed=args.seed,
            products=args.products,
            per_page=args.per_page,
            traps=not args.no_traps,
        )
    except ValueError as exc:
        log.error("bad demo shop option", error=str(exc))
        return 2
    try:
        with running_demo_shop(cfg, host=args.host, port=args.port) as url:
            log.info("browse the demo shop", url=f"{url}/catalog?page=1", stop="Ctrl-C")
            threading.Event().wait()
    except KeyboardInterrupt:
        log.info("demo shop stopped")
    except DemoShopBuildError as exc:
        log.error("cannot build the demo shop", error=str(exc))
        return 1
    except OSError as exc:
        log.error("cannot serve the demo shop", host=args.host, port=args.port, error=str(exc))
        return 1
    return 0

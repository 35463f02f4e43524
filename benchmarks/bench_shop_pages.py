"""Score the scraper's extraction on saved product pages against what a person finds on them.

For each page of a folder with ``expected.json`` (``../shared/data/shop_pages``: name, category and the
full-size gallery per page) and ``MANIFEST.csv`` (each file's original URL), runs
:func:`pipeline.scrape.extract.extract_page` in a mode and prints per page and in total:

* ``product``: a product was kept on the page, and ``name``: its name is the page's (case and spacing
  aside; the shop's suffix such as " | ASOS" counts as a miss);
* ``pictures``: how many of the expected gallery pictures were found (URLs compared after resolving
  against the page, ``&amp;`` undone, scheme ignored), out of how many;
* ``foreign``: pictures kept that are not in the expected gallery (recommended products, logos,
  other sizes of a picture already counted);
* ``category``: a category was found where the page shows one.

  python benchmarks/bench_shop_pages.py ../shared/data/shop_pages --mode jsonld
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.scrape.config import Selectors
from pipeline.scrape.extract import extract_page


def normal(url: str) -> str:
    """A URL compared without scheme, entity escapes or a trailing slash."""
    parts = urlsplit(html.unescape(url.strip()))
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")


def same_name(found: str, expected: str) -> bool:
    squash = lambda s: re.sub(r"\s+", " ", s).strip().casefold()  # noqa: E731
    return squash(found) == squash(expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", type=Path, help="folder with expected.json, MANIFEST.csv and the saved pages")
    parser.add_argument("--mode", default="jsonld", help="extraction mode (jsonld, css, ...)")
    args = parser.parse_args()
    expected = json.loads((args.pages / "expected.json").read_text(encoding="utf-8"))
    with (args.pages / "MANIFEST.csv").open(encoding="utf-8") as fh:
        urls = {row["file"]: row["page_url"] for row in csv.DictReader(fh)}
    totals = {"pages": 0, "product": 0, "name": 0, "found": 0, "expected": 0, "foreign": 0, "category": 0, "with_category": 0}
    started = time.perf_counter()
    print(f"{'page':<36}{'product':>8}{'name':>6}{'pictures':>10}{'foreign':>9}{'category':>10}")
    for name, want in sorted(expected.items()):
        raw = (args.pages / name).read_bytes()
        content = extract_page(raw, urls[name], args.mode, Selectors())
        wanted = [normal(u) for u in want["images"]]
        kept = [normal(u) for p in content.products for u in p.image_urls]
        hits = len(set(wanted) & set(kept))
        foreign = len(set(kept) - set(wanted))
        named = any(same_name(p.name, want["name"]) for p in content.products)
        has_category = want.get("category") is not None
        got_category = has_category and any(p.category for p in content.products)
        totals["pages"] += 1
        totals["product"] += bool(content.products)
        totals["name"] += named
        totals["found"] += hits
        totals["expected"] += len(set(wanted))
        totals["foreign"] += foreign
        totals["with_category"] += has_category
        totals["category"] += got_category
        print(f"{name:<36}{len(content.products):>8}{'yes' if named else 'no':>6}{f'{hits}/{len(set(wanted))}':>10}{foreign:>9}"
              f"{('yes' if got_category else 'no') if has_category else '-':>10}")
    print(f"\nmode {args.mode}: product on {totals['product']}/{totals['pages']} pages, right name on {totals['name']}/{totals['pages']}, "
          f"pictures {totals['found']}/{totals['expected']} ({totals['found'] / max(totals['expected'], 1):.0%}), "
          f"foreign {totals['foreign']}, category {totals['category']}/{totals['with_category']}; "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

"""Crawler parts: params checking, page extraction, dedup, HTTP manners and robots.txt policy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.scrape import ConfigError, ScrapeConfig, Selectors, crawl
from pipeline.scrape.config import HttpConfig
from pipeline.scrape.dedup import Deduplicator, phash_hex
from pipeline.scrape.extract import extract_page
from pipeline.scrape.fetch import Fetcher, FetchError, parse_retry_after
from pipeline.scrape.journal import Journal
from pipeline.stage_metrics import StageMetrics
from tests import scrape_site as s

FAST = {"retries": 1, "backoff_s": 0.01, "backoff_max_s": 0.02, "per_host_delay_s": 0.0,
        "connect_timeout_s": 1.0, "read_timeout_s": 1.0}


def cfg(start: str, http: dict[str, Any] | None = None, **source: Any) -> ScrapeConfig:
    return ScrapeConfig.from_dict({
        "http": {**FAST, **(http or {})}, "image_limits": {"min_side": 16}, "progress": False,
        "sources": [{"name": "t", "start_urls": [start], **source}],
    })


# --- params ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, needle", [
    ({"sources": [{"name": "a", "start_urls": ["http://x/"]}], "typo": 1}, "typo"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"]}], "http": {"retry": 3}}, "retry"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"], "max_item": 3}]}, "max_item"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"], "selectors": {"image": "img"}}]}, "image"),
    ({"sources": [{"name": "a", "start_urls": ["/catalog"]}]}, "absolute"),
    ({"sources": [{"name": "a", "kind": "demo", "start_urls": ["http://x/catalog"]}]}, "path"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"], "mode": "xpath"}]}, "mode"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"]}, {"name": "a", "start_urls": ["http://y/"]}]}, "unique"),
    ({"sources": []}, "non-empty"),
    ({"sources": [{"name": "a", "start_urls": ["http://x/"]}], "image_limits": {"min": 3}}, "image_limits"),
])
def test_bad_params_are_rejected_clearly(bad: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ScrapeConfig.from_dict(bad)


def test_source_http_overrides_global_key_by_key() -> None:
    c = ScrapeConfig.from_dict({"http": {"per_host_delay_s": 2.0, "retries": 7},
                                "sources": [{"name": "a", "start_urls": ["http://x/"], "http": {"retries": 1}}]})
    assert (c.sources[0].http.retries, c.sources[0].http.per_host_delay_s) == (1, 2.0)


def test_demo_source_binds_to_shop_with_stable_public_urls() -> None:
    c = ScrapeConfig.from_dict({"sources": [{"name": "d", "kind": "demo", "start_urls": ["/catalog"]}]})
    bound = c.sources[0].bind_base("http://127.0.0.1:43121")
    assert bound.start_urls == ("http://127.0.0.1:43121/catalog",)
    assert bound.allows("http://127.0.0.1:43121/p/1") and not bound.allows("http://example.com/p/1")
    assert bound.public_url("http://127.0.0.1:43121/img/a.jpg") == "http://demo-shop.invalid/img/a.jpg"


# --- extraction --------------------------------------------------------------------------------

def ld(*blocks: Any, body: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{b if isinstance(b, str) else json.dumps(b)}</script>'
                      for b in blocks)
    return f"<html><head>{scripts}</head><body>{body}</body></html>"


def test_jsonld_shapes() -> None:
    url = "https://shop.example/p/red-dress.html"
    html = ld(
        "{not json",
        [{"@type": "Organization", "logo": "/logo.png"},
         {"@type": "http://schema.org/Product", "name": " Red\n Dress ", "mpn": 12345,
          "image": {"@type": "ImageObject", "contentUrl": "//cdn.example/a.jpg"},
          "hasVariant": [{"@type": "Product", "image": "/variant.jpg"}]}],
        {"@graph": [{"@type": "Product", "name": "Second", "image": ["b.jpg", {"url": "/c.png"}, "data:image/png;base64,xx"],
                     "url": url + "#reviews", "category": ["", "Dresses"]}]},
    )
    page = extract_page(html, url, "jsonld", Selectors())
    assert page.jsonld_errors == 1
    first, second = page.products
    assert (first.product_id, first.name, first.image_urls) == ("12345", "Red Dress", ("https://cdn.example/a.jpg",))
    assert first.category == "" and second.category == "Dresses"
    assert second.image_urls == ("https://shop.example/p/b.jpg", "https://shop.example/c.png")
    assert second.product_id == "red-dress"  # from the URL when no sku/productID/mpn


def test_jsonld_teasers_are_links_not_products() -> None:
    html = ld({"@type": "ItemList", "itemListElement": [
        {"@type": "ListItem", "item": {"@type": "Product", "url": "/p/1", "image": "/thumb1.jpg"}}]},
        body='<base href="https://shop.example/women/"><a href="tops?page=2" rel="next">next</a>')
    page = extract_page(html, "https://shop.example/women/tops", "jsonld", Selectors(product_links=""))
    assert page.products == []
    assert page.links == ["https://shop.example/women/tops?page=2", "https://shop.example/p/1"]


def test_css_mode_reads_lazy_images_srcset_and_attributes() -> None:
    html = ('<div class="p" data-sku="S/9"><h2> Wool  coat </h2><a class="crumb">Coats</a>'
            '<img class="g" src="spinner.gif" data-src="/big1.jpg">'
            '<img class="g" srcset="/s.jpg 1x, /l.jpg 2x"><img class="g" src="data:image/gif;base64,R0">'
            '<a class="zoom" href="/zoom.jpg">zoom</a></div><img class="g" src="/outside.jpg">')
    sel = Selectors(product="div.p", images="img.g, a.zoom@href", name="h2", category="a.crumb",
                    product_id="h2@missing", product_links="", pagination="")
    (product,) = extract_page(html, "https://shop.example/coat", "css", sel).products
    assert product.image_urls == ("https://shop.example/big1.jpg", "https://shop.example/l.jpg",
                                  "https://shop.example/zoom.jpg")
    assert (product.name, product.category, product.product_id) == ("Wool coat", "Coats", "coat")


# --- dedup and journal -------------------------------------------------------------------------

def test_dedup_exact_near_and_distinct() -> None:
    dd = Deduplicator(max_distance=4)
    a = phash_hex(s.photo(1))
    dd.add("sha-a", a)
    near = phash_hex(s.photo(1).resize((90, 120)))
    assert dd.match("sha-a", a) == ("duplicate_exact", "sha-a")
    assert dd.match("sha-b", near) == ("duplicate_near", "sha-a")
    assert dd.match("sha-c", phash_hex(s.photo(2))) is None
    for i in range(200):  # growth past the initial buffer keeps working
        dd.add(f"x{i}", f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}")
    assert dd.match("sha-b", near) == ("duplicate_near", "sha-a")


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text('{"image_url": "a", "status": "kept"}\n{"image_url": "b", "sta')
    journal = Journal(tmp_path)
    assert set(journal.entries) == {"a"}
    journal.record({"image_url": "c", "status": "skipped", "reason": "http_404"})
    journal.close()
    assert set(Journal(tmp_path).entries) == {"a", "c"}


# --- HTTP manners ------------------------------------------------------------------------------

def test_retry_after_is_capped_and_http_date_parsed() -> None:
    assert parse_retry_after("7") == 7.0 and parse_retry_after("soon") is None
    assert 50 < parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) <= 60
    site = s.Site()
    site.add("/x", s.sequence(s.respond(503, "", headers={"Retry-After": "100"}), s.respond(200, "ok")))
    with s.serve(site) as base:
        fetcher = Fetcher(HttpConfig(**{**FAST, "max_wait_s": 0.3}))
        assert fetcher.get(base + "/x", max_bytes=100, accept=None).body == b"ok"
    t0, t1 = site.times("/x")
    assert 0.28 <= t1 - t0 < 2.0


def test_per_host_delay_and_robots_crawl_delay(tmp_path: Path) -> None:
    site = s.Site()
    site.add("/c", s.page("".join(f'<a href="/p{i}">p</a>' for i in range(3))))
    for i in range(3):
        site.add(f"/p{i}", s.page("<p>no products</p>"))
    with s.serve(site) as base:
        crawl(cfg(base + "/c", {"per_host_delay_s": 0.2}), tmp_path, StageMetrics("scrape"), path_root=tmp_path)
    times = [t for t, _, _ in site.log]
    assert len(times) == 5  # robots, catalogue, three pages
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.15, gaps  # 0.2 s minus network jitter on a busy machine
    # robots.txt Crawl-delay (whole seconds, as urllib.robotparser reads it) wins over a shorter delay.
    site.add("/robots.txt", s.respond(200, "User-agent: *\nCrawl-delay: 1\n", "text/plain"))
    site.add("/c", s.page('<a href="/p0">p</a>'))
    site.clear_log()
    with s.serve(site) as base:
        crawl(cfg(base + "/c", {"per_host_delay_s": 0.0}), tmp_path / "2", StageMetrics("scrape"), path_root=tmp_path)
    times = [t for t, _, _ in site.log]
    assert len(times) == 3 and min(b - a for a, b in zip(times, times[1:])) >= 0.9


@pytest.mark.parametrize("robots, policy, reason", [
    (s.respond(500, "down"), "disallow", "page_robots_unavailable"),
    (s.respond(500, "down"), "allow", None),
    (s.respond(403, "no"), "allow", "page_robots_disallowed"),
    (s.respond(404, "none"), "disallow", None),
    (s.redirect("/robots.txt"), "disallow", "page_robots_unavailable"),
])
def test_robots_policy(tmp_path: Path, robots: s.Handler, policy: str, reason: str | None) -> None:
    site = s.Site()
    site.add("/robots.txt", robots)
    site.add("/c", s.page("<p>hi</p>"))
    metrics = StageMetrics("scrape")
    with s.serve(site) as base:
        crawl(cfg(base + "/c", {"robots_unavailable": policy}), tmp_path, metrics, path_root=tmp_path)
    assert dict(metrics.skipped) == ({reason: 1} if reason else {})
    assert ("/c" in site.paths()) == (reason is None)


def test_unreachable_host_is_a_counted_skip_and_given_up(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{s.closed_port()}"
    site = s.Site()
    site.add("/p", s.jsonld_page({"@type": "Product", "image": [f"{dead}/{i}.jpg" for i in range(4)]}))
    metrics = StageMetrics("scrape")
    with s.serve(site) as base:
        c = cfg(base + "/p", {"robots_unavailable": "allow", "max_host_failures": 3})
        frame = crawl(c, tmp_path, metrics, path_root=tmp_path)
    assert len(frame) == 0 and dict(metrics.skipped) == {"unreachable": 4}
    fetcher = Fetcher(HttpConfig(**FAST))
    with pytest.raises(FetchError) as err:
        fetcher.get(dead + "/x", max_bytes=10, accept=None)
    assert err.value.reason == "unreachable" and err.value.transient

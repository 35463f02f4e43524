"""End-to-end crawl of a loopback shop that serves every fault the web throws at a crawler."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipeline.scrape import COLUMNS, ScrapeConfig, crawl, read_manifest
from pipeline.stage_metrics import StageMetrics
from tests import scrape_site as s

UA = "VtonTestBot/1.0 (+tests)"
BIG = 64 * 1024 * 1024

LD_KEPT = 12
LD_IMAGE_SKIPS = {
    "truncated_image": 1, "too_small": 1, "too_large": 1, "empty_file": 1, "wrong_content_type": 1,
    "not_an_image": 1, "http_404": 1, "http_500": 1, "timeout": 1, "body_too_large": 2,
    "duplicate_exact": 1, "duplicate_near": 1, "duplicate_url": 1, "robots_disallowed": 1,
    "offsite_url": 1, "offsite_redirect": 1, "redirect_loop": 1, "too_many_redirects": 1,
    "robots_unavailable": 1,
}
PAGE_SKIPS = {"page_robots_disallowed": 1, "page_http_404": 1, "page_redirect_loop": 1}
CSS_KEPT = 4
# Failures that may heal, so a second run asks for them again.
TRANSIENT = {"/img/error.jpg", "/img/slow.jpg"}


def build_shop(site: s.Site, dead_port: int) -> dict[str, bytes]:
    """Register every route; returns the bytes of a few images for later comparison."""
    basic1 = s.encode(s.photo(1), "JPEG", quality=90)
    good2 = s.encode(s.photo(2), "PNG")
    png_named = s.encode(s.photo(13), "PNG")
    site.add("/robots.txt", s.respond(200, "User-agent: *\nDisallow: /private/\n", "text/plain"))
    site.add("/catalog", s.jsonld_page(
        {"@context": "https://schema.org", "@type": "ItemList", "itemListElement": [
            {"@type": "ListItem", "position": 1, "item": {
                "@type": "Product", "name": "teaser", "url": "/p/graph", "image": "/img/thumb-graph.jpg"}}]},
        links='<a href="/p/basic">basic</a> <a href="/p/graph#top">graph</a> <a href="/private/p9">secret</a>'
              '<a href="/missing-page">gone</a> <a href="/loop-a">loop</a> <a href="mailto:x@y">mail</a>'
              '<a href="http://elsewhere.invalid/p">offsite</a> <a rel="next" href="/catalog?page=2">next</a>'))
    site.add("/catalog?page=2", s.page('<a href="/p/faults">faults</a>'))
    site.add("/loop-a", s.redirect("/loop-b"))
    site.add("/loop-b", s.redirect("/loop-a"))
    site.add("/private/p9", s.jsonld_page({"@type": "Product", "name": "x", "image": "/img/never.jpg"}))
    site.add("/p/basic", s.jsonld_page({"@context": "https://schema.org", "@type": "Product", "name": "Basic Tee",
                                       "sku": "B 1/x", "category": "Tops", "image": "/img/basic1.jpg"}))
    site.add("/p/graph", s.jsonld_page({"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "page"},
        {"@type": ["Product"], "productID": "G-2", "name": "Graph Dress",
         "image": [{"@type": "ImageObject", "url": "/img/good2.png"}, "/img/good3.jpg"]},
        {"@type": "BreadcrumbList", "itemListElement": [
            {"@type": "ListItem", "position": 2, "item": {"name": "Dresses"}},
            {"@type": "ListItem", "position": 1, "name": "Home"},
            {"@type": "ListItem", "position": 3, "name": "Graph Dress"}]}]}))
    fault_images = [
        "/img/cmyk.jpg", "/img/16bit.png", "/img/rgba.png", "/img/gray.jpg", "/img/exif.jpg",
        "/img/png-named.jpg", "/img/flaky.jpg", "/img/rate.jpg", "/img/redirect-ok.jpg",
        "/img/truncated.jpg", "/img/tiny.png", "/img/huge.png", "/img/empty.jpg", "/img/page.jpg",
        "/img/html-as-image.jpg", "/img/missing.jpg", "/img/error.jpg", "/img/slow.jpg", "/img/big.jpg",
        "/img/stream-big.jpg", "/img/copy-of-basic1.jpg", "/img/near-good2.jpg", "/img/basic1.jpg",
        "/private/img.jpg", "http://elsewhere.invalid/x.jpg", "/img/redirect-offsite.jpg", "/img/loop1.jpg",
        "/img/hop0.jpg", f"http://localhost:{dead_port}/x.jpg",
    ]
    site.add("/p/faults", s.jsonld_page([{"@context": "https://schema.org", "@type": "ItemPage", "mainEntity": {
        "@type": "Product", "name": "Fault Parade", "sku": "F-1", "category": {"name": "Tops"},
        "image": fault_images}}]))
    routes: dict[str, s.Handler] = {
        "/img/basic1.jpg": s.image(basic1),
        "/img/good2.png": s.image(good2, "image/png"),
        "/img/good3.jpg": s.image(s.encode(s.photo(3), "JPEG")),
        "/img/cmyk.jpg": s.image(s.cmyk_jpeg(10)),
        "/img/16bit.png": s.image(s.png16(11), "image/png"),
        "/img/rgba.png": s.image(s.rgba_png(12), "image/png"),
        "/img/gray.jpg": s.image(s.gray_jpeg(14)),
        "/img/exif.jpg": s.image(s.exif_rotated_jpeg(15)),
        "/img/png-named.jpg": s.image(png_named, "image/jpeg"),
        "/img/flaky.jpg": s.sequence(s.respond(503, "busy"), s.image(s.encode(s.photo(16)))),
        "/img/rate.jpg": s.sequence(s.respond(429, "slow down", headers={"Retry-After": "1"}),
                                    s.image(s.encode(s.photo(17)))),
        "/img/redirect-ok.jpg": s.redirect("/img/good4.jpg", 301),
        "/img/good4.jpg": s.image(s.encode(s.photo(18))),
        "/img/truncated.jpg": s.image(s.truncated_jpeg(19)),
        "/img/tiny.png": s.image(s.encode(Image.new("RGB", (1, 1), "red"), "PNG"), "image/png"),
        "/img/huge.png": s.image(s.encode(Image.new("RGB", (20000, 20), "blue"), "PNG"), "image/png"),
        "/img/empty.jpg": s.image(b""),
        "/img/page.jpg": s.page("<p>this is not a picture</p>"),
        "/img/html-as-image.jpg": s.image(b"<html><body>oops</body></html>"),
        "/img/error.jpg": s.respond(500, "boom"),
        "/img/slow.jpg": s.slow(1.0, s.image(s.encode(s.photo(20)))),
        "/img/big.jpg": s.stream(BIG, declare_length=True),
        "/img/stream-big.jpg": s.stream(BIG, declare_length=False),
        "/img/copy-of-basic1.jpg": s.image(basic1),
        "/img/near-good2.jpg": s.image(s.encode(s.photo(2), "JPEG", quality=85)),
        "/private/img.jpg": s.image(s.encode(s.photo(21))),
        "/img/redirect-offsite.jpg": s.redirect("http://elsewhere.invalid/y.jpg"),
        "/img/loop1.jpg": s.redirect("/img/loop2.jpg"),
        "/img/loop2.jpg": s.redirect("/img/loop1.jpg"),
        "/img/thumb-graph.jpg": s.image(s.encode(s.photo(22))),
    }
    for i in range(8):
        routes[f"/img/hop{i}.jpg"] = s.redirect(f"/img/hop{i + 1}.jpg")
    routes["/img/hop8.jpg"] = s.image(s.encode(s.photo(23)))
    # CSS-selector shop
    routes["/css/catalog"] = s.page(
        '<a class="product-link" href="/css/p/1">1</a><a class="product-link" href="/css/p/2">2</a>'
        '<a href="/css/about">about</a><a class="next" href="/css/catalog/2">next</a>')
    routes["/css/catalog/2"] = s.page('<a class="product-link" href="/css/p/3">3</a>')
    routes["/css/about"] = s.page('<img src="/css/img/about.jpg">')

    def css_product(n: int, images: str) -> s.Handler:
        return s.page(f'<div class="product"><meta itemprop="sku" content="C-{n}"><h1 class="title">Shirt {n}</h1>'
                      f'<span class="cat">Dresses</span>{images}</div><img src="/css/img/logo.jpg">')

    routes["/css/p/1"] = css_product(1, '<img class="main" src="/img/placeholder.gif" data-src="/css/img/1a.jpg">'
                                        '<img class="gallery" srcset="/css/img/1b-small.jpg 200w, /css/img/1b.jpg 800w">')
    routes["/css/p/2"] = css_product(2, '<img class="main" src="/css/img/2.png">')
    routes["/css/p/3"] = css_product(3, '<img class="main" src="/css/img/3.jpg">')
    routes["/css/img/1a.jpg"] = s.image(s.encode(s.photo(31)))
    routes["/css/img/1b.jpg"] = s.image(s.encode(s.photo(32)))
    routes["/css/img/2.png"] = s.image(s.encode(s.photo(33), "PNG"), "image/png")
    routes["/css/img/3.jpg"] = s.image(s.encode(s.photo(34)))
    for path, handler in routes.items():
        site.add(path, handler)
    return {"basic1": basic1, "png_named": png_named}


def make_cfg(base: str, **http: Any) -> ScrapeConfig:
    return ScrapeConfig.from_dict({
        "http": {"user_agent": UA, "connect_timeout_s": 1.0, "read_timeout_s": 0.3, "retries": 1,
                 "backoff_s": 0.01, "backoff_max_s": 0.05, "max_wait_s": 2.0, "per_host_delay_s": 0.0,
                 "max_page_bytes": 200_000, **http},
        "image_limits": {"min_side": 16},
        "phash_max_distance": 4,
        "progress": False,
        "sources": [
            {"name": "ld", "start_urls": [base + "/catalog"], "allowed_domains": ["127.0.0.1", "localhost"],
             "mode": "jsonld", "max_images_per_product": 50, "max_image_bytes": 300_000,
             "category_map": {"tops": "upper_body", "dresses": "dresses"}},
            {"name": "css", "start_urls": [base + "/css/catalog"], "mode": "css",
             "selectors": {"product_links": "a.product-link", "pagination": "a.next", "product": "div.product",
                           "images": "img.main, img.gallery", "name": "h1.title", "category": "span.cat",
                           "product_id": "meta[itemprop=sku]"}},
        ],
    })


@pytest.fixture(scope="module")
def shop() -> Any:
    site = s.Site()
    images = build_shop(site, s.closed_port())
    with s.serve(site) as base:
        yield site, base, images


@pytest.fixture(scope="module")
def first_run(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    site, base, images = shop
    out = tmp_path_factory.mktemp("scrape")
    metrics = StageMetrics("scrape")
    site.clear_log()
    frame = crawl(make_cfg(base), out, metrics, path_root=out)
    return out, frame, metrics, site.paths()


def test_kept_and_skipped_exactly(first_run: Any) -> None:
    out, frame, metrics, _ = first_run
    skipped = dict(metrics.skipped)
    image_skips = {k: v for k, v in skipped.items() if not k.startswith("page_")}
    page_skips = {k: v for k, v in skipped.items() if k.startswith("page_")}
    assert image_skips == LD_IMAGE_SKIPS
    assert page_skips == PAGE_SKIPS
    assert metrics.items_out == LD_KEPT + CSS_KEPT == len(frame)
    assert metrics.items_in == metrics.items_out + sum(image_skips.values())
    per_source = metrics.extra["sources"]
    assert per_source["ld"]["images_kept"] == LD_KEPT and per_source["css"]["images_kept"] == CSS_KEPT
    assert per_source["ld"]["pages_fetched"] == 5 and per_source["css"]["pages_fetched"] == 5
    assert per_source["css"]["products"] == 3


def test_manifest_contract_and_files(first_run: Any, shop: Any) -> None:
    out, frame, _, _ = first_run
    _, base, images = shop
    assert list(frame.columns) == COLUMNS
    disk = read_manifest(out)
    assert list(disk.columns) == COLUMNS and len(disk) == len(frame)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(Path(p).name for p in disk["path"])
    for row in disk.itertuples():
        path = out / row.path
        assert path.name.startswith(row.sha256[:16]) and path.suffix in (".jpg", ".png")
        with Image.open(path) as img:
            assert img.size == (row.width, row.height) and img.mode == "RGB"
        assert len(row.phash) == 16
    by_url = disk.set_index("image_url")
    basic = by_url.loc[base + "/img/basic1.jpg"]
    # Clean JPEGs are stored byte for byte; the sha256 names the downloaded bytes.
    assert (out / basic.path).read_bytes() == images["basic1"]
    assert basic.sha256 == hashlib.sha256(images["basic1"]).hexdigest()
    assert (basic.product_id, basic.category, basic.product_name) == ("B-1-x", "upper_body", "Basic Tee")
    assert basic.page_url == base + "/p/basic"
    # Content sniffing, not the extension, decides: a PNG named .jpg stays a PNG.
    png_named = by_url.loc[base + "/img/png-named.jpg"]
    assert png_named.path.endswith(".png") and (out / png_named.path).read_bytes() == images["png_named"]
    # Odd encodings are normalised and stored as PNG; EXIF rotation is applied (96x128 -> 128x96).
    for name in ("cmyk.jpg", "16bit.png", "rgba.png", "gray.jpg", "exif.jpg"):
        assert by_url.loc[f"{base}/img/{name}"].path.endswith(".png"), name
    exif = by_url.loc[base + "/img/exif.jpg"]
    assert (exif.width, exif.height) == (128, 96)
    with Image.open(out / by_url.loc[base + "/img/rgba.png"].path) as rgba:
        assert rgba.getpixel((2, 2)) == (255, 255, 255)  # transparent part flattened on white
    graph = disk[disk.product_id == "G-2"].sort_values("image_index")
    assert list(graph.image_url) == [base + "/img/good2.png", base + "/img/good3.jpg"]
    assert list(graph.image_index) == [0, 1] and set(graph.category) == {"dresses"}
    # The redirect target is fetched but the row keeps the URL the product page listed.
    assert base + "/img/redirect-ok.jpg" in by_url.index
    css = disk[disk.source == "css"].sort_values(["product_id", "image_index"])
    assert list(css.image_url) == [base + p for p in ("/css/img/1a.jpg", "/css/img/1b.jpg", "/css/img/2.png", "/css/img/3.jpg")]
    assert list(css.product_id) == ["C-1", "C-1", "C-2", "C-3"]
    assert set(css.product_name) == {"Shirt 1", "Shirt 2", "Shirt 3"} and set(css.category) == {"Dresses"}


def test_politeness_and_defences(first_run: Any, shop: Any) -> None:
    _, _, _, paths = first_run
    site, _, _ = shop
    assert not [p for p in paths if p.startswith("/private/")], "robots.txt Disallow ignored"
    assert "/img/thumb-graph.jpg" not in paths, "catalogue teaser thumbnail kept as a product photo"
    assert "/css/about" not in paths and "/css/img/logo.jpg" not in paths
    assert {ua for _, _, ua in site.log} == {UA}
    # Retried: 503 once then OK; 429 honoured its Retry-After of 1 s (cap is 2 s).
    assert paths.count("/img/flaky.jpg") == 2 and paths.count("/img/error.jpg") == 2
    rate = site.times("/img/rate.jpg")
    assert len(rate) == 2 and rate[1] - rate[0] >= 0.95
    # Bodies over the limit are dropped without being read: the server could not push them out.
    assert site.sent["/img/big.jpg"] < BIG // 4
    assert site.sent["/img/stream-big.jpg"] < BIG // 4
    # Redirect loops stop at the first repeat; the 8-hop chain stops after max_redirects=5.
    assert paths.count("/img/loop1.jpg") == 1 and paths.count("/img/loop2.jpg") == 1
    assert "/img/hop6.jpg" not in paths and "/img/hop5.jpg" in paths


def test_second_run_fetches_nothing_new(first_run: Any, shop: Any) -> None:
    out, frame, metrics, _ = first_run
    site, base, _ = shop
    site.clear_log()
    again = StageMetrics("scrape")
    frame2 = crawl(make_cfg(base), out, again, path_root=out)
    images_asked = {p for p in site.paths() if "/img/" in p}
    assert images_asked == TRANSIENT
    assert frame2.drop(columns=[]).equals(frame)
    assert dict(again.skipped) == dict(metrics.skipped)
    assert again.extra["images_reused"] == LD_KEPT + CSS_KEPT and again.extra["images_fetched"] == 0

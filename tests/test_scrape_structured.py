"""Structured data on product pages in the shapes real shops publish (small hand-written pages, one per kind)."""

from __future__ import annotations

import json

from pipeline.scrape.config import Selectors
from pipeline.scrape.extract import extract_page
from pipeline.scrape.structured import read_structured

PAGE = "https://shop.example/p/blue-shirt.html"


def _page(head: str = "", body: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def _ld(obj: object, wrap: str = "") -> str:
    text = json.dumps(obj)
    if wrap == "cdata":
        text = f"//<![CDATA[\n{text}\n//]]>"
    elif wrap == "comment":
        text = f"<!--\n{text}\n-->"
    return f'<script type="application/ld+json">{text}</script>'


def _auto(html: str, url: str = PAGE):
    return extract_page(html, url, "auto", Selectors())


def test_microdata_only_page_gives_its_product() -> None:
    html = _page(body='<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Blue Shirt</h1>'
                      '<img itemprop="image" src="/img/blue-1.jpg"><img itemprop="image" src="/img/blue-2.jpg">'
                      '<span itemprop="sku">B-1</span></div>')
    (product,) = _auto(html).products
    assert product.name == "Blue Shirt" and product.product_id == "B-1"
    assert product.image_urls == ("https://shop.example/img/blue-1.jpg", "https://shop.example/img/blue-2.jpg")


def test_opengraph_only_page_keeps_the_shown_name() -> None:
    html = _page(head='<meta property="og:type" content="product"><meta property="og:title" content="Blue Shirt - Navy - Shirts - Shop DE">'
                      '<meta property="og:image" content="https://cdn.example/blue.jpg">')
    (product,) = _auto(html).products
    assert product.name == "Blue Shirt" and product.image_urls == ("https://cdn.example/blue.jpg",)


def test_jsonld_in_cdata_and_comments_with_null_images_and_id_references() -> None:
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "ImageObject", "@id": "#img2", "contentUrl": "https://cdn.example/b2.jpg"},
        {"@type": "Product", "name": "Blue Shirt", "sku": "B-1",
         "image": [None, "https://cdn.example/b1.jpg", {"@id": "#img2"}]}]}
    for wrap in ("cdata", "comment"):
        (product,) = _auto(_page(head=_ld(graph, wrap))).products
        assert product.image_urls == ("https://cdn.example/b1.jpg", "https://cdn.example/b2.jpg"), wrap


def test_product_group_pictures_on_its_variants() -> None:
    group = {"@context": "https://schema.org", "@type": "ProductGroup", "name": "Blue Shirt", "productGroupID": "G1",
             "hasVariant": [{"@type": "Product", "sku": "G1-S", "image": "https://cdn.example/front.jpg"},
                            {"@type": "Product", "sku": "G1-M", "image": ["https://cdn.example/front.jpg", "https://cdn.example/back.jpg"]}]}
    (product,) = _auto(_page(head=_ld(group))).products
    assert product.image_urls == ("https://cdn.example/front.jpg", "https://cdn.example/back.jpg")


def test_one_product_per_size_merges_into_one() -> None:
    sizes = [{"@context": "https://schema.org", "@type": "Product", "name": "Blue Shirt", "sku": f"B-1-{s}",
              "image": ["https://cdn.example/1.jpg", "https://cdn.example/2.jpg"] + ([f"https://cdn.example/{k}.jpg" for k in (3, 4)] if s == "L" else [])}
             for s in ("S", "M", "L")]
    content = _auto(_page(head="".join(_ld(x) for x in sizes)))
    (product,) = content.products
    assert len(product.image_urls) == 4  # distinct pictures, before any per-product cap


def test_the_only_product_is_the_pages_own_despite_another_url() -> None:
    """A canonical or tracking-laden url is not a listing teaser when the page describes one product."""
    product = {"@context": "https://schema.org", "@type": "Product", "name": "Blue Shirt", "image": "https://cdn.example/1.jpg",
               "url": "https://shop.example/en/p/blue-shirt?utm_source=x"}
    content = _auto(_page(head=_ld(product)))
    assert len(content.products) == 1 and not content.links
    # Several products naming other pages: a listing, followed rather than kept.
    teasers = [dict(product, name=f"Shirt {k}", url=f"https://shop.example/p/{k}.html") for k in range(3)]
    listing = _auto(_page(head="".join(_ld(t) for t in teasers)), "https://shop.example/c/shirts.html")
    assert not listing.products and len(listing.links) == 3


def test_every_loss_is_counted() -> None:
    html = _page(head='<script type="application/ld+json">{"@type": "Product", "name": </script>'
                      + _ld({"@context": "https://schema.org", "@type": "Product", "name": "No Picture"}))
    content = _auto(html)
    assert not content.products
    assert content.problems["unparseable_jsonld"] == 1 and content.problems["product_without_pictures"] == 1
    assert read_structured(html, PAGE).problems["unparseable_jsonld"] == 1

"""HTML, robots.txt and sitemap of the demo shop.

Product pages carry both schema.org Product JSON-LD and plain CSS-friendly
markup, so either extraction mode of the crawler works on them.
"""

from __future__ import annotations

import json
import math
from html import escape

from pipeline.demoshop.catalog import Catalog, Product

SHOP_NAME = "Vesaki Demo Shop"


def _page(title: str, body: str, head: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)} | {SHOP_NAME}</title>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        ".grid{display:flex;flex-wrap:wrap;gap:1em}.card{width:12em}"
        ".card img,.product-image{max-width:100%;height:auto}.gallery img{width:22em;margin-right:1em}</style>\n"
        f"{head}</head>\n<body>\n<header><a href=\"/\">{SHOP_NAME}</a> · <a href=\"/catalog?page=1\">Catalogue</a></header>\n"
        f"{body}\n</body>\n</html>\n"
    )


def page_count(catalog: Catalog) -> int:
    """Number of listing pages."""
    return max(1, math.ceil(len(catalog.products) / catalog.config.per_page))


def render_home(catalog: Catalog) -> str:
    """Landing page pointing at the catalogue."""
    body = (
        f"<h1>{SHOP_NAME}</h1>\n<p>{len(catalog.products)} tops, generated from seed "
        f"{catalog.config.seed}.</p>\n<p><a class=\"catalog-link\" href=\"/catalog?page=1\">Browse the catalogue</a></p>"
    )
    return _page("Home", body)


def render_listing(catalog: Catalog, page: int) -> str | None:
    """Listing page ``page`` (1-based), or None when it does not exist."""
    pages = page_count(catalog)
    if not 1 <= page <= pages:
        return None
    per = catalog.config.per_page
    items = catalog.products[(page - 1) * per : page * per]
    cards = []
    for p in items:
        thumb = p.images[0]
        cards.append(
            f"<div class=\"card\"><a class=\"product-link\" href=\"{p.page_path}\">"
            f"<img class=\"thumb\" src=\"{thumb}\" alt=\"{escape(p.name)}\" loading=\"lazy\">"
            f"<span class=\"title\">{escape(p.name)}</span></a><span class=\"price\">€{p.price}</span></div>"
        )
    nav = []
    if page > 1:
        nav.append(f"<a rel=\"prev\" class=\"prev\" href=\"/catalog?page={page - 1}\">Previous</a>")
    if page < pages:
        nav.append(f"<a rel=\"next\" class=\"next\" href=\"/catalog?page={page + 1}\">Next</a>")
    head = "".join(
        f"<link rel=\"{rel}\" href=\"/catalog?page={n}\">\n"
        for rel, n in (("prev", page - 1), ("next", page + 1))
        if 1 <= n <= pages
    )
    body = (
        f"<h1>Catalogue</h1>\n<p class=\"pager\">Page {page} of {pages}</p>\n"
        f"<div class=\"grid\">\n" + "\n".join(cards) + "\n</div>\n"
        f"<nav class=\"pagination\">{' '.join(nav)}</nav>"
    )
    return _page(f"Catalogue page {page}", body, head)


def product_json_ld(product: Product, base_url: str) -> dict[str, object]:
    """schema.org Product data of ``product`` with absolute URLs under ``base_url``."""
    page_url = base_url + product.page_path
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "sku": product.sku,
        "productID": product.product_id,
        "category": product.category,
        "color": product.colour,
        "brand": {"@type": "Brand", "name": SHOP_NAME},
        "image": [base_url + path for path in product.images],
        "description": product.description,
        "url": page_url,
        "additionalProperty": [
            {"@type": "PropertyValue", "name": "garment_type", "value": product.garment_type},
            {"@type": "PropertyValue", "name": "print", "value": product.print},
        ],
        "offers": {
            "@type": "Offer",
            "price": product.price,
            "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock",
            "url": page_url,
        },
    }


def render_product(product: Product, base_url: str) -> str:
    """Product page: JSON-LD in the head, the same facts in classed markup in the body."""
    data = json.dumps(product_json_ld(product, base_url), indent=2, ensure_ascii=False)
    # "</" inside a script block would end it early.
    data = data.replace("</", "<\\/")
    head = f"<script type=\"application/ld+json\">\n{data}\n</script>\n"
    imgs = "\n".join(
        f"<img class=\"product-image\" src=\"{path}\" alt=\"{escape(product.name)} view {i + 1}\">"
        for i, path in enumerate(product.images)
    )
    body = (
        f"<article class=\"product\" data-product-id=\"{product.product_id}\">\n"
        f"<h1 class=\"product-name\">{escape(product.name)}</h1>\n"
        f"<p>SKU <span class=\"sku\">{product.sku}</span> · <span class=\"category\">{product.category}</span>"
        f" · <span class=\"garment-type\">{product.garment_type}</span> · <span class=\"colour\">{escape(product.colour)}</span></p>\n"
        f"<div class=\"gallery\">\n{imgs}\n</div>\n"
        f"<p class=\"price\">€<span class=\"amount\">{product.price}</span></p>\n"
        f"<p class=\"description\">{escape(product.description)}</p>\n</article>"
    )
    return _page(product.name, body, head)


def render_robots(base_url: str) -> str:
    """robots.txt: everything but /private/ is open, no crawl delay."""
    return f"User-agent: *\nDisallow: /private/\n\nSitemap: {base_url}/sitemap.xml\n"


def render_sitemap(catalog: Catalog, base_url: str) -> str:
    """Sitemap of the public product pages."""
    urls = "".join(
        f"  <url><loc>{escape(base_url + p.page_path)}</loc></url>\n" for p in catalog.products if not p.private
    )
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
        f"{urls}</urlset>\n"
    )

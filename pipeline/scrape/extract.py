"""Products and links found in one HTML page: structured data (``auto``), schema.org JSON-LD only, or CSS selectors.

``auto`` reads every kind of structured data a shop may publish (:mod:`pipeline.scrape.structured`:
JSON-LD in its real shapes, microdata, OpenGraph), merges per-size and per-syntax copies of one
product, and counts what it could not use in :attr:`PageContent.problems`.

JSON-LD in the wild comes as a single object, a list, an ``@graph``, nested in
an ``ItemPage``/``ItemList``, with ``image`` as a string, a list or an
``ImageObject``; all of these are read. A Product whose ``url`` points to
another page is a catalogue teaser: it is followed as a link rather than kept,
so thumbnails of listing pages are not mistaken for product photos.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup, Tag

from pipeline.scrape.config import Selectors
# One walk over JSON-LD for both modes (structured data's reading of @type and nesting).
from pipeline.scrape.structured import node_types as _types
from pipeline.scrape.structured import product_nodes as _product_nodes
from pipeline.scrape.structured import walk_nodes as _walk

_ATTR_RE = re.compile(r"^(?P<css>.*\S)\s*@(?P<attr>[A-Za-z_:][-A-Za-z0-9_:.]*)$")


@dataclass(frozen=True)
class Product:
    """A product as read from its page."""

    product_id: str
    name: str
    category: str
    page_url: str
    image_urls: tuple[str, ...]


@dataclass
class PageContent:
    """What one page offers: products with images, and links worth following."""

    products: list[Product] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    jsonld_errors: int = 0
    # What the page offered but could not be used, by reason (auto mode): counted as skips by the crawler.
    problems: Counter[str] = field(default_factory=Counter)


def extract_page(html: str | bytes, page_url: str, mode: str, selectors: Selectors) -> PageContent:
    """Parse ``html`` served at ``page_url`` in ``mode`` (``auto``, ``jsonld`` or ``css``)."""
    soup = BeautifulSoup(html, "lxml")
    base_tag = soup.find("base", href=True)
    base = urljoin(page_url, str(base_tag["href"])) if isinstance(base_tag, Tag) else page_url
    content = PageContent()
    links = _select_urls(soup, selectors.product_links, base, "href") + _select_urls(soup, selectors.pagination, base, "href")
    if mode == "auto":
        products, teaser_links, problems = _auto_products(html, soup, page_url, base)
        content.products, content.problems = products, problems
        content.jsonld_errors = problems.get("unparseable_jsonld", 0)
        links += teaser_links
    elif mode == "jsonld":
        products, teaser_links, errors = _jsonld_products(soup, page_url, base)
        content.products = products
        content.jsonld_errors = errors
        links += teaser_links
    elif mode == "css":
        content.products = _css_products(soup, page_url, base, selectors)
    else:
        raise ValueError(f"unknown extraction mode {mode!r}")
    content.links = _unique([u for u in links if u != _clean(page_url)])
    return content


# --- auto: every kind of structured data ---------------------------------------------------------

def _page_key(url: str) -> str:
    """A page compared without scheme, query, fragment or trailing slash (tracking parameters differ)."""
    parts = urlsplit(url)
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}"


_TITLE_PARTS = re.compile(r"\s+[-|–—]\s+|\s*:\s+")


def _shown_name(soup: BeautifulSoup, name: str, source: str) -> str:
    """The name as the page shows it: structured names often carry the colour or the shop
    ("Pima Cotton Trunks - Black - Underwear - ARKET"), so the longest heading that begins the
    structured name wins; an OpenGraph title with no such heading keeps its first part."""
    squash = lambda t: re.sub(r"\s+", " ", t).strip()  # noqa: E731
    wanted = squash(name).casefold()
    best = ""
    for el in soup.find_all(["h1", "h2", "h3"], limit=200):
        text = squash(el.get_text(" "))
        if len(text) > len(best) and len(text) >= 3 and wanted.startswith(text.casefold()):
            best = text
    if best:
        return best
    if source == "opengraph":
        return _TITLE_PARTS.split(squash(name))[0]
    return squash(name)


def _auto_products(html: str | bytes, soup: BeautifulSoup, page_url: str, base: str) -> tuple[list[Product], list[str], Counter[str]]:
    from pipeline.scrape.structured import read_structured

    data = read_structured(html, base)
    problems = Counter(data.problems)
    here = _page_key(page_url)
    # One product on the page is the page's own, whatever its url says (canonical links, tracking
    # parameters, another locale); among several, those naming another page are a listing's teasers.
    own = data.products if len(data.products) == 1 else [p for p in data.products if not p.url or _page_key(urljoin(base, p.url)) == here]
    teasers = [] if len(data.products) == 1 else [_clean(urljoin(base, p.url)) for p in data.products if p not in own and p.url]
    products = []
    for found in own:
        images = _unique([_clean(u) for u in found.images if _usable_url(u)])
        if not images:
            problems["product_without_pictures"] += 1
            continue
        products.append(Product(
            product_id=_clean_id(found.product_id or _id_from_url(page_url)),
            name=_shown_name(soup, found.name, found.source),
            category=found.category or data.breadcrumb,
            page_url=_clean(page_url),
            image_urls=tuple(images),
        ))
    return products, teasers, problems


# --- JSON-LD -----------------------------------------------------------------------------------

def _jsonld_products(soup: BeautifulSoup, page_url: str, base: str) -> tuple[list[Product], list[str], int]:
    nodes: list[Any] = []
    errors = 0
    for script in soup.find_all("script", attrs={"type": re.compile(r"^\s*application/ld\+json\s*$", re.I)}):
        text = script.string if script.string is not None else script.get_text()
        try:
            nodes.append(json.loads(text, strict=False))
        except (json.JSONDecodeError, TypeError):
            errors += 1
    breadcrumb = _breadcrumb_category(nodes)
    products: list[Product] = []
    teasers: list[str] = []
    here = _clean(page_url)
    for node in _product_nodes(nodes):
        url = _first_str(node.get("url"))
        target = _clean(urljoin(base, url)) if url else here
        if target != here:
            teasers.append(target)
            continue
        images = _unique([_clean(urljoin(base, u)) for u in _image_urls(node.get("image")) if _usable_url(u)])
        if not images:
            continue
        pid = next((_first_str(node.get(k)) for k in ("sku", "productID", "mpn", "gtin13", "gtin", "@id")
                    if _first_str(node.get(k))), "") or _id_from_url(page_url)
        products.append(Product(
            product_id=_clean_id(pid),
            name=_text(_first_str(node.get("name"))),
            category=_category(node.get("category")) or breadcrumb,
            page_url=here,
            image_urls=tuple(images),
        ))
    return products, teasers, errors


def _image_urls(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 4 or value is None:
        return
    if isinstance(value, str):
        yield value.strip()
    elif isinstance(value, list):
        for item in value:
            yield from _image_urls(item, depth + 1)
    elif isinstance(value, dict):
        for key in ("contentUrl", "url", "@id"):
            if isinstance(value.get(key), str):
                yield value[key].strip()
                return


def _category(value: Any) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        parts = [_category(v) for v in value]
        return next((p for p in parts if p), "")
    if isinstance(value, dict):
        return _text(_first_str(value.get("name")))
    return ""


def _breadcrumb_category(nodes: list[Any]) -> str:
    for node in _walk(nodes):
        if "breadcrumblist" in _types(node):
            items = node.get("itemListElement") or []
            items = items if isinstance(items, list) else [items]
            names = []
            for item in sorted((i for i in items if isinstance(i, dict)), key=lambda i: _position(i)):
                inner = item.get("item")
                name = item.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
                if isinstance(name, str) and name.strip():
                    names.append(_text(name))
            # The last crumb is usually the product itself.
            if len(names) >= 2:
                return names[-2]
    return ""


def _position(item: dict[str, Any]) -> float:
    try:
        return float(item.get("position", 0))
    except (TypeError, ValueError):
        return 0.0


def _first_str(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


# --- CSS selectors -------------------------------------------------------------------------------

def _css_products(soup: BeautifulSoup, page_url: str, base: str, selectors: Selectors) -> list[Product]:
    roots: list[Tag | BeautifulSoup] = list(soup.select(selectors.product)) if selectors.product else [soup]
    here = _clean(page_url)
    products = []
    for i, root in enumerate(roots):
        images = _unique(_select_urls(root, selectors.images, base, "src"))
        if not images:
            continue
        pid = _select_text(root, selectors.product_id) if selectors.product_id else ""
        pid = pid or _id_from_url(page_url) + (f"-{i}" if len(roots) > 1 else "")
        products.append(Product(
            product_id=_clean_id(pid),
            name=_select_text(root, selectors.name) if selectors.name else "",
            category=_select_text(root, selectors.category) if selectors.category else "",
            page_url=here,
            image_urls=tuple(images),
        ))
    return products


def _split_selector(selector: str) -> tuple[str, str | None]:
    match = _ATTR_RE.match(selector.strip())
    return (match["css"], match["attr"]) if match else (selector, None)


def _split_group(selector: str) -> list[str]:
    """Split a selector list on top-level commas (not inside brackets, parentheses or quotes)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(selector):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p.strip() for p in parts if p.strip()]


def _select_text(root: Tag | BeautifulSoup, selector: str) -> str:
    css, attr = _split_selector(selector)
    el = root.select_one(css)
    if el is None:
        return ""
    if attr:
        return _text(str(el.get(attr) or ""))
    return _text(el.get("content") if el.name == "meta" else el.get_text(" "))


def _select_urls(root: Tag | BeautifulSoup, selector: str, base: str, default_attr: str) -> list[str]:
    """URLs of the elements matching ``selector``, in document order; each part of a
    selector list may name its own attribute (``img.main, a.zoom@href``)."""
    if not selector:
        return []
    parts = [_split_selector(p) for p in _split_group(selector)]
    compiled = [(soupsieve.compile(css), attr) for css, attr in parts]
    urls = []
    for el in root.select(", ".join(css for css, _ in parts)):
        attr = next((a for c, a in compiled if c.match(el)), None)
        if attr:
            candidates = [el.get(attr)]
        elif el.name in ("img", "source"):
            # Lazy-loading pages keep the real picture in data-src; srcset holds the largest one.
            candidates = [_largest_srcset(el.get("srcset") or el.get("data-srcset")), el.get("data-src"), el.get("src")]
        else:
            candidates = [el.get(default_attr), el.get("href"), el.get("src")]
        for value in candidates:
            if isinstance(value, str) and _usable_url(value):
                urls.append(_clean(urljoin(base, value.strip())))
                break
    return urls


def _largest_srcset(srcset: Any) -> str | None:
    if not isinstance(srcset, str) or not srcset.strip():
        return None
    best, best_size = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        size = 1.0
        if len(bits) > 1:
            try:
                size = float(bits[1][:-1])
            except ValueError:
                size = 1.0
        if size > best_size:
            best, best_size = bits[0], size
    return best


# --- helpers -------------------------------------------------------------------------------------

def _usable_url(url: str) -> bool:
    url = url.strip()
    return bool(url) and not url.lower().startswith(("data:", "javascript:", "mailto:", "tel:", "#"))


def _clean(url: str) -> str:
    return urldefrag(url.strip())[0]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _text(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


def _clean_id(value: str) -> str:
    """A product id safe to reuse in file names downstream."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-.")
    return slug[:80] or hashlib.sha1(value.encode()).hexdigest()[:12]


def _id_from_url(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    last = re.sub(r"\.(html?|php|aspx?)$", "", last, flags=re.I)
    return last or hashlib.sha1(url.encode()).hexdigest()[:12]

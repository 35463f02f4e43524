"""The products a page describes in structured data: JSON-LD in its real shapes, microdata and OpenGraph.

Shops publish the same product several ways and each way has its own habits, all seen on real
product pages: JSON-LD wrapped in ``<![CDATA[ ]]>`` or HTML comments, ``"image": [null, ...]``,
an ``ImageObject`` named only by an ``@id`` defined elsewhere in the graph, a ``ProductGroup``
whose pictures sit on its ``hasVariant`` entries, one ``Product`` per size (the same pictures
five to fourteen times), a ``url`` that differs from the page's only by tracking parameters;
microdata (``itemprop``) where there is no JSON-LD at all; and OpenGraph tags where there is
neither. extruct reads microdata and OpenGraph; JSON-LD is decoded here, one ``<script>`` at a
time, because a block that fails to decode must be counted, not silently dropped.

The result is one :class:`Found` per product after merging copies (same group id, or same name
and an overlapping picture), so a per-product cap applies to distinct pictures.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from pipeline.log import get_logger

log = get_logger(__name__)

PRODUCT_TYPES = {"product", "productgroup", "individualproduct", "productmodel"}
_WRAPPERS = re.compile(r"^\s*(?:<!\[CDATA\[|<!--|//\s*<!\[CDATA\[)|(?:\]\]>|-->|//\s*\]\]>)\s*$")
_MAX_DEPTH = 12


@dataclass
class Found:
    """A product read from structured data, before its pictures are checked or upgraded."""

    name: str
    category: str
    product_id: str
    url: str  # the product's own URL as the data gives it ("" when none)
    images: list[str]
    source: str  # json-ld, microdata or opengraph
    group: str = ""  # productGroupID / inProductGroupWithID: copies with the same group are one product


@dataclass
class StructuredData:
    """Every product found, the page's breadcrumb category, and what could not be read (counted by reason)."""

    products: list[Found] = field(default_factory=list)
    breadcrumb: str = ""
    problems: Counter[str] = field(default_factory=Counter)


def read_structured(html: str | bytes, page_url: str) -> StructuredData:
    """Products of ``html`` served at ``page_url`` from JSON-LD, then microdata, then OpenGraph."""
    import extruct
    from bs4 import BeautifulSoup

    text = html.decode("utf-8", errors="replace") if isinstance(html, bytes) else html
    out = StructuredData()
    soup = BeautifulSoup(text, "lxml")
    nodes: list[Any] = []
    for script in soup.find_all("script", attrs={"type": re.compile(r"^\s*application/ld\+json\s*$", re.I)}):
        decoded = _decode_jsonld(script.string if script.string is not None else script.get_text())
        if decoded is None:
            out.problems["unparseable_jsonld"] += 1
        else:
            nodes.append(decoded)
    try:
        # extruct for the markup-based syntaxes; uniform=True gives them JSON-LD's shape.
        other = extruct.extract(text, base_url=page_url, syntaxes=["microdata", "opengraph"], uniform=True, errors="strict")
    except Exception as exc:  # noqa: BLE001 - odd markup: count it, keep what JSON-LD gave
        log.info("microdata/opengraph unreadable", url=page_url, detail=str(exc)[:200])
        out.problems["unparseable_microdata"] += 1
        other = {"microdata": [], "opengraph": []}
    index = _id_index(nodes)
    out.breadcrumb = _breadcrumb(nodes) or _breadcrumb(other.get("microdata", []))
    for source, roots in (("json-ld", nodes), ("microdata", other.get("microdata", []))):
        for node in product_nodes(roots):
            found = _product(node, index, page_url, source)
            if found is not None:
                out.products.append(found)
    if not out.products:
        for og in other.get("opengraph", []):
            found = _opengraph(og, page_url)
            if found is not None:
                out.products.append(found)
    out.products = merge_copies(out.products)
    return out


# --- JSON-LD decoding ---------------------------------------------------------------------------

def _decode_jsonld(raw: str | None) -> Any | None:
    """The JSON of one script, tolerating the wrappers and comments shops put around it; None when unreadable."""
    if not raw or not raw.strip():
        return None
    body = "\n".join(line for line in (_WRAPPERS.sub("", ln) for ln in raw.strip().splitlines()))
    try:
        return json.loads(body, strict=False)
    except ValueError:
        pass
    try:
        import jstyleson  # extruct's own fallback: JSON with comments and trailing commas

        return jstyleson.loads(body, strict=False)
    except Exception:  # noqa: BLE001 - any failure means "unreadable", counted by the caller
        return None


def node_types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type", [])
    raw = raw if isinstance(raw, list) else [raw]
    return {re.split(r"[/:#]", str(t))[-1].lower() for t in raw}


def walk_nodes(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from walk_nodes(item, depth + 1)
    elif isinstance(node, dict):
        yield node
        if node_types(node) & PRODUCT_TYPES:
            return  # a product's own parts (variants, offers) are read with it, not as products
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from walk_nodes(value, depth + 1)


def product_nodes(roots: list[Any]) -> Iterator[dict[str, Any]]:
    for node in walk_nodes(roots):
        if node_types(node) & PRODUCT_TYPES:
            yield node


def _id_index(roots: list[Any]) -> dict[str, dict[str, Any]]:
    """Nodes by ``@id``, so a reference (``{"@id": "#img1"}``) finds its definition elsewhere in the graph."""
    index: dict[str, dict[str, Any]] = {}

    def visit(node: Any, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, list):
            for item in node:
                visit(item, depth + 1)
        elif isinstance(node, dict):
            ref = node.get("@id")
            if isinstance(ref, str) and len(node) > 1:
                index.setdefault(ref, node)
            for value in node.values():
                visit(value, depth + 1)

    visit(roots)
    return index


# --- one product ----------------------------------------------------------------------------------

def _image_urls(value: Any, index: dict[str, dict[str, Any]], depth: int = 0) -> Iterator[str]:
    if depth > 4 or value is None:
        return
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, list):
        for item in value:
            yield from _image_urls(item, index, depth + 1)
    elif isinstance(value, dict):
        for key in ("contentUrl", "url"):
            if isinstance(value.get(key), str) and value[key].strip():
                yield value[key].strip()
                return
        ref = value.get("@id")
        if isinstance(ref, str):
            target = index.get(ref)
            if target is not None and target is not value:
                yield from _image_urls(target, index, depth + 1)
            elif not ref.startswith("#") and _looks_like_picture(ref):
                yield ref  # an @id that is itself the picture's address
        for key in ("thumbnail", "thumbnailUrl"):
            if value.get(key) is not None:
                yield from _image_urls(value[key], index, depth + 1)


def _looks_like_picture(url: str) -> bool:
    return bool(re.search(r"\.(jpe?g|png|webp|avif|gif)(\?|$)", urlsplit(url).path + "?", re.I))


def _first_str(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if v is not None), "")
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return re.sub(r"\s+", " ", value).strip() if isinstance(value, str) else ""


def _category(node: dict[str, Any]) -> str:
    for value in (node.get("category"), (node.get("offers") or {}).get("category") if isinstance(node.get("offers"), dict) else None):
        text = _first_str(value)
        if text:
            # "Women > Tops > T-shirts": the most specific part.
            return re.split(r"\s*(?:>|/|›|»)\s*", text)[-1]
    return ""


def _product(node: dict[str, Any], index: dict[str, dict[str, Any]], page_url: str, source: str) -> Found | None:
    images = list(_image_urls(node.get("image"), index))
    variants = node.get("hasVariant")
    for variant in variants if isinstance(variants, list) else [variants] if isinstance(variants, dict) else []:
        if isinstance(variant, dict):
            images += _image_urls(variant.get("image"), index)
    images = list(dict.fromkeys(urljoin(page_url, u) for u in images if _usable(u)))
    name = _first_str(node.get("name"))
    if not images and not name:
        return None
    pid = next((_first_str(node.get(k)) for k in ("sku", "productID", "mpn", "gtin13", "gtin") if _first_str(node.get(k))), "")
    group = _first_str(node.get("productGroupID")) or _first_str(node.get("inProductGroupWithID"))
    if not group and isinstance(node.get("isVariantOf"), dict):
        group = _first_str(node["isVariantOf"].get("productGroupID"))
    return Found(name=name, category=_category(node), product_id=pid or group, url=_first_str(node.get("url")),
                 images=images, source=source, group=group)


def _opengraph(og: dict[str, Any], page_url: str) -> Found | None:
    kind = str(og.get("@type", "")).lower()
    if "product" not in kind:
        return None
    raw = og.get("og:image")
    images = [urljoin(page_url, u) for u in (raw if isinstance(raw, list) else [raw]) if isinstance(u, str) and _usable(u)]
    name = _first_str(og.get("og:title"))
    if not images and not name:
        return None
    return Found(name=name, category="", product_id="", url=_first_str(og.get("og:url")), images=images, source="opengraph")


def _usable(url: str) -> bool:
    url = url.strip()
    return bool(url) and not url.lower().startswith(("data:", "javascript:", "mailto:", "tel:", "#"))


def _breadcrumb(roots: list[Any]) -> str:
    for node in walk_nodes(roots):
        if "breadcrumblist" in node_types(node):
            items = node.get("itemListElement") or []
            items = items if isinstance(items, list) else [items]
            named = []
            for item in items:
                if not isinstance(item, dict):
                    continue
                inner = item.get("item")
                label = _first_str(item.get("name")) or (_first_str(inner.get("name")) if isinstance(inner, dict) else "")
                try:
                    position = float(item.get("position", 0))
                except (TypeError, ValueError):
                    position = 0.0
                if label:
                    named.append((position, label))
            names = [n for _, n in sorted(named, key=lambda x: x[0])]
            if len(names) >= 2:
                return names[-2]  # the last crumb is usually the product itself
            if names:
                return names[0]
    return ""


# --- copies of one product ------------------------------------------------------------------------

def merge_copies(products: list[Found]) -> list[Found]:
    """One product per group id, or per name when two share a name and a picture (per-size or per-syntax copies)."""
    merged: list[Found] = []
    for p in products:
        twin = next((m for m in merged if (p.group and p.group == m.group)
                     or (p.name and _same_name(p.name, m.name) and (set(p.images) & set(m.images) or not p.images or not m.images))),
                    None)
        if twin is None:
            merged.append(Found(p.name, p.category, p.product_id, p.url, list(p.images), p.source, p.group))
            continue
        twin.images = list(dict.fromkeys(twin.images + p.images))
        twin.category = twin.category or p.category
        twin.product_id = twin.product_id or p.product_id
        twin.url = twin.url or p.url
    return merged


def _same_name(a: str, b: str) -> bool:
    return a.casefold().strip() == b.casefold().strip()

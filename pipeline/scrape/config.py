"""Typed crawler settings built from the ``scrape:`` params block.

Every ``from_dict`` rejects keys it does not know, so a typo in params.yaml
fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pipeline.config_mapping import check_keys
from pipeline.io.images import ImageLimits

DEFAULT_USER_AGENT = "VesakiVTON-crawler/0.1 (+https://github.com/vesaki/vesaki-vton; research, obeys robots.txt)"
# Stable, non-routable stand-in (RFC 2606 ``.invalid``) for the demo shop's random port,
# so manifest and journal keys do not change from one run to the next.
DEMO_PUBLIC_BASE = "http://demo-shop.invalid"


class ConfigError(ValueError):
    """Bad scrape parameters."""


@dataclass(frozen=True)
class HttpConfig:
    """How politely and how persistently to talk to a web server."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    # Wall-clock bound on one body download, so a server dripping bytes cannot stall the crawl.
    body_timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    # Cap on any server-requested wait (Retry-After, robots Crawl-delay).
    max_wait_s: float = 30.0
    max_redirects: int = 5
    per_host_delay_s: float = 1.0
    max_page_bytes: int = 5_000_000
    # After this many consecutive connection failures a host is given up for the run.
    max_host_failures: int = 5
    # RFC 9309: robots.txt unreachable or 5xx means "assume everything is disallowed".
    robots_unavailable: Literal["disallow", "allow"] = "disallow"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, base: HttpConfig | None = None) -> HttpConfig:
        """Build from params; keys not given keep the values of ``base`` (or the defaults)."""
        data = data or {}
        check_keys(cls, data, "scrape.http", error=ConfigError)
        cfg = dataclasses.replace(base or cls(), **data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Reject values that would make the crawler misbehave."""
        for name in ("connect_timeout_s", "read_timeout_s", "body_timeout_s"):
            if float(getattr(self, name)) <= 0:
                raise ConfigError(f"scrape.http.{name} must be > 0")
        for name in ("retries", "backoff_s", "backoff_max_s", "max_wait_s", "max_redirects", "per_host_delay_s"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"scrape.http.{name} must be >= 0")
        if self.max_page_bytes <= 0 or self.max_host_failures <= 0:
            raise ConfigError("scrape.http.max_page_bytes and max_host_failures must be > 0")
        if self.robots_unavailable not in ("disallow", "allow"):
            raise ConfigError("scrape.http.robots_unavailable must be 'disallow' or 'allow'")
        if not self.user_agent.strip():
            raise ConfigError("scrape.http.user_agent must not be empty")


@dataclass(frozen=True)
class Selectors:
    """CSS selectors; ``"css@attr"`` reads an attribute instead of the text."""

    # Links worth following: product pages and category listings.
    product_links: str = "a[href]"
    pagination: str = "a[rel~=next], link[rel~=next]"
    # Used in ``css`` mode only (``auto`` and ``jsonld`` read structured data).
    product: str = ""
    images: str = "img"
    name: str = "h1"
    category: str = ""
    product_id: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str) -> Selectors:
        """Build from params, rejecting unknown keys."""
        data = data or {}
        check_keys(cls, data, where, error=ConfigError)
        return cls(**{k: str(v) for k, v in data.items()})


@dataclass(frozen=True)
class SourceConfig:
    """One site to crawl, with its own limits and extraction mode."""

    name: str
    kind: Literal["http", "demo"] = "http"
    start_urls: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    # auto: every kind of structured data (pipeline.scrape.structured); jsonld: Product JSON-LD only;
    # css: the selectors below.
    mode: Literal["auto", "jsonld", "css"] = "auto"
    selectors: Selectors = field(default_factory=Selectors)
    max_pages: int = 100
    max_items: int = 1000
    max_images_per_product: int = 8
    max_image_bytes: int = 15_000_000
    # Raw site category (lower-cased) -> the team's names (upper_body, lower_body, dresses).
    category_map: dict[str, str] = field(default_factory=dict)
    default_category: str = ""
    http: HttpConfig = field(default_factory=HttpConfig)
    # (real base, public base): URLs are fetched from the first and recorded under the second.
    _url_alias: tuple[str, str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], http: HttpConfig, index: int = 0) -> SourceConfig:
        """Build one source; its ``http:`` block overrides the global one key by key."""
        where = f"scrape.sources[{index}]"
        check_keys(cls, data, where, error=ConfigError)
        if "name" not in data:
            raise ConfigError(f"{where}: 'name' is required")
        kw = dict(data)
        kw["http"] = HttpConfig.from_dict(data.get("http"), base=http)
        kw["selectors"] = Selectors.from_dict(data.get("selectors"), f"{where}.selectors")
        kw["start_urls"] = tuple(_as_list(data.get("start_urls"), f"{where}.start_urls"))
        kw["allowed_domains"] = tuple(d.lower().lstrip(".") for d in _as_list(data.get("allowed_domains"), f"{where}.allowed_domains"))
        kw["category_map"] = {str(k).lower(): str(v) for k, v in (data.get("category_map") or {}).items()}
        src = cls(**kw)
        src.validate(where)
        return src

    def validate(self, where: str) -> None:
        """Check that the source can be crawled as configured."""
        if self.kind not in ("http", "demo"):
            raise ConfigError(f"{where}.kind must be 'http' or 'demo', got {self.kind!r}")
        if self.mode not in ("auto", "jsonld", "css"):
            raise ConfigError(f"{where}.mode must be 'auto', 'jsonld' or 'css', got {self.mode!r}")
        if not self.start_urls:
            raise ConfigError(f"{where}.start_urls must list at least one URL")
        if self.kind == "http":
            for url in self.start_urls:
                if urlsplit(url).scheme not in ("http", "https"):
                    raise ConfigError(f"{where}: start URL {url!r} must be absolute http(s) for kind 'http'")
        else:
            for url in self.start_urls:
                if urlsplit(url).scheme:
                    raise ConfigError(f"{where}: start URL {url!r} of a demo source must be a path like '/catalog'")
        if self.mode == "css" and not self.selectors.images:
            raise ConfigError(f"{where}.selectors.images is required in css mode")
        for name in ("max_pages", "max_items", "max_images_per_product", "max_image_bytes"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"{where}.{name} must be > 0")

    def bind_base(self, base_url: str, public_base: str = DEMO_PUBLIC_BASE) -> SourceConfig:
        """Resolve a demo source's relative start URLs against the running shop's base URL."""
        base = base_url.rstrip("/")
        host = (urlsplit(base).hostname or "").lower()
        return dataclasses.replace(
            self,
            start_urls=tuple(urljoin(base + "/", u.lstrip("/")) for u in self.start_urls),
            allowed_domains=(host,),
            _url_alias=(base, public_base.rstrip("/")),
        )

    def public_url(self, url: str) -> str:
        """The URL as recorded in the manifest and journal (stable across demo-shop ports)."""
        if self._url_alias and url.startswith(self._url_alias[0]):
            return self._url_alias[1] + url[len(self._url_alias[0]):]
        return url

    def allows(self, url: str) -> bool:
        """Whether ``url`` is on one of the allowed domains (subdomains included)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return False
        host = (parts.hostname or "").lower()
        domains = self.allowed_domains or tuple((urlsplit(u).hostname or "").lower() for u in self.start_urls)
        return any(host == d or host.endswith("." + d) for d in domains)


@dataclass(frozen=True)
class ScrapeConfig:
    """Everything the crawler needs: sources, HTTP manners, image checks, dedup."""

    sources: tuple[SourceConfig, ...]
    http: HttpConfig = field(default_factory=HttpConfig)
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    phash_max_distance: int = 4
    progress: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScrapeConfig:
        """Build from the ``scrape:`` params block (without its ``demo_shop:`` sub-block)."""
        check_keys(cls, data, "scrape", error=ConfigError)
        http = HttpConfig.from_dict(data.get("http"))
        limits_raw = data.get("image_limits") or {}
        check_keys(ImageLimits, limits_raw, "scrape.image_limits", error=ConfigError)
        sources_raw = data.get("sources") or []
        if not isinstance(sources_raw, list) or not sources_raw:
            raise ConfigError("scrape.sources must be a non-empty list")
        sources = tuple(SourceConfig.from_dict(s, http, i) for i, s in enumerate(sources_raw))
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"scrape.sources: names must be unique, got {names}")
        distance = int(data.get("phash_max_distance", 4))
        if not 0 <= distance <= 64:
            raise ConfigError("scrape.phash_max_distance must be within 0..64")
        return cls(
            sources=sources,
            http=http,
            image_limits=ImageLimits(**limits_raw),
            phash_max_distance=distance,
            progress=bool(data.get("progress", True)),
        )


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of strings")
    return [str(v) for v in value]

"""robots.txt rules per host, fetched once per run with the crawler's own HTTP manners.

Policy (RFC 9309): a missing robots.txt (any 4xx except 401/403/429) allows
everything; 401/403 disallow everything; an unreachable host or a 5xx answer
disallows everything unless ``robots_unavailable: allow`` is configured, since
a crawler cannot know what the site owner asked for. ``Crawl-delay`` is read
by urllib.robotparser, which understands whole seconds only.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from pipeline.log import get_logger
from pipeline.scrape.fetch import FetchError, Fetcher

log = get_logger(__name__)

ROBOTS_MAX_BYTES = 512_000  # Google's documented limit for robots.txt


class RobotsCache:
    """Answers ``can_fetch(url)`` and ``crawl_delay(url)``, loading each host's robots.txt lazily."""

    def __init__(self, fetcher: Fetcher, user_agent: str, unavailable: str = "disallow",
                 on_load: Callable[[str, str], None] | None = None) -> None:
        self._fetcher = fetcher
        self._agent = user_agent
        self._unavailable_allows = unavailable == "allow"
        self._parsers: dict[str, RobotFileParser] = {}
        self._status: dict[str, str] = {}
        self._on_load = on_load

    def _parser(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        parser = self._parsers.get(origin)
        if parser is None:
            parser, status = self._load(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")))
            self._parsers[origin] = parser
            self._status[origin] = status
        return parser

    def _load(self, robots_url: str) -> tuple[RobotFileParser, str]:
        parser = RobotFileParser(robots_url)
        status = "ok"
        try:
            # robots.txt may itself redirect (e.g. http -> https); any host is fine for it.
            result = self._fetcher.get(robots_url, max_bytes=ROBOTS_MAX_BYTES, accept=None, check=None)
            parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        except FetchError as exc:
            code = exc.status or 0
            if code in (401, 403):
                parser.disallow_all = True
                status = f"forbidden_{code}"
            elif 400 <= code < 500 and code != 429:
                parser.allow_all = True
                status = "missing"
            elif self._unavailable_allows:
                parser.allow_all = True
                status = f"unavailable_{exc.reason}_allowed"
            else:
                parser.disallow_all = True
                status = f"unavailable_{exc.reason}"
        # RobotFileParser.can_fetch answers False until it believes the file was read.
        parser.modified()
        log.info("robots", url=robots_url, status=status)
        if self._on_load:
            self._on_load(robots_url, status)
        return parser, status

    def refusal(self, url: str) -> str | None:
        """None when ``url`` may be fetched, else ``robots_disallowed`` or ``robots_unavailable``."""
        if self.can_fetch(url):
            return None
        parts = urlsplit(url)
        status = self._status.get(f"{parts.scheme}://{parts.netloc}", "")
        return "robots_unavailable" if status.startswith("unavailable") else "robots_disallowed"

    def can_fetch(self, url: str) -> bool:
        """Whether robots.txt of ``url``'s host lets our user agent fetch it."""
        return self._parser(url).can_fetch(self._agent, url)

    def crawl_delay(self, url: str) -> float | None:
        """The host's Crawl-delay for our user agent, if it declares one."""
        delay = self._parser(url).crawl_delay(self._agent)
        return float(delay) if delay is not None else None

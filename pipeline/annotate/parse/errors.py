"""Errors the parser raises; ``reason`` is a short slug stages count in their metrics."""

from __future__ import annotations


class ParseError(RuntimeError):
    """A picture could not be parsed."""

    reason = "parse_failed"


class NoPersonFound(ParseError):
    """No person was detected in the picture."""

    reason = "no_person"


class ParserUnavailable(RuntimeError):
    """The parser cannot be built (missing model file, bad model); the message names the param to set."""

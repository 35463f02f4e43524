"""Human parsing into the CIHP 20-label set VITON-HD uses (``image-parse-v3``).

``build_parser(ParseConfig(...)).parse(rgb)`` returns HxW CIHP ids; ``save_parse_png`` and
``load_parse_png`` read and write them as palette PNGs.
"""

from pipeline.annotate.parse.base import HumanParser
from pipeline.annotate.parse.builder import build_parser
from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse.errors import NoPersonFound, ParseError, ParserUnavailable
from pipeline.annotate.parse.labels import CIHP_LABELS, CIHP_PALETTE, to_cihp
from pipeline.annotate.parse.palette_io import load_parse_png, save_parse_png

__all__ = [
    "CIHP_LABELS", "CIHP_PALETTE", "HumanParser", "NoPersonFound", "ParseConfig", "ParseError",
    "ParserUnavailable", "build_parser", "load_parse_png", "save_parse_png", "to_cihp",
]

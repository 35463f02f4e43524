"""The demo catalogue: products, their pages' facts and their image bytes, from a seed.

Every product gets a flat garment shot and a person photo wearing the same
garment. Looks are re-drawn until no two images are near-duplicates by
perceptual hash, so a crawl keeps every real product. With ``traps`` on, the
catalogue also lists a robots-disallowed product, a product with a dangling
image link and a re-listed product whose garment shot is a byte-exact copy.
"""

from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass, field, replace

import imagehash
import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.demoshop.config import DemoShopConfig
from pipeline.demoshop.designs import KINDS, PRINTS, GarmentDesign, draw_design
from pipeline.demoshop.garment_region import GarmentRegionError, PhotoAnalysis
from pipeline.demoshop.garments import render_garment
from pipeline.demoshop.persons import analyse_base_photo, draw_variant, render_person
from pipeline.log import get_logger

log = get_logger(__name__)

CATEGORY = "upper_body"  # VITON-HD / DressCode naming, as the pipeline expects
MATERIALS: dict[str, str] = {
    "t-shirt": "soft cotton jersey",
    "long-sleeve": "organic cotton jersey",
    "tank-top": "ribbed cotton",
    "sweater": "fine merino knit",
    "hoodie": "brushed cotton-blend fleece",
    "shirt": "crisp cotton poplin",
}
BASE_PRICE: dict[str, float] = {
    "t-shirt": 19.0,
    "long-sleeve": 24.0,
    "tank-top": 15.0,
    "sweater": 59.0,
    "hoodie": 49.0,
    "shirt": 39.0,
}
MAX_GARMENT_TRIES = 16
MAX_PERSON_TRIES = 32


class DemoShopBuildError(RuntimeError):
    """The catalogue cannot be built (no usable base photo)."""


@dataclass(frozen=True)
class Product:
    """One catalogue entry as its page shows it. Image entries are URL paths."""

    product_id: str
    sku: str
    name: str
    category: str
    garment_type: str
    colour: str
    print: str
    description: str
    price: str
    images: tuple[str, ...]
    private: bool = False

    @property
    def page_path(self) -> str:
        """URL path of the product page."""
        return f"/private/product/{self.product_id}" if self.private else f"/product/{self.product_id}"


@dataclass
class Catalog:
    """A built demo shop: products in listing order and every served image."""

    config: DemoShopConfig
    products: list[Product]
    images: dict[str, bytes]  # URL path -> JPEG bytes
    designs: dict[str, GarmentDesign] = field(default_factory=dict)  # product_id -> design
    build_seconds: float = 0.0
    cpu_seconds: float = 0.0
    renders: int = 0  # garment shots and photos rendered, re-draws included

    def product(self, product_id: str) -> Product | None:
        """The product with ``product_id``, or None."""
        return next((p for p in self.products if p.product_id == product_id), None)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=False, subsampling=2)
    return buf.getvalue()


class _UniqueImages:
    """Perceptual hashes of accepted images, to refuse near-duplicates."""

    def __init__(self, min_distance: int) -> None:
        self.min_distance = min_distance
        self.hashes: list[imagehash.ImageHash] = []

    def distance(self, jpeg: bytes) -> tuple[int, imagehash.ImageHash]:
        """Smallest distance to an accepted image; hashed after JPEG coding, as a crawler sees it."""
        h = imagehash.phash(Image.open(io.BytesIO(jpeg)))
        return min((h - other for other in self.hashes), default=64), h

    def accept(self, h: imagehash.ImageHash) -> None:
        self.hashes.append(h)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _describe(design: GarmentDesign, rng: np.random.Generator) -> str:
    fit = ("Regular", "Relaxed", "Slim", "Boxy")[int(rng.integers(4))]
    pattern = {
        "solid": "in a solid, garment-dyed colour",
        "stripes": "with yarn-dyed horizontal stripes",
        "dots": "with an all-over polka-dot print",
        "checks": "in a classic gingham check",
        "logo": "with a small graphic on the chest",
    }[design.print]
    return (
        f"{fit} fit {KINDS[design.kind].lower()} made of {MATERIALS[design.kind]}, "
        f"{design.colour_name.lower()} {pattern}. The model photo shows this exact piece."
    )


def _price(design: GarmentDesign, rng: np.random.Generator) -> str:
    return f"{BASE_PRICE[design.kind] + float(rng.integers(0, 5)) * 5 + 0.9:.2f}"


class _Builder:
    def __init__(self, cfg: DemoShopConfig) -> None:
        self.cfg = cfg
        self.analyses: dict[tuple[str, bool], PhotoAnalysis] = {}
        self.garment_hashes = _UniqueImages(cfg.min_phash_distance)
        self.person_hashes = _UniqueImages(cfg.min_phash_distance)
        self.names: set[str] = set()
        self.renders = 0
        order = _rng(cfg.seed, 0)
        self.kinds = [list(KINDS)[i] for i in order.permutation(len(KINDS))]
        self.prints = [PRINTS[i] for i in order.permutation(len(PRINTS))]

        # Each base photo is analysed once per build; one that fails is left out.
        self.bases: list[str] = []
        for base in cfg.base_photos:
            try:
                self.analyses[(base, False)] = analyse_base_photo(base)
            except (GarmentRegionError, OSError, ValueError) as exc:
                log.warning("base photo unusable, left out", base=base, error=str(exc))
                continue
            self.bases.append(base)
        if not self.bases:
            raise DemoShopBuildError(
                f"demo shop: none of the base photos {list(cfg.base_photos)} could be used "
                "(see the warnings above); check the matplotlib and scikit-image installs"
            )

    def analysis(self, base: str, flip: bool) -> PhotoAnalysis:
        key = (base, flip)
        if key not in self.analyses:
            self.analyses[key] = self.analyses[(base, False)].flipped()
        return self.analyses[key]

    def garment(self, index: int) -> tuple[GarmentDesign, bytes]:
        """A design whose name and flat shot differ from every earlier one."""
        cfg = self.cfg
        kind = self.kinds[index % len(self.kinds)]
        print_name = self.prints[(index + index // len(self.kinds)) % len(self.prints)]
        best: tuple[int, GarmentDesign, bytes, imagehash.ImageHash] | None = None
        for attempt in range(MAX_GARMENT_TRIES):
            rng = _rng(cfg.seed, 1, index, attempt)
            design = draw_design(rng, kind, print_name)
            # Names stay unique while the colour draws allow it.
            if design.display_name in self.names and attempt < MAX_GARMENT_TRIES // 2:
                continue
            self.renders += 1
            img = _jpeg(render_garment(design, rng, cfg.image_width, cfg.image_height), cfg.jpeg_quality)
            dist, h = self.garment_hashes.distance(img)
            if best is None or dist > best[0]:
                best = (dist, design, img, h)
            if dist >= cfg.min_phash_distance:
                break
        assert best is not None  # the later attempts always render
        dist, design, img, h = best
        if dist < cfg.min_phash_distance:
            log.warning("garment shot close to another", index=index, phash_distance=dist)
        self.garment_hashes.accept(h)
        self.names.add(design.display_name)
        return design, img

    def person(self, index: int, design: GarmentDesign) -> bytes:
        """A photo of ``design`` worn, framed unlike every earlier photo."""
        cfg = self.cfg
        bases = self.bases
        base = bases[index % len(bases)]
        flip = (index // len(bases)) % 2 == 1
        analysis = self.analysis(base, flip)
        best: tuple[int, bytes, imagehash.ImageHash] | None = None
        for attempt in range(MAX_PERSON_TRIES):
            variant = draw_variant(_rng(cfg.seed, 2, index, attempt), base, flip)
            self.renders += 1
            img = _jpeg(render_person(design, analysis, variant, cfg.image_width, cfg.image_height), cfg.jpeg_quality)
            dist, h = self.person_hashes.distance(img)
            if best is None or dist > best[0]:
                best = (dist, img, h)
            if dist >= cfg.min_phash_distance:
                break
        assert best is not None
        dist, img, h = best
        if dist < cfg.min_phash_distance:
            log.warning("person photo close to another", index=index, phash_distance=dist)
        self.person_hashes.accept(h)
        return img


def _ids(seed: int, index: int, tag: str = "") -> tuple[str, str]:
    sku = f"VSK-{seed:04d}-{tag}{index + 1:03d}"
    return sku.lower(), sku


@functools.lru_cache(maxsize=4)
def build_catalog(cfg: DemoShopConfig) -> Catalog:
    """Build (or return the cached build of) the catalogue for ``cfg``."""
    started, cpu_started = time.perf_counter(), time.process_time()
    builder = _Builder(cfg)
    products: list[Product] = []
    images: dict[str, bytes] = {}
    designs: dict[str, GarmentDesign] = {}

    def add(
        index: int,
        tag: str = "",
        private: bool = False,
        reuse: tuple[GarmentDesign, bytes] | None = None,
    ) -> Product:
        pid, sku = _ids(cfg.seed, index, tag)
        slot = 1000 + index if tag else index  # trap products draw from their own streams
        design, garment_bytes = reuse or builder.garment(slot)
        person_bytes = builder.person(slot, design)
        root = "/private/images" if private else "/images"
        paths = [f"{root}/{pid}-garment.jpg", f"{root}/{pid}-model.jpg"]
        images[paths[0]] = garment_bytes
        images[paths[1]] = person_bytes
        rng = _rng(cfg.seed, 3, index, len(tag))
        product = Product(
            product_id=pid,
            sku=sku,
            name=design.display_name,
            category=CATEGORY,
            garment_type=design.kind,
            colour=design.colour_name,
            print=design.print,
            description=_describe(design, rng),
            price=_price(design, rng),
            images=tuple(paths),
            private=private,
        )
        designs[pid] = design
        return product

    regular: list[Product] = []
    first_garment: tuple[GarmentDesign, bytes] | None = None
    # disable=None: a bar on a terminal, silence in logs and CI.
    for i in tqdm(range(cfg.products), desc="demo shop", unit="product", leave=False, disable=None):
        product = add(i)
        if i == 0:
            first_garment = (designs[product.product_id], images[product.images[0]])
        regular.append(product)
    products = list(regular)
    if cfg.traps:
        # A dangling third image on one product: the page links it, the server 404s it.
        k = min(2, len(products) - 1)
        victim = products[k]
        products[k] = _with_images(victim, (*victim.images, f"/images/{victim.product_id}-detail.jpg"))
        # Listed but disallowed by robots.txt.
        private = add(0, tag="p", private=True)
        products.insert(min(cfg.per_page + 1, len(products)), private)
        # Re-listed first product: its garment shot is a byte-exact copy under a new URL.
        assert first_garment is not None
        products.append(add(1, tag="r", reuse=first_garment))
    catalog = Catalog(
        config=cfg,
        products=products,
        images=images,
        designs=designs,
        build_seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
        renders=builder.renders,
    )
    log.info(
        "demo shop built",
        products=len(products),
        images=len(images),
        seconds=round(catalog.build_seconds, 2),
        cpu_seconds=round(catalog.cpu_seconds, 2),
        renders=catalog.renders,
        seed=cfg.seed,
    )
    return catalog


def _with_images(product: Product, images: tuple[str, ...]) -> Product:
    return replace(product, images=images)

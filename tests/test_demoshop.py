"""The embedded demo shop: determinism, site structure over real HTTP, image uniqueness, re-dressed photos."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.robotparser import RobotFileParser

import cv2
import imagehash
import numpy as np
import pytest
import requests
from bs4 import BeautifulSoup
from PIL import Image

from pipeline.demoshop import DemoShopConfig, build_catalog, running_demo_shop
from pipeline.demoshop.designs import PALETTE, GarmentDesign
from pipeline.demoshop.garment_region import GarmentRegionError, analyse_photo
from pipeline.demoshop.pages import render_product
from pipeline.demoshop.persons import analyse_base_photo, draw_variant, garment_mask, render_person

SMALL = DemoShopConfig(products=4, traps=False)


@pytest.fixture(scope="module")
def catalog():
    cat = build_catalog(DemoShopConfig())
    print(f"\ndemo shop build: {len(cat.products)} products, {len(cat.images)} images in {cat.build_seconds:.1f} s")
    return cat


def _hue_deg(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    return hsv[:, 0].astype(np.float64) * 2.0


def _circular_mean(deg: np.ndarray) -> float:
    rad = np.deg2rad(deg)
    return float(np.rad2deg(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360)


def _hue_gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_config_from_dict_rejects_unknown_and_bad_values():
    cfg = DemoShopConfig.from_dict({"seed": 3, "products": 5, "base_photos": ["astronaut"]})
    assert (cfg.seed, cfg.products, cfg.base_photos) == (3, 5, ("astronaut",))
    with pytest.raises(ValueError, match="unknown demo shop param"):
        DemoShopConfig.from_dict({"seeds": 1})
    with pytest.raises(ValueError, match="products"):
        DemoShopConfig.from_dict({"products": 0})
    with pytest.raises(ValueError, match="base_photos"):
        DemoShopConfig.from_dict({"base_photos": ["lena"]})


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    fresh = build_catalog.__wrapped__  # bypass the in-process cache: two real builds
    a, b = fresh(SMALL), fresh(SMALL)
    assert a.images.keys() == b.images.keys()
    for path in a.images:
        assert a.images[path] == b.images[path], path
    for pa, pb in zip(a.products, b.products):
        assert render_product(pa, "http://h:1") == render_product(pb, "http://h:1")
    c = fresh(dataclasses.replace(SMALL, seed=1))
    digests_a = {hashlib.sha256(v).hexdigest() for v in a.images.values()}
    digests_c = {hashlib.sha256(v).hexdigest() for v in c.images.values()}
    assert not digests_a & digests_c
    assert [p.name for p in a.products] != [p.name for p in c.products]


def test_catalogue_has_enough_products_of_several_kinds(catalog):
    regular = [p for p in catalog.products if not p.private and "-r" not in p.product_id]
    assert len(regular) >= 24
    assert len({p.garment_type for p in regular}) >= 5
    assert len({p.print for p in regular}) >= 4
    assert {p.category for p in catalog.products} == {"upper_body"}
    assert len({p.product_id for p in catalog.products}) == len(catalog.products)
    assert len({p.name for p in regular}) == len(regular)
    for p in catalog.products:
        assert p.images[0].endswith("-garment.jpg") and p.images[1].endswith("-model.jpg")


def test_no_two_images_are_near_duplicates(catalog):
    hashes = {path: imagehash.phash(_decode(data)) for path, data in catalog.images.items()}
    digests = {path: hashlib.sha256(data).digest() for path, data in catalog.images.items()}
    closest = 64
    for a, b in itertools.combinations(hashes, 2):
        if digests[a] == digests[b]:
            continue  # the deliberate exact duplicate
        d = hashes[a] - hashes[b]
        assert d > 8, (a, b, d)
        closest = min(closest, d)
    print(f"\nclosest pair of distinct images: phash distance {closest}")


def test_site_over_http(catalog):
    with running_demo_shop(DemoShopConfig()) as base:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
        session = requests.Session()

        robots = RobotFileParser()
        robots.parse(session.get(f"{base}/robots.txt", timeout=10).text.splitlines())
        assert not robots.can_fetch("vton-test", f"{base}/private/product/x")
        assert robots.can_fetch("vton-test", f"{base}/product/x")
        assert robots.can_fetch("vton-test", f"{base}/catalog?page=2")
        assert robots.crawl_delay("vton-test") is None

        links: list[str] = []
        url: str | None = f"{base}/catalog?page=1"
        pages = 0
        while url:
            r = session.get(url, timeout=10)
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
            soup = BeautifulSoup(r.text, "lxml")
            links += [a["href"] for a in soup.select("a.product-link")]
            nxt = soup.select_one('a[rel="next"].next')
            url = base + nxt["href"] if nxt else None
            pages += 1
        assert pages == math.ceil(len(catalog.products) / catalog.config.per_page)
        assert len(links) == len(catalog.products)
        assert sum(link.startswith("/private/") for link in links) == 1
        assert session.get(f"{base}/catalog?page={pages + 1}", timeout=10).status_code == 404

        statuses: dict[str, int] = {}
        bodies: dict[str, bytes] = {}
        for link in links:
            if link.startswith("/private/"):
                continue
            r = session.get(base + link, timeout=10)
            assert r.status_code == 200
            soup = BeautifulSoup(r.text, "lxml")
            data = json.loads(soup.select_one('script[type="application/ld+json"]').string)
            assert data["@type"] == "Product"
            assert data["name"] == soup.select_one("h1.product-name").get_text(strip=True)
            assert data["category"] == soup.select_one("span.category").get_text(strip=True) == "upper_body"
            assert data["sku"] and data["productID"] and data["description"] and data["offers"]["price"]
            images = data["image"]
            assert images[0].endswith("-garment.jpg") and images[1].endswith("-model.jpg")
            assert [base + img["src"] for img in soup.select("img.product-image")] == images
            for image_url in images:
                assert image_url.startswith(base + "/images/")
                resp = session.get(image_url, timeout=10)
                statuses[image_url] = resp.status_code
                if resp.status_code == 200:
                    assert resp.headers["Content-Type"] == "image/jpeg"
                    assert int(resp.headers["Content-Length"]) == len(resp.content)
                    assert min(_decode(resp.content).size) >= 256
                    bodies[image_url] = resp.content
        assert sum(s == 404 for s in statuses.values()) == 1
        assert all(s in (200, 404) for s in statuses.values())
        by_digest: dict[str, list[str]] = {}
        for image_url, body in bodies.items():
            by_digest.setdefault(hashlib.sha256(body).hexdigest(), []).append(image_url)
        assert sorted(len(v) for v in by_digest.values() if len(v) > 1) == [2]


@pytest.mark.parametrize("base", ["grace_hopper", "astronaut"])
@pytest.mark.parametrize("colour", ["Coral", "Teal", "Royal Blue", "Mustard"])
def test_person_photo_carries_the_garment_colour(base, colour):
    analysis = _analysis(base)
    design = GarmentDesign("t-shirt", colour, PALETTE[colour], "solid", (255, 255, 255), 0.1, 0.4, "ring", "VSK")
    variant = draw_variant(np.random.default_rng(0), base, False)
    img = np.asarray(render_person(design, analysis, variant, 600, 800))
    mask = garment_mask(analysis, variant, 600, 800) > 0.9
    assert mask.mean() > 0.15  # the clothes are a good part of a portrait
    region = img[mask]
    target = _hue_deg(np.asarray(PALETTE[colour]))[0]
    assert _hue_gap(_circular_mean(_hue_deg(region)), target) < 12
    # The median colour of the region is the dye itself (shading is normalised to 1).
    assert np.abs(np.median(region, axis=0) - np.asarray(PALETTE[colour])).max() < 30
    # Outside the clothes the photo is untouched by the new colour.
    outside = img[garment_mask(analysis, variant, 600, 800) < 0.01]
    near = np.mean(np.abs(outside.astype(int) - np.asarray(PALETTE[colour])).max(axis=1) < 20)
    assert near < 0.1


def test_photo_without_a_person_is_refused_clearly():
    with pytest.raises(GarmentRegionError):
        analyse_photo(np.full((400, 300, 3), 200, np.uint8))


_ANALYSES: dict[str, object] = {}


def _analysis(base: str):
    if base not in _ANALYSES:
        _ANALYSES[base] = analyse_base_photo(base)
    return _ANALYSES[base]


def test_catalogue_photos_wear_their_product_colour(catalog):
    checked = 0
    for p in catalog.products:
        design = catalog.designs[p.product_id]
        hsv = cv2.cvtColor(np.uint8([[design.colour]]), cv2.COLOR_RGB2HSV)[0, 0]
        if design.print != "solid" or hsv[1] < 90:
            continue  # greys, whites and blacks have no hue to compare
        target = float(hsv[0]) * 2
        for path in p.images[:2]:
            pixels = np.asarray(_decode(catalog.images[path])).reshape(-1, 3)
            sat = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)[:, 1]
            hues = _hue_deg(pixels)
            share = np.mean((sat > 80) & (np.abs((hues - target + 180) % 360 - 180) < 15))
            assert share > 0.08, (path, design.colour_name, share)
        checked += 1
    assert checked >= 2


def test_cli_serves_until_interrupted():
    env = dict(os.environ, VTON_LOG_LEVEL="INFO")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "demo-shop", "--port", "0", "--products", "2", "--no-traps"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell starts background jobs with SIGINT ignored, and children inherit that (Python then
        # never turns SIGINT into KeyboardInterrupt): give the server the default a terminal user has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"url=(http://127\.0\.0\.1:\d+)/catalog", line)
            url = m.group(1) if m else None
        assert url, "the command never announced its URL"
        # Keep reading the log, so a full pipe can never hold the server up, and show it on failure.
        rest: list[str] = []
        reader = threading.Thread(target=lambda: rest.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        r = requests.get(f"{url}/catalog?page=1", timeout=10)
        assert r.status_code == 200 and r.text.count('class="product-link"') == 2
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"exit {code} after SIGINT; its log after the URL:\n{''.join(rest)[-3000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

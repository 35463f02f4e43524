"""Skin at hands, arms, legs and neck with a covered torso (pipeline.classify.skin), on drawn pictures."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.classify.skin import skin_evidence, skin_mask

SKIN = (224, 172, 140)  # RGB of a light skin tone
BEIGE = (214, 178, 150)  # a skin-toned fabric


def _marks(h: int = 800, w: int = 600) -> np.ndarray:
    """BlazePose-like landmarks (33x4, picture fractions) of an upright figure."""
    m = np.zeros((33, 4))
    pts = {11: (370, 200), 12: (230, 200), 13: (400, 330), 14: (200, 330), 15: (410, 450), 16: (190, 450),
           17: (415, 480), 18: (185, 480), 19: (412, 490), 20: (188, 490), 21: (405, 475), 22: (195, 475),
           23: (340, 460), 24: (260, 460), 25: (345, 600), 26: (255, 600), 27: (345, 740), 28: (255, 740)}
    for i, (x, y) in pts.items():
        m[i] = (x / w, y / h, 0, 0.9)
    return m


def _figure(torso: tuple[int, int, int], limbs: tuple[int, int, int]) -> np.ndarray:
    img = np.full((800, 600, 3), 245, np.uint8)
    marks = _marks()
    xy = (marks[:, :2] * [600, 800]).astype(int)
    for a, b in ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28)):
        cv2.line(img, tuple(xy[a]), tuple(xy[b]), limbs, 40)
    for i in (19, 20):
        cv2.circle(img, tuple(xy[i]), 28, limbs, -1)
    cv2.circle(img, (300, 160), 40, limbs, -1)  # the neck, below a cropped-off head
    cv2.fillPoly(img, [xy[[11, 12, 24, 23]]], torso)
    cv2.rectangle(img, (240, 420), (360, 520), torso, -1)
    return img


def test_skin_mask_tells_skin_from_white_and_blue() -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0], img[0, 1], img[1, 0], img[1, 1] = SKIN, (250, 250, 250), (40, 60, 160), (20, 20, 20)
    assert skin_mask(img).tolist() == [[True, False], [False, False]]


def test_headless_person_in_a_blue_top_shows_skin_with_a_covered_torso() -> None:
    evidence = skin_evidence(_figure(torso=(40, 60, 160), limbs=SKIN), _marks(), 0.15)
    assert evidence.skin_sites(0.3) >= 6
    assert evidence.is_person(0.3, 2, 0.4, 20.0)
    assert evidence.is_person(0.3, 2, 0.4, 20.0, 10.0)  # the blue is far from the skin's tone


def test_skin_toned_garment_is_not_skin_evidence() -> None:
    """Everything one beige fabric: skin-coloured everywhere, torso included, no contrast."""
    evidence = skin_evidence(_figure(torso=BEIGE, limbs=BEIGE), _marks(), 0.15)
    assert evidence.skin_sites(0.3) >= 6  # the colour test alone would be fooled...
    assert not evidence.is_person(0.3, 2, 0.4, 20.0)  # ...the covered-torso test is not


def test_a_dark_red_dress_on_skin_counts_by_contrast() -> None:
    """A torso the colour box also calls skin, but far from the arms' tone in CIELAB."""
    evidence = skin_evidence(_figure(torso=(120, 50, 40), limbs=SKIN), _marks(), 0.15)
    assert evidence.torso is not None and evidence.torso > 0.4
    assert evidence.torso_contrast is not None and evidence.torso_contrast >= 20
    assert evidence.is_person(0.3, 2, 0.4, 20.0)
    assert not evidence.is_person(0.3, 2, 0.4, float("inf"))  # by skin share alone it would be missed


def test_a_red_fabric_the_skin_box_half_takes_for_skin_is_no_evidence() -> None:
    """One mottled red garment everywhere: a third of its pixels fall in the skin box, so the sites
    look like skin and the torso like clothing by share, but the torso's colour is the sites' tone."""
    in_box, out_of_box = (150, 45, 55), (160, 40, 50)
    img = _figure(torso=in_box, limbs=in_box)
    fabric = (img == in_box).all(-1)
    img[fabric & (np.random.default_rng(0).random(img.shape[:2]) < 0.65)] = out_of_box
    evidence = skin_evidence(img, _marks(), 0.15)
    assert evidence.skin_sites(0.3) >= 6 and evidence.torso is not None and evidence.torso < 0.4
    assert evidence.torso_contrast is not None and evidence.torso_contrast < 10
    assert evidence.is_person(0.3, 2, 0.4, 20.0)  # fooled without the gap...
    assert not evidence.is_person(0.3, 2, 0.4, 20.0, 10.0)  # ...not with it


def test_a_skin_toned_top_with_its_hips_on_the_backdrop_is_no_person() -> None:
    """A flat beige top: its pose's hips fall below the hem, on the white sweep, which is neither skin
    nor of the beige's tone; a torso of the sites' own colour still says one material, no clothing."""
    img = _figure(torso=BEIGE, limbs=BEIGE)
    img[430:] = 245  # the top ends above the hips; legs and the hip band are backdrop
    evidence = skin_evidence(img, _marks(), 0.15)
    assert evidence.hips is not None and evidence.hips < 0.4  # the hips alone would pass for covered
    assert evidence.torso is not None and evidence.torso >= 0.4
    assert not evidence.is_person(0.3, 2, 0.4, 20.0, 10.0)

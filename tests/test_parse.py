"""Human parsing: label mappings, palette PNGs, the ONNX backend end to end, the mediapipe backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.annotate.parse import (
    CIHP_LABELS, NoPersonFound, ParseConfig, ParserUnavailable, build_parser, load_parse_png,
    save_parse_png, to_cihp,
)
from pipeline.annotate.parse.labels import (
    ATR_LABELS, ATR_TO_CIHP, CIHP_PALETTE, DRESS, FACE, HAIR, LIP_LABELS, LIP_TO_CIHP, NECK,
    PANTS, UPPER,
)
from pipeline.annotate.parse.builder import parser_name
from pipeline.annotate.parse.metrics import IoUAccumulator
from pipeline.annotate.parse.skin import fill_neck

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --- label sets ---------------------------------------------------------------------

@pytest.mark.parametrize("labels, table", [(ATR_LABELS, ATR_TO_CIHP), (LIP_LABELS, LIP_TO_CIHP)])
def test_every_source_id_maps_into_cihp(labels: tuple[str, ...], table: tuple[int, ...]) -> None:
    assert len(table) == len(labels)
    assert all(0 <= v < len(CIHP_LABELS) for v in table)


def test_mappings_keep_names_and_sides() -> None:
    for src_labels, table in ((ATR_LABELS, ATR_TO_CIHP), (LIP_LABELS, LIP_TO_CIHP)):
        for i, name in enumerate(src_labels):
            if name in CIHP_LABELS:
                assert CIHP_LABELS[table[i]] == name, name
    # Lossy entries are deliberate choices.
    assert LIP_TO_CIHP[LIP_LABELS.index("jumpsuits")] == DRESS
    assert ATR_TO_CIHP[ATR_LABELS.index("belt")] == PANTS
    assert ATR_TO_CIHP[ATR_LABELS.index("bag")] == 0
    # Neither source set has a neck; nothing maps onto CIHP 10 except through fill_neck.
    assert NECK not in ATR_TO_CIHP and NECK not in LIP_TO_CIHP


def test_to_cihp_converts_maps() -> None:
    atr = np.array([[0, 4, 11], [14, 15, 7]], np.uint8)
    assert to_cihp(atr, "atr").tolist() == [[0, 5, 13], [14, 15, 6]]
    with pytest.raises(ValueError, match="unknown label set"):
        to_cihp(atr, "pascal")


def test_fill_neck_marks_face_coloured_background_under_the_face() -> None:
    h, w = 120, 100
    skin = (200, 150, 120)
    rgb = np.full((h, w, 3), 255, np.uint8)
    labels = np.zeros((h, w), np.uint8)
    rgb[10:50, 30:70] = skin
    labels[10:50, 30:70] = FACE
    rgb[50:70, 40:60] = skin  # neck, left as background by LIP/ATR parsers
    rgb[70:, 10:90] = (30, 30, 160)
    labels[70:, 10:90] = UPPER
    out = fill_neck(labels, rgb)
    assert (out[52:68, 42:58] == NECK).all()
    assert (out[50:70, 28:38] == 0).all()  # white backdrop beside the neck stays background
    assert (out[70:] == labels[70:]).all()


# --- palette PNGs ---------------------------------------------------------------------

def test_palette_png_round_trip(tmp_path: Path) -> None:
    labels = np.arange(20, dtype=np.uint8).repeat(3).reshape(6, 10)
    path = tmp_path / "p.png"
    save_parse_png(path, labels)
    with Image.open(path) as img:
        assert img.mode == "P"
        assert img.getpalette()[: 60] == [c for rgb in CIHP_PALETTE for c in rgb]
    assert np.array_equal(load_parse_png(path), labels)


def test_palette_png_rejects_ids_outside_cihp(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside CIHP"):
        save_parse_png(tmp_path / "bad.png", np.full((4, 4), 20, np.uint8))
    assert not (tmp_path / "bad.png").exists()


# --- config ---------------------------------------------------------------------------

def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown parse param"):
        ParseConfig.from_dict({"backend": "onnx", "onnx_modle_path": "x"})
    with pytest.raises(ValueError, match="backend"):
        ParseConfig.from_dict({"backend": "schp"})
    cfg = ParseConfig.from_dict({"backend": "onnx", "onnx_input_size": [473, 473], "workers": 2})
    assert cfg.onnx_input_size == (473, 473)


# --- onnx backend ---------------------------------------------------------------------

def _export_colour_parser(path: Path) -> None:
    """A tiny SCHP-shaped network whose ATR logits follow the pixel colour.

    Channel logits read the normalised BGR input: upper-clothes (ATR 4) follows red,
    pants (ATR 6) green, face (ATR 11) blue, background a constant. Logits come out
    at 1/4 of the input, like SCHP's, as the second of three outputs (parsing,
    fusion, edge); the first is deliberately wrong so picking the wrong output fails.
    """
    torch = pytest.importorskip("torch")

    class ColourNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = torch.nn.AvgPool2d(4)
            self.head = torch.nn.Conv2d(3, 18, 1)
            with torch.no_grad():
                self.head.weight.zero_()
                self.head.bias.fill_(-10.0)
                self.head.bias[0] = 1.0
                # input channels are B, G, R
                for out_ch, in_ch in ((4, 2), (6, 1), (11, 0)):
                    self.head.weight[out_ch, in_ch, 0, 0] = 1.0
                    self.head.bias[out_ch] = 0.0

        def forward(self, x):  # type: ignore[no-untyped-def]
            fusion = self.head(self.pool(x))
            edge = fusion[:, :2]
            return -fusion, fusion, edge

    model = ColourNet().eval()
    torch.onnx.export(
        model, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False,
        input_names=["input"], output_names=["parsing", "fusion", "edge"],
    )


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "colour_parser.onnx"
    _export_colour_parser(path)
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_backend_end_to_end(colour_model: Path) -> None:
    h, w = 200, 120  # not the model's aspect: exercises the letterbox and its undoing
    rgb = np.zeros((h, w, 3), np.uint8)
    expected = np.zeros((h, w), np.uint8)
    rgb[:100, :60] = (255, 0, 0)
    expected[:100, :60] = UPPER
    rgb[:100, 60:] = (0, 255, 0)
    expected[:100, 60:] = PANTS
    rgb[100:, :60] = (0, 0, 255)
    expected[100:, :60] = FACE
    cfg = ParseConfig(backend="onnx", onnx_model_path=str(colour_model), onnx_label_set="atr", onnx_input_size=(64, 64))
    parser = build_parser(cfg)
    out = parser.parse(rgb)
    assert out.shape == (h, w) and out.dtype == np.uint8
    # Away from the region borders (blurred by the 4x pooling) every pixel is right;
    # with RGB fed instead of BGR, red would come out as face and this fails.
    inner = np.zeros((h, w), bool)
    for ys, xs in ((slice(12, 88), slice(12, 48)), (slice(12, 88), slice(72, 108)), (slice(112, 188), slice(12, 48)), (slice(112, 188), slice(72, 108))):
        inner[ys, xs] = True
    assert np.array_equal(out[inner], expected[inner])
    assert (out == expected).mean() > 0.9
    assert parser.name.startswith("onnx-atr:colour_parser.onnx:")
    assert parser_name(cfg) == parser.name  # the stage records it without loading the model
    parser.close()


def test_onnx_backend_picks_named_output(colour_model: Path) -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :] = (255, 0, 0)
    cfg = ParseConfig(backend="onnx", onnx_model_path=str(colour_model), onnx_input_size=(64, 64), onnx_output="parsing")
    out = build_parser(cfg).parse(rgb)
    assert not (out == UPPER).any()  # the negated logits never favour red -> upper


@pytest.mark.parametrize("path", [None, "/nonexistent/schp_atr.onnx"])
def test_missing_onnx_model_names_the_param(path: str | None) -> None:
    with pytest.raises(ParserUnavailable) as info:
        build_parser(ParseConfig(backend="onnx", onnx_model_path=path))
    msg = str(info.value)
    assert "parse.onnx_model_path" in msg
    assert msg.count(". ") == 0 and msg.endswith(".")  # one sentence


def test_corrupt_onnx_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ParserUnavailable, match="parse.onnx_model_path"):
        build_parser(ParseConfig(backend="onnx", onnx_model_path=str(bad)))


# --- mediapipe backend ----------------------------------------------------------------

@pytest.fixture(scope="module")
def mp_parser():  # type: ignore[no-untyped-def]
    parser = build_parser(ParseConfig())
    yield parser
    parser.close()


def test_mediapipe_parser_name_carries_version_and_settings(mp_parser) -> None:  # type: ignore[no-untyped-def]
    assert mp_parser.name == parser_name(ParseConfig()) == "mediapipe-heuristic-v2(long_side=512,complexity=1)"
    assert parser_name(ParseConfig(mp_work_long_side=384)) != mp_parser.name


def test_mediapipe_parse_does_not_depend_on_the_previous_picture(mp_parser) -> None:  # type: ignore[no-untyped-def]
    """Holistic reuses the last face for a close next picture (mediapipe#4981); each map must stand alone."""
    import matplotlib.cbook as cbook

    rgb = np.array(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    near = np.ascontiguousarray(np.roll(rgb, 3, axis=1))
    fresh = build_parser(ParseConfig())
    first = fresh.parse(rgb)
    fresh.close()
    mp_parser.parse(rgb)
    mp_parser.parse(near)
    np.testing.assert_array_equal(mp_parser.parse(rgb), first)


def test_mediapipe_parses_a_real_photo(mp_parser) -> None:  # type: ignore[no-untyped-def]
    cbook = pytest.importorskip("matplotlib.cbook")
    rgb = np.array(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    out = mp_parser.parse(rgb)
    assert out.shape == rgb.shape[:2]
    rows = {lab: np.nonzero(out == lab)[0] for lab in (HAIR, FACE, UPPER)}
    assert all(len(r) > 0.01 * out.size for r in rows.values())
    assert rows[HAIR].mean() < rows[FACE].mean() < rows[UPPER].mean()
    for corner in (out[:20, :20], out[:20, -20:]):
        assert (corner == 0).all()
    # The face sits in the middle columns, where the portrait's head is.
    face_x = np.nonzero(out == FACE)[1].mean()
    assert 0.3 * rgb.shape[1] < face_x < 0.7 * rgb.shape[1]


def test_mediapipe_without_a_person_raises(mp_parser) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NoPersonFound):
        mp_parser.parse(np.full((256, 192, 3), 200, np.uint8))


def test_iou_accumulator() -> None:
    acc = IoUAccumulator()
    truth = np.array([[0, 0, 5, 5]], np.uint8)
    pred = np.array([[0, 5, 5, 5]], np.uint8)
    acc.add(pred, truth)
    rep = acc.report({"bg": (0,), "up": (5,), "face": (13,)})
    assert rep["bg"] == 0.5 and rep["up"] == pytest.approx(2 / 3) and rep["face"] is None
    assert rep["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


@pytest.mark.skipif(not (SHARED / "persons").is_dir(), reason="shared person photos absent")
def test_mediapipe_handles_full_body_and_half_body_photos(mp_parser) -> None:  # type: ignore[no-untyped-def]
    # Dress Code full-body shots (small heads, feet in view) and demo models.
    paths = sorted((SHARED / "persons").glob("ootd_05*_0.jpg"))[:4] + sorted((SHARED / "persons").glob("ootd_model_*.png"))[:2]
    assert paths
    for path in paths:
        rgb = np.array(Image.open(path).convert("RGB"))
        out = mp_parser.parse(rgb)
        assert out.shape == rgb.shape[:2] and out.max() < len(CIHP_LABELS)
        assert (out == FACE).any() and np.isin(out, (UPPER, DRESS)).any(), path.name
        assert out[0, 0] == 0 and out[0, -1] == 0


@pytest.mark.skipif(not (SHARED / "vitonhd_train16" / "image").is_dir(), reason="shared VITON-HD samples absent")
def test_mediapipe_quality_on_vitonhd_samples(mp_parser) -> None:  # type: ignore[no-untyped-def]
    folder = SHARED / "vitonhd_train16"
    acc = IoUAccumulator()
    for img_path in sorted((folder / "image").glob("*.jpg")):
        rgb = np.array(Image.open(img_path).convert("RGB"))
        acc.add(mp_parser.parse(rgb), load_parse_png(folder / "image-parse-v3" / f"{img_path.stem}.png"))
    report = acc.report()
    # Measured 0.80 (benchmarks/bench_parse.py); the floor leaves room for library noise.
    assert report["mIoU"] >= 0.76, report
    assert report["background"] >= 0.95 and report["face"] >= 0.7, report


@pytest.mark.skipif(not (SHARED / "viton_test12" / "image").is_dir(), reason="shared VITON samples absent")
def test_mediapipe_quality_on_small_viton_photos(mp_parser) -> None:  # type: ignore[no-untyped-def]
    # 192x256 photos, parsed upscaled: the silhouette rim and the skin threshold's
    # widening for upscaled pictures are what this folder exercises.
    folder = SHARED / "viton_test12"
    acc = IoUAccumulator()
    for img_path in sorted((folder / "image").glob("*.jpg")):
        rgb = np.array(Image.open(img_path).convert("RGB"))
        pred = mp_parser.parse(rgb)
        # LIP annotators leave the neck as background.
        pred = np.where(pred == NECK, 0, pred).astype(np.uint8)
        acc.add(pred, to_cihp(load_parse_png(folder / "image-parse" / f"{img_path.stem}.png"), "lip"))
    report = acc.report()
    # Measured 0.76 (benchmarks/bench_parse.py --reference-labels lip).
    assert report["mIoU"] >= 0.72, report
    assert report["arms"] >= 0.7 and report["hair"] >= 0.5, report


def test_texture_scores_strands_above_a_single_edge() -> None:
    from pipeline.annotate.parse.regions import _texture

    edge = np.zeros((64, 64), np.uint8)
    edge[:, 32:] = 220  # a dark garment against a white wall
    rng = np.random.default_rng(0)
    strands = np.repeat(rng.integers(40, 160, (1, 64)), 64, axis=0).astype(np.uint8)  # vertical strands
    assert _texture(edge)[32, 30:35].max() < 0.5 * _texture(strands)[32, 30:35].min()


# --- person detection retries and grey-scale photos ----------------------------------------

def _portrait(photo: np.ndarray, zoom: float = 1.3) -> np.ndarray:
    """A tight 3:4 portrait crop at 768x1024, framed like the demo shop's close-ups."""
    h, w = photo.shape[:2]
    ch = int(min(h, w / 0.75) / zoom)
    cw = int(ch * 0.75)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return np.array(Image.fromarray(photo[y0 : y0 + ch, x0 : x0 + cw]).resize((768, 1024), Image.Resampling.LANCZOS))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(np.array(Image.fromarray(rgb).convert("L"))[..., None], 3, axis=2)


@pytest.fixture(scope="module")
def hard_photos() -> dict[str, np.ndarray]:
    """Close-ups of the shipped portraits through the augment stage's flip/affine/colour variants, plus grey copies."""
    cbook = pytest.importorskip("matplotlib.cbook")
    skdata = pytest.importorskip("skimage.data")
    from pipeline.augment import AugmentConfig, PairAugmenter

    grace = np.array(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    astronaut = np.ascontiguousarray(skdata.astronaut()[..., :3])
    augmenter = PairAugmenter(AugmentConfig())
    cloth = np.full((1024, 768, 3), 255, np.uint8)
    cases: dict[str, np.ndarray] = {"grace_grey": _grey(grace)}
    for name, photo, variants in (("grace", grace, range(6)), ("astronaut", astronaut, (0, 1, 4))):
        close = _portrait(photo)
        for v in variants:
            cases[f"{name}_close_{v:02d}"] = augmenter.augment_fitted(close, cloth, "demo-photo", v)[0]
        cases[f"{name}_close_grey"] = _grey(close)
    return cases


def test_mediapipe_parses_close_ups_augmented_and_grey_photos(mp_parser, hard_photos) -> None:  # type: ignore[no-untyped-def]
    for name, rgb in hard_photos.items():
        out = mp_parser.parse(rgb)
        assert out.shape == rgb.shape[:2], name
        for lab in (FACE, HAIR, UPPER):
            assert (out == lab).mean() > 0.005, (name, CIHP_LABELS[lab])
        # Face above the top, hair over the face.
        rows = {lab: np.nonzero(out == lab)[0].mean() for lab in (HAIR, FACE, UPPER)}
        assert rows[HAIR] < rows[FACE] < rows[UPPER], name


def test_those_photos_need_the_detection_retries(hard_photos) -> None:  # type: ignore[no-untyped-def]
    # Guards the test above: without the padded / low-threshold retries the detector
    # misses several of them, as it missed the demo shop's augmented close-ups.
    parser = build_parser(ParseConfig(mp_retry_pad_fraction=0.0, mp_retry_min_detection_confidence=0.5))
    missed = []
    try:
        for name in ("grace_grey", "grace_close_00", "grace_close_01", "grace_close_grey"):
            try:
                parser.parse(hard_photos[name])
            except NoPersonFound:
                missed.append(name)
    finally:
        parser.close()
    assert len(missed) >= 2, missed


def test_grey_skin_model_uses_luma() -> None:
    from pipeline.annotate.parse.skin import SkinModel, is_achromatic

    face = np.full((40, 40, 3), 150, np.uint8)
    face[::7, ::5] = 130  # some shading
    model = SkinModel.fit(face.reshape(-1, 3))
    assert is_achromatic(face) and model.channels == (0,)
    picture = np.zeros((3, 1, 3), np.uint8)
    picture[:, 0] = ((148, 148, 148), (250, 250, 250), (30, 30, 30))  # skin, white shirt, dark hair
    d = model.distance(picture)[:, 0]
    assert d[0] < 3.0 < d[1] and d[2] > 3.0
    # Colour photos keep the chroma model.
    colour = np.full((40, 40, 3), (200, 150, 120), np.uint8)
    assert not is_achromatic(colour) and SkinModel.fit(colour.reshape(-1, 3)).channels == (1, 2)


def test_near_neutral_pixels_are_never_skin_in_a_colour_photo() -> None:
    """White, grey and black cloth: the generic model (no face to sample) took white for skin before the chroma floor."""
    from pipeline.annotate.parse.skin import SkinModel

    picture = np.zeros((4, 1, 3), np.uint8)
    picture[:, 0] = ((224, 172, 150), (245, 245, 242), (160, 160, 162), (236, 214, 200))  # skin, white, grey, pale skin
    for model in (SkinModel.default(), SkinModel.fit(np.tile(np.array([[224, 172, 150]], np.uint8), (100, 1)))):
        d = model.distance(picture)[:, 0]
        assert d[0] < 3.0 and np.isinf(d[1]) and np.isinf(d[2])
    assert SkinModel.default().distance(picture)[3, 0] < 3.0


def test_one_fabric_in_different_shades_is_one_colour() -> None:
    """A dress cut out at the waist: its top in folds, its skirt smooth, the same mean colour.

    The colour models tell the two shade sets apart perfectly, which alone made the
    parser split a top from a skirt; a different dye is still two colours.
    """
    from pipeline.annotate.parse.colour_model import ColourGMM
    from pipeline.annotate.parse.regions import same_colour

    rng = np.random.default_rng(0)

    def shades(levels: list[float], a: float) -> np.ndarray:
        n = 3000
        lum = rng.choice(levels, n) + rng.normal(0, 1.0, n)
        return np.stack([lum, a + rng.normal(0, 1.0, n), 140 + rng.normal(0, 1.0, n)], 1).astype(np.float32)

    top, skirt = shades([80.0, 100.0, 120.0], 170.0), shades([90.0, 110.0], 170.0)
    top_model, skirt_model = ColourGMM.fit(top, k=3), ColourGMM.fit(skirt, k=3)
    assert top_model is not None and skirt_model is not None
    own = np.mean(top_model.log_likelihood(top) > skirt_model.log_likelihood(top))
    assert own > 0.9  # the models do separate the shades
    assert same_colour(top, skirt, top_model, skirt_model)
    other_dye = shades([80.0, 100.0, 120.0], 182.0)
    other_model = ColourGMM.fit(other_dye, k=3)
    assert other_model is not None and not same_colour(other_dye, skirt, other_model, skirt_model)

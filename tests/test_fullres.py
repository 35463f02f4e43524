"""Full-resolution try-on: the garment sampled at the output's size through the warp's upsampled grid."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.infer.engine import TryOnEngine
from pipeline.infer.fullres import Detail, compose, frame_size, source_maps, warp_garment
from pipeline.infer.models import LoadedModels
from pipeline.infer.types import EngineConfig
from tests.train_helpers import write_random_bundle

MODEL = (64, 48)
FRAME = (1024, 768)


def _identity_grid(size: tuple[int, int]) -> torch.Tensor:
    """[2, h, w] grid that samples every pixel where it is (align_corners=True)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size[0]), torch.linspace(-1, 1, size[1]), indexing="ij")
    return torch.stack([xs, ys])


def _checker(size: tuple[int, int], period: int = 4) -> np.ndarray:
    """A navy/white checkerboard garment: squares of ``period // 2`` pixels."""
    ys, xs = np.mgrid[: size[0], : size[1]]
    on = ((ys // (period // 2)) + (xs // (period // 2))) % 2 == 0
    img = np.full((*size, 3), 255, np.uint8)
    img[on] = (20, 30, 110)
    return img


def _checker_energy(img: np.ndarray) -> float:
    """Share of the picture's variance at the checker's own frequency (the Nyquist-adjacent band)."""
    g = img.astype(np.float32).mean(axis=2)
    return float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())


def test_frame_holds_the_photo_at_scale_one() -> None:
    assert frame_size((768, 1024), (256, 192)) == (1024, 768)
    fh, fw = frame_size((1600, 900), (256, 192))  # a wide photo: the frame grows in height
    assert fw >= 1600 and fh >= 900 and abs(fh / fw - 256 / 192) < 0.01


def test_upsampled_identity_grid_stays_the_identity() -> None:
    map_x, map_y = source_maps(_identity_grid(MODEL), FRAME)
    ys, xs = np.mgrid[: FRAME[0], : FRAME[1]].astype(np.float32)
    assert map_x.shape == FRAME
    # Exact inside; the outermost half model pixel (8 px at 16x) repeats the border, as any upsampling does.
    scale = FRAME[0] // MODEL[0]
    inner = (slice(scale // 2, -scale // 2), slice(scale // 2, -scale // 2))
    assert np.abs(map_x - xs)[inner].max() < 1e-3 and np.abs(map_y - ys)[inner].max() < 1e-3
    assert np.abs(map_x - xs).max() <= scale / 2 - 0.5 + 1e-3


def test_full_size_warp_lines_up_with_the_resized_rendering() -> None:
    """A model-size warp shrunk from the full-size one: the full-size garment sits where the model put it,
    in the same half-pixel geometry as the photo shrunk into the model and the rendering upsampled back."""
    from pipeline.models.gmm import warp

    model = (256, 192)  # 4x, as the engine runs (the align_corners=True geometry was 0.48 off here)
    ys, xs = np.mgrid[: FRAME[0], : FRAME[1]].astype(np.float32)
    picture = np.stack([128 + 100 * np.sin(xs / 37.0), 128 + 100 * np.cos(ys / 29.0), 128 + 60 * np.sin((xs + ys) / 53.0)], -1)
    picture = picture.astype(np.float32)
    small = cv2.resize(picture, (model[1], model[0]), interpolation=cv2.INTER_AREA)
    grid = _identity_grid(model)
    grid = grid + 0.15 * torch.stack([torch.sin(grid[1] * 2), torch.cos(grid[0] * 3)])  # a smooth, non-affine warp
    at_model = warp(torch.from_numpy(small).permute(2, 0, 1)[None].float(), grid.permute(1, 2, 0)[None])[0].permute(1, 2, 0).numpy()
    full = cv2.remap(picture, *source_maps(grid, FRAME), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    shrunk = cv2.resize(full, (model[1], model[0]), interpolation=cv2.INTER_AREA)
    inner = (slice(2, -2), slice(2, -2))
    assert np.abs(shrunk - at_model)[inner].mean() < 0.3


def test_checkerboard_keeps_its_period_at_full_size() -> None:
    """Warped by an identity grid at the model's size and composed at full size, a fine checker survives;
    the model-size rendering upscaled (the path before) loses it."""
    garment = _checker(FRAME)
    mask = np.full(FRAME, 255, np.uint8)
    warped, wmask = warp_garment(garment, mask, _identity_grid(MODEL))
    edge = FRAME[0] // MODEL[0] // 2  # the border's half model pixel repeats the edge (source_maps)
    inner = (slice(edge, -edge), slice(edge, -edge))
    assert np.abs(warped - garment)[inner].max() <= 1 and wmask.min() > 0.99
    low = cv2.resize(garment, (MODEL[1], MODEL[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    comp = np.ones(MODEL, np.float32)  # the TOM pasted everywhere
    for detail in Detail:
        full = compose(low, low, comp, warped, wmask, detail)
        assert np.abs(full.astype(np.int16) - garment)[inner].max() <= 1, detail
    upscaled = cv2.resize(low, (FRAME[1], FRAME[0]), interpolation=cv2.INTER_CUBIC)
    assert _checker_energy(compose(low, low, comp, warped, wmask)) > 20 * _checker_energy(upscaled)


def test_rendered_shading_is_kept_by_detail_and_dropped_by_paste() -> None:
    """Where the TOM blended its own darker rendering over the paste (a fold's shadow), ``detail``
    keeps the shadow's low frequencies and adds the garment's texture; ``paste`` keeps the texture only."""
    garment = _checker(FRAME)
    mask = np.full(FRAME, 255, np.uint8)
    warped, wmask = warp_garment(garment, mask, _identity_grid(MODEL))
    low = cv2.resize(garment, (MODEL[1], MODEL[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    shaded = low * 0.6  # the TOM's output: the paste darkened by its rendering
    comp = np.ones(MODEL, np.float32)
    detail = compose(shaded, low, comp, warped, wmask, Detail.DETAIL).astype(np.float32)
    paste = compose(shaded, low, comp, warped, wmask, Detail.PASTE).astype(np.float32)
    assert abs(detail.mean() - 0.6 * garment.mean()) < 0.05 * garment.mean()
    assert abs(paste.mean() - garment.mean()) < 0.02 * garment.mean()
    assert _checker_energy(detail) > 0.5 * _checker_energy(garment.astype(np.float32))


def test_outside_the_composition_mask_the_rendering_stays() -> None:
    garment = _checker(FRAME)
    mask = np.full(FRAME, 255, np.uint8)
    warped, wmask = warp_garment(garment, mask, _identity_grid(MODEL))
    low = np.full((*MODEL, 3), 128.0, np.float32)  # the TOM rendered flat grey, pasted nothing
    for detail in Detail:
        out = compose(low, cv2.resize(garment, (MODEL[1], MODEL[0]), interpolation=cv2.INTER_AREA), np.zeros(MODEL, np.float32),
                      warped, wmask, detail)
        assert np.abs(out.astype(np.int16) - 128).max() <= 1


# ---------------------------------------------------------------- through the engine


def _grace() -> Image.Image:
    return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")


def _tee(size: tuple[int, int] = (768, 1024)) -> Image.Image:
    """A checked T-shirt shape on white at ``size`` (w, h)."""
    w, h = size
    img = Image.fromarray(np.full((h, w, 3), 255, np.uint8))
    shape = Image.new("L", size, 0)
    from PIL import ImageDraw

    d = ImageDraw.Draw(shape)
    d.polygon([(0.3 * w, 0.15 * h), (0.7 * w, 0.15 * h), (0.9 * w, 0.3 * h), (0.78 * w, 0.4 * h), (0.72 * w, 0.35 * h),
               (0.72 * w, 0.85 * h), (0.28 * w, 0.85 * h), (0.28 * w, 0.35 * h), (0.22 * w, 0.4 * h), (0.1 * w, 0.3 * h)], fill=255)
    img.paste(Image.fromarray(_checker((h, w), 6)), (0, 0), shape)
    return img


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    bundle = write_random_bundle(tmp_path_factory.mktemp("bundle"), (256, 192))
    with TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")) as eng:
        yield eng


def test_engine_reports_full_resolution_and_falls_back_for_old_exports(engine: TryOnEngine) -> None:
    person, garment = _grace(), _tee()
    res = engine.tryon(person, garment)
    assert res.metadata["resolution"] == "full" and res.image.size == person.size
    assert res.warped.size == person.size and res.timings["compose"] > 0
    # Models exported before the grid and the composition mask (4 and 3 channels) still work, upsampled.
    m = engine.models
    old = LoadedModels(lambda x: m.warp(x)[:, :4], lambda x: m.tom(x)[:, :3], m.size, m.device, m.metadata)
    legacy = TryOnEngine(engine.config, old, engine.annotator)
    res_old = legacy.tryon(person, garment)
    assert res_old.metadata["resolution"].startswith("model") and res_old.image.size == person.size
    # Same models, same annotation: the warped garment is sharper at full size than upsampled.
    full_w, old_w = (np.asarray(r.warped, np.float32) for r in (res, res_old))
    inside = np.asarray(res.mask) > 20
    assert inside.mean() > 0.01
    lap = lambda a: float(np.abs(cv2.Laplacian(a.mean(axis=2), cv2.CV_32F))[inside].mean())  # noqa: E731
    assert lap(full_w) > 1.5 * lap(old_w)


def test_returned_mask_is_where_the_garment_shows(engine: TryOnEngine) -> None:
    """The mask is the composition mask within the warped garment: nothing outside the garment (legs, backdrop)."""
    for full in (True, False):
        cfg = EngineConfig(model=engine.config.model, device="cpu", full_resolution=full)
        res = TryOnEngine(cfg, engine.models, engine.annotator).tryon(_grace(), _tee())
        warped, mask = np.asarray(res.warped), np.asarray(res.mask).astype(np.float32) / 255
        garment = ~(warped >= 250).all(axis=2)  # the warped garment on white
        assert garment.mean() > 0.01
        near = cv2.dilate(garment.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # resampled edges
        assert mask[~near].mean() < 0.005, full
        # The composition mask of these random models is far from 1: the mask is not the outline alone.
        assert mask.sum() < 0.9 * garment.sum()


def test_engine_model_size_path_on_request(engine: TryOnEngine) -> None:
    cfg = EngineConfig(model=engine.config.model, device="cpu", full_resolution=False)
    eng = TryOnEngine(cfg, engine.models, engine.annotator)
    res = eng.tryon(_grace(), _tee())
    assert res.metadata["resolution"] == "model"
    with pytest.raises(ValueError, match="detail must be one of"):
        EngineConfig(detail="sharpen")


def test_garment_pixels_do_not_depend_on_a_missing_garment_picture(engine: TryOnEngine, tmp_path: Path) -> None:
    """A prepared pair without the garment picture (built by hand) falls back instead of failing."""
    pair = engine.prepare(_grace(), _tee())
    pair.garment_rgb = None
    res = engine.finish(pair, engine.run_models(pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)).item(0))
    assert res.metadata["resolution"].startswith("model")

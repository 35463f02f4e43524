"""The annotation settings travel from the imported data set to the model and back into the inference engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.annotate.agnostic import AgnosticConfig
from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.dataset.annotation_record import annotation_record, read_annotation, write_annotation
from pipeline.infer.engine import TryOnEngine, annotation_settings
from pipeline.infer.types import EngineConfig
from tests.train_helpers import write_random_bundle

RECORD = annotation_record({"mp_skin_threshold": 2.5}, {"flip_average": False}, AgnosticConfig(cover_garment_margin=0.25),
                           ClothMaskConfig(min_distance=3.0), "test labels")


def test_record_round_trips_and_a_broken_one_reads_as_none(tmp_path: Path) -> None:
    write_annotation(tmp_path, RECORD)
    assert read_annotation(tmp_path) == json.loads(json.dumps(RECORD))
    (tmp_path / "annotation.json").write_text('{"parse": "mediapipe"}')
    assert read_annotation(tmp_path) is None
    assert read_annotation(tmp_path / "absent") is None


def test_explicit_engine_settings_win_over_the_recorded_ones() -> None:
    cfg = EngineConfig(agnostic={"keep_hair": False}, parse={"mp_skin_threshold": 4.0})
    settings = annotation_settings(cfg, RECORD)
    assert settings["agnostic"]["cover_garment_margin"] == 0.25 and settings["agnostic"]["keep_hair"] is False
    assert settings["parse"]["mp_skin_threshold"] == 4.0 and settings["pose"] == {"flip_average": False}
    assert annotation_settings(cfg, None)["agnostic"] == {"keep_hair": False}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    plain = write_random_bundle(tmp_path_factory.mktemp("plain"), (256, 192))
    recorded = write_random_bundle(tmp_path_factory.mktemp("recorded"), (256, 192))
    meta_path = recorded / "tom" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "annotation": RECORD}))
    return plain, recorded


def test_engine_annotates_as_the_model_was_trained(bundles: tuple[Path, Path]) -> None:
    plain, recorded = bundles
    with TryOnEngine.load(EngineConfig(model=str(recorded), device="cpu", check_roles=False)) as eng:
        assert eng.annotator.agnostic_cfg.cover_garment_margin == 0.25
        assert eng.annotator.cloth_cfg.min_distance == 3.0
        assert eng.models.metadata["annotation"] == "as recorded with the model"
    with TryOnEngine.load(EngineConfig(model=str(recorded), device="cpu", check_roles=False,
                                       agnostic={"cover_garment_margin": 0.75})) as eng:
        assert eng.annotator.agnostic_cfg.cover_garment_margin == 0.75
    with TryOnEngine.load(EngineConfig(model=str(plain), device="cpu", check_roles=False)) as eng:
        assert eng.annotator.agnostic_cfg == AgnosticConfig() and eng.annotator.cloth_cfg == ClothMaskConfig()
        assert eng.models.metadata["annotation"].startswith("the defaults")

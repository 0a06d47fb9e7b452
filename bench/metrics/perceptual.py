"""Full-reference perceptual metrics: LPIPS (AlexNet and VGG16, the ``lpips`` package) and DISTS.

All backbones load from the verified weights cache (:mod:`bench.weights`); a metric whose weights are missing raises
:class:`bench.errors.MetricUnavailable` with the fetch command and is never computed with random weights.

Conventions:

- Each metric has two forms (:mod:`bench.metrics.forms`): the 8-bit form (``lpips-alex``) scores the
  reconstruction as a decoder writes it (rounded to 8 bits, :func:`bench.tensors.quantize_8bit`); the float form
  (``lpips-alex-float``) scores the clamped float reconstruction, as the official MPA evaluation does. Both compare
  with the 8-bit reference at full resolution (no resizing).
- LPIPS v0.1 with inputs in [0, 1] (``normalize=True``), as the official MPA evaluation calls it.
- DISTS (Ding et al., "Image Quality Assessment: Unifying Structure and Texture Similarity", TPAMI 2020): VGG16
  whose max-pooling layers are replaced by Hann-window L2 pooling; per-channel structure and texture similarities
  of six feature stages (the image itself and relu1_2 ... relu5_3) weighted by the learned alpha/beta of the
  official release. The official script also resizes the shorter side to 256 px; mpa-bench scores full resolution,
  as pyiqa does.
- Several reconstructions of one image (decoder variants) are batched; work runs on the GPU when there is one.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from importlib.metadata import version
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench import weights
from bench.download import sha256_of_file
from bench.errors import MetricUnavailable, NotApplicable
from bench.metrics import forms
from bench.metrics.base import Metric, MetricSpec, PerImage
from bench.schema import Sample
from bench.tensors import as_batch, quantize_8bit

# Smallest side the AlexNet trunk accepts (its second max-pool needs a 3x3 input); VGG-based metrics are safe too.
MIN_SIDE = 32

# sha256 of the linear calibration layers that lpips 0.1.4 ships (weights/v0.1/<net>.pth).
LPIPS_LINEAR_SHA256 = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
}

# VGG16 ``features`` layout (torchvision): 3x3 convolutions with ReLU, "M" = 2x2 max-pooling.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Loads a tensor-only state dict (``weights_only=True``) on the CPU."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise MetricUnavailable(f"{path} does not hold a state dict")
    return state


def load_features(module: nn.Module, state: dict[str, torch.Tensor], path: Path, key_of) -> None:
    """Copies the ``features.<i>.*`` tensors of a torchvision state dict into ``module``, strictly.

    ``key_of(module_key)`` returns the torchvision key for each parameter key of ``module``.
    """
    mapped = {}
    for key, tensor in module.state_dict().items():
        source = key_of(key)
        if source not in state or state[source].shape != tensor.shape:
            found = tuple(state[source].shape) if source in state else "missing"
            raise MetricUnavailable(f"{path}: {source} should have shape {tuple(tensor.shape)}, found {found}")
        mapped[key] = state[source]
    module.load_state_dict(mapped, strict=True)


def _batches(items: Sequence[torch.Tensor], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_pair(reference: torch.Tensor, reconstruction: torch.Tensor, key: str) -> None:
    if reference.shape != reconstruction.shape:
        raise ValueError(f"{key}: reference {tuple(reference.shape)} and reconstruction {tuple(reconstruction.shape)}")
    height, width = reference.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise NotApplicable(f"{key} needs both sides >= {MIN_SIDE} px; image is {height}x{width}")


class _PairwiseNetworkMetric(Metric):
    """A network comparing reference and reconstruction; batches decoder variants.

    Attributes:
        reconstruction: the form scored (``8-bit`` or ``float``, :mod:`bench.metrics.forms`).
    """

    reconstruction: ClassVar[str] = forms.EIGHT_BIT

    holds_network = True

    def __init__(self, device: str | torch.device | None = None, batch_size: int = 4):
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size = batch_size
        self.network = self._build().eval().requires_grad_(False).to(self.device)

    def _prepare(self, reconstruction: torch.Tensor) -> torch.Tensor:
        x = as_batch(reconstruction).float()
        return quantize_8bit(x) if self.reconstruction == forms.EIGHT_BIT else x.clamp(0.0, 1.0)

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _score(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) pairs in [0, 1] -> (N,) scores."""
        raise NotImplementedError

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> float:
        return self.compute_many(reference, [reconstruction], sample)[0]

    def compute_many(
        self, reference: torch.Tensor, reconstructions: Sequence[torch.Tensor], sample: Sample
    ) -> list[PerImage]:
        reference = as_batch(reference).float()
        for reconstruction in reconstructions:
            _check_pair(reference, as_batch(reconstruction), self.spec.key)
        scores: list[PerImage] = []
        reference = reference.to(self.device)
        with torch.inference_mode():
            for chunk in _batches(list(reconstructions), self.batch_size):
                batch = torch.cat([self._prepare(r) for r in chunk]).to(self.device)
                values = self._score(reference.expand(len(chunk), -1, -1, -1), batch)
                scores.extend(float(v) for v in values.reshape(-1).double().cpu())
        return scores


class _LPIPS(_PairwiseNetworkMetric):
    net: ClassVar[str]
    weights_name: ClassVar[str]

    def _build(self) -> nn.Module:
        path = weights.verified_path(self.weights_name, self.spec.key)
        import lpips

        linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{self.net}.pth"
        if not linear.is_file() or sha256_of_file(linear) != LPIPS_LINEAR_SHA256[self.net]:
            raise MetricUnavailable(
                f"{self.spec.key}: the LPIPS v0.1 calibration {linear} is missing or not the one lpips 0.1.4 ships"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's deprecated `pretrained=` spelling
            # pnet_rand=True only keeps lpips from downloading the backbone; the next line loads the real one.
            model = lpips.LPIPS(net=self.net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        pattern = re.compile(r"slice\d+\.(\d+)\.(weight|bias)")  # lpips keeps torchvision's layer indices
        load_features(model.net, load_state_dict(path), path, lambda key: pattern.sub(r"features.\1.\2", key))
        return model

    def _score(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        return self.network(reference, reconstruction, normalize=True)

    def config(self) -> dict[str, Any]:
        return {"net": self.net, "backbone_sha256": weights.card(self.weights_name).sha256,
                "calibration_sha256": LPIPS_LINEAR_SHA256[self.net], "input": self.reconstruction}

    def versions(self) -> dict[str, str]:
        return {"lpips": version("lpips")}

    def provenance(self) -> dict[str, Any]:
        return {"network": f"lpips-v0.1-{self.net}", "weights": [weights.identity(self.weights_name)]}


class LPIPSAlex(_LPIPS):
    """LPIPS v0.1 on the AlexNet trunk (the official MPA evaluation's LPIPS)."""

    spec = MetricSpec("lpips-alex", "LPIPS (AlexNet)", "", higher_is_better=False)
    net = "alex"
    weights_name = "alexnet"


class LPIPSAlexFloat(LPIPSAlex):
    """LPIPS-Alex of the clamped float reconstruction (the official MPA evaluation's ``lpips``)."""

    spec = MetricSpec("lpips-alex-float", "LPIPS (AlexNet, float)", "", higher_is_better=False)
    reconstruction = forms.FLOAT


class LPIPSVGG(_LPIPS):
    """LPIPS v0.1 on the VGG16 trunk."""

    spec = MetricSpec("lpips-vgg", "LPIPS (VGG)", "", higher_is_better=False)
    net = "vgg"
    weights_name = "vgg16"


class LPIPSVGGFloat(LPIPSVGG):
    """LPIPS-VGG of the clamped float reconstruction."""

    spec = MetricSpec("lpips-vgg-float", "LPIPS (VGG, float)", "", higher_is_better=False)
    reconstruction = forms.FLOAT


def vgg16_features() -> nn.Sequential:
    """An (untrained) torchvision-layout VGG16 ``features`` stack, without the 120M-parameter classifier."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


class L2Pooling(nn.Module):
    """DISTS's anti-aliased pooling: sqrt of the Hann-weighted (3x3, stride 2) local mean of the squared input."""

    def __init__(self, channels: int):
        super().__init__()
        window = torch.tensor([0.5, 1.0, 0.5])  # Hann window of length 5 without its zero ends
        kernel = torch.outer(window, window)
        self.register_buffer("kernel", (kernel / kernel.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
        return torch.sqrt(pooled + 1e-12)


class DISTSNetwork(nn.Module):
    """DISTS on a VGG16 ``features`` stack (see the module docstring).

    Args:
        features: torchvision-layout VGG16 ``features`` (its max-pooling layers are not used).
        alpha, beta: the learned weights, shape (1, 1475, 1, 1).
    """

    CHANNELS = (3, 64, 128, 256, 512, 512)
    # VGG16 feature indices of each stage after the image itself; a max-pool precedes stages 2-5.
    STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
    C1 = C2 = 1e-6

    def __init__(self, features: nn.Sequential, alpha: torch.Tensor, beta: torch.Tensor):
        super().__init__()
        stages = []
        for index, (start, stop) in enumerate(self.STAGES):
            pool = [L2Pooling(self.CHANNELS[index])] if index > 0 else []
            stages.append(nn.Sequential(*pool, *(features[i] for i in range(start, stop))))
        self.stages = nn.ModuleList(stages)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", (alpha / total).reshape(-1))
        self.register_buffer("beta", (beta / total).reshape(-1))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [x]
        h = (x - self.mean) / self.std
        for stage in self.stages:
            h = stage(h)
            outputs.append(h)
        return outputs

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N,) distances; 0 for identical images."""
        similarity = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        offset = 0
        for fx, fy in zip(self._features(x), self._features(y)):
            channels = fx.shape[1]
            alpha = self.alpha[offset : offset + channels]
            beta = self.beta[offset : offset + channels]
            offset += channels
            mean_x, mean_y = fx.mean(dim=(2, 3)), fy.mean(dim=(2, 3))
            var_x = fx.var(dim=(2, 3), unbiased=False)
            var_y = fy.var(dim=(2, 3), unbiased=False)
            cov = (fx * fy).mean(dim=(2, 3)) - mean_x * mean_y
            structure_of_means = (2 * mean_x * mean_y + self.C1) / (mean_x**2 + mean_y**2 + self.C1)
            structure = (2 * cov + self.C2) / (var_x + var_y + self.C2)
            similarity = similarity + structure_of_means @ alpha + structure @ beta
        return 1.0 - similarity


class DISTS(_PairwiseNetworkMetric):
    """DISTS with the official alpha/beta on torchvision's ImageNet VGG16."""

    spec = MetricSpec("dists", "DISTS", "", higher_is_better=False)

    def _build(self) -> nn.Module:
        vgg_path = weights.verified_path("vgg16", self.spec.key)
        dists_path = weights.verified_path("dists", self.spec.key)
        features = vgg16_features()
        load_features(features, load_state_dict(vgg_path), vgg_path, lambda key: f"features.{key}")
        calibration = load_state_dict(dists_path)
        expected = (1, sum(DISTSNetwork.CHANNELS), 1, 1)
        for name in ("alpha", "beta"):
            if name not in calibration or tuple(calibration[name].shape) != expected:
                raise MetricUnavailable(f"{dists_path}: expected {name} of shape {expected}")
        return DISTSNetwork(features, calibration["alpha"].float(), calibration["beta"].float())

    def _score(self, reference: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        return self.network(reference, reconstruction)

    def config(self) -> dict[str, Any]:
        return {"backbone_sha256": weights.card("vgg16").sha256, "calibration_sha256": weights.card("dists").sha256,
                "input": self.reconstruction}

    def provenance(self) -> dict[str, Any]:
        return {"network": "dists-vgg16", "weights": [weights.identity("vgg16"), weights.identity("dists")]}

class DISTSFloat(DISTS):
    """DISTS of the clamped float reconstruction."""

    spec = MetricSpec("dists-float", "DISTS (float)", "", higher_is_better=False)
    reconstruction = forms.FLOAT

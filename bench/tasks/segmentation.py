"""PSPNet-50 for ADE20K (150 classes), written to load the semseg ``pspnet_train_epoch_100.pth`` unchanged.

Architecture (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017, as trained by hszhao/semseg and used by
the official MPA segmentation evaluation ``examples/eval_seg_real_bpp.py``)::

    x (B,3,H,W), (H-1) % 8 == 0
      layer0  deep stem: 3x3/2 3->64, 3x3 64->64, 3x3 64->128 (each conv-BN-ReLU), maxpool 3x3/2
      layer1  3 bottlenecks, 256 out                       1/4
      layer2  4 bottlenecks, 512 out, stride 2             1/8
      layer3  6 bottlenecks, 1024 out, dilation 2          1/8   (the stride-2 of a plain ResNet removed)
      layer4  3 bottlenecks, 2048 out, dilation 4          1/8
      ppm     bins 1,2,3,6: adaptive avg pool -> 1x1 2048->512 -> BN -> ReLU -> bilinear (align_corners) back,
              concatenated with the input: 4096 channels
      cls     3x3 4096->512, BN, ReLU, dropout 0.1, 1x1 512->150
      logits  bilinear (align_corners) to ((H-1)/8*8+1) = H
    aux (training only; kept so the checkpoint loads strictly): 3x3 1024->256, BN, ReLU, dropout, 1x1 256->150

Bottlenecks are ResNet v1.5 (stride and dilation on the 3x3 conv). The state_dict has exactly the semseg key
names and shapes (schema ``pspnet50_ade20k``, 49,180,908 parameters with the aux head).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.checkpoints import load_checkpoint
from bench.tasks import NetworkScorer, TaskNetworkCard, default_device, locate_weights

NUM_CLASSES = 150
PPM_BINS = (1, 2, 3, 6)

PSPNET50_ADE20K = TaskNetworkCard(
    name="pspnet50.ade20k",
    task="segmentation",
    filename="pspnet_train_epoch_100.pth",
    env="MPA_BENCH_PSPNET50_WEIGHTS",
    source=(
        "hszhao/semseg: ADE20K PSPNet50 model exp/ade20k/pspnet50/model/train_epoch_100.pth, published only "
        "through the Google Drive folder linked from the semseg README (the MPA repository expects it as "
        "checkpoints/pspnet/pspnet_train_epoch_100.pth)"
    ),
    license="not stated for the weights (semseg code: MIT)",
    num_parameters=49_180_908,
    fetch=(
        "there is no direct download URL: get train_epoch_100.pth of ADE20K PSPNet50 from the Google Drive "
        "folder linked in the hszhao/semseg README (https://github.com/hszhao/semseg), then save it as "
        "$MPA_BENCH_CACHE/weights/pspnet_train_epoch_100.pth (default ~/.cache/mpa-bench/weights/) or point "
        "MPA_BENCH_PSPNET50_WEIGHTS at it"
    ),
    input_note=(
        "512x512 reconstruction clamped to [0, 1], replicate-padded right/bottom to 513x513, ImageNet mean/std; "
        "single scale, whole image, logits bilinearly upsampled (align_corners) to 513x513, argmax"
    ),
)


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride, dilation), 1x1 expand x4, with a projection shortcut when the shape changes."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, dilation: int = 1, project: bool = False):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride=stride)) if project else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _stage(in_channels: int, width: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    layers = [Bottleneck(in_channels, width, stride, dilation, project=True)]
    layers += [Bottleneck(width * Bottleneck.expansion, width, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class PyramidPooling(nn.Module):
    """Pools the feature map to 1x1, 2x2, 3x3 and 6x6, projects each to 512 channels, upsamples and concatenates."""

    def __init__(self, in_channels: int = 2048, bins: Sequence[int] = PPM_BINS):
        super().__init__()
        reduced = in_channels // len(bins)
        self.features = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(size),
                nn.Conv2d(in_channels, reduced, 1, bias=False),
                nn.BatchNorm2d(reduced),
                nn.ReLU(inplace=True),
            )
            for size in bins
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(branch(x), size, mode="bilinear", align_corners=True) for branch in self.features]
        return torch.cat([x, *pooled], dim=1)


def _head(in_channels: int, width: int, classes: int) -> nn.Sequential:
    return nn.Sequential(
        *_conv_bn(in_channels, width, 3), nn.ReLU(inplace=True), nn.Dropout2d(0.1), nn.Conv2d(width, classes, 1)
    )


class PSPNet50(nn.Module):
    """PSPNet with a dilated deep-stem ResNet-50 (output stride 8); see the module docstring."""

    def __init__(self, classes: int = NUM_CLASSES):
        super().__init__()
        self.layer0 = nn.Sequential(
            *_conv_bn(3, 64, 3, stride=2), nn.ReLU(inplace=True),
            *_conv_bn(64, 64, 3), nn.ReLU(inplace=True),
            *_conv_bn(64, 128, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.layer1 = _stage(128, 64, 3, stride=1, dilation=1)
        self.layer2 = _stage(256, 128, 4, stride=2, dilation=1)
        self.layer3 = _stage(512, 256, 6, stride=1, dilation=2)
        self.layer4 = _stage(1024, 512, 3, stride=1, dilation=4)
        self.ppm = PyramidPooling(2048, PPM_BINS)
        self.cls = _head(4096, 512, classes)
        self.aux = _head(1024, 256, classes)

    def forward(self, x: torch.Tensor, with_aux: bool = False):
        """Class logits (B, classes, H, W) for input (B, 3, H, W) with (H - 1) and (W - 1) divisible by 8.

        With ``with_aux`` the auxiliary head's logits (on layer3) come back too, as a pair.
        """
        height, width = x.shape[-2:]
        if (height - 1) % 8 or (width - 1) % 8:
            raise ValueError(f"PSPNet input sides must be 8k+1 (e.g. 513), got {height}x{width}")
        size = ((height - 1) // 8 * 8 + 1, (width - 1) // 8 * 8 + 1)
        features3 = self.layer3(self.layer2(self.layer1(self.layer0(x))))
        logits = self.cls(self.ppm(self.layer4(features3)))
        logits = F.interpolate(logits, size, mode="bilinear", align_corners=True)
        if not with_aux:
            return logits
        aux = F.interpolate(self.aux(features3), size, mode="bilinear", align_corners=True)
        return logits, aux


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_pspnet50(path: Path) -> PSPNet50:
    """A PSPNet50 in eval mode with the weights at ``path`` (semseg's ``{'state_dict': ...}`` with ``module.``
    prefixes, or a bare state dict), matched strictly, every key and every shape
    (:func:`bench.checkpoints.load_checkpoint`).

    Raises:
        CheckpointError: unreadable file, or keys/shapes that are not the semseg ADE20K PSPNet50 layout.
    """
    model = PSPNet50()
    load_checkpoint(model, path, PSPNET50_ADE20K.name, missing_hint=PSPNET50_ADE20K.fetch)
    return model.eval()


class Segmenter(NetworkScorer):
    """PSPNet-50 scoring the reconstructions of one image in one forward (see :class:`NetworkScorer`), with the
    official MPA evaluation's input handling: replicate-pad right/bottom by 1 (512 -> 513), ImageNet mean/std,
    argmax of the logits upsampled to the padded size."""

    def __init__(self, model: PSPNet50, weights_path: Path, device: str | torch.device = "cpu",
                 batch_size: int | None = None):
        super().__init__(PSPNET50_ADE20K, model, weights_path, device, batch_size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 1, 0, 1), mode="replicate")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).argmax(dim=1)

    def _finish(self, outputs: torch.Tensor) -> np.ndarray:
        return outputs.numpy().astype(np.int64)

    def predict(self, images: Sequence[torch.Tensor]) -> np.ndarray:
        """(N, H+1, W+1) int64 class indices for N (1, 3, H, W) images in [0, 1] (clamped here)."""
        return self.score(images)


_open: dict[tuple[str, str, int | None], Segmenter] = {}
_open_lock = threading.Lock()


def open_segmenter(weights: str | Path | None = None, device: str | None = None, batch_size: int | None = None,
                   metric: str = "miou") -> Segmenter:
    """The PSPNet-50 segmenter with local weights, shared by every metric that asks for the same file and device.

    Raises:
        MetricUnavailable: no weights file (the message says where to get it).
        CheckpointError: the file is not the semseg ADE20K PSPNet50 layout.
    """
    path = locate_weights(PSPNET50_ADE20K, weights, metric).resolve()
    device = device or default_device()
    key = (str(path), device, batch_size)
    with _open_lock:
        if key not in _open:
            _open[key] = Segmenter(load_pspnet50(path), path, device, batch_size)
        return _open[key]

"""ImageNet-1k classifiers for the machine-vision side of the benchmark: ConvNeXt-T (timm) and ResNet-50
(torchvision), built by their libraries and loaded from local weights only.

The official MPA classification evaluation (``examples/eval_cls_real_bpp.py``) classifies the 256x256
reconstruction clamped to [0, 1] and normalised with the ImageNet mean/std, without resizing it to 224.
Its ``--cls_model convnext_tiny`` meant the FB ImageNet-1k weights under timm 0.6.11; with timm >= 0.9 the pinned
name is ``convnext_tiny.fb_in1k`` (plain ``convnext_tiny`` resolves to another tag there). Its ``tv_resnet50`` is
torchvision's original ResNet-50 (``IMAGENET1K_V1``), here ``resnet50.tv_in1k``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from bench.checkpoints import load_state_dict_checked, read_state_dict
from bench.errors import CheckpointError
from bench.tasks import NetworkScorer, TaskNetworkCard, default_device, locate_weights, tasks

INPUT_NOTE = "256x256 reconstruction clamped to [0, 1], ImageNet mean/std, no resize (official MPA evaluation)"

CONVNEXT_TINY = TaskNetworkCard(
    name="convnext_tiny.fb_in1k",
    task="classification",
    filename="convnext_tiny.fb_in1k.safetensors",
    env="MPA_BENCH_CONVNEXT_TINY_WEIGHTS",
    source="Facebook ConvNeXt-T ImageNet-1k weights as converted by timm: hf.co/timm/convnext_tiny.fb_in1k",
    license="apache-2.0 (timm model card)",
    num_parameters=28_589_128,
    fetch=(
        "run: hf download timm/convnext_tiny.fb_in1k model.safetensors (fills the Hugging Face cache, read "
        "offline afterwards), or save that file as $MPA_BENCH_CACHE/weights/convnext_tiny.fb_in1k.safetensors "
        "(default ~/.cache/mpa-bench/weights/) or point MPA_BENCH_CONVNEXT_TINY_WEIGHTS at it"
    ),
    url="https://huggingface.co/timm/convnext_tiny.fb_in1k/resolve/main/model.safetensors",
    hf_hub=("timm/convnext_tiny.fb_in1k", "model.safetensors"),
    input_note=INPUT_NOTE,
    notes=("sha256 and size of model.safetensors could not be established here; the strict key/shape load checks it",),
)

RESNET50_TV = TaskNetworkCard(
    name="resnet50.tv_in1k",
    task="classification",
    filename="resnet50-0676ba61.pth",
    env="MPA_BENCH_RESNET50_WEIGHTS",
    source="torchvision ResNet50_Weights.IMAGENET1K_V1 (acc@1 76.13), the weights of timm's tv_resnet50",
    license="BSD-3-Clause (torchvision)",
    num_parameters=25_557_032,
    fetch=(
        "run: python -c \"import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V1')\" (downloads "
        "into the torch hub cache, checking the sha256 prefix in the file name), or save "
        "https://download.pytorch.org/models/resnet50-0676ba61.pth as "
        "$MPA_BENCH_CACHE/weights/resnet50-0676ba61.pth or point MPA_BENCH_RESNET50_WEIGHTS at it"
    ),
    url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
    sha256="0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
    size=102_530_333,
    torch_hub_file="resnet50-0676ba61.pth",
    input_note=INPUT_NOTE,
    notes=(
        "torchvision publishes the sha256 prefix 0676ba61 (in the file name); the full sha256 and size are a "
        "third party's local measurement of that file, consistent with the prefix",
    ),
)


def build_network(name: str) -> nn.Module:
    """The architecture of classifier ``name`` with freshly initialised (random) weights."""
    card = tasks.get(name)
    if card is CONVNEXT_TINY:
        import timm

        return timm.create_model("convnext_tiny.fb_in1k", pretrained=False)
    if card is RESNET50_TV:
        import torchvision

        return torchvision.models.resnet50(weights=None)
    raise ValueError(f"{name} is not a classification network")


def load_network(name: str, path: Path) -> nn.Module:
    """Classifier ``name`` in eval mode with the weights at ``path`` (``.safetensors`` as the Hugging Face hub
    serves timm weights, or a torch file), every key and shape matched
    (:func:`bench.checkpoints.load_state_dict_checked`).

    Raises:
        CheckpointError: unreadable file or weights of another architecture.
    """
    path = Path(path)
    model = build_network(name)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise CheckpointError(f"{path}: cannot read the safetensors file ({error}); replace the file") from error
    else:
        state = read_state_dict(path)
    load_state_dict_checked(model, state, path, name)
    return model.eval()


class Classifier(NetworkScorer):
    """A classifier scoring the reconstructions of one image in one forward (see :class:`NetworkScorer`)."""

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()

    def logits(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """(N, 1000) float32 logits (on the CPU) for N (1, 3, H, W) images in [0, 1] (clamped here)."""
        return self.score(images)


_open: dict[tuple[str, str, str, int | None], Classifier] = {}
_open_lock = threading.Lock()


def open_classifier(name: str = CONVNEXT_TINY.name, weights: str | Path | None = None, device: str | None = None,
                    batch_size: int | None = None, metric: str = "top1") -> Classifier:
    """Classifier ``name`` with local weights, shared by every metric that asks for the same file and device.

    Raises:
        UnknownName: ``name`` is not a registered task network.
        MetricUnavailable: no weights file (the message says how to get it).
        CheckpointError: the file holds other weights.
    """
    card = tasks.get(name)
    if card.task != "classification":
        raise ValueError(f"{name} is a {card.task} network, not a classifier")
    path = locate_weights(card, weights, metric).resolve()
    device = device or default_device()
    key = (card.name, str(path), device, batch_size)
    with _open_lock:
        if key not in _open:
            _open[key] = Classifier(card, load_network(card.name, path), path, device, batch_size)
        return _open[key]

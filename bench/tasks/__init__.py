"""Machine-vision task networks that score reconstructions, and where their weights are found.

Each network has a :class:`TaskNetworkCard`: what the weights are, where they come from, how the network's input is
prepared, and the command or steps that put the weights on this machine. Nothing here downloads: weights are
looked up locally, in this order, and a network whose weights are not found is reported unavailable
(:class:`bench.errors.MetricUnavailable`) with the fix, never built with random weights:

1. an explicit path (the metric's ``weights`` option);
2. the environment variable named on the card (``MPA_BENCH_CONVNEXT_TINY_WEIGHTS``, ...);
3. the mpa-bench weights cache (:func:`bench.weights.cache_dir`), sha256-checked when the card knows the hash;
4. the cache of the network's own library (Hugging Face hub cache for timm weights, torch hub cache for
   torchvision weights), read offline.

The registry maps network names to their cards (lazy ``module:attr`` entries, so listing names imports no torch).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bench.errors import MetricUnavailable
from bench.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TaskNetworkCard:
    """One task network and its weights file.

    Attributes:
        name: ``arch.tag`` (the registry name and the metric's ``network`` option).
        task: ``classification`` or ``segmentation``.
        filename: the weights file name in the mpa-bench weights cache (the upstream name).
        env: environment variable that may name a local weights file.
        source: where the weights come from (URL or page) and who trained them.
        license: licence of the weights as stated upstream ("not stated" when it is not).
        num_parameters: parameters of the network (buffers excluded), checked by the tests.
        fetch: the command (or the steps) that put the weights where they are looked up.
        url: direct download URL, when one exists.
        sha256: expected sha256 of the file, when it could be established; checked before loading.
        size: expected size in bytes, when known.
        hf_hub: (repo id, file name) of the weights in the Hugging Face hub, for timm weights.
        torch_hub_file: file name in torch's hub cache (``torch.hub.get_dir()/checkpoints``), for torchvision weights.
        mean, std: input normalisation applied to the [0, 1] reconstruction.
        input_note: how the official evaluation prepares the network input.
    """

    name: str
    task: str
    filename: str
    env: str
    source: str
    license: str
    num_parameters: int
    fetch: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    hf_hub: tuple[str, str] | None = None
    torch_hub_file: str | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_note: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


tasks: Registry = Registry("task network")
tasks.add("convnext_tiny.fb_in1k", "bench.tasks.classification:CONVNEXT_TINY")
tasks.add("resnet50.tv_in1k", "bench.tasks.classification:RESNET50_TV")
tasks.add("pspnet50.ade20k", "bench.tasks.segmentation:PSPNET50_ADE20K")


def _library_caches(card: TaskNetworkCard) -> list[Path]:
    """Where the network's own library keeps the file, if it has been fetched through it (no network access)."""
    found = []
    if card.hf_hub is not None:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub is a dependency of timm
            pass
        else:
            cached = try_to_load_from_cache(*card.hf_hub)
            if isinstance(cached, str):
                found.append(Path(cached))
    if card.torch_hub_file is not None:
        import torch.hub

        found.append(Path(torch.hub.get_dir()) / "checkpoints" / card.torch_hub_file)
    return found


def _check_sha256(card: TaskNetworkCard, path: Path, metric: str) -> Path:
    if card.sha256 is not None:
        from bench.download import sha256_of_file_cached

        if sha256_of_file_cached(path) != card.sha256:
            raise MetricUnavailable(
                f"{metric}: {path} is not the {card.name} weights file (sha256 differs from {card.sha256}); "
                f"remove it and {card.fetch}"
            )
    return path


def locate_weights(card: TaskNetworkCard, explicit: str | Path | None, metric: str) -> Path:
    """The weights file of ``card``, looked up as the module docstring says.

    Raises:
        MetricUnavailable: the file is nowhere to be found, an explicitly named file does not exist, or a cached
            file does not match the card's sha256. The message says how to get the weights.
    """
    from bench import weights as cache

    for given, origin in ((explicit, "the weights option"), (os.environ.get(card.env), card.env)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise MetricUnavailable(f"{metric}: {origin} names {path}, which does not exist; {card.fetch}")
            return path
    if card.name in cache.CARDS:  # registered in the weights cache: sha256-verified there
        return cache.verified_path(card.name, metric)
    cached = cache.cache_dir() / card.filename
    if cached.is_file():
        return _check_sha256(card, cached, metric)
    for path in _library_caches(card):
        if path.is_file():
            return _check_sha256(card, path, metric)
    places = [f"${card.env}", str(cached)]
    places += ["the Hugging Face cache"] if card.hf_hub else []
    places += ["the torch hub cache"] if card.torch_hub_file else []
    raise MetricUnavailable(
        f"{metric} needs the {card.name} weights, which are not on this machine (looked in {', '.join(places)}); "
        f"{card.fetch}"
    )


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def tensor_version(tensor: Any) -> int:
    """The in-place modification counter of a tensor; -1 for inference-mode tensors, which have none."""
    try:
        return tensor._version
    except RuntimeError:  # "Inference tensors do not track version counter"
        return -1


class NetworkScorer:
    """A task network with the official input handling, scoring the reconstructions of one image together.

    The reconstructions (all decoder variants of one image) are clamped to [0, 1], prepared (:meth:`_pad`),
    normalised with the card's mean/std and sent through the network in one forward, or in chunks of
    ``batch_size``. The result for the last list of reconstructions is kept, so that several metrics of the same
    reconstructions (top-1 and top-5; mIoU, mAcc and allAcc) share one forward. The memo holds those tensors, so
    their identity cannot pass to new tensors; a tensor modified in place since is scored again.
    """

    def __init__(self, card: TaskNetworkCard, model: Any, weights_path: Path, device: Any = "cpu",
                 batch_size: int | None = None):
        import torch

        self.card = card
        self.weights_path = Path(weights_path)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self._mean = torch.tensor(card.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(card.std, device=self.device).view(1, 3, 1, 1)
        self._last: tuple[list[Any], list[int], Any] | None = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        """The network and the exact weights file behind its scores (network name, file, sha256, source)."""
        from bench.download import sha256_of_file_cached

        return {"network": self.card.name, "weights": str(self.weights_path),
                "weights_sha256": sha256_of_file_cached(self.weights_path), "source": self.card.source}

    def _pad(self, x: Any) -> Any:
        """Geometry the network needs (none by default)."""
        return x

    def _forward(self, x: Any) -> Any:
        """The network's output for a normalised batch on the device."""
        raise NotImplementedError

    def _finish(self, outputs: Any) -> Any:
        """The scorer's result from the concatenated CPU outputs."""
        return outputs

    def score(self, images: Sequence[Any]) -> Any:
        """The result for N (1, 3, H, W) images (or (3, H, W)), in their order."""
        import torch

        with self._lock:
            last = self._last
            if last is not None and len(last[0]) == len(images) and all(
                a is b and tensor_version(a) == v for a, b, v in zip(last[0], images, last[1])
            ):
                return last[2]
            batch = torch.cat([image.reshape(1, *image.shape[-3:]) for image in images]).float()
            chunk = self.batch_size or len(images)
            outputs = []
            with torch.no_grad():
                for start in range(0, len(images), chunk):
                    x = self._pad(batch[start : start + chunk].to(self.device).clamp(0.0, 1.0))
                    outputs.append(self._forward((x - self._mean) / self._std).cpu())
            result = self._finish(torch.cat(outputs))
            self._last = (list(images), [tensor_version(image) for image in images], result)
            return result

"""CompressAI zoo architectures as bench codecs, from local checkpoint files (nothing is downloaded).

The official CompressAI weights are one file per quality, named as in ``compressai.zoo.image.model_urls``
(e.g. ``bmshj2018-hyperprior-3-6d87be32.pth.tar``, whose last field is the first 8 hex digits of its sha256).
A codec takes a folder holding such files (its rate points are the qualities found) or a single file. Inputs
are zero-padded, centred, to a multiple of 64 as in CompressAI's ``eval_model``, and cropped back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import torch

from bench.codecs.base import Decoded
from bench.checkpoints import load_checkpoint
from bench.codecs.learned import (
    LearnedCodec,
        checkpoint_digest,
    config_value,
    crop_center,
    library_versions,
    make_bitstream,
    padded_size,
    prepare_input,
    read_bitstream,
    resolve_device,
)
from bench.errors import CheckpointError
from bench.schema import Bitstream
from bench.timing import Stopwatch


def official_filename(architecture: str, metric: str, quality: int) -> str | None:
    """The basename of CompressAI's released file for (architecture, metric, quality), if there is one."""
    from compressai.zoo.image import model_urls

    url = model_urls.get(architecture, {}).get(metric, {}).get(quality)
    return url.rsplit("/", 1)[-1] if url else None


class CompressAIZooCodec(LearnedCodec):
    """A CompressAI zoo architecture with local weights.

    Args:
        checkpoint: a folder of official CompressAI files, or one checkpoint file.
        metric: ``mse`` or ``ms-ssim`` (which official files to look for).
        qualities: rate points; default: every quality whose official file is in the folder, or the quality in
            the official name of a single file. Required for a single file with another name.
        device: ``cpu`` or ``cuda[:i]``.
    """

    architecture: ClassVar[str]
    latent_stride: ClassVar[int] = 64  # the decompress shape is the size of z (y for the factorized prior)
    pad_multiple: ClassVar[int] = 64

    def __init__(self, checkpoint: str, metric: str = "mse", qualities: Sequence[int] | None = None,
                 device: str = "cpu"):
        from compressai.zoo.image import cfgs

        if metric not in ("mse", "ms-ssim"):
            raise ValueError(f"metric must be 'mse' or 'ms-ssim', got {metric!r}")
        self.checkpoint, self.metric = str(checkpoint), metric
        self.device = resolve_device(device)
        self.valid_qualities = tuple(sorted(cfgs[self.architecture]))
        self.files = self._find_files(Path(checkpoint), qualities)
        self._models: dict[int, torch.nn.Module] = {}
        self._digests: dict[int, str] = {}

    @classmethod
    def from_models(cls, models: dict[int, torch.nn.Module], device: str = "cpu", metric: str = "mse"):
        """Wraps already built models (tests use random weights this way; the engine never does)."""
        codec = cls.__new__(cls)
        codec.checkpoint, codec.metric, codec.device = "<in-memory models>", metric, resolve_device(device)
        codec.valid_qualities = tuple(sorted(models))
        codec.files = {q: Path("<in-memory>") for q in models}
        codec._models = {q: m.eval().to(codec.device) for q, m in models.items()}
        codec._digests = {q: "none" for q in models}
        return codec

    def _hint(self) -> str:
        example = official_filename(self.architecture, self.metric, self.valid_qualities[0])
        return (
            f"the official CompressAI weights are the files of compressai.zoo.image.model_urls (e.g. {example}); "
            f"put them in one folder and pass --checkpoint {self.name}=FOLDER"
        )

    def _find_files(self, path: Path, qualities: Sequence[int] | None) -> dict[int, Path]:
        if path.is_dir():
            found = {}
            for quality in qualities or self.valid_qualities:
                name = official_filename(self.architecture, self.metric, int(quality))
                if name and (path / name).is_file():
                    found[int(quality)] = path / name
                elif qualities:
                    raise CheckpointError(f"checkpoint folder {path} has no {name or 'file'} for quality {quality}; "
                                          f"{self._hint()}")
            if not found:
                raise CheckpointError(f"checkpoint folder {path} holds no official {self.architecture} "
                                      f"({self.metric}) file; {self._hint()}")
            return found
        if path.is_file():
            named = [q for q in self.valid_qualities
                     if official_filename(self.architecture, self.metric, q) == path.name]
            chosen = list(qualities) if qualities else named
            if len(chosen) != 1:
                raise CheckpointError(f"checkpoint {path}: cannot tell its quality from the file name; "
                                      f"pass qualities=(Q,) for a single file")
            if int(chosen[0]) not in self.valid_qualities:
                raise ValueError(f"{self.architecture} has qualities {list(self.valid_qualities)}, got {chosen[0]}")
            return {int(chosen[0]): path}
        raise CheckpointError(f"checkpoint {path} not found; {self._hint()}")

    def rate_points(self) -> Sequence[float]:
        return tuple(float(q) for q in sorted(self.files))

    def model(self, quality: float) -> torch.nn.Module:
        q = int(quality)
        if q != quality or q not in self.files:
            raise ValueError(f"{self.name} has rate points {list(self.rate_points())}, got {quality}")
        if q not in self._models:
            from compressai.zoo import image_models

            path = self.files[q]
            self._verify_official_digest(q, path)
            model = image_models[self.architecture](quality=q, metric=self.metric)
            load_checkpoint(model, path, self.name, self._hint())
            model.update(force=True)
            self._models[q] = model.eval().to(self.device)
        return self._models[q]

    def _verify_official_digest(self, quality: int, path: Path) -> None:
        """Official names end with the first 8 hex digits of the file's sha256: check them."""
        digest = self._digest(quality)
        if path.name == official_filename(self.architecture, self.metric, quality):
            expected = path.name.split(".")[0].rsplit("-", 1)[-1]
            if not digest.startswith(expected):
                raise CheckpointError(f"checkpoint {path} has sha256 {digest[:8]}..., but its official name says "
                                      f"{expected}: the file is corrupt or not the released one; download it again")

    def _digest(self, quality: int) -> str:
        if quality not in self._digests:
            self._digests[quality] = checkpoint_digest(self.files[quality])
        return self._digests[quality]

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        model = self.model(point)
        padded, height, width = prepare_input(x, self.device, self.pad_multiple)
        clock = Stopwatch(self.device)
        result = clock.run("total", model.compress, padded)
        strings = [s[0] for s in result["strings"]]
        return make_bitstream(self.name, point, height, width, strings, clock.times)

    @torch.inference_mode()
    def decode_variants(self, bitstream: Bitstream, variants: Iterable[str]) -> Iterator[Decoded]:
        container = read_bitstream(bitstream, self.name)
        model = self.model(container.quality)
        height, width = padded_size(container.height, container.width, self.pad_multiple)
        shape = (height // self.latent_stride, width // self.latent_stride)
        clock = Stopwatch(self.device)
        x_hat = clock.run("total", model.decompress, [[s] for s in container.strings], shape)["x_hat"]
        x_hat = crop_center(x_hat.clamp(0, 1), container.height, container.width, self.pad_multiple).float().cpu()
        for variant in variants:
            self.check_single_decoder(variant)
            yield Decoded(variant, x_hat, clock.times["total"], dict(clock.times))

    def config(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "checkpoint_sha256": {str(q): self._digest(q) for q in sorted(self.files)},
            "qualities": config_value([int(q) for q in sorted(self.files)]),
            "device": str(self.device),
        }

    def versions(self) -> dict[str, str]:
        return library_versions()


class BMSHJ2018Factorized(CompressAIZooCodec):
    """Ballé et al., "Variational image compression with a scale hyperprior" (ICLR 2018), factorized prior."""

    name: ClassVar[str] = "bmshj2018-factorized"
    architecture: ClassVar[str] = "bmshj2018-factorized"
    latent_stride: ClassVar[int] = 16


class BMSHJ2018Hyperprior(CompressAIZooCodec):
    """Ballé et al., "Variational image compression with a scale hyperprior" (ICLR 2018), scale hyperprior."""

    name: ClassVar[str] = "bmshj2018-hyperprior"
    architecture: ClassVar[str] = "bmshj2018-hyperprior"


class MBT2018Mean(CompressAIZooCodec):
    """Minnen et al., "Joint Autoregressive and Hierarchical Priors" (NeurIPS 2018), mean-scale hyperprior."""

    name: ClassVar[str] = "mbt2018-mean"
    architecture: ClassVar[str] = "mbt2018-mean"


class MBT2018(CompressAIZooCodec):
    """Minnen et al., "Joint Autoregressive and Hierarchical Priors" (NeurIPS 2018), with context model."""

    name: ClassVar[str] = "mbt2018"
    architecture: ClassVar[str] = "mbt2018"


class Cheng2020Anchor(CompressAIZooCodec):
    """Cheng et al., "Learned Image Compression with Discretized Gaussian Mixture Likelihoods and Attention
    Modules" (CVPR 2020), anchor."""

    name: ClassVar[str] = "cheng2020-anchor"
    architecture: ClassVar[str] = "cheng2020-anchor"


class Cheng2020Attention(CompressAIZooCodec):
    """Cheng et al. (CVPR 2020) with attention modules."""

    name: ClassVar[str] = "cheng2020-attn"
    architecture: ClassVar[str] = "cheng2020-attn"

"""CompressAI zoo architectures as bench codecs, from local checkpoint files (nothing is downloaded).

The official CompressAI weights are one file per quality, named as in ``compressai.zoo.image.model_urls``
(e.g. ``bmshj2018-hyperprior-3-6d87be32.pth.tar``, whose last field is the first 8 hex digits of its sha256).
A codec takes a folder holding such files (its rate points are the qualities found) or a single file. Inputs
are zero-padded, centred, to a multiple of 64 as in CompressAI's ``eval_model``, and cropped back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn

from bench.checkpoints import load_checkpoint
from bench.codecs.learned import (
    InMemoryModels,
    LearnedCodec,
    Weights,
    WeightsKey,
    checkpoint_files,
    finite_outputs,
    identify_checkpoint,
    in_memory_weights,
)
from bench.errors import BenchError, CheckpointError
from bench.timing import Stopwatch

METRICS = ("mse", "ms-ssim")


def official_filename(architecture: str, metric: str, quality: int) -> str | None:
    """The basename of CompressAI's released file for (architecture, metric, quality), if there is one."""
    from compressai.zoo.image import model_urls

    url = model_urls.get(architecture, {}).get(metric, {}).get(quality)
    return url.rsplit("/", 1)[-1] if url else None


def official_digest_prefix(architecture: str, metric: str, quality: int) -> str | None:
    """The first 8 hex digits of the released file's sha256, as its official name carries them."""
    name = official_filename(architecture, metric, quality)
    return name.split(".")[0].rsplit("-", 1)[-1] if name else None


class CompressAIZooCodec(LearnedCodec):
    """A CompressAI zoo architecture with local weights.

    Args:
        checkpoint: a folder of official CompressAI files; one checkpoint file; or a list of files (a curve of
            self-trained files), one per quality.
        metric: ``mse`` or ``ms-ssim`` (which official files to look for, which are official).
        qualities: the zoo quality (architecture size) of each rate point; default: every quality whose official
            file is in the folder, or the quality in each file's official name. Required for files with other
            names, aligned with the list (``qualities = [1, 2, 3]``).
        device: ``cpu`` or ``cuda[:i]``.
    """

    architecture: ClassVar[str]  # the key of compressai.zoo.image_models
    latent_stride: ClassVar[int] = 64  # the decompress shape is the size of z (y for the factorized prior)
    pad_multiple: ClassVar[int] = 64
    profile_kind: ClassVar[str] = "compressai"

    def __init__(self, checkpoint: str | Sequence[str] | InMemoryModels, metric: str = "mse",
                 qualities: Sequence[int] | None = None, device: str = "cpu"):
        from compressai.zoo.image import cfgs

        if metric not in METRICS:
            raise BenchError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.metric = metric
        self.valid_qualities = tuple(sorted(cfgs[self.architecture]))
        if isinstance(checkpoint, InMemoryModels):
            weights = in_memory_weights(checkpoint)
        else:
            weights = {float(q): Weights(path=path) for q, path in self._find_files(checkpoint, qualities).items()}
        super().__init__(weights, device)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "architecture" in cls.__dict__:
            cls.description = f"CompressAI zoo architecture {cls.architecture}"
            cls.checkpoint_label = f"a CompressAI {cls.architecture}"
            cls.weights_hint = (
                f"the official CompressAI weights are the files of compressai.zoo.image.model_urls (e.g. "
                f"{official_filename(cls.architecture, 'mse', 1)}); put them in one folder and pass "
                f"--checkpoint {cls.name}=FOLDER"
            )

    def _find_files(self, checkpoint: str | Sequence[str], qualities: Sequence[int] | None) -> dict[int, Path]:
        if qualities is not None:
            qualities = [self._check_quality(q) for q in qualities]
        if isinstance(checkpoint, (list, tuple)):
            return self._files_of_list(checkpoint_files(checkpoint, self.weights_hint), qualities)
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            return self._files_of_folder(path, qualities)
        return self._files_of_list(checkpoint_files(path, self.weights_hint), qualities)

    def _files_of_folder(self, path: Path, qualities: list[int] | None) -> dict[int, Path]:
        found = {}
        for quality in qualities or self.valid_qualities:
            name = official_filename(self.architecture, self.metric, quality)
            if name and (path / name).is_file():
                found[quality] = path / name
            elif qualities:
                raise CheckpointError(f"checkpoint folder {path} has no {name or 'file'} for quality {quality}; "
                                      f"{self.weights_hint}")
        if not found:
            raise CheckpointError(f"checkpoint folder {path} holds no official {self.architecture} "
                                  f"({self.metric}) file; {self.weights_hint}")
        return found

    def _files_of_list(self, files: list[Path], qualities: list[int] | None) -> dict[int, Path]:
        if qualities is None:
            qualities = []
            for path in files:
                named = [q for q in self.valid_qualities
                         if official_filename(self.architecture, self.metric, q) == path.name]
                if not named:
                    raise CheckpointError(
                        f"checkpoint {path}: cannot tell its quality from the file name; give the zoo quality of "
                        f"each file, e.g. qualities = [{', '.join(['1'] * len(files))}]"
                    )
                qualities.append(named[0])
        if len(qualities) != len(files):
            raise CheckpointError(f"checkpoint lists {len(files)} file(s) but qualities has {len(qualities)} "
                                  f"value(s); give one zoo quality per file, in the same order")
        if len(set(qualities)) != len(qualities):
            raise CheckpointError(f"qualities = {list(qualities)} repeats a quality; give one file per quality")
        return dict(zip(qualities, files))

    def _check_quality(self, quality: Any) -> int:
        if isinstance(quality, bool) or not isinstance(quality, (int, float)) or int(quality) != quality \
                or int(quality) not in self.valid_qualities:
            raise BenchError(f"{self.name}: qualities are zoo qualities {list(self.valid_qualities)}, got {quality!r}")
        return int(quality)

    @classmethod
    def build_model(cls, quality: float | None = None, state_dict: Mapping[str, torch.Tensor] | None = None,
                    device: str = "cpu") -> nn.Module:
        from compressai.zoo import image_models

        model = image_models[cls.architecture](quality=int(quality or 1)).eval()
        return model.to("meta") if device == "meta" else model.to(device)

    def load_model(self, path: Path, key: WeightsKey) -> nn.Module:
        from compressai.zoo import image_models

        model = image_models[self.architecture](quality=int(key), metric=self.metric)
        load_checkpoint(model, path, self.checkpoint_label, self.weights_hint, identify=identify_checkpoint)
        return self.prepare_model(model)

    def verify_file(self, weights: Weights, key: WeightsKey) -> None:
        """Official names end with the first 8 hex digits of the file's sha256: check them."""
        path, quality = weights.path, int(key)
        if path.name == official_filename(self.architecture, self.metric, quality):
            expected = official_digest_prefix(self.architecture, self.metric, quality)
            if not weights.sha256.startswith(expected):
                raise CheckpointError(f"checkpoint {path} has sha256 {weights.sha256[:8]}..., but its official name "
                                      f"says {expected}: the file is corrupt or not the released one; download it "
                                      f"again")

    def is_official(self, weights: Weights, key: WeightsKey) -> bool:
        """A file is official when its sha256 starts with the digest prefix of the released file of its quality
        (CompressAI names each released file with the first 8 hex digits of its sha256)."""
        prefix = official_digest_prefix(self.architecture, self.metric, int(key))
        return weights.path is not None and prefix is not None and weights.sha256.startswith(prefix)

    def rate_points(self) -> Sequence[float]:
        return tuple(sorted(self.weights))

    @classmethod
    def profile_points(cls, requested: Sequence[float], available: Sequence[float] | None
                       ) -> tuple[tuple[float], tuple[float], str | None]:
        """The available zoo quality closest to the first requested one (the higher on a tie)."""
        from compressai.zoo.image import cfgs

        choices = [float(q) for q in (available or sorted(cfgs[cls.architecture]))]
        quality = min(choices, key=lambda q: (abs(q - requested[0]), -q))
        note = None
        if quality != float(requested[0]):
            note = f"{cls.name} has qualities {', '.join(f'{q:g}' for q in choices)}: profiled at {quality:g}"
        return (quality,), (quality,), note

    def compress(self, model: nn.Module, x: torch.Tensor, point: float, clock: Stopwatch) -> list[bytes]:
        with finite_outputs(self.name, model, ("g_a", "h_a")):
            result = clock.run("total", model.compress, x)
        return [s[0] for s in result["strings"]]

    def decompress(self, model: nn.Module, strings: Sequence[bytes], shape: tuple[int, int], point: float,
                   variants: Iterable[str], clock: Stopwatch) -> Iterator[tuple[str, torch.Tensor, dict]]:
        latent_shape = (shape[0] // self.latent_stride, shape[1] // self.latent_stride)
        x_hat = clock.run("total", model.decompress, [[s] for s in strings], latent_shape)["x_hat"].clamp(0, 1)
        for variant in variants:
            self.check_single_decoder(variant)
            yield variant, x_hat, dict(clock.times)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "metric": self.metric}


class BMSHJ2018Factorized(CompressAIZooCodec):
    """Ballé et al., "Variational image compression with a scale hyperprior" (ICLR 2018), factorized prior."""

    name: ClassVar[str] = "bmshj2018-factorized"
    architecture: ClassVar[str] = "bmshj2018-factorized"
    container_id: ClassVar[int] = 16
    latent_stride: ClassVar[int] = 16

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return _plain_analysis(state_dict) and "h_a.0.weight" not in state_dict


class BMSHJ2018Hyperprior(CompressAIZooCodec):
    """Ballé et al., "Variational image compression with a scale hyperprior" (ICLR 2018), scale hyperprior."""

    name: ClassVar[str] = "bmshj2018-hyperprior"
    architecture: ClassVar[str] = "bmshj2018-hyperprior"
    container_id: ClassVar[int] = 17

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return _hyperprior(state_dict) and not _predicts_means(state_dict)


class MBT2018Mean(CompressAIZooCodec):
    """Minnen et al., "Joint Autoregressive and Hierarchical Priors" (NeurIPS 2018), mean-scale hyperprior."""

    name: ClassVar[str] = "mbt2018-mean"
    architecture: ClassVar[str] = "mbt2018-mean"
    container_id: ClassVar[int] = 18

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return _hyperprior(state_dict) and _predicts_means(state_dict)


class MBT2018(CompressAIZooCodec):
    """Minnen et al., "Joint Autoregressive and Hierarchical Priors" (NeurIPS 2018), with context model."""

    name: ClassVar[str] = "mbt2018"
    architecture: ClassVar[str] = "mbt2018"
    container_id: ClassVar[int] = 19

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return _plain_analysis(state_dict) and "context_prediction.weight" in state_dict


class Cheng2020Anchor(CompressAIZooCodec):
    """Cheng et al., "Learned Image Compression with Discretized Gaussian Mixture Likelihoods and Attention
    Modules" (CVPR 2020), anchor."""

    name: ClassVar[str] = "cheng2020-anchor"
    architecture: ClassVar[str] = "cheng2020-anchor"
    container_id: ClassVar[int] = 20

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return "g_a.0.conv1.weight" in state_dict and not _has_attention(state_dict)


class Cheng2020Attention(CompressAIZooCodec):
    """Cheng et al. (CVPR 2020) with attention modules."""

    name: ClassVar[str] = "cheng2020-attn"
    architecture: ClassVar[str] = "cheng2020-attn"
    container_id: ClassVar[int] = 21

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        return "g_a.0.conv1.weight" in state_dict and _has_attention(state_dict)


# --- recognising the zoo architectures from their keys ---------------------------------------------------------


# Modules of the later families that also start with a convolutional g_a (ELIC's latent codec, the MRIC-style model's
# beta conditioning and channel-wise entropy model).
_LATER_FAMILIES = ("latent_codec.", "beta_mlp.", "cc_mean_transforms.")


def _plain_analysis(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """A convolutional g_a (Ballé/Minnen family), not Cheng's residual blocks nor a later family's model."""
    return "g_a.0.weight" in state_dict and "g_a.0.conv1.weight" not in state_dict and \
        not any(key.startswith(_LATER_FAMILIES) for key in state_dict)


def _hyperprior(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return _plain_analysis(state_dict) and "h_a.0.weight" in state_dict and \
        "context_prediction.weight" not in state_dict


def _predicts_means(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """The hyper-synthesis outputs scales and means (2M channels), not scales only (M)."""
    h_s_out, y_channels = state_dict.get("h_s.4.weight"), state_dict.get("g_a.6.weight")
    return h_s_out is not None and y_channels is not None and h_s_out.shape[0] == 2 * y_channels.shape[0]


def _has_attention(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(".conv_a." in k for k in state_dict)


# --- test-only variant: the smallest zoo quality with seeded random weights -----------------------------------


class BMSHJ2018HyperpriorTiny(BMSHJ2018Hyperprior):
    """Test only: the bmshj2018-hyperprior architecture at its smallest quality (1) with seeded random weights."""

    name: ClassVar[str] = "bmshj2018-hyperprior-tiny"
    description: ClassVar[str] = "TEST ONLY: bmshj2018-hyperprior quality-1 architecture with random weights"
    test_only: ClassVar[bool] = True

    def __init__(self, seed: int = 0, device: str = "cpu"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build_model(1)
        super().__init__(InMemoryModels({1.0: model}, f"random weights (seed {seed}), test only"), device=device)

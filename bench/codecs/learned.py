"""What every learned codec shares: weights, padding, the container, encode/decode, finiteness checks, provenance.

A learned codec is one class in one file, plus its line in the registry table of :mod:`bench.codecs`. The class
declares what is particular to it and inherits the rest (encode, decode, the container, up-front checkpoint
checks, config, versions, provenance)::

    class MyCodec(LearnedCodec):
        name = "my-codec"                      # registry name (the table in bench/codecs/__init__.py checks it)
        description = "My codec (Author, Venue 2025)"
        container_id = 40                      # the byte naming it in the bitstream header; unique (checked at import)
        pad_multiple = 64                      # inputs are zero-padded, centred, to a multiple of this
        checkpoint_label = "a MyCodec"         # used in messages: "checkpoint X does not match a MyCodec model"
        weights_hint = "the weights are linked from ...; pass them with --checkpoint my-codec=PATH"

        def __init__(self, checkpoint, device="cpu"):
            super().__init__(single_weights(checkpoint, self.weights_hint), device)

        def rate_points(self): ...
        @classmethod
        def recognizes(cls, state_dict): ...   # True for a state dict of this codec's architecture
        @classmethod
        def build_model(cls, quality=None, state_dict=None, device="cpu"): ...   # the network (random init)
        def load_model(self, path, key): ...   # the network with the file's weights, strict, on self.device
        def compress(self, model, x, point, clock): ...   # padded x -> strings; check latents with check_finite
        def decompress(self, model, strings, shape, point, variants, clock): ...  # -> (variant, x_hat, timings)

``checkpoint`` is a file, a folder or a list of files (as the codec documents), or :class:`InMemoryModels`, which
:meth:`LearnedCodec.from_models` and :meth:`LearnedCodec.from_model` pass (tests, profiling; never a suite).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.checkpoints import check_checkpoint_file, check_state_dict, read_state_dict
from bench.codecs.base import Codec, Decoded
from bench.codecs.container import FORMAT_VERSION, Container, ContainerError, pack, unpack
from bench.devices import check_device
from bench.download import sha256_of_file
from bench.errors import BenchError, CheckpointError
from bench.schema import DEFAULT_VARIANT, Bitstream
from bench.tensors import as_batch
from bench.timing import Stopwatch

log = logging.getLogger(__name__)

# Weights key of a codec with one model for every rate point (MPA); codecs with one model per rate point key their
# weights by the point.
ALL_POINTS = None
WeightsKey = float | None

# container_id -> registry name, filled as codec classes are defined (a duplicate id is refused at import).
_CONTAINER_IDS: dict[int, str] = {}


class NonFiniteError(BenchError):
    """Latents or a reconstruction holding inf or NaN: broken weights (or input); the item fails, nothing is coded."""


# --- weights --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InMemoryModels:
    """Models built in Python, passed as ``checkpoint`` by :meth:`LearnedCodec.from_models` (never by a suite).

    Attributes:
        models: weights key (a rate point, or None for every point) -> model.
        description: what they are, for provenance (e.g. ``random weights (seed 0), test only``).
    """

    models: Mapping[WeightsKey, nn.Module]
    description: str = "in-memory model"


@dataclass
class Weights:
    """One weight set of a codec: a checkpoint file, or a model built in Python.

    Attributes:
        path: the checkpoint file (None for an in-memory model).
        model: the in-memory model (None for a file).
        description: what an in-memory model is.
    """

    path: Path | None = None
    model: nn.Module | None = None
    description: str = ""
    _sha256: str | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """sha256 of the file, or of an in-memory model's state dict (names, dtypes, shapes and bytes)."""
        if self._sha256 is None:
            self._sha256 = sha256_of_file(self.path) if self.path is not None else state_dict_digest(self.model)
        return self._sha256

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else f"<{self.description}>"


def state_dict_digest(model: nn.Module) -> str:
    """sha256 over a model's state dict: every key, dtype, shape and the tensor bytes, in key order."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def single_weights(checkpoint: Any, hint: str) -> dict[WeightsKey, Weights]:
    """``checkpoint`` of a codec with one model for every rate point: one file, or one in-memory model."""
    if isinstance(checkpoint, InMemoryModels):
        return in_memory_weights(checkpoint)
    if isinstance(checkpoint, (list, tuple)):
        raise CheckpointError(f"checkpoint: one file for every rate point, got a list of {len(checkpoint)}; "
                              f"pass checkpoint = \"PATH\"")
    return {ALL_POINTS: Weights(path=check_checkpoint_file(Path(checkpoint).expanduser(), hint))}


def in_memory_weights(models: InMemoryModels) -> dict[WeightsKey, Weights]:
    return {None if key is None else float(key): Weights(model=model, description=models.description)
            for key, model in models.models.items()}


def checkpoint_files(checkpoint: Any, hint: str) -> list[Path]:
    """A list option (``checkpoint = ["a.pth.tar", "b.pth.tar"]``) as checked files; a single path as a list of one.

    Folders are the caller's business (codecs that accept one list the files in it their own way).
    """
    items = list(checkpoint) if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    if not items:
        raise CheckpointError(f"checkpoint is an empty list; {hint}")
    return [check_checkpoint_file(Path(item).expanduser(), hint) for item in items]


def rate_point_files(checkpoint: Any, hint: str) -> list[Path]:
    """The files of a codec with one checkpoint per rate point, low to high rate: one file; a list of files, in
    order; or a folder, whose ``*.pth``, ``*.pth.tar``, ``*.pt``, ``*.ckpt`` files are taken in sorted name order."""
    if not isinstance(checkpoint, (list, tuple)):
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            suffixes = (".pth", ".pth.tar", ".pt", ".ckpt", ".tar")
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
            if not files:
                raise CheckpointError(f"checkpoint folder {path} holds no .pth/.pth.tar/.pt/.ckpt file; {hint}")
            return files
    return checkpoint_files(checkpoint, hint)


# --- padding and input -----------------------------------------------------------------------------------------


def pad_center(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pads (B, C, H, W) to the next multiple of ``multiple`` per axis, centred (left/top get the floor half).

    Returns:
        The padded tensor and ``(left, right, top, bottom)``.
    """
    height, width = x.shape[-2:]
    new_h, new_w = padded_size(height, width, multiple)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    padding = (left, new_w - width - left, top, new_h - height - top)
    return F.pad(x, padding, mode="constant", value=0.0), padding


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def crop_center(x: torch.Tensor, height: int, width: int, multiple: int) -> torch.Tensor:
    """Inverse of :func:`pad_center` for an image of original size ``height`` x ``width``."""
    new_h, new_w = padded_size(height, width, multiple)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return x[..., top : top + height, left : left + width]


def resolve_device(device: str | torch.device) -> torch.device:
    """The checked device (:func:`bench.devices.check_device`), with cuDNN made deterministic on a GPU."""
    resolved = check_device(device)
    if resolved.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return resolved


# --- finiteness ------------------------------------------------------------------------------------------------


def check_finite(codec: str, what: str, tensor: torch.Tensor, consequence: str) -> None:
    """Raises :class:`NonFiniteError` when ``tensor`` holds inf or NaN (compressai's rANS coder hangs on inf)."""
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return
    kinds = [name for name, present in (("inf", torch.isinf(tensor).any()), ("NaN", torch.isnan(tensor).any()))
             if bool(present)]
    raise NonFiniteError(
        f"{codec}: {what} holds {int((~finite).sum())} non-finite value(s) ({' and '.join(kinds)}) of "
        f"{tensor.numel()}; {consequence}: the model's weights are not finite (check the checkpoint)"
    )


@contextlib.contextmanager
def finite_outputs(codec: str, model: nn.Module, module_names: Sequence[str]) -> Iterator[None]:
    """Checks the outputs of ``model.<name>`` submodules as they run (for models whose ``compress`` is one call):
    non-finite latents raise before the entropy coder sees them."""
    handles = []
    for module_name in module_names:
        module = getattr(model, module_name, None)
        if isinstance(module, nn.Module):
            def hook(_module, _inputs, output, module_name=module_name):
                check_finite(codec, f"the output of {module_name} (latents)", output, "nothing was entropy-coded")

            handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# --- recognising checkpoints -----------------------------------------------------------------------------------


def identify_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, str] | None:
    """``(registry name, label)`` of the registered learned codec a state dict belongs to, or None.

    Asks every registered codec class (test-only variants excepted) through its :meth:`LearnedCodec.recognizes`.
    """
    from bench.codecs import codecs

    for name in codecs.names():
        factory = codecs.get(name)
        if issubclass(factory, LearnedCodec) and not factory.test_only and factory.recognizes(state_dict):
            return name, factory.checkpoint_label
    return None


def codec_of_container_id(codec_id: int) -> str | None:
    """Registry name of the codec class whose ``container_id`` is ``codec_id`` (classes defined so far, then every
    registered codec)."""
    if codec_id not in _CONTAINER_IDS:
        from bench.codecs import codecs

        for name in codecs.names():
            codecs.get(name)  # defining the class fills _CONTAINER_IDS
    return _CONTAINER_IDS.get(codec_id)


def library_versions() -> dict[str, str]:
    import compressai

    return {"torch": torch.__version__, "compressai": compressai.__version__, "container": str(FORMAT_VERSION)}


# --- the base class --------------------------------------------------------------------------------------------


class LearnedCodec(Codec):
    """A codec whose bitstream is a network's entropy-coded latents in the :mod:`bench.codecs.container`.

    Subclasses call ``super().__init__(weights, device)`` with their weights (see :func:`single_weights`,
    :func:`checkpoint_files`) and implement the hooks listed in the module docstring. Construction checks every
    checkpoint file up front (a bad file fails the codec, not each item): one weight set is loaded at once; several
    (one per rate point) are each read and checked key by key, and loaded on first use.

    Attributes:
        device: where the models run.
        weights: weights key (rate point, or None for every point) -> :class:`Weights`.
    """

    container_id: ClassVar[int]
    pad_multiple: ClassVar[int] = 64
    checkpoint_label: ClassVar[str]
    weights_hint: ClassVar[str] = ""
    # Digests of the released weight files, where their authors publish them; ``official`` provenance needs one.
    KNOWN_OFFICIAL_SHA256: ClassVar[frozenset[str]] = frozenset()
    # One network for every rate point (MPA's variable rate) rather than one per point.
    one_model_for_all_points: ClassVar[bool] = False
    # What complexity profiling counts (bench.complexity.subjects): "transformer" or "compressai".
    profile_kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "container_id" in cls.__dict__:
            owner = _CONTAINER_IDS.setdefault(cls.container_id, cls.name)
            if owner != cls.name:
                raise TypeError(f"{cls.__qualname__}: container_id {cls.container_id} is already {owner!r}'s")

    def __init__(self, weights: Mapping[WeightsKey, Weights], device: str | torch.device = "cpu"):
        self.device = resolve_device(device)
        self.weights = dict(weights)
        self._models: dict[WeightsKey, nn.Module] = {}
        for key, entry in self.weights.items():
            if entry.model is not None:
                self._models[key] = self.prepare_model(entry.model)
            else:
                self.verify_file(entry, key)
                if len(self.weights) == 1:
                    self._models[key] = self.load_model(entry.path, key)
                else:
                    self.check_file(entry.path, key)
        if self.test_only:
            log.warning("%s: %s", self.name, self.description)

    # --- alternate constructors ---

    @classmethod
    def from_models(cls, models: Mapping[WeightsKey, nn.Module], description: str = "in-memory model",
                    **options: Any) -> "LearnedCodec":
        """The codec around models already built (weights key -> model); ``options`` as the constructor's."""
        return cls(checkpoint=InMemoryModels(dict(models), description), **options)

    @classmethod
    def from_model(cls, model: nn.Module, description: str = "in-memory model", **options: Any) -> "LearnedCodec":
        """The codec around one model serving every rate point (MPA, MPAEnc)."""
        return cls.from_models({ALL_POINTS: model}, description, **options)

    # --- what a subclass declares ---

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """True when ``state_dict`` (keys normalised) is a checkpoint of this codec's architecture."""
        return False

    @classmethod
    def build_model(cls, quality: float | None = None, state_dict: Mapping[str, torch.Tensor] | None = None,
                    device: str = "cpu") -> nn.Module:
        """The codec's network: the official architecture (or the one ``state_dict`` was saved from), randomly
        initialised on ``cpu``, shapes only on ``meta`` (complexity counts, checkpoint checks)."""
        raise NotImplementedError

    def load_model(self, path: Path, key: WeightsKey) -> nn.Module:
        """The network with the file's weights, strictly checked, entropy tables built, in eval mode on the device."""
        raise NotImplementedError

    def compress(self, model: nn.Module, x: torch.Tensor, point: float, clock: Stopwatch) -> list[bytes]:
        """Padded input -> the entropy-coded strings; latents must pass :func:`check_finite` before coding."""
        raise NotImplementedError

    def decompress(self, model: nn.Module, strings: Sequence[bytes], shape: tuple[int, int], point: float,
                   variants: Iterable[str], clock: Stopwatch) -> Iterator[tuple[str, torch.Tensor, dict]]:
        """Strings -> ``(variant, padded x_hat, timings)`` per variant; ``shape`` is the padded image size."""
        raise NotImplementedError

    @staticmethod
    def counted_forward(model: nn.Module, x: torch.Tensor, quality: float | None, q_task: float | None,
                        task_idx: int) -> Any:
        """The forward pass whose multiply-accumulates complexity profiling counts (one image, one configuration)."""
        return model(x)

    @classmethod
    def profile_points(cls, requested: Sequence[float], available: Sequence[float] | None
                       ) -> tuple[tuple[float, ...], tuple[float | None, ...], str | None]:
        """The rate points complexity profiling times, the model qualities it counts, and a note when it could
        not profile what was asked. ``available``: the codec's rate points (None without a checkpoint).

        Default (one fixed-rate model per point, all of one architecture): the highest rate point only.
        """
        return ((float(available[-1]) if available else 1.0),), (None,), None

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """An in-memory model made ready as a loaded one is: entropy tables built, eval mode, on the device."""
        model.update(force=True)
        return model.eval().to(self.device)

    def verify_file(self, weights: Weights, key: WeightsKey) -> None:
        """Checks a file beyond its keys (the zoo codecs check the digest in official file names)."""

    def model_quality(self, key: WeightsKey) -> float | None:
        """The quality argument of :meth:`build_model` for a weights key."""
        return key

    def is_official(self, weights: Weights, key: WeightsKey) -> bool:
        return weights.path is not None and weights.sha256 in self.KNOWN_OFFICIAL_SHA256

    # --- shared behaviour ---

    def check_file(self, path: Path, key: WeightsKey) -> None:
        """Reads a checkpoint and checks its keys and shapes against the architecture, without keeping it."""
        state_dict = read_state_dict(path, self.weights_hint)
        model = self.build_model(self.model_quality(key), state_dict, device="meta")
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        check_state_dict(state_dict, expected, path, self.checkpoint_label, identify=identify_checkpoint,
                         explain=self.explain_mismatch)

    @staticmethod
    def explain_mismatch(missing: list[str], state_dict: Mapping[str, torch.Tensor]) -> str | None:
        """A sentence about missing keys that have a known cause (an older release of the format), or None."""
        return None

    def weights_key(self, point: float) -> WeightsKey:
        if ALL_POINTS in self.weights:
            return ALL_POINTS
        key = float(point)
        if key not in self.weights:
            raise ValueError(f"{self.name} has rate points {[float(k) for k in sorted(self.weights)]}, got {point}")
        return key

    def model(self, point: float) -> nn.Module:
        """The network that codes rate point ``point`` (loaded on first use)."""
        key = self.weights_key(point)
        if key not in self._models:
            self._models[key] = self.load_model(self.weights[key].path, key)
        return self._models[key]

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        model = self.model(point)
        x = as_batch(x).to(device=self.device, dtype=torch.float32)
        height, width = x.shape[-2:]
        padded, _ = pad_center(x, self.pad_multiple)
        clock = Stopwatch(self.device)
        strings = self.compress(model, padded, point, clock)
        container = Container(self.container_id, float(point), height, width, tuple(strings))
        return Bitstream(
            data=pack(container), height=height, width=width, payload_bytes=container.payload_bytes,
            header={"codec": self.name, **container.header()}, timings=dict(clock.times),
        )

    @torch.inference_mode()
    def decode_variants(self, bitstream: Bitstream, variants: Iterable[str]) -> Iterator[Decoded]:
        """Decodes ``bitstream.data`` (nothing else) once per variant; entropy decoding is shared where the codec
        allows, and ``Decoded.seconds`` is what a standalone decode of the variant costs."""
        container = self.read_container(bitstream.data)
        model = self.model(container.quality)
        shape = padded_size(container.height, container.width, self.pad_multiple)
        clock = Stopwatch(self.device)
        for variant, x_hat, timings in self.decompress(model, container.strings, shape, container.quality, variants,
                                                       clock):
            x_hat = crop_center(x_hat, container.height, container.width, self.pad_multiple).float().cpu()
            check_finite(self.name, f"the reconstruction ({variant})", x_hat, "the decode failed")
            yield Decoded(variant, x_hat, sum(timings.values()), dict(timings))

    @torch.inference_mode()
    def decode(self, bitstream: Bitstream, variant: str = DEFAULT_VARIANT) -> torch.Tensor:
        return next(iter(self.decode_variants(bitstream, [variant]))).x_hat

    def read_container(self, data: bytes) -> Container:
        """Parses the bytes, checking this codec wrote them."""
        container = unpack(data)
        if container.codec_id != self.container_id:
            writer = codec_of_container_id(container.codec_id)
            named = repr(writer) if writer else f"id {container.codec_id} (unknown)"
            raise ContainerError(f"bitstream was written by codec {named}, not {self.name!r}")
        return container

    def check_single_decoder(self, variant: str) -> None:
        if variant != DEFAULT_VARIANT:
            raise ValueError(f"{self.name} has one decoder; unknown variant {variant!r}")

    def config(self) -> dict[str, Any]:
        """The weights' content (sha256, not the path) and the device; rate points and variants key each row."""
        return {"checkpoint_sha256": {_point_name(key): entry.sha256 for key, entry in self.weights.items()},
                "device": str(self.device)}

    def versions(self) -> dict[str, str]:
        return library_versions()

    def provenance(self) -> dict[str, Any]:
        checkpoints = {_point_name(key): {"path": entry.where, "sha256": entry.sha256}
                       for key, entry in self.weights.items()}
        official = all(self.is_official(entry, key) for key, entry in self.weights.items())
        return {"checkpoints": checkpoints, "official": bool(self.weights) and official}


def _point_name(key: WeightsKey) -> str:
    return "all" if key is None else f"{key:g}"

"""Safe checkpoint loading for learned codecs and task networks: unwrap, normalise key names, strict check, readable errors.

Official files load unchanged: ``{'state_dict': ...}`` (training scripts) or a bare state dict, ``module.``
prefixes (DataParallel), ``.downsample.`` (old CompressAI residual blocks) and the three spellings of the
EntropyBottleneck parameters (``_matrices.0`` of CompressAI < 1.1, ``_matrix0`` of the MPA/TinyLIC fork,
``matrices.0`` of CompressAI 1.2.8), renamed to whatever the target model uses. Files are read with
``torch.load(weights_only=True)``. The entropy coder's CDF buffers are derived data (recomputed by
``update(force=True)`` after loading), so they are neither required nor compared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from bench.errors import CheckpointError

# Buffers recomputed by update(force=True): never required in, nor compared against, a checkpoint.
DERIVED_SUFFIXES = ("._quantized_cdf", "._offset", "._cdf_length", "gaussian_conditional.scale_table")

ARCHITECTURE_LABELS = {
    "mpa": "an MPA (stage-2, all-in-one)",
    "mpa-enc": "an MPAEnc / stage-1",
    "tinylic": "a TinyLIC",
    "bmshj2018-factorized": "a CompressAI bmshj2018-factorized",
    "bmshj2018-hyperprior": "a CompressAI bmshj2018-hyperprior",
    "mbt2018-mean": "a CompressAI mbt2018-mean",
    "mbt2018": "a CompressAI mbt2018",
    "cheng2020-anchor": "a CompressAI cheng2020-anchor",
    "cheng2020-attn": "a CompressAI cheng2020-attn",
    "elic": "an ELIC (CompressAI elic2022-official layout)",
    "mric": "an MRIC-style (bench.codecs.mric layout)",
}

_EB_KEY = re.compile(
    r"^(?P<module>(?:.*\.)?entropy_bottleneck)\."
    r"(?P<kind>_matrices\.|_biases\.|_factors\.|matrices\.|biases\.|factors\.|_matrix|_bias|_factor)(?P<index>\d+)$"
)
_EB_KIND = {
    "_matrices.": "matrix", "matrices.": "matrix", "_matrix": "matrix",
    "_biases.": "bias", "biases.": "bias", "_bias": "bias",
    "_factors.": "factor", "factors.": "factor", "_factor": "factor",
}


class CheckpointMismatch(CheckpointError):
    """A checkpoint whose keys or shapes differ from the model; the lists are kept for programs and tests.

    Attributes:
        missing: keys the model has and the checkpoint lacks.
        unexpected: keys the checkpoint has and the model lacks.
        mismatched: ``(key, checkpoint shape, model shape)`` for keys whose shapes differ.
        detected: registry name of the architecture the checkpoint looks like, if recognised.
    """

    def __init__(self, message: str, missing: list[str], unexpected: list[str],
                 mismatched: list[tuple[str, tuple, tuple]], detected: str | None):
        super().__init__(message)
        self.missing, self.unexpected, self.mismatched, self.detected = missing, unexpected, mismatched, detected


def read_state_dict(path: str | Path, missing_hint: str = "") -> dict[str, torch.Tensor]:
    """Reads a checkpoint file safely and returns its state dict (unwrapped from ``{'state_dict': ...}``).

    Raises:
        CheckpointError: missing file, unreadable file, non-tensor pickles, or no state dict inside.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found{'; ' + missing_hint if missing_hint else ''}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and weights_only errors all mean: cannot be read safely
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read with torch.load(weights_only=True) ({first_line}); "
            f"re-save its state_dict alone with torch.save"
        ) from error
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"checkpoint {path} holds no state dict (expected {{'state_dict': {{...}}}} or a dict of tensors)"
        )
    return dict(obj)


def normalize_keys(state_dict: Mapping[str, torch.Tensor], target_keys: set[str]) -> dict[str, torch.Tensor]:
    """Strips ``module.`` prefixes, renames ``.downsample.`` to ``.skip.`` and the EntropyBottleneck parameters to
    the spelling the target model uses."""
    eb_style = _entropy_bottleneck_style(target_keys)
    out = {}
    for key, value in state_dict.items():
        key = strip_module_prefix(key)
        if ".downsample." in key and key not in target_keys:
            key = key.replace(".downsample.", ".skip.")
        match = _EB_KEY.match(key)
        if match and eb_style is not None:
            kind, index = _EB_KIND[match["kind"]], match["index"]
            if eb_style == "fork":
                key = f"{match['module']}._{kind}{index}"
            else:
                plural = {"matrix": "matrices", "bias": "biases", "factor": "factors"}[kind]
                key = f"{match['module']}.{plural}.{index}"
        out[key] = value
    return out


def _entropy_bottleneck_style(target_keys: set[str]) -> str | None:
    for key in target_keys:
        match = _EB_KEY.match(key)
        if match:
            return "fork" if match["kind"].startswith("_") and not match["kind"].endswith(".") else "upstream"
    return None


def is_derived(key: str) -> bool:
    return key.endswith(DERIVED_SUFFIXES)


def compare(state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size | tuple]):
    """Returns (missing, unexpected, mismatched) between a state dict and expected key -> shape (derived keys
    ignored)."""
    have = {k: tuple(v.shape) for k, v in state_dict.items() if not is_derived(k)}
    want = {k: tuple(v) for k, v in expected.items() if not is_derived(k)}
    missing = sorted(set(want) - set(have))
    unexpected = sorted(set(have) - set(want))
    mismatched = sorted((k, have[k], want[k]) for k in set(have) & set(want) if have[k] != want[k])
    return missing, unexpected, mismatched


def detect_architecture(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Names the codec family a state dict belongs to (registry name), or None."""
    keys = set(state_dict)
    if "latent_codec.y.channel_context.y1.0.weight" in keys:
        return "elic"
    if "beta_mlp.0.weight" in keys and "lrp_transforms.0.0.weight" in keys:
        return "mric"
    if "Gain" in keys:
        if any(".score_predictor.0.0." in k for k in keys if k.startswith("g_s")):
            return "mpa"
        if any(".score_predictor." in k for k in keys if k.startswith("g_a")):
            return "mpa-enc"
        return None
    if "g_a1.residual_group.blocks.0.attn.rpb" in keys:
        return "tinylic"
    if "g_a.0.weight" in keys or "g_a.0.conv1.weight" in keys:
        if any(".conv_a." in k for k in keys):
            return "cheng2020-attn"
        if "g_a.0.conv1.weight" in keys:
            return "cheng2020-anchor"
        if "context_prediction.weight" in keys:
            return "mbt2018"
        if "h_a.0.weight" not in keys:
            return "bmshj2018-factorized"
        h_s_out, m = state_dict.get("h_s.4.weight"), state_dict.get("g_a.6.weight")
        if h_s_out is not None and m is not None and h_s_out.shape[0] == 2 * m.shape[0]:
            return "mbt2018-mean"
        return "bmshj2018-hyperprior"
    return None


def load_checkpoint(model: nn.Module, path: str | Path, architecture: str, missing_hint: str = "") -> str | None:
    """Reads ``path`` and loads it into ``model`` with :func:`load_state_dict_checked`."""
    return load_state_dict_checked(model, read_state_dict(path, missing_hint), path, architecture)


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | Path,
                            architecture: str) -> str | None:
    """Loads a state dict into ``model`` strictly (derived CDF buffers excepted), after :func:`normalize_keys`.

    Args:
        model: the freshly constructed model.
        state_dict: as read from the file.
        source: the file it came from (used in messages).
        architecture: the registry name the model stands for (used in messages).

    Returns:
        The detected architecture of the state dict (equal to ``architecture`` on success, or None).

    Raises:
        CheckpointMismatch: keys or shapes that differ, with the lists, and the architecture the file looks like
            when it is a different one.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state_dict = normalize_keys(state_dict, set(expected))
    detected = detect_architecture(state_dict)
    missing, unexpected, mismatched = compare(state_dict, expected)
    if missing or unexpected or mismatched:
        raise CheckpointMismatch(
            _mismatch_message(source, architecture, missing, unexpected, mismatched, detected),
            missing, unexpected, mismatched, detected,
        )
    loadable = {k: v for k, v in state_dict.items() if not is_derived(k)}
    # nn.Module's loader, not a subclass override: CompressAI's requires the derived CDF buffers to be present.
    result = nn.Module.load_state_dict(model, loadable, strict=False)
    leftover = [k for k in result.missing_keys if not is_derived(k)] + list(result.unexpected_keys)
    if leftover:  # cannot happen after compare(); kept as a guard against silent partial loads
        raise CheckpointError(f"checkpoint {source} did not load completely: {', '.join(leftover[:5])}")
    return detected


def strip_module_prefix(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def _mismatch_message(path, architecture, missing, unexpected, mismatched, detected) -> str:
    label = ARCHITECTURE_LABELS.get(architecture, architecture)
    parts = [f"checkpoint {path} does not match {label} model"]
    if detected and detected != architecture:
        parts.append(
            f"this looks like {ARCHITECTURE_LABELS.get(detected, detected)} checkpoint: "
            f"use it with --checkpoint {detected}=PATH"
        )
    if any(k.endswith(".attn.rpb") for k in missing):
        parts.append(
            "attn.rpb keys are missing: checkpoints trained without relative position bias "
            "(before NJUVISION/MPA 9dea541) are not supported"
        )
    parts.append(f"{len(missing)} missing key(s){_sample(missing)}")
    parts.append(f"{len(unexpected)} unexpected key(s){_sample(unexpected)}")
    shapes = [f"{k} {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched]
    parts.append(f"{len(mismatched)} shape mismatch(es){_sample(shapes)}")
    return "; ".join(parts)


def _sample(items: list[str], limit: int = 3) -> str:
    if not items:
        return ""
    more = f", +{len(items) - limit} more" if len(items) > limit else ""
    return " (" + ", ".join(items[:limit]) + more + ")"

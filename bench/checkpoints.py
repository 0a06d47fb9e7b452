"""Safe checkpoint loading for learned codecs and task networks: unwrap, normalise key names, strict check, readable errors.

Official files load unchanged: ``{'state_dict': ...}`` (training scripts) or a bare state dict, ``module.``
prefixes (DataParallel), ``.downsample.`` (old CompressAI residual blocks) and the three spellings of the
EntropyBottleneck parameters (``_matrices.0`` of CompressAI < 1.1, ``_matrix0`` of the MPA/TinyLIC fork,
``matrices.0`` of CompressAI 1.2.8), renamed to whatever the target model uses. Files are read with
``torch.load(weights_only=True)``. The entropy coder's CDF buffers are derived data (recomputed by
``update(force=True)`` after loading), so they are neither required nor compared.

This module knows no codec: which codec a foreign file belongs to is answered by the ``identify`` callable the
caller passes (learned codecs pass :func:`bench.codecs.learned.identify_checkpoint`, which asks every registered
codec class), so a mismatch message can say "this looks like a TinyLIC checkpoint: use --checkpoint tinylic=PATH".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn as nn

from bench.errors import CheckpointError

# Buffers recomputed by update(force=True): never required in, nor compared against, a checkpoint.
DERIVED_SUFFIXES = ("._quantized_cdf", "._offset", "._cdf_length", "gaussian_conditional.scale_table")

# Terminal colour and cursor codes some libraries put in exception messages: never in our one-line errors.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

# identify(state_dict) -> (registry name, label such as "a TinyLIC") of the codec a checkpoint belongs to, or None.
Identify = Callable[[Mapping[str, torch.Tensor]], "tuple[str, str] | None"]
# explain(missing keys, state dict) -> an extra sentence for a mismatch message, or None.
Explain = Callable[[list[str], Mapping[str, torch.Tensor]], "str | None"]

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
        detected: registry name of the codec the checkpoint looks like, if recognised.
    """

    def __init__(self, message: str, missing: list[str], unexpected: list[str],
                 mismatched: list[tuple[str, tuple, tuple]], detected: str | None):
        super().__init__(message)
        self.missing, self.unexpected, self.mismatched, self.detected = missing, unexpected, mismatched, detected


def check_checkpoint_file(path: str | Path, missing_hint: str = "") -> Path:
    """Returns ``path`` if it is a readable regular file, else raises one clear error for what it is instead.

    Raises:
        CheckpointError: not found (with ``missing_hint``), a directory, a symbolic-link loop, or not a file.
    """
    path = Path(path)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        broken = " (a symbolic link to nothing)" if path.is_symlink() else ""
        raise CheckpointError(f"checkpoint {path} not found{broken}{'; ' + missing_hint if missing_hint else ''}")
    except (RuntimeError, OSError) as error:  # Python < 3.13 raises RuntimeError for a loop, later ones OSError
        raise CheckpointError(f"checkpoint {path} is a symbolic link loop ({clean_message(error)}); "
                              f"pass the checkpoint file itself") from error
    if resolved.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory; pass a checkpoint file (.pth, .pth.tar, .pt)")
    if not resolved.is_file():
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    return path


def clean_message(error: BaseException) -> str:
    """The first line of an exception's message without terminal escape codes (or the exception's type)."""
    text = _ANSI_ESCAPE.sub("", str(error)).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def read_state_dict(path: str | Path, missing_hint: str = "") -> dict[str, torch.Tensor]:
    """Reads a checkpoint file safely and returns its state dict (unwrapped from ``{'state_dict': ...}``).

    Raises:
        CheckpointError: missing file, directory, link loop, unreadable file, non-tensor pickles, or no state dict.
    """
    path = check_checkpoint_file(path, missing_hint)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and weights_only errors all mean: cannot be read safely
        raise CheckpointError(
            f"checkpoint {path} cannot be read with torch.load(weights_only=True) ({clean_message(error)}); "
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


def load_checkpoint(model: nn.Module, path: str | Path, architecture: str, missing_hint: str = "", *,
                    identify: Identify | None = None, explain: Explain | None = None) -> None:
    """Reads ``path`` and loads it into ``model`` with :func:`load_state_dict_checked`."""
    load_state_dict_checked(model, read_state_dict(path, missing_hint), path, architecture,
                                   identify=identify, explain=explain)


def check_state_dict(state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, tuple], source: str | Path,
                     architecture: str, *, identify: Identify | None = None,
                     explain: Explain | None = None) -> dict[str, torch.Tensor]:
    """Normalises a state dict's keys to ``expected`` (key -> shape) and checks every key and shape strictly.

    Args:
        state_dict: as read from the file.
        expected: the model's keys and shapes (derived CDF buffers are ignored).
        source: the file it came from (used in messages).
        architecture: what the model is, as a phrase ("a TinyLIC", "convnext_tiny.fb_in1k").
        identify: names the codec a state dict belongs to, for "this looks like ..." in the message.
        explain: adds a sentence about the missing keys (e.g. a known older format).

    Returns:
        The normalised state dict.

    Raises:
        CheckpointMismatch: keys or shapes that differ, with the lists, and the codec the file looks like when it
            is another one.
    """
    state_dict = normalize_keys(state_dict, set(expected))
    missing, unexpected, mismatched = compare(state_dict, expected)
    if missing or unexpected or mismatched:
        detected = identify(state_dict) if identify is not None else None
        hint = explain(missing, state_dict) if explain is not None else None
        raise CheckpointMismatch(
            _mismatch_message(source, architecture, missing, unexpected, mismatched, detected, hint),
            missing, unexpected, mismatched, detected[0] if detected else None,
        )
    return state_dict


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | Path,
                            architecture: str, *, identify: Identify | None = None,
                            explain: Explain | None = None) -> None:
    """Loads a state dict into ``model`` strictly (derived CDF buffers excepted), after :func:`check_state_dict`.

    Raises:
        CheckpointMismatch: see :func:`check_state_dict`.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state_dict = check_state_dict(state_dict, expected, source, architecture, identify=identify, explain=explain)
    loadable = {k: v for k, v in state_dict.items() if not is_derived(k)}
    # nn.Module's loader, not a subclass override: CompressAI's requires the derived CDF buffers to be present.
    result = nn.Module.load_state_dict(model, loadable, strict=False)
    leftover = [k for k in result.missing_keys if not is_derived(k)] + list(result.unexpected_keys)
    if leftover:  # cannot happen after compare(); kept as a guard against silent partial loads
        raise CheckpointError(f"checkpoint {source} did not load completely: {', '.join(leftover[:5])}")


def strip_module_prefix(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def _mismatch_message(path, architecture, missing, unexpected, mismatched, detected, hint) -> str:
    parts = [f"checkpoint {path} does not match {architecture} model"]
    if detected and detected[1] != architecture:
        parts.append(f"this looks like {detected[1]} checkpoint: use it with --checkpoint {detected[0]}=PATH")
    if hint:
        parts.append(hint)
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

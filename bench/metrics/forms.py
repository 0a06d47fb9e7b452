"""Definitions of a curve's numbers: what its rate counts and which reconstruction its quality metrics score.

Published curves and the suite's own runs do not measure alike. CompressAI's classical-codec curves (VTM, BPG,
JPEG, ...) count the whole file and score the 8-bit decoded image; the learned-codec curves of CompressAI, TinyLIC
and the official MPA evaluation count the entropy-coded payload only and score the float reconstruction. Two curves
are compared (figures, BD-rates, ``bench check``) only in one **form**:

- rate: ``file`` (every byte of the file; column ``bpp``) or ``payload`` (entropy-coded strings only;
  ``payload-bpp``);
- reconstruction: ``8-bit`` (rounded as a decoder writes it; ``psnr-rgb``, ``ms-ssim-rgb``, ``lpips-alex``, ...) or
  ``float`` (the clamped float output of a learned decoder; the ``-float`` twin of each key).

A run stores both forms (:func:`stored_metric_keys`), so a run curve can be shown in the form of whichever published
curve it is compared with. Columns always hold one form each: a curve of the other form lacks the column, never
holds a mislabelled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bench.schema import KEY_BPP, KEY_MS_SSIM, KEY_MS_SSIM_DB, KEY_PAYLOAD_BPP, KEY_PSNR

RATE_FILE, RATE_PAYLOAD = "file", "payload"
EIGHT_BIT, FLOAT = "8-bit", "float"
RATE_FORMS = (RATE_FILE, RATE_PAYLOAD)
RECONSTRUCTION_FORMS = (EIGHT_BIT, FLOAT)
RATE_KEYS = {RATE_FILE: KEY_BPP, RATE_PAYLOAD: KEY_PAYLOAD_BPP}

KEY_PSNR_FLOAT = "psnr-float"
KEY_MS_SSIM_FLOAT = "ms-ssim-float"
KEY_MS_SSIM_DB_FLOAT = "ms-ssim-db-float"

# Which field of :class:`Definitions` says the reconstruction form of each 8-bit metric key.
_ASPECT = {KEY_PSNR: "psnr", KEY_MS_SSIM: "ms_ssim", KEY_MS_SSIM_DB: "ms_ssim",
           "lpips-alex": "perceptual", "lpips-vgg": "perceptual", "dists": "perceptual"}
# The float twin of each 8-bit metric key (the same metric on the float reconstruction).
FLOAT_TWINS = {KEY_PSNR: KEY_PSNR_FLOAT, KEY_MS_SSIM: KEY_MS_SSIM_FLOAT, KEY_MS_SSIM_DB: KEY_MS_SSIM_DB_FLOAT,
               "lpips-alex": "lpips-alex-float", "lpips-vgg": "lpips-vgg-float", "dists": "dists-float"}
_EIGHT_BIT_OF = {twin: key for key, twin in FLOAT_TWINS.items()}
_WORDS = {KEY_PSNR: "PSNR", KEY_MS_SSIM: "MS-SSIM", KEY_MS_SSIM_DB: "MS-SSIM", "lpips-alex": "LPIPS",
          "lpips-vgg": "LPIPS", "dists": "DISTS"}


def quantity(key: str) -> str:
    """The 8-bit key of a metric in either form (``psnr-float`` -> ``psnr-rgb``); other keys unchanged."""
    return _EIGHT_BIT_OF.get(key, key)


def reconstruction_form(key: str) -> str | None:
    """``8-bit`` or ``float`` for keys that have two forms, None for the others (task metrics, FID, rate)."""
    if key in _EIGHT_BIT_OF:
        return FLOAT
    return EIGHT_BIT if key in _ASPECT else None


def form_key(key: str, reconstruction: str) -> str:
    """The column that holds ``key``'s quantity in the given reconstruction form (unchanged for one-form keys)."""
    base = quantity(key)
    if base not in _ASPECT:
        return base
    return FLOAT_TWINS[base] if reconstruction == FLOAT else base


def stored_metric_keys(requested: Sequence[str]) -> list[str]:
    """Every metric key a run stores when ``requested`` are asked for: each key and its other form.

    ``["psnr-rgb", "lpips-alex"]`` -> ``["psnr-rgb", "psnr-float", "lpips-alex", "lpips-alex-float"]``. Derived
    keys (MS-SSIM in dB) are not stored; metrics without two forms are kept as they are.
    """
    stored: list[str] = []
    for key in requested:
        base = quantity(key)
        forms = [base, FLOAT_TWINS[base]] if base in FLOAT_TWINS and base != KEY_MS_SSIM_DB else [key]
        stored += [form for form in forms if form not in stored]
    return stored


@dataclass(frozen=True)
class Form:
    """One way of reading a curve: which rate and which reconstruction."""

    rate: str = RATE_FILE
    reconstruction: str = EIGHT_BIT

    def __post_init__(self) -> None:
        if self.rate not in RATE_FORMS or self.reconstruction not in RECONSTRUCTION_FORMS:
            raise ValueError(f"form needs rate in {RATE_FORMS} and reconstruction in {RECONSTRUCTION_FORMS}, "
                             f"got {self.rate!r}, {self.reconstruction!r}")

    @property
    def rate_key(self) -> str:
        return RATE_KEYS[self.rate]

    def key(self, metric: str) -> str:
        return form_key(metric, self.reconstruction)

    def text(self, *metrics: str) -> str:
        """``payload bpp, float PSNR`` (``float PSNR and MS-SSIM`` for two metrics); only the rate for metrics
        without forms."""
        rate = f"{self.rate} bpp"
        words = list(dict.fromkeys(_WORDS[quantity(m)] for m in metrics if reconstruction_form(m) is not None))
        if not words:
            return rate
        return f"{rate}, {self.reconstruction} {' and '.join(words)}"


OWN_FORM = Form(RATE_FILE, EIGHT_BIT)  # what the suite reports by default: file size, 8-bit reconstruction


@dataclass(frozen=True)
class ImageSet:
    """The images a curve averages over.

    Attributes:
        name: dataset name (``kodak``, ``clic2020-professional``).
        count: number of images (None: not stated by the source).
        preprocessing: what was done to the images before coding (``none``, ``center crop 256``).
        limit: the run's ``--limit`` (the first N images), when one was given.
    """

    name: str
    count: int | None = None
    preprocessing: str = "none"
    limit: int | None = None

    def text(self) -> str:
        """``kodak, 4 images (--limit 4)``; ``clic, ? images`` where the count is not known."""
        count = "? images" if self.count is None else f"{self.count} image{'s' if self.count != 1 else ''}"
        limit = f" (--limit {self.limit})" if self.limit else ""
        preprocessing = "" if self.preprocessing in ("", "none") else f", {self.preprocessing}"
        return f"{self.name}, {count}{limit}{preprocessing}"


@dataclass(frozen=True)
class Definitions:
    """What a published curve's numbers mean (a run curve has both forms of each; see the module docstring).

    Attributes:
        rate: ``file`` or ``payload``.
        psnr, ms_ssim, perceptual: ``8-bit`` or ``float``: the reconstruction PSNR, MS-SSIM and LPIPS/DISTS scored.
        images: the image set.
        source: where the numbers come from (repository, file, commit).
        basis: how the definitions are known (the code that produced them, or an assumption, said so).
        optimised_for: the training loss of a learned codec (``mse``, ``ms-ssim``), None for classical codecs.
    """

    rate: str
    psnr: str
    ms_ssim: str
    perceptual: str
    images: ImageSet
    source: str = ""
    basis: str = ""
    optimised_for: str | None = None

    def __post_init__(self) -> None:
        for aspect in ("psnr", "ms_ssim", "perceptual"):
            if getattr(self, aspect) not in RECONSTRUCTION_FORMS:
                raise ValueError(f"{aspect} must be one of {RECONSTRUCTION_FORMS}, got {getattr(self, aspect)!r}")
        if self.rate not in RATE_FORMS:
            raise ValueError(f"rate must be one of {RATE_FORMS}, got {self.rate!r}")

    def form(self, metric: str) -> Form:
        """The form in which this curve holds ``metric`` (its rate form, and its reconstruction for that metric)."""
        aspect = _ASPECT.get(quantity(metric))
        return Form(self.rate, getattr(self, aspect) if aspect else EIGHT_BIT)

    def renames(self) -> dict[str, str]:
        """{key as a file names it: column of the matching form}, e.g. ``bpp`` -> ``payload-bpp`` for payload rate."""
        renames = {KEY_BPP: RATE_KEYS[self.rate]}
        for key, aspect in _ASPECT.items():
            renames[key] = FLOAT_TWINS[key] if getattr(self, aspect) == FLOAT else key
        return {key: column for key, column in renames.items() if key != column}

    def as_dict(self) -> dict:
        return {"rate": self.rate, "psnr": self.psnr, "ms_ssim": self.ms_ssim, "perceptual": self.perceptual,
                "images": {"name": self.images.name, "count": self.images.count,
                           "preprocessing": self.images.preprocessing},
                "source": self.source, "basis": self.basis, "optimised_for": self.optimised_for}

    @classmethod
    def from_dict(cls, data: dict, dataset: str = "") -> "Definitions":
        """Reads :meth:`as_dict`'s layout (``images`` may be missing: the dataset name, count unknown)."""
        images = data.get("images") or {}
        return cls(str(data["rate"]), str(data["psnr"]), str(data.get("ms_ssim", data["psnr"])),
                   str(data.get("perceptual", data["psnr"])),
                   ImageSet(str(images.get("name") or dataset), images.get("count"),
                            str(images.get("preprocessing", "none"))),
                   str(data.get("source", "")), str(data.get("basis", "")), data.get("optimised_for"))


def run_definitions(images: ImageSet, source: str) -> Definitions:
    """The definitions of a run's CompressAI-style export: ``bpp`` and the CompressAI metric keys are the suite's own
    form (file bytes, 8-bit reconstruction); the ``payload-bpp`` and ``*-float`` columns name the other form."""
    return Definitions(RATE_FILE, EIGHT_BIT, EIGHT_BIT, EIGHT_BIT, images, source,
                       "mpa-bench: bytes of the whole file; metrics of the reconstruction rounded to 8 bits; "
                       "payload-bpp and the -float keys hold the payload rate and the float-reconstruction metrics")

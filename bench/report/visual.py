"""run store -> visual comparison strip: the original image, each codec at a similar rate, and every steerable codec
(MPA's alpha, the MRIC-style model's beta) at each knob value.

Reconstructions are decoded again from the bitstreams stored in the run store, by codecs rebuilt from the run's
resolved suite (``suite.toml``), and scored with the run's 8-bit PSNR; the strip is a centre crop of one image at
native resolution. Every codec shows its rate point closest (in log-bpp) to one target rate, which the strip's title
states: ``--visual-bpp``, or by default the rate in the lower half of the codecs' rates on the image at which the
codecs' closest points lie closest together (:func:`best_target`). Steerable codecs (:mod:`bench.report.knob`) show
each knob value at their point (MPA: its mse path), after the other codecs; ``panels`` orders the strip explicitly
(``mric:beta=2.56``, ``mpa``, ``mric:beta=0.0`` gives the poster's comparison: original | MRIC beta = 2.56 |
MPA alpha = 0 ... 1 | MRIC beta = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.codecs import codecs
from bench.data import datasets
from bench.engine.export import curve_name
from bench.engine.plan import build_with_device, codec_config_hash
from bench.engine.store import RunStore
from bench.errors import BenchError
from bench.metrics.fidelity import psnr
from bench.report.knob import parse_knob
from bench.rundata import RunData
from bench.schema import KEY_PSNR, Bitstream
from bench.tensors import image_to_tensor, quantize_8bit, tensor_to_uint8

DEFAULT_CROP = 256
REFERENCE_TASK = "mse"


class StripUnavailable(BenchError):
    """The run cannot give a visual strip here (no suite file, original images or decodable codec)."""


@dataclass(frozen=True)
class Panel:
    """One image of the strip with what its caption says."""

    title: str
    caption: str
    image: np.ndarray  # (h, w, 3) uint8 crop
    codec: str = ""
    variant: str = ""
    point: float | None = None
    bpp: float | None = None
    psnr: float | None = None


@dataclass
class VisualStrip:
    dataset: str
    image_id: str
    panels: list[Panel]
    notes: list[str] = field(default_factory=list)
    target_bpp: float = math.nan

    @property
    def title(self) -> str:
        return (f"{self.dataset}/{self.image_id}: each codec at its rate point closest to {self.target_bpp:.3f} bpp")


def _title(label: str, variant: str) -> str:
    knob = parse_knob(variant)
    return curve_name(label, variant) if knob is None else f"{label} ({knob.label(REFERENCE_TASK)})"


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top : top + size, left : left + size]


def _closest_points(rows: pd.DataFrame, labels: list[str], target: float) -> dict[str, float]:
    """{label: its rate point whose bpp on this image is closest to ``target`` in log-bpp}."""
    chosen = {}
    for label in labels:
        by_point = rows[rows["codec"] == label].groupby("point")["bpp"].first()
        chosen[label] = float((np.log(by_point) - math.log(target)).abs().idxmin())
    return chosen


def best_target(rows: pd.DataFrame, labels: list[str]) -> float:
    """The rate, among the lower half of every codec's rates on the image (where artefacts show), at which the
    codecs' closest points spread least (the largest |log(bpp / target)| over the codecs is smallest; ties go to the
    lowest rate)."""
    rates = sorted(set(rows[rows["codec"].isin(labels)]["bpp"].astype(float)))
    candidates = rates[: (len(rates) + 1) // 2]
    bpp = rows.groupby(["codec", "point"])["bpp"].first()

    def spread(target: float) -> float:
        points = _closest_points(rows, labels, target)
        return round(max(abs(math.log(float(bpp[(label, point)]) / target)) for label, point in points.items()), 9)

    return min(candidates, key=spread)  # ties: the lowest rate


def _knob_variants(variants: list[str]) -> list[str]:
    """A steerable codec's variants shown in the strip: its reference group's (MPA: the mse path), by knob value."""
    knobs = {variant: parse_knob(variant) for variant in variants}
    chosen = [v for v in variants if knobs[v].group in ("", REFERENCE_TASK)] or variants
    return sorted(chosen, key=lambda v: knobs[v].value)


def _choose_panels(rows: pd.DataFrame, order: list[str], target_bpp: float | None = None,
                   panels: list[str] | None = None) -> tuple[float, list[tuple[str, float, list[str]]]]:
    """(target bpp, [(label, point, variants)]) for one image's rows.

    Args:
        panels: explicit order, each ``LABEL`` (every shown variant of it) or ``LABEL:VARIANT``; default: the suite's
            codecs, steerable ones last, as the paper shows them.
    """
    present = set(rows["codec"])
    wanted = [entry.partition(":") for entry in panels] if panels else [(label, "", "") for label in order]
    unknown = sorted({label for label, _, _ in wanted if label not in present})
    if panels and unknown:
        raise BenchError(f"--visual-panel: no results of {', '.join(unknown)} on this image; the run's codecs: "
                         f"{', '.join(label for label in order if label in present)}")
    labels = list(dict.fromkeys(label for label, _, _ in wanted if label in present))
    if not labels:
        raise StripUnavailable("no codec of the run's suite.toml has results on this image")
    steerable = {label for label in labels if rows[rows["codec"] == label]["variant"].map(parse_knob).notna().all()}
    target = float(target_bpp) if target_bpp is not None else best_target(rows, labels)
    points = _closest_points(rows, labels, target)
    plan = []
    for label, _, variant in wanted:
        if label not in present:
            continue
        variants = list(dict.fromkeys(rows[rows["codec"] == label]["variant"]))
        if variant:
            if variant not in variants:
                raise BenchError(f"--visual-panel: {label} has no variant {variant!r}; it has {', '.join(variants)}")
            variants = [variant]
        else:
            variants = _knob_variants(variants) if label in steerable else variants[:1]
        plan.append((label, points[label], variants))
    if not panels:
        plan.sort(key=lambda item: item[0] in steerable)  # other codecs first, steerable ones at each knob value
    return target, plan


def _load_original(run: RunData, dataset: str, image_id: str) -> np.ndarray:
    spec = next((d for d in run.suite.datasets if d.name == dataset), None)
    if spec is None:
        raise BenchError(f"dataset {dataset} is not in {run.run_dir / 'suite.toml'}")
    samples = datasets.get(spec.name)(root=spec.root, limit=spec.limit).samples()
    sample = next((s for s in samples if s.image_id == image_id), None)
    if sample is None:
        raise BenchError(f"image {image_id} is no longer in dataset {dataset}")
    return sample.load()


def visual_strip(run: RunData, dataset: str | None = None, image_id: str | None = None, crop: int = DEFAULT_CROP,
                 device: str = "cpu", target_bpp: float | None = None, panels: list[str] | None = None
                 ) -> VisualStrip:
    """Builds the strip of one image.

    Args:
        dataset, image_id: which image (default: the first dataset, and its image with the most codecs).
        crop: side of the centre crop in pixels.
        device: where learned codecs decode.
        target_bpp: the rate to match (default: :func:`best_target`).
        panels: the strip's order, ``LABEL`` or ``LABEL:VARIANT`` each (default: see the module docstring).

    Raises:
        StripUnavailable: what is missing here (suite file, original image, every codec).
        BenchError: a dataset or image that the run does not have.
    """
    if run.suite is None:
        raise StripUnavailable(f"{run.run_dir} has no readable suite.toml to rebuild the codecs from")
    ok = run.rows[run.rows["status"] == "ok"]
    dataset = dataset or str(ok["dataset"].iloc[0])
    ok = ok[ok["dataset"] == dataset]
    if ok.empty:
        raise BenchError(f"no results for dataset {dataset!r} in {run.run_dir}")
    if image_id is None:
        image_id = str(ok.groupby("image_id")["codec"].nunique().sort_index().idxmax())
    rows = ok[ok["image_id"] == image_id]
    if rows.empty:
        raise BenchError(f"no results for image {image_id!r} of {dataset} in {run.run_dir}")
    try:
        original = _load_original(run, dataset, image_id)
    except BenchError as error:
        raise StripUnavailable(f"cannot load the original image ({error})") from error
    order = [spec.label for spec in run.suite.codecs]
    target, plan = _choose_panels(rows, order, target_bpp, panels)
    x = image_to_tensor(original)
    strip = VisualStrip(dataset, image_id, [Panel("Original", f"{dataset}/{image_id}\n(8-bit source)",
                                                  centre_crop(tensor_to_uint8(x), crop))], target_bpp=target)
    hashes = dict(zip(run.codecs["label"], run.codecs["config_hash"]))
    specs = {spec.label: spec for spec in run.suite.codecs}
    with run.open_store() as store:
        for label, point, variants in plan:
            try:
                strip.panels += _decode_panels(store, run, specs[label], hashes[label], rows, dataset, image_id,
                                               point, variants, x, crop, device, strip.notes)
            except (BenchError, KeyError, TypeError, ValueError, RuntimeError) as error:
                strip.notes.append(f"{label}: not shown ({type(error).__name__}: {error})")
    if len(strip.panels) == 1:
        raise StripUnavailable("no codec could decode its stored bitstreams: " + "; ".join(strip.notes))
    strip.notes.insert(0, f"{dataset}/{image_id}, centre crop of {min(crop, original.shape[0])}x"
                          f"{min(crop, original.shape[1])} px at native resolution; each codec at its rate point "
                          f"closest to {target:.4f} bpp" + (" (--visual-bpp)." if target_bpp is not None else
                                                            " (the rate at which the codecs' points lie closest)."))
    return strip


def _decode_panels(store: RunStore, run: RunData, spec, stored_hash: str, rows: pd.DataFrame, dataset: str,
                   image_id: str, point: float, variants: list[str], x, crop: int, device: str,
                   notes: list[str]) -> list[Panel]:
    codec = build_with_device(codecs.get(spec.codec), spec.options, device)
    if codec_config_hash(spec, codec) != stored_hash:
        notes.append(f"{spec.label}: the codec's configuration or library versions changed since the run; "
                     f"its bitstream was decoded by the current one")
    data = store.bitstream(run.run_id, spec.label, stored_hash, dataset, image_id, point)
    first = rows[(rows["codec"] == spec.label) & (rows["point"] == point)].iloc[0]
    bitstream = Bitstream(data, int(first["height"]), int(first["width"]), int(first["payload_bytes"]))
    panels = []
    for decoded in codec.decode_variants(bitstream, variants):
        x_hat = quantize_8bit(decoded.x_hat)
        value = psnr(x, x_hat)
        row = rows[(rows["codec"] == spec.label) & (rows["point"] == point) & (rows["variant"] == decoded.variant)]
        stored = float(row[KEY_PSNR].iloc[0]) if KEY_PSNR in row and len(row) else math.nan
        if math.isfinite(stored) and abs(stored - value) > 1e-6:
            notes.append(f"{spec.label} {decoded.variant} at {point:g}: PSNR of the new decode {value:.4f} dB differs "
                         f"from the stored {stored:.4f} dB")
        bpp = 8.0 * len(data) / (bitstream.height * bitstream.width)
        panels.append(Panel(_title(spec.label, decoded.variant), f"{bpp:.3f} bpp\n{value:.2f} dB",
                            centre_crop(tensor_to_uint8(x_hat), crop), spec.label, decoded.variant, point, bpp, value))
    return panels

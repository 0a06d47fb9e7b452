"""Bjontegaard deltas: BD-rate and BD-metric between two rate-quality curves, for any quality metric.

Conventions (VCEG-M33, JCTVC-L1100; see anchors.md section 6):

- Points are sorted by rate; rates are taken as log10.
- BD-rate: log-rate is interpolated as a function of quality for both curves and the mean difference over the
  *overlap* of their quality ranges gives ``(10**mean - 1) * 100`` percent. Negative = the test codec needs fewer
  bits for the same quality. Nothing is extrapolated; the overlap is reported as a percentage of the union.
- BD-metric (BD-PSNR for PSNR): quality is interpolated as a function of log-rate; the value is the mean of
  ``test - anchor`` over the overlap of the log-rate ranges, in the metric's own units. Positive is better for a
  higher-is-better metric (PSNR, top-1), negative is better for a lower-is-better one (LPIPS, DISTS, FID).
- Interpolation: ``pchip`` (piecewise cubic Hermite, as the JCT-VC/JVET spreadsheet; default), ``akima``, or
  ``cubic`` (one cubic polynomial fitted by least squares, VCEG-M33; exact through 4 points, a regression
  beyond). Piecewise curves are integrated exactly.
- Lower-is-better metrics are negated internally, so a better test codec gets a negative BD-rate whatever the
  metric's direction.
- Quality must strictly improve with rate. A curve that does not is rejected with an error naming the curve and
  the point, unless ``hull=True`` keeps only the upper convex hull of (log-rate, quality) up to its best point,
  which is what task curves (top-1, mIoU against bpp) usually need.
- Fewer than 4 points warn (:class:`BDWarning`); fewer than 2 are an error.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

from bench.errors import BenchError

METHODS = ("pchip", "akima", "cubic")
RECOMMENDED_POINTS = 4


class BDError(BenchError):
    """A Bjontegaard delta that cannot be computed from the given curves."""


class NonMonotonicCurve(BDError):
    """A curve whose quality does not strictly improve with rate."""


class NoOverlap(BDError):
    """Two curves whose ranges do not overlap, so there is nothing to integrate."""


class BDWarning(UserWarning):
    """A Bjontegaard delta computed from too few points to be reliable."""


@dataclass(frozen=True)
class BDResult:
    """A Bjontegaard delta with the settings and the data that produced it.

    Attributes:
        value: percent for BD-rate; metric units (test - anchor) for BD-metric.
        unit: ``%`` for BD-rate, the metric's unit for BD-metric.
        kind: ``rate`` or ``metric``.
        method: interpolation method.
        overlap_percent: length of the integration interval as a percentage of the union of both ranges (quality
            range for BD-rate, log-rate range for BD-metric).
        interval: the integration interval, in metric units for BD-rate and in rate units for BD-metric.
        n_anchor, n_test: number of points used from each curve.
        anchor_dropped, test_dropped: (rate, metric) points left out by the convex-hull filter.
    """

    value: float
    unit: str
    kind: str
    method: str
    overlap_percent: float
    interval: tuple[float, float]
    n_anchor: int
    n_test: int
    anchor_dropped: tuple[tuple[float, float], ...] = ()
    test_dropped: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class _Curve:
    log_rate: np.ndarray  # sorted increasing
    quality: np.ndarray  # oriented so that higher is better, strictly increasing
    dropped: tuple[tuple[float, float], ...]


def upper_convex_hull(log_rate: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the points on the upper convex hull of (log-rate, quality), up to the best quality.

    ``log_rate`` must be sorted increasing. The kept points have strictly increasing quality and a concave
    (diminishing-returns) shape; points under the hull or past the best quality are left out.
    """
    hull: list[int] = []
    for index in range(len(log_rate)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (log_rate[b] - log_rate[a]) * (quality[index] - quality[a]) - (quality[b] - quality[a]) * (
                log_rate[index] - log_rate[a]
            )
            if cross >= 0:  # b lies on or below the chord a -> index
                hull.pop()
            else:
                break
        hull.append(index)
    best = int(np.argmax(quality[hull]))
    return np.asarray(hull[: best + 1], dtype=int)


def _prepare(
    rate: Sequence[float], metric: Sequence[float], label: str, higher_is_better: bool, hull: bool
) -> _Curve:
    rate = np.asarray(rate, dtype=np.float64)
    metric = np.asarray(metric, dtype=np.float64)
    if rate.ndim != 1 or rate.shape != metric.shape:
        raise BDError(
            f"{label} curve: rate and metric must be 1-D of equal length, got {rate.shape} and {metric.shape}"
        )
    for index, (r, m) in enumerate(zip(rate, metric)):
        if not (math.isfinite(r) and math.isfinite(m)):
            raise BDError(f"{label} curve: point {index} (rate={r}, metric={m}) is not finite")
        if r <= 0:
            raise BDError(f"{label} curve: point {index} has rate {r}; rates must be positive (they are log-scaled)")
    order = np.argsort(rate, kind="stable")
    rate, metric = rate[order], metric[order]
    quality = metric if higher_is_better else -metric
    log_rate = np.log10(rate)
    dropped: tuple[tuple[float, float], ...] = ()
    if hull and len(rate) > 0:
        keep = upper_convex_hull(log_rate, quality)
        removed = np.setdiff1d(np.arange(len(rate)), keep)
        dropped = tuple((float(rate[i]), float(metric[i])) for i in removed)
        rate, metric, quality, log_rate, order = rate[keep], metric[keep], quality[keep], log_rate[keep], order[keep]
    direction = "increase" if higher_is_better else "decrease"
    for i in range(1, len(rate)):
        if rate[i] == rate[i - 1]:
            raise NonMonotonicCurve(
                f"{label} curve: points {order[i - 1]} and {order[i]} have the same rate {rate[i]}"
            )
        if quality[i] <= quality[i - 1]:
            raise NonMonotonicCurve(
                f"{label} curve is not monotonic: point {order[i]} (rate={rate[i]:.10g}, metric={metric[i]:.10g}) "
                f"does not {direction} the metric over the next lower-rate point {order[i - 1]} "
                f"(rate={rate[i - 1]:.10g}, metric={metric[i - 1]:.10g}); the metric must strictly {direction} with "
                f"rate (hull=True keeps the upper convex hull instead, e.g. for task curves)"
            )
    if len(rate) < 2:
        raise BDError(f"{label} curve has {len(rate)} usable point(s); a Bjontegaard delta needs at least 2")
    if len(rate) < RECOMMENDED_POINTS:
        warnings.warn(
            f"{label} curve has only {len(rate)} points; Bjontegaard deltas assume at least {RECOMMENDED_POINTS}",
            BDWarning,
            stacklevel=3,
        )
    return _Curve(log_rate, quality, dropped)


def _integrator(x: np.ndarray, y: np.ndarray, method: str) -> Callable[[float, float], float]:
    """Returns integral(lo, hi) of the curve through (x, y) interpolated by ``method``; x strictly increasing."""
    if method == "pchip":
        spline = PchipInterpolator(x, y)
        return lambda lo, hi: float(spline.integrate(lo, hi))
    if method == "akima":
        if len(x) == 2:  # Akima needs 3 points; 2 points define a line
            return _polynomial_integrator(x, y, degree=1)
        spline = Akima1DInterpolator(x, y)
        return lambda lo, hi: float(spline.integrate(lo, hi))
    if method == "cubic":
        return _polynomial_integrator(x, y, degree=min(3, len(x) - 1))
    raise BDError(f"unknown BD interpolation method {method!r}; choose one of {', '.join(METHODS)}")


def _polynomial_integrator(x: np.ndarray, y: np.ndarray, degree: int) -> Callable[[float, float], float]:
    antiderivative = np.polyint(np.polyfit(x, y, degree))
    return lambda lo, hi: float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    if not hi > lo:
        raise NoOverlap(
            f"the {what} ranges of the curves do not overlap (anchor {a.min():.6g}..{a.max():.6g}, "
            f"test {b.min():.6g}..{b.max():.6g}); there is nothing to integrate"
        )
    return float(lo), float(hi), float(100.0 * (hi - lo) / union)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise BDError(f"unknown BD interpolation method {method!r}; choose one of {', '.join(METHODS)}")


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    *,
    method: str = "pchip",
    higher_is_better: bool = True,
    hull: bool = False,
    anchor_label: str = "anchor",
    test_label: str = "test",
) -> BDResult:
    """BD-rate in percent of the test curve against the anchor (negative = test saves bits).

    Args:
        anchor_rate, test_rate: rates (bpp, kbps, bytes: any positive unit, the same for both).
        anchor_metric, test_metric: quality values (PSNR, MS-SSIM in dB, LPIPS, top-1, ...).
        method: ``pchip`` (default), ``akima`` or ``cubic``.
        higher_is_better: the metric's direction (False for LPIPS, DISTS, FID).
        hull: keep only each curve's upper convex hull instead of rejecting a non-monotonic curve.
        anchor_label, test_label: names used in error messages.

    Raises:
        NonMonotonicCurve, NoOverlap, BDError.
    """
    _check_method(method)
    anchor = _prepare(anchor_rate, anchor_metric, anchor_label, higher_is_better, hull)
    test = _prepare(test_rate, test_metric, test_label, higher_is_better, hull)
    lo, hi, overlap = _overlap(anchor.quality, test.quality, "metric")
    area_anchor = _integrator(anchor.quality, anchor.log_rate, method)(lo, hi)
    area_test = _integrator(test.quality, test.log_rate, method)(lo, hi)
    mean_log_ratio = (area_test - area_anchor) / (hi - lo)
    interval = (lo, hi) if higher_is_better else (-hi, -lo)
    return BDResult(
        value=float((10.0**mean_log_ratio - 1.0) * 100.0),
        unit="%",
        kind="rate",
        method=method,
        overlap_percent=overlap,
        interval=interval,
        n_anchor=len(anchor.quality),
        n_test=len(test.quality),
        anchor_dropped=anchor.dropped,
        test_dropped=test.dropped,
    )


def bd_metric(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    *,
    method: str = "pchip",
    higher_is_better: bool = True,
    hull: bool = False,
    unit: str = "",
    anchor_label: str = "anchor",
    test_label: str = "test",
) -> BDResult:
    """BD-metric: mean of (test - anchor) quality over the overlapping rate range, in the metric's units.

    Positive means the test curve is better for a higher-is-better metric (BD-PSNR); negative means better for a
    lower-is-better one. Arguments as :func:`bd_rate`; ``unit`` is copied into the result.
    """
    _check_method(method)
    anchor = _prepare(anchor_rate, anchor_metric, anchor_label, higher_is_better, hull)
    test = _prepare(test_rate, test_metric, test_label, higher_is_better, hull)
    lo, hi, overlap = _overlap(anchor.log_rate, test.log_rate, "log-rate")
    area_anchor = _integrator(anchor.log_rate, anchor.quality, method)(lo, hi)
    area_test = _integrator(test.log_rate, test.quality, method)(lo, hi)
    mean_gain = (area_test - area_anchor) / (hi - lo)
    return BDResult(
        value=float(mean_gain if higher_is_better else -mean_gain),
        unit=unit,
        kind="metric",
        method=method,
        overlap_percent=overlap,
        interval=(float(10.0**lo), float(10.0**hi)),
        n_anchor=len(anchor.quality),
        n_test=len(test.quality),
        anchor_dropped=anchor.dropped,
        test_dropped=test.dropped,
    )

"""Bjontegaard deltas against published test vectors (anchors.md section 6.2), exact invariants, and a second
implementation (the ``bjontegaard`` package) on random monotone curves."""

import warnings

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics.bd import BDWarning, NoOverlap, NonMonotonicCurve, bd_metric, bd_rate, upper_convex_hull

# JCT-VC vectors (vmaf tests, from the JCT-VC spreadsheet): (rates, PSNR).
JCTVC1_ANCHOR = ([108048.8736, 61279.976, 33905.6656, 18883.6928], [43.6471, 40.3953, 37.247, 34.2911])
JCTVC1_TEST = ([108061.2784, 61299.9936, 33928.7472, 18910.912], [43.6768, 40.4232, 37.2761, 34.3147])
JCTVC2_ANCHOR = ([40433.8848, 7622.7456, 2394.488, 1017.6184], [37.5761, 35.3756, 33.8977, 32.0603])
JCTVC2_TEST = ([40370.12, 7587.0024, 2390.0944, 1017.0984], [37.5982, 35.4025, 33.9194, 32.0822])
FAU_T1_ANCHOR = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
FAU_T1_TEST = ([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
FAU_T2_ANCHOR = ([82472.76, 26875.24, 9487.76, 4593.6], [43.825, 41.404, 40.037, 38.615])
FAU_T2_TEST = ([99896.96, 33952.04, 9787.8, 4469.0], [44.731, 41.875, 40.121, 38.651])
FAU_T3_ANCHOR = (FAU_T2_ANCHOR[0] + [3600, 2900], FAU_T2_ANCHOR[1] + [36.5, 35.1])
FAU_T3_TEST = (FAU_T2_TEST[0] + [4040, 3300], FAU_T2_TEST[1] + [37, 36.5])
ANSERW_ANCHOR = ([686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42])
ANSERW_TEST = ([893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24])


@pytest.mark.parametrize(
    "anchor, test, expected",
    [(JCTVC1_ANCHOR, JCTVC1_TEST, -0.4652154208), (JCTVC2_ANCHOR, JCTVC2_TEST, -1.8779823451)],
)
def test_jctvc_vectors_pchip(anchor, test, expected):
    """Oracle: the JCT-VC spreadsheet values (vmaf's tests assert them; FAU pchip reproduces them)."""
    result = bd_rate(*anchor, *test)
    assert result.method == "pchip"
    assert result.value == pytest.approx(expected, abs=1e-9)
    assert result.unit == "%" and result.kind == "rate"
    assert (result.n_anchor, result.n_test) == (4, 4)


@pytest.mark.parametrize(
    "anchor, test, expected",
    [
        # method -> BD-rate % computed with bjontegaard 1.3.0 (anchors.md table 6.2)
        (JCTVC1_ANCHOR, JCTVC1_TEST, {"akima": -0.4651203312, "cubic": -0.4644154200}),
        (JCTVC2_ANCHOR, JCTVC2_TEST, {"akima": -1.8651320008, "cubic": -1.9101686785}),
        (FAU_T1_ANCHOR, FAU_T1_TEST, {"pchip": -4.4174853506, "akima": -4.4252451570, "cubic": -4.4204627061}),
        (FAU_T2_ANCHOR, FAU_T2_TEST, {"pchip": -4.4721820028, "akima": -4.0857609404, "cubic": -4.6994375481}),
        (FAU_T3_ANCHOR, FAU_T3_TEST, {"pchip": -2.9528024116, "akima": -2.5269201870, "cubic": -0.6392886209}),
        (ANSERW_ANCHOR, ANSERW_TEST, {"pchip": 31.3798782024, "akima": 31.3839889843, "cubic": 31.3973740549}),
    ],
)
def test_bd_rate_vectors_all_methods(anchor, test, expected):
    """Oracle: FAU bjontegaard values listed in anchors.md (cubic is a least-squares fit, hence 1e-8)."""
    for method, value in expected.items():
        tolerance = 1e-8 if method == "cubic" else 1e-9
        assert bd_rate(*anchor, *test, method=method).value == pytest.approx(value, abs=tolerance), method


@pytest.mark.parametrize(
    "anchor, test, method, expected",
    [
        (JCTVC1_ANCHOR, JCTVC1_TEST, "pchip", 0.0250502113),
        (JCTVC2_ANCHOR, JCTVC2_TEST, "pchip", 0.0284718910),
        (FAU_T1_ANCHOR, FAU_T1_TEST, "akima", 0.1194092703),
        (FAU_T1_ANCHOR, FAU_T1_TEST, "pchip", 0.1196927854),
        (FAU_T1_ANCHOR, FAU_T1_TEST, "cubic", 0.1204094191),
        (ANSERW_ANCHOR, ANSERW_TEST, "cubic", -1.1848979218),
    ],
)
def test_bd_psnr_vectors(anchor, test, method, expected):
    """Oracle: BD-PSNR values of anchors.md section 6.2."""
    result = bd_metric(*anchor, *test, method=method, unit="dB")
    assert result.value == pytest.approx(expected, abs=1e-9)
    assert result.unit == "dB" and result.kind == "metric"


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_exact_invariants(method):
    """Oracle: closed forms. Same curve -> 0; rate x0.9 -> -10 %; x1.1 -> +10 %; +0.5 dB -> BD-PSNR +0.5."""
    rates, psnr = JCTVC1_ANCHOR
    tolerance = 1e-11 if method == "cubic" else 1e-12
    assert bd_rate(rates, psnr, rates, psnr, method=method).value == pytest.approx(0.0, abs=tolerance)
    scaled = [0.9 * r for r in rates]
    assert bd_rate(rates, psnr, scaled, psnr, method=method).value == pytest.approx(-10.0, abs=tolerance)
    scaled = [1.1 * r for r in rates]
    assert bd_rate(rates, psnr, scaled, psnr, method=method).value == pytest.approx(10.0, abs=tolerance)
    shifted = [p + 0.5 for p in psnr]
    assert bd_metric(rates, psnr, rates, shifted, method=method).value == pytest.approx(0.5, abs=tolerance)
    full = bd_rate(rates, psnr, rates, psnr, method=method)
    assert full.overlap_percent == pytest.approx(100.0)
    assert full.interval == pytest.approx((min(psnr), max(psnr)))


def test_non_monotonic_metric_raises_naming_curve_and_point():
    """Must-raise case (vmaf tests): JCTVC-1 anchor whose first PSNR is 39.6471."""
    rates, psnr = JCTVC1_ANCHOR
    broken = [39.6471] + psnr[1:]
    with pytest.raises(NonMonotonicCurve) as error:
        bd_rate(rates, broken, *JCTVC1_TEST, anchor_label="VTM")
    message = str(error.value)
    assert "VTM curve" in message and "point 0" in message and "39.6471" in message
    assert isinstance(error.value, BenchError)
    with pytest.raises(NonMonotonicCurve, match="test curve"):
        bd_metric(*JCTVC1_TEST, rates, broken, anchor_label="x", test_label="test")


def test_non_monotonic_rate_raises():
    """Must-raise case (vmaf tests): JCTVC-1 anchor whose first rate is 58048.8736 (out of order once sorted)."""
    rates, psnr = JCTVC1_ANCHOR
    with pytest.raises(NonMonotonicCurve, match="anchor curve"):
        bd_rate([58048.8736] + rates[1:], psnr, *JCTVC1_TEST)


def test_anserw_sample1_typo_raises_for_every_method():
    """Regression (anchors.md): FAU cubic silently returns +20.33 % on this non-monotonic curve; we refuse."""
    anchor = ([6975, 4347, 2652, 1612], [32.11, 36.53, 34.11, 31.85])
    for method in ("pchip", "akima", "cubic"):
        with pytest.raises(NonMonotonicCurve):
            bd_rate(*anchor, *FAU_T1_TEST, method=method)


def test_no_overlap_raises():
    """Must-raise case (vmaf tests): metric shifted by +100."""
    rates, psnr = JCTVC1_ANCHOR
    with pytest.raises(NoOverlap, match="do not overlap"):
        bd_rate(rates, psnr, rates, [p + 100 for p in psnr])
    with pytest.raises(NoOverlap):
        bd_metric(rates, psnr, [r * 1000 for r in rates], psnr)


@pytest.mark.parametrize(
    "rates, values, message",
    [
        ([1.0, 2.0, float("nan"), 4.0], [1.0, 2.0, 3.0, 4.0], "not finite"),
        ([1.0, 0.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "positive"),
        ([1.0, 2.0, 2.0, 4.0], [1.0, 2.0, 3.0, 4.0], "same rate"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "equal length"),
        ([1.0], [1.0], "at least 2"),
    ],
)
def test_bad_input_raises(rates, values, message):
    with pytest.raises(BenchError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)
        bd_rate(rates, values, [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])


def test_unknown_method_raises():
    with pytest.raises(BenchError, match="pchip, akima, cubic"):
        bd_rate(*JCTVC1_ANCHOR, *JCTVC1_TEST, method="linear")


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_fewer_than_four_points_warns_and_still_computes(method):
    rates, psnr = JCTVC1_ANCHOR
    with pytest.warns(BDWarning, match="only 3 points"):
        result = bd_rate(rates[:3], psnr[:3], [0.9 * r for r in rates[:3]], psnr[:3], method=method)
    assert result.value == pytest.approx(-10.0, abs=1e-9)
    with pytest.warns(BDWarning, match="only 2 points"):
        result = bd_rate(rates[:2], psnr[:2], [0.9 * r for r in rates[:2]], psnr[:2], method=method)
    assert result.value == pytest.approx(-10.0, abs=1e-9)


def test_points_are_sorted_by_rate():
    """QP-type codecs list points by descending rate; any order must give the same value."""
    anchor_rates, anchor_psnr = JCTVC1_ANCHOR
    order = [2, 0, 3, 1]
    shuffled = ([anchor_rates[i] for i in order], [anchor_psnr[i] for i in order])
    assert bd_rate(*shuffled, *JCTVC1_TEST).value == pytest.approx(-0.4652154208, abs=1e-9)


def test_lower_is_better_metric_gives_negative_bd_rate_for_better_test():
    """LPIPS-like metric (lower is better): a test codec needing 10 % fewer bits scores -10 %."""
    rates = [0.1, 0.2, 0.4, 0.8]
    lpips = [0.40, 0.30, 0.20, 0.12]
    better = bd_rate(rates, lpips, [0.9 * r for r in rates], lpips, higher_is_better=False)
    assert better.value == pytest.approx(-10.0, abs=1e-12)
    assert better.interval == pytest.approx((0.12, 0.40))
    # A test codec with uniformly lower LPIPS at each rate: negative BD-LPIPS (in LPIPS units), negative BD-rate.
    lower = [v - 0.01 for v in lpips]
    assert bd_metric(rates, lpips, rates, lower, higher_is_better=False).value == pytest.approx(-0.01, abs=1e-12)
    assert bd_rate(rates, lpips, rates, lower, higher_is_better=False).value < 0
    # Increasing LPIPS with rate is non-monotonic for a lower-is-better metric.
    with pytest.raises(NonMonotonicCurve, match="decrease"):
        bd_rate(rates, lpips[::-1], rates, lpips, higher_is_better=False)


def test_hull_filters_task_curves():
    """A saturating/noisy accuracy curve: reject by default, keep the upper convex hull on request."""
    rates = [0.05, 0.1, 0.2, 0.4, 0.8]
    top1 = [60.0, 70.0, 69.0, 78.0, 77.5]  # dips at 0.2 and 0.8
    with pytest.raises(NonMonotonicCurve):
        bd_rate(rates, top1, rates, [t + 1 for t in top1])
    with pytest.warns(BDWarning, match="only 3 points"):
        result = bd_rate(rates, top1, [0.9 * r for r in rates], top1, hull=True)
    assert result.value == pytest.approx(-10.0, abs=1e-12)
    assert result.n_anchor == 3
    assert set(result.anchor_dropped) == {(0.2, 69.0), (0.8, 77.5)}


def test_upper_convex_hull_against_brute_force():
    """Oracle: a point is on the upper hull iff no chord between two other points passes above it."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        x = np.sort(rng.uniform(0, 1, 7))
        y = rng.uniform(0, 1, 7)
        kept = upper_convex_hull(x, y)
        best = int(np.argmax(y))
        on_hull = []
        for i in range(len(x)):
            above = any(
                x[a] < x[i] < x[b] and y[a] + (y[b] - y[a]) * (x[i] - x[a]) / (x[b] - x[a]) >= y[i]
                for a in range(len(x))
                for b in range(len(x))
            )
            if not above and i <= best:
                on_hull.append(i)
        assert kept.tolist() == on_hull
        assert np.all(np.diff(y[kept]) > 0)


def test_cross_check_with_bjontegaard_package_on_random_monotone_curves():
    """Oracle: FAU bjontegaard 1.3.0 (an independent implementation) on 80 random monotone curve pairs."""
    bjontegaard = pytest.importorskip("bjontegaard")
    rng = np.random.default_rng(2024)
    compared = 0
    for _ in range(80):
        n_anchor, n_test = rng.integers(4, 9, size=2)
        anchor_rate = np.sort(rng.uniform(0.05, 2.0, n_anchor))
        anchor_psnr = np.sort(rng.uniform(26, 42, n_anchor))
        test_rate = np.sort(rng.uniform(0.05, 2.0, n_test))
        test_psnr = np.sort(rng.uniform(26, 42, n_test))
        for method in ("pchip", "akima"):
            for ours_fn, theirs_fn in ((bd_rate, bjontegaard.bd_rate), (bd_metric, bjontegaard.bd_psnr)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    expected = theirs_fn(
                        anchor_rate, anchor_psnr, test_rate, test_psnr, method=method, require_matching_points=False
                    )
                if not np.isfinite(expected):  # no overlap: FAU warns and returns NaN, we raise
                    with pytest.raises(NoOverlap):
                        ours_fn(anchor_rate, anchor_psnr, test_rate, test_psnr, method=method)
                    continue
                ours = ours_fn(anchor_rate, anchor_psnr, test_rate, test_psnr, method=method)
                assert ours.value == pytest.approx(expected, rel=1e-9, abs=1e-9)
                compared += 1
    assert compared > 200

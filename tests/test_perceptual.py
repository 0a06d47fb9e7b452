"""LPIPS, DISTS, FID/KID on 256-px patches.

Tests named ``test_random_weights_*`` are RANDOM-WEIGHT PLUMBING TESTS: they write random weights of the right
architecture into a temporary cache (patching the cards' sha256 to those files) to check, offline, that the metrics
load their backbones from the cache and compute what they should; their values mean nothing perceptually. The
library itself never builds a random backbone: missing weights make a metric unavailable.
"""

import dataclasses
import re
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg

from bench import weights
from bench.download import sha256_of_file
from bench.errors import MetricUnavailable, NotApplicable
from bench.metrics import fid, metrics
from bench.metrics.fid import FID256, KID256, FewPatchesWarning, extract_patches, patch_corners
from bench.metrics.perceptual import DISTS, LPIPSVGG, L2Pooling, LPIPSAlex, vgg16_features
from bench.schema import Sample
from bench.tensors import quantize_8bit

SAMPLE = Sample("x", loader=lambda: None)
NEW_METRICS = {"lpips-alex": "alexnet", "lpips-vgg": "vgg16", "dists": "vgg16", "fid-256": "inception",
               "kid-256": "inception"}


@pytest.fixture()
def random_cache(tmp_path, monkeypatch):
    """RANDOM-WEIGHT PLUMBING: installs a state dict as cached weights ``name`` and trusts its sha256."""
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))

    def install(name, state):
        path = weights.path_of(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        card = dataclasses.replace(weights.CARDS[name], sha256=sha256_of_file(path))
        monkeypatch.setitem(weights.CARDS, name, card)
        return path

    return install


def test_registry_names_match_spec_keys():
    for name in NEW_METRICS:
        assert metrics.get(name).spec.key == name
        assert metrics.get(name).spec.higher_is_better is False
    assert metrics.get("fid-256").spec.pooled and metrics.get("kid-256").spec.pooled
    assert not metrics.get("lpips-alex").spec.pooled


@pytest.mark.parametrize("name", sorted(NEW_METRICS))
def test_missing_weights_make_the_metric_unavailable(name, tmp_path, monkeypatch):
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    with pytest.raises(MetricUnavailable) as error:
        metrics.get(name)(device="cpu")
    assert f"python -m bench weights fetch {NEW_METRICS[name]}" in str(error.value)


def test_corrupt_weights_make_the_metric_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    weights.path_of("alexnet").parent.mkdir(parents=True)
    weights.path_of("alexnet").write_bytes(b"not the AlexNet file")
    with pytest.raises(MetricUnavailable, match="sha256.*python -m bench weights fetch alexnet"):
        LPIPSAlex(device="cpu")


def _lpips_reference(net):
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval()


def test_random_weights_lpips_alex_equals_the_lpips_package(random_cache):
    """Oracle: the ``lpips`` package's own forward with the same (random) AlexNet trunk and its v0.1 calibration."""
    torch.manual_seed(0)
    reference_model = _lpips_reference("alex")
    backbone = {re.sub(r"^slice\d+\.", "features.", k): v for k, v in reference_model.net.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # a full torchvision file has more keys: ignored
    random_cache("alexnet", backbone)
    metric = LPIPSAlex(device="cpu")
    reference = torch.rand(1, 3, 64, 80)
    reconstructions = [torch.rand(1, 3, 64, 80), (reference + 0.03 * torch.randn_like(reference)).clamp(0, 1)]
    ours = metric.compute_many(reference, reconstructions, SAMPLE)
    with torch.inference_mode():
        expected = [reference_model(reference, quantize_8bit(r), normalize=True).item() for r in reconstructions]
    assert ours == pytest.approx(expected, rel=1e-5)
    assert ours[0] > ours[1] > 0
    assert metric.compute(reference, reconstructions[1], SAMPLE) == pytest.approx(ours[1], rel=1e-4)  # batch of 1
    assert metric.compute(quantize_8bit(reference), reference, SAMPLE) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(NotApplicable, match="32 px"):
        metric.compute(torch.rand(1, 3, 16, 64), torch.rand(1, 3, 16, 64), SAMPLE)


def test_random_weights_lpips_rejects_wrong_architecture(random_cache):
    random_cache("alexnet", {"features.0.weight": torch.zeros(1, 1, 1, 1)})
    with pytest.raises(MetricUnavailable, match="features.0.weight"):
        LPIPSAlex(device="cpu")


@pytest.mark.slow
def test_random_weights_lpips_vgg_equals_the_lpips_package(random_cache):
    """Oracle: the ``lpips`` package with the same random VGG16 trunk (slow: torchvision builds the classifier)."""
    torch.manual_seed(1)
    reference_model = _lpips_reference("vgg")
    backbone = {re.sub(r"^slice\d+\.", "features.", k): v for k, v in reference_model.net.state_dict().items()}
    random_cache("vgg16", backbone)
    metric = LPIPSVGG(device="cpu")
    reference, reconstruction = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    with torch.inference_mode():
        expected = reference_model(reference, quantize_8bit(reconstruction), normalize=True).item()
    assert metric.compute(reference, reconstruction, SAMPLE) == pytest.approx(expected, rel=1e-5)


def test_l2_pooling_against_the_formula():
    """Oracle: sqrt(sum_ab w_a w_b x[2i+a, 2j+b]^2) with w = (1/4, 1/2, 1/4) and zero padding, by loops."""
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64)
    pooled = L2Pooling(2).double()(x)
    assert pooled.shape == (1, 2, 4, 3)
    w = [0.25, 0.5, 0.25]
    for c in range(2):
        for i in range(4):
            for j in range(3):
                total = 0.0
                for a in range(3):
                    for b in range(3):
                        r, s = 2 * i + a - 1, 2 * j + b - 1
                        if 0 <= r < 7 and 0 <= s < 6:
                            total += w[a] * w[b] * float(x[0, c, r, s]) ** 2
                assert float(pooled[0, c, i, j]) == pytest.approx(np.sqrt(total + 1e-12), rel=1e-12)


@pytest.fixture()
def random_dists(random_cache):
    """RANDOM-WEIGHT PLUMBING: DISTS on a random VGG16 trunk with random positive alpha/beta."""
    torch.manual_seed(2)
    features = vgg16_features()
    random_cache("vgg16", {f"features.{k}": v for k, v in features.state_dict().items()})
    alpha, beta = torch.rand(1, 1475, 1, 1), torch.rand(1, 1475, 1, 1)
    random_cache("dists", {"alpha": alpha, "beta": beta})
    return DISTS(device="cpu"), features, alpha, beta


def test_random_weights_dists_structure_and_formula(random_dists):
    """Oracle: the DISTS definition evaluated in float64 numpy on the network's feature maps, with the trunk and
    alpha/beta read back from the cache files."""
    metric, features, alpha, beta = random_dists
    network = metric.network
    assert torch.equal(network.stages[0][0].weight, features[0].weight)  # conv1_1
    assert torch.equal(network.stages[1][1].weight, features[5].weight)  # L2 pool, then conv2_1
    assert isinstance(network.stages[4][0], L2Pooling)
    x = torch.rand(2, 3, 32, 48)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    with torch.inference_mode():
        fx, fy = network._features(x), network._features(y)
        ours = network(x, y)
    assert [f.shape[1] for f in fx] == [3, 64, 128, 256, 512, 512]
    assert [f.shape[2] for f in fx] == [32, 32, 16, 8, 4, 2]
    a = alpha.double().numpy().ravel()
    b = beta.double().numpy().ravel()
    a, b = a / (a.sum() + b.sum()), b / (a.sum() + b.sum())
    expected = np.ones(2)
    offset = 0
    for u, v in zip(fx, fy):
        u = u.double().numpy().reshape(2, u.shape[1], -1)
        v = v.double().numpy().reshape(2, v.shape[1], -1)
        channels = u.shape[1]
        mu_u, mu_v = u.mean(-1), v.mean(-1)
        var_u, var_v = u.var(-1), v.var(-1)
        cov = ((u - mu_u[..., None]) * (v - mu_v[..., None])).mean(-1)
        s1 = (2 * mu_u * mu_v + 1e-6) / (mu_u**2 + mu_v**2 + 1e-6)
        s2 = (2 * cov + 1e-6) / (var_u + var_v + 1e-6)
        expected -= s1 @ a[offset : offset + channels] + s2 @ b[offset : offset + channels]
        offset += channels
    assert ours.double().numpy() == pytest.approx(expected, abs=1e-5)


def test_random_weights_dists_properties(random_dists):
    metric = random_dists[0]
    reference = quantize_8bit(torch.rand(1, 3, 32, 32))
    noisy = [(reference + s * torch.randn_like(reference)).clamp(0, 1) for s in (0.02, 0.2)]
    scores = metric.compute_many(reference, noisy, SAMPLE)
    assert 0 < scores[0] < scores[1]
    # float32: 1 - similarity loses ~1e-7 absolute
    assert metric.compute(reference, noisy[1], SAMPLE) == pytest.approx(scores[1], abs=1e-6)
    assert metric.compute(reference, reference, SAMPLE) == pytest.approx(0.0, abs=1e-6)
    swapped = metric.compute(quantize_8bit(noisy[1]), reference, SAMPLE)  # DISTS is symmetric
    assert swapped == pytest.approx(scores[1], abs=1e-6)


def test_random_weights_dists_rejects_wrong_calibration(random_cache):
    random_cache("vgg16", {f"features.{k}": v for k, v in vgg16_features().state_dict().items()})
    random_cache("dists", {"alpha": torch.rand(1, 10, 1, 1), "beta": torch.rand(1, 10, 1, 1)})
    with pytest.raises(MetricUnavailable, match="alpha"):
        DISTS(device="cpu")


@pytest.mark.parametrize(
    "size, count",
    [((512, 768), 8), ((768, 512), 8), ((256, 256), 1), ((384, 384), 2), ((383, 1000), 3), ((255, 1000), 0),
     ((1000, 1000), 9 + 9)],
)
def test_patch_counts(size, count):
    """Oracle: anchors.md section 8 (Kodak 768x512 -> 6 + 2 patches; the shifted grid needs both sides >= 384)."""
    assert len(patch_corners(*size)) == count


def test_patch_contents():
    image = torch.rand(1, 3, 512, 768)
    patches = extract_patches(image)
    assert patches.shape == (8, 3, 256, 256)
    assert torch.equal(patches[0], image[0, :, :256, :256])
    assert torch.equal(patches[5], image[0, :, 256:, 512:])
    assert torch.equal(patches[6], image[0, :, 128:384, 128:384])
    assert torch.equal(patches[7], image[0, :, 128:384, 384:640])


def _gaussian_features(mean, covariance, n, rng):
    """Samples whose sample mean and (n-1)-normalised covariance are exactly ``mean`` and ``covariance``."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(0)
    whitened = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return whitened @ np.linalg.cholesky(covariance).T + mean


def test_fid_identical_features_is_zero():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((64, 16)).astype(np.float32)
    assert fid.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_gaussian_feature_sets_against_closed_form():
    """Oracle: ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2); diagonal case sum (sigma1 - sigma2)^2."""
    rng = np.random.default_rng(1)
    d, n = 8, 400
    mean1, mean2 = rng.normal(size=d), rng.normal(size=d)
    var1, var2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    real = _gaussian_features(mean1, np.diag(var1), n, rng)
    fake = _gaussian_features(mean2, np.diag(var2), n, rng)
    closed = np.sum((mean1 - mean2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert fid.frechet_distance(real, fake) == pytest.approx(closed, rel=1e-4)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    cov1, cov2 = a @ a.T + np.eye(d), b @ b.T + np.eye(d)
    real = _gaussian_features(mean1, cov1, n, rng)
    fake = _gaussian_features(mean2, cov2, n, rng)
    root = linalg.sqrtm(cov1)
    closed = np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * linalg.sqrtm(root @ cov2 @ root)).real
    assert fid.frechet_distance(real, fake) == pytest.approx(closed, rel=1e-4)


def _mmd2_unbiased(x, y):
    """Oracle: unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit sums over pairs."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_on_known_features():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(6, 4)).astype(np.float32)
    fake = (rng.normal(size=(6, 4)) + 0.5).astype(np.float32)
    mean, std, size = fid.kernel_inception_distance(real, fake, subsets=5)
    assert size == 6  # clamped from 1000 to the sample count: every subset is the whole set
    assert mean == pytest.approx(_mmd2_unbiased(real.astype(np.float64), fake.astype(np.float64)), rel=1e-4)
    assert std == pytest.approx(0.0, abs=1e-6)


class _ChannelStats(torch.nn.Module):
    """A stand-in extractor for plumbing tests: per-channel mean and std of each uint8 patch (6 features)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.shape[1:] == (3, 256, 256)
        self.calls += len(x)
        x = x.double()
        return (torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1).float(),)


@pytest.fixture()
def stub_fid(random_cache, monkeypatch):
    random_cache("inception", {})  # placeholder file: the stub replaces the network
    stub = _ChannelStats()
    monkeypatch.setattr(fid, "inception", lambda path, device: stub)
    monkeypatch.setattr(fid, "_CACHE", fid._FeatureCache())
    return stub


def test_patch_metrics_pool_features_over_the_dataset(stub_fid):
    metric, kid = FID256(device="cpu"), KID256(device="cpu")
    reference = torch.rand(1, 3, 512, 768)
    reconstructions = [(reference + 0.05 * torch.randn_like(reference)).clamp(0, 1), reference.clone()]
    first, second = metric.compute_many(reference, reconstructions, SAMPLE)
    assert stub_fid.calls == 8 + 8  # the identical reconstruction hits the cache of the reference
    assert first["real"].shape == (8, 6) and first["fake"].shape == (8, 6)
    patches = extract_patches(fid.to_uint8(quantize_8bit(reconstructions[0]))).double()
    assert first["fake"][:, :3] == pytest.approx(patches.mean(dim=(2, 3)).numpy(), rel=1e-5)
    assert np.array_equal(second["fake"], second["real"])
    kid.compute(reference, reconstructions[0], SAMPLE)
    assert stub_fid.calls == 16  # KID reuses the features FID extracted
    with pytest.warns(FewPatchesWarning, match="8 patches"):
        assert metric.aggregate([second, None]) == pytest.approx(0.0, abs=1e-6)
    with pytest.warns(FewPatchesWarning):
        value = FID256.aggregate([first, None])
    assert value == pytest.approx(fid.frechet_distance(first["real"], first["fake"]), rel=1e-9)
    with pytest.warns(FewPatchesWarning, match="clamped"):
        kid_value = KID256.aggregate([first])  # a classmethod: the engine aggregates without building networks
    assert kid_value == pytest.approx(fid.kernel_inception_distance(first["real"], first["fake"])[0], rel=1e-12)
    assert np.isnan(metric.aggregate([]))
    with pytest.raises(NotApplicable, match="256 px"):
        metric.compute(torch.rand(1, 3, 200, 300), torch.rand(1, 3, 200, 300), SAMPLE)


def _random_inception_state(tmp_path, monkeypatch):
    """RANDOM-WEIGHT PLUMBING: a state dict of torch-fidelity's Inception architecture with random values."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with monkeypatch.context() as patch:
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, *a, **k: None)
        network = FeatureExtractorInceptionV3("x", ["2048"], feature_extractor_weights_path=str(empty))
    torch.manual_seed(4)
    for module in network.modules():  # variance-preserving init, so that random features do not vanish
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return network.state_dict()


def test_random_weights_inception_loads_from_the_cache_offline(random_cache, tmp_path, monkeypatch):
    state = _random_inception_state(tmp_path, monkeypatch)
    path = random_cache("inception", state)
    monkeypatch.setattr(fid, "_EXTRACTORS", {})
    metric = FID256(device="cpu")
    assert metric.weights_path == path
    loaded = metric.extractor.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.slow
def test_random_weights_fid_end_to_end(random_cache, tmp_path, monkeypatch):
    """Full path through torch-fidelity's Inception (random weights): features equal a direct extractor call."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = random_cache("inception", _random_inception_state(tmp_path, monkeypatch))
    monkeypatch.setattr(fid, "_EXTRACTORS", {})
    monkeypatch.setattr(fid, "_CACHE", fid._FeatureCache())
    metric = FID256(device="cpu")
    reference = torch.rand(1, 3, 256, 512)
    reconstruction = (reference + 0.1 * torch.randn_like(reference)).clamp(0, 1)
    value = metric.compute(reference, reconstruction, SAMPLE)
    direct = FeatureExtractorInceptionV3("x", ["2048"], feature_extractor_weights_path=str(path)).eval()
    with torch.inference_mode():
        (expected,) = direct(extract_patches(fid.to_uint8(quantize_8bit(reconstruction))))
    assert value["fake"] == pytest.approx(expected.numpy(), rel=1e-4, abs=1e-5)
    with pytest.warns(FewPatchesWarning):
        assert metric.aggregate([value]) == pytest.approx(fid.frechet_distance(value["real"], value["fake"]))

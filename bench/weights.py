"""The local cache of metric-network weights: what each file is, where it comes from, and its verified path.

Perceptual metrics need pretrained backbones that no Python package ships: AlexNet and VGG16 (torchvision's ImageNet
weights, for LPIPS and DISTS), DISTS's own alpha/beta calibration and the TF-2015 Inception port used by
torch-fidelity (FID/KID). ``python -m bench weights fetch [NAME]`` downloads them once from their official URLs,
verifies the sha256 and writes them atomically; afterwards everything loads from the cache, offline.

Cache directory: ``~/.cache/mpa-bench/weights`` by default, or ``$MPA_BENCH_CACHE/weights`` when the environment
variable ``MPA_BENCH_CACHE`` is set (the variable names the mpa-bench cache root; weights live in its ``weights/``
folder so that other caches can sit beside them).

A metric whose weights are missing or corrupt raises :class:`bench.errors.MetricUnavailable` with the exact fetch
command; nothing here ever falls back to random weights.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.download import download, sha256_of_file_cached
from bench.errors import BenchError, MetricUnavailable

CACHE_ENV = "MPA_BENCH_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/mpa-bench")


@dataclass(frozen=True)
class WeightsCard:
    """One weights file of the cache.

    Attributes:
        name: the name ``bench weights fetch`` takes.
        filename: file name inside the cache (the upstream name, so a hash prefix in it stays visible).
        url: the official download location.
        sha256: expected sha256 of the file; verified on download and before every load.
        size: expected size in bytes (informational: shown by ``weights list``).
        used_by: metric keys that need this file.
        license: licence of the weights as stated upstream.
        source: where the URL and hash were established.
    """

    name: str
    filename: str
    url: str
    sha256: str
    size: int | None
    used_by: tuple[str, ...]
    license: str
    source: str


CARDS: dict[str, WeightsCard] = {
    card.name: card
    for card in (
        WeightsCard(
            name="alexnet",
            filename="alexnet-owt-7be5be79.pth",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            size=244_408_911,
            used_by=("lpips-alex",),
            license="BSD-3-Clause (torchvision)",
            source="torchvision AlexNet_Weights.IMAGENET1K_V1; the file name carries the sha256 prefix",
        ),
        WeightsCard(
            name="vgg16",
            filename="vgg16-397923af.pth",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            size=553_433_881,
            used_by=("lpips-vgg", "dists"),
            license="BSD-3-Clause (torchvision)",
            source="torchvision VGG16_Weights.IMAGENET1K_V1; the file name carries the sha256 prefix",
        ),
        WeightsCard(
            name="dists",
            filename="dists-weights-f5e65c96.pt",
            url=(
                "https://raw.githubusercontent.com/dingkeyan93/DISTS/"
                "1267d8cb626c98706db3697422701c56a85ebf2e/DISTS_pytorch/weights.pt"
            ),
            sha256="f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
            size=None,
            used_by=("dists",),
            license="MIT (dingkeyan93/DISTS)",
            source=(
                "DISTS_pytorch/weights.pt (alpha, beta) at dingkeyan93/DISTS commit 1267d8c; pyiqa re-hosts the "
                "same file as DISTS_weights-f5e65c96.pth (matching sha256 prefix)"
            ),
        ),
        WeightsCard(
            name="inception",
            filename="weights-inception-2015-12-05-6726825d.pth",
            url=(
                "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                "weights-inception-2015-12-05-6726825d.pth"
            ),
            sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            size=95_628_359,
            used_by=("fid-256", "kid-256"),
            license="Apache-2.0 (TensorFlow Inception weights converted by torch-fidelity)",
            source="torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (torch-fidelity 0.4.0)",
        ),
    )
}


class UnknownWeights(BenchError):
    """A weights name that the cache does not know."""


def cache_root() -> Path:
    """The mpa-bench cache root: ``$MPA_BENCH_CACHE`` or ``~/.cache/mpa-bench``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else DEFAULT_CACHE_ROOT.expanduser()


def cache_dir() -> Path:
    """The weights folder: ``$MPA_BENCH_CACHE/weights`` or ``~/.cache/mpa-bench/weights``."""
    return cache_root() / "weights"


def identity(name: str) -> dict[str, str]:
    """Which weights file a metric uses ({name, file, sha256}), for its configuration and provenance."""
    entry = card(name)
    return {"name": name, "file": str(path_of(name)), "sha256": entry.sha256}


def card(name: str) -> WeightsCard:
    """The card of ``name``; raises :class:`UnknownWeights` with close matches."""
    if name not in CARDS:
        close = difflib.get_close_matches(name, CARDS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(CARDS)}"
        raise UnknownWeights(f"unknown weights {name!r}{hint}")
    return CARDS[name]


def fetch_command(name: str) -> str:
    """The command that fills the cache with ``name``."""
    return f"python -m bench weights fetch {name}"


def path_of(name: str) -> Path:
    """Where ``name`` lives in the cache (whether or not it is there)."""
    return cache_dir() / card(name).filename


def status(name: str) -> str:
    """``ok``, ``missing`` or ``corrupt`` (present with the wrong sha256) for the cached file of ``name``."""
    path = path_of(name)
    if not path.is_file():
        return "missing"
    return "ok" if sha256_of_file_cached(path) == card(name).sha256 else "corrupt"


def verified_path(name: str, metric: str) -> Path:
    """The cached file of ``name``, its sha256 checked, for ``metric``.

    Raises:
        MetricUnavailable: the file is missing or does not match its sha256; the message holds the fetch command.
    """
    path = path_of(name)
    state = status(name)
    if state == "missing":
        raise MetricUnavailable(
            f"{metric} needs the {name} weights, which are not in the cache ({path}); run: {fetch_command(name)}"
        )
    if state == "corrupt":
        raise MetricUnavailable(
            f"{metric} needs the {name} weights, but {path} does not match its sha256 {card(name).sha256}; "
            f"run: {fetch_command(name)}"
        )
    return path


def fetch(name: str, force: bool = False, progress: bool = True) -> Path:
    """Downloads ``name`` into the cache unless a verified copy is already there.

    The download goes through a temporary file that replaces the cached file only once its sha256 matches, so a
    failed, truncated or corrupt download leaves the cache as it was.

    Raises:
        bench.download.DownloadError: network error, truncated response or sha256 mismatch.
    """
    entry = card(name)
    path = path_of(name)
    if not force and status(name) == "ok":
        return path
    download(entry.url, path, entry.sha256, progress=progress)
    return path


def fetch_all(names: list[str] | None = None, force: bool = False, progress: bool = True,
              on_done: Callable[[str, Path], None] | None = None) -> list[Path]:
    """Fetches ``names`` (all known weights when None), calling ``on_done(name, path)`` after each."""
    paths = []
    for name in names or list(CARDS):
        path = fetch(name, force=force, progress=progress)
        if on_done is not None:
            on_done(name, path)
        paths.append(path)
    return paths

"""Test settings shared by every test: offline, deterministic, small thread count."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fails any test that tries to reach beyond the loopback interface."""
    import socket

    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Each test gets its own mpa-bench cache (weights, image digests): nothing of the user's is read or written."""
    monkeypatch.setenv("MPA_BENCH_CACHE", str(tmp_path / "mpa-bench-cache"))


ASSETS = __import__("pathlib").Path(__file__).parent / "assets"


@pytest.fixture(scope="session")
def kodak_image():
    """Kodak image 20 as an (512, 768, 3) uint8 array."""
    from bench.data.imagefile import load_rgb8

    return load_rgb8(ASSETS / "kodim20.png")


@pytest.fixture(scope="session")
def kodak_crop(kodak_image):
    """A 192x256 crop of Kodak image 20: small enough to be fast, large enough for MS-SSIM's 5 scales."""
    return kodak_image[160:352, 256:512].copy()

"""The weights cache and its downloader, against a local HTTP server on 127.0.0.1 serving fixture files (a good
file, a corrupt one, a truncated response, a 404)."""

import argparse
import dataclasses
import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest

from bench import weights
from bench.cli import COMMANDS
from bench.cli import weights as weights_cli
from bench.download import DownloadError, sha256_of_file
from bench.errors import BenchError, MetricUnavailable

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one download chunk
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).requests.append(self.path)
        if self.path == "/good.pth":
            body, length = PAYLOAD, len(PAYLOAD)
        elif self.path == "/corrupt.pth":  # right length, one flipped byte
            body = bytearray(PAYLOAD)
            body[1000] ^= 0xFF
            body, length = bytes(body), len(PAYLOAD)
        elif self.path == "/truncated.pth":  # announces the full length, sends half, closes
            body, length = PAYLOAD[: len(PAYLOAD) // 2], len(PAYLOAD)
        elif self.path == "/no-length.pth":  # no Content-Length, connection closed early: only sha256 can tell
            body, length = PAYLOAD[:1000], None
        else:
            self.send_error(404)
            return
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "root"))
    return tmp_path / "root" / "weights"


def _serve_as(monkeypatch, name, url, sha256=PAYLOAD_SHA256):
    card = dataclasses.replace(weights.CARDS[name], url=url, sha256=sha256)
    monkeypatch.setitem(weights.CARDS, name, card)
    return card


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.CACHE_ENV, raising=False)
    assert weights.cache_dir() == Path("~/.cache/mpa-bench/weights").expanduser()
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path))
    assert weights.cache_dir() == tmp_path / "weights"
    assert weights.path_of("alexnet") == tmp_path / "weights" / "alexnet-owt-7be5be79.pth"


def test_cards_are_consistent():
    """Where an upstream file name carries a hash prefix, it is the prefix of the recorded sha256."""
    assert set(weights.CARDS) == {"alexnet", "vgg16", "dists", "inception"}
    for name, card in weights.CARDS.items():
        assert card.name == name and re.fullmatch(r"[0-9a-f]{64}", card.sha256)
        assert card.url.startswith("https://")
        prefix = re.search(r"-([0-9a-f]{8})\.pth?$", card.filename)
        assert prefix and card.sha256.startswith(prefix.group(1)), name
    used = {key for card in weights.CARDS.values() for key in card.used_by}
    assert used == {"lpips-alex", "lpips-vgg", "dists", "fid-256", "kid-256"}


def test_fetch_downloads_verifies_and_then_stays_offline(server, cache, monkeypatch):
    _serve_as(monkeypatch, "alexnet", f"{server}/good.pth")
    assert weights.status("alexnet") == "missing"
    path = weights.fetch("alexnet", progress=False)
    assert path == cache / "alexnet-owt-7be5be79.pth"
    assert path.read_bytes() == PAYLOAD and sha256_of_file(path) == PAYLOAD_SHA256
    assert weights.status("alexnet") == "ok"
    assert weights.verified_path("alexnet", "lpips-alex") == path
    assert _leftovers(cache) == ["alexnet-owt-7be5be79.pth"]
    weights.fetch("alexnet", progress=False)  # verified copy present: no request
    assert _Handler.requests == ["/good.pth"]
    weights.fetch("alexnet", force=True, progress=False)
    assert _Handler.requests == ["/good.pth", "/good.pth"]


@pytest.mark.parametrize(
    "route, message",
    [
        ("/corrupt.pth", "sha256"),
        ("/truncated.pth", "truncated"),
        ("/no-length.pth", "sha256"),
        ("/missing.pth", "404"),
    ],
)
def test_failed_download_leaves_the_cache_untouched(server, cache, monkeypatch, route, message):
    _serve_as(monkeypatch, "inception", f"{server}{route}")
    with pytest.raises(DownloadError, match=message):
        weights.fetch("inception", progress=False)
    assert _leftovers(cache) == []  # neither the file nor a temporary
    # A corrupt file already in the cache is kept as it was when the new download fails too.
    cache.mkdir(parents=True, exist_ok=True)
    weights.path_of("inception").write_bytes(b"old")
    assert weights.status("inception") == "corrupt"
    with pytest.raises(DownloadError):
        weights.fetch("inception", progress=False)
    assert weights.path_of("inception").read_bytes() == b"old"
    assert _leftovers(cache) == ["weights-inception-2015-12-05-6726825d.pth"]


def test_corrupt_file_is_replaced_by_a_good_download(server, cache, monkeypatch):
    _serve_as(monkeypatch, "dists", f"{server}/good.pth")
    cache.mkdir(parents=True)
    weights.path_of("dists").write_bytes(b"garbage")
    with pytest.raises(MetricUnavailable, match="does not match its sha256"):
        weights.verified_path("dists", "dists")
    weights.fetch("dists", progress=False)
    assert weights.path_of("dists").read_bytes() == PAYLOAD


def test_missing_weights_message_has_the_exact_fetch_command(cache):
    with pytest.raises(MetricUnavailable) as error:
        weights.verified_path("vgg16", "dists")
    assert "python -m bench weights fetch vgg16" in str(error.value)
    assert str(cache) in str(error.value)
    assert weights.fetch_command("inception") == "python -m bench weights fetch inception"


def test_unknown_name_suggests():
    with pytest.raises(weights.UnknownWeights, match="did you mean alexnet"):
        weights.card("alexnt")


def _parse(*argv):
    parser = argparse.ArgumentParser()
    weights_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_list_and_fetch(server, cache, monkeypatch, capsys):
    assert "weights" in COMMANDS
    _serve_as(monkeypatch, "dists", f"{server}/good.pth")
    args = _parse("weights", "list")
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert str(cache) in out and "missing" in out and "dists-weights-f5e65c96.pt" in out
    assert "to fetch dists: python -m bench weights fetch dists" in out
    args = _parse("weights", "fetch", "dists", "--quiet")
    assert args.handler(args) == 0
    assert "dists: ok" in capsys.readouterr().out
    args = _parse("weights", "list")
    args.handler(args)
    assert re.search(r"^dists\s+ok\s", capsys.readouterr().out, re.MULTILINE)
    with pytest.raises(BenchError, match="unknown weights"):
        args = _parse("weights", "fetch", "resnet")
        args.handler(args)
    with pytest.raises(SystemExit):
        _parse("weights")

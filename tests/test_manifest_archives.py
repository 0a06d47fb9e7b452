"""Manifests of the task datasets (ImageNet, ADE20K, CLIC) and the archive / unlisted-file paths of
``bench.data.manifest``: download from a local HTTP server, digest checks, selective extraction, count checks."""

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data import datasets
from bench.data.manifest import Archive, Manifest, ManifestFile, fetch, fetch_archive, load_manifest, verify
from bench.errors import DatasetError


def test_task_manifests_load_and_describe_their_data():
    ade = load_manifest("ade20k")
    assert len(ade.files) == 4000 and ade.files[0].path == "images/validation/ADE_val_00000001.jpg"
    assert ade.files[-1].path == "annotations/validation/ADE_val_00002000.png"
    assert ade.archive.sha1 == "219e1696abb36c8ba3a3afe7fb2f4b4606a897c7" and ade.archive.url.startswith("http://")
    clic = load_manifest("clic")
    assert clic.expected_count == 41 and clic.archive.md5 and clic.files == ()
    imagenet = load_manifest("imagenet")
    assert imagenet.expected_count == 50000 and imagenet.archive is None and "image-net.org" in imagenet.fetch_note
    for manifest in (ade, clic, imagenet):
        assert manifest.license and manifest.layout and manifest.homepage
        assert datasets.get(manifest.dataset or manifest.name).name == manifest.name


def test_imagenet_fetch_explains_where_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match="no public download URL.*image-net.org"):
        list(fetch(load_manifest("imagenet"), tmp_path))


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/www`` on the loopback interface."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def make_manifest(archive: Archive, **fields) -> Manifest:
    return Manifest(name="toy", source_path=Path("toy.json"), folder="Toy", files=fields.pop("files", ()),
                    archive=archive, **fields)


def test_archive_is_checked_then_only_selected_members_are_extracted(server, tmp_path):
    www, url = server
    with zipfile.ZipFile(www / "toy.zip", "w") as zipped:
        zipped.writestr("Toy/images/validation/a.png", png_bytes(1))
        zipped.writestr("Toy/images/training/b.png", png_bytes(2))
        zipped.writestr("__MACOSX/Toy/._a.png", b"resource fork")
    data = (www / "toy.zip").read_bytes()
    archive = Archive(url=f"{url}/toy.zip", filename="toy.zip", size=len(data), sha1=hashlib.sha1(data).hexdigest(),
                      md5=hashlib.md5(data).hexdigest(), members=("Toy/images/validation/",))
    manifest = make_manifest(archive, files=(ManifestFile("images/validation/a.png"),))
    statuses = list(fetch(manifest, tmp_path / "data"))
    assert [(s.path, s.status) for s in statuses] == [("images/validation/a.png", "ok")]
    assert (tmp_path / "data" / "Toy" / "images" / "validation" / "a.png").read_bytes() == png_bytes(1)
    assert not (tmp_path / "data" / "Toy" / "images" / "training").exists()
    assert not (tmp_path / "data" / "__MACOSX").exists()
    assert [p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".extract")] == []
    # A second fetch with everything present downloads nothing: the server's file may even be gone.
    (www / "toy.zip").unlink()
    assert [s.status for s in fetch(manifest, tmp_path / "data")] == ["ok"]


def test_archive_with_the_wrong_digest_is_removed_and_reported(server, tmp_path):
    www, url = server
    with zipfile.ZipFile(www / "toy.zip", "w") as zipped:
        zipped.writestr("Toy/x.png", png_bytes(3))
    archive = Archive(url=f"{url}/toy.zip", filename="toy.zip", md5="0" * 32)
    with pytest.raises(DatasetError, match="md5 .* expected 0{32}; it was removed"):
        fetch_archive(make_manifest(archive), tmp_path / "data")
    assert not (tmp_path / "data" / ".downloads" / "toy.zip").exists()
    assert not (tmp_path / "data" / "Toy").exists()


def test_clic_count_check_and_dataset(server, tmp_path):
    """CLIC has no file list: verify and the dataset check the image count (41) of clic/valid."""
    www, url = server
    with zipfile.ZipFile(www / "clic.zip", "w") as zipped:
        for index in range(41):
            zipped.writestr(f"valid/photo-{index:02d}.png", png_bytes(index))
    data = (www / "clic.zip").read_bytes()
    clic = load_manifest("clic")
    archive = Archive(**{**clic.archive.__dict__, "url": f"{url}/clic.zip", "md5": hashlib.md5(data).hexdigest()})
    manifest = Manifest(**{**clic.__dict__, "archive": archive})
    statuses = list(fetch(manifest, tmp_path / "data"))
    assert [(s.path, s.status) for s in statuses] == [("41 images", "ok")]
    samples = datasets.get("clic")(tmp_path / "data").samples()
    assert len(samples) == 41 and samples[0].image_id == "photo-00" and samples[0].load().shape == (4, 4, 3)
    (tmp_path / "data" / "clic" / "valid" / "photo-40.png").unlink()
    with pytest.raises(DatasetError, match="found 40 PNG images .* expected 41"):
        datasets.get("clic")(tmp_path / "data").samples()
    assert [s.status for s in verify(manifest, tmp_path / "data")] == ["missing"]

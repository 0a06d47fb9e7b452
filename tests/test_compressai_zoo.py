"""CompressAI zoo codecs from local files (random weights): file discovery, official digests, provenance."""

import pytest
import torch
from compressai.zoo import image_models

from bench.checkpoints import CheckpointMismatch
from bench.codecs import compressai_zoo
from bench.codecs.compressai_zoo import BMSHJ2018Factorized, MBT2018Mean, official_filename
from bench.codecs.learned import pad_center
from bench.download import sha256_of_file
from bench.errors import BenchError, CheckpointError


def legacy_state_dict(model):
    """As an old DataParallel checkpoint: 'module.' prefixes and the fork's EntropyBottleneck names."""
    out = {}
    for key, value in model.state_dict().items():
        for plural, single in (("matrices.", "_matrix"), ("biases.", "_bias"), ("factors.", "_factor")):
            key = key.replace(f"entropy_bottleneck.{plural}", f"entropy_bottleneck.{single}")
        out[f"module.{key}"] = value
    return out


def test_factorized_codec_round_trip_from_a_legacy_file(tmp_path):
    torch.manual_seed(0)
    model = image_models["bmshj2018-factorized"](quality=1).eval()
    torch.save(legacy_state_dict(model), tmp_path / "my-factorized.pth")
    codec = BMSHJ2018Factorized(checkpoint=str(tmp_path / "my-factorized.pth"), qualities=[1])
    assert codec.rate_points() == (1.0,)
    x = torch.rand(1, 3, 48, 80)
    bitstream = codec.encode(x, 1)
    assert bitstream.header["codec"] == "bmshj2018-factorized" and len(bitstream.header["string_lengths"]) == 1
    x_hat = codec.decode(bitstream)
    model.update(force=True)
    with torch.inference_mode():
        padded, (left, _, top, _) = pad_center(x, 64)
        result = model.compress(padded)
        direct = model.decompress(result["strings"], result["shape"])["x_hat"].clamp(0, 1)
        assert result["strings"][0][0] == codec.model(1).compress(padded)["strings"][0][0]
    assert torch.equal(x_hat, direct[..., top : top + 48, left : left + 80])
    assert codec.config()["checkpoint_sha256"] == {"1": sha256_of_file(tmp_path / "my-factorized.pth")}


def test_official_names_are_found_and_their_digest_is_checked_up_front(tmp_path):
    torch.manual_seed(0)
    name = official_filename("mbt2018-mean", "mse", 2)
    assert name == "mbt2018-mean-2-e54a039d.pth.tar"
    torch.save(image_models["mbt2018-mean"](quality=2).state_dict(), tmp_path / name)
    with pytest.raises(CheckpointError, match="its official name says e54a039d"):
        MBT2018Mean(checkpoint=str(tmp_path))
    renamed = tmp_path / "renamed" / "mbt2018-mean.pth.tar"
    renamed.parent.mkdir()
    (tmp_path / name).rename(renamed)
    with pytest.raises(CheckpointError, match=r"cannot tell its quality.*qualities = \[1\]"):
        MBT2018Mean(checkpoint=str(renamed))
    assert MBT2018Mean(checkpoint=str(renamed), qualities=[2]).rate_points() == (2.0,)


def test_a_list_of_self_trained_files_is_a_curve(tmp_path):
    files = []
    for quality in (1, 6):  # qualities 1-5 share one size (N=128, M=192), 6-8 another (192, 320)
        torch.manual_seed(quality)
        files.append(tmp_path / f"my model q{quality}.pth.tar")
        torch.save(image_models["bmshj2018-factorized"](quality=quality).state_dict(), files[-1])
    codec = BMSHJ2018Factorized(checkpoint=[str(f) for f in files], qualities=[1, 6])
    assert codec.rate_points() == (1.0, 6.0)
    provenance = codec.provenance()
    assert provenance["official"] is False
    assert provenance["checkpoints"]["6"] == {"path": str(files[1]), "sha256": sha256_of_file(files[1])}
    with pytest.raises(CheckpointError, match="lists 2 file\\(s\\) but qualities has 1"):
        BMSHJ2018Factorized(checkpoint=[str(f) for f in files], qualities=[1])
    with pytest.raises(CheckpointError, match=r"qualities = \[1, 1\]"):
        BMSHJ2018Factorized(checkpoint=[str(f) for f in files])
    with pytest.raises(CheckpointError, match="does not match a CompressAI bmshj2018-factorized model"):
        BMSHJ2018Factorized(checkpoint=[str(f) for f in files], qualities=[6, 1])  # q1 weights in a q6 model


def test_provenance_is_official_only_for_the_released_digest(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(image_models["bmshj2018-factorized"](quality=1).state_dict(), path)
    digest = sha256_of_file(path)
    codec = BMSHJ2018Factorized(checkpoint=str(path), qualities=[1])
    assert codec.provenance() == {"checkpoints": {"1": {"path": str(path), "sha256": digest}}, "official": False}
    # As if this file were the released one: CompressAI names it with the first 8 hex digits of its sha256.
    monkeypatch.setattr(compressai_zoo, "official_digest_prefix", lambda *args: digest[:8])
    assert codec.provenance()["official"] is True


def test_checkpoint_of_another_zoo_architecture_is_named_up_front(tmp_path):
    torch.manual_seed(0)
    torch.save(image_models["bmshj2018-hyperprior"](quality=1).state_dict(), tmp_path / "weights.pth")
    with pytest.raises(CheckpointMismatch, match="looks like a CompressAI bmshj2018-hyperprior checkpoint"):
        MBT2018Mean(checkpoint=str(tmp_path / "weights.pth"), qualities=[1])


def test_missing_folder_content_names_the_official_files(tmp_path):
    with pytest.raises(CheckpointError, match="bmshj2018-factorized-prior-1-446d5c7f.pth.tar"):
        BMSHJ2018Factorized(checkpoint=str(tmp_path))
    with pytest.raises(BenchError, match=r"zoo qualities \[1, 2, 3, 4, 5, 6, 7, 8\], got 9"):
        BMSHJ2018Factorized(checkpoint=str(tmp_path), qualities=[9])

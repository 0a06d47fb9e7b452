"""CompressAI zoo codecs from local files (random weights), and the learned codecs' registry entries."""

import pytest
import torch
from compressai.zoo import image_models

from bench.codecs import codecs
from bench.checkpoints import CheckpointMismatch
from bench.codecs.compressai_zoo import BMSHJ2018Factorized, MBT2018Mean, official_filename
from bench.codecs.learned import pad_center
from bench.errors import CheckpointError

LEARNED = ["mpa", "mpa-enc", "tinylic", "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
           "cheng2020-anchor", "cheng2020-attn"]


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
    codec = BMSHJ2018Factorized(checkpoint=str(tmp_path / "my-factorized.pth"), qualities=(1,))
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
    assert codec.config()["checkpoint_sha256"]["1"] and codec.config()["qualities"] == [1]


def test_official_names_are_found_and_their_digest_is_checked(tmp_path):
    torch.manual_seed(0)
    name = official_filename("mbt2018-mean", "mse", 2)
    assert name == "mbt2018-mean-2-e54a039d.pth.tar"
    torch.save(image_models["mbt2018-mean"](quality=2).state_dict(), tmp_path / name)
    codec = MBT2018Mean(checkpoint=str(tmp_path))
    assert codec.rate_points() == (2.0,)
    with pytest.raises(CheckpointError, match="its official name says e54a039d"):
        codec.encode(torch.rand(1, 3, 64, 64), 2)
    renamed = tmp_path / "renamed" / "mbt2018-mean.pth.tar"
    renamed.parent.mkdir()
    (tmp_path / name).rename(renamed)
    with pytest.raises(CheckpointError, match="cannot tell its quality"):
        MBT2018Mean(checkpoint=str(renamed))


def test_checkpoint_of_another_zoo_architecture_is_named(tmp_path):
    torch.manual_seed(0)
    torch.save(image_models["bmshj2018-hyperprior"](quality=1).state_dict(), tmp_path / "weights.pth")
    codec = MBT2018Mean(checkpoint=str(tmp_path / "weights.pth"), qualities=(1,))
    with pytest.raises(CheckpointMismatch, match="looks like a CompressAI bmshj2018-hyperprior checkpoint"):
        codec.encode(torch.rand(1, 3, 64, 64), 1)


def test_missing_folder_content_names_the_official_files(tmp_path):
    with pytest.raises(CheckpointError, match="bmshj2018-factorized-prior-1-446d5c7f.pth.tar"):
        BMSHJ2018Factorized(checkpoint=str(tmp_path))


@pytest.mark.parametrize("name", LEARNED)
def test_registry_entries_resolve_to_classes_of_that_name(name):
    assert codecs.get(name).name == name

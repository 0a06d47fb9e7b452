"""Checkpoint loading: official formats load unchanged, everything else fails with a message that says why."""

import argparse

import pytest
import torch

from bench.checkpoints import CheckpointMismatch, clean_message, normalize_keys, read_state_dict
from bench.codecs.learned import identify_checkpoint
from bench.codecs.mpa import MPA, MPACodec, MPAEnc
from bench.codecs.tinylic import TinyLIC, TinyLICCodec
from bench.errors import CheckpointError

N = 32  # small random models: the loading logic does not depend on the width


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {"mpa": MPA(N=N).eval(), "mpa-enc": MPAEnc(N=N).eval(), "tinylic": TinyLIC(N=N).eval()}


def official_file(path, state_dict, prefix="", wrap=True, **extra):
    """What the training scripts save: {epoch, state_dict, loss, optimizer, ...}; DataParallel adds 'module.'."""
    state_dict = {prefix + k: v for k, v in state_dict.items()}
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}
    obj = {"epoch": 399, "state_dict": state_dict, "loss": torch.tensor(1.5), "optimizer": optimizer, **extra}
    obj = obj if wrap else state_dict
    torch.save(obj, path)
    return path


def assert_same_weights(model, loaded):
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith(("_quantized_cdf", "_offset",
                                                                                   "_cdf_length", "scale_table"))}
    actual = loaded.state_dict()
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


@pytest.mark.parametrize("prefix, wrap", [("module.", True), ("", False)])
def test_official_format_round_trip(models, tmp_path, prefix, wrap):
    path = official_file(tmp_path / "checkpoint.pth.tar", models["mpa"].state_dict(), prefix, wrap)
    loaded = MPA.from_checkpoint(path)
    assert_same_weights(models["mpa"], loaded)
    assert not loaded.training
    assert loaded.entropy_bottleneck._quantized_cdf.numel() > 0  # update(force=True) ran
    assert loaded.gaussian_conditional.scale_table.numel() == 64


def test_legacy_entropy_bottleneck_names_and_stale_cdf_buffers_load(models, tmp_path):
    model = models["tinylic"]
    model.update(force=True)  # non-empty CDF buffers, as in a checkpoint saved after update()
    state = {}
    for key, value in model.state_dict().items():
        for kind, plural in (("_matrix", "_matrices."), ("_bias", "_biases."), ("_factor", "_factors.")):
            if key.startswith(f"entropy_bottleneck.{kind}"):
                key = f"entropy_bottleneck.{plural}{key[-1]}"  # CompressAI < 1.1 ParameterList names
        state[key] = value
    state["entropy_bottleneck._quantized_cdf"] = torch.zeros(3, 7, dtype=torch.int32)  # stale tables: recomputed
    loaded = TinyLIC.from_checkpoint(official_file(tmp_path / "legacy.pth.tar", state))
    assert_same_weights(model, loaded)
    assert torch.equal(loaded.entropy_bottleneck._quantized_cdf, model.entropy_bottleneck._quantized_cdf)


def test_key_spellings_are_normalised_to_the_target_model():
    fork_target = {"entropy_bottleneck._matrix0", "g_a.0.skip.weight"}
    upstream_target = {"entropy_bottleneck.matrices.0"}
    state = {"module.entropy_bottleneck.matrices.0": 1, "g_a.0.downsample.weight": 2}
    assert set(normalize_keys(state, fork_target)) == {"entropy_bottleneck._matrix0", "g_a.0.skip.weight"}
    assert set(normalize_keys({"entropy_bottleneck._matrix0": 1}, upstream_target)) == upstream_target
    assert set(normalize_keys({"entropy_bottleneck._matrices.0": 1}, upstream_target)) == upstream_target


@pytest.mark.parametrize(
    "source, target, message",
    [
        ("mpa-enc", MPA, "this looks like an MPAEnc / stage-1 checkpoint: use it with --checkpoint mpa-enc=PATH"),
        ("mpa", MPAEnc, "this looks like an MPA (stage-2, all-in-one) checkpoint"),
        ("tinylic", MPA, "this looks like a TinyLIC checkpoint"),
        ("mpa", TinyLIC, "this looks like an MPA (stage-2, all-in-one) checkpoint"),
    ],
)
def test_checkpoint_of_another_architecture_is_named(models, tmp_path, source, target, message):
    path = official_file(tmp_path / "other.pth.tar", models[source].state_dict())
    with pytest.raises(CheckpointMismatch) as error:
        target.from_checkpoint(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert error.value.detected == source
    assert error.value.missing or error.value.unexpected


def test_missing_relative_position_bias_and_wrong_shapes_are_listed(models, tmp_path):
    state = dict(models["mpa"].state_dict())
    del state["g_a1.residual_group.blocks.0.attn.rpb"]
    state["Gain"] = torch.ones(4, 320)
    with pytest.raises(CheckpointMismatch) as error:
        MPA.from_checkpoint(official_file(tmp_path / "bad.pth.tar", state))
    message = str(error.value)
    assert "relative position bias" in message and "9dea541" in message
    assert "1 missing key(s) (g_a1.residual_group.blocks.0.attn.rpb)" in message
    assert "Gain (4, 320) vs model (8, 320)" in message
    assert error.value.mismatched == [("Gain", (4, 320), (8, 320))]


def test_compressai_zoo_checkpoint_is_named_without_the_transformer_hint(tmp_path):
    from compressai.zoo import image_models

    path = official_file(tmp_path / "zoo.pth.tar", image_models["bmshj2018-factorized"](quality=1).state_dict(),
                         wrap=False)
    with pytest.raises(CheckpointMismatch, match="looks like a CompressAI bmshj2018-factorized checkpoint") as error:
        MPA.from_checkpoint(path)
    assert "g_a1.residual_group.blocks.0.attn.rpb" in error.value.missing
    assert "relative position bias" not in str(error.value)  # a zoo file is not an old MPA: no such hint


def test_a_state_dict_of_nothing_known_is_not_named():
    assert identify_checkpoint({"conv.weight": torch.zeros(3, 3, 1, 1)}) is None


def test_missing_file_names_the_path_and_where_the_weights_come_from(tmp_path):
    path = tmp_path / "nowhere" / "checkpoint_step3.pth.tar"
    with pytest.raises(CheckpointError) as error:
        MPACodec(checkpoint=str(path))
    message = str(error.value)
    assert str(path) in message and "github.com/NJUVISION/MPA" in message
    assert "--checkpoint mpa=PATH" in message and "Google Drive" in message


def test_directories_and_link_loops_get_their_own_message(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="is a directory; pass a checkpoint file"):
        MPACodec(checkpoint=str(folder))
    loop = tmp_path / "loop.pth.tar"
    loop.symlink_to(tmp_path / "loop.pth.tar")
    for codec in (MPACodec, TinyLICCodec):
        with pytest.raises(CheckpointError, match="is a symbolic link loop") as error:
            codec(checkpoint=str(loop))
        assert "not found" not in str(error.value)
    dangling = tmp_path / "dangling.pth.tar"
    dangling.symlink_to(tmp_path / "nowhere.pth.tar")
    with pytest.raises(CheckpointError, match="not found \\(a symbolic link to nothing\\)"):
        read_state_dict(dangling)


def test_error_messages_carry_no_terminal_escape_codes():
    colored = RuntimeError("\x1b[1m\x1b[31mWeights only load failed.\x1b[0m Re-running with \x1b[4mTrue\x1b[0m\nmore")
    assert clean_message(colored) == "Weights only load failed. Re-running with True"
    assert clean_message(ValueError("")) == "ValueError"


def test_unsafe_or_empty_files_are_refused(tmp_path):
    unsafe = tmp_path / "unsafe.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}, unsafe)
    with pytest.raises(CheckpointError, match=r"weights_only=True") as error:
        read_state_dict(unsafe)
    assert "\x1b" not in str(error.value)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_state_dict(garbage)
    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(CheckpointError, match="holds no state dict"):
        read_state_dict(empty)


@pytest.mark.slow
def test_full_size_official_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = MPA().eval()
    path = official_file(tmp_path / "checkpoint_step3.pth.tar", model.state_dict(), "module.",
                         aux_optimizer={"state": {}}, lr_scheduler={"milestones": {300: 1}})
    assert_same_weights(model, MPA.from_checkpoint(path))

"""PSPNet-50: the state_dict layout against the semseg checkpoint schema, the architecture facts, strict loading of
an official-format checkpoint, and the official input handling (replicate pad to 8k+1, ImageNet normalisation).

Random weights only; no number from these networks is a result."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.errors import CheckpointError
from bench.tasks import tasks
from bench.tasks.segmentation import PSPNET50_ADE20K, PSPNet50, Segmenter, load_pspnet50, num_parameters

ASSETS = Path(__file__).parent / "assets"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PSPNet50().eval()


def test_state_dict_matches_the_semseg_schema(model):
    """Oracle: every key and shape of pspnet_train_epoch_100.pth (schema pspnet50_ade20k)."""
    schema = json.loads((ASSETS / "state_dict_schemas.json").read_text())["pspnet50_ade20k"]
    state = model.state_dict()
    assert sorted(state) == sorted(schema["state_dict"])
    assert {k: list(v.shape) for k, v in state.items()} == schema["state_dict"]
    # The schema's parameter count is the sum over its non-buffer entries; the model's is the same number.
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    from_schema = sum(int(np.prod(shape)) for key, shape in schema["state_dict"].items() if not key.endswith(buffers))
    assert from_schema == schema["num_parameters"] == 49_180_908
    assert num_parameters(model) == PSPNET50_ADE20K.num_parameters == 49_180_908
    assert tasks.get("pspnet50.ade20k") is PSPNET50_ADE20K


def test_dilated_backbone_and_pyramid(model):
    """PSPNet-50 facts: stride 2 only in layer2's first block, dilation 2 in layer3 and 4 in layer4, PPM bins
    1/2/3/6, so the feature map is 1/8 of the input (65x65 for 513x513, 5x5 for 33x33)."""
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].downsample[0].stride == (2, 2)
    for block in model.layer3:
        assert block.conv2.dilation == (2, 2) and block.conv2.padding == (2, 2) and block.conv2.stride == (1, 1)
    for block in model.layer4:
        assert block.conv2.dilation == (4, 4) and block.conv2.stride == (1, 1)
    assert model.layer3[0].downsample[0].stride == (1, 1) and model.layer4[0].downsample[0].stride == (1, 1)
    assert [branch[0].output_size for branch in model.ppm.features] == [1, 2, 3, 6]
    shapes = []
    hook = model.layer4.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape)))
    try:
        with torch.no_grad():
            logits, aux = model(torch.rand(1, 3, 33, 33), with_aux=True)
    finally:
        hook.remove()
    assert shapes == [(1, 2048, 5, 5)]
    assert logits.shape == aux.shape == (1, 150, 33, 33)
    with pytest.raises(ValueError, match="8k\\+1"):
        model(torch.rand(1, 3, 64, 64))


def test_official_checkpoint_format_loads_strictly(model, tmp_path):
    """A {'state_dict': {'module.' + key: ...}} file, as semseg saves it, loads to the same network."""
    state = model.state_dict()
    torch.save({"epoch": 100, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "psp.pth")
    loaded = load_pspnet50(tmp_path / "psp.pth")
    x = torch.rand(1, 3, 33, 41)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def _layout(model):
    """The checkpoint's keys and shapes with one-element storages (expanded zeros), so the files stay tiny."""
    return {key: torch.zeros((), dtype=value.dtype).expand(value.shape) for key, value in model.state_dict().items()}


def test_checkpoints_of_another_layout_are_refused(model, tmp_path):
    state = _layout(model)
    del state["ppm.features.3.2.running_var"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="1 missing key\\(s\\) \\(ppm.features.3.2.running_var\\)"):
        load_pspnet50(tmp_path / "missing.pth")
    state = _layout(model)
    state["cls.4.weight"] = torch.zeros(21, 512, 1, 1)  # a PASCAL VOC (21-class) head
    torch.save(state, tmp_path / "voc.pth")
    with pytest.raises(CheckpointError, match="1 shape mismatch\\(es\\) \\(cls.4.weight \\(21, 512, 1, 1\\) vs model"):
        load_pspnet50(tmp_path / "voc.pth")
    state = _layout(model)
    state["extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="1 unexpected key\\(s\\) \\(extra.weight\\)"):
        load_pspnet50(tmp_path / "extra.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_pspnet50(tmp_path / "junk.pth")


def test_segmenter_pads_normalises_and_batches(model):
    """Second implementation of the official input path: clamp, replicate-pad right/bottom to 8k+1, ImageNet
    mean/std, argmax of the upsampled logits; one forward for all reconstructions, chunked when asked."""
    torch.manual_seed(1)
    images = [torch.rand(1, 3, 32, 32) * 1.2 - 0.1 for _ in range(2)]
    segmenter = Segmenter(model, Path("random-weights"), "cpu")
    labels = segmenter.predict(images)
    assert labels.shape == (2, 33, 33) and labels.dtype == np.int64
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    padded = F.pad(torch.cat(images).clamp(0, 1), (0, 1, 0, 1), mode="replicate")
    with torch.no_grad():
        expected = model((padded - mean) / std).argmax(dim=1).numpy()
    assert np.array_equal(labels, expected)
    assert segmenter.predict(images) is labels  # same tensors: the memo answers
    images[0].add_(0.5)  # modified in place: recomputed
    recomputed = segmenter.predict(images)
    assert recomputed is not labels
    assert np.array_equal(Segmenter(model, Path("random-weights"), "cpu", batch_size=1).predict(images), recomputed)
    with torch.inference_mode():  # what learned codecs decode to: tensors without a version counter
        decoded = [image.clone() for image in images]
    assert np.array_equal(segmenter.predict(decoded), recomputed)
    assert segmenter.predict(decoded) is segmenter.predict(decoded)

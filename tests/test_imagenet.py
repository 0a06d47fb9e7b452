"""ImageNet val: the official preprocessing against torchvision's transforms, the class order against the MPA
repository's label names, and the accepted layouts (synset folders; flat with LOC_val_solution.csv, val.txt or
the devkit ground truth + meta.mat)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from bench.data import datasets
from bench.data.imagenet import ImageNetVal, load_image, preprocess, resized_size, synsets
from bench.errors import DatasetError

ASSETS = Path(__file__).parent / "assets"
SAMPLES = ("ILSVRC2012_val_00022926", "ILSVRC2012_val_00035565")


def real_image(image_id: str) -> Image.Image:
    return Image.open(ASSETS / f"{image_id}.png").convert("RGB")


def official(image: Image.Image) -> np.ndarray:
    """The official evaluation's transforms (eval_cls_real_bpp.py), up to ToTensor, as uint8."""
    pipeline = transforms.Compose([
        transforms.Resize(int(256 / 0.875), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(256),
    ])
    return np.asarray(pipeline(image))


@pytest.mark.parametrize("size", [(256, 256), (500, 375), (375, 500), (333, 291), (1024, 300), (292, 700)])
def test_preprocessing_equals_torchvision(size):
    """Oracle: torchvision Resize(292, bicubic) + CenterCrop(256) on the same PIL image, pixel for pixel."""
    image = real_image(SAMPLES[0]).resize(size, Image.BICUBIC)
    ours = preprocess(image)
    assert ours.shape == (256, 256, 3) and ours.dtype == np.uint8
    assert np.array_equal(ours, official(image))


def test_resized_size_hand_cases():
    assert resized_size(500, 375) == (389, 292)  # int(292 * 500 / 375) = int(389.33)
    assert resized_size(375, 500) == (292, 389)
    assert resized_size(292, 292) == (292, 292)


def test_class_order_matches_the_mpa_label_names():
    """Index i of our synset list names the same class as index i of the MPA repository's label file (via timm's
    WordNet lemmas): the classifier's output index and the dataset's target agree."""
    from timm.data import ImageNetInfo

    words = json.loads((ASSETS / "imagenet1k_label_to_words.json").read_text())
    info = ImageNetInfo()
    wnids = synsets()
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids) and wnids[0] == "n01440764"
    assert all(info.label_name_to_description(wnids[i]) == words[str(i)] for i in range(1000))


def save_jpeg(path: Path, image_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    real_image(image_id).resize((500, 375), Image.BICUBIC).save(path, "JPEG", quality=95)


def test_synset_folder_layout(tmp_path, monkeypatch):
    save_jpeg(tmp_path / "imagenet" / "val" / "n01440764" / f"{SAMPLES[0]}.JPEG", SAMPLES[0])  # class 0 (tench)
    save_jpeg(tmp_path / "imagenet" / "val" / "n15075141" / f"{SAMPLES[1]}.JPEG", SAMPLES[1])  # 999 (toilet tissue)
    dataset = datasets.get("imagenet")(tmp_path)  # DIR/imagenet is found under --data-root DIR
    assert dataset.name == "imagenet"
    samples = dataset.samples()
    assert [(s.image_id, s.target) for s in samples] == [(SAMPLES[0], 0), (SAMPLES[1], 999)]
    image = samples[0].load()
    assert image.dtype == np.uint8 and image.shape == (256, 256, 3)
    assert np.array_equal(image, official(Image.open(samples[0].path).convert("RGB")))
    assert len(ImageNetVal(tmp_path / "imagenet", limit=1).samples()) == 1
    monkeypatch.setenv("MPA_BENCH_DATA", str(tmp_path))
    assert [s.image_id for s in ImageNetVal(None).samples()] == list(SAMPLES)


@pytest.fixture
def flat(tmp_path):
    for image_id in SAMPLES:
        save_jpeg(tmp_path / f"{image_id}.JPEG", image_id)
    return tmp_path


def test_flat_layout_with_loc_solution(flat):
    (flat / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        f"{SAMPLES[1]},n01443537 10 20 30 40 n01443537 1 2 3 4\n"
        f"{SAMPLES[0]},n15075141 5 5 50 50\n"
    )
    assert [s.target for s in ImageNetVal(flat).samples()] == [999, 1]


def test_flat_layout_with_val_txt(flat):
    (flat / "val.txt").write_text(f"{SAMPLES[0]}.JPEG 65\n{SAMPLES[1]}.JPEG 970\n")
    assert [s.target for s in ImageNetVal(flat).samples()] == [65, 970]
    (flat / "val.txt").write_text(f"{SAMPLES[0]}.JPEG 1000\n")
    with pytest.raises(DatasetError, match="label 0..999"):
        ImageNetVal(flat).samples()


def write_meta_mat(path: Path, wnid_of_id: dict[int, str]) -> None:
    """A devkit-style meta.mat: one struct per synset (leaves have num_children 0), plus one inner node."""
    from scipy.io import savemat

    dtype = np.dtype([("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")])
    entries = np.empty((len(wnid_of_id) + 1, 1), dtype=dtype)
    for row, (ilsvrc_id, wnid) in enumerate(sorted(wnid_of_id.items())):
        entries[row, 0] = (ilsvrc_id, wnid, "", 0)
    entries[len(wnid_of_id), 0] = (1001, "n00001740", "entity", 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"synsets": entries})


def test_flat_layout_with_devkit_ground_truth(flat):
    """The devkit numbers classes by ILSVRC2012_ID, not by sorted WordNet id: here ID 1 is n15075141 (sorted
    index 999) and ID 2 is n01440764 (index 0); meta.mat is what maps one to the other."""
    wnids = list(synsets())
    devkit_order = [wnids[999], wnids[0]] + wnids[1:999]
    data = flat / "ILSVRC2012_devkit_t12" / "data"
    write_meta_mat(data / "meta.mat", {i + 1: w for i, w in enumerate(devkit_order)})
    truth = ["3"] * 22925 + ["1"] + ["3"] * (35565 - 22926 - 1) + ["2"]  # val_00022926 -> ID 1, val_00035565 -> ID 2
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(truth) + "\n")
    assert [s.target for s in ImageNetVal(flat).samples()] == [999, 0]
    (data / "meta.mat").unlink()
    with pytest.raises(DatasetError, match="need the devkit's meta.mat"):
        ImageNetVal(flat).samples()


def test_layout_errors(flat, tmp_path, monkeypatch):
    monkeypatch.delenv("MPA_BENCH_DATA", raising=False)
    with pytest.raises(DatasetError, match="LOC_val_solution.csv, val.txt or"):
        ImageNetVal(flat).samples()
    (flat / "val.txt").write_text(f"{SAMPLES[0]}.JPEG 1\n")
    with pytest.raises(DatasetError, match=f"no label for 1 images \\(first: {SAMPLES[1]}.JPEG\\)"):
        ImageNetVal(flat).samples()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="neither synset folders"):
        ImageNetVal(tmp_path / "empty").samples()
    with pytest.raises(DatasetError, match="--data-root"):
        ImageNetVal(None).samples()


def test_unreadable_image_names_the_file(tmp_path):
    from bench.errors import ImageError

    (tmp_path / "broken.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match="broken.JPEG: cannot decode"):
        load_image(tmp_path / "broken.JPEG")


# ---------------------------------------------------------------------------------------------------- classifiers


@pytest.mark.parametrize("name,parameters", [("convnext_tiny.fb_in1k", 28_589_128), ("resnet50.tv_in1k", 25_557_032)])
def test_classifiers_build_with_the_published_parameter_counts(name, parameters):
    """Oracles: timm's ConvNeXt-T (28.59 M parameters) and torchvision's ResNet-50 (25,557,032 in its docs)."""
    import torch

    from bench.tasks import tasks
    from bench.tasks.classification import build_network

    model = build_network(name).eval()
    assert sum(p.numel() for p in model.parameters()) == parameters == tasks.get(name).num_parameters
    with torch.no_grad():
        assert model(torch.rand(1, 3, 256, 256)).shape == (1, 1000)  # 256x256 input, no resize to 224


def test_classifier_weights_of_another_architecture_are_refused(tmp_path):
    import torch

    from bench.errors import CheckpointError
    from bench.tasks.classification import build_network, load_network

    state = build_network("resnet50.tv_in1k").state_dict()
    layout = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in state.items()}  # tiny file, same shapes
    torch.save({"state_dict": {f"module.{k}": v for k, v in layout.items()}}, tmp_path / "resnet.pth")
    assert isinstance(load_network("resnet50.tv_in1k", tmp_path / "resnet.pth"), torch.nn.Module)
    with pytest.raises(CheckpointError, match="does not match convnext_tiny.fb_in1k model"):
        load_network("convnext_tiny.fb_in1k", tmp_path / "resnet.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read the safetensors file"):
        load_network("convnext_tiny.fb_in1k", tmp_path / "junk.safetensors")

"""Small end-to-end task runs: real ImageNet/ADE20K samples through a classical codec (and a random-weight MPA once
``bench.codecs.mpa`` exists), scored by task networks with random weights loaded from local files.

Random weights only: these tests check plumbing and bookkeeping against independent recomputations; no number
from them is a result."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.codecs.classical import JPEG
from bench.data.ade20k import preprocess_image, preprocess_label
from bench.engine.run import run_suite
from bench.engine.suite import CodecSpec, DatasetSpec, SuiteConfig
from bench.metrics.task import MeanAccuracy, MeanIoU, Top1, Top5, intersection_and_union, segmentation_scores
from bench.schema import Sample
from bench.tasks.classification import build_network
from bench.tasks.segmentation import PSPNet50
from bench.tensors import image_to_tensor

ASSETS = Path(__file__).parent / "assets"
IMAGENET = {"ILSVRC2012_val_00022926": "n01440764", "ILSVRC2012_val_00035565": "n02119789"}  # classes 0 and 278
ADE = ("ADE_val_00000269", "ADE_val_00001200")
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def convnext_file(tmp_path_factory):
    """A random-weight ConvNeXt-T saved as safetensors, as the Hugging Face file would be."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build_network("convnext_tiny.fb_in1k")
    path = tmp_path_factory.mktemp("weights") / "convnext_tiny.fb_in1k.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model.eval()


@pytest.fixture(scope="module")
def pspnet_file(tmp_path_factory):
    """A random-weight PSPNet-50 saved in the semseg checkpoint format."""
    torch.manual_seed(0)
    model = PSPNet50().eval()
    path = tmp_path_factory.mktemp("weights") / "pspnet_train_epoch_100.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    return path, model


def jpeg_round_trip(image: np.ndarray, quality: int) -> torch.Tensor:
    """Oracle codec path written independently of bench.codecs: Pillow JPEG 4:2:0 at ``quality``."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling="4:2:0")
    return torch.from_numpy(np.array(Image.open(buffer).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


def test_imagenet_task_run_through_the_engine(tmp_path, monkeypatch, convnext_file):
    """Two real ImageNet images (synset-folder layout), JPEG at two qualities, top-1/top-5 by a random ConvNeXt-T:
    the engine's stored values equal an independent recomputation (Pillow JPEG, timm forward with ImageNet
    normalisation, argmax against the folder's class)."""
    path, model = convnext_file
    monkeypatch.setenv("MPA_BENCH_CONVNEXT_TINY_WEIGHTS", str(path))
    for image_id, wnid in IMAGENET.items():
        folder = tmp_path / "imagenet" / "val" / wnid
        folder.mkdir(parents=True)
        Image.open(ASSETS / f"{image_id}.png").convert("RGB").resize((341, 256), Image.BICUBIC).save(
            folder / f"{image_id}.JPEG", quality=95
        )
    suite = SuiteConfig(
        name="task-e2e",
        datasets=(DatasetSpec("imagenet", root=str(tmp_path / "imagenet")),),
        codecs=(CodecSpec("jpeg", "jpeg", {"subsampling": "4:2:0"}, (10.0, 50.0)),),
        metrics=("psnr-rgb", "top1", "top5"),
    )
    result = run_suite(suite, runs_dir=tmp_path / "runs", progress=False)
    assert result.plan.skipped == [] and result.outcome.failures == [] and result.outcome.computed == 4

    rows = result.curves.set_index("point")
    from bench.data.imagenet import ImageNetVal

    samples = ImageNetVal(tmp_path / "imagenet").samples()
    assert [s.target for s in samples] == [0, 278]
    for point in (10, 50):
        x_hat = torch.cat([jpeg_round_trip(sample.load(), point) for sample in samples])
        with torch.no_grad():
            rankings = model((x_hat - MEAN) / STD).argsort(dim=1, descending=True).tolist()
        correct1 = [100.0 * (ranking[0] == s.target) for ranking, s in zip(rankings, samples)]
        correct5 = [100.0 * (s.target in ranking[:5]) for ranking, s in zip(rankings, samples)]
        assert rows.loc[point, "top1"] == pytest.approx(np.mean(correct1))
        assert rows.loc[point, "top5"] == pytest.approx(np.mean(correct5))
        assert rows.loc[point, "images"] == 2


def test_other_classifier_weights_rescore_the_task_metric_only(tmp_path, monkeypatch, convnext_file):
    """Switching the ConvNeXt weights file: the stored codec rows (bytes, times, PSNR) are kept, top-1 is scored
    again from the stored bitstreams with the new network, and equals an independent forward of that network."""
    from safetensors.torch import save_file

    path, _ = convnext_file
    monkeypatch.setenv("MPA_BENCH_CONVNEXT_TINY_WEIGHTS", str(path))
    folder = tmp_path / "imagenet" / "val" / IMAGENET["ILSVRC2012_val_00022926"]
    folder.mkdir(parents=True)
    Image.open(ASSETS / "ILSVRC2012_val_00022926.png").convert("RGB").resize((341, 256), Image.BICUBIC).save(
        folder / "ILSVRC2012_val_00022926.JPEG", quality=95)
    suite = SuiteConfig(name="weights-switch", datasets=(DatasetSpec("imagenet", root=str(tmp_path / "imagenet")),),
                        codecs=(CodecSpec("jpeg", "jpeg", {"subsampling": "4:2:0"}, (10.0, 50.0)),),
                        metrics=("psnr-rgb", "top1"))
    first = run_suite(suite, runs_dir=tmp_path / "runs", progress=False)
    assert first.outcome.computed == 2
    torch.manual_seed(1)
    other = build_network("convnext_tiny.fb_in1k").eval()
    other_path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(other_path))
    monkeypatch.setenv("MPA_BENCH_CONVNEXT_TINY_WEIGHTS", str(other_path))
    second = run_suite(suite, runs_dir=tmp_path / "runs", progress=False)
    assert second.outcome.computed == 0 and second.outcome.rescored == 2 and second.outcome.reused == 0
    before = first.curves.set_index("point")
    after = second.curves.set_index("point")
    assert (after["bpp"] == before["bpp"]).all() and (after["psnr-rgb"] == before["psnr-rgb"]).all()
    (sample,) = __import__("bench.data.imagenet", fromlist=["ImageNetVal"]).ImageNetVal(tmp_path / "imagenet").samples()
    for point in (10, 50):
        with torch.no_grad():
            logits = other((jpeg_round_trip(sample.load(), point) - MEAN) / STD)
        assert after.loc[point, "top1"] == 100.0 * (int(logits.argmax()) == sample.target)
    # A third run with the same weights reuses everything.
    assert run_suite(suite, runs_dir=tmp_path / "runs", progress=False).outcome.reused == 2


def test_classification_batches_every_variant_in_one_forward(convnext_file):
    """compute_many sends all reconstructions of an image through one forward; top-1 and top-5 share it."""
    path, model = convnext_file
    top1, top5 = Top1(weights=path, device="cpu"), Top5(weights=path, device="cpu")
    assert top1.classifier is top5.classifier
    calls = []
    hook = top1.classifier.model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        image = np.asarray(Image.open(ASSETS / "ILSVRC2012_val_00022926.png").convert("RGB"))
        reconstructions = [jpeg_round_trip(image, q) for q in (5, 30, 90)]
        sample = Sample("ILSVRC2012_val_00022926", loader=lambda: image, target=0)
        first = top1.compute_many(image_to_tensor(image), reconstructions, sample)
        fifth = top5.compute_many(image_to_tensor(image), reconstructions, sample)
    finally:
        hook.remove()
    assert calls == [3]
    assert all(v in (0.0, 100.0) for v in first + fifth)
    assert all(f <= t for f, t in zip(first, fifth))


def test_ade20k_segmentation_on_jpeg_reconstructions(pspnet_file):
    """Crops of the two real ADE images (48x48, to keep PSPNet fast on the CPU) through JPEG, scored by a
    random PSPNet-50 loaded from a semseg-format file. Oracles: each image's target counts are the
    non-ignored pixels of the replicate-padded 49x49 label map, class by class (closed form); the counts equal
    those of a direct forward of the same network; the pooled mIoU follows the official formula."""
    path, model = pspnet_file
    miou, macc = MeanIoU(weights=path, device="cpu"), MeanAccuracy(weights=path, device="cpu")
    assert miou.segmenter is macc.segmenter
    values = []
    for image_id in ADE:
        image = preprocess_image(np.asarray(Image.open(ASSETS / f"{image_id}.png").convert("RGB")))[200:248, 100:148]
        label = preprocess_label(np.asarray(Image.open(ASSETS / f"{image_id}_gt.png")))[200:248, 100:148]
        x = image_to_tensor(np.ascontiguousarray(image))
        codec = JPEG()
        reconstructions = [codec.decode(codec.encode(x, q)) for q in (10, 60)]
        sample = Sample(image_id, loader=lambda: image, target=lambda: label)
        counts = miou.compute_many(x, reconstructions, sample)
        assert [c["target"].tolist() for c in macc.compute_many(x, reconstructions, sample)] == [
            c["target"].tolist() for c in counts
        ]
        padded = np.pad(label, ((0, 1), (0, 1)), mode="edge")
        valid = padded[padded != 255]
        x_in = torch.nn.functional.pad(torch.cat(reconstructions).clamp(0, 1), (0, 1, 0, 1), mode="replicate")
        with torch.no_grad():
            predictions = model((x_in - MEAN) / STD).argmax(dim=1).numpy()
        for value, prediction in zip(counts, predictions):
            assert value["target"].tolist() == np.bincount(valid, minlength=150).tolist()
            direct = intersection_and_union(prediction, padded)
            assert all(np.array_equal(value[k], direct[k]) for k in direct)
        values.append(counts[0])
    pooled = {k: values[0][k] + values[1][k] for k in values[0]}
    assert MeanIoU.aggregate(values) == pytest.approx(np.mean(pooled["intersection"] / (pooled["union"] + 1e-10)))
    assert MeanIoU.aggregate(values) == pytest.approx(segmentation_scores(pooled)["miou"])


@pytest.mark.slow
def test_ade20k_task_run_through_the_engine(tmp_path, monkeypatch, pspnet_file):
    """Both real ADE images at the official 512 crop, JPEG at two qualities, mIoU/mAcc/allAcc by a random
    PSPNet-50 through the engine (513x513 forwards: about a minute on two CPU cores)."""
    path, _ = pspnet_file
    monkeypatch.setenv("MPA_BENCH_PSPNET50_WEIGHTS", str(path))
    root = tmp_path / "ADEChallengeData2016"
    (root / "images" / "validation").mkdir(parents=True)
    (root / "annotations" / "validation").mkdir(parents=True)
    for image_id in ADE:
        Image.open(ASSETS / f"{image_id}.png").convert("RGB").save(root / "images" / "validation" / f"{image_id}.jpg")
        label = (ASSETS / f"{image_id}_gt.png").read_bytes()
        (root / "annotations" / "validation" / f"{image_id}.png").write_bytes(label)
    suite = SuiteConfig(
        name="seg-e2e",
        datasets=(DatasetSpec("ade20k", root=str(root)),),
        codecs=(CodecSpec("jpeg", "jpeg", {}, (10.0, 60.0)),),
        metrics=("psnr-rgb", "miou", "macc", "allacc"),
    )
    result = run_suite(suite, runs_dir=tmp_path / "runs", progress=False)
    assert result.plan.skipped == [] and result.outcome.failures == []
    curves = result.curves
    assert len(curves) == 2 and (curves["images"] == 2).all()
    for column in ("miou", "macc", "allacc"):
        assert curves[column].between(0.0, 1.0).all()


@pytest.mark.slow
def test_random_weight_mpa_variants_are_classified_in_one_batch(convnext_file):
    """One MPA bitstream (quality 1), decoded once per variant, alpha 0 (perceptual path) and alpha 1 (the
    classification path), both reconstructions classified in one forward. Random MPA weights: about a minute on
    two CPU cores (neighborhood attention at 256x256)."""
    from bench.codecs.mpa import MPA, MPACodec

    path, _ = convnext_file
    torch.manual_seed(0)
    model = MPA().eval()
    model.update(force=True)
    codec = MPACodec.from_model(model, qualities=(1.0,), alphas=(0.0, 1.0), tasks=("cls",))
    image = np.asarray(Image.open(ASSETS / "ILSVRC2012_val_00022926.png").convert("RGB"))
    x = image_to_tensor(image)
    bitstream = codec.encode(x, 1.0)
    decoded = list(codec.decode_variants(bitstream, codec.decoder_variants()))
    assert [item.variant for item in decoded] == ["alpha=0.0,task=cls", "alpha=1.0,task=cls"]
    reconstructions = [item.x_hat for item in decoded]
    assert all(r.shape == x.shape for r in reconstructions)
    top1 = Top1(weights=path, device="cpu")
    calls = []
    hook = top1.classifier.model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        sample = Sample("ILSVRC2012_val_00022926", loader=lambda: image, target=0)
        values = top1.compute_many(x, reconstructions, sample)
    finally:
        hook.remove()
    assert calls == [2] and all(v in (0.0, 100.0) for v in values)

"""Dataset registry. Each entry is written once here; the class's ``name`` must equal its registry name."""

from bench.registry import Registry

datasets: Registry = Registry("dataset")
datasets.add("sample", "bench.data.images:SampleDataset")
datasets.add("folder", "bench.data.images:FolderDataset")
datasets.add("kodak", "bench.data.images:KodakDataset")
datasets.add("imagenet", "bench.data.imagenet:ImageNetVal")
datasets.add("ade20k", "bench.data.ade20k:ADE20KVal")
datasets.add("clic", "bench.data.clic:CLICProfessionalValid")

"""Dataset registry. Each entry is written once here; the class's ``name`` must equal its registry name.

Other packages add theirs through the ``mpa_bench.datasets`` entry-point group (see :mod:`bench.registry`).
"""

from bench.registry import Registry

datasets: Registry = Registry("dataset", base="bench.data.base:Dataset", name_attribute="name",
                              entry_point_group="mpa_bench.datasets")
datasets.add("sample", "bench.data.images:SampleDataset")
datasets.add("folder", "bench.data.images:FolderDataset")
datasets.add("kodak", "bench.data.images:KodakDataset")
datasets.add("imagenet", "bench.data.imagenet:ImageNetVal")
datasets.add("ade20k", "bench.data.ade20k:ADE20KVal")
datasets.add("clic", "bench.data.clic:CLICProfessionalValid")

"""Codec registry: the one table of codec names, each pointing at the class that carries everything else.

A codec is one class in one module (its options, rate points, container id, checkpoint recognition, complexity
subject and test-only variants live on the class; see :mod:`bench.codecs.learned` for learned codecs and
:mod:`bench.codecs.subprocess_codec` for command-line ones) plus its line here. The class's ``name`` must equal the
name it is registered under (checked when it is first loaded, and for every entry by ``tests/test_codecs.py``).
Codecs of other packages register through the ``mpa_bench.codecs`` entry-point group (see :mod:`bench.registry`).
"""

from bench.registry import Registry

codecs: Registry = Registry("codec", base="bench.codecs.base:Codec", name_attribute="name",
                            entry_point_group="mpa_bench.codecs")
# Classical codecs through Pillow, each decoded from its own bytes by its own library.
codecs.add("jpeg", "bench.codecs.classical:JPEG")
codecs.add("webp", "bench.codecs.classical:WebP")
codecs.add("avif", "bench.codecs.classical:AVIF")
codecs.add("jpegxl", "bench.codecs.classical:JPEGXL")
codecs.add("jpeg2000", "bench.codecs.classical:JPEG2000")
codecs.add("hevc", "bench.codecs.classical:HEVCIntra")
# Command-line codecs (Debian packages), each decoded by its own decoder binary.
codecs.add("x265", "bench.codecs.x265:X265")
codecs.add("aomenc", "bench.codecs.aomenc:AOMEnc")
codecs.add("avifenc", "bench.codecs.avifenc:AVIFEnc")
codecs.add("cjxl", "bench.codecs.cjxl:CJXL")
codecs.add("cwebp", "bench.codecs.cwebp:CWebP")
codecs.add("opj_compress", "bench.codecs.opj_compress:OPJCompress")
# Reference encoders given by path (not packaged).
codecs.add("vtm", "bench.codecs.vtm:VTM")
codecs.add("hm", "bench.codecs.hm:HM")
codecs.add("bpg", "bench.codecs.bpg:BPG")
# Learned codecs, from local checkpoint files (nothing is downloaded).
codecs.add("mpa", "bench.codecs.mpa:MPACodec")
codecs.add("mpa-enc", "bench.codecs.mpa:MPAEncCodec")
codecs.add("tinylic", "bench.codecs.tinylic:TinyLICCodec")
codecs.add("elic", "bench.codecs.elic:ELICCodec")
codecs.add("mric", "bench.codecs.mric:MRICCodec")
codecs.add("bmshj2018-factorized", "bench.codecs.compressai_zoo:BMSHJ2018Factorized")
codecs.add("bmshj2018-hyperprior", "bench.codecs.compressai_zoo:BMSHJ2018Hyperprior")
codecs.add("mbt2018-mean", "bench.codecs.compressai_zoo:MBT2018Mean")
codecs.add("mbt2018", "bench.codecs.compressai_zoo:MBT2018")
codecs.add("cheng2020-anchor", "bench.codecs.compressai_zoo:Cheng2020Anchor")
codecs.add("cheng2020-attn", "bench.codecs.compressai_zoo:Cheng2020Attention")
# Test only: reduced architectures with seeded random weights (never a reported number).
codecs.add("mpa-tiny", "bench.codecs.mpa:MPATinyCodec")
codecs.add("mpa-enc-tiny", "bench.codecs.mpa:MPAEncTinyCodec")
codecs.add("tinylic-tiny", "bench.codecs.tinylic:TinyLICTinyCodec")
codecs.add("bmshj2018-hyperprior-tiny", "bench.codecs.compressai_zoo:BMSHJ2018HyperpriorTiny")

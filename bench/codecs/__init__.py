"""Codec registry. Each entry is written once here; the class's ``name`` must equal its registry name."""

from bench.registry import Registry

codecs: Registry = Registry("codec")
# Classical codecs, each decoded from its own bytes by its own library.
codecs.add("jpeg", "bench.codecs.classical:JPEG")
codecs.add("webp", "bench.codecs.classical:WebP")
codecs.add("avif", "bench.codecs.classical:AVIF")
codecs.add("jpegxl", "bench.codecs.classical:JPEGXL")
codecs.add("jpeg2000", "bench.codecs.classical:JPEG2000")
codecs.add("hevc", "bench.codecs.classical:HEVCIntra")
# Learned codecs, from local checkpoint files (the official weights; nothing is downloaded).
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

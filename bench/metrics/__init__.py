"""Metric registry. Each entry is written once here; the class's ``spec.key`` must equal its registry name.

Other packages add theirs through the ``mpa_bench.metrics`` entry-point group (see :mod:`bench.registry`).
"""

from bench.registry import Registry

metrics: Registry = Registry("metric", base="bench.metrics.base:Metric", name_attribute="spec.key",
                             entry_point_group="mpa_bench.metrics")
metrics.add("psnr-rgb", "bench.metrics.fidelity:PSNR")
metrics.add("psnr-float", "bench.metrics.fidelity:PSNRFloat")
metrics.add("ms-ssim-rgb", "bench.metrics.fidelity:MSSSIM")
metrics.add("ms-ssim-float", "bench.metrics.fidelity:MSSSIMFloat")
metrics.add("top1", "bench.metrics.task:Top1")
metrics.add("top5", "bench.metrics.task:Top5")
metrics.add("miou", "bench.metrics.task:MeanIoU")
metrics.add("macc", "bench.metrics.task:MeanAccuracy")
metrics.add("allacc", "bench.metrics.task:AllAccuracy")
metrics.add("lpips-alex", "bench.metrics.perceptual:LPIPSAlex")
metrics.add("lpips-alex-float", "bench.metrics.perceptual:LPIPSAlexFloat")
metrics.add("lpips-vgg", "bench.metrics.perceptual:LPIPSVGG")
metrics.add("lpips-vgg-float", "bench.metrics.perceptual:LPIPSVGGFloat")
metrics.add("dists", "bench.metrics.perceptual:DISTS")
metrics.add("dists-float", "bench.metrics.perceptual:DISTSFloat")
metrics.add("fid-256", "bench.metrics.fid:FID256")
metrics.add("kid-256", "bench.metrics.fid:KID256")

"""``python -m bench profile [CODEC ...]``: parameters, MACs per pixel (attention counted), latency; Table 4."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.engine.suite import DEFAULT_MAX_MEGAPIXELS as MAX_MEGAPIXELS


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 256x256 or 512x768, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    if height * width > MAX_MEGAPIXELS * 1e6:
        raise argparse.ArgumentTypeError(f"{text} is {height * width / 1e6:.0f} MP; profile sizes up to "
                                         f"{MAX_MEGAPIXELS:g} MP (a run's default image limit)")
    return height, width


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="parameters, KMACs/pixel and latency of codecs; Table 4 of the MPA paper",
        description="Parameters (total; MPA: main path, side paths per task, predictors), MACs per pixel counted "
        "with torch's FlopCounterMode with neighborhood attention (QK and AV) included, a per-module breakdown, and "
        "latency (encode and decode separately, network vs entropy coding, warm-up, median of repeats, CUDA "
        "synchronised). With mpa among the codecs, also Table 4 of the MPA paper at 256x256 (MACs over q = 1..8 "
        "and alpha) beside the poster's numbers. Without --checkpoint, parameters and MACs come from the official "
        "architecture and latency uses random weights (no quality is ever measured here).",
    )
    parser.add_argument("codecs", nargs="*", metavar="CODEC",
                        help="registry names (mpa, mpa-enc, tinylic, bmshj2018-hyperprior, ..., jpeg, webp, ...); "
                        "default: the codecs of --run, else tinylic and mpa")
    parser.add_argument("--size", type=_size, default=(256, 256), metavar="HxW",
                        help="image size for MACs (padded as the codec pads) and latency (default: 256x256)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--quality", type=float, nargs="+", default=[8.0], metavar="Q",
                        help="MPA/MPAEnc quality levels to profile (default: 8); also picks the CompressAI quality")
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0], metavar="A",
                        help="MPA alpha: fraction of decoder tokens on the task side path (default: 0)")
    parser.add_argument("--task", nargs="+", default=["mse"], choices=["mse", "cls", "seg"], help="MPA decoder task")
    parser.add_argument("--batch", type=int, default=1, metavar="B",
                        help="images per timed call for learned codecs (default: 1, through the codec itself)")
    parser.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed runs first (default: 1)")
    parser.add_argument("--repeats", type=int, default=5, metavar="N", help="timed runs, median reported (default: 5)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads while timing (default: 1 for classical codecs, one thread per process "
                        "as compressai.utils.bench runs them; torch's default for learned codecs)")
    parser.add_argument("--no-latency", action="store_true", help="parameters and MACs only (fast: no weights)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="checkpoint of a learned codec, e.g. mpa=ckpt/checkpoint_step3.pth.tar (repeatable)")
    parser.add_argument("--run", type=Path, metavar="RUN_DIR",
                        help="profile the codecs of this run directory and write RUN_DIR/complexity.json, which "
                        "`bench report RUN_DIR` draws as Table 4")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the JSON here (default: RUN_DIR/complexity.json with --run, else no file)")
    parser.add_argument("--image", type=Path, metavar="PATH",
                        help="image to time (default: an embedded sample photograph, cropped or tiled to --size)")
    parser.add_argument("--attention", default="auto", choices=["auto", "reference", "tiled", "flex"],
                        help="neighborhood-attention path for latency (default: auto = flex on CUDA, tiled on CPU)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from bench.complexity import ProfileOptions, format_text, profile_codecs, write_json
    from bench.complexity.runner import default_output
    from bench.engine.suite import parse_checkpoint_options
    from bench.errors import BenchError

    if args.batch < 1 or args.warmup < 0 or args.repeats < 1:
        raise BenchError("--batch and --repeats must be at least 1 and --warmup at least 0")
    if args.threads is not None and args.threads < 1:
        raise BenchError(f"--threads must be at least 1, got {args.threads}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    height, width = args.size
    options = ProfileOptions(
        height=height, width=width, device=args.device, qualities=tuple(args.quality), alphas=tuple(args.alpha),
        tasks=tuple(args.task), batch=args.batch, warmup=args.warmup, repeats=args.repeats,
        latency=not args.no_latency, attention=args.attention, image=args.image, threads=args.threads,
    )
    checkpoints = {name: given.paths[0] for name, given in parse_checkpoint_options(args.checkpoint).items()}
    document = profile_codecs(args.codecs, options, checkpoints, args.run)
    print(format_text(document))
    output = default_output(args.run, args.output)
    if output is not None:
        print(f"\nwrote {write_json(document, output)}")
    return 0

"""Classical image codecs through Pillow and its plugins, each decoded from its own bytes by its own library.

| codec     | library                              | rate point                   |
|-----------|--------------------------------------|------------------------------|
| jpeg      | libjpeg-turbo (Pillow)               | quality 1..95                |
| webp      | libwebp (Pillow)                     | quality 0..100               |
| avif      | libavif + aom (Pillow native)        | quality 0..100               |
| jpegxl    | libjxl (pillow-jxl-plugin)           | quality 0..100               |
| jpeg2000  | OpenJPEG (Pillow), 9/7 + colour MCT  | target bpp (rate layer)      |
| hevc      | libheif + x265 (pillow-heif), 4:4:4  | quality 0..100 (BPG stand-in) |

Every file is written with Pillow's defaults unless an option says otherwise, and without metadata.
"""

from __future__ import annotations

import io
from importlib.metadata import version
from typing import Any, ClassVar, Sequence

import numpy as np
import PIL
import torch
from PIL import Image, features

from bench.codecs.base import Codec
from bench.errors import BenchError
from bench.schema import DEFAULT_VARIANT, Bitstream
from bench.tensors import as_batch, tensor_to_uint8, uint8_to_tensor

SUBSAMPLINGS = ("4:2:0", "4:4:4")


def _check_subsampling(subsampling: str) -> str:
    if subsampling not in SUBSAMPLINGS:
        raise BenchError(f"subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")
    return subsampling


class PillowCodec(Codec):
    """A codec whose files Pillow (or a registered plugin) writes and reads.

    Subclasses declare their Pillow format, default rate points, the ``Image.save`` options every file gets
    (``fixed_options``) and take their user options as typed constructor arguments stored in ``self.options``.
    """

    pillow_format: ClassVar[str]
    default_points: ClassVar[tuple[float, ...]]
    fixed_options: ClassVar[dict[str, Any]] = {}
    point_range = (0, 100)  # the quality scale of Pillow's encoders
    integer_points = True

    def __init__(self, **options: Any):
        self.options = options

    def rate_points(self) -> Sequence[float]:
        return self.default_points

    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        return self.encode_array(tensor_to_uint8(as_batch(x)), point)

    def decode(self, bitstream: Bitstream, variant: str = DEFAULT_VARIANT) -> torch.Tensor:
        return uint8_to_tensor(self.decode_to_array(bitstream))

    def encode_array(self, rgb: np.ndarray, point: float) -> Bitstream:
        """An (H, W, 3) uint8 image to the bytes of a file."""
        return self.encode_native(self.to_native(rgb), point)

    def decode_to_array(self, bitstream: Bitstream) -> np.ndarray:
        """The file's bytes to an (H, W, 3) uint8 image."""
        return self.from_native(self.decode_native(bitstream))

    def to_native(self, rgb: np.ndarray) -> Image.Image:
        """The library's input: a Pillow image of the 8-bit array."""
        return Image.fromarray(rgb, mode="RGB")

    def from_native(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))

    def encode_native(self, image: Image.Image, point: float) -> Bitstream:
        """The library's own encode of a Pillow image (what latency times)."""
        buffer = io.BytesIO()
        image.save(buffer, self.pillow_format, **self.save_options(point))
        data = buffer.getvalue()
        return Bitstream(data, image.height, image.width, payload_bytes=len(data),
                         header={"format": self.pillow_format})

    def decode_native(self, bitstream: Bitstream) -> Image.Image:
        """The library's own decode of the bytes into a loaded Pillow image (what latency times)."""
        image = Image.open(io.BytesIO(bitstream.data), formats=[self.pillow_format])
        image.load()
        return image

    def save_options(self, point: float) -> dict[str, Any]:
        """Keyword arguments of ``Image.save`` for one rate point."""
        return {"quality": int(point), **self.fixed_options, **self.options}

    def config(self) -> dict[str, Any]:
        return dict(self.options)

    def versions(self) -> dict[str, str]:
        return {"Pillow": PIL.__version__, **self.library_versions()}

    def library_versions(self) -> dict[str, str]:
        """Versions of the codec library behind Pillow."""
        return {}


class JPEG(PillowCodec):
    """Baseline JPEG (libjpeg-turbo), standard Huffman tables, 4:2:0 or 4:4:4 chroma."""

    display_name = "JPEG"
    name = "jpeg"
    description = "JPEG (libjpeg-turbo via Pillow)"
    pillow_format = "JPEG"
    default_points = (3, 5, 10, 20, 35, 55, 75, 90)
    point_range = (1, 100)
    option_choices = {"subsampling": SUBSAMPLINGS}

    def __init__(self, subsampling: str = "4:2:0"):
        super().__init__(subsampling=_check_subsampling(subsampling))

    def library_versions(self) -> dict[str, str]:
        return {
            "libjpeg-turbo": features.version_feature("libjpeg_turbo") or "unknown",
            "libjpeg-api": features.version_codec("jpg") or "unknown",
        }


class WebP(PillowCodec):
    """Lossy WebP (libwebp)."""

    display_name = "WebP"
    name = "webp"
    description = "WebP (libwebp via Pillow)"
    pillow_format = "WEBP"
    default_points = (1, 10, 25, 50, 75, 90)
    fixed_options = {"lossless": False}
    option_choices = {"method": range(0, 7)}

    def __init__(self, method: int = 4):
        super().__init__(method=int(method))

    def library_versions(self) -> dict[str, str]:
        return {"libwebp": features.version_module("webp") or "unknown"}


class AVIF(PillowCodec):
    """AVIF (AV1 intra, libavif with aom) through Pillow's native plugin."""

    display_name = "AVIF (AV1)"
    name = "avif"
    description = "AVIF (libavif via Pillow)"
    pillow_format = "AVIF"
    default_points = (10, 25, 40, 55, 70, 80, 88)
    option_choices = {"subsampling": SUBSAMPLINGS, "speed": range(0, 11)}

    def __init__(self, subsampling: str = "4:4:4", speed: int = 6):
        super().__init__(subsampling=_check_subsampling(subsampling), speed=int(speed))

    def library_versions(self) -> dict[str, str]:
        return {"libavif": features.version_module("avif") or "unknown"}


class JPEGXL(PillowCodec):
    """JPEG XL (libjxl) through pillow-jxl-plugin; quality maps to libjxl's butteraugli distance."""

    display_name = "JPEG XL"
    name = "jpegxl"
    description = "JPEG XL (libjxl via pillow-jxl-plugin)"
    pillow_format = "JXL"
    default_points = (1, 10, 30, 50, 70, 85, 92)
    fixed_options = {"lossless": False}
    option_choices = {"effort": range(1, 11)}

    def __init__(self, effort: int = 7):
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

        super().__init__(effort=int(effort))

    def library_versions(self) -> dict[str, str]:
        return {"pillow-jxl-plugin": version("pillow-jxl-plugin")}


class JPEG2000(PillowCodec):
    """JPEG 2000 (OpenJPEG): irreversible 9/7 wavelet with the colour transform, one layer at a target rate.

    The rate point is the target bpp; OpenJPEG's ratio is 24 / bpp of the raw 8-bit RGB image. Pillow's default
    ``mct=0`` codes RGB without the colour transform and loses about 4.6 dB, hence ``mct=1``.
    """

    display_name = "JPEG2000"
    name = "jpeg2000"
    description = "JPEG 2000 (OpenJPEG via Pillow, 9/7, MCT)"
    pillow_format = "JPEG2000"
    default_points = (0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0)
    fixed_options = {"quality_mode": "rates", "irreversible": True, "mct": 1}
    point_range = (0.001, 24.0)  # target bpp: above 0, at most raw 8-bit RGB
    integer_points = False

    def __init__(self) -> None:
        super().__init__()

    def save_options(self, point: float) -> dict[str, Any]:
        return {"quality_layers": [24.0 / float(point)], **self.fixed_options}

    def library_versions(self) -> dict[str, str]:
        return {"openjpeg": features.version_codec("jpg_2000") or "unknown"}


class HEVCIntra(PillowCodec):
    """HEVC intra (x265) in a HEIF file through pillow-heif, 4:4:4 chroma: the stand-in for BPG.

    bpp counts the whole HEIF file, container boxes included (a few hundred bytes).
    """

    display_name = "HEVC intra (BPG-like x265)"
    name = "hevc"
    description = "HEVC intra (x265 in HEIF via pillow-heif)"
    pillow_format = "HEIF"
    default_points = (10, 20, 30, 40, 50, 60)
    option_choices = {"chroma": SUBSAMPLINGS}

    def __init__(self, chroma: str = "4:4:4"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        super().__init__(chroma=_check_subsampling(chroma))

    def save_options(self, point: float) -> dict[str, Any]:
        return {"quality": int(point), "chroma": int(self.options["chroma"].replace(":", ""))}

    def library_versions(self) -> dict[str, str]:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return {
            "pillow-heif": pillow_heif.__version__,
            "libheif": str(info.get("libheif")),
            "x265": str(info.get("encoders", {}).get("x265", "unknown")),
        }

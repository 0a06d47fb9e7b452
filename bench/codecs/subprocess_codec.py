"""Command-line codecs: an encoder and a decoder binary run in a private temporary folder per call.

A command-line codec is one class (one file) plus its line in the registry table of :mod:`bench.codecs`::

    class CWebP(SubprocessCodec):
        name = "cwebp"
        description = "WebP (cwebp / dwebp command-line tools)"
        tools = (Tool("encoder", "cwebp", ("-version",), r"(\\S+)", "apt-get install webp"),
                 Tool("decoder", "dwebp", ("-version",), r"(\\S+)", "apt-get install webp"))
        default_points = (5, 20, 50, 75, 90)
        input_name, output_name, decoded_name = "input.png", "image.webp", "decoded.ppm"

        def encoder_arguments(self, input, output, height, width):
            return ["-quiet", input, "-o", output]
        def point_arguments(self, point):
            return ["-q", f"{point:g}"]
        def decoder_arguments(self, bitstream, output):
            return [bitstream, "-ppm", "-o", output]

What the base does: finds each binary (constructor option ``encoder=`` / ``decoder=``, else the environment
variable ``MPA_BENCH_<CODEC>_<ROLE>``, else the default name on ``PATH``); a binary that is not there makes the codec
unavailable with the install hint (:class:`CodecUnavailable`, a :class:`BenchError` raised at construction, which a
run reports as a skipped codec); records each binary's version (``versions()``) and the exact command lines
(``config()``: they key the run store, so a changed option recomputes); writes the input (RGB PNG by default;
PPM, raw YUV or Y4M through :mod:`bench.codecs.yuv`); runs each command with a timeout (the whole process group is
killed) and turns a non-zero exit status, a missing or unreadable output into one clear line
(:class:`CommandError`, which fails the item and lets the run go on); bpp counts every byte of the encoder's
output file.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from PIL import Image

from bench.checkpoints import clean_message
from bench.codecs.base import Codec
from bench.codecs.yuv import YUVFormat, bytes_to_planes, planes_to_bytes, planes_to_rgb, read_y4m, rgb_to_planes, write_y4m
from bench.options import check_options, check_points
from bench.errors import BenchError
from bench.schema import DEFAULT_VARIANT, Bitstream
from bench.tensors import as_batch, tensor_to_uint8, uint8_to_tensor

VERSION_TIMEOUT = 20.0
COMMAND_EXAMPLE_SIZE = (512, 768)  # height, width of the command line recorded in config() (a Kodak image)


class CodecUnavailable(BenchError):
    """A command-line codec whose binary is missing or not executable; the message says how to install it."""


class CommandError(BenchError):
    """A codec command that failed: non-zero exit, timeout, or no usable output. One line, with the command."""


@dataclass(frozen=True)
class Tool:
    """One binary a command-line codec runs.

    Attributes:
        role: ``encoder`` or ``decoder``; also the constructor option that gives its path.
        default: the executable looked up on ``PATH``.
        version_args: arguments that make it print its version.
        version_pattern: regular expression whose first group is the version in that output.
        install: how to get it (``apt-get install x265``, or where the source is and how to build it).
    """

    role: str
    default: str
    version_args: tuple[str, ...]
    version_pattern: str
    install: str


def find_binary(codec: str, tool: Tool, given: str | None) -> Path:
    """The binary for ``tool``: ``given`` (an option), else ``$MPA_BENCH_<CODEC>_<ROLE>``, else ``PATH``.

    Raises:
        CodecUnavailable: not found, or not an executable file.
    """
    variable = environment_variable(codec, tool.role)
    source, value = ("option " + tool.role, given) if given else (variable, os.environ.get(variable))
    if not value:
        found = shutil.which(tool.default)
        if found is None:
            raise CodecUnavailable(f"{codec}: {tool.role} {tool.default!r} is not on PATH (nor given by the option "
                                   f"{tool.role} or ${variable}); {tool.install}")
        return Path(found)
    path = Path(value).expanduser()
    if os.sep not in value and not path.exists():  # a bare name: look it up on PATH
        found = shutil.which(value)
        path = Path(found) if found else path
    if not path.is_file() or not os.access(path, os.X_OK):
        raise CodecUnavailable(f"{codec}: {tool.role} {value!r} (from {source}) is not an executable file; "
                               f"{tool.install}")
    return path


def environment_variable(codec: str, role: str) -> str:
    return f"MPA_BENCH_{re.sub(r'[^A-Z0-9]', '_', codec.upper())}_{role.upper()}"


@functools.lru_cache(maxsize=None)
def binary_version(path: str, mtime: float, args: tuple[str, ...], pattern: str) -> str:
    """The version a binary prints (cached per file and modification time); ``unknown`` if it prints none."""
    try:
        done = subprocess.run([path, *args], capture_output=True, timeout=VERSION_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({clean_message(error)})"
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def run_command(codec: str, role: str, command: Sequence[str], cwd: Path, timeout: float) -> str:
    """Runs ``command`` in ``cwd``; returns its output (stdout then stderr) as text.

    The command runs in its own process group, so a timeout kills whatever it started too.

    Raises:
        CommandError: timeout, a failure to start, or a non-zero exit status (with the last line it printed).
    """
    line = shlex.join(str(part) for part in command)
    try:
        process = subprocess.Popen([str(part) for part in command], cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        raise CommandError(f"{codec}: {role} could not start ({clean_message(error)}); command: {line}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise CommandError(f"{codec}: {role} did not finish within {timeout:g} s and was killed (raise the "
                           f"codec's timeout option if it is only slow); command: {line}") from None
    output = (stdout + stderr).decode("utf-8", "replace")
    if process.returncode != 0:
        status = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                  else f"exited with status {process.returncode}")
        lines = [clean_message(RuntimeError(text)) for text in output.splitlines() if text.strip()]
        errors = [text for text in lines if "error" in text.lower()]
        said = f": {(errors or lines)[0 if errors else -1][:300]}" if lines else " and printed nothing"
        raise CommandError(f"{codec}: {role} {status}{said}; command: {line}")
    return output


class SubprocessCodec(Codec):
    """A codec made of an encoder and a decoder binary; see the module docstring for what the base does.

    Subclasses declare ``tools`` (encoder first, then decoder), ``default_points`` and the range of valid points,
    the allowed values of their options (``option_choices``, checked by :mod:`bench.options`), the file names in the work folder (their suffixes tell most
    tools the format), and implement :meth:`encoder_arguments`, :meth:`point_arguments` and
    :meth:`decoder_arguments`; they override :meth:`write_input` / :meth:`read_decoded` for inputs and outputs
    other than RGB PNG / PNG or PPM.

    Args (every subclass): ``encoder``, ``decoder``: paths of the binaries; ``timeout``: seconds per command.
    """

    tools: ClassVar[tuple[Tool, Tool]]
    default_points: ClassVar[tuple[float, ...]]
    integer_points: ClassVar[bool] = True
    default_timeout: ClassVar[float] = 300.0
    input_name: ClassVar[str] = "input.png"
    output_name: ClassVar[str]
    decoded_name: ClassVar[str] = "decoded.png"
    # The input file goes last, after the rate point's arguments (tools whose option parser stops at the first
    # file name, as getopt outside GNU does); ``encoder_arguments`` then leaves it out.
    input_last: ClassVar[bool] = False

    def __init__(self, encoder: str | None = None, decoder: str | None = None, timeout: float | None = None,
                 **options: Any):
        check_options(type(self), options, self.name)
        self.options = dict(options)
        self.timeout = float(timeout) if timeout is not None else self.default_timeout
        if not self.timeout > 0:
            raise BenchError(f"{self.name}: timeout must be a positive number of seconds, got {timeout!r}")
        given = {"encoder": encoder, "decoder": decoder}
        self.binaries = {tool.role: find_binary(self.name, tool, given[tool.role]) for tool in self.tools}

    # --- what a subclass declares ---

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        """Encoder arguments except the rate point's (file names are relative to the work folder; the input's is
        left out when ``input_last``)."""
        raise NotImplementedError

    def point_arguments(self, point: float) -> list[str]:
        """The arguments that set a rate point (after :meth:`encoder_arguments`); ``point`` is checked already."""
        raise NotImplementedError

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        raise NotImplementedError

    def write_input(self, rgb: np.ndarray, path: Path) -> None:
        """Writes the (H, W, 3) uint8 image the encoder reads (default: RGB PNG, no metadata)."""
        Image.fromarray(rgb, mode="RGB").save(path, format="PNG")

    def read_decoded(self, data: bytes, bitstream: bytes) -> np.ndarray:
        """The decoder's output file -> (H, W, 3) uint8 RGB (default: any image Pillow reads, e.g. PNG, PPM)."""
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("RGB", "L"):
                raise ValueError(f"image mode {image.mode}, expected RGB")
            return np.asarray(image.convert("RGB"))

    # --- shared behaviour ---

    def rate_points(self) -> Sequence[float]:
        return self.default_points

    def check_point(self, point: float) -> float:
        (checked,) = check_points(type(self), [point], self.name)
        return int(checked) if self.integer_points else checked

    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        rgb = tensor_to_uint8(as_batch(x))
        height, width = rgb.shape[:2]
        command = [self.binaries["encoder"], *self.encoder_arguments(self.input_name, self.output_name, height,
                                                                     width), *self.point_arguments(self.check_point(point)),
                   *([self.input_name] if self.input_last else [])]
        with self.workspace() as folder:
            self.write_input(rgb, folder / self.input_name)
            run_command(self.name, "encoder", command, folder, self.timeout)
            data = self._read_output(folder / self.output_name, "encoder")
        return Bitstream(data, height, width, payload_bytes=len(data),
                         header={"codec": self.name, "command": shlex.join(str(c) for c in command)})

    def decode(self, bitstream: Bitstream, variant: str = DEFAULT_VARIANT) -> torch.Tensor:
        if variant != DEFAULT_VARIANT:
            raise ValueError(f"{self.name} has one decoder; unknown variant {variant!r}")
        command = [self.binaries["decoder"], *self.decoder_arguments(self.output_name, self.decoded_name)]
        with self.workspace() as folder:
            (folder / self.output_name).write_bytes(bitstream.data)
            run_command(self.name, "decoder", command, folder, self.timeout)
            decoded = self._read_output(folder / self.decoded_name, "decoder")
        try:
            rgb = self.read_decoded(decoded, bitstream.data)
        except (ValueError, OSError, BenchError) as error:
            raise CommandError(f"{self.name}: the decoder's output {self.decoded_name} is not a valid image "
                               f"({clean_message(error)}); command: {shlex.join(str(c) for c in command)}") from error
        return uint8_to_tensor(np.ascontiguousarray(rgb))

    def workspace(self) -> tempfile.TemporaryDirectory:
        """A private temporary folder for one call, removed afterwards."""
        return _Workspace(self.name)

    def _read_output(self, path: Path, role: str) -> bytes:
        if not path.is_file():
            raise CommandError(f"{self.name}: the {role} exited normally but wrote no {path.name}")
        data = path.read_bytes()
        if not data:
            raise CommandError(f"{self.name}: the {role} wrote an empty {path.name}")
        return data

    def config(self) -> dict[str, Any]:
        """Options and the exact command lines: the encoder's for a 768x512 image (each image passes its own
        size), then the rate point's arguments (shown for the lowest and highest valid points; the points
        themselves key each row, so changing the default points keeps what is stored), then the input when
        ``input_last``; the decoder's."""
        height, width = COMMAND_EXAMPLE_SIZE
        encoder = [self.tools[0].default, *self.encoder_arguments(self.input_name, self.output_name, height, width),
                   "{point arguments}", *([self.input_name] if self.input_last else [])]
        decoder = [self.tools[1].default, *self.decoder_arguments(self.output_name, self.decoded_name)]
        return {
            **self.options,
            "encoder_command": shlex.join(encoder),
            "point_arguments": {f"{p:g}": shlex.join(self.point_arguments(self.check_point(p)))
                                for p in self.point_range[:2]},
            "decoder_command": shlex.join(decoder),
        }

    def versions(self) -> dict[str, str]:
        out = {}
        for tool in self.tools:
            path = self.binaries[tool.role]
            version = binary_version(str(path), path.stat().st_mtime, tool.version_args, tool.version_pattern)
            out[tool.role] = f"{tool.default} {version}"
        return out


class _Workspace(tempfile.TemporaryDirectory):
    def __init__(self, codec: str):
        super().__init__(prefix=f"mpa-bench-{codec}-")

    def __enter__(self) -> Path:  # type: ignore[override]
        return Path(super().__enter__())


class YUVSubprocessCodec(SubprocessCodec):
    """A command-line codec fed Y'CbCr converted here (:mod:`bench.codecs.yuv`: raw planar, or Y4M when
    ``input_name`` ends in ``.y4m``), whose decoder writes Y'CbCr converted back here the same way.

    The decoder's output is Y4M (size and format in its header) or raw planar YUV, whose size subclasses read from
    the bitstream (:meth:`picture_size`).

    Args: ``chroma`` (``4:4:4`` or ``4:2:0``), ``bit_depth`` of the samples written (8 or 10), ``matrix``
    (``bt709`` or ``bt601``, full range), and those of :class:`SubprocessCodec`.
    """

    def __init__(self, chroma: str = "4:4:4", bit_depth: int = 8, matrix: str = "bt709", **options: Any):
        self.yuv = YUVFormat.of(chroma, bit_depth, matrix)
        super().__init__(chroma=self.yuv.chroma, bit_depth=self.yuv.bit_depth, matrix=self.yuv.matrix, **options)

    @property
    def decoded_format(self) -> YUVFormat:
        """The format of the decoder's raw output (the input's unless the decoder is told otherwise)."""
        return self.yuv

    def picture_size(self, bitstream: bytes) -> tuple[int, int]:
        """(height, width) of a bitstream's picture, for decoders that write raw planes without a header."""
        raise NotImplementedError

    def write_input(self, rgb: np.ndarray, path: Path) -> None:
        planes = rgb_to_planes(rgb, self.yuv)
        path.write_bytes(write_y4m(planes, self.yuv) if path.suffix == ".y4m" else planes_to_bytes(planes, self.yuv))

    def read_decoded(self, data: bytes, bitstream: bytes) -> np.ndarray:
        if self.decoded_name.endswith(".y4m"):
            planes, fmt = read_y4m(data, self.yuv.matrix)
            if fmt.chroma != self.decoded_format.chroma:
                raise ValueError(f"decoded {fmt.chroma}, encoded {self.decoded_format.chroma}")
        else:
            height, width = self.picture_size(bitstream)
            fmt = self.decoded_format
            planes = bytes_to_planes(data, height, width, fmt)
        return planes_to_rgb(planes, fmt)

#!/usr/bin/env bash
# Builds the VVC reference encoder and decoder (EncoderApp, DecoderApp) from a VTM source checkout.
#
# Usage: scripts/build_vtm.sh SRC_DIR [BUILD_DIR]
#
#   SRC_DIR    a checkout of the VVCSoftware_VTM repository at a release tag, e.g.
#                git clone https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM.git vtm-src
#                git -C vtm-src checkout VTM-12.1
#   BUILD_DIR  where cmake builds (default SRC_DIR/build)
#
# Release build of the two applications only (not the whole tree), with every core unless JOBS is set (a build
# takes about 20 minutes on 2 cores). VTM's cmake copies the binaries to SRC_DIR/bin/EncoderAppStatic and
# SRC_DIR/bin/DecoderAppStatic; the script prints them and the intra configuration, i.e. the `vtm` codec's options
#   options = { encoder = ".../bin/EncoderAppStatic", decoder = ".../bin/DecoderAppStatic" }
# (the codec finds cfg/encoder_intra_vtm.cfg beside bin/; or set MPA_BENCH_VTM_ENCODER, MPA_BENCH_VTM_DECODER).
# Tested with VTM-12.1 and GCC 12.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 SRC_DIR [BUILD_DIR]" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
build=${2:-$src/build}
if [ ! -f "$src/CMakeLists.txt" ] || [ ! -d "$src/source/App/EncoderApp" ]; then
    echo "$src is not a VTM checkout (no CMakeLists.txt or source/App/EncoderApp)" >&2
    exit 2
fi
command -v cmake >/dev/null || { echo "cmake not found: apt-get install cmake g++ make" >&2; exit 2; }

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# VTM builds with -Werror; compilers newer than a tag's release warn about things the tag predates (VTM-12.1 with
# GCC 12: std::unary_function is deprecated, maybe-uninitialized false positives). These diagnostics, which newer
# GCC versions added or sharpened, stay warnings; every other warning is still an error.
relaxed=""
for warning in deprecated-declarations maybe-uninitialized uninitialized array-bounds array-compare stringop-overflow \
               stringop-overread dangling-pointer use-after-free restrict mismatched-new-delete range-loop-construct \
               infinite-recursion nonnull address; do
    relaxed="$relaxed -Wno-error=$warning"
done
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="${CXXFLAGS:-} $relaxed"
cmake --build "$build" --target EncoderApp DecoderApp --parallel "$jobs"

encoder=$src/bin/EncoderAppStatic
decoder=$src/bin/DecoderAppStatic
for binary in "$encoder" "$decoder"; do
    [ -x "$binary" ] || { echo "build finished but $binary is missing" >&2; exit 1; }
done
version=$(git -C "$src" describe --tags 2>/dev/null || echo unknown)
echo "VTM $version built:"
echo "  encoder = \"$encoder\""
echo "  decoder = \"$decoder\""
echo "  config  = \"$src/cfg/encoder_intra_vtm.cfg\""

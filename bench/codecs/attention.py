"""Pure-PyTorch 2D neighborhood attention with relative position bias, with NATTEN 0.17 semantics.

Every query at (i, j) attends to exactly K x K keys. Along an axis of length L the window of query i starts at
``clamp(i - K // 2, 0, L - K)``: near a border the window is *shifted* inward, never truncated. The bias added to
the logit of key (r, c) is ``rpb[head, r - i + K - 1, c - j + K - 1]`` (a (2K-1) x (2K-1) table per head); queries
are scaled by ``head_dim ** -0.5`` before the dot product. Inputs smaller than the kernel are an error.

Three interchangeable paths compute the same function (they agree to about 1e-6 in float32):

- ``reference``: gathers the K x K keys and values of every query, the literal definition (row-chunked so that
  its memory stays bounded).
- ``tiled``: the CPU fast path. Queries are cut into T x T tiles (T = 8); the windows of a tile lie in a
  (T + K - 1)^2 key region, so each tile is one small dense attention with the bias and the neighborhood mask as
  an additive mask, computed by the fused ``scaled_dot_product_attention``. Tiles at the same position relative
  to the borders share that mask and have regularly spaced regions (one ``unfold``); row tiles are processed
  in chunks under a memory budget. About 4x the dot products of the reference, but no K^2-fold gather.
- ``flex``: ``torch.nn.attention.flex_attention`` with a neighborhood block mask and the bias in ``score_mod``
  (compiled on CUDA; the eager version runs on CPU too, densely, which the tests use at small sizes). One plan
  (block mask, closures, bias buffer) per shape, so the compiled kernel is reused; inference only (the bias is
  copied into the plan's buffer).

``backend="auto"`` picks ``flex`` on CUDA and ``tiled`` elsewhere; :func:`set_default_backend` or the
``backend`` argument override it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Literal

import torch
import torch.nn.functional as F

Backend = Literal["auto", "reference", "tiled", "flex"]
BACKENDS: tuple[str, ...] = ("auto", "reference", "tiled", "flex")

_default_backend: str = "auto"

# Upper bounds on the bytes one chunk of the tiled path (queries, keys, values) and of the reference gathers.
_TILED_CHUNK_BYTES = 64 * 2**20
_REFERENCE_CHUNK_BYTES = 256 * 2**20


def set_default_backend(backend: str) -> None:
    """Sets the backend used where ``backend="auto"`` is asked for (``"auto"`` restores device-based choice)."""
    global _default_backend
    _check_backend(backend)
    _default_backend = backend


def resolve_backend(backend: str, device: torch.device) -> str:
    """Returns the concrete path (``reference``, ``tiled`` or ``flex``) that ``backend`` means on ``device``."""
    _check_backend(backend)
    if backend == "auto":
        backend = _default_backend
    if backend == "auto":
        return "flex" if device.type == "cuda" else "tiled"
    return backend


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown neighborhood-attention backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def window_starts(length: int, kernel_size: int, device: torch.device | None = None) -> torch.Tensor:
    """First key index of the window of every query along one axis: ``clamp(i - K // 2, 0, L - K)``."""
    return (torch.arange(length, device=device) - kernel_size // 2).clamp_(0, length - kernel_size)


def check_size(height: int, width: int, kernel_size: int) -> None:
    """Raises the NATTEN 0.17 error for inputs smaller than the kernel."""
    if height < kernel_size or width < kernel_size:
        raise ValueError(
            f"Input axes must be greater than or equal to the product of kernel size and dilation "
            f"(got {height}x{width} tokens for kernel {kernel_size})"
        )


def neighborhood_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rpb: torch.Tensor, kernel_size: int, backend: str = "auto"
) -> torch.Tensor:
    """2D neighborhood attention of already-scaled queries.

    Args:
        q, k, v: (B, heads, H, W, head_dim); ``q`` already multiplied by the scale.
        rpb: (heads, 2K-1, 2K-1) relative position bias.
        kernel_size: K, odd.
        backend: ``auto``, ``reference``, ``tiled`` or ``flex``.

    Returns:
        (B, heads, H, W, head_dim).
    """
    height, width = q.shape[2], q.shape[3]
    check_size(height, width, kernel_size)
    if rpb.shape != (q.shape[1], 2 * kernel_size - 1, 2 * kernel_size - 1):
        raise ValueError(f"rpb has shape {tuple(rpb.shape)}, expected ({q.shape[1]}, {2 * kernel_size - 1}, ...)")
    path = resolve_backend(backend, q.device)
    if path == "reference":
        return na2d_reference(q, k, v, rpb, kernel_size)
    if path == "tiled":
        return na2d_tiled(q, k, v, rpb, kernel_size)
    return na2d_flex(q, k, v, rpb, kernel_size)


# --- reference: the literal definition -------------------------------------------------------------------------


def na2d_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rpb: torch.Tensor, kernel_size: int
) -> torch.Tensor:
    """Exact gather implementation: every query gathers its K x K keys and values."""
    batch, heads, height, width, dim = q.shape
    check_size(height, width, kernel_size)
    K = kernel_size
    taps = torch.arange(K, device=q.device)
    rows = window_starts(height, K, q.device)[:, None] + taps  # (H, K) key rows of each query row
    cols = window_starts(width, K, q.device)[:, None] + taps  # (W, K)
    rel_rows = rows - torch.arange(height, device=q.device)[:, None] + K - 1
    rel_cols = cols - torch.arange(width, device=q.device)[:, None] + K - 1
    bias_cols = rel_cols[None, :, None, :]  # (1, W, 1, K)

    per_row = batch * heads * width * K * K * dim * q.element_size() * 2
    chunk = max(1, min(height, _REFERENCE_CHUNK_BYTES // max(per_row, 1)))
    out = torch.empty_like(q)
    for start in range(0, height, chunk):
        stop = min(start + chunk, height)
        r = rows[start:stop]
        index_r = r[:, :, None, None]  # (h, K, 1, 1)
        index_c = cols[None, None, :, :]  # (1, 1, W, K)
        keys = k[:, :, index_r, index_c].permute(0, 1, 2, 4, 3, 5, 6)  # (B, h, rows, W, K, K, d)
        values = v[:, :, index_r, index_c].permute(0, 1, 2, 4, 3, 5, 6)
        logits = torch.einsum("bhijd,bhijrcd->bhijrc", q[:, :, start:stop], keys)
        bias = rpb[:, rel_rows[start:stop][:, None, :, None], bias_cols]  # (heads, rows, W, K, K)
        logits = logits + bias.unsqueeze(0)
        attn = logits.flatten(-2).softmax(dim=-1).view_as(logits)
        out[:, :, start:stop] = torch.einsum("bhijrc,bhijrcd->bhijd", attn, values)
    return out


# --- tiled: the CPU fast path ----------------------------------------------------------------------------------


class _AxisTiles:
    """Tiling of one axis for the tiled path (cached per shape).

    Queries are cut into tiles of T; tile n covers queries nT .. nT+T-1 (the last one may run past the end:
    those outputs are dropped). Its key region is ``[start_n, start_n + R)`` with R = min(T + K - 1, L) and
    ``start_n = clamp(nT - K//2, 0, L - R)``; the start of every window of the tile lies in it, because window
    starts are monotonic in the query. ``code[n, p, u]`` is the bias index ``key - query + K - 1`` of query p and
    region key u, or -1 where the key is outside that query's window. Consecutive tiles with equal codes form a
    run: their regions advance by exactly T, so a run's regions are one ``unfold`` of the keys.
    """

    def __init__(self, length: int, tile: int, kernel_size: int, device: torch.device):
        K = kernel_size
        self.tile = tile = min(tile, length)
        self.region = region = min(tile + K - 1, length)
        self.count = math.ceil(length / tile)
        first = torch.arange(self.count, device=device) * tile
        self.region_start = (first - K // 2).clamp(0, length - region).tolist()
        starts = torch.tensor(self.region_start, device=device)
        keys = (starts[:, None] + torch.arange(region, device=device))[:, None, :]  # (n, 1, R)
        query = first[:, None] + torch.arange(tile, device=device)  # (n, T)
        start = ((query - K // 2).clamp(0, length - K))[:, :, None]
        valid = (keys >= start) & (keys < start + K)
        code = torch.where(valid, keys - query[:, :, None] + K - 1, -1)
        self.codes, types = torch.unique(code, dim=0, return_inverse=True)  # (types, T, R)
        self.runs = _runs(types.tolist())


@lru_cache(maxsize=64)
def _tiling(height: int, width: int, kernel_size: int, tile: tuple[int, int], device: torch.device):
    with torch.inference_mode(False):  # cached tables must stay usable outside inference mode (autograd)
        return _build_tiling(height, width, kernel_size, tile, device)


def _build_tiling(height: int, width: int, kernel_size: int, tile: tuple[int, int], device: torch.device):
    rows = _AxisTiles(height, tile[0], kernel_size, device)
    cols = _AxisTiles(width, tile[1], kernel_size, device)
    # Flat index into [rpb.flatten(), -inf] of every (row type, column type): (types_r, types_c, T*T, R*R).
    span = 2 * kernel_size - 1
    r = rows.codes[:, None, :, None, :, None]
    c = cols.codes[None, :, None, :, None, :]
    flat = torch.where((r >= 0) & (c >= 0), r * span + c, span * span)
    flat = flat.reshape(rows.codes.shape[0], cols.codes.shape[0], rows.tile * cols.tile, rows.region * cols.region)
    return rows, cols, flat


def _runs(types: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs ``(first, stop, type)`` of consecutive equal entries."""
    runs, first = [], 0
    for index in range(1, len(types) + 1):
        if index == len(types) or types[index] != types[first]:
            runs.append((first, index, types[first]))
            first = index
    return runs


def na2d_tiled(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rpb: torch.Tensor, kernel_size: int,
    tile: int | tuple[int, int] = 8,
) -> torch.Tensor:
    """Tiled dense attention: one small exact attention per T x T query tile over its (T + K - 1)^2 key region.

    Tiles with the same position relative to the borders share one additive (bias + neighborhood mask) tensor
    and have regularly spaced key regions, so each such group is one ``unfold`` of the keys and one call of the
    fused ``scaled_dot_product_attention``. Memory is bounded by processing row tiles in chunks.
    """
    batch, heads, height, width, dim = q.shape
    check_size(height, width, kernel_size)
    tile = (tile, tile) if isinstance(tile, int) else tuple(tile)
    rows, cols, flat = _tiling(height, width, kernel_size, tile, q.device)
    th, tw, rh, rw = rows.tile, cols.tile, rows.region, cols.region
    # Channels-last views (B, H, W, heads, d): the layout of the qkv projection, so no copy here.
    q, k, v = (t.permute(0, 2, 3, 1, 4) for t in (q, k, v))
    if rows.count * th != height or cols.count * tw != width:
        q = F.pad(q, (0, 0, 0, 0, 0, cols.count * tw - width, 0, rows.count * th - height))
    table = torch.cat([rpb.reshape(heads, -1), rpb.new_full((heads, 1), float("-inf"))], dim=1)
    out = q.new_empty(batch, rows.count * th, cols.count * tw, heads, dim)

    per_tile_bytes = batch * heads * dim * (2 * rh * rw + 2 * th * tw) * q.element_size()
    for row_first, row_stop, row_type in rows.runs:
        for col_first, col_stop, col_type in cols.runs:
            nc = col_stop - col_first
            chunk = max(1, _TILED_CHUNK_BYTES // max(per_tile_bytes * nc, 1))
            bias = table.index_select(1, flat[row_type, col_type].reshape(-1)).reshape(1, heads, th * tw, rh * rw)
            c0, c1 = col_first * tw, col_stop * tw
            k0 = cols.region_start[col_first]
            k1 = cols.region_start[col_stop - 1] + rw
            for first in range(row_first, row_stop, chunk):
                stop = min(first + chunk, row_stop)
                nr = stop - first
                r0, r1 = first * th, stop * th
                j0, j1 = rows.region_start[first], rows.region_start[stop - 1] + rh
                tiles = batch * nr * nc
                queries = (
                    q[:, r0:r1, c0:c1].reshape(batch, nr, th, nc, tw, heads, dim)
                    .permute(0, 1, 3, 2, 4, 5, 6).reshape(tiles, th * tw, heads, dim).transpose(1, 2)
                )
                keys, values = (
                    t[:, j0:j1, k0:k1].unfold(1, rh, th).unfold(2, rw, tw)  # (B, nr, nc, h, d, rh, rw)
                    .permute(0, 1, 2, 5, 6, 3, 4).reshape(tiles, rh * rw, heads, dim).transpose(1, 2)
                    for t in (k, v)
                )
                result = F.scaled_dot_product_attention(queries, keys, values, attn_mask=bias, scale=1.0)
                out[:, r0:r1, c0:c1] = (
                    result.transpose(1, 2).reshape(batch, nr, nc, th, tw, heads, dim)
                    .permute(0, 1, 3, 2, 4, 5, 6).reshape(batch, nr * th, nc * tw, heads, dim)
                )
    return out[:, :height, :width].permute(0, 3, 1, 2, 4)


# --- flex: flex_attention with a neighborhood block mask (CUDA fast path) --------------------------------------


class _FlexPlan:
    """Block mask, score_mod and a persistent bias buffer for one (H, W, K, heads, device) shape.

    The closures are created once per shape so that a compiled ``flex_attention`` does not recompile; the bias of
    each layer is copied into ``bias`` before the call. The bias index is clamped inside ``score_mod`` because the
    dense (uncompiled) path evaluates it for masked-out pairs too.
    """

    def __init__(self, height: int, width: int, kernel_size: int, heads: int, device: torch.device, dtype: torch.dtype):
        from torch.nn.attention.flex_attention import create_block_mask

        K = kernel_size
        self.bias = torch.zeros(heads, 2 * K - 1, 2 * K - 1, device=device, dtype=dtype)
        row_start = window_starts(height, K, device)
        col_start = window_starts(width, K, device)
        bias = self.bias

        def mask_mod(b, h, q_idx, kv_idx):
            qr, qc = q_idx // width, q_idx % width
            kr, kc = kv_idx // width, kv_idx % width
            sr, sc = row_start[qr], col_start[qc]
            return (kr >= sr) & (kr < sr + K) & (kc >= sc) & (kc < sc + K)

        def score_mod(score, b, h, q_idx, kv_idx):
            qr, qc = q_idx // width, q_idx % width
            kr, kc = kv_idx // width, kv_idx % width
            ir = (kr - qr + K - 1).clamp(0, 2 * K - 2)
            ic = (kc - qc + K - 1).clamp(0, 2 * K - 2)
            return score + bias[h, ir, ic]

        self.score_mod: Callable = score_mod
        tokens = height * width
        self.block_mask = create_block_mask(
            mask_mod, None, None, tokens, tokens, device=device, _compile=device.type == "cuda"
        )


_flex_plans: dict[tuple, _FlexPlan] = {}
_compiled_flex: Callable | None = None


def _flex_function(device: torch.device) -> Callable:
    from torch.nn.attention.flex_attention import flex_attention

    global _compiled_flex
    if device.type != "cuda":
        return flex_attention
    if _compiled_flex is None:
        # One compiled graph per plan (shape x closures): an image size needs about 6; past the recompile limit
        # dynamo would fall back to the dense eager path, which does not fit in memory at large sizes.
        import torch._dynamo

        for option in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                       "accumulated_cache_size_limit"):
            if hasattr(torch._dynamo.config, option):
                setattr(torch._dynamo.config, option, max(getattr(torch._dynamo.config, option), 256))
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def na2d_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rpb: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """flex_attention over row-major tokens with a neighborhood block mask and the bias as ``score_mod``."""
    batch, heads, height, width, dim = q.shape
    check_size(height, width, kernel_size)
    key = (height, width, kernel_size, heads, q.device, q.dtype)
    plan = _flex_plans.get(key)
    if plan is None:
        with torch.inference_mode(False):
            plan = _flex_plans[key] = _FlexPlan(height, width, kernel_size, heads, q.device, q.dtype)
    with torch.inference_mode(False), torch.no_grad():
        plan.bias.copy_(rpb.detach())
    tokens = height * width
    out = _flex_function(q.device)(
        q.reshape(batch, heads, tokens, dim).contiguous(),
        k.reshape(batch, heads, tokens, dim).contiguous(),
        v.reshape(batch, heads, tokens, dim).contiguous(),
        score_mod=plan.score_mod,
        block_mask=plan.block_mask,
        scale=1.0,
    )
    return out.reshape(batch, heads, height, width, dim)

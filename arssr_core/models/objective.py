"""Training objectives as modules (what DDP wraps): the L1 loss of a model on one batch.

ArSSR's objective is the paper's L1 over the K queried HR voxels of every patch, computed
the fast way on a CPU:

- the encoder runs once on the batch in channels-last 3D layout;
- each query's feature is the trilinear interpolation of its 8 neighbouring feature
  vectors (:func:`corner_weights`: the weights of ``grid_sample`` with
  ``align_corners=False`` and border padding), gathered from a channels-last table;
- the decoder runs on cache-sized chunks of queries and each chunk's backward pass
  follows its forward pass at once (:class:`ChunkedDecoderL1`), so its activations stay
  in cache instead of streaming B x K x 256 values per layer through memory.

The loss and its gradients are those of the plain ``mean |model(lr, coords) - values|``
up to floating-point summation order (tested).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Queries per decoder chunk in training on the CPU (4096: cache-sized, as in inference).
TRAIN_CHUNK = 4096
#: The same on a GPU, where small kernels waste the device.
CUDA_TRAIN_CHUNK = 2 ** 18


def corner_weights(coords: torch.Tensor, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Trilinear interpolation at ``coords`` (..., 3) in (-1, 1), array-index order, on a grid
    of ``shape`` (D, H, W) with cell-centre convention and border clamping (``grid_sample``,
    ``align_corners=False``, ``padding_mode="border"``).

    Returns ``idx`` (..., 8) int64 flat indices into the D*H*W grid and ``w`` (..., 8) weights
    summing to 1.
    """
    lo, hi, frac = [], [], []
    for axis, n in enumerate(shape):
        p = (((coords[..., axis] + 1) * n - 1) / 2).clamp(0, n - 1)
        f = p.floor()
        lo.append(f.long())
        hi.append((f + 1).clamp(max=n - 1).long())
        frac.append(p - f)
    d, h, w = shape
    idx, wts = [], []
    for cz in (0, 1):
        for cy in (0, 1):
            for cx in (0, 1):
                iz, iy, ix = (hi[0] if cz else lo[0]), (hi[1] if cy else lo[1]), (hi[2] if cx else lo[2])
                idx.append((iz * h + iy) * w + ix)
                wts.append((frac[0] if cz else 1 - frac[0]) * (frac[1] if cy else 1 - frac[1])
                           * (frac[2] if cx else 1 - frac[2]))
    return torch.stack(idx, -1), torch.stack(wts, -1)


def gather_features(table: torch.Tensor, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Interpolated features (n, C) from a (N, C) table, corner indices (n, 8) and weights (n, 8)."""
    corners = F.embedding(idx, table)  # (n, 8, C)
    return torch.bmm(w.to(corners.dtype).unsqueeze(1), corners).squeeze(1)


class ChunkedDecoderL1(torch.autograd.Function):
    """``sum |decoder([interp(table), coords]) - values|`` over all queries, computed chunk by
    chunk with each chunk's backward right after its forward; the gradients for the table
    and the decoder's parameters are kept and handed back in :meth:`backward`.

    Inputs: ``table`` (N, C) encoder features, ``idx``/``w`` (Q, 8) corners, ``coords`` (Q, 3),
    ``values`` (Q,), the decoder, the chunk size, then the decoder's parameters (so that
    autograd, and DDP's hooks, see their gradients). Runs under the caller's autocast.
    """

    @staticmethod
    def forward(ctx, table, idx, w, coords, values, decoder, chunk, *params):  # noqa: D102
        leaf = table.detach().requires_grad_(table.requires_grad)
        wants = [leaf] + list(params)
        grads: list[torch.Tensor | None] = [None] * len(wants)
        total = torch.zeros((), dtype=torch.float32, device=table.device)
        with torch.enable_grad():
            for s in range(0, idx.shape[0], chunk):
                e = min(idx.shape[0], s + chunk)
                f = gather_features(leaf, idx[s:e], w[s:e])
                pred = decoder(torch.cat([f, coords[s:e].to(f.dtype)], -1)).squeeze(-1)
                loss = F.l1_loss(pred.float(), values[s:e], reduction="sum")
                got = torch.autograd.grad(loss, [t for t in wants if t.requires_grad])
                it = iter(got)
                for i, t in enumerate(wants):
                    if t.requires_grad:
                        g = next(it)
                        grads[i] = g if grads[i] is None else grads[i].add_(g)
                total += loss.detach()
        ctx.save_for_backward(*[g if g is not None else torch.zeros(()) for g in grads])
        ctx.has = [g is not None for g in grads]
        return total

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        saved = ctx.saved_tensors
        out = [(g * grad_out.to(g.dtype)) if has else None for g, has in zip(saved, ctx.has)]
        return (out[0], None, None, None, None, None, None, *out[1:])


class L1Objective(nn.Module):
    """The L1 training loss of ``model`` on a batch dict, as a module (DDP wraps this).

    ArSSR batches: ``lr`` (B, 1, L, L, L), ``coords`` (B, K, 3), ``values`` (B, K); the loss
    is the mean over the B x K queries (:class:`ChunkedDecoderL1`, ``chunk`` queries per
    decoder call; default :data:`TRAIN_CHUNK` on the CPU, :data:`CUDA_TRAIN_CHUNK` on CUDA). Baseline batches: ``inp`` and ``target`` (B, 1, n, n, n); the mean over
    voxels. Inputs are put in channels-last 3D layout, the convolutions' fast path.
    """

    def __init__(self, model: nn.Module, chunk: int | None = None, channels_last: bool = True):
        super().__init__()
        self.model = model
        self.chunk = chunk
        self.layout = torch.channels_last_3d if channels_last else torch.contiguous_format

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        from .arssr import ArSSR

        cl = self.layout
        if not isinstance(self.model, ArSSR):
            pred = self.model(batch["inp"].contiguous(memory_format=cl))
            return F.l1_loss(pred.float(), batch["target"])
        feats = self.model.encode(batch["lr"].contiguous(memory_format=cl))
        b, c, *shape = feats.shape
        idx, w = corner_weights(batch["coords"], tuple(shape))
        offset = torch.arange(b, device=idx.device).view(b, 1, 1) * (shape[0] * shape[1] * shape[2])
        table = feats.permute(0, 2, 3, 4, 1).reshape(-1, c)
        values = batch["values"].reshape(-1)
        dec = self.model.decoder
        chunk = self.chunk or (CUDA_TRAIN_CHUNK if feats.is_cuda else TRAIN_CHUNK)
        total = ChunkedDecoderL1.apply(table, (idx + offset).reshape(-1, 8), w.reshape(-1, 8),
                                       batch["coords"].reshape(-1, 3), values, dec, int(chunk),
                                       *[p for p in dec.parameters()])
        return total / values.numel()

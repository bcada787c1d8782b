"""U-Net image denoiser D_theta of self-diffusion.

Architecture (the authors' public self-diffusion code is the tie-breaker where the
DeblurSDI paper is silent): at every level two 3x3 conv-BatchNorm-ReLU pairs; 2x2 max
pooling down; bilinear upsampling, concatenation of the skip connection and two more
conv pairs up; a 1x1 output convolution followed by a sigmoid so the estimate lies in
[0, 1]. Non-local (self-attention) blocks sit at the deepest levels.

BatchNorm always runs on the statistics of the current batch: the network is fitted to
one image, never evaluated on another, so it keeps no running statistics (which also
spares the compiled and CUDA-graph paths a buffer update per layer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NonLocalBlock", "UNet"]


class _ConvPair(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect", bias=False),
            nn.BatchNorm2d(out_channels, track_running_stats=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="reflect", bias=False),
            nn.BatchNorm2d(out_channels, track_running_stats=False),
            nn.ReLU(inplace=True),
        )


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018) with a residual path.

    ``y = x + W_out softmax(Q^T K / sqrt(d)) V`` over all spatial positions; ``W_out`` starts
    at zero so the block is the identity at initialisation.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)
        k = self.key(x).flatten(2).transpose(1, 2)
        v = self.value(x).flatten(2).transpose(1, 2)
        attended = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(attended.transpose(1, 2).reshape(b, -1, h, w))


class UNet(nn.Module):
    """Encoder-decoder with skip connections mapping C channels to C channels in [0, 1].

    Parameters
    ----------
    channels : int
        Input and output channels C.
    widths : tuple of int
        Feature width per level, finest first; ``len(widths)`` levels, ``len(widths) - 1``
        poolings, so inputs are reflect-padded to a multiple of ``2 ** (len(widths) - 1)``.
    attention_levels : int
        Number of deepest levels followed by a :class:`NonLocalBlock`.
    """

    def __init__(
        self, channels: int, widths: tuple[int, ...] = (64, 128, 256, 512, 1024), attention_levels: int = 1
    ) -> None:
        super().__init__()
        self.levels = len(widths)
        self.encoders = nn.ModuleList()
        previous = channels
        for width in widths:
            self.encoders.append(_ConvPair(previous, width))
            previous = width
        first_attention = self.levels - attention_levels
        self.attention = nn.ModuleList(
            NonLocalBlock(w) if i >= first_attention else nn.Identity() for i, w in enumerate(widths)
        )
        self.decoders = nn.ModuleList(
            _ConvPair(widths[i + 1] + widths[i], widths[i]) for i in range(self.levels - 1)
        )
        self.head = nn.Conv2d(widths[0], channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        multiple = 2 ** (self.levels - 1)
        pad_h, pad_w = (-h) % multiple, (-w) % multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for level, (encoder, attention) in enumerate(zip(self.encoders, self.attention, strict=True)):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = attention(encoder(x))
            skips.append(x)
        x = skips.pop()
        for level in range(self.levels - 2, -1, -1):
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.decoders[level](torch.cat([x, skip], dim=1))
        # The 1x1 output layer and the sigmoid run in float32 even under autocast: the
        # estimate feeds the data term directly, and bfloat16 would quantise it to 1/256.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return torch.sigmoid(self.head(x.float()))[..., :h, :w]

"""MSSNet, the Multi-Scale-Stage Network for single image deblurring.

Paper: Kiyeon Kim, Seungyong Lee and Sunghyun Cho, "MSSNet: Multi-Scale-Stage Network for
Single Image Deblurring", ECCV Workshops 2022 (https://cg.postech.ac.kr/Research/MSSNet/).
The network restores a blurred RGB image in [0, 1] at three scales (H/4, H/2, H) with one, two
and three encoder-decoder stages, linked by cross-stage feature fusion (CSFF). Its restored
image is the last stage's residual plus the input; the five other outputs are used only in
training. The original code has no licence; this is an independent implementation written
from a description of the architecture, with key names and shapes that match the released
checkpoints so they load with ``strict=True``.

Input height and width must be divisible by 16, the registration's ``input_multiple`` (see
``modelkb.pixels.tiling`` for padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modelkb.pixels import registry

# name -> (wf, scale, vscale); level channels are wf, wf + scale, wf + scale + vscale.
# Registered in modelkb/pixels/registry.py (the one place); read from there.
VARIANTS: dict[str, tuple[int, int, int]] = {
    name: (s["wf"], s["scale"], s["vscale"])
    for name, s in registry.get("mssnet").variants.items()
}
MULTIPLE = registry.get("mssnet").input_multiple  # height and width are multiples of this

# Parameter counts (shared PReLU counted once, auxiliary tails included).
PARAMETER_COUNTS: dict[str, int] = {
    "mssnet-small": 6_756_161,
    "mssnet": 15_614_497,
    "mssnet-large": 28_182_041,
}

Features = list[torch.Tensor]


def conv(in_ch: int, out_ch: int, kernel: int) -> nn.Conv2d:
    """A stride-1, same-padding convolution without bias (the only kind MSSNet uses)."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=1, padding=kernel // 2, bias=False)


def resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` with align_corners=False (every resize but the input's)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class ResBlock(nn.Module):
    """conv3x3, PReLU (shared by the whole network), conv3x3, plus the identity."""

    def __init__(self, channels: int, prelu: nn.PReLU) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3), prelu, conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual refinement of ``x``."""
        return self.body(x) + x


def res_blocks(channels: int, prelu: nn.PReLU, count: int = 2) -> nn.Sequential:
    """``count`` ResBlocks in a row (one encoder or decoder level)."""
    return nn.Sequential(*(ResBlock(channels, prelu) for _ in range(count)))


class DownSample(nn.Module):
    """Bilinear x0.5, then conv1x1 from C to C + s channels."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False),
            conv(channels, channels + extra, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Half-resolution features with more channels."""
        return self.down(x)


class SkipUpSample(nn.Module):
    """Bilinear x2, conv1x1 from C + s back to C channels, then add the skip input."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv(channels + extra, channels, 1),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsampled ``x`` plus ``skip``."""
        return self.up(x) + skip


class ScaleUpSample(nn.Module):
    """Bilinear x2 then conv1x1 (w -> w): carries a coarse scale's features to the next."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scaleUp = nn.Sequential(  # camelCase: key name in the released checkpoints
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features at twice the resolution."""
        return self.scaleUp(x)


class ShuffleTail(nn.Module):
    """conv3x3 w -> 12, then pixel shuffle by 2: a 3-channel residual at twice the size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.tail = conv(channels, 12, 3)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB residual at twice the resolution of ``x``."""
        return self.shuffle(self.tail(x))


class Encoder(nn.Module):
    """Three levels of two ResBlocks with downsampling between them, optionally with CSFF.

    With cross-stage feature fusion, after level i the encoder adds
    ``csff_enc{i}(prev_enc[i]) + csff_dec{i}(prev_dec[i])`` from the previous stage.
    """

    def __init__(self, wf: int, scale: int, vscale: int, prelu: nn.PReLU, csff: bool) -> None:
        super().__init__()
        c1, c2, c3 = wf, wf + scale, wf + scale + vscale
        self.encoder_level1 = res_blocks(c1, prelu)
        self.encoder_level2 = res_blocks(c2, prelu)
        self.encoder_level3 = res_blocks(c3, prelu)
        self.down12 = DownSample(c1, scale)
        self.down23 = DownSample(c2, vscale)
        self.csff = csff
        if csff:
            self.csff_enc1 = conv(c1, c1, 1)
            self.csff_enc2 = conv(c2, c2, 1)
            self.csff_enc3 = conv(c3, c3, 1)
            self.csff_dec1 = conv(c1, c1, 1)
            self.csff_dec2 = conv(c2, c2, 1)
            self.csff_dec3 = conv(c3, c3, 1)

    def forward(
        self, x: torch.Tensor, prev_enc: Features | None = None, prev_dec: Features | None = None
    ) -> Features:
        """[enc1, enc2, enc3] at full, half and quarter resolution of ``x``."""
        fuse = self.csff and prev_enc is not None and prev_dec is not None
        enc1 = self.encoder_level1(x)
        if fuse:
            enc1 = enc1 + self.csff_enc1(prev_enc[0]) + self.csff_dec1(prev_dec[0])
        enc2 = self.encoder_level2(self.down12(enc1))
        if fuse:
            enc2 = enc2 + self.csff_enc2(prev_enc[1]) + self.csff_dec2(prev_dec[1])
        enc3 = self.encoder_level3(self.down23(enc2))
        if fuse:
            enc3 = enc3 + self.csff_enc3(prev_enc[2]) + self.csff_dec3(prev_dec[2])
        return [enc1, enc2, enc3]


class Decoder(nn.Module):
    """Three levels of two ResBlocks, upsampling with ResBlock-refined encoder skips."""

    def __init__(self, wf: int, scale: int, vscale: int, prelu: nn.PReLU) -> None:
        super().__init__()
        c1, c2, c3 = wf, wf + scale, wf + scale + vscale
        self.decoder_level1 = res_blocks(c1, prelu)
        self.decoder_level2 = res_blocks(c2, prelu)
        self.decoder_level3 = res_blocks(c3, prelu)
        self.skip_attn1 = ResBlock(c1, prelu)  # named "attn" in the original; no attention
        self.skip_attn2 = ResBlock(c2, prelu)
        self.up32 = SkipUpSample(c2, vscale)
        self.up21 = SkipUpSample(c1, scale)

    def forward(self, enc: Features) -> Features:
        """[dec1, dec2, dec3] from the encoder's [enc1, enc2, enc3]."""
        enc1, enc2, enc3 = enc
        dec3 = self.decoder_level3(enc3)
        dec2 = self.decoder_level2(self.up32(dec3, self.skip_attn2(enc2)))
        dec1 = self.decoder_level1(self.up21(dec2, self.skip_attn1(enc1)))
        return [dec1, dec2, dec3]


def ed_up(features: Features) -> Features:
    """EDUp: every map of a coarser stage's encoder or decoder list, bilinear x2."""
    return [resize(f, 2.0) for f in features]


class MSSNet(nn.Module):
    """The multi-scale-stage deblurring network (one class, three channel variants)."""

    def __init__(self, wf: int = 54, scale: int = 42, vscale: int = 42) -> None:
        super().__init__()
        prelu = nn.PReLU()  # one activation (one parameter) shared by every ResBlock
        self.wf, self.scale, self.vscale = wf, scale, vscale
        self.unshuffle = nn.PixelUnshuffle(2)

        # Scale 1 (H/4): one stage.
        self.shallow_feat1 = nn.Sequential(conv(12, wf, 3), ResBlock(wf, prelu))
        self.E1_1 = Encoder(wf, scale, vscale, prelu, csff=False)
        self.D1_1 = Decoder(wf, scale, vscale, prelu)
        self.tail1_1 = ShuffleTail(wf)

        # Scale 2 (H/2): two stages.
        self.shallow_feat2 = nn.Sequential(conv(12, wf, 3), ResBlock(wf, prelu))
        self.up_scale1_feat = ScaleUpSample(wf)
        self.fusion12 = conv(2 * wf, wf, 3)
        self.E2_1 = Encoder(wf, scale, vscale, prelu, csff=True)
        self.D2_1 = Decoder(wf, scale, vscale, prelu)
        self.E2_2 = Encoder(wf, scale, vscale, prelu, csff=True)
        self.D2_2 = Decoder(wf, scale, vscale, prelu)
        self.tail2_1 = ShuffleTail(wf)
        self.tail2_2 = ShuffleTail(wf)

        # Scale 3 (H): three stages.
        self.shallow_feat3 = nn.Sequential(conv(3, wf, 3), ResBlock(wf, prelu))
        self.up_scale2_feat = ScaleUpSample(wf)
        self.fusion23 = conv(2 * wf, wf, 3)
        self.E3_1 = Encoder(wf, scale, vscale, prelu, csff=True)
        self.D3_1 = Decoder(wf, scale, vscale, prelu)
        self.E3_2 = Encoder(wf, scale, vscale, prelu, csff=True)
        self.D3_2 = Decoder(wf, scale, vscale, prelu)
        self.E3_3 = Encoder(wf, scale, vscale, prelu, csff=True)
        self.D3_3 = Decoder(wf, scale, vscale, prelu)
        self.tail3_1 = conv(wf, 3, 3)
        self.tail3_2 = conv(wf, 3, 3)
        self.tail3_3 = conv(wf, 3, 3)

    @classmethod
    def from_variant(cls, name: str) -> MSSNet:
        """A randomly initialised network of the named variant."""
        if name not in VARIANTS:
            from modelkb.pixels.usererror import ModelkbError

            known = ", ".join(VARIANTS)
            raise ModelkbError(f"unknown MSSNet variant {name!r}: choose one of {known}")
        return cls(*VARIANTS[name])

    @property
    def variant(self) -> str | None:
        """The variant name matching this network's channel settings, if any."""
        for name, settings in VARIANTS.items():
            if settings == (self.wf, self.scale, self.vscale):
                return name
        return None

    def _check_size(self, blurred: torch.Tensor) -> None:
        h, w = blurred.shape[-2:]
        if h % MULTIPLE or w % MULTIPLE:
            raise ValueError(f"MSSNet needs height and width divisible by {MULTIPLE}, "
                             f"got {h}x{w}")

    def _scales(self, blurred: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        """Run the three scales; with ``all_outputs`` False only the last tail is applied."""
        self._check_size(blurred)
        outputs: list[torch.Tensor] = []
        half = F.interpolate(blurred, scale_factor=0.5, mode="bilinear", align_corners=True)

        # Scale 1: one stage at H/4.
        e11 = self.E1_1(self.shallow_feat1(self.unshuffle(half)))
        d11 = self.D1_1(e11)
        if all_outputs:
            outputs.append(self.tail1_1(d11[0]) + half)
        del half

        # Scale 2: two stages at H/2.
        feat = self.fusion12(
            torch.cat([self.shallow_feat2(self.unshuffle(blurred)), self.up_scale1_feat(d11[0])], 1)
        )
        e21 = self.E2_1(feat, ed_up(e11), ed_up(d11))
        del feat, e11, d11
        d21 = self.D2_1(e21)
        e22 = self.E2_2(d21[0], e21, d21)
        del e21
        d22 = self.D2_2(e22)
        if all_outputs:
            outputs.append(self.tail2_1(d21[0]) + blurred)
            outputs.append(self.tail2_2(d22[0]) + blurred)
        del d21

        # Scale 3: three stages at H.
        feat = self.fusion23(
            torch.cat([self.shallow_feat3(blurred), self.up_scale2_feat(d22[0])], 1)
        )
        e31 = self.E3_1(feat, ed_up(e22), ed_up(d22))
        del feat, e22, d22
        d31 = self.D3_1(e31)
        e32 = self.E3_2(d31[0], e31, d31)
        del e31
        if all_outputs:
            outputs.append(self.tail3_1(d31[0]) + blurred)
        d32 = self.D3_2(e32)
        del d31
        e33 = self.E3_3(d32[0], e32, d32)
        del e32
        if all_outputs:
            outputs.append(self.tail3_2(d32[0]) + blurred)
        del d32
        d33 = self.D3_3(e33)
        del e33
        outputs.append(self.tail3_3(d33[0]) + blurred)
        return outputs

    def forward(self, blurred: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """Training: the six outputs [res1_1, res2_1, res2_2, res3_1, res3_2, res3_3].

        In eval mode only the restored image (res3_3) is computed and returned.
        """
        if self.training:
            return self._scales(blurred, all_outputs=True)
        return self._scales(blurred, all_outputs=False)[-1]

    def restore(self, blurred: torch.Tensor) -> torch.Tensor:
        """The restored image only (unclamped), whatever the training mode."""
        return self._scales(blurred, all_outputs=False)[-1]


def build(variant: str = "mssnet", **settings: int) -> MSSNet:
    """A randomly initialised MSSNet of the named variant (the registry's builder; its
    ``settings`` are the variant's wf, scale and vscale)."""
    if settings:
        return MSSNet(settings["wf"], settings["scale"], settings["vscale"])
    return MSSNet.from_variant(variant)


def recognise(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The variant whose channel widths match the state_dict's shapes, or None (the
    registry's recogniser; key names are checked when the weights are loaded)."""
    try:
        wf = state_dict["shallow_feat1.0.weight"].shape[0]
        c2 = state_dict["E1_1.down12.down.1.weight"].shape[0]
        c3 = state_dict["E1_1.down23.down.1.weight"].shape[0]
    except (KeyError, IndexError, AttributeError):
        return None
    for name, (w, s, v) in VARIANTS.items():
        if (w, w + s, w + s + v) == (wf, c2, c3):
            return name
    return None


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (the shared PReLU counted once)."""
    return sum(p.numel() for p in model.parameters())

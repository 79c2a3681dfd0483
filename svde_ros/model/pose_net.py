"""PoseNet: two frames (+ camera channels) -> 6-DoF relative pose.

Design choice: direct regression of an axis-angle rotation and a translation, each scaled at
the output: the rotation by `rotation_scale`, the translation by `translation_scale`. Small
factors start training near the identity (SfMLearner and Monodepth2 use 0.01 for both), but
they also bound how far the motion can move in a few hundred steps: 0.01 suits a car, which
turns a degree or two between frames, not a handheld camera that turns several degrees
between the frames it trains on (docs/results/README.md, "Learn from any camera"). The translation
factor also sets the depth gauge the network settles in: view synthesis fixes only the ratio
of translation to depth, so small translations put depth against the near end of the level
range, where near surfaces clip (docs/results/README.md). The translation is in the gauge of the
full, un-augmented frame (scale s = 1); see geometry.py for how it is rescaled for resized
crops.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from svde_ros.geometry import pose_to_matrix

POSE_CHANNELS = (16, 32, 64, 128, 256, 256, 256)
PoseEncoderKind = Literal['convs', 'resnet18']


class ResNetPoseNet(nn.Module):
    """Monodepth2's PoseNet: ResNet-18 on the stacked pair, then a small conv decoder.

    Images are normalised as Monodepth2 does ((x - 0.45) / 0.225); the trunk's BatchNorm keeps
    its features at unit scale, so the pose output moves at a useful rate from the first steps
    (with the plain conv stack the translation grew ~5x slower and depth was pushed against
    the near end of its range to match it; docs/results/README.md). No camera channels, as there.
    """

    def __init__(self, translation_scale: float = 0.01, rotation_scale: float = 0.01) -> None:
        super().__init__()
        from svde_ros.model.encoders import PaperEncoder, he_init

        self.translation_scale = translation_scale
        self.rotation_scale = rotation_scale
        self.encoder = PaperEncoder(1.0, 0, in_channels=6)
        he_init(self.encoder)
        c = self.encoder.channels[-1]
        self.decoder = nn.Sequential(nn.Conv2d(c, 256, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(256, 6, 1))

    def forward(self, image_src: torch.Tensor, image_dst: torch.Tensor,
                cam: torch.Tensor) -> torch.Tensor:
        """T_dst_src [B,4,4] as PoseNet.forward (cam is not used)."""
        B = image_src.shape[0]
        x = (torch.cat([image_src, image_dst], dim=1) - 0.45) / 0.225
        features = self.encoder(x, lambda _, f: f)[-1]
        params = self.decoder(features).mean(dim=(2, 3)).reshape(B, 6).float()
        return pose_to_matrix(self.rotation_scale * params[:, :3],
                              self.translation_scale * params[:, 3:])


def build_pose_net(encoder: PoseEncoderKind, width: float, translation_scale: float,
                   rotation_scale: float = 0.01) -> nn.Module:
    """The PoseNet a training config names (pose_encoder, pose_width, output factors)."""
    if encoder == 'resnet18':
        return ResNetPoseNet(translation_scale, rotation_scale)
    return PoseNet(width, translation_scale, rotation_scale)


class PoseNet(nn.Module):
    """Relative pose T_dst_src from images of the src and dst cameras (a plain conv stack)."""

    def __init__(self, width: float = 1.0, translation_scale: float = 0.1,
                 rotation_scale: float = 0.01) -> None:
        super().__init__()
        self.translation_scale = translation_scale
        self.rotation_scale = rotation_scale
        layers: list[nn.Module] = []
        in_ch = 6 + 2
        for i, c in enumerate(POSE_CHANNELS):
            out_ch = max(8, int(round(c * width)))
            k = 7 if i == 0 else 5 if i == 1 else 3
            layers += [nn.Conv2d(in_ch, out_ch, k, 2, k // 2), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(in_ch, 6, 1)
        # He init: with PyTorch's default, seven unnormalised conv+ReLU layers shrink features
        # ~150x and the pose no longer depends on the images (training then stalls at identity).
        for m in self.encoder:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, image_src: torch.Tensor, image_dst: torch.Tensor,
                cam: torch.Tensor) -> torch.Tensor:
        """Estimate the motion between two frames.

        Args:
            image_src: [B,3,H,W] RGB in [0, 1], the frame whose points are moved.
            image_dst: [B,3,H,W] RGB in [0, 1], the frame they are moved into.
            cam: [B,4] camera channels (fx/W0, fy/H0, cx/W0, cy/H0); the field of view is
                used.

        Returns:
            T_dst_src [B,4,4]: maps points from the src camera into the dst camera.
        """
        B, _, H, W = image_src.shape
        cam_maps = cam[:, :2].reshape(B, 2, 1, 1).expand(B, 2, H, W).to(image_src.dtype)
        x = torch.cat([image_src - 0.45, image_dst - 0.45, cam_maps], dim=1)
        params = F.adaptive_avg_pool2d(self.head(self.encoder(x)), 1).reshape(B, 6).float()
        return pose_to_matrix(self.rotation_scale * params[:, :3],
                              self.translation_scale * params[:, 3:])


def temporal_pose(pose_net: nn.Module, image_t: torch.Tensor, image_nbr: torch.Tensor,
                  cam: torch.Tensor, offset: int) -> torch.Tensor:
    """T_nbr_t for a neighbour `offset` frames away, asking PoseNet always in temporal order.

    Asked as (t, neighbour) for both neighbours, PoseNet would have to output opposite motions
    for t-1 and t+1 and tell frame order from content alone; a fresh network settles on their
    average, zero motion, and training stalls. In temporal order even a constant forward
    motion is a good first answer (Monodepth2 does the same).
    """
    if offset > 0:
        return pose_net(image_t, image_nbr, cam)
    return torch.linalg.inv(pose_net(image_nbr, image_t, cam))

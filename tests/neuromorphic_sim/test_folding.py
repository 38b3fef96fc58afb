"""BatchNorm folded into the layer before it: an ordinary CNN replays as an ANN."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nature_callback.demo.digits import load_digits_splits
from neuromorphic_sim import UnsupportedLayerError, build_crossbar_network, presets, replay
from neuromorphic_sim.folding import fold_batch_norm


def _set_statistics(model: nn.Module, seed: int) -> nn.Module:
    """Every BatchNorm gets running statistics and affine parameters far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                channels = module.num_features
                module.running_mean.copy_(torch.rand(channels, generator=generator) * 2 - 1)
                module.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.2)
                module.weight.copy_(torch.rand(channels, generator=generator) * 1.5 + 0.5)
                module.bias.copy_(torch.rand(channels, generator=generator) * 2 - 1)
    return model.eval()


def _conv_bn_relu_cnn() -> nn.Module:
    torch.manual_seed(0)
    return _set_statistics(
        nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, bias=False),
            nn.BatchNorm2d(8, eps=1e-3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32, 16),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Linear(16, 10),
        ),
        seed=1,
    )


def test_fold_is_the_formula_with_eps() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 4, 3)
    norm = _set_statistics(nn.BatchNorm2d(4, eps=0.05), seed=3)
    folded = fold_batch_norm(conv, norm)
    scale = norm.weight / torch.sqrt(norm.running_var + 0.05)
    expected_weight = conv.weight * scale.view(-1, 1, 1, 1)
    expected_bias = (conv.bias - norm.running_mean) * scale + norm.bias
    torch.testing.assert_close(folded.weight, expected_weight, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(folded.bias, expected_bias, rtol=1e-6, atol=1e-7)
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), norm(conv(x)), rtol=1e-5, atol=1e-5)


def test_conv_bn_relu_cnn_replays_as_an_ann_like_torch() -> None:
    """On an ideal crossbar the folded layers compute the network's outputs, up to float32
    rounding of the folded weights and the summation order (rtol = atol = 1e-5)."""
    model = _conv_bn_relu_cnn()
    inputs = load_digits_splits().test.tensors[0][:64]
    network = build_crossbar_network(model, presets.RERAM.ideal())
    assert list(network.layers) == ["0", "4", "8", "11"]  # the BatchNorms folded away
    with torch.no_grad():
        expected = model(inputs)
        outputs = network.run(inputs, 1)
    torch.testing.assert_close(outputs, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(outputs.argmax(dim=1), expected.argmax(dim=1))
    assert isinstance(model[1], nn.BatchNorm2d)  # the model itself is untouched


def test_replay_reports_a_batch_norm_cnn() -> None:
    model = _conv_bn_relu_cnn()
    inputs = load_digits_splits().test.tensors[0][:32]
    with torch.no_grad():
        labels = model(inputs).argmax(dim=1)
    report = replay(model, (inputs, labels), presets.RERAM.ideal(), progress=False)
    assert report.model_kind == "ann" and report.accuracy == 1.0
    assert [layer.name for layer in report.layers] == ["0", "4", "8", "11"]


def test_batch_norm_without_running_statistics_is_explained() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(UnsupportedLayerError, match="track_running_stats=False"):
        build_crossbar_network(model, presets.RERAM)

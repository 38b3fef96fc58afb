"""Fold BatchNorm into the Conv2d or Linear before it, so an ordinary CNN maps onto crossbars.

In eval mode BatchNorm is an affine map per channel, y = γ·(x − μ)/√(σ² + ε) + β with the
running statistics μ, σ², so a Conv2d or Linear feeding it alone absorbs it exactly:

    W' = W · γ/√(σ² + ε)   (per output channel),   b' = (b − μ) · γ/√(σ² + ε) + β.

This is what spikingjelly's conversion does before converting (``fuse_conv_bn_eval`` on the
traced graph), so the ANN and its SNN map the same folded weights.
"""

from __future__ import annotations

import copy

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuromorphic_sim.exceptions import UnsupportedLayerError

_FOLDABLE: dict[type[nn.Module], type[_BatchNorm]] = {
    nn.Conv2d: nn.BatchNorm2d,
    nn.Linear: nn.BatchNorm1d,
}
"""Which BatchNorm each mapped layer type can absorb (one scale per output channel/feature)."""


def has_batch_norm(model: nn.Module) -> bool:
    """True when ``model`` holds a BatchNorm module."""
    return any(isinstance(module, _BatchNorm) for module in model.modules())


def fold_batch_norm(layer: nn.Conv2d | nn.Linear, norm: _BatchNorm) -> nn.Conv2d | nn.Linear:
    """A copy of ``layer`` that computes ``norm(layer(x))`` of an eval-mode ``norm``
    (computed in float64, stored in the layer's dtype)."""
    if norm.running_mean is None or norm.running_var is None:
        raise UnsupportedLayerError(
            f"{type(norm).__name__} with track_running_stats=False normalises with each batch's "
            "statistics, even in eval mode, and cannot be folded into a layer."
        )
    weight = layer.weight.detach().to(torch.float64)
    channels = weight.shape[0]
    gamma = (
        torch.ones(channels, dtype=torch.float64)
        if norm.weight is None
        else norm.weight.detach().to(torch.float64)
    )
    beta = (
        torch.zeros(channels, dtype=torch.float64)
        if norm.bias is None
        else norm.bias.detach().to(torch.float64)
    )
    bias = (
        torch.zeros(channels, dtype=torch.float64)
        if layer.bias is None
        else layer.bias.detach().to(torch.float64)
    )
    scale = gamma / torch.sqrt(norm.running_var.detach().to(torch.float64) + norm.eps)
    shift = (bias - norm.running_mean.detach().to(torch.float64)) * scale + beta
    folded = copy.deepcopy(layer)
    dtype = layer.weight.dtype
    folded.weight = nn.Parameter(
        (weight * scale.view(-1, *([1] * (weight.dim() - 1)))).to(dtype), requires_grad=False
    )
    folded.bias = nn.Parameter(shift.to(dtype), requires_grad=False)
    return folded


def _folding_target(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node | None:
    """The Conv2d/Linear node that ``node`` (a BatchNorm) can be folded into, if any: it must
    feed the BatchNorm and nothing else, and be of the type that BatchNorm normalises."""
    previous = node.args[0] if node.args else None
    if not isinstance(previous, fx.Node) or previous.op != "call_module":
        return None
    if len(previous.users) != 1:
        return None
    layer, norm = modules[str(previous.target)], modules[str(node.target)]
    expected = _FOLDABLE.get(type(layer))
    return previous if expected is not None and type(norm) is expected else None


def fold_batch_norms(model: nn.Module) -> fx.GraphModule:
    """``model`` (eval mode; modified in place where it is a GraphModule) as a GraphModule with
    every BatchNorm that directly follows a Conv2d (BatchNorm2d) or Linear (BatchNorm1d) fed
    only to it folded into that layer. Other BatchNorms stay and fail the mapping, named.
    """
    if isinstance(model, fx.GraphModule):
        graph_module = model
    else:
        try:
            graph_module = fx.symbolic_trace(model)
        except Exception as err:  # torch.fx raises many types on untraceable code
            raise UnsupportedLayerError(
                f"{type(model).__name__} holds BatchNorm, which is folded into the layer before "
                f"it on a torch.fx trace of the model, and tracing failed ({err}); fold it "
                "by hand (torch.nn.utils.fusion.fuse_conv_bn_eval) or make the model traceable."
            ) from err
    modules = dict(graph_module.named_modules())
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[str(node.target)], _BatchNorm):
            continue
        target = _folding_target(node, modules)
        if target is None:
            continue
        layer_name = str(target.target)
        layer, norm = modules[layer_name], modules[str(node.target)]
        assert isinstance(layer, (nn.Conv2d, nn.Linear)) and isinstance(norm, _BatchNorm)
        folded = fold_batch_norm(layer, norm)
        graph_module.set_submodule(layer_name, folded)
        modules[layer_name] = folded
        node.replace_all_uses_with(target)
        graph_module.graph.erase_node(node)
    graph_module.graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return graph_module

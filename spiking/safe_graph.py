"""A ``torch.fx.GraphModule`` as plain data that loads without running code from the file.

Pickling a GraphModule stores its generated Python source, which unpickling executes: a crafted
file can run anything. Here a graph is stored instead as a list of node records (operation,
target, arguments made of plain values) next to the modules and tensors its nodes use. Reading it
back (``decode_graph_module``) accepts only:

* modules of the types in ``SAFE_MODULE_TYPES`` (torch.nn layers, the spikingjelly modules
  ``ann2snn`` produces, this package's constant-current layers), without any hook attached;
  ``torch.load(weights_only=True)`` with ``safe_globals(SAFE_MODULE_TYPES)`` enforces the types;
* functions named in ``SAFE_FUNCTIONS``, tensor methods in ``SAFE_METHODS`` and attributes in
  ``SAFE_ATTRIBUTES`` (for ``getattr`` nodes);
* node names and targets that are plain identifiers or dotted module paths.

torch.fx then generates the code of the rebuilt graph itself, from these checked parts only.
"""

from __future__ import annotations

import builtins
import operator
import re
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import layer, neuron, surrogate
from spikingjelly.activation_based.ann2snn.modules import (
    ChannelVoltageScaler,
    VoltageScaler,
)
from spikingjelly.activation_based.ann2snn.recipes.step_mode_adapters import (
    _StepModeTensorOp,
)
from torch import fx, nn

from spiking.constant_current import HELD_TYPES


class GraphFormatError(ValueError):
    """A stored graph is malformed or uses something outside the allow-lists (message says what)."""


def _module_types(namespace: Any, names: list[str]) -> list[type]:
    found = (getattr(namespace, name, None) for name in names)
    return [kind for kind in found if isinstance(kind, type) and issubclass(kind, nn.Module)]


SAFE_MODULE_TYPES: tuple[type, ...] = tuple(
    dict.fromkeys(
        [
            # every layer torch.nn exports (torch.fx keeps torch.nn modules as leaves of a trace)
            *_module_types(nn, list(nn.modules.__all__)),
            # the step-mode layers, neurons, scalers and tensor ops spikingjelly's ann2snn emits
            *_module_types(layer, dir(layer)),
            neuron.IFNode,
            neuron.HalfThresholdIFNode,
            *_module_types(surrogate, dir(surrogate)),
            VoltageScaler,
            ChannelVoltageScaler,
            _StepModeTensorOp,
            # this package's layers (convert(..., constant_current=True))
            *HELD_TYPES.values(),
        ]
    )
)
"""Module types a model file may contain (the allow-list given to ``torch.load``)."""

SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    f"{prefix}.{name}": getattr(namespace, name)
    for prefix, namespace, names in (
        ("operator", operator, ["add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "pos", "pow",
                                "matmul", "getitem"]),
        ("builtins", builtins, ["getattr", "len"]),
        ("torch", torch, ["add", "sub", "mul", "div", "neg", "matmul", "cat", "stack", "flatten", "reshape",
                          "permute", "transpose", "squeeze", "unsqueeze", "mean", "sum", "amax", "chunk",
                          "split", "narrow", "clamp", "relu", "zeros_like", "ones_like"]),
        ("torch.nn.functional", F, ["avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d",
                                    "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                                    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                                    "dropout", "linear", "conv1d", "conv2d", "conv3d", "relu", "pad"]),
    )
    for name in names
}
"""Functions a stored graph may call, by the name the file stores."""

_FUNCTION_NAMES: dict[int, str] = {id(function): name for name, function in SAFE_FUNCTIONS.items()}

SAFE_METHODS: frozenset[str] = frozenset(
    {
        "view", "reshape", "flatten", "unflatten", "permute", "transpose", "contiguous", "squeeze",
        "unsqueeze", "expand", "size", "dim", "numel", "mean", "sum", "add", "sub", "mul", "div", "neg",
        "relu", "clamp", "chunk", "split", "float", "__getitem__",
    }
)
"""Tensor methods a stored graph may call."""

SAFE_ATTRIBUTES: frozenset[str] = frozenset({"shape", "ndim", "dtype", "device"})
"""Attributes a stored graph may read with ``getattr``."""

_OPS = ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_PART = re.compile(r"[A-Za-z0-9_]+")


# ------------------------------------------------------------------------------------- writing
def _encode(value: Any) -> Any:
    """A node argument as plain data: node references and containers become one-key dicts."""
    if isinstance(value, fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return {"list": [_encode(item) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[str(key), _encode(item)] for key, item in value.items()]}
    if isinstance(value, slice):
        return {"slice": [_encode(value.start), _encode(value.stop), _encode(value.step)]}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if value is Ellipsis:
        return {"ellipsis": None}
    raise GraphFormatError(f"a graph argument of type {type(value).__name__} cannot be stored ({value!r}).")


def _target_name(node: fx.Node) -> str:
    if node.op != "call_function":
        return str(node.target)
    name = _FUNCTION_NAMES.get(id(node.target))
    if name is None:
        raise GraphFormatError(
            f"node '{node.name}' calls {getattr(node.target, '__qualname__', node.target)!r}, which is not "
            "on the list of functions a saved model may call (spiking.safe_graph.SAFE_FUNCTIONS)."
        )
    return name


def encode_graph_module(module: fx.GraphModule) -> dict[str, Any]:
    """``module`` as plain data plus the modules and tensors its nodes use (for ``torch.save``)."""
    nodes = [
        {
            "name": node.name,
            "op": node.op,
            "target": _target_name(node),
            "args": _encode(node.args),
            "kwargs": _encode(dict(node.kwargs)),
        }
        for node in module.graph.nodes
    ]
    attributes = {
        str(node.target): _get_path(module, str(node.target))
        for node in module.graph.nodes
        if node.op in ("call_module", "get_attr")
    }
    return {"class_name": type(module).__name__, "nodes": nodes, "attributes": attributes}


def _get_path(root: nn.Module, path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        value = getattr(value, part)
    return value


# ------------------------------------------------------------------------------------- reading
def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise GraphFormatError(problem)


def _decode(value: Any, nodes: dict[str, fx.Node]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    _expect(isinstance(value, dict) and len(value) == 1, f"malformed graph argument {value!r:.80}")
    (kind, content), = value.items()
    if kind == "node":
        _expect(content in nodes, f"an argument refers to node {content!r:.40}, which is not defined before it")
        return nodes[content]
    if kind in ("tuple", "list", "slice"):
        _expect(isinstance(content, list), f"malformed {kind} argument")
        items = [_decode(item, nodes) for item in content]
        if kind == "slice":
            _expect(len(items) == 3, "malformed slice argument")
            return slice(*items)
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        _expect(isinstance(content, list) and all(isinstance(p, list) and len(p) == 2 for p in content),
                "malformed dict argument")
        return {str(key): _decode(item, nodes) for key, item in content}
    if kind == "dtype":
        dtype = getattr(torch, content, None) if isinstance(content, str) and content.isidentifier() else None
        _expect(isinstance(dtype, torch.dtype), f"unknown dtype {content!r:.40}")
        return dtype
    if kind == "device":
        _expect(isinstance(content, str) and re.fullmatch(r"[a-z]+(:[0-9]+)?", content) is not None,
                f"malformed device {content!r:.40}")
        return torch.device(content)
    _expect(kind == "ellipsis", f"unknown argument kind {kind!r:.40}")
    return Ellipsis


def _check_path(path: Any, what: str) -> str:
    _expect(
        isinstance(path, str) and all(_PATH_PART.fullmatch(part) and not part.startswith("__")
                                      for part in path.split(".")),
        f"{what} {path!r:.80} is not a module path",
    )
    return path


def _check_target(op: str, target: Any, args: tuple[Any, ...], attributes: dict[str, Any]) -> Any:
    """The callable or string a node of ``op`` may have, or ``GraphFormatError``."""
    if op in ("call_module", "get_attr"):
        _expect(_check_path(target, f"{op} target") in attributes, f"{op} target {target!r} has no stored object")
        return target
    if op == "call_function":
        _expect(target in SAFE_FUNCTIONS, f"the graph calls {target!r:.80}, which is not an allowed function")
        if target == "builtins.getattr":
            _expect(len(args) == 2 and args[1] in SAFE_ATTRIBUTES,
                    f"the graph reads attribute {args[1:]!r:.80}, which is not an allowed attribute")
        return SAFE_FUNCTIONS[target]
    if op == "call_method":
        _expect(target in SAFE_METHODS, f"the graph calls method {target!r:.80}, which is not an allowed method")
        return target
    if op == "placeholder":
        _expect(isinstance(target, str) and _IDENTIFIER.fullmatch(target) is not None,
                f"input name {target!r:.80} is not an identifier")
        return target
    _expect(op == "output" and target == "output", f"unknown node operation {op!r:.40}")
    return target


def _modules_in(attributes: dict[str, Any]) -> Iterator[tuple[str, nn.Module]]:
    for path, value in attributes.items():
        if isinstance(value, nn.Module):
            for name, module in value.named_modules():
                yield f"{path}.{name}" if name else path, module


def _check_attributes(attributes: Any) -> dict[str, Any]:
    _expect(isinstance(attributes, dict), "the stored modules are not a dict")
    for path, value in attributes.items():
        _check_path(path, "stored object")
        _expect(isinstance(value, (nn.Module, torch.Tensor)), f"stored object '{path}' is a {type(value).__name__}")
    for path, module in _modules_in(attributes):
        _expect(type(module) in SAFE_MODULE_TYPES, f"module '{path}' has type {type(module).__name__}, not allowed")
        hooks = [name for name, value in vars(module).items() if "hook" in name and isinstance(value, dict) and value]
        _expect(not hooks, f"module '{path}' carries hooks ({', '.join(hooks)}), which a saved model never has")
    return attributes


def decode_graph_module(data: Any) -> fx.GraphModule:
    """Rebuild the GraphModule stored by ``encode_graph_module``; ``GraphFormatError`` says what is
    wrong with a malformed or disallowed one."""
    _expect(isinstance(data, dict) and {"class_name", "nodes", "attributes"} <= data.keys(),
            "a stored graph lacks its class name, nodes or modules")
    class_name, records = data["class_name"], data["nodes"]
    _expect(isinstance(class_name, str) and _IDENTIFIER.fullmatch(class_name) is not None,
            f"class name {class_name!r:.80} is not an identifier")
    _expect(isinstance(records, list) and len(records) > 0, "the stored graph has no nodes")
    attributes = _check_attributes(data["attributes"])
    graph = fx.Graph()
    nodes: dict[str, fx.Node] = {}
    for record in records:
        _expect(isinstance(record, dict) and {"name", "op", "target", "args", "kwargs"} <= record.keys(),
                "a node record is incomplete")
        name, op = record["name"], record["op"]
        _expect(isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None and name not in nodes,
                f"node name {name!r:.80} is not a new identifier")
        _expect(op in _OPS, f"node '{name}' has unknown operation {op!r:.40}")
        args, kwargs = _decode(record["args"], nodes), _decode(record["kwargs"], nodes)
        _expect(isinstance(args, tuple) and isinstance(kwargs, dict), f"node '{name}' has malformed arguments")
        target = _check_target(op, record["target"], args, attributes)
        nodes[name] = graph.create_node(op, target, args, kwargs, name=name)
    try:
        graph.lint()
        return fx.GraphModule(attributes, graph, class_name=class_name)
    except Exception as err:  # torch.fx raises RuntimeError, AttributeError, ... on inconsistent graphs
        raise GraphFormatError(f"the stored graph is inconsistent ({type(err).__name__}: {err})") from err

"""One layer opened into its parts, as a graph of the model graph's own types (`graph.ModelGraph`): the layer's inputs
first, then each part in the order it runs, an edge per tensor one part hands another, labelled with its shape as its
source made it. The dataflow is traced, never written per block: the layer of a weightless meta-device copy of the
model runs once under a `TorchFunctionMode` that follows each activation back to the part that made it. The caller's
model is read for its config only: nothing is registered on it, so a model that sessions share is safe.

    parts = block_graph(model, "2", size=(640, 640))            # YOLO11n's C3k2
    [n.name for n in parts.nodes]        # ['input', 'cv1', 'split', 'm.0', 'cat', 'cv2']
    parts.node("m.0").values["macs"], parts.edges[0].shape, parts.layout.positions["cat"]
    block_graphs(model, 640)             # every layer that has parts, for the cost of one

A part is a module or an operation:
- a module: a child of the layer, or a container's child (`m` -> `m.0`, `m.1`; Detect's `cv2` -> `cv2.0`). A part whose
  forward multiplies two activations (attention's q^T k) is opened the same way until none does, so an attention shows
  its qkv conv, products, softmax, pe, proj and residual adds; `depth` opens every part further (2: `m.0.cv1`). A module
  called again is a node per call (SPPF's `pool`, `pool#2`, `pool#3`); one that hands its input back (nn.Identity) is
  none. A Conv layer's parts are its conv, bn and act; an Upsample or a Concat has none (ValueError).
- an operation of the layer's or an opened part's forward, named in that part ("m.0.attn.matmul"): a node when it takes
  two or more activations (cat, +, matmul) or splits one, or is a softmax or a max-pool; the rest (views, activations,
  products with constants) fold into the edge they sit on. A parameter of the layer's own (A2C2f's `gamma`) goes with
  the operation that takes it ("× gamma").

A node's values are `graph.METRICS`': its modules' parameters; its MACs as `model_stats` counts them (a convolution's
output elements x its kernel's inputs, a product of activations' output elements x the shared dimension), so the parts
sum to the layer's; activation memory its outputs' elements x the element size of `dtype`; receptive field and stride
the layer's (a part's own would need fields within the layer). A node's shape is its output's less the batch (a split's
pieces' when alike, else what it splits: q, k, v); `feature` names what the layer returns its tensor as ("output", a
head's "boxes", "scores", "decoded", "one2one decoded"), and `layers` holds its module's path in the model ("2.m.0").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..deployment.devices import dtype_from_name
from ..forward.tensors import leaves
from .config import BackboneConfig
from .detector import build_model
from .graph import INPUT, METRICS, GraphEdge, GraphNode, ModelGraph
from .stats import LayerStats, model_stats, parse_size

__all__ = ["block_graph", "block_graphs"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_SAME = {  # an operation's other names -> the one its node has
    **dict.fromkeys(("radd", "iadd"), "add"),
    **dict.fromkeys(("rsub", "isub"), "sub"),
    **dict.fromkeys(("rmul", "imul"), "mul"),
    **dict.fromkeys(("truediv", "rtruediv"), "div"),
    **dict.fromkeys(("bmm", "rmatmul"), "matmul"),
    **dict.fromkeys(("chunk", "split_with_sizes", "tensor_split", "unbind"), "split"),
    **dict.fromkeys(("concat", "concatenate"), "cat"),
}
_SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "max_pool2d": "maxpool"}
_ONE_INPUT_NODES = {"split", "cat", "softmax", "max_pool2d"}  # nodes even when they take a single activation


def block_graph(
    model: nn.Module | BackboneConfig,
    name: str,
    size: int | str | Sequence[int] = 640,
    *,
    depth: int = 1,
    dtype: str = "fp32",
) -> ModelGraph:
    """The graph of one layer's parts, traced at an input size (the module's docstring says what a part is).

    Args:
        model: a model (only its `config` is read) or a config.
        name: the layer's name ("2", "stage2_c3k2").
        size: the model's input size, S or (H, W): it sets the shapes.
        depth: levels of modules opened (1: the layer's children; 2: theirs too ...).
        dtype: "fp32", "fp16" or "bf16": the element size of the activation memory.

    Raises:
        ValueError: not a layer, a layer of one operation (Upsample, Concat: no modules inside), a bad depth or size.
    """
    return block_graphs(model, size, names=(name,), depth=depth, dtype=dtype)[name]


def block_graphs(
    model: nn.Module | BackboneConfig,
    size: int | str | Sequence[int] = 640,
    *,
    names: Sequence[str] | None = None,
    depth: int = 1,
    dtype: str = "fp32",
) -> dict[str, ModelGraph]:
    """`block_graph` of each of `names` (None: every layer with parts), for the cost of one: the statistics and the
    forward of the meta model that gives each layer's inputs are shared."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be a whole number of levels from 1, got {depth!r}")
    config = model.config if isinstance(model, nn.Module) else model
    stats = model_stats(config, size, dtype)
    layers = {layer.name: layer for layer in stats.layers}
    unknown = [n for n in names or () if n not in layers]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a layer of {config.label}; its layers are {', '.join(layers)}")
    meta = build_model(config, device="meta")  # a private, weightless copy: hooks on it touch no one's model
    modules = dict(meta.named_children())
    names = [n for n in layers if _parts(modules[n], set(), 1)] if names is None else list(names)
    whole = [n for n in names if not _parts(modules[n], set(), 1)]
    if whole:
        raise ValueError(f"layer {whole[0]} ({layers[whole[0]].block}) is one operation, with no parts to open")
    inputs = _inputs(meta, names, (config.in_channels, *parse_size(size)))
    previous = dict(zip(layers, ("the image", *layers), strict=False))
    part_of = {layer: part for part, members in stats.parts for layer in members}
    element_size = torch.empty((), dtype=dtype_from_name(dtype)).element_size()
    graphs = {}
    for name in names:
        trace, stat = _open(modules[name], inputs[name], depth), layers[name]
        sources, part = iter(stat.sources or (previous[name],)), part_of.get(name, "backbone")
        nodes = tuple(node.graph_node(name, part, stat, element_size, sources) for node in trace.nodes.values())
        edges = tuple(GraphEdge(*edge) for edge in trace.edges)
        graphs[name] = ModelGraph(f"{config.label}: layer {name} ({stat.block})", nodes, edges)
    return graphs


def _open(layer: nn.Module, args: tuple, depth: int) -> _Trace:
    """The trace of `layer` with every part that hides a product of activations opened (traced again each time)."""
    opened: set[str] = set()
    while True:
        trace = _trace(layer, args, _parts(layer, opened, depth))
        if trace.hiding <= opened:
            return trace
        opened |= trace.hiding


def _inputs(meta: nn.Module, names: Sequence[str], shape: tuple[int, ...]) -> dict[str, tuple]:
    """What each named layer of `meta` is called with, from one forward of it on a (1, *shape) input."""
    seen: dict[str, tuple] = {}
    handles = [
        meta.get_submodule(name).register_forward_pre_hook(lambda module, args, name=name: seen.__setitem__(name, args))
        for name in names
    ]
    try:
        with torch.no_grad():
            meta(torch.empty(1, *shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _parts(module: nn.Module, opened: set[str], depth: int, prefix: str = "", level: int = 1) -> dict[str, nn.Module]:
    """The parts of `module` by path: its children; a ModuleList's, and a block's Sequential's (`m.0`, but Detect's
    `cv2.0` stays whole); an opened part's (`opened`); every part's down to `depth` levels."""
    parts = {}
    for child_name, child in module.named_children():
        path = f"{prefix}{child_name}"
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)) or (
            isinstance(child, nn.Sequential) and not isinstance(module, _CONTAINERS)
        ):
            parts |= _parts(child, opened, depth, f"{path}.", level)
        elif (path in opened or level < depth) and next(child.children(), None) is not None:
            parts |= _parts(child, opened, depth, f"{path}.", level + 1)
        else:
            parts[path] = child
    return parts


@dataclass
class _Node:
    name: str
    block: str
    path: str  # the module's path in the layer ("" for an operation)
    shape: tuple[int, ...]
    elements: int
    label: str = ""
    macs: int = 0
    params: int = 0
    feature: list[str] = field(default_factory=list)

    def graph_node(self, layer: str, part: str, stat: LayerStats, element_size: int, sources: Iterator[str]) -> GraphNode:
        """The node as the graph has it: an input is labelled by the next of `sources` it comes from."""
        if self.block == INPUT:
            return GraphNode(self.name, f"from {next(sources)}", INPUT, INPUT, self.shape, "", dict.fromkeys(METRICS, 0.0))
        values = {"macs": self.macs, "params": self.params, "activation_bytes": self.elements * element_size}
        values |= {"receptive_field": stat.receptive_field, "stride": stat.stride}
        values = {metric: float(value) for metric, value in values.items()}
        path = f"{layer}.{self.path}" if self.path else layer
        return GraphNode(self.name, self.label, self.block, part, self.shape, ", ".join(self.feature), values, (path,))


class _Trace(TorchFunctionMode):
    """While a layer runs: the node that made each activation, the nodes and edges, and the parts that multiplied two
    activations (`hiding`). A part's hooks open and close it; what runs inside a part only adds to its MACs."""

    def __init__(self):
        super().__init__()
        self.nodes: dict[str, _Node] = {}
        self.edges: list[tuple[str, str, tuple[int, ...]]] = []
        self.origin: dict[int, tuple[str, tuple[int, ...], torch.Tensor]] = {}  # id -> (node, its shape, the tensor)
        self.own: dict[str, int] = {}  # the layer's own parameters not in a part (A2C2f's gamma): name -> elements
        self.calls: dict[str, int] = {}
        self.inside: tuple[str, list[torch.Tensor]] | None = None  # the part running, and its activations in
        self.scope: list[str] = []  # the opened modules running (an operation's node is named in the innermost)
        self.macs = 0
        self.hiding: set[str] = set()

    def node(self, base: str, block: str, path: str, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> _Node:
        """A node that made `outputs` of `inputs`, with an edge from where each of those came."""
        calls = self.calls[base] = self.calls.get(base, 0) + 1
        name = base if calls == 1 else f"{base}#{calls}"
        shapes = {tuple(t.shape[1:]) for t in outputs}
        shape = shapes.pop() if len(shapes) == 1 else tuple(inputs[0].shape[1:])  # a split in unequal pieces: its input
        node = self.nodes[name] = _Node(name, block, path, shape, sum(math.prod(t.shape[1:]) for t in outputs))
        for t in inputs:
            source, made, _ = self.origin[id(t)]
            if source in self.own:
                node.params += self.own.pop(source)
                node.label += f" {source}"
            elif source in self.nodes:
                self.edges.append((source, name, made))
        for t in outputs:
            self.origin[id(t)] = (name, tuple(t.shape[1:]), t)
        return node

    def open_scope(self, path: str) -> None:
        self.scope.append(path)

    def close_scope(self) -> None:
        self.scope.pop()

    def enter(self, path: str, args: tuple) -> None:
        self.inside, self.macs = (path, [t for t in _tensors(args) if id(t) in self.origin]), 0

    def leave(self, path: str, module: nn.Module, output: Any) -> None:
        (_, inputs), self.inside = self.inside, None
        outputs = _tensors(output)
        if any(o is i for o in outputs for i in inputs):  # nn.Identity: it does nothing
            return
        node = self.node(path, _block(module), path, inputs, outputs)
        node.label, node.macs = f"{node.name} {node.block}", self.macs
        node.params += sum(p.numel() for p in module.parameters()) if node.name == path else 0  # a second call: none

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = getattr(func, "__name__", "").strip("_")
        op = _SAME.get(op, op)
        macs = _macs(op, args, out)
        if self.inside is not None:  # within a part: only its cost counts
            self.macs += macs
            if op == "matmul":
                self.hiding.add(self.inside[0])
            return out
        inputs = list({id(t): t for t in _tensors([args, list((kwargs or {}).values())]) if id(t) in self.origin}.values())
        if not inputs:  # constants (Detect's anchor points)
            return out
        if len(inputs) == 1 and op not in _ONE_INPUT_NODES:  # a view, an activation: the edge carries it on
            for t in _tensors(out):
                self.origin[id(t)] = (*self.origin[id(inputs[0])][:2], t)
            return out
        scope = self.scope[-1] if self.scope else ""
        node = self.node(f"{scope}.{op}" if scope else op, op, scope, inputs, _tensors(out))
        node.label, node.macs = _SYMBOLS.get(op, op) + node.label, macs
        return out


def _trace(layer: nn.Module, args: tuple, parts: dict[str, nn.Module]) -> _Trace:
    """Run `layer` on `args` once under a `_Trace`, with hooks on `parts` for that run only."""
    trace = _Trace()
    inputs = list({id(t): t for t in _tensors(args)}.values())
    for i, t in enumerate(inputs):
        trace.node(INPUT if len(inputs) == 1 else f"{INPUT}.{i}", INPUT, "", [], [t])
    held = {id(p) for part in parts.values() for p in part.parameters()}
    for path, p in layer.named_parameters():
        if id(p) not in held:
            trace.own[path] = p.numel()
            trace.origin[id(p)] = (path, tuple(p.shape), p)
    opened = [(path, m) for path, m in layer.named_modules() if path and any(p.startswith(f"{path}.") for p in parts)]
    handles = []
    try:
        for path, module in opened:
            handles.append(module.register_forward_pre_hook(lambda module, a, path=path: trace.open_scope(path)))
            handles.append(module.register_forward_hook(lambda module, a, out: trace.close_scope()))
        for path, part in parts.items():
            handles.append(part.register_forward_pre_hook(lambda module, a, path=path: trace.enter(path, a)))
            handles.append(part.register_forward_hook(lambda module, a, out, path=path: trace.leave(path, module, out)))
        with torch.no_grad(), trace:
            out = layer(*args)
    finally:
        for handle in handles:
            handle.remove()
    for feature, t in _named(out):
        source = trace.origin.get(id(t), ("",))[0]
        if source in trace.nodes:
            trace.nodes[source].feature.append(feature)
    return trace


def _tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in leaves(value) if isinstance(t, torch.Tensor)]


def _named(out: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """The tensors a layer returns, by what it returns them as: "output", or a NamedTuple's fields ("boxes", ...)."""
    if isinstance(out, torch.Tensor):
        return [(prefix.strip() or "output", out)]
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return [pair for key, item in zip(out._fields, out, strict=True) for pair in _named(item, f"{prefix}{key} ")]
    items = out if isinstance(out, (tuple, list)) else ()
    return [pair for i, item in enumerate(items) for pair in _named(item, f"{prefix}{i} ")]


def _macs(op: str, args: tuple, out: Any) -> int:
    """Multiply-accumulates of a convolution (output elements x the kernel's inputs) or of a product of activations
    (output elements x the shared dimension), as `model_stats` counts them; 0 for any other operation."""
    if op == "conv2d":
        return out.numel() * math.prod(args[1].shape[1:])  # weight (C_out, C_in / groups, kh, kw)
    if op == "matmul":
        return out.numel() * args[0].shape[-1]
    return 0


def _block(module: nn.Module) -> str:
    """A module's type; a Sequential's, its modules' ("ConvBNSiLU×2 → Conv2d")."""
    if not isinstance(module, nn.Sequential):
        return type(module).__name__
    runs = [(kind, len(list(group))) for kind, group in itertools.groupby(type(m).__name__ for m in module)]
    return " → ".join(f"{kind}×{n}" if n > 1 else kind for kind, n in runs)

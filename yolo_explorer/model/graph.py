"""The whole model as one graph: a node per layer of its table (the input first), an edge per tensor one layer hands
another, labelled with its shape at the chosen input size, the levels the head reads (P3, P4, P5) marked. Every number
a node carries is the statistic the other pages show (`ModelStats`, from the meta device): the graph has none of its
own. The layout is Sugiyama's layered one (igraph's `layout_sugiyama`), computed once per graph; a long edge (a skip
connection from the backbone to the neck) bends through the layers it crosses instead of cutting through their nodes.

    graph = model_graph(model_stats(config, (640, 640)), config.label)
    graph.node("2").values["macs"], graph.edges[0].shape
    graph.layout.positions["23"], graph.layout.paths[("16", "23")]     # (x, y), and an edge's polyline
    graph.by_part()                                                      # backbone -> neck -> head, summed
    graph.painted("time", {layer.name: layer.ms for layer in profile.layers})   # a measured number painted on it

The numbers a forward measures (each layer's time, the photo's activation strength, int8's error, a Why-this-box map's
share: `MEASURED`) are painted on a copy of the graph with `painted`; the layout is the same object, computed once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from .layer_spec import LayerSpec
from .stats import LayerStats, ModelStats

__all__ = [
    "INPUT",
    "MEASURED",
    "METRICS",
    "PAINTS",
    "Aligned",
    "GraphEdge",
    "GraphLayout",
    "GraphNode",
    "ModelGraph",
    "align",
    "model_graph",
]

INPUT = "input"  # the node of the photo's input tensor
METRICS: dict[str, str] = {  # what a node can be painted by -> its name on the page (each one a `LayerStats` field)
    "macs": "MACs",
    "params": "parameters",
    "activation_bytes": "activation memory",
    "receptive_field": "receptive field",
    "stride": "stride",
}
MEASURED: dict[str, str] = {  # what a forward on the photo (or a timing, or int8) measures -> its name on the page
    "time": "measured time",
    "activation": "activation strength",
    "int8": "int8 error",
    "drift": "int8 drift",
    "why": "Why-this-box share",
}
PAINTS: dict[str, str] = METRICS | MEASURED  # everything a node can be painted by
SUMMED = ("macs", "params", "activation_bytes", "time")  # what a part's node sums over its layers


@dataclass(frozen=True)
class GraphNode:
    """One layer (or the input, or a whole part).

    Attributes:
        name: the layer's name as the model names it ("2", "stage2_c3k2"), "input", or a part's name.
        label: what the node shows ("2 C3k2").
        block: its block type ("C3k2", "Detect").
        part: "input", "backbone", "neck" or "head".
        shape: its output's shape, (C, H, W) (the head: (4 + classes, anchors)).
        feature: "P3", "P4" or "P5" where the head reads it, else "".
        values: each of `METRICS` for it.
        layers: the layers it stands for (a part's node: all of them; a layer's: itself).
        spec: the layer's definition (its `LayerSpec`: block, channels, flags), when the graph was given them.
    """

    name: str
    label: str
    block: str
    part: str
    shape: tuple[int, ...]
    feature: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    spec: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class GraphEdge:
    """A tensor `source` hands `target`, and its shape."""

    source: str
    target: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GraphLayout:
    """Where each node sits ((x, y): x across, y down, one unit per layer of the layout) and each edge's polyline."""

    positions: Mapping[str, tuple[float, float]]
    paths: Mapping[tuple[str, str], tuple[tuple[float, float], ...]]

    @property
    def width(self) -> float:
        """Across, the rightmost node or edge bend (a long edge is routed beside the nodes it passes) + 1."""
        bends = (x for path in self.paths.values() for x, _ in path)
        return max((*(x for x, _ in self.positions.values()), *bends), default=0.0) + 1

    @property
    def depth(self) -> float:
        return max((y for _, y in self.positions.values()), default=0.0) + 1


@dataclass(frozen=True)
class ModelGraph:
    """The nodes in the model's order (the input first) and the edges between them."""

    title: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def node(self, name: str) -> GraphNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in the graph of {self.title}")

    def values(self, metric: str) -> dict[str, float | None]:
        """Each node's value of `metric` (a key of `PAINTS`; a measured one only once `painted`: None where the
        measurement has no value for a node)."""
        if metric not in PAINTS:
            raise ValueError(f"paint by one of {', '.join(PAINTS)}, not {metric!r}")
        if metric in MEASURED and any(metric not in n.values for n in self.nodes):
            raise ValueError(f"{MEASURED[metric]} is measured: paint it on the graph first (ModelGraph.painted)")
        return {n.name: n.values[metric] for n in self.nodes}

    def painted(self, metric: str, values: Mapping[str, float | None]) -> ModelGraph:
        """This graph with `values` (layer name -> value of the measured `metric`) on its nodes: a part's node sums its
        layers' times and takes the largest of the other numbers; a node with no value gets None (the input always).
        The copy shares this graph's layout (nothing is laid out again)."""
        if metric not in MEASURED:
            raise ValueError(f"paint a measured number ({', '.join(MEASURED)}), not {metric!r}")
        nodes = []
        for node in self.nodes:
            known = [float(values[n]) for n in node.layers if values.get(n) is not None]
            value = None if node.part == INPUT or not known else sum(known) if metric in SUMMED else max(known)
            nodes.append(replace(node, values={**node.values, metric: value}))
        graph = ModelGraph(self.title, tuple(nodes), self.edges)
        graph.__dict__["layout"] = self.layout  # the cached property, shared
        return graph

    @functools.cached_property
    def layout(self) -> GraphLayout:
        return _sugiyama(self)

    def rises(self, metric: str, factor: float = 2.0, floor: float = 1e-3) -> list[str]:
        """The nodes whose value of `metric` is over `factor` times the largest of what they read (and over `floor`):
        where a number such as int8's drift is made rather than carried from the layers before. The input reads as 0;
        a node reading one that has no value (an opened layer's operation) is never one."""
        values = self.values(metric)
        sources: dict[str, list[str]] = {}
        for edge in self.edges:
            sources.setdefault(edge.target, []).append(edge.source)
        found = []
        for node in self.nodes:
            value = values[node.name]
            read = [0.0 if self.node(s).part == INPUT else values[s] for s in sources.get(node.name, [])]
            if value is None or value <= floor or None in read:  # what it reads unknown: it cannot be told
                continue
            if value > factor * max(read, default=0.0):
                found.append(node.name)
        return found

    def expanded(self, name: str, parts: ModelGraph) -> ModelGraph:
        """This graph with layer `name` replaced by `parts` (its `graph_parts.block_graph`): each part a node named
        "name/part", the tensors into the layer wired to the parts that read them (the parts' inputs, in the order of
        the layer's sources), and what the layer hands on leaving the part that makes its output. The layer's level
        (P3) moves to that part; a module part stands for its module ("16.m.0": a measured number may paint it), an
        operation for none. The copy is laid out afresh.

        Raises:
            KeyError: no such layer.
            ValueError: `parts` has as many inputs as the layer has sources, or an output, not.
        """
        layer = self.node(name)
        into = [e for e in self.edges if e.target == name]
        inputs = [n.name for n in parts.nodes if n.part == INPUT]
        outputs = [n.name for n in parts.nodes if n.feature]
        if len(inputs) != len(into) or not outputs:
            raise ValueError(f"the parts of {name} read {len(inputs)} tensors and the layer {len(into)}, or make none")
        source = {part: edge.source for part, edge in zip(inputs, into, strict=True)}
        last = outputs[-1] if layer.block != "Detect" else outputs[0]  # what the next layer reads (a head: nothing)

        def renamed(part: str) -> str:
            return source.get(part) or f"{name}/{part}"

        nodes = []
        for node in self.nodes:
            if node.name != name:
                nodes.append(node)
                continue
            for part in parts.nodes:
                if part.part != INPUT:
                    feature = layer.feature if part.name == last else ""
                    module = part.layers == (f"{name}.{part.name}",)  # else an operation: it stands for no module
                    nodes.append(
                        replace(
                            part, name=renamed(part.name), label=f"{name}: {part.label}", feature=feature, spec=None,
                            layers=part.layers if module else (),
                        )
                    )  # fmt: skip
        edges = []
        for edge in self.edges:
            if edge.target == name:
                continue
            edges.append(replace(edge, source=renamed(last)) if edge.source == name else edge)
        edges += [GraphEdge(renamed(e.source), renamed(e.target), e.shape) for e in parts.edges]
        return ModelGraph(self.title, tuple(nodes), tuple(edges))

    def by_part(self) -> ModelGraph:
        """The same model with each part (backbone, neck, head) one node: the parts' layers summed (`SUMMED`), the rest
        of their values and their shape their last layer's; an edge where a layer of one part feeds one of another."""
        parts: dict[str, list[GraphNode]] = {}
        for node in self.nodes:
            parts.setdefault(node.part, []).append(node)
        merged = []
        for part, nodes in parts.items():
            if part == INPUT:
                merged.append(nodes[0])
                continue
            last = nodes[-1]
            values = {m: (sum(n.values[m] for n in nodes) if m in SUMMED else last.values[m]) for m in METRICS}
            features = ", ".join(n.feature for n in nodes if n.feature)
            label = f"{part} ({len(nodes)} layers)" if len(nodes) > 1 else f"{part}: {last.label}"
            merged.append(GraphNode(part, label, last.block, part, last.shape, features, values, tuple(n.name for n in nodes)))
        part_of = {n.name: n.part for n in self.nodes}
        edges, seen = [], set()
        for edge in self.edges:
            pair = (part_of[edge.source], part_of[edge.target])
            if pair[0] != pair[1] and pair not in seen:
                seen.add(pair)
                edges.append(GraphEdge(*pair, edge.shape))
        return ModelGraph(self.title, tuple(merged), tuple(edges))

    def to_dict(self) -> dict:
        layout = self.layout
        return {
            "title": self.title,
            "nodes": [
                {
                    "name": n.name,
                    "label": n.label,
                    "block": n.block,
                    "part": n.part,
                    "shape": list(n.shape),
                    "feature": n.feature,
                    "values": dict(n.values),
                    "position": list(layout.positions[n.name]),
                }
                for n in self.nodes
            ],
            "edges": [{"source": e.source, "target": e.target, "shape": list(e.shape)} for e in self.edges],
        }


def model_graph(stats: ModelStats, title: str = "", specs: Sequence[LayerSpec] = ()) -> ModelGraph:
    """The graph of the model `stats` describes: a layer takes the previous one's output unless it names its sources
    (a Concat, the head), and the first layer takes the input; `specs` (the config's `layers()`) give each node its
    definition."""
    spec_of = {spec.name: spec for spec in specs}
    part_of = {name: part for part, names in stats.parts for name in names}
    c, h, w = stats.input_shape
    nodes = [GraphNode(INPUT, f"input {h}×{w}", "input", INPUT, (c, h, w), "", dict.fromkeys(METRICS, 0.0), (INPUT,))]
    edges = []
    shapes = {INPUT: (c, h, w)}
    previous = INPUT
    for layer in stats.layers:
        nodes.append(_node(layer, part_of.get(layer.name, "backbone"), spec_of.get(layer.name)))
        for source in layer.sources or (previous,):
            edges.append(GraphEdge(source, layer.name, shapes[source]))
        shapes[layer.name] = tuple(layer.output_shape)
        previous = layer.name
    return ModelGraph(title, tuple(nodes), tuple(edges))


@dataclass(frozen=True)
class Aligned:
    """A layer of one model beside the layer of another at the same place of their tables (the same index; the input
    beside the input), or beside nothing where one table is longer.

    Attributes:
        same: both are there, of one block type with one output shape and as many parameters, and (where the graphs
            know them) one definition: YOLO26's SPPF has YOLO11's weights but not its forward.
    """

    left: GraphNode | None
    right: GraphNode | None

    @property
    def same(self) -> bool:
        if self.left is None or self.right is None:
            return False
        a, b = self.left, self.right
        same_spec = a.spec is None or b.spec is None or a.spec == b.spec
        return a.block == b.block and a.shape == b.shape and a.values["params"] == b.values["params"] and same_spec

    def difference(self, metric: str) -> float | None:
        """The left's value of `metric` less the right's (None where one is missing)."""
        if self.left is None or self.right is None:
            return None
        a, b = self.left.values.get(metric), self.right.values.get(metric)
        return None if a is None or b is None else a - b


def align(left: ModelGraph, right: ModelGraph) -> tuple[Aligned, ...]:
    """Two models' layers side by side by their place in their tables: YOLO11n's layer 16 beside YOLO26n's layer 16 (the
    same tables, row for row, where the families share them); a layer only one model has stands alone."""
    others = {n.name: n for n in right.nodes}
    pairs = [Aligned(n, others.pop(n.name, None)) for n in left.nodes]
    return tuple(pairs + [Aligned(None, n) for n in right.nodes if n.name in others])


def _node(layer: LayerStats, part: str, spec: LayerSpec | None) -> GraphNode:
    values = {metric: float(getattr(layer, metric)) for metric in METRICS}
    label = f"{layer.name} {layer.block}" if layer.name.isdigit() else layer.name
    shape = tuple(layer.output_shape)
    return GraphNode(layer.name, label, layer.block, part, shape, layer.feature, values, (layer.name,), spec)


def _sugiyama(graph: ModelGraph) -> GraphLayout:
    """igraph's layered layout, shifted to start at x = 0 (igraph may place a graph's widest layers left of it); an
    edge's polyline runs through the control points igraph routes it by where it spans more than one layer
    (`Layout.edge_routing`)."""
    import igraph

    names = [n.name for n in graph.nodes]
    index = {name: i for i, name in enumerate(names)}
    pairs = [(e.source, e.target) for e in graph.edges]
    g = igraph.Graph(n=len(names), edges=[(index[a], index[b]) for a, b in pairs], directed=True)
    layout = g.layout_sugiyama()
    routing = getattr(layout, "edge_routing", None) or [[] for _ in pairs]
    left = min((x for x, _ in [*layout.coords, *(p for bends in routing for p in bends)]), default=0.0)  # can be < 0
    positions = {name: (float(x - left), float(y)) for name, (x, y) in zip(names, layout.coords, strict=True)}
    paths = {
        (a, b): (positions[a], *((float(x - left), float(y)) for x, y in bends), positions[b])
        for (a, b), bends in zip(pairs, routing, strict=True)
    }
    return GraphLayout(positions, paths)

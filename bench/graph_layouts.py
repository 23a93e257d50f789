"""The Model graph page's layout, chosen by measured fit: the same model graphs laid out by each candidate library, and
how readable each drawing is at 1400 px wide and on a 1920x1080 projector. No pass/fail; run it and read the numbers.

Candidates (a library that is not installed is reported and skipped; the project's own environment has igraph only):
- igraph: `layout_sugiyama`, the current one (`ModelGraph.layout`);
- dot, dot-polyline: Graphviz's `dot` binary (`apt-get install graphviz`) through `-Tplain`, its default splines and
  `splines=polyline`, each node given its label's box;
- grandalf: pure-Python Sugiyama (`pip install grandalf`), each node given its label's box;
- networkx: `multipartite_layout` by topological generation, straight edges (a naive layered baseline).

Every drawing is put in one frame before it is measured: y one layer per row (46 px, the page's row, at 1400 px; the
whole graph in 1080 px on the projector), x stretched so that its columns fill the width (1400 or 1920 px, half a box
of margin either side), as the page's Plotly chart does. A node is a box of its label's size (7 px a character + 20,
22 px tall: "16 C3k2" ~70 px) centred on it. Measured:

- ms: time to lay the graph out (median of --repeats; dot: the subprocess included);
- crossings: points where two edges' drawn polylines (splines sampled) cross, not counting those inside the box of a
  node both edges touch; collinear overlaps count once;
- bends: points where an edge's polyline turns by more than 10 degrees ("curve" for splines);
- lanes: the widest layer: nodes on it plus edges passing through it; layers: the depth;
- aspect: width/height of the drawing at its smallest readable size: its closest node and neighbour 70 px apart (a
  label), layers 46 px apart ("-" where they touch); a projector is 1.78;
- pitch: the horizontal distance in px from a node to the nearest other node or passing edge on its layer, the
  smallest over the graph (under ~70 px a label touches its neighbour); on the projector also the row pitch;
- through: (edge, node) pairs where an edge passes through the box of a node it does not connect;
- overlaps: pairs of node boxes that overlap on the projector.

    python bench/graph_layouts.py                       # the five detectors at 640, every installed library
    python bench/graph_layouts.py --quick               # YOLO11n, igraph only, one run (a few seconds)
    PYTHONPATH=/tmp/layoutlibs python bench/graph_layouts.py   # with grandalf and networkx installed there by
                                                        # pip install --target /tmp/layoutlibs grandalf networkx
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import math
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from yolo_explorer import model_stats
from yolo_explorer.model.config import config_for
from yolo_explorer.model.graph import ModelGraph, model_graph

Point = tuple[float, float]
Pair = tuple[str, str]

ROW_PX = 46  # the page's height of one layer (yolo_explorer/present/graph_figures.py)
BOX_H = 22  # a node's box: the page's 22-px marker tall ...
CHAR_PX, PAD_PX = 7, 20  # ... and its label wide (11-px text)
LABEL_PX = 70  # the room a label like "16 C3k2" needs
TURN = math.radians(10)  # a bend
SCREENS = {"1400": (1400, None), "projector": (1920, 1080)}  # width, height (None: the page's rows, scrolling)
MODELS = ("yolo11n", "yolo11x", "yolo26x", "yolov8n", "yolo12n")
SPLINE_STEPS = 8  # points a Bezier piece of dot's splines is sampled at


@dataclass(frozen=True)
class Drawing:
    """A layout: node centres and edge polylines, y down, in the library's own unit."""

    positions: dict[str, Point]
    paths: dict[Pair, list[Point]]
    curved: bool = False


def box(label: str) -> tuple[float, float]:
    return CHAR_PX * len(label) + PAD_PX, BOX_H


# ---------------------------------------------------------------- the candidates


def lay_igraph(graph: ModelGraph) -> Drawing:
    layout = ModelGraph(graph.title, graph.nodes, graph.edges).layout  # a fresh copy: the property is cached
    return Drawing(dict(layout.positions), {pair: list(path) for pair, path in layout.paths.items()})


def _dot(graph: ModelGraph, splines: str) -> Drawing:
    ids = {n.name: f"n{i}" for i, n in enumerate(graph.nodes)}
    names = {v: k for k, v in ids.items()}
    lines = [
        "digraph G {",
        f'  graph [rankdir=TB, nodesep=0.25, ranksep={(ROW_PX - BOX_H) / 72:.4f}, splines="{splines}"];',
        f'  node [shape=box, fixedsize=true, height={BOX_H / 72:.4f}, label=""];',
        "  edge [dir=none];",
    ]
    lines += [f"  {ids[n.name]} [width={box(n.label)[0] / 72:.4f}];" for n in graph.nodes]
    lines += [f"  {ids[e.source]} -> {ids[e.target]};" for e in graph.edges]
    run = subprocess.run(["dot", "-Tplain"], input="\n".join(lines + ["}"]), capture_output=True, text=True, check=True)
    height, positions, paths = 0.0, {}, {}
    for line in run.stdout.splitlines():
        f = line.split()
        if f[0] == "graph":
            height = float(f[3]) * 72
        elif f[0] == "node":
            positions[names[f[1]]] = (float(f[2]) * 72, height - float(f[3]) * 72)
        elif f[0] == "edge":
            n = int(f[3])
            points = [(float(f[4 + 2 * i]) * 72, height - float(f[5 + 2 * i]) * 72) for i in range(n)]
            paths[(names[f[1]], names[f[2]])] = points if splines == "polyline" else _bezier(points)
    return Drawing(positions, paths, curved=splines != "polyline")


def _bezier(points: list[Point]) -> list[Point]:
    """A piecewise cubic Bezier (p0 c c p1 c c p2 ...) sampled as a polyline."""
    out = [points[0]]
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i : i + 4]
        for k in range(1, SPLINE_STEPS + 1):
            t = k / SPLINE_STEPS
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def lay_dot(graph: ModelGraph) -> Drawing:
    return _dot(graph, "true")


def lay_dot_polyline(graph: ModelGraph) -> Drawing:
    return _dot(graph, "polyline")


def lay_grandalf(graph: ModelGraph) -> Drawing:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    class View:
        def __init__(self, w: float, h: float) -> None:
            self.w, self.h, self.xy = w, h, (0.0, 0.0)

    class EdgeView:
        points: list[Point] = []

        def setpath(self, points: list[Point]) -> None:
            self.points = [(float(x), float(y)) for x, y in points]

    vertices = {}
    for node in graph.nodes:
        vertices[node.name] = Vertex(node.name)
        vertices[node.name].view = View(*box(node.label))
    edges = {}
    for e in graph.edges:
        edges[(e.source, e.target)] = Edge(vertices[e.source], vertices[e.target])
        edges[(e.source, e.target)].view = EdgeView()
    g = Graph(list(vertices.values()), list(edges.values()))
    (component,) = g.C
    sugiyama = SugiyamaLayout(component)
    sugiyama.xspace, sugiyama.yspace = 18, ROW_PX - BOX_H
    sugiyama.init_all(roots=[vertices[graph.nodes[0].name]])
    sugiyama.draw()
    positions = {name: (float(v.view.xy[0]), float(v.view.xy[1])) for name, v in vertices.items()}
    return Drawing(positions, {pair: e.view.points for pair, e in edges.items()})


def lay_networkx(graph: ModelGraph) -> Drawing:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(n.name for n in graph.nodes)
    g.add_edges_from((e.source, e.target) for e in graph.edges)
    for layer, names in enumerate(nx.topological_generations(g)):
        for name in names:
            g.nodes[name]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    first, last = graph.nodes[0].name, graph.nodes[-1].name
    sign = 1.0 if pos[last][1] >= pos[first][1] else -1.0  # y down: the input on top
    positions = {name: (float(x), sign * float(y)) for name, (x, y) in pos.items()}
    return Drawing(positions, {(e.source, e.target): [positions[e.source], positions[e.target]] for e in graph.edges})


@dataclass(frozen=True)
class Candidate:
    name: str
    lay: Callable[[ModelGraph], Drawing]
    needs: str  # a module to import, or "dot" the binary
    install: str


CANDIDATES = (
    Candidate("igraph", lay_igraph, "igraph", "pip install igraph (the project's dependency)"),
    Candidate("dot", lay_dot, "dot", "apt-get install graphviz"),
    Candidate("dot-polyline", lay_dot_polyline, "dot", "apt-get install graphviz"),
    Candidate("grandalf", lay_grandalf, "grandalf", "pip install grandalf"),
    Candidate("networkx", lay_networkx, "networkx", "pip install networkx"),
)


def version(needs: str) -> str | None:
    """The library and its version, None where it is not installed."""
    if needs == "dot":
        if not shutil.which("dot"):
            return None
        run = subprocess.run(["dot", "-V"], capture_output=True, text=True)
        return (run.stderr or run.stdout).strip().removeprefix("dot - ").replace(" version", "")
    try:
        importlib.import_module(needs)
    except ImportError:
        return None
    try:
        return f"{needs} {importlib.metadata.version(needs)}"
    except importlib.metadata.PackageNotFoundError:
        return needs


# ---------------------------------------------------------------- geometry


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def intersection(p: Point, q: Point, r: Point, s: Point) -> Point | None:
    """Where segments pq and rs meet (the middle of their overlap where they are collinear), None where they do not."""
    if max(p[0], q[0]) < min(r[0], s[0]) or max(r[0], s[0]) < min(p[0], q[0]):
        return None
    if max(p[1], q[1]) < min(r[1], s[1]) or max(r[1], s[1]) < min(p[1], q[1]):
        return None
    d = (q[0] - p[0]) * (s[1] - r[1]) - (q[1] - p[1]) * (s[0] - r[0])
    scale = math.dist(p, q) * math.dist(r, s)
    if scale == 0:
        return None
    if abs(d) <= 1e-9 * scale:  # parallel: collinear overlap or nothing
        if abs(_cross(p, q, r)) > 1e-9 * scale:
            return None
        axis = 0 if abs(q[0] - p[0]) >= abs(q[1] - p[1]) else 1
        lo = max(min(p[axis], q[axis]), min(r[axis], s[axis]))
        hi = min(max(p[axis], q[axis]), max(r[axis], s[axis]))
        if hi - lo <= 1e-9:
            return None
        t = ((lo + hi) / 2 - p[axis]) / (q[axis] - p[axis])
        return p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
    t = ((r[0] - p[0]) * (s[1] - r[1]) - (r[1] - p[1]) * (s[0] - r[0])) / d
    u = ((r[0] - p[0]) * (q[1] - p[1]) - (r[1] - p[1]) * (q[0] - p[0])) / d
    if -1e-9 <= t <= 1 + 1e-9 and -1e-9 <= u <= 1 + 1e-9:
        return p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
    return None


def inside(point: Point, centre: Point, size: tuple[float, float]) -> bool:
    return abs(point[0] - centre[0]) <= size[0] / 2 and abs(point[1] - centre[1]) <= size[1] / 2


def segment_hits_box(p: Point, q: Point, centre: Point, size: tuple[float, float]) -> bool:
    """Whether segment pq passes through the box (Liang-Barsky clipping)."""
    x0, x1 = centre[0] - size[0] / 2, centre[0] + size[0] / 2
    y0, y1 = centre[1] - size[1] / 2, centre[1] + size[1] / 2
    dx, dy = q[0] - p[0], q[1] - p[1]
    lo, hi = 0.0, 1.0
    for step, room in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if step == 0:
            if room < 0:
                return False
            continue
        t = room / step
        if step < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def x_at(path: Sequence[Point], y: float) -> float | None:
    """Where a polyline crosses the horizontal line at y strictly between its ends, None where it does not."""
    if not min(path[0][1], path[-1][1]) + 1e-6 < y < max(path[0][1], path[-1][1]) - 1e-6:
        return None
    for (x0, y0), (x1, y1) in zip(path, path[1:], strict=False):
        if min(y0, y1) <= y <= max(y0, y1) and y0 != y1:
            return x0 + (y - y0) / (y1 - y0) * (x1 - x0)
    return None


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Frame:
    """A drawing on a screen: px, y down."""

    positions: dict[str, Point]
    paths: dict[Pair, list[Point]]
    sizes: dict[str, tuple[float, float]]
    row: float  # px between layers


def layers_of(drawing: Drawing) -> tuple[float, float, int]:
    """The top node's y, the distance between two layers and how many layers (the nodes sit on a grid of rows)."""
    ys = sorted({round(y, 6) for _, y in drawing.positions.values()})
    row = min((b - a for a, b in zip(ys, ys[1:], strict=False)), default=1.0)
    depth = round((ys[-1] - ys[0]) / row) + 1
    return ys[0], row, depth


def frame(graph: ModelGraph, drawing: Drawing, width: int, height: int | None) -> Frame:
    top, row, depth = layers_of(drawing)
    row_px = ROW_PX if height is None else (height - BOX_H) / max(depth - 1, 1)
    xs = [x for x, _ in drawing.positions.values()] + [x for path in drawing.paths.values() for x, _ in path]
    sizes = {n.name: box(n.label) for n in graph.nodes}
    margin = max(w for w, _ in sizes.values())  # half the widest box either side
    extent = max(xs) - min(xs)
    sx = (width - margin) / extent if extent > 0 else 1.0

    def px(p: Point) -> Point:
        return margin / 2 + (p[0] - min(xs)) * sx, BOX_H / 2 + (p[1] - top) / row * row_px

    return Frame(
        {name: px(p) for name, p in drawing.positions.items()},
        {pair: [px(p) for p in path] for pair, path in drawing.paths.items()},
        sizes,
        row_px,
    )


def crossings(f: Frame) -> int:
    edges = list(f.paths.items())
    count = 0
    for i, ((a, b), path) in enumerate(edges):
        for (c, d), other in edges[i + 1 :]:
            shared = {a, b} & {c, d}
            points = set()
            for p, q in zip(path, path[1:], strict=False):
                for r, s in zip(other, other[1:], strict=False):
                    hit = intersection(p, q, r, s)
                    if hit is None or any(inside(hit, f.positions[n], f.sizes[n]) for n in shared):
                        continue
                    points.add((round(hit[0]), round(hit[1])))  # one crossing at a vertex two segments share
            count += len(points)
    return count


def bends(f: Frame) -> int:
    count = 0
    for path in f.paths.values():
        points = [p for i, p in enumerate(path) if i == 0 or math.dist(p, path[i - 1]) > 1e-6]
        for p, q, r in zip(points, points[1:], points[2:], strict=False):
            a = math.atan2(q[1] - p[1], q[0] - p[0])
            b = math.atan2(r[1] - q[1], r[0] - q[0])
            turn = abs((b - a + math.pi) % (2 * math.pi) - math.pi)
            count += turn > TURN
    return count


def through(f: Frame) -> int:
    count = 0
    for (a, b), path in f.paths.items():
        for name, centre in f.positions.items():
            if name in (a, b):
                continue
            if any(segment_hits_box(p, q, centre, f.sizes[name]) for p, q in zip(path, path[1:], strict=False)):
                count += 1
    return count


def overlaps(f: Frame) -> int:
    names = list(f.positions)
    count = 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (xa, ya), (xb, yb) = f.positions[a], f.positions[b]
            if abs(xa - xb) < (f.sizes[a][0] + f.sizes[b][0]) / 2 and abs(ya - yb) < BOX_H:
                count += 1
    return count


def neighbours(drawing: Drawing) -> tuple[int, float]:
    """The widest layer's items (nodes and passing edges), and the smallest horizontal distance from a node to another
    item on its layer (in the drawing's unit; inf where every node is alone)."""
    top, row, depth = layers_of(drawing)
    on_layer: dict[int, list[tuple[float, str | None]]] = {}
    for name, (x, y) in drawing.positions.items():
        on_layer.setdefault(round((y - top) / row), []).append((x, name))
    for layer in range(depth):
        y = top + layer * row
        for path in drawing.paths.values():
            x = x_at(path, y)
            if x is not None:
                on_layer.setdefault(layer, []).append((x, None))
    gap = math.inf
    for items in on_layer.values():
        for x, name in items:
            if name is not None:
                gap = min([gap] + [abs(x - x2) for x2, other in items if other != name])
    return max(len(items) for items in on_layer.values()), gap


@dataclass(frozen=True)
class Row:
    ms: float
    crossings: int
    bends: int | None
    lanes: int
    layers: int
    aspect: float | None
    pitch: dict[str, tuple[float, float]]  # screen -> (horizontal px, row px)
    through: dict[str, int]
    overlaps: int


def measure(graph: ModelGraph, lay: Callable[[ModelGraph], Drawing], repeats: int) -> Row:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        drawing = lay(graph)
        times.append(time.perf_counter() - start)
    frames = {screen: frame(graph, drawing, *size) for screen, size in SCREENS.items()}
    lanes, gap = neighbours(drawing)
    _, row, depth = layers_of(drawing)
    xs = [x for x, _ in drawing.positions.values()] + [x for path in drawing.paths.values() for x, _ in path]
    extent = max(xs) - min(xs)
    pitch = {}
    for screen, (width, _) in SCREENS.items():
        sx = (width - max(w for w, _ in frames[screen].sizes.values())) / extent if extent > 0 else 1.0
        pitch[screen] = (gap * sx if math.isfinite(gap) else float(width), frames[screen].row)
    aspect = None
    if 0 < gap < math.inf:
        aspect = (extent / gap * LABEL_PX + LABEL_PX) / (depth * ROW_PX)
    main = frames["1400"]
    return Row(
        ms=statistics.median(times) * 1000,
        crossings=crossings(main),
        bends=None if drawing.curved else bends(main),
        lanes=lanes,
        layers=depth,
        aspect=aspect,
        pitch=pitch,
        through={screen: through(f) for screen, f in frames.items()},
        overlaps=overlaps(frames["projector"]),
    )


# ---------------------------------------------------------------- printing

HEADER = (
    "| model    | layout       |       ms | crossings | bends | lanes | layers | aspect "
    "| 1400: pitch px | through | projector: pitch px (h x row) | through | overlaps |"
)


def line(model: str, layout: str, row: Row) -> str:
    bends = "curve" if row.bends is None else str(row.bends)
    aspect = "-" if row.aspect is None else f"{row.aspect:.2f}"
    h, _ = row.pitch["1400"]
    ph, pv = row.pitch["projector"]
    return (
        f"| {model:8} | {layout:12} | {row.ms:8.1f} | {row.crossings:9d} | {bends:>5} | {row.lanes:5d} | {row.layers:6d} "
        f"| {aspect:>6} | {h:14.0f} | {row.through['1400']:7d} | {ph:19.0f} x {pv:7.0f} | {row.through['projector']:7d} "
        f"| {row.overlaps:8d} |"
    )


def separator(header: str) -> str:
    return "".join("|" if c == "|" else "-" for c in header)


def cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="architectures (default: %(default)s)")
    parser.add_argument("--size", type=int, default=640, help="input side (default 640)")
    parser.add_argument("--layouts", nargs="+", choices=[c.name for c in CANDIDATES], default=[c.name for c in CANDIDATES])
    parser.add_argument("--repeats", type=int, default=5, help="timed layouts per graph, median (default 5)")
    parser.add_argument("--quick", action="store_true", help="YOLO11n, igraph only, one run: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.models, args.layouts, args.repeats = ["yolo11n"], ["igraph"], 1

    print(f"# yolo-explorer graph layouts, {time.strftime('%Y-%m-%d %H:%M %Z')}, {cpu()}, Python {platform.python_version()}")
    candidates = []
    for candidate in CANDIDATES:
        if candidate.name not in args.layouts:
            continue
        found = version(candidate.needs)
        if found is None:
            print(f"# {candidate.name}: not installed ({candidate.install}), skipped")
        else:
            print(f"# {candidate.name}: {found}")
            candidates.append(candidate)
    print(f"# models at {args.size} px, detectors; median of {args.repeats} layouts each\n")

    graphs = []
    for arch in args.models:
        config = config_for(arch, detector=True)
        graphs.append((arch, model_graph(model_stats(config, (args.size, args.size), "fp32"), config.label)))

    print(HEADER)
    print(separator(HEADER))
    rows: dict[str, list[Row]] = {c.name: [] for c in candidates}
    for arch, graph in graphs:
        for candidate in candidates:
            row = measure(graph, candidate.lay, args.repeats)
            rows[candidate.name].append(row)
            print(line(arch, candidate.name, row), flush=True)

    if len(graphs) > 1 and candidates:
        total = "| layout       | median ms | crossings | bends | 1400: least pitch | through | projector: through | overlaps |"
        print(f"\nall {len(graphs)} models together (sums; the least pitch over the models)")
        print(total)
        print(separator(total))
        for name, measured in rows.items():
            bends = "curve" if measured[0].bends is None else str(sum(r.bends or 0 for r in measured))
            print(
                f"| {name:12} | {statistics.median(r.ms for r in measured):9.1f} | {sum(r.crossings for r in measured):9d} "
                f"| {bends:>5} | {min(r.pitch['1400'][0] for r in measured):17.0f} "
                f"| {sum(r.through['1400'] for r in measured):7d} | {sum(r.through['projector'] for r in measured):18d} "
                f"| {sum(r.overlaps for r in measured):8d} |"
            )


if __name__ == "__main__":
    main()

"""Model graph: the whole model as one picture, painted by any of the numbers the other pages show; a click on a layer
opens its detail beside the graph (its numbers, its feature maps on the photo, its block's own forward), and the view
downloads as one HTML file that opens offline."""

from __future__ import annotations

import inspect
import textwrap

import pandas as pd
import streamlit as st

from pages import ui
from pages.ui.controls import BESIDE, PAINT
from pages.ui.graph_paint import measured
from pages.ui.sidebar import ARCH_LABELS
from yolo_explorer.model.config import config_for
from yolo_explorer.model.graph import INPUT, MEASURED, METRICS, PAINTS, GraphNode, ModelGraph, align
from yolo_explorer.present.formatting import escape_markdown
from yolo_explorer.present.graph_figures import graph_figure, metric_text

SELECTED = "graph_selected"  # the layer whose detail is open, by model: {graph key: node name}
SOURCE_LINES = 30  # the most lines of a block's forward shown
INT8 = "int8"  # Beside: this model quantized
BESIDE_SELECTED = "graph_beside_selected"  # the place selected in two graphs side by side: {their key: node name}
OPENED = "graph_opened"  # the layers opened into their parts, by graph: {graph key: [layer names]}
BESIDE_SEEN = "graph_beside_seen"  # each side-by-side chart's last click, by chart key
SHORT = {"macs": "MACs", "params": "Parameters", "activation_bytes": "Activation memory", "receptive_field": "Receptive field",
         "stride": "Stride", "time": "Measured time", "activation": "Activation strength", "int8": "int8 error",
         "drift": "int8 drift", "why": "Why-this-box share"}  # fmt: skip


def main() -> None:
    settings = ui.current_settings()
    st.title("Model graph")
    st.caption(
        f"{settings.config.label} at {settings.size_label}: every layer, the tensors between them with their shapes, "
        "painted by one number (the same numbers as the Overview's table). Click a layer for its detail."
    )
    metric, by_part, shapes, beside = controls(settings)
    with ui.guard("laying out the graph"):
        graph = ui.graph_for(settings.config, settings.size, settings.dtype, by_part)
    if beside and beside != INT8 and metric in MEASURED:
        st.info(
            f"{MEASURED[metric].capitalize()} is measured on one model; two models side by side are painted by a "
            "number both have: MACs here (choose another above).",
            icon=":material/info:",
        )  # fmt: skip
        metric = "macs"
    key = (settings.config, settings.size, by_part)
    if not (beside or by_part):
        graph = _with_opened(settings, graph, key)
    how = ""
    if metric in MEASURED:
        found = measured(settings, graph, metric)
        if found is None:
            metric = "macs"
        else:
            graph, how = found
    if beside == INT8:
        draw_int8_beside(settings, graph, metric, shapes, how)
        return
    if beside:
        draw_beside(settings, graph, beside, metric, by_part, shapes)
        return
    selected = _selected(graph, key)
    marked = graph.rises("drift") if metric == "drift" else ()
    figure = graph_figure(graph, metric, selected=selected, shapes=shapes, marked=marked)
    left, right = st.columns([3, 2], gap="medium")
    name = _file_name(settings, metric)
    with left:
        event = st.plotly_chart(
            figure,
            width="stretch",
            key=f"graph_chart_{by_part}",
            on_select="rerun",
            selection_mode="points",
            config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": name}},
        )
        if how:
            st.caption(how)
    clicked = _clicked(event)  # a click kept from another model's graph names no node of this one: ignored
    if clicked is not None and clicked != selected and clicked in {n.name for n in graph.nodes}:
        st.session_state.setdefault(SELECTED, {})[key] = clicked
        st.rerun()
    with right:
        if selected is None:
            st.info("Click a layer of the graph to see its detail here.", icon=":material/touch_app:")
        else:
            detail(settings, graph.node(selected), by_part, key)
        export(settings, graph, metric, selected, shapes)


def controls(settings: ui.Settings) -> tuple[str, bool, bool, str]:
    """Paint by which number, layers or parts, shapes on the edges, and another model beside; a link may set the number
    and the model beside (paint=params&beside=yolo26n)."""
    st.session_state.setdefault(PAINT.key, PAINT.default)  # its value from Session State only: a link may set it
    ui.links.set_from_link(PAINT, BESIDE)
    chosen = st.segmented_control(
        "Paint by", PAINT.values, required=True, key=PAINT.key,
        help="Each layer's colour on one scale from the smallest value to the largest; hover a layer for all of them.",
    )  # fmt: skip
    metric = next(word for word, label in PAINTS.items() if label == chosen)
    ui.links.publish_page(PAINT.link, None if chosen == PAINT.default else metric)
    cols = st.columns([2, 2, 3], vertical_alignment="bottom")
    by_part = cols[0].toggle("Parts only", key="graph_parts", help="Backbone, neck and head one node each, their layers summed.")
    shapes = cols[1].toggle("Tensor shapes", value=True, key="graph_shapes", help="Each edge labelled with its tensor's shape.")
    choices = [a for a in BESIDE.values if a != settings.arch and not (settings.detector and a == "tutorial")]
    label = {INT8: f"{settings.config.label} in int8", **ARCH_LABELS}
    if st.session_state.get(BESIDE.key) not in choices:
        st.session_state[BESIDE.key] = ""
    beside = cols[2].selectbox(
        "Beside", choices, key=BESIDE.key, format_func=lambda a: label.get(a, a) if a else "nothing",
        help="Another model at the same size, its layers aligned with these by their place in the table; or this model "
        "quantized to int8, each layer painted by how far its output drifts from float's.",
    )  # fmt: skip
    ui.links.publish_page(BESIDE.link, beside or None)
    return metric, by_part, shapes, beside


def draw_beside(settings: ui.Settings, graph: ModelGraph, arch: str, metric: str, by_part: bool, shapes: bool) -> None:
    """The two models side by side on one colour scale, the layers that differ ringed in red; or this model painted by
    its difference from the other."""
    classes = settings.config.num_classes if settings.detector else None
    with ui.guard(f"laying out {arch}'s graph"):
        config = config_for(arch, detector=settings.detector, classes=classes)
        other = ui.graph_for(config, settings.size, settings.dtype, by_part)
    pairs = align(graph, other)
    differ = [p for p in pairs if not p.same]
    difference = st.toggle(
        f"Paint {graph.title} by its difference from {other.title}", key="graph_difference",
        help="Each layer's value less the other model's layer at the same place (blue: less, red: more).",
    )  # fmt: skip
    values = [v for g in (graph, other) for n, v in g.values(metric).items() if g.node(n).part != INPUT]
    scale = (min(values), max(values))
    sync = (settings.config, config, settings.size, by_part)
    names = {n.name for g in (graph, other) for n in g.nodes}
    selected = _synced(sync, names)
    left, right = st.columns(2, gap="small")
    with left:
        diff = {p.left.name: p.difference(metric) for p in pairs if p.left is not None} if difference else None
        title = f"{graph.title} less {other.title}: {METRICS[metric]}" if difference else None
        figure = graph_figure(
            graph, metric, shapes=shapes, scale=scale, marked=[p.left.name for p in differ if p.left], difference=diff,
            title=title, selected=selected,
        )  # fmt: skip
        _synced_chart(figure, "graph_left", sync, names)
    with right:
        figure = graph_figure(
            other, metric, shapes=shapes, scale=scale, marked=[p.right.name for p in differ if p.right], selected=selected
        )  # fmt: skip
        _synced_chart(figure, "graph_right", sync, names)
    if selected is not None:
        pair = next(p for p in pairs if (p.left or p.right).name == selected)
        _place_table(pair, graph.title, other.title)
    same = len(pairs) - len(differ)
    st.caption(
        f"{same} of {len(pairs)} places hold the same layer in both (block, output shape, parameters, definition); the "
        f"{len(differ)} others are ringed in red. Both graphs share one colour scale."
    )
    if differ:
        rows = [
            {
                "layer": (p.left or p.right).name,
                graph.title: f"{p.left.block} {'×'.join(map(str, p.left.shape))}" if p.left else "",
                other.title: f"{p.right.block} {'×'.join(map(str, p.right.shape))}" if p.right else "",
                f"{METRICS[metric]}: difference": p.difference(metric),
            }
            for p in differ
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def draw_int8_beside(settings: ui.Settings, graph: ModelGraph, metric: str, shapes: bool, how: str) -> None:
    """This model in fp32 (painted by `metric`) beside itself in int8, each layer painted by its output's drift from
    fp32's on the judged photos; ringed where the drift is made (over twice what the layer reads)."""
    if metric == "drift":
        drifted, drift_how = graph, how
    else:
        found = measured(settings, graph, "drift")
        if found is None:
            return
        drifted, drift_how = found
    rises = drifted.rises("drift")
    sync = (settings.config, INT8, settings.size)
    names = {n.name for n in graph.nodes}
    selected = _synced(sync, names)
    left, right = st.columns(2, gap="small")
    with left:
        title = f"{graph.title} in fp32: {PAINTS[metric]}"
        _synced_chart(graph_figure(graph, metric, shapes=shapes, title=title, selected=selected), "graph_left", sync, names)
        if how and metric != "drift":
            st.caption(how)
    with right:
        title = f"{graph.title} in int8: drift from fp32"
        figure = graph_figure(drifted, "drift", shapes=shapes, marked=rises, title=title, selected=selected)
        _synced_chart(figure, "graph_right", sync, names)
        st.caption(drift_how)
    if selected is not None and selected != INPUT:
        node = drifted.node(selected)
        reads = [e.source for e in drifted.edges if e.target == selected]
        before = ", ".join(f"{s} {metric_text('drift', drifted.node(s).values.get('drift'))}" for s in reads)
        st.markdown(
            f"**{escape_markdown(node.label)}**: {PAINTS[metric]} {metric_text(metric, graph.node(selected).values[metric])} "
            f"in fp32; int8 drift **{metric_text('drift', node.values['drift'])}**, reading {escape_markdown(before)}."
        )
    values = drifted.values("drift")
    worst = sorted((n for n in drifted.nodes if values[n.name] is not None), key=lambda n: -values[n.name])[:6]
    rows = [
        {"layer": n.name, "block": n.block, "drift (1 − cosine)": values[n.name], "made here": n.name in rises} for n in worst
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _synced(key: tuple, names: set[str]) -> str | None:
    """The place selected in both graphs side by side (a click on either)."""
    chosen = st.session_state.setdefault(BESIDE_SELECTED, {}).get(key)
    return chosen if chosen in names else None


def _synced_chart(figure, chart: str, key: tuple, names: set[str]) -> None:
    """One of two graphs side by side: a new click on it selects that place in both. Each chart keeps its last point
    selected, so only a click that changed since this chart's last one counts (else the two would take turns)."""
    event = st.plotly_chart(
        figure, width="stretch", key=chart, on_select="rerun", selection_mode="points",
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}},
    )  # fmt: skip
    clicked = _clicked(event)
    seen = st.session_state.setdefault(BESIDE_SEEN, {})
    if clicked != seen.get(chart):
        seen[chart] = clicked
        if clicked in names and clicked != st.session_state[BESIDE_SELECTED].get(key):
            st.session_state[BESIDE_SELECTED][key] = clicked
            st.rerun()


def _place_table(pair, left: str, right: str) -> None:
    """One place of two graphs side by side: every number of each model's layer there, and their difference."""
    rows = [
        {
            "": METRICS[m],
            left: metric_text(m, pair.left.values[m]) if pair.left else "",
            right: metric_text(m, pair.right.values[m]) if pair.right else "",
            "difference": pair.difference(m),
        }
        for m in METRICS
    ]
    name = (pair.left or pair.right).name
    blocks = " / ".join(p.block for p in (pair.left, pair.right) if p is not None)
    st.markdown(
        f"**Place {escape_markdown(name)}** ({escape_markdown(blocks)}): " + ("the same layer" if pair.same else "differs")
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _selected(graph: ModelGraph, key: tuple) -> str | None:
    """The layer whose detail is open: a link's (layer=16), else this session's last click on this graph."""
    linked = ui.links.linked("layer")
    names = {n.name for n in graph.nodes}
    chosen = st.session_state.setdefault(SELECTED, {})
    if linked is not None:
        if linked in names:
            chosen[key] = linked
        else:
            st.caption(f":material/link: The link's layer {escape_markdown(linked[:60])} is not a node of this graph.")
    selected = chosen.get(key)
    selected = selected if selected in names else None
    ui.links.publish_page("layer", selected)
    return selected


def _clicked(event) -> str | None:
    """The node a click selected (a point's customdata is its name)."""
    points = (getattr(event, "selection", None) or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, str):
            return data
    return None


def detail(settings: ui.Settings, node: GraphNode, by_part: bool, key: tuple) -> None:
    """A node's numbers, a button that opens its layer into its parts in the graph (or closes it), its output on the
    photo and its module's forward."""
    st.subheader(node.label)
    shape = "×".join(map(str, node.shape))
    where = f"{node.block}, in the {node.part}" if node.part != INPUT else "the photo, letterboxed"
    st.markdown(
        f"{escape_markdown(where)}; output **{shape}**" + (f"; the head reads it as **{node.feature}**" if node.feature else "")
    )
    if node.part == INPUT:
        st.image(ui.image_for(settings.photo), caption=escape_markdown(settings.photo.label), width="stretch")
        return
    cols = st.columns(2)
    shown = [m for m in PAINTS if m in node.values]
    for i, number in enumerate(shown):
        cols[i % 2].metric(SHORT[number], metric_text(number, node.values[number]))
    if by_part:
        st.caption("Layers " + ", ".join(node.layers) + ". Show every layer to open one.")
        return
    layer, inside, _ = node.name.partition("/")  # a part of an opened layer: "16/m.0"
    opened = st.session_state.setdefault(OPENED, {}).setdefault(key, [])
    close = inside and st.button(f"Close layer {layer}", icon=":material/unfold_less:", key="graph_close", help=CLOSE_HELP)
    can_open = not inside and node.block not in ONE_OPERATION
    if can_open and st.button("Open it into its parts", icon=":material/unfold_more:", key="graph_open", help=PARTS_HELP):
        opened.append(layer)
        st.session_state[SELECTED][key] = None
        st.rerun()
    if close:
        opened.remove(layer)
        st.session_state[SELECTED][key] = layer
        st.rerun()
    if not node.layers:
        again = node.name.rpartition("#")[0] if "#" in node.name else ""
        st.caption(
            f"{escape_markdown(again)} run again: the same module (its weights, if any, counted at its first call)."
            if again and node.block[:1].isupper()
            else f"An operation of layer {escape_markdown(layer)}'s forward, between its modules: it has no weights "
            "and counts no MACs of its own unless it multiplies two activations (attention's products)."
        )
        return
    path = node.layers[0]
    if node.block != "Detect":
        with ui.guard(f"running the photo to {path}"):
            result = ui.features_for(settings, (path,))
            image = ui.image_for(settings.photo)
        fmap = result.maps.get(path)
        if fmap is not None and not isinstance(fmap, tuple) and fmap.dim() == 3:
            title = f"{node.label}: mean over its {fmap.shape[0]} channels, on the photo"
            chart = ui.views.overlay_chart(settings.forward_key, path, "mean", 0, -1, 0.6, title, fmap, image, result.box)
            ui.show(chart, key="graph_overlay")
    with ui.guard("reading the block's source"):
        module = ui.model_for(settings).get_submodule(path)
    code = _forward_source(type(module))
    if code:
        st.caption(f"How {type(module).__name__} computes its output (the engine's own `forward`):")
        st.code(code, language="python")


def _with_opened(settings: ui.Settings, graph: ModelGraph, key: tuple) -> ModelGraph:
    """The graph with the layers this session opened replaced by their parts (each traced once for every session)."""
    opened = st.session_state.setdefault(OPENED, {}).setdefault(key, [])
    for name in list(opened):
        try:
            graph = graph.expanded(name, ui.parts_for(settings.config, settings.size, settings.dtype, name))
        except KeyError:  # not a layer of this graph
            opened.remove(name)
        except Exception as err:  # noqa: BLE001 (a layer that cannot be opened closes, and the page says why)
            opened.remove(name)
            st.warning(f"Layer {escape_markdown(name)} could not be opened: {ui.explain(err, 'opening it')}")
    if opened:
        st.caption(
            f":material/unfold_more: Opened into their parts: layer{'s' if len(opened) > 1 else ''} "
            f"{', '.join(opened)} (their modules and the operations between them, traced; their MACs and parameters "
            "add up to the layer's). Click a part for its detail, and close it there."
        )
    return graph


ONE_OPERATION = ("Concat", "Upsample")  # layers with nothing inside to open
CLOSE_HELP = "Its parts back into one node."
PARTS_HELP = (
    "Its own modules (a C3k2's cv1, its bottlenecks, cv2; an attention's qkv, products, softmax and projection) and the "
    "operations between them, each with its shape and cost, in the graph in its place."
)


def _forward_source(cls: type) -> str | None:
    """The first lines of a block class's forward."""
    try:
        lines = textwrap.dedent(inspect.getsource(cls.forward)).splitlines()
    except (OSError, TypeError):
        return None
    return "\n".join(lines[:SOURCE_LINES] + (["    ..."] if len(lines) > SOURCE_LINES else []))


def export(settings: ui.Settings, graph: ModelGraph, metric: str, selected: str | None, shapes: bool) -> None:
    """The view as one HTML file that opens offline (Plotly's library inside), and the graph's numbers as JSON."""
    import json

    def html() -> str:
        figure = graph_figure(graph, metric, selected=selected, shapes=shapes)
        config = {"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": _file_name(settings, metric)}}
        return figure.to_html(include_plotlyjs=True, full_html=True, config=config)

    st.download_button(
        "Download this view (HTML, opens offline)", html, file_name=_file_name(settings, metric) + ".html",
        mime="text/html", on_click="ignore", icon=":material/download:",
    )  # fmt: skip
    st.download_button(
        "Download the graph's numbers (JSON)", lambda: json.dumps(graph.to_dict(), indent=1),
        file_name=_file_name(settings, metric) + ".json", mime="application/json", on_click="ignore",
        icon=":material/data_object:",
    )  # fmt: skip
    st.caption("The chart's camera button saves it as PNG (twice the screen's pixels, for a projector); the HTML file's as SVG.")


def _file_name(settings: ui.Settings, metric: str) -> str:
    h, w = settings.size
    return f"graph_{settings.config.label.split(',')[0].replace(' ', '_')}_{h}x{w}_{metric}"


main()

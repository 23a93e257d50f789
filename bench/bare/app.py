"""The floor for `bench/capacity.py`: a bare Streamlit app of yolo-explorer's shape, and nothing else.

The same sidebar widgets, top navigation with seven pages, one page (Feature maps) with five 80x80
Plotly heatmaps, the last one in a fragment under an opacity slider, and one (Model graph) with the Model
graph page's controls over a Plotly graph of 25 nodes (4 with "Parts only"), clickable. No model, no
caching, no figure work beyond these small figures: what one visitor costs Streamlit itself.

    streamlit run bench/bare/app.py
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="bare", layout="wide")


def sidebar() -> None:
    with st.sidebar:
        st.subheader("Backbone")
        arch = st.selectbox("Architecture", ["tutorial", "yolo11n", "yolo11s"], key="arch")
        if arch == "tutorial":
            st.select_slider("Base width w", options=list(range(8, 129, 8)), value=64, key="width")
        with st.expander("More backbone settings"):
            st.slider("Bottlenecks per C3k2 (n)", 1, 4, 2, key="depth")
            st.number_input("Seed of the random weights", 0, 2**31 - 1, 0, key="seed")
            st.file_uploader("Trained weights (optional)", type=["pt", "pth", "safetensors"], key="weights_upload")
            st.radio("BatchNorm statistics", ["batch", "running"], key="batch_norm")
        st.subheader("Input")
        if st.toggle("Square input", value=True, key="square"):
            st.select_slider("Input size (px)", options=list(range(128, 1281, 32)), value=640, key="side")
        st.subheader("Device")
        st.selectbox("Device", ["cpu"], key="device")
        st.selectbox("Precision", ["fp32", "bf16"], key="dtype")
        st.subheader("Image")
        st.segmented_control("Source", ["Sample", "Upload", "Camera"], default="Sample", required=True, key="source")
        st.selectbox("Sample", ["Astronaut", "Cat", "Coffee", "Rocket"], key="sample")
        st.caption("A sample photo.")


def heatmap(seed: int, opacity: float = 1.0) -> go.Figure:
    z = np.random.default_rng(seed).random((80, 80), dtype=np.float32)
    fig = go.Figure(go.Heatmap(z=z, colorscale="Viridis", opacity=opacity))
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=20, b=0))
    return fig


def text_page(title: str) -> None:
    st.title(title)
    st.write("Text only.")


def feature_maps() -> None:
    st.title("Feature maps")
    cols = st.columns(4)
    for i, col in enumerate(cols):
        with col:
            st.plotly_chart(heatmap(i), key=f"map{i}")

    @st.fragment
    def view() -> None:
        opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.55, 0.05, key="fm_opacity")
        st.plotly_chart(heatmap(4, opacity), key="map4")

    view()


PAINT = ["MACs", "parameters", "activation memory", "receptive field", "stride", "measured time"]


def model_graph() -> None:
    """The cheapest page of the Model graph page's shape: its controls and one clickable scatter of nodes and edges."""
    st.title("Model graph")
    chosen = st.segmented_control("Paint by", PAINT, default="MACs", required=True, key="paint")
    cols = st.columns([2, 2, 3], vertical_alignment="bottom")
    parts = cols[0].toggle("Parts only", key="parts")
    shapes = cols[1].toggle("Tensor shapes", value=True, key="shapes")
    cols[2].selectbox("Beside", ["", "yolo11n", "yolo26n"], key="beside", format_func=lambda a: a or "nothing")
    n = 4 if parts else 25
    rng = np.random.default_rng(PAINT.index(chosen))
    x, y, value = rng.random(n), np.arange(n, dtype=float), rng.random(n)
    edges = go.Scatter(x=np.repeat(x, 2)[1:-1], y=np.repeat(y, 2)[1:-1], mode="lines", hoverinfo="skip")
    nodes = go.Scatter(x=x, y=y, mode="markers+text", text=[f"{i} {chosen}" for i in range(n)], marker=dict(size=24, color=value))
    fig = go.Figure([edges, nodes])
    if shapes:
        fig.update_traces(textposition="middle right", selector=dict(mode="markers+text"))
    fig.update_layout(height=700, showlegend=False, margin=dict(l=0, r=0, t=20, b=0))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(fig, key=f"graph_{parts}", on_select="rerun", selection_mode="points")
    right.info("Click a layer of the graph to see its detail here.")


def latency() -> None:
    st.title("Latency")
    with st.form("latency_form"):
        st.select_slider("Batch size", [1, 2, 4, 8], value=1)
        st.form_submit_button("Run")


sidebar()
pages = [
    st.Page(lambda: text_page("Overview"), title="Overview", url_path="overview", default=True),
    st.Page(model_graph, title="Model graph", url_path="graph"),
    st.Page(lambda: text_page("Model summary"), title="Model summary", url_path="model_summary"),
    st.Page(feature_maps, title="Feature maps", url_path="feature_maps"),
    st.Page(latency, title="Latency", url_path="latency"),
    st.Page(lambda: text_page("Compare"), title="Compare", url_path="compare"),
    st.Page(lambda: text_page("Tutorial vs YOLO11"), title="Tutorial vs YOLO11", url_path="versus"),
]
st.navigation(pages, position="top").run()

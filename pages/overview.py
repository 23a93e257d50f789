"""Overview: the data flow with this config's shapes, P3/P4/P5 of the image, the per-layer table, costs."""

from __future__ import annotations

import streamlit as st

from pages import ui
from yolo_explorer.model.stats import ModelStats
from yolo_explorer.present.formatting import human_bytes, human_count
from yolo_explorer.present.insights import (
    cost_insight,
    flow_insight,
    info_flops_insight,
    memory_insight,
    pyramid_insight,
    receptive_field_insight,
)


def main() -> None:
    settings = ui.current_settings()
    heading(settings)
    with ui.guard("computing the statistics"):
        stats = ui.stats_for(settings.config, settings.size, settings.dtype)
    for note in stats.notes:
        st.warning(note, icon=":material/straighten:")
    draw_totals(settings, stats)
    st.subheader("Data flow")
    ui.show(ui.views.flow_chart(settings.config, settings.size, settings.dtype), key="flow")
    st.caption(flow_insight(stats))
    draw_pyramid(settings, stats)
    draw_layer_table(settings, stats)
    st.subheader("Where the parameters and the compute sit")
    ui.show(ui.views.cost_chart(settings.config, settings.size, settings.dtype), key="costs")
    st.caption(cost_insight(stats))
    st.caption(memory_insight(stats))
    st.caption(receptive_field_insight(stats))


def heading(settings: ui.Settings) -> None:
    if settings.detector:
        st.title(f"Inside the {settings.config.label}")
    else:
        st.title(f"Inside the {'YOLOv11' if settings.arch == 'tutorial' else settings.config.label} backbone")
    st.caption(
        f"Input {settings.size_label} · {settings.dtype} on {settings.device} · {settings.weights_label}"
        + ("" if settings.weights else ": the shapes and costs are those of the trained model")
    )


def draw_totals(settings: ui.Settings, stats: ModelStats) -> None:
    """The model's totals; for a detector, each part's share and Ultralytics' published figures beside them."""
    has_attention = stats.attention_macs > 0
    cols = st.columns(5)
    cols[0].metric("Parameters", human_count(stats.params), help=f"{stats.params:,} exactly")
    cols[1].metric(
        "MACs per image",
        human_count(stats.macs),
        help=f"{stats.macs:,} multiply-accumulates in the convolutions" + (" and attention products" if has_attention else ""),
    )
    cols[2].metric("FLOPs per image", human_count(stats.flops), help="2 × MACs, as torch.utils.flop_counter counts them")
    cols[3].metric(
        "Activation memory",
        human_bytes(stats.activation_bytes),
        help=f"all {len(stats.layers)} layer outputs for one image in {stats.dtype}",
    )
    deepest = stats.layers[-1]
    cols[4].metric(
        "Head's receptive field" if settings.detector else "P5 receptive field",
        f"{deepest.receptive_field} px",
        help="The widest field of any prediction: P5 through the head's branches" if settings.detector else None,
    )
    if settings.detector:
        parts = stats.part_totals()
        st.caption(
            " · ".join(
                f"{part}: {human_count(t['params'])} parameters ({t['params'] / stats.params:.0%}), "
                f"{human_count(t['macs'])} MACs ({t['macs'] / stats.macs:.0%})"
                for part, t in parts.items()
            )
        )
        if any(stats.second_branch):
            params, macs = stats.second_branch
            st.caption(
                f"These totals count both of the head's branches, as the model's forward runs them: {human_count(params)} "
                f"parameters and {human_count(macs)} MACs are the one-to-one copy. A deployed model keeps one branch "
                f"(Ultralytics' `fuse()`): {human_count(stats.deployed_params)} parameters, "
                f"{human_count(stats.deployed_flops)} FLOPs."
            )
        published = ui.views.published_comparison(settings.config)
        if published is not None:
            st.dataframe(published, hide_index=True, width="content")
            st.caption(
                "Ultralytics' table rounds its counts (its GFLOPs are at 640×640 for 80 classes, of the fused model with one "
                "head branch, and its counter counts no matrix product, so attention's are left out: the second row counts "
                "that way); the exact figures here are counted on this model (FLOPs by the same rule as "
                "torch.utils.flop_counter). Its speeds are its machines'. Sources: the *What changed* page. The backbone "
                f"alone holds {parts['backbone']['params'] / stats.params:.0%} of the parameters."
            )
        st.caption(info_flops_insight(stats))


def draw_pyramid(settings: ui.Settings, stats: ModelStats) -> None:
    """The mean of each pyramid level's channels on the photo, beside the model's input."""
    st.subheader("P3, P4 and P5 for this image" + (" (the neck's outputs, the head's inputs)" if settings.detector else ""))
    # only this section needs the photo: a photo that cannot be used leaves the table and the costs below
    result = ui.attempt(f"running the {settings.part} on the image", lambda: ui.features_for(settings))
    if result is not None:
        cols = st.columns([1.2, 1, 1, 1])
        model_input = ui.views.jpeg(("letterboxed", settings.photo.digest, settings.size), result.box.image)
        cols[0].image(model_input, caption=f"Model input ({settings.photo.label}, letterboxed)", width="stretch")
        for col, info, fmap in zip(cols[1:], ui.model_for(settings).feature_info, result.outputs, strict=True):
            c, h, w = fmap.shape
            title = f"{info.name}: mean of {c} channels, {h}×{w}"
            with col:
                ui.show(ui.views.mean_chart(settings.forward_key, info.name, title, 330, fmap), key=f"glance_{info.name}")
        st.caption(pyramid_insight(stats))


def draw_layer_table(settings: ui.Settings, stats: ModelStats) -> None:
    """Every layer's statistics, as a table and as CSV and JSON downloads, and what the MACs count."""
    attention_macs = stats.attention_macs
    has_attention = attention_macs > 0
    st.subheader("Per-layer statistics")
    table = ui.views.layer_table(settings.config, settings.size, settings.dtype)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=35 * (len(table) + 1) + 3,  # every row, the total included, without scrolling
        column_config={
            "layer": st.column_config.TextColumn("layer", width="medium" if settings.detector else None),
            "params": st.column_config.NumberColumn("params", format="localized"),
            "MACs": st.column_config.NumberColumn("MACs", format="localized"),
            "FLOPs": st.column_config.NumberColumn("FLOPs", format="localized"),
            "activation bytes": st.column_config.NumberColumn("activation bytes", format="localized"),
            "output": st.column_config.TextColumn("out", help="pyramid output this layer produces"),
            "stride": st.column_config.TextColumn("stride", alignment="right"),
            "receptive field px": st.column_config.TextColumn("receptive field px", alignment="right"),
        },
    )
    name = f"{settings.config.label.replace(' ', '_').replace('=', '')}_{settings.size[0]}x{settings.size[1]}_{settings.dtype}"
    csv_text, json_text = ui.views.stats_files(settings.config, settings.size, settings.dtype)
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "Download CSV", csv_text, file_name=f"{name}.csv", mime="text/csv", on_click="ignore", icon=":material/download:"
    )
    right.download_button(
        "Download JSON",
        json_text,
        file_name=f"{name}.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption(
        "MACs count the convolutions' multiply-accumulates"
        + (" and the attention's two matrix products (q^T k and v·attn^T)" if has_attention else "")
        + ", exactly as torch.utils.flop_counter does (FLOPs = 2 × MACs). torchinfo's 'mult-adds' are slightly higher "
        "because it books each BatchNorm's parameter count as mult-adds"
        + (
            f", and lower by the attention products ({human_count(attention_macs)} MACs here): they are not modules, so "
            "counters that hook modules do not see them."
            if has_attention
            else "."
        )
    )


main()

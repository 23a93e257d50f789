"""Cached calls into the engine. Caching lives here, in the UI layer, keyed by plain values.

- Models: `st.cache_resource`, one per `Settings.model_key` (config, seed, device, precision, weights
  digest), shared by every browser session; the engine's per-model lock keeps concurrent captures apart,
  and its per-device lock runs one forward at a time on a device.
- Forward results and decoded photos: `st.cache_resource` too, so a rerun reads the maps without copying
  tens of MB; they are never mutated. One forward per `Settings.forward_key` serves every view. Photos
  and weights are keyed by their digest, never by their bytes (hashing a 20 MB upload at every call costs).
- Statistics, summaries: `st.cache_data`. Configs are frozen dataclasses: hashable keys.
- What the pages draw from these (figures, tables, pictures) is cached in `views`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import streamlit as st
import torch
from PIL import Image

from yolo_explorer import ImageLoadError, build_model, extract_features, load_image, model_stats, model_summary, supported_dtypes
from yolo_explorer.deployment.accuracy import OutputError
from yolo_explorer.deployment.devices import dtype_from_name
from yolo_explorer.deployment.int8_sensitivity import Int8Lab, Recipe, Sensitivity, precision_boxes
from yolo_explorer.deployment.int8_verdict import BoxChanges, int8_photos
from yolo_explorer.deployment.memory import MemoryEstimate, check_forward_fits, estimate_forward_memory
from yolo_explorer.deployment.onnx_models import (
    OnnxModel,
    calibration_folder,
    calibration_photo,
    deployable,
    error_images,
)
from yolo_explorer.deployment.onnx_runtime import output_errors
from yolo_explorer.deployment.peaks import Peaks, device_peaks
from yolo_explorer.detection.assignment import Assignment, Truth, assign
from yolo_explorer.detection.change_effect import ChangeEffect, change_effect
from yolo_explorer.detection.detections import PREDICT, DetectionResult, Nms, detections_from
from yolo_explorer.detection.explain import Explanation, explain
from yolo_explorer.detection.labels import labels_for
from yolo_explorer.detection.two_heads import TwoHeads, compare_heads
from yolo_explorer.detection.walkthrough import Walkthrough, walkthrough
from yolo_explorer.forward.attention import AttentionRow, attention_input, row_of
from yolo_explorer.forward.heatmaps import channel_stats, strength
from yolo_explorer.forward.preprocess import Letterbox, letterbox_size
from yolo_explorer.model.blocks import fold_batchnorm
from yolo_explorer.model.changes import family_bill, without_change
from yolo_explorer.model.config import PYRAMID
from yolo_explorer.model.detector import DetectorOutput
from yolo_explorer.model.graph import ModelGraph, model_graph
from yolo_explorer.model.graph_parts import block_graph
from yolo_explorer.model.versus import Difference, WidthMatch, closest_widths, differences
from yolo_explorer.model.weights import load_weights

from .server import environment

if TYPE_CHECKING:
    from yolo_explorer import Backbone, FeatureResult, ModelStats, Summary
    from yolo_explorer.model.config import BackboneConfig, YOLO11Config

    from .settings import Photo, Settings
    from .weights import Weights


@st.cache_resource
def compile_times() -> dict[tuple, float]:
    """Seconds torch.compile took on this server, by (config label, size, mode, frozen, device): shown before the
    next user waits for the same compile. Shared by every session."""
    return {}


@st.cache_data(show_spinner="Measuring the device's compute peak and memory bandwidth…")
def peaks_for(device: str, dtype: str) -> Peaks:
    """The device's measured ceilings in `dtype` (the faster of a large matmul and a large 3x3 conv; a large
    copy), measured once per server."""
    return device_peaks(device, dtype)


@st.cache_resource(max_entries=4, show_spinner="Exporting the model to ONNX (and quantizing it)…")
def _onnx(key: tuple, dtype: str, _model: Backbone, _size: tuple[int, int], _calibrate: bool) -> tuple[Backbone, OnnxModel]:
    return deployable(_model, size=_size, dtype=dtype, calibrate_batchnorm=_calibrate)


def onnx_for(settings: Settings, dtype: str) -> tuple[Backbone, OnnxModel]:
    """The current model exported to ONNX ("fp32", or "int8" quantized on the sample photos), shared by every
    session, and the torch model it came from (with random weights, BatchNorm set from the photos first)."""
    config, seed, _, _, digest = settings.model_key
    model = model_for(settings, dtype="fp32")
    calibrate = settings.weights is None
    return _onnx((config, seed, digest, settings.size, calibrate), dtype, model, settings.size, calibrate)


@st.cache_resource(max_entries=8, show_spinner="Comparing ONNX Runtime's outputs with float64…")
def onnx_errors(onnx_digest: str, _reference: Backbone, _onnx: OnnxModel) -> list[OutputError]:
    """Each output's error against float64 on the mirrored sample photos, once per exported model."""
    return output_errors(_reference, _onnx, error_images(_onnx.size))


@st.cache_data(show_spinner=False)
def supported_dtypes_cached(device: str) -> list[str]:
    return supported_dtypes(device)


MAX_MODELS = 6  # models kept, shared by every session: a detector's folded copy (Detections) counts apart


@st.cache_resource(max_entries=MAX_MODELS, show_spinner="Building the model…")
def _model(key: tuple, _weights: Weights | None) -> Backbone:
    config, seed, device, dtype, _, folded = key
    model = build_model(config, seed=seed, device=device, dtype=dtype_from_name(dtype))
    if _weights is not None:
        load_weights(model, _weights.checkpoint)
    if folded:
        fold_batchnorm(model)
    return model


def model_for_config(config: BackboneConfig, seed: int, device: str, dtype: str) -> Backbone:
    """A model with random weights for a config that is not the sidebar's (the Compare page's widths)."""
    return _model((config, seed, device, dtype, None, False), None)


def model_for(settings: Settings, dtype: str | None = None, *, folded: bool = False) -> Backbone:
    """The model for the current settings (trained weights if chosen and fitting), shared by every
    session (bounded: `MAX_MODELS`). `folded`: every BatchNorm folded into its convolution, as Ultralytics'
    predict runs a model (its `fuse()`): the same outputs with running statistics, faster."""
    config, seed, device, own_dtype, digest = settings.model_key
    return _model((config, seed, device, dtype or own_dtype, digest, folded), settings.weights)


@st.cache_data(max_entries=64, show_spinner=False)
def stats_for(config: BackboneConfig, size: tuple[int, int], dtype: str) -> ModelStats:
    return model_stats(config, size, dtype)


@st.cache_resource(max_entries=32, show_spinner="Laying out the model's graph…")
def graph_for(config: BackboneConfig, size: tuple[int, int], dtype: str, by_part: bool = False) -> ModelGraph:
    """The model's graph from the statistics every page shows, laid out once and shared by every session (a repaint
    runs no forward and no layout)."""
    graph = model_graph(stats_for(config, size, dtype), config.label, config.layers())
    graph = graph.by_part() if by_part else graph
    graph.layout  # noqa: B018 (laid out here, once, for every session)
    return graph


@st.cache_resource(max_entries=64, show_spinner="Opening the layer into its parts…")
def parts_for(config: BackboneConfig, size: tuple[int, int], dtype: str, name: str, depth: int = 1) -> ModelGraph:
    """One layer's parts as a graph (`block_graph`, traced on a weightless copy), laid out once for every session.

    Raises:
        ValueError: a layer of one operation (Upsample, Concat).
    """
    graph = block_graph(config, name, size, depth=depth, dtype=dtype)
    graph.layout  # noqa: B018 (laid out here, once, for every session)
    return graph


@st.cache_data(max_entries=32, show_spinner="Running torchinfo on a weightless copy…")
def summary_for(config: BackboneConfig, size: tuple[int, int], levels: int, columns: tuple[str, ...], dtype: str) -> Summary:
    return model_summary(config, size, depth=levels, columns=columns, dtype=dtype)


@st.cache_data(max_entries=64, show_spinner=False)
def memory_for(config: BackboneConfig, size: tuple[int, int], batch: int, dtype: str) -> MemoryEstimate:
    return estimate_forward_memory(config, size, batch=batch, dtype=dtype)


@st.cache_data(max_entries=32, show_spinner="Measuring each YOLO11 design choice…")
def differences_for(config: YOLO11Config, size: tuple[int, int]) -> list[Difference]:
    return differences(config, size)


@st.cache_data(max_entries=16, show_spinner="Finding the closest tutorial widths…")
def closest_widths_for(size: tuple[int, int]) -> list[WidthMatch]:
    return closest_widths(size)


def image_for(photo: Photo) -> Image.Image:
    """The decoded RGB image, shared (never mutated; typed errors from `load_image` propagate)."""
    return _decoded(photo.digest, photo.data)


@st.cache_resource(max_entries=8, show_spinner=False)
def _decoded(digest: str, _data: bytes) -> Image.Image:
    return load_image(_data)


def check_memory(settings: Settings, batch: int = 1, what: str = "this forward", dtype: str | None = None) -> None:
    """Refuse at once a forward that would not fit the device or the server's cap (raises InsufficientMemoryError)."""
    check_forward_fits(
        settings.config,
        settings.size,
        settings.device,
        batch=batch,
        dtype=dtype or settings.dtype,
        what=what,
        estimator=memory_for,
        cap_bytes=environment().max_forward_bytes,
    )


@st.cache_resource(max_entries=8, show_spinner="Running the model on the image…")
def _features(key: tuple, layers: tuple[str, ...], _settings: Settings) -> FeatureResult:
    return extract_features(
        model_for(_settings), image_for(_settings.photo), _settings.size, layers, batch_norm=_settings.batch_norm
    )


def features_for(settings: Settings, layers: tuple[str, ...] = PYRAMID) -> FeatureResult:
    """One forward of the current photo with the current settings, capturing `layers` (cached under
    `settings.forward_key`)."""
    image_for(settings.photo)  # a bad image fails here, before any model work
    check_memory(settings, what=f"a forward of {settings.config.label} at {settings.size_label}")
    return _features(settings.forward_key, layers, settings)


def detector_forward(settings: Settings, rect: bool = True) -> FeatureResult:
    """The forward the Detections page reads, run as Ultralytics' predict runs it: with running BatchNorm
    statistics the model's BatchNorm is folded into its convolutions, and with `rect` the photo is padded only
    up to a multiple of 32 (a 1920x1080 photo in 640×640 runs at 384×640). With batch statistics (the tutorial's
    figures, random weights) and the sidebar's whole H×W it is the forward every other page shares."""
    image = image_for(settings.photo)  # a bad image fails here, before any model work
    size = letterbox_size(image.size, settings.size, rect=rect)[0]
    folded = settings.batch_norm == "running"
    if not folded and size == settings.size:
        return features_for(settings)
    check_memory(settings, what=f"a forward of {settings.config.label} at {size[0]}×{size[1]}")
    # keyed by the input it runs: where predict's padding fills the whole size anyway (a square photo in a square
    # input), both choices of the page's Input control share one forward
    return _detector_forward((settings.forward_key, size, folded), settings, rect)


@st.cache_resource(max_entries=8, show_spinner="Running the detector on the image…")
def _detector_forward(key: tuple, _settings: Settings, _rect: bool) -> FeatureResult:
    _, _, folded = key
    model = model_for(_settings, folded=folded)
    image = image_for(_settings.photo)
    return extract_features(model, image, _settings.size, (), batch_norm=_settings.batch_norm, rect=_rect)


def detections_for(settings: Settings, nms: Nms = PREDICT, rect: bool = True, branch: str = "one2many") -> DetectionResult:
    """The current photo's detections with these NMS settings, read from `branch` of the head: from the detector's
    forward (`detector_forward`, once per photo and settings, both branches of a YOLO26), then NMS (or the one-to-one
    top-k) for each set of thresholds."""
    forward = detector_forward(settings, rect)
    return _detections(
        settings.forward_key, forward.box.size, nms, branch, forward.box, forward.predictions, settings.class_names
    )


def attention_for(settings: Settings, block: str, cell: tuple[int, int]) -> AttentionRow:
    """Where `cell` of attention block `block` looks on the current photo: one forward per photo and block (its `qkv`
    output, shared by every session); each cell's row is then computed from it, no forward."""
    model = model_for(settings)
    qkv, box = _attention_input(settings.forward_key, block, settings)
    h, w = qkv.shape[2:]
    return row_of(model, block, qkv, box, (min(cell[0], h - 1), min(cell[1], w - 1)))


@st.cache_resource(max_entries=16, show_spinner="Reading the attention…")
def _attention_input(forward_key: tuple, block: str, _settings: Settings) -> tuple[torch.Tensor, Letterbox]:
    return attention_input(model_for(_settings), image_for(_settings.photo), _settings.size, block)


def change_effect_for(settings: Settings, source: str, target: str, index: int) -> ChangeEffect:
    """What change `index` of the route does on the current photo with the sidebar's trained weights (a model of the
    route's target): the model as it is against a copy of its weights with that change undone; shared by every session."""
    return _change_effect((settings.forward_key, source, target, index), settings)


@st.cache_resource(max_entries=8, show_spinner="Running the model with and without the change…")
def _change_effect(key: tuple, _settings: Settings) -> ChangeEffect:
    _, source, target, index = key
    config = _settings.config
    bill = family_bill(source, target, config.scale, _settings.size, num_classes=config.num_classes)
    without = without_change(bill, index)
    layers = tuple(map(str, bill.steps[index].rows))
    model = model_for(_settings)
    return change_effect(model, without, layers, image_for(_settings.photo), _settings.size, PREDICT)


def two_heads_for(settings: Settings, nms: Nms = PREDICT, rect: bool = True) -> TwoHeads:
    """Both branches of a YOLO26's head on the current photo with these thresholds, from the same forward as
    `detections_for`; shared by every session."""
    forward = detector_forward(settings, rect)
    return _two_heads(settings.forward_key, forward.box.size, nms, forward.box, forward.predictions, settings.class_names)


@st.cache_resource(max_entries=16, show_spinner=False)
def _two_heads(
    forward_key: tuple, size: tuple[int, int], nms: Nms, _box: Letterbox, _output: DetectorOutput, names: tuple[str, ...]
) -> TwoHeads:
    return compare_heads(_output, _box, names, nms)


def walk_for(settings: Settings, nms: Nms = PREDICT, rect: bool = True) -> tuple[Walkthrough, FeatureResult]:
    """The way from the current photo's predictions to the boxes NMS keeps with these settings, and the forward it
    walks (the same one `detections_for` reads); shared by every session."""
    forward = detector_forward(settings, rect)
    walked = _walk(settings.forward_key, forward.box.size, nms, forward.predictions, settings.class_names)
    return walked, forward


@st.cache_resource(max_entries=8, show_spinner=False)
def _walk(forward_key: tuple, size: tuple[int, int], nms: Nms, _output: DetectorOutput, names: tuple[str, ...]) -> Walkthrough:
    return walkthrough(_output, size, names, nms)


@st.cache_resource(max_entries=32, show_spinner=False)
def _detections(
    forward_key: tuple,
    size: tuple[int, int],
    nms: Nms,
    branch: str,
    _box: Letterbox,
    _output: DetectorOutput,
    names: tuple[str, ...],
) -> DetectionResult:
    return detections_from(_output, _box, names, nms, branch=branch)


def assignment_for(settings: Settings, truths: tuple[Truth, ...], branch: str = "one2many") -> tuple[Assignment, Letterbox]:
    """The task-aligned assignment of these ground-truth boxes to the cells of the current photo's forward (of YOLO26's
    `branch`, by its own assigner), on the sidebar's whole square input as training feeds the model (its mosaics are
    square), and that input."""
    forward = detector_forward(settings, rect=False)
    key = (settings.forward_key, forward.box.size, truths, branch)
    return _assignment(key, forward.box, forward.predictions, settings), forward.box


@st.cache_resource(max_entries=16, show_spinner=False)
def _assignment(key: tuple, _box: Letterbox, _output: DetectorOutput, _settings: Settings) -> Assignment:
    _, _, truths, branch = key
    return assign(_output, _box, truths, _settings.class_names, branch=branch)


def explanation_for(
    settings: Settings,
    anchor: int,
    class_id: int,
    rect: bool = True,
    branch: str = "one2many",
    layers: tuple[str, ...] = (),
) -> Explanation:
    """What raised the class score of one kept box (its `anchor` and class, from `branch` of the head) on the Detections
    page's forward: one backward through the same model, shared by every session; with `layers`, the map's share at
    each of those layers too (the Model graph's painting)."""
    forward = detector_forward(settings, rect)
    return _explanation((settings.forward_key, forward.box.size, anchor, class_id, branch, layers), forward.box, settings)


@st.cache_resource(max_entries=32, show_spinner="Explaining the box (one backward pass)…")
def _explanation(key: tuple, _box: Letterbox, _settings: Settings) -> Explanation:
    _, _, anchor, class_id, branch, layers = key
    return explain(model_for(_settings, folded=True), _box, anchor, class_id, branch, layers)


def strengths_for(settings: Settings, layers: tuple[str, ...]) -> dict[str, float]:
    """Each of `layers`' activation strength on the current photo (the root mean square of its output, from the Feature
    maps page's channel statistics): one forward capturing them all, its numbers shared by every session (the maps are
    not kept). A layer whose output is not one map (the head) has none."""
    image_for(settings.photo)  # a bad image fails here, before any model work
    check_memory(settings, what=f"a forward of {settings.config.label} at {settings.size_label}")
    return _strengths(settings.forward_key, layers, settings)


@st.cache_data(max_entries=32, show_spinner="Running the photo through every layer…")
def _strengths(key: tuple, layers: tuple[str, ...], _settings: Settings) -> dict[str, float]:
    result = extract_features(
        model_for(_settings), image_for(_settings.photo), _settings.size, layers, batch_norm=_settings.batch_norm
    )
    maps = {name: result.maps.get(name) for name in layers}
    return {
        name: strength(channel_stats(fmap), fmap.shape[1] * fmap.shape[2])
        for name, fmap in maps.items()
        if isinstance(fmap, torch.Tensor) and fmap.dim() == 3
    }


@dataclass(frozen=True)
class Int8Sources:
    """Where int8's photos come from, as the Latency page's controls chose: the sidebar's photo, the user's uploads
    (in their order), the server's calibration folder, the built-in samples. Hashable: part of the lab's key."""

    photo: Photo | None
    uploads: tuple[Photo, ...] = ()
    server: bool = False
    samples: bool = False

    @property
    def key(self) -> tuple:
        return (self.photo and self.photo.digest, tuple(u.digest for u in self.uploads), self.server, self.samples)

    @property
    def empty(self) -> bool:
        return self.photo is None and not self.uploads and not self.server and not self.samples


def int8_lab_for(settings: Settings, recipe: Recipe, sources: Int8Sources, branch: str = "one2many") -> tuple[Int8Lab, tuple]:
    """The current model's fp32 export (the one the Latency page times) calibrated by `recipe` on the photos of
    `sources` (the server's folder, the uploads, the sidebar's photo, then the samples; every other one kept aside to
    judge on; the server's photos with YOLO label files beside them bring their truth), its calibration checked, its
    boxes read from `branch`; shared by every session. Returns the lab and its key (for `sensitivity_for`).

    Raises:
        ImageLoadError: the sidebar's photo is not an image.
        ValueError: no photo at all.
    """
    model, fp32 = onnx_for(settings, "fp32")
    if sources.photo is not None:
        image_for(sources.photo)  # a bad image fails here, before any work (uploads are checked by `unreadable`)
    key = (fp32.digest, recipe, sources.key, branch)
    return _int8_lab(key, model, fp32, sources), key


def unreadable(photo: Photo) -> str | None:
    """Why an uploaded file cannot be used as a photo (None when it can), decoded once without the shared cache."""
    try:
        load_image(photo.data)
    except ImageLoadError as err:
        return str(err)
    return None


def server_calibration(size: tuple[int, int]) -> tuple[int, tuple[str, ...]]:
    """How many photos the server's calibration folder holds (read at most once a minute), and the files left out."""
    folder = environment().calibration_dir
    return _server_calibration(size, None if folder is None else str(folder))


@st.cache_data(ttl=60, show_spinner=False)
def _server_calibration(size: tuple[int, int], folder: str | None) -> tuple[int, tuple[str, ...]]:
    photos, skipped = calibration_folder(folder, size=size)
    return len(photos), tuple(skipped)


@st.cache_resource(max_entries=4, show_spinner="Calibrating int8 (once for every variant) and checking the calibration…")
def _int8_lab(key: tuple, _model: Backbone, _fp32: OnnxModel, _sources: Int8Sources) -> Int8Lab:
    recipe, branch = key[1], key[3]
    folder = environment().calibration_dir
    own = calibration_folder(folder, size=_fp32.size)[0] if _sources.server else []
    detector = "decoded" in _fp32.outputs
    truths = labels_for(folder, [label for label, _ in own], _fp32.size, _model.num_classes)[0] if own and detector else {}
    for photo in _sources.uploads:  # decoded here only: dozens of uploads would evict every session's photos from image_for
        own.append((photo.label, calibration_photo(photo.data, _fp32.size)))
    if _sources.photo is not None:
        own.append((_sources.photo.label, calibration_photo(image_for(_sources.photo), _fp32.size)))
    photos = replace(int8_photos(own, size=_fp32.size, samples=_sources.samples), truths=truths)
    lab = Int8Lab.build(_model, recipe=recipe, photos=photos, fp32=_fp32, branch=branch)
    lab.probe()  # calibrates, and times one step for the estimate
    lab.check()  # what the calibration can hold, computed once for every session
    return lab


def sensitivity_for(lab: Int8Lab, key: tuple, progress=None) -> list[Sensitivity]:
    """Each unit of `lab` quantized alone and left out alone (`key`: the lab's), computed once and shared by every
    session; `progress` sees the steps of the session that computes it (a second session asking meanwhile waits for
    it). Not an `st.cache_*` function: those replay what they draw, and the progress bar lives outside."""
    store, lock = _sensitivity_store()
    with lock:
        if key not in store:
            store[key] = lab.sensitivity(progress=progress)
            while len(store) > 8:
                store.pop(next(iter(store)))
        return store[key]


def drift_for(lab: Int8Lab, key: tuple, variant: str) -> dict[str, float]:
    """Each layer's int8 drift (`Int8Lab.layer_drift`) of `variant` ("int8": full, "weighted": the weighted nodes only)
    of the lab under `key`: one quantization and two runs, shared by every session."""
    return _drift((*key, variant), lab)


@st.cache_resource(max_entries=8, show_spinner="Quantizing and running int8 layer by layer…")
def _drift(key: tuple, _lab: Int8Lab) -> dict[str, float]:
    return _lab.layer_drift(_lab.quantize(weighted_only=key[-1] == "weighted"))


def known_sensitivity(key: tuple) -> list[Sensitivity] | None:
    """The sensitivity ranking under `key` if some session measured it (nothing is computed, and nothing waits for a
    session measuring one: a dict's get is atomic)."""
    return _sensitivity_store()[0].get(key)


@st.cache_resource
def _sensitivity_store() -> tuple[dict[tuple, list[Sensitivity]], threading.Lock]:
    return {}, threading.Lock()


def precision_boxes_for(settings: Settings, variants) -> dict[str, BoxChanges]:
    """The boxes each timed precision keeps on the sidebar's photo against fp32's: run once per set of exports and
    photo, not at every rerun of the page."""
    key = (tuple(v.onnx.digest for v in variants), settings.photo.digest, settings.class_names)
    return _precision_boxes(key, variants, settings)


@st.cache_resource(max_entries=8, show_spinner="Running each precision on the photo…")
def _precision_boxes(key: tuple, _variants, _settings: Settings) -> dict[str, BoxChanges]:
    return precision_boxes(_variants, image_for(_settings.photo), _settings.class_names)

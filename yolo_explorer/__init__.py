"""yolo-explorer's engine: the tutorial's YOLOv11 backbone, activation capture, statistics, latency,
image preprocessing and the numbers behind every chart, for the tutorial's backbone, Ultralytics' YOLO11
backbones and the whole YOLO11 detectors (neck, head, NMS). It never imports streamlit."""

from __future__ import annotations

from .deployment.devices import DTYPES, available_devices, check_device, device_name, supported_dtypes
from .deployment.latency import LatencyResult, measure_latency
from .deployment.modes import LatencyMode
from .forward.capture import capture_activations, list_layers, resolve_layer, run_with_capture
from .forward.features import FeatureResult, extract_features
from .forward.heatmaps import channel_stats, map_to_original, quantize, rank_channels, reduce_channels
from .forward.preprocess import ImageLoadError, Letterbox, letterbox, load_image
from .model.backbone import Backbone, FeatureInfo, build_backbone
from .model.checkpoints import WeightsError
from .model.config import ARCHITECTURES, FamilyConfig, LayerSpec, TutorialConfig, YOLO11Config, make_config
from .model.detector import Detector, DetectorOutput, build_detector, build_model
from .model.stats import LayerStats, ModelStats, Summary, model_stats, model_summary, parse_size
from .model.weights import load_weights

__all__ = [
    "ARCHITECTURES",
    "Backbone",
    "DTYPES",
    "Detector",
    "DetectorOutput",
    "FeatureInfo",
    "FeatureResult",
    "ImageLoadError",
    "LatencyMode",
    "LatencyResult",
    "LayerSpec",
    "LayerStats",
    "Letterbox",
    "ModelStats",
    "Summary",
    "TutorialConfig",
    "WeightsError",
    "FamilyConfig",
    "YOLO11Config",
    "available_devices",
    "build_backbone",
    "build_detector",
    "build_model",
    "capture_activations",
    "channel_stats",
    "check_device",
    "device_name",
    "extract_features",
    "letterbox",
    "list_layers",
    "load_image",
    "load_weights",
    "make_config",
    "map_to_original",
    "measure_latency",
    "model_stats",
    "model_summary",
    "parse_size",
    "quantize",
    "rank_channels",
    "reduce_channels",
    "resolve_layer",
    "run_with_capture",
    "supported_dtypes",
]

"""Engine benchmark: prints timings for this machine. No pass/fail; run it and read the numbers.

python bench/engine.py            # full run (a few minutes on a 2-core CPU)
python bench/engine.py --quick    # fewer repetitions
python bench/engine.py --smoke    # every section once at 64 px (checks that the script runs; numbers meaningless)
python bench/engine.py --only profile onnx   # some sections: build stats capture latency modes profile onnx detector weights
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from yolo_explorer import build_backbone, make_config, measure_latency, model_stats, model_summary, run_with_capture
from yolo_explorer.deployment.devices import supported_dtypes
from yolo_explorer.deployment.modes import LatencyMode
from yolo_explorer.deployment.onnx_models import deployable, error_images
from yolo_explorer.deployment.onnx_runtime import measure_onnx_latency, output_errors
from yolo_explorer.deployment.peaks import device_peaks
from yolo_explorer.deployment.profile import profile_layers
from yolo_explorer.detection.detections import Nms


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` calls."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


SECTIONS = ["build", "stats", "capture", "latency", "modes", "profile", "onnx", "detector", "weights"]


@dataclass(frozen=True)
class Scale:
    """How much each section measures."""

    size: int = 640  # the input side of the timings
    big: int = 1280  # the larger size of the statistics section
    reps: int = 7  # repetitions of a timed call
    iters: int = 15  # timed runs of a latency
    widths: tuple[int, ...] = (16, 32, 64, 128)
    archs: tuple[str, ...] = ("yolo11n", "yolo11s")
    compile: bool = True  # also the compiled modes (minutes on a CPU)


SCALES = {
    "full": Scale(),
    "quick": Scale(reps=3, iters=5),
    "smoke": Scale(size=64, big=128, reps=1, iters=1, widths=(8,), archs=("yolo11n",), compile=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--smoke", action="store_true", help="every section once, at 64 px: checks the script runs")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS)
    args = parser.parse_args()
    scale = SCALES["smoke" if args.smoke else "quick" if args.quick else "full"]
    reps, size = scale.reps, scale.size

    print(f"# yolo-explorer engine benchmark, {time.strftime('%Y-%m-%d')}")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")

    if "build" in args.only:
        print("\n## model build (random init, CPU, fp32)")
        for width in scale.widths:
            t = timed(lambda w=width: build_backbone(width=w), reps)
            print(f"width {width:3d}: {ms(statistics.median(t))}")

    if "stats" in args.only:
        print("\n## statistics without a forward (meta device) vs one real forward")
        for width, side in ((64, size), (128, scale.big)):
            config = make_config(width=width)
            t_stats = statistics.median(timed(lambda c=config, s=side: model_stats(c, s), reps))
            t_summary = statistics.median(timed(lambda c=config, s=side: model_summary(c, s, depth=3), max(1, reps // 2)))
            model = build_backbone(config=config)
            x = torch.rand(1, 3, side, side)
            with torch.inference_mode():
                t_forward = min(timed(lambda m=model, x=x: m(x), 2))
            print(
                f"width {width:3d} @ {side:4d}: model_stats {ms(t_stats)}, torchinfo summary {ms(t_summary)}, "
                f"one real forward {ms(t_forward)}  (stats = {t_stats / t_forward:.1%} of a forward)"
            )
            del model, x

    if "capture" in args.only:
        print(f"\n## capture overhead: P3/P4/P5 captured vs plain forward (width 64, {size}x{size}, batch 1)")
        model = build_backbone(width=64)
        x = torch.rand(1, 3, size, size)
        with torch.inference_mode():
            for _ in range(2):
                model(x)  # warm-up
        plain, captured = [], []
        for _ in range(reps + 3):  # interleaved so drift hits both alike
            with torch.inference_mode():
                plain += timed(lambda: model(x), 1)
            captured += timed(lambda: run_with_capture(model, x, ["P3", "P4", "P5"]), 1)
        p, c = statistics.median(plain), statistics.median(captured)
        print(f"plain {ms(p)}, with capture {ms(c)}, overhead {(c - p) / p:+.1%} (target <= +10%)")

    if "latency" in args.only:
        print(f"\n## CPU latency, fp32, batch 1, {size}x{size} (measure_latency: warm-up 3, median of timed runs)")
        for width in scale.widths[:3]:
            model = build_backbone(width=width)
            r = measure_latency(model, size=size, warmup=3, iters=scale.iters)
            print(
                f"width {width:3d}: median {r.median_ms:8.1f} ms  p90 {r.p90_ms:8.1f} ms  "
                f"min {r.min_ms:8.1f} ms  max {r.max_ms:8.1f} ms  {r.images_per_s:6.2f} images/s"
            )

    if "modes" in args.only:
        print(f"\n## CPU modes, width 64 and YOLO11n, {size}x{size}, batch 1")
        print("(channels_last, bf16, BatchNorm folded, compile, frozen weights, threads)")
        bf16 = "bf16" in supported_dtypes("cpu")
        modes = [
            LatencyMode(dtype="fp32"),
            LatencyMode(dtype="fp32", channels_last=True),
            LatencyMode(dtype="fp32", fold_bn=True),
        ]
        modes += [LatencyMode(dtype="bf16"), LatencyMode(dtype="bf16", channels_last=True)] if bf16 else []
        modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)] if bf16 else []
        modes += [
            LatencyMode(dtype="fp32", fold_bn=True, compile="default"),
            LatencyMode(dtype="fp32", fold_bn=True, compile="default", freeze=True),
        ]
        if bf16 and scale.compile:
            modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True, compile="default")]
            modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True, compile="default", freeze=True)]
        modes = [m for m in modes if scale.compile or not m.compile]
        one_thread = {LatencyMode(dtype="fp32"), LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)}
        for arch, fields in (("tutorial", {"width": 64}), ("yolo11n", {})):
            model = build_backbone(arch, **fields)
            for mode in modes:
                for threads in sorted({1, torch.get_num_threads()} if mode in one_thread else {torch.get_num_threads()}):
                    r = measure_latency(model, size=size, mode=mode, threads=threads, warmup=2, iters=scale.iters)
                    compiled = f"  (compiled in {r.compile_s:.0f} s)" if r.compile_s else ""
                    print(
                        f"{model.config.label:<16} {threads} thread(s)  {mode.label:<66} median {r.median_ms:8.1f} ms{compiled}"
                    )

    if "profile" in args.only:
        profile_section(scale)

    if "onnx" in args.only:
        onnx_section(scale)

    if "detector" in args.only:
        detector_section(scale)
    if "weights" in args.only:
        weights_section(scale)


def profile_section(scale: Scale) -> None:
    size = scale.size
    print(f"\n## per-layer time (profile_layers), {size}x{size}, batch 1: each layer's median, its share of time and MACs")
    measured = {}
    for dtype in ("fp32", "bf16"):
        peaks = measured[dtype] = device_peaks("cpu", dtype)
        print(
            f"{dtype} peaks measured here: {peaks.tflops * 1e3:.0f} GFLOP/s ({peaks.compute}), {peaks.gbps:.1f} GB/s, "
            f"ridge {peaks.ridge:.1f} FLOP/byte"
        )
    for arch, fields in (("tutorial", {"width": 64}), ("yolo11n", {})):
        model = build_backbone(arch, **fields)
        for mode in (LatencyMode(), LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)):
            profile = profile_layers(model, size=size, mode=mode, warmup=2, iters=scale.iters)
            peaks = measured[mode.dtype]
            print(
                f"\n{profile.model}, {mode.label}: layers {profile.total_ms:.1f} ms, plain forward {profile.forward_ms:.1f} ms "
                f"in the same run: {profile.overhead:.2f}x"
            )
            for layer in profile.layers:
                bound = peaks.bound(layer.intensity)
                print(
                    f"  {layer.name:<12} {layer.block:<10} {layer.ms:8.2f} ms {layer.share:6.1%} of time {layer.macs_share:6.1%} "
                    f"of MACs {layer.gflops_per_s:7.1f} GFLOP/s {layer.intensity:7.1f} FLOP/B  {bound}"
                )


def onnx_section(scale: Scale) -> None:
    size = scale.size
    print(f"\n## ONNX Runtime against torch, {size}x{size}, batch 1 (random weights, BatchNorm set from the sample photos)")
    print("errors against float64 on the sample photos mirrored: relative error / cosine similarity per output")
    for arch, fields in (("tutorial", {"width": 64}), ("yolo11n", {})):
        model = build_backbone(arch, **fields)
        iters = scale.iters
        for dtype in ("fp32", "int8"):
            reference, exported = deployable(model, size=size, dtype=dtype, calibrate_batchnorm=True)
            flops = model_stats(reference.config, size).flops
            if dtype == "fp32":
                torch_r = measure_latency(reference, size=size, warmup=2, iters=iters)
                print(f"{reference.config.label:<16} torch fp32 eager           median {torch_r.median_ms:8.1f} ms")
            r = measure_onnx_latency(exported, flops=flops, warmup=2, iters=iters)
            errors = output_errors(reference, exported, error_images(size))
            listed = ", ".join(f"{e.name} {e.relative_error:.1e} / {e.cosine:.4f}" for e in errors)
            print(
                f"{reference.config.label:<16} onnxruntime {dtype:<4}            median {r.median_ms:8.1f} ms "
                f"({torch_r.median_ms / r.median_ms:.2f}x torch fp32; export {r.export_s:.1f} s, "
                f"{len(exported.data) / 2**20:.1f} MiB)  {listed}"
            )


def detector_section(scale: Scale) -> None:
    """The whole YOLO11 detectors: statistics of every scale from the meta device against Ultralytics' published
    figures, and CPU latency of YOLO11n/s whole against their backbone alone, with NMS timed apart."""
    from yolo_explorer import build_detector
    from yolo_explorer.detection.detections import non_max_suppression
    from yolo_explorer.model.config import YOLO11_SCALES
    from yolo_explorer.model.published import published

    print("\n## whole YOLO11 detectors (80 classes), statistics at 640x640 from the meta device")
    for letter in YOLO11_SCALES:
        config = make_config(f"yolo11{letter}", detector=True)
        t = statistics.median(timed(lambda c=config: model_stats(c, 640), scale.reps))
        stats = model_stats(config, 640)
        parts = stats.part_totals()
        figures = published("yolo11", letter)
        shares = ", ".join(f"{part} {v['params'] / stats.params:.0%}/{v['macs'] / stats.macs:.0%}" for part, v in parts.items())
        print(
            f"YOLO11{letter}: {stats.params:>11,} params ({figures.params_m:.1f} M published), {stats.flops / 1e9:7.2f} GFLOPs "
            f"({figures.flops_b:.1f} published); params/MACs {shares}; model_stats {ms(t)}"
        )

    size = scale.size
    print(f"\n## CPU latency, whole detector vs backbone alone, {size}x{size}, batch 1 (warm-up 3; NMS apart)")
    bf16 = "bf16" in supported_dtypes("cpu")
    modes = [LatencyMode(dtype="fp32")] + ([LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)] if bf16 else [])
    for arch in scale.archs:
        backbone, detector = build_backbone(arch), build_detector(arch)
        for mode in modes:
            times = {}
            for name, model in (("backbone", backbone), ("detector", detector)):
                r = measure_latency(model, size=size, mode=mode, warmup=3, iters=scale.iters)
                times[name] = r.median_ms
            print(
                f"{arch:<8} {mode.label:<36} backbone {times['backbone']:7.1f} ms, whole detector {times['detector']:7.1f} ms "
                f"({times['detector'] / times['backbone']:.2f}x)"
            )
        with torch.no_grad():
            decoded = detector(torch.rand(1, 3, 640, 640)).decoded
        # random weights score nothing: scores drawn uniformly instead, so that NMS has thousands of candidates
        decoded[:, 4:] = torch.rand(decoded[:, 4:].shape, generator=torch.Generator().manual_seed(0)) ** 8
        for conf in (0.25, 0.001, 0.999):  # the app default, a validation run, and about a hundred candidates
            t = statistics.median(timed(lambda c=conf, d=decoded: non_max_suppression(d, Nms(conf=c)), 5))
            candidates = int((decoded[0, 4:].amax(0) > conf).sum())
            kept = len(non_max_suppression(decoded, Nms(conf=conf))[0])
            print(f"{arch:<8} NMS at score > {conf}: {ms(t)} ({candidates:,} of 8,400 anchors as candidates, {kept} kept)")


def weights_section(scale: Scale) -> None:
    """Reading trained weights: a state_dict file against the same tensors as a checkpoint Ultralytics would
    write (the model pickled whole in fp16 under "model", numpy metrics beside it: read through inert
    stand-ins), then `load_weights` and one `detect` of a sample photo end to end."""
    import copy
    import io

    import numpy as np

    from yolo_explorer import build_detector
    from yolo_explorer.detection.detections import detect
    from yolo_explorer.forward.preprocess import load_image
    from yolo_explorer.model.checkpoints import read_state_dict
    from yolo_explorer.model.weights import load_weights
    from yolo_explorer.samples import sample_bytes

    def saved(obj: object) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    repeats = scale.reps
    print(f"\n## reading weights (median of {repeats}), YOLO11 whole detectors, fp16 tensors as Ultralytics ships them")
    for arch in scale.archs:
        half = copy.deepcopy(build_detector(arch)).half()
        files = {
            "state_dict": saved({f"model.{k}": v for k, v in half.state_dict().items()}),
            "pickled model": saved({"model": half, "ema": None, "train_metrics": {"fitness": np.float64(0.5)}}),
        }
        times = {name: statistics.median(timed(lambda d=data: read_state_dict(d), repeats)) for name, data in files.items()}
        target = build_detector(arch)
        load = statistics.median(timed(lambda d=files["pickled model"], m=target: load_weights(m, d), repeats))
        size = len(files["pickled model"]) / 2**20
        print(
            f"{arch:<8} {size:5.1f} MiB: state_dict {ms(times['state_dict'])}, pickled model {ms(times['pickled model'])} "
            f"({times['pickled model'] / times['state_dict']:.1f}x); load_weights from the pickled model {ms(load)}"
        )
    photo = load_image(sample_bytes("astronaut"))
    detector = build_detector("yolo11n")
    t = statistics.median(timed(lambda: detect(detector, photo, 640), repeats))
    print(f"detect(yolo11n, a 512x512 photo, 640): {ms(t)} (letterbox, one fp32 forward, NMS, back to the photo)")


if __name__ == "__main__":
    main()

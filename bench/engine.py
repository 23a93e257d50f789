"""Engine benchmark: prints timings for this machine. No pass/fail; run it and read the numbers.

python bench/engine.py            # full run (a few minutes on a 2-core CPU)
python bench/engine.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from yolo_explorer import build_backbone, make_config, measure_latency, model_stats, model_summary, run_with_capture
from yolo_explorer.devices import supported_dtypes
from yolo_explorer.modes import LatencyMode


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 3 if args.quick else 7

    print(f"# yolo-explorer engine benchmark, {time.strftime('%Y-%m-%d')}")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")

    print("\n## model build (random init, CPU, fp32)")
    for width in (16, 32, 64, 128):
        t = timed(lambda w=width: build_backbone(width=w), reps)
        print(f"width {width:3d}: {ms(statistics.median(t))}")

    print("\n## statistics without a forward (meta device) vs one real forward")
    for width, size in ((64, 640), (128, 1280)):
        config = make_config(width=width)
        t_stats = statistics.median(timed(lambda c=config, s=size: model_stats(c, s), reps))
        t_summary = statistics.median(timed(lambda c=config, s=size: model_summary(c, s, depth=3), max(1, reps // 2)))
        model = build_backbone(config=config)
        x = torch.rand(1, 3, size, size)
        with torch.inference_mode():
            t_forward = min(timed(lambda m=model, x=x: m(x), 2))
        print(
            f"width {width:3d} @ {size:4d}: model_stats {ms(t_stats)}, torchinfo summary {ms(t_summary)}, "
            f"one real forward {ms(t_forward)}  (stats = {t_stats / t_forward:.1%} of a forward)"
        )
        del model, x

    print("\n## capture overhead: P3/P4/P5 captured vs plain forward (width 64, 640x640, batch 1)")
    model = build_backbone(width=64)
    x = torch.rand(1, 3, 640, 640)
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

    print("\n## CPU latency, fp32, batch 1, 640x640 (measure_latency: warm-up 3, median of timed runs)")
    for width in (16, 32, 64):
        model = build_backbone(width=width)
        r = measure_latency(model, size=640, warmup=3, iters=5 if args.quick else 15)
        print(
            f"width {width:3d}: median {r.median_ms:8.1f} ms  p90 {r.p90_ms:8.1f} ms  "
            f"min {r.min_ms:8.1f} ms  max {r.max_ms:8.1f} ms  {r.images_per_s:6.2f} images/s"
        )

    print("\n## CPU modes, width 64 and YOLO11n, 640x640, batch 1")
    print("(channels_last, bf16, BatchNorm folded, compile, frozen weights, threads)")
    bf16 = "bf16" in supported_dtypes("cpu")
    modes = [LatencyMode(dtype="fp32"), LatencyMode(dtype="fp32", channels_last=True), LatencyMode(dtype="fp32", fold_bn=True)]
    modes += [LatencyMode(dtype="bf16"), LatencyMode(dtype="bf16", channels_last=True)] if bf16 else []
    modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)] if bf16 else []
    modes += [
        LatencyMode(dtype="fp32", fold_bn=True, compile="default"),
        LatencyMode(dtype="fp32", fold_bn=True, compile="default", freeze=True),
    ]
    if bf16:
        modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True, compile="default")]
        modes += [LatencyMode(dtype="bf16", channels_last=True, fold_bn=True, compile="default", freeze=True)]
    one_thread = {LatencyMode(dtype="fp32"), LatencyMode(dtype="bf16", channels_last=True, fold_bn=True)}
    for arch, fields in (("tutorial", {"width": 64}), ("yolo11n", {})):
        model = build_backbone(arch, **fields)
        for mode in modes:
            for threads in sorted({1, torch.get_num_threads()} if mode in one_thread else {torch.get_num_threads()}):
                r = measure_latency(model, size=640, mode=mode, threads=threads, warmup=2, iters=5 if args.quick else 10)
                compiled = f"  (compiled in {r.compile_s:.0f} s)" if r.compile_s else ""
                print(f"{model.config.label:<16} {threads} thread(s)  {mode.label:<66} median {r.median_ms:8.1f} ms{compiled}")


if __name__ == "__main__":
    main()

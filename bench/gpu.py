"""GPU benchmark and correctness check of every latency mode, run once per lent GPU session.

python bench/gpu.py --out bench/results          # on a CUDA machine (a few minutes)
python bench/gpu.py --device cpu --quick         # the same script on the CPU, to check it runs

For each mode: the relative error of the outputs against a float64 forward (on a BatchNorm-calibrated
copy, so activations keep the scale trained weights give), the median latency, and the compile or
capture time. Then a batch sweep (images/s and achieved TFLOP/s against a measured bf16 matmul peak),
the YOLO11 backbones, and the GPU tests. Prints a table and writes gpu.json (and gpu.txt with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_explorer import build_backbone, supported_dtypes  # noqa: E402
from yolo_explorer.devices import device_name  # noqa: E402
from yolo_explorer.latency import LatencyMode, calibrated_copy, matmul_peak_tflops, measure_latency, mode_error  # noqa: E402

LINES: list[str] = []
GPU_TESTS = ("tests/test_latency.py", "tests/test_memory.py", "tests/test_capture.py")
DEADLINE = [float("inf")]  # perf_counter time after which remaining runs are skipped


def out_of_time(what: str) -> bool:
    if time.perf_counter() < DEADLINE[0]:
        return False
    say(f"{what:<44} skipped: out of the time budget")
    return True


def say(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def modes_for(device: str, autotune: bool = False) -> list[LatencyMode]:
    cuda = device.startswith("cuda")
    dtypes = supported_dtypes(device)
    modes = [LatencyMode("fp32"), LatencyMode("fp32", channels_last=True)]
    modes += [LatencyMode(d) for d in ("fp16", "bf16") if d in dtypes]
    modes += [LatencyMode(d, channels_last=True) for d in ("fp16", "bf16") if d in dtypes]
    if cuda:
        modes += [LatencyMode("fp32", channels_last=True, cuda_graph=True)]
        modes += [LatencyMode(d, channels_last=True, cuda_graph=True) for d in ("fp16", "bf16") if d in dtypes]
        modes += [
            LatencyMode("bf16", channels_last=True, compile="default"),
            LatencyMode("bf16", channels_last=True, compile="reduce-overhead"),
            LatencyMode("fp16", channels_last=True, compile="reduce-overhead"),
        ]
        if autotune:
            modes.append(LatencyMode("bf16", channels_last=True, compile="max-autotune"))
    else:
        modes += [LatencyMode("fp32", channels_last=True, compile="default")]
    return modes


def mode_table(
    arch: str,
    fields: dict,
    device: str,
    size: int,
    iters: int,
    with_error: bool = True,
    skip: tuple[str, ...] = (),
    autotune: bool = False,
) -> list[dict]:
    model = build_backbone(arch, device=device, **fields)
    calibrated = calibrated_copy(model, torch.rand(2, 3, size, size, device=device)) if with_error else None
    rows = []
    say(f"\n## {model.config.label}, {size}x{size}, batch 1, {device_name(device)}")
    say(f"{'mode':<44} {'median ms':>10} {'p90 ms':>8} {'x fp32':>7} {'compile s':>10} {'rel. error':>11}")
    base = None
    for mode in modes_for(device, autotune):
        if mode.compile in skip or out_of_time(mode.label):
            continue
        try:
            result = measure_latency(model, size=size, device=device, mode=mode, warmup=10, iters=iters)
            error = mode_error(calibrated, mode, size=size, device=device) if with_error else float("nan")
        except Exception as err:  # a mode that fails is reported, not fatal
            say(f"{mode.label:<44} FAILED: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
            rows.append({"arch": model.config.label, "mode": mode.label, "error": str(err)[:500]})
            continue
        base = base or result.median_ms
        say(
            f"{mode.label:<44} {result.median_ms:>10.3f} {result.p90_ms:>8.3f} {base / result.median_ms:>7.2f} "
            f"{result.compile_s:>10.1f} {error:>11.2e}"
        )
        rows.append({"arch": model.config.label, **result.to_dict(), "relative_error": error})
    return rows


def sweep(device: str, size: int, batches: list[int], modes: list[LatencyMode], peak: float, iters: int) -> list[dict]:
    model = build_backbone(width=64, device=device)
    say(f"\n## Batch sweep, tutorial w=64, {size}x{size} (bf16 matmul peak measured: {peak:.0f} TFLOP/s)")
    say(f"{'mode':<44} {'batch':>5} {'median ms':>10} {'images/s':>10} {'TFLOP/s':>8} {'of peak':>8} {'compile s':>10}")
    rows = []
    for mode in modes:
        for batch in batches:
            if out_of_time(f"{mode.label} batch {batch}"):
                continue
            try:
                r = measure_latency(model, size=size, batch=batch, device=device, mode=mode, warmup=5, iters=iters)
            except Exception as err:
                say(f"{mode.label:<44} {batch:>5} FAILED: {type(err).__name__}: {str(err).splitlines()[0][:100]}")
                continue
            say(
                f"{mode.label:<44} {batch:>5} {r.median_ms:>10.3f} {r.images_per_s:>10,.0f} {r.tflops:>8.1f} "
                f"{r.tflops / peak:>8.1%} {r.compile_s:>10.1f}"
            )
            rows.append(r.to_dict())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes, few runs (to check the script)")
    parser.add_argument("--out", type=Path, help="folder for gpu.json and gpu.txt")
    parser.add_argument("--tests", action="store_true", help="also run the GPU-marked tests")
    parser.add_argument("--autotune", action="store_true", help="also time compile max-autotune (minutes to compile)")
    parser.add_argument("--budget", type=float, default=float("inf"), help="seconds after which remaining runs are skipped")
    args = parser.parse_args()
    started = time.perf_counter()
    DEADLINE[0] = started + args.budget
    size, iters = (128, 5) if args.quick else (640, 50)
    cuda = args.device.startswith("cuda")

    say(f"# yolo-explorer GPU benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    say(f"device {device_name(args.device)}, torch {torch.__version__}, CUDA {torch.version.cuda}, host threads {os.cpu_count()}")
    report: dict = {"date": time.strftime("%Y-%m-%d"), "device": device_name(args.device), "torch": torch.__version__}

    if args.tests:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *GPU_TESTS],
            capture_output=True,
            text=True,
            check=False,
        )
        summary = (tests.stdout.strip().splitlines() or ["(no output)"])[-1]
        say(f"\nGPU tests: {summary}")
        if tests.returncode:
            say(tests.stdout[-3000:] + tests.stderr[-2000:])
        report["gpu_tests"] = summary

    peak_dtype = "bf16" if "bf16" in supported_dtypes(args.device) else "fp32"
    peak = matmul_peak_tflops(args.device, peak_dtype, n=1024 if args.quick else None)
    fp32_peak = matmul_peak_tflops(args.device, "fp32", n=1024 if args.quick else None)
    say(f"matmul peak: {peak:.1f} TFLOP/s {peak_dtype}, {fp32_peak:.1f} TFLOP/s fp32")
    report["matmul_peak_tflops"] = {peak_dtype: peak, "fp32": fp32_peak}

    report["modes"] = mode_table("tutorial", {"width": 64}, args.device, size, iters, autotune=args.autotune)
    batches = [1, 4] if args.quick else [1, 8, 16, 32]
    sweep_modes = [LatencyMode("fp32")]
    if cuda:
        sweep_modes += [
            LatencyMode("bf16", channels_last=True, cuda_graph=True),
            LatencyMode("bf16", channels_last=True, compile="reduce-overhead"),
        ]
    report["sweep"] = sweep(args.device, size, batches, sweep_modes, peak, iters)
    report["yolo11"] = []
    for arch in ("yolo11n", "yolo11s") if not args.quick else ("yolo11n",):
        report["yolo11"] += mode_table(arch, {}, args.device, size, iters, skip=("default",))

    elapsed = time.perf_counter() - started
    say(f"\nbenchmark took {elapsed:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu.json").write_text(json.dumps(report, indent=1))
        (args.out / "gpu.txt").write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()

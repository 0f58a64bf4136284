"""The built-in devices. Imported only when a device is asked for (``advisor.devices`` names these
attributes as lazy strings); ``detect_host`` reads /proc when called, never at import.

Figures come from NVIDIA's module data sheets and developer pages (cited per device). Peak GPU
figures are dense; where NVIDIA publishes none, they are derived (cores x 2 FLOP x clock, or tensor
cores x FMA/clock x 2 x clock) and marked "derived" in ``notes``. ``cpu_fp32`` is always an estimate
(cores x top clock x fp32 FLOP/cycle of the core's SIMD units), an upper bound no model reaches.
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import replace

from advisor.devices import CpuSpec, Device, GpuSpec, PowerMode, RuntimeSupport
from advisor.devices import PrecisionSupport as P

_SIZE_ONLY = "size benefit only"
# ORT 1.11's release notes claim opset 16, its version matrix says 15 (microsoft/onnxruntime#12117).
_ORT_OPSET = ("the last onnxruntime wheel for JetPack 4.6 / Python 3.6 is 1.11 (Jetson Zoo), which fully implements "
              "ONNX opset 15 (16 in part): export models at opset <= 15")
_WQ4_NEEDS = "int4 DequantizeLinear needs ONNX opset 21 (onnxruntime >= about 1.18)"
_WQ4_OLD = P(False, False, f"{_WQ4_NEEDS}; {_ORT_OPSET}")
_WQ4_JP5 = P(True, False, f"{_WQ4_NEEDS}: check the JetPack 5 wheel you install (Jetson Zoo builds reach about 1.18); "
             f"weights widened to fp32 before compute, {_SIZE_ONLY}")


def _ort_cpu(cpu: str, int8_fast: bool, int8_why: str, wq4: P, note: str) -> RuntimeSupport:
    """onnxruntime's CPU execution provider on ``cpu``."""
    return RuntimeSupport(note=note, precisions={
        "fp32": P(True, True, "MLAS fp32 kernels (the reference)"),
        "fp16": P(True, False, f"no fp16 compute kernels for most ops in the CPU EP on {cpu}: they run in fp32 "
                  "between Casts (converted back); weights halve, latency does not"),
        "int8-static": P(True, int8_fast, f"QDQ fused into QLinearConv/QLinearMatMul; {int8_why}"),
        "int8-dynamic": P(True, int8_fast, "MatMul/Gemm/LSTM in int8, activations quantized per call: helps "
                          "MatMul-heavy models only; Conv stays fp32 (dynamic int8 Conv is slow) so CNNs gain little"),
        "wq16": P(True, False, f"fp16 weights Cast back to fp32 (folded at session start): {_SIZE_ONLY}"),
        "wq8": P(True, False, f"int8 weights dequantized to fp32 before compute: {_SIZE_ONLY}, run-time dequantization cost"),
        "wq4": wq4})


def _ort_cuda(fp16_why: str, wq4: P, note: str) -> RuntimeSupport:
    """onnxruntime's CUDA execution provider (cuDNN/cuBLAS kernels)."""
    return RuntimeSupport(note=note, precisions={
        "fp32": P(True, True, "cuDNN/cuBLAS fp32 kernels (the reference)"),
        "fp16": P(True, True, f"{fp16_why}; ops without CUDA fp16 kernels fall back between Casts"),
        "int8-static": P(True, False, "the CUDA EP runs QDQ as (de)quantize kernels around fp32 compute: slower than "
                         "fp32; int8 speed needs the TensorRT EP"),
        "int8-dynamic": P(True, False, "DynamicQuantizeLinear/MatMulInteger partly lack CUDA kernels and fall back to "
                          "the CPU (copies between memories): not faster than fp32"),
        "wq16": P(True, False, f"fp16 weights Cast to fp32 (folded at session start): same compute, {_SIZE_ONLY}"),
        "wq8": P(True, False, f"weights dequantized to fp32, then fp32 compute: {_SIZE_ONLY}, dequantization cost"),
        "wq4": wq4})


def _ort_trt(fp16_why: str, int8_fast: bool, int8_why: str, wq4: P, note: str) -> RuntimeSupport:
    """onnxruntime's TensorRT execution provider (unsupported nodes fall back to the CUDA/CPU EPs)."""
    return RuntimeSupport(note=note, precisions={
        "fp32": P(True, True, "TensorRT fp32 engine (the reference)"),
        "fp16": P(True, True, f"{fp16_why}; set trt_fp16_enable=1 so TensorRT may pick fp16 kernels"),
        "int8-static": P(True, int8_fast, int8_why),
        "int8-dynamic": P(True, False, "TensorRT's ONNX parser has no DynamicQuantizeLinear/MatMulInteger: those nodes "
                          "fall back to the CUDA/CPU EP and split the engine"),
        "wq16": P(True, False, f"TensorRT folds the Cast into fp32 weights at engine build: no run-time cost, no "
                  f"speed-up, {_SIZE_ONLY}"),
        "wq8": P(True, False, "weight-only DequantizeLinear: folded by TensorRT or run by the CUDA EP (depends on the "
                 f"TensorRT version, uncertain); no int8 compute, {_SIZE_ONLY}"),
        "wq4": wq4})


def _tensorflow_tx2() -> RuntimeSupport:
    """The 2018 study's stack (Qin et al., arXiv:1810.08899): TensorFlow 1.6, CUDA 8.0, cuDNN 6.0."""
    def wq(bits: str, lat: float, energy: float, size: float) -> P:
        return P(True, False, f"weights stored narrow, Dequantize at run time: Qin et al. 2018 measured +{lat}% "
                 f"latency, +{energy}% energy, -{size}% storage on average at {bits} (10 CNNs)")
    return RuntimeSupport(note="TensorFlow 1.6 on the GPU, as in Qin et al. 2018 (not in the profiling registry: "
                          "figures come from shared/data/qin2018-tx2)", precisions={
        "fp32": P(True, True, "TensorFlow 1.6 + cuDNN 6.0 on the GPU: the study's baseline"),
        "fp16": P(True, False, "not measured by the study; TF 1.x has fp16 GPU Conv/MatMul kernels but no engine "
                  "fusion: gain uncertain"),
        "int8-static": P(True, False, "TF 1.x quantized ops (QuantizedConv2D, QuantizedMatMul) have CPU-only kernels: "
                         "the graph leaves the GPU"),
        "int8-dynamic": P(True, False, "TF 1.x quantized ops have CPU-only kernels: the graph leaves the GPU"),
        "wq16": wq("16 bits", 58.5, 54.8, 50.2),
        "wq8": wq("8 bits", 55.4, 38.6, 74.6),
        "wq4": wq("6 bits (4 bits not measured)", 51.3, 34.1, 80.7)})


_PASCAL_FP16 = "GP10B (sm_62) runs fp16 at twice the fp32 rate (half2): 1.33 vs 0.67 TFLOPS"
_NO_INT8 = ("has no INT8 path (no DP4A; among Pascal GPUs only sm_61 has INT8 - NVIDIA forum): TensorRT reports no fast "
            "INT8, so Q/DQ layers run in fp32/fp16 plus (de)quantize work, or the engine build fails and ORT falls back "
            "to the CUDA EP; measure")
_JP4_CPU = "onnxruntime (CPU) 1.11 from the Jetson Zoo on JetPack 4.6; " + _ORT_OPSET
_JP4_GPU = "onnxruntime-gpu 1.11 (Jetson Zoo), CUDA 10.2, cuDNN 8.2, TensorRT 8.2 (JetPack 4.6); " + _ORT_OPSET
_A57_INT8 = "Cortex-A57/Denver2 (ARMv8.0) lack int8 dot-product instructions (SDOT): gain over fp32 uncertain, measure"
_CARMEL_INT8 = "Carmel reports no SDOT (asimddp) feature, as far as we know: int8 gain over fp32 uncertain, measure"
_A78_INT8 = "Cortex-A78AE has SDOT/UDOT (ARMv8.2 dot product): MLAS int8 kernels beat fp32"
_JP5_GPU = "onnxruntime-gpu for JetPack 5 (Jetson Zoo), CUDA 11.4, TensorRT 8.5 (JetPack 5.1)"
_VOLTA_INT8 = ("Xavier's Volta (sm_72) tensor cores run INT8; TensorRT's fast path (DLA also runs INT8/FP16 when "
               "trt_dla_enable=1)")
_COMMON = ("https://developer.nvidia.com/embedded/jetpack-archive (JetPack release notes)",
           "https://elinux.org/Jetson_Zoo#ONNX_Runtime",
           "https://github.com/microsoft/onnxruntime/blob/main/docs/Versioning.md (opset per release)",
           "https://github.com/microsoft/onnxruntime/issues/12117 (1.11: opset 15 vs 16)",
           "https://onnxruntime.ai/docs/execution-providers/TensorRT-ExecutionProvider.html")

JETSON_TX2 = Device(
    name="jetson-tx2", description="NVIDIA Jetson TX2 (8 GB module, 2017): the target of Qin et al. 2018",
    cpu=CpuSpec("aarch64", 6, 2000, "2x NVIDIA Denver2 + 4x Arm Cortex-A57"),
    gpu=GpuSpec("Pascal (GP10B)", 256, 1300, False, "6.2"),
    memory_gb=8, memory_bandwidth_gbs=59.7,
    peak_tops={"fp32": 0.67, "fp16": 1.33, "cpu_fp32": 0.096},
    power_modes=(PowerMode("MAXN", 0, None, "2x Denver2 + 4x A57 at 2.0 GHz, GPU 1.30 GHz; no power budget"),
                 PowerMode("MAXQ", 1, 7.5, "4x A57 at 1.2 GHz, Denver2 off, GPU 0.85 GHz: best perf/W"),
                 PowerMode("MAXP_CORE_ALL", 2, 15, "all 6 cores at 1.4 GHz, GPU 1.12 GHz"),
                 PowerMode("MAXP_CORE_ARM", 3, 15, "4x A57 at 2.0 GHz, Denver2 off, GPU 1.12 GHz"),
                 PowerMode("MAXP_CORE_DENVER", 4, 15, "1x Denver2 + 1x A57 at 2.0 GHz, GPU 1.12 GHz")),
    jetpack=("3.0", "3.1", "3.2", "3.3", "4.2", "4.3", "4.4", "4.5", "4.6"), python="3.6",
    runtimes={"onnxruntime-cpu": _ort_cpu("Denver2/A57", False, _A57_INT8, _WQ4_OLD, _JP4_CPU),
              "onnxruntime-cuda": _ort_cuda(_PASCAL_FP16, _WQ4_OLD, _JP4_GPU),
              "onnxruntime-tensorrt": _ort_trt(_PASCAL_FP16, False, "Pascal GP10B " + _NO_INT8, _WQ4_OLD, _JP4_GPU),
              "tensorflow": _tensorflow_tx2()},
    notes="No INT8 peak: GP10B has no INT8 arithmetic; FP16 is its fast path. Peaks = 256 cores x 2 x 1.30 GHz "
          "(x2 for fp16). JetPack 4.6.x is the last release (Python 3.6). 4 GB TX2 and TX2i variants differ.",
    sources=("NVIDIA Jetson TX2 Series Module Data Sheet; https://developer.nvidia.com/embedded/jetson-tx2",
             "https://docs.nvidia.com/jetson/archives/l4t-archived/l4t-3275/Tegra%20Linux%20Driver%20Package%20"
             "Development%20Guide/power_management_tx2_32.html",
             "https://www.jetsonhacks.com/2017/03/25/nvpmodel-nvidia-jetson-tx2-development-kit/",
             "https://forums.developer.nvidia.com/t/data-process-about-tensorrt-int8-and-fp16-inference-engine/55481",
             "https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-825/support-matrix/index.html",
             "Qin et al. 2018, arXiv:1810.08899 (shared/data/qin2018-tx2)") + _COMMON)

JETSON_NANO = Device(
    name="jetson-nano", description="NVIDIA Jetson Nano (4 GB module, 2019)",
    cpu=CpuSpec("aarch64", 4, 1430, "4x Arm Cortex-A57"),
    gpu=GpuSpec("Maxwell (GM20B)", 128, 921.6, False, "5.3"),
    memory_gb=4, memory_bandwidth_gbs=25.6,
    peak_tops={"fp32": 0.236, "fp16": 0.472, "cpu_fp32": 0.046},
    power_modes=(PowerMode("MAXN", 0, 10, "4x A57 at 1.43 GHz, GPU 921.6 MHz"),
                 PowerMode("5W", 1, 5, "2x A57 at 0.92 GHz, GPU 640 MHz")),
    jetpack=("4.2", "4.3", "4.4", "4.5", "4.6"), python="3.6",
    runtimes={"onnxruntime-cpu": _ort_cpu("Cortex-A57", False, _A57_INT8, _WQ4_OLD, _JP4_CPU),
              "onnxruntime-cuda": _ort_cuda("GM20B (sm_53) runs fp16 at twice the fp32 rate: 472 vs 236 GFLOPS",
                                            _WQ4_OLD, _JP4_GPU),
              "onnxruntime-tensorrt": _ort_trt("GM20B (sm_53) runs fp16 at twice the fp32 rate", False,
                                               "Maxwell GM20B " + _NO_INT8, _WQ4_OLD, _JP4_GPU),
              # TensorRT used directly: the stack of the NAS-Performance measurements (shared/data/jetson-nano-nasperf).
              "tensorrt": replace(_ort_trt("GM20B (sm_53) runs fp16 at twice the fp32 rate", False,
                                           "Maxwell GM20B " + _NO_INT8, _WQ4_OLD, _JP4_GPU),
                                  note="TensorRT used directly (FP32 engines), as in the Jetson Nano NAS-Performance "
                                       "measurements")},
    notes="472 GFLOPS FP16 is NVIDIA's figure (128 cores x 2 x 921.6 MHz x 2); no INT8 path. JetPack 4.6.x is the "
          "last release (Python 3.6).",
    sources=("NVIDIA Jetson Nano System-on-Module Data Sheet; https://developer.nvidia.com/embedded/jetson-nano",
             "https://docs.nvidia.com/jetson/l4t/Tegra%20Linux%20Driver%20Package%20Development%20Guide/"
             "power_management_nano.html",
             "https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-825/support-matrix/index.html") + _COMMON)

JETSON_XAVIER_NX = Device(
    name="jetson-xavier-nx", description="NVIDIA Jetson Xavier NX (8 GB module, 2020): GPU + 2 DLA",
    cpu=CpuSpec("aarch64", 6, 1900, "6x NVIDIA Carmel (ARMv8.2)"),
    gpu=GpuSpec("Volta (GV10B)", 384, 1100, True, "7.2", 48),
    memory_gb=8, memory_bandwidth_gbs=59.7,
    peak_tops={"fp32": 0.845, "fp16": 6.8, "int8": 21, "cpu_fp32": 0.18},
    power_modes=(PowerMode("MODE_10W_4CORE", 4, 10, "4 cores; nvpmodel ids differ across L4T releases"),
                 PowerMode("MODE_15W_6CORE", 2, 15, "6 cores at up to 1.4 GHz: the default"),
                 PowerMode("MODE_20W_6CORE", None, 20, "JetPack 4.6+ 20 W modes; id: nvpmodel -p --verbose")),
    jetpack=("4.4", "4.5", "4.6", "5.0", "5.1"), python="3.8",
    runtimes={"onnxruntime-cpu": _ort_cpu("Carmel", False, _CARMEL_INT8, _WQ4_JP5, _JP5_GPU),
              "onnxruntime-cuda": _ort_cuda("Volta tensor cores run fp16 (cuDNN)", _WQ4_JP5, _JP5_GPU),
              "onnxruntime-tensorrt": _ort_trt("Volta tensor cores run fp16", True, _VOLTA_INT8, _WQ4_JP5,
                                               _JP5_GPU)},
    notes="int8 = 21 TOPS is NVIDIA's module figure (GPU + 2 DLA); the GPU alone is about 13.5 (derived). "
          "fp16 6.8 TFLOPS is derived (48 tensor cores x 64 FMA x 2 x 1.1 GHz); CUDA-core fp16 is 1.69. CPU clock "
          "1.9 GHz is reached with 2 cores online. 16 GB variant: same GPU.",
    sources=("NVIDIA Jetson Xavier NX Series Module Data Sheet; https://developer.nvidia.com/embedded/jetson-xavier-nx",
             "https://developer.nvidia.com/embedded/secure/tools/files/jetpack-sdks/jetpack-4.4-ga/"
             "Jetson_Xavier_NX_Developer_Kit_User_Guide.pdf",
             "https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-853/support-matrix/index.html") + _COMMON)

JETSON_AGX_XAVIER = Device(
    name="jetson-agx-xavier", description="NVIDIA Jetson AGX Xavier (32 GB module, 2018): GPU + 2 DLA",
    cpu=CpuSpec("aarch64", 8, 2265.6, "8x NVIDIA Carmel (ARMv8.2)"),
    gpu=GpuSpec("Volta (GV10B)", 512, 1377, True, "7.2", 64),
    memory_gb=32, memory_bandwidth_gbs=136.5,
    peak_tops={"fp32": 1.41, "fp16": 11.3, "int8": 32, "cpu_fp32": 0.29},
    power_modes=(PowerMode("MAXN", 0, None, "8 cores at 2.27 GHz, GPU 1.377 GHz; no power budget"),
                 PowerMode("MODE_10W", 1, 10, "2 cores at 1.2 GHz"),
                 PowerMode("MODE_15W", 2, 15, "4 cores at 1.2 GHz"),
                 PowerMode("MODE_30W_ALL", 3, 30, "8 cores at 1.2 GHz (ids 4-6: 30 W with 6/4/2 faster cores)")),
    jetpack=("4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "5.0", "5.1"), python="3.8",
    runtimes={"onnxruntime-cpu": _ort_cpu("Carmel", False, _CARMEL_INT8, _WQ4_JP5, _JP5_GPU),
              "onnxruntime-cuda": _ort_cuda("Volta tensor cores run fp16 (cuDNN)", _WQ4_JP5, _JP5_GPU),
              "onnxruntime-tensorrt": _ort_trt("Volta tensor cores run fp16", True, _VOLTA_INT8, _WQ4_JP5,
                                               _JP5_GPU)},
    notes="int8 = 32 TOPS is NVIDIA's module figure (GPU about 22.6 + 2 DLA); fp16 11.3 TFLOPS derived "
          "(64 tensor cores x 64 FMA x 2 x 1.377 GHz; NVIDIA quotes 11). 8/16/64 GB variants differ.",
    sources=("NVIDIA Jetson AGX Xavier Series Module Data Sheet; https://developer.nvidia.com/embedded/jetson-agx-xavier",
             "https://jetsonhacks.com/2018/10/07/nvpmodel-nvidia-jetson-agx-xavier-developer-kit/",
             "https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-853/support-matrix/index.html") + _COMMON)

JETSON_ORIN_NANO = Device(
    name="jetson-orin-nano", description="NVIDIA Jetson Orin Nano (8 GB module, 2023); no DLA",
    cpu=CpuSpec("aarch64", 6, 1510, "6x Arm Cortex-A78AE (ARMv8.2)"),
    gpu=GpuSpec("Ampere (GA10B)", 1024, 625, True, "8.7", 32),
    memory_gb=8, memory_bandwidth_gbs=68,
    peak_tops={"fp32": 1.28, "fp16": 10.2, "int8": 20, "int8_sparse": 40, "cpu_fp32": 0.145},
    power_modes=(PowerMode("15W", 0, 15, "the default"),
                 PowerMode("7W", 1, 7, "JetPack 5.1.1+; id may differ on JetPack 6"),
                 PowerMode("25W", None, 25, "JetPack 6.1+ 'Super': GPU 1020 MHz, CPU 1.7 GHz, 102 GB/s"),
                 PowerMode("MAXN_SUPER", None, None, "JetPack 6.1+ 'Super', no power budget")),
    jetpack=("5.1", "6.0", "6.1", "6.2"), python="3.10",
    runtimes={"onnxruntime-cpu": _ort_cpu("Cortex-A78AE", True, _A78_INT8, P(True, False, f"{_WQ4_NEEDS}: JetPack 6 "
                                          f"wheels have it; {_SIZE_ONLY}"), "onnxruntime for JetPack 6 (Jetson Zoo)"),
              "onnxruntime-cuda": _ort_cuda("Ampere tensor cores run fp16 (cuDNN)", P(True, False, _SIZE_ONLY),
                                            "onnxruntime-gpu for JetPack 6, CUDA 12.2+, TensorRT 8.6/10"),
              "onnxruntime-tensorrt": _ort_trt("Ampere tensor cores run fp16", True, "Ampere sm_87 tensor cores run "
                                               "INT8: TensorRT's fast path", P(True, False, f"{_SIZE_ONLY}: int4 "
                                               "weight-only kernels only with TensorRT 10, uncertain"),
                                               "onnxruntime-gpu for JetPack 6, TensorRT 8.6/10")},
    notes="int8 40 TOPS is NVIDIA's sparse (2:4) figure, 20 dense; fp16 10.2 TFLOPS dense is derived (half the dense "
          "INT8 rate); fp32 = 1024 x 2 x 625 MHz. Figures are for the original clocks: JetPack 6.1+ 'Super' modes "
          "raise them (67 sparse TOPS, 102 GB/s).",
    sources=("NVIDIA Jetson Orin Nano Series Module Data Sheet; "
             "https://www.nvidia.com/en-us/autonomous-machines/embedded-systems/jetson-orin/",
             "https://developer.nvidia.com/blog/nvidia-jetson-orin-nano-developer-kit-gets-a-super-boost/",
             "https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-861/support-matrix/index.html") + _COMMON)


def detect_host() -> Device:
    """This machine, read now: CPU from /proc/cpuinfo, cores from os.cpu_count(), memory from /proc/meminfo.

    Only the onnxruntime CPU EP is listed; memory bandwidth is not detected (it needs a benchmark).
    """
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    model = info.get("model name") or info.get("Model") or platform.processor() or "unknown CPU"
    cores = os.cpu_count() or 1
    mhz = _max_clock_mhz(info)
    x86 = bool({"sse2", "avx", "avx2"} & flags) or platform.machine() in ("x86_64", "AMD64", "i686")
    dot = bool({"avx512_vnni", "avx_vnni"} & flags) if x86 else "asimddp" in flags
    isa = ("AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-VNNI" if "avx_vnni" in flags else
           "AVX2 without VNNI" if "avx2" in flags else "no VNNI") if x86 else ("SDOT" if dot else "no SDOT")
    flop_cycle = 32 if ({"avx2", "fma"} <= flags or "avx512f" in flags) else 16 if "avx" in flags else 8
    ort = _ort_version()
    wq4_ok = ort is not None and _version_tuple(ort) >= (1, 18)
    # Checked on a 2-vCPU AMD EPYC (AVX-512 VNNI), onnxruntime 1.32, 1 thread: 4x Conv 64->64 3x3 at 56x56
    # took 16.4 ms in fp32 and 6.4 ms as static S8S8 QDQ int8.
    int8_why = (f"{isa}: int8 dot-product kernels beat fp32" if dot else
                f"{isa}: int8 kernels without dot-product instructions gain little over fp32; measure")
    return Device(
        name="host", description=f"This machine (detected now): {model}",
        cpu=CpuSpec(platform.machine() or "unknown", cores, mhz, model), gpu=None,
        memory_gb=_meminfo_gb(), memory_bandwidth_gbs=None,
        peak_tops={"cpu_fp32": round(cores * mhz / 1000 * flop_cycle / 1000, 3)} if mhz else {},
        power_modes=(PowerMode("as-is", None, None, "whatever the OS governor does; not controlled"),),
        jetpack=(), python=f"{sys.version_info.major}.{sys.version_info.minor}",
        runtimes={"onnxruntime-cpu": _ort_cpu(
            "x86-64" if x86 else platform.machine(), dot, int8_why,
            P(wq4_ok, False, f"{_WQ4_NEEDS}; installed: {ort or 'none'}" + (f"; {_SIZE_ONLY}" if wq4_ok else "")),
            f"onnxruntime {ort or '(not installed)'} on this machine")},
        notes=f"cpu_fp32 is an estimate: {cores} logical CPUs x {mhz or '?'} MHz x {flop_cycle} FLOP/cycle (from the "
              "ISA flags); hyper-threads and shared cores inflate it. GPUs are not detected.",
        sources=("detected at call time: /proc/cpuinfo, /proc/meminfo, os.cpu_count()",
                 "https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html",
                 "https://github.com/microsoft/onnxruntime/blob/main/docs/Versioning.md (opset per release)"))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo (plus any machine-wide fields such as ARM's 'Model')."""
    fields: dict = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _max_clock_mhz(info: dict) -> float | None:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit() and int(khz) > 0:
        return round(int(khz) / 1000, 1)
    try:  # a VM often has no cpufreq: the current clock is the best we have
        mhz = float(info.get("cpu MHz", ""))
    except ValueError:
        return None
    return round(mhz, 1) if mhz > 0 else None


def _meminfo_gb() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) > 0:
                return round(int(parts[1]) * 1024 / 2**30, 2)  # kB -> GiB, as the Jetson "8 GB" is
    return None


def _ort_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _version_tuple(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in text.split("+")[0].split(".")[:3])

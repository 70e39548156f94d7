"""Choose onnxruntime execution providers: CUDA only when it really loads, otherwise CPU, quietly."""

import ctypes
import functools
import os


@functools.lru_cache(maxsize=1)
def cuda_usable():
    """True when onnxruntime has a CUDA provider, a GPU answers, and the provider library loads.

    Checked with ctypes so that a CPU-only machine never sees onnxruntime's CUDA error lines.
    """
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
            return False
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls(directory="")  # CUDA/cuDNN from the nvidia-* wheels, when installed
        capi = os.path.join(os.path.dirname(ort.__file__), "capi")
        ctypes.CDLL(os.path.join(capi, "libonnxruntime_providers_cuda.so"))
    except (OSError, AttributeError):
        return False
    return True


def default_providers():
    """CUDA then CPU when CUDA is usable, else CPU only.

    TF32 is switched off on CUDA: with it, GPU scores differ from CPU ones by up to ~7e-4 (measured
    on an H100); without it they agree to ~1e-5, and these small recurrent layers gain nothing from it.
    """
    if cuda_usable():
        return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load_session(model_path, providers, threads=None):
    """An onnxruntime session for `model_path` with `threads` intra-op threads (default: onnxruntime's);
    BundleError naming the file when onnxruntime cannot load it. Quiet: onnxruntime's own log lines are
    off (fatal only), since every error it meets is raised as an exception with the same message."""
    import onnxruntime as ort

    from kerasseq.bundle import BundleError

    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for corrupt files
        raise BundleError(f"{model_path} could not be loaded by onnxruntime: {e}") from None

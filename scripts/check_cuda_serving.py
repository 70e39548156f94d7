"""Check onnxruntime-gpu serving on a CUDA machine: provider choice, parity with the CPU, timings.

    python scripts/check_cuda_serving.py BUNDLE [BUNDLE ...]

For each bundle: the Predictor's default providers (CUDA must come first when it loads), the
largest |CUDA - CPU| probability difference on the bundle's held-out texts, whether every
recurrent node was placed on the CUDA provider, and median batch-1 / batch-256 timings on both.
"""

import json
import sys
from pathlib import Path

import numpy as np

from kerasseq.export.optimize import median_seconds


def median_ms(fn, repeats):
    return round(1000 * median_seconds(fn, repeats, warmup=10), 4)


def recurrent_placement(model_path):
    """{node name: provider} for RNN/GRU/LSTM nodes, read from onnxruntime's profiler output."""
    import onnxruntime as ort

    from kerasseq.serve import default_providers

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), options, providers=default_providers())
    session.run(None, {"token_ids": np.ones((2, 8), np.int32)})
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    return {e["args"]["op_name"] + ":" + e["name"].split("_kernel_time")[0]: e["args"]["provider"]
            for e in events if e.get("cat") == "Node" and e.get("args", {}).get("op_name") in ("RNN", "GRU", "LSTM")}


def main():
    from kerasseq.serve import Predictor, cuda_usable

    print(json.dumps({"cuda_usable": cuda_usable()}))
    for bundle_dir in sys.argv[1:]:
        gpu, cpu = Predictor(bundle_dir), Predictor(bundle_dir, providers=["CPUExecutionProvider"])
        texts = json.loads((Path(bundle_dir) / "samples.json").read_text())["texts"]
        ids = gpu.encode(texts)
        x1, x256 = ids[:1], np.resize(ids, (256, ids.shape[1]))
        print(json.dumps({
            "bundle": bundle_dir,
            "providers": gpu.providers,
            "max_abs_diff_cuda_vs_cpu": float(np.abs(gpu.predict_ids(ids) - cpu.predict_ids(ids)).max()),
            "recurrent_node_providers": recurrent_placement(Path(bundle_dir) / "model.onnx"),
            "batch1_ms": {"cuda": median_ms(lambda: gpu.predict_ids(x1), 300),
                          "cpu": median_ms(lambda: cpu.predict_ids(x1), 300)},
            "batch256_rows_per_s": {"cuda": round(256e3 / median_ms(lambda: gpu.predict_ids(x256), 30)),
                                    "cpu": round(256e3 / median_ms(lambda: cpu.predict_ids(x256), 30))},
        }))


if __name__ == "__main__":
    main()

"""The ONNX parity check (onnx_parity_test.sh): for each net, ONNX's checker (full check, with
shape inference) on NET.onnx, then onnxruntime on the inputs nkd wrote, at batch 1 and 3, against
nkd's logits. Passes when max |ort - nkd| <= 1e-4 * max(1, max |nkd|): 1e-4 absolute for logits
up to 1 in size, relative beyond (F32 sums of thousands of terms differ in the last bits).
    python check_onnx_parity.py DIR NET:SIZE...
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOL = 1e-4


def main():
    folder, specs = sys.argv[1], sys.argv[2:]
    failures = 0
    for spec in specs:
        net, size = spec.split(":")
        size = int(size)
        path = f"{folder}/{net}.onnx"
        onnx.checker.check_model(onnx.load(path), full_check=True)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        (inp,) = sess.get_inputs()
        assert inp.name == "input" and inp.shape[0] == "batch", f"{net}: input {inp.name} {inp.shape}"
        for batch in (1, 3):
            x = np.fromfile(f"{folder}/{net}_b{batch}_input.f32", dtype=np.float32).reshape(batch, 3, size, size)
            want = np.fromfile(f"{folder}/{net}_b{batch}_logits.f32", dtype=np.float32).reshape(batch, -1)
            (got,) = sess.run(None, {"input": x})
            diff = float(np.abs(got - want).max())
            scale = max(1.0, float(np.abs(want).max()))
            ok = got.shape == want.shape and diff <= TOL * scale
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {net:14s} {size:3d}px batch {batch}: max |ort - nkd| = {diff:.3e}"
                  f" (max |logit| {scale:.3g}, tolerance {TOL * scale:.1e})")
    print(f"{len(specs)} nets, {failures} failure(s); onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

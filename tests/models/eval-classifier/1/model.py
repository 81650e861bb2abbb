"""eval-classifier v1 (baseline): softmax(x @ W + b) in float32; LABEL is the argmax."""

import numpy as np
import triton_python_backend_utils as pb_utils

W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.2, 0.2, 0.2]], dtype=np.float32)
B = np.array([0.1, 0.0, -0.1], dtype=np.float32)


def predict(x):
    logits = x.astype(np.float32) @ W + B
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs.astype(np.float32), probs.argmax(axis=1).astype(np.int64).reshape(-1, 1)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            probs, label = predict(pb_utils.get_input_tensor_by_name(request, "FEATURES").as_numpy())
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("PROBS", probs), pb_utils.Tensor("LABEL", label)]))
        return responses

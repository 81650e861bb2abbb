"""eval-classifier v2 (faithful): v1's model computed in float64, then cast to float32.

Labels equal v1's; probabilities differ from v1's only by rounding (well below 1e-6).
"""

import numpy as np
import triton_python_backend_utils as pb_utils

W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.2, 0.2, 0.2]], dtype=np.float64)
B = np.array([0.1, 0.0, -0.1], dtype=np.float64)


def predict(x):
    logits = x.astype(np.float64) @ W + B
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
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

"""eval-classifier v3 (regressed on purpose): v1's probabilities plus a bias of 0.02, the
label shifted to the next class whenever FEATURES[3] > 0.9, and a failed request whenever a
row has FEATURES[0] < 0."""

import numpy as np
import triton_python_backend_utils as pb_utils

W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.2, 0.2, 0.2]], dtype=np.float32)
B = np.array([0.1, 0.0, -0.1], dtype=np.float32)
BIAS = np.float32(0.02)


def predict(x):
    x = x.astype(np.float32)
    logits = x @ W + B
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    label = probs.argmax(axis=1).astype(np.int64)
    label = np.where(x[:, 3] > 0.9, (label + 1) % 3, label)
    return (probs + BIAS).astype(np.float32), label.reshape(-1, 1)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "FEATURES").as_numpy()
            if (x[:, 0] < 0).any():
                responses.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("v3 cannot handle a negative FEATURES[0]")))
                continue
            probs, label = predict(x)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("PROBS", probs), pb_utils.Tensor("LABEL", label)]))
        return responses

"""text-embedder v1: hashed bag of bytes, L2-normalised to 16 dimensions.

Deterministic and dependency-free (numpy only) so tests can assert exact values.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

DIM = 16


def embed(text: bytes) -> np.ndarray:
    vec = np.zeros(DIM, dtype=np.float32)
    for byte in text:
        vec[byte % DIM] += 1.0
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            texts = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
            out = np.stack([embed(bytes(t[0])) for t in texts]).astype(np.float32)
            responses.append(
                pb_utils.InferenceResponse([pb_utils.Tensor("EMBEDDING", out)])
            )
        return responses

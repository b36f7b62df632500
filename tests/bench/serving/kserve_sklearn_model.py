"""KServe 0.21 Python ModelServer serving a joblib scikit-learn model, as KServe's sklearnserver does.

Run inside the KServe virtualenv by bench_serving.py; not imported by Herder. sklearnserver itself is not
published on PyPI, so this file reproduces its predict path (get_predict_input -> model.predict ->
get_predict_response) on the public kserve package.
"""

import argparse

import joblib
import uvicorn
from kserve import Model, ModelServer
from kserve.utils.utils import get_predict_input, get_predict_response

_original_config_init = uvicorn.Config.__init__


def _loopback_config(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    """KServe hard-codes host 0.0.0.0; the benchmark keeps every listener on loopback."""
    kwargs["host"] = "127.0.0.1"
    _original_config_init(self, *args, **kwargs)


uvicorn.Config.__init__ = _loopback_config


class SKLearnModel(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        self._model = joblib.load(self.path)
        self.ready = True
        return True

    def predict(self, payload, headers=None):  # type: ignore[no-untyped-def]
        instances = get_predict_input(payload)
        result = self._model.predict(instances)
        return get_predict_response(payload, result, self.name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--http_port", type=int, required=True)
    args, _ = parser.parse_known_args()
    ModelServer(
        http_port=args.http_port,
        grpc_port=args.http_port + 1,
        enable_grpc=False,
        workers=1,
        enable_latency_logging=False,
    ).start([SKLearnModel(args.model_name, args.model_path)])

"""Worker: Keras 3 (TensorFlow backend). Run with the tf venv: python run_keras3.py JOBS.json
(TF_USE_LEGACY_KERAS removed from the environment before anything imports TensorFlow)."""
import os
import sys

os.environ.pop("TF_USE_LEGACY_KERAS", None)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import keras_worker  # noqa: E402

if __name__ == "__main__":
    common.main(keras_worker.handle, keras_worker.versions)

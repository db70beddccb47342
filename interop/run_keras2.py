"""Worker: tf-keras (Keras 2). Run with the tf venv: python run_keras2.py JOBS.json (sets TF_USE_LEGACY_KERAS=1)."""
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import keras_worker  # noqa: E402

if __name__ == "__main__":
    common.main(keras_worker.handle, keras_worker.versions)

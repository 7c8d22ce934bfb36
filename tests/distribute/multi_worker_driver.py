"""One worker of tests/distribute/test_multi_worker.py (run as a script, not collected).

`python multi_worker_driver.py OUTPUT WEIGHTS_FILE CONFIG_JSON`: `kzoo.training.train`
under the multi-worker strategy (the cluster from `TF_CONFIG`; one worker without
it), then this process's final weights into WEIGHTS_FILE, a file of the test's
(kzoo itself writes nothing on a worker that is not the chief).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.distribute import get_strategy  # noqa: E402

strategy = get_strategy("multi_worker")  # before any TensorFlow op

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kzoo.training import TrainConfig, train  # noqa: E402

output, weights_file, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


class DumpWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        np.savez(weights_file, *self.model.get_weights())


metrics = train(TrainConfig(**config), output, strategy=strategy, callbacks=[DumpWeights()],
                verbose=0)
print(json.dumps({"test_accuracy": metrics["test_accuracy"],
                  "chief": metrics.get("chief", True)}))

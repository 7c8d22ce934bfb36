"""`fit_distributed`: training with a `strategy.run` loop, for where Keras's `fit` fails.

Keras 3.15's `model.fit` fails under `MultiWorkerMirroredStrategy` ("Attempt
to convert a value (PerReplica...) to a Tensor"; keras-team/keras issue
20585). This loop follows TensorFlow's multi-worker custom-training-loop
tutorial: per-example losses (`reduction=None`) summed and divided by the
number of examples in the *global* batch (`tf.nn.compute_average_loss`), so
the replicas' gradients, which the Keras optimizer sums across replicas in
`apply_gradients`, add up to the gradient of the global batch's mean loss.

Each replica takes a strided slice of every global batch of the dataset it is
given (`distribute_batches`), so the global batches, and hence the training,
are those of a single process fed the same dataset (the slices may differ in
size on the last, partial batch).

Resume follows Keras's `fit` contract: a callback that sets
`model._initial_epoch` in `on_train_begin` makes the loop start there.
`kzoo.distribute.EpochBackup` is that callback: after each epoch the chief
alone writes the model's and optimizer's variables (`model.save_weights`, a
file per epoch committed by an atomic metadata file); every worker reads them
when training starts. Saving only reads variables, the same on every worker,
so it needs no collective and the other workers write nothing. The files are
those of a one-process `fit` with the same callback, so a run may resume
under another strategy.
"""

import functools
import sys
import time

import keras
import numpy as np
import tensorflow as tf


def is_chief(strategy=None):
    """Whether this process is the chief: the one that writes files.

    The chief is task `chief`, or worker 0 of a cluster without one, or the
    only process when there is no cluster. The cluster is `strategy`'s, or
    without one the `TF_CONFIG` environment variable's.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def distribute_batches(dataset, strategy):
    """A distributed dataset in which each replica gets a slice of each global batch.

    Replica `r` of `R` takes examples `r, r + R, r + 2R, ...` of every batch
    `(x, y)` of `dataset` (batched at the global batch size), on whichever
    worker it runs, as `(x_slice, y_slice, n)` with `n` the size of the
    global batch. Every worker reads the whole dataset, so the global batches
    are exactly those of `dataset`, shuffle included (same seed, same order).
    """
    def replica_batches(context):
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices(x, y):
            size = tf.shape(y, tf.int64)[0]
            parts = [tf.data.Dataset.from_tensors((x[r::replicas], y[r::replicas], size))
                     for r in range(first, first + local)]
            batches = parts[0]
            for part in parts[1:]:
                batches = batches.concatenate(part)
            return batches

        return dataset.flat_map(slices)

    return strategy.distribute_datasets_from_function(replica_batches)


class _Loop:
    """The compiled train and evaluation steps of a model under its strategy."""

    def __init__(self, model, strategy):
        self.model, self.strategy = model, strategy
        if getattr(model, "optimizer", None) is None:
            raise ValueError(f"fit_distributed needs a compiled model (an optimizer and a "
                             f"loss). Received: an uncompiled model {model.name!r}")
        loss = model.loss
        loss = keras.losses.get(loss) if isinstance(loss, str) else loss
        # Per-example losses: a Loss object's `call` is its loss before the reduction
        # (what `reduction=None` gives); a loss function gives them as it is.
        self.loss_fn = loss.call if isinstance(loss, keras.losses.Loss) else loss
        if not callable(self.loss_fn):
            raise ValueError(
                "fit_distributed needs a model compiled with one loss (a name, a function or "
                f"a keras.losses.Loss of the labels and the outputs). Received: loss={loss!r}")
        self.train_step = tf.function(self._train_step)
        self.predict = tf.function(lambda x: model(x, training=False))

    def _replica_step(self, x, y, global_size):
        # `global_size`: the global batch's (the slices may differ on the last batch).
        model = self.model
        if y.shape.rank == 1:
            y = tf.cast(y, tf.int64)
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            per_example = self.loss_fn(y, probabilities)  # (b,), reduction=None
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        variables = model.trainable_variables
        model.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        correct = tf.cast(tf.equal(tf.argmax(probabilities, -1), _label_indices(y)), tf.float32)
        # (3,): summed loss, correct predictions, examples; one all-reduce for the three.
        return tf.stack([tf.reduce_sum(per_example), tf.reduce_sum(correct),
                         tf.cast(tf.shape(y)[0], tf.float32)])

    def _train_step(self, batch):
        sums = self.strategy.run(self._replica_step, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

    def evaluate(self, dataset):
        """Mean loss and accuracy over an (undistributed) dataset, the same on every worker."""
        loss = correct = count = 0.0
        for x, y in dataset:
            probabilities = self.predict(x)
            loss += float(tf.reduce_sum(self.loss_fn(y, probabilities)))
            correct += float(tf.reduce_sum(tf.cast(
                tf.argmax(probabilities, -1) == _label_indices(y), tf.float32)))
            count += int(tf.shape(y)[0])
        return loss / max(count, 1), correct / max(count, 1)


def _label_indices(labels):
    """Class indices of integer labels (B,), or of one-hot or mixed rows (B, classes).

    Of mixed rows the heavier class, as Keras's `categorical_accuracy` counts.
    """
    if labels.shape.rank == 2:
        return tf.argmax(labels, -1)
    return tf.cast(labels, tf.int64)


def _progress(epoch, epochs, logs, seconds):
    shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "epoch_seconds")
    print(f"Epoch {epoch + 1}/{epochs} - {seconds:.0f}s - {shown}", file=sys.stdout, flush=True)


def _steps(dataset):
    steps = int(dataset.cardinality())
    if steps < 1:
        raise ValueError(f"Argument `train_data` must be a finite, non-empty dataset of known "
                         f"length (tf.data cardinality). Received: cardinality {steps}")
    return steps


def _distributed_epoch(dataset, strategy):
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"Argument `train_data`, a function of the epoch, must return a "
                         f"tf.data.Dataset. Received: {dataset!r}")
    return _steps(dataset), iter(distribute_batches(dataset, strategy))


@functools.cache
def _all_reduce_of_ones(strategy):
    @tf.function
    def all_reduce():
        ones = strategy.run(lambda: tf.ones(()))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

    return all_reduce


def barrier(strategy):
    """Waits until every worker of `strategy` gets here (one all-reduce); returns the replicas."""
    return int(_all_reduce_of_ones(strategy)())


def fit_distributed(model, train_data, *, epochs, validation_data=None, callbacks=(),
                    verbose=1):
    """Trains a compiled classifier with a `strategy.run` loop, as `model.fit` would.

    Use it where `model.fit` does not run, i.e. under
    `tf.distribute.MultiWorkerMirroredStrategy` (the strategy whose scope
    built `model`), with the same script started on every worker. The
    model must be compiled with an optimizer and one loss, of integer labels
    (e.g. `"sparse_categorical_crossentropy"`) or of one-hot or mixed label
    rows (`"categorical_crossentropy"`, for Mixup and CutMix), which the loop
    applies per example and averages over the global batch; accuracy (of
    the heavier class of a mixed row) is measured alongside. Callbacks get
    `fit`'s calls; one that sets `model._initial_epoch` in `on_train_begin`
    (`kzoo.distribute.EpochBackup`, Keras's `BackupAndRestore`) makes the run
    resume after that epoch.

    Args:
        model: a compiled `keras.Model`, built under its strategy's scope.
        train_data: a `tf.data.Dataset` of `(images, labels)` batched at the
            global batch size, or a function `epoch -> tf.data.Dataset` giving
            each epoch's batches (the way to make a resumed run see the
            batches an uninterrupted one would: a dataset's own seeded
            shuffle starts over in a new process). Every worker must build
            the same batches; each epoch is one pass over them.
        epochs: the total number of epochs (a resumed run does the rest).
        validation_data: optional `tf.data.Dataset` of `(images, labels)`
            batches, evaluated on every worker after each epoch.
        callbacks: Keras callbacks; their `on_epoch_end` logs hold `loss`,
            `accuracy` (and `val_loss`, `val_accuracy`). They run on every
            worker: give the chief alone those that write files
            (`is_chief`). Setting `model.stop_training` ends training; the
            losses are all-reduced, the same on every worker, so a callback
            deciding on them stops every worker at the same step.
        verbose: 0 = silent, else one line per epoch (on the chief).

    Returns:
        `{key: [value per epoch]}` of the epochs run in this call.

    Examples:
        >>> strategy = kzoo.distribute.get_strategy("multi_worker")  # TF_CONFIG
        >>> with strategy.scope():
        ...     model = kzoo.create_model("mlp", input_shape=(8, 8, 1))
        ...     model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> backup = kzoo.distribute.EpochBackup("run/backup")  # the chief writes
        >>> history = kzoo.distribute.fit_distributed(model, dataset, epochs=5,
        ...                                           callbacks=[backup])
    """
    strategy = model.distribute_strategy
    loop = _Loop(model, strategy)
    if not model.optimizer.built:
        with strategy.scope():
            # Optimizer variables are made distributed, before a restore fills them.
            model.optimizer.build(model.trainable_variables)
    if callable(train_data) and not isinstance(train_data, tf.data.Dataset):
        def epoch_batches(epoch):
            return _distributed_epoch(train_data(epoch), strategy)
    else:
        # One iterator over the repeated dataset: each epoch continues the dataset's own
        # stream (its reshuffling included) instead of starting it over.
        steps, repeated = _steps(train_data), None

        def epoch_batches(epoch):
            nonlocal repeated
            if repeated is None:
                repeated = iter(distribute_batches(train_data.repeat(), strategy))
            return steps, repeated

    # The chief may still be preparing the files the others read (a checkpoint).
    barrier(strategy)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    model.stop_training = False
    model._initial_epoch = None
    callback_list.on_train_begin()
    initial_epoch = model._initial_epoch or 0
    history = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        start = time.time()
        loss_sum = correct = count = 0.0
        steps, batches = epoch_batches(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            step_loss, step_correct, step_count = (
                float(v) for v in loop.train_step(next(batches)).numpy())
            loss_sum, correct, count = (loss_sum + step_loss, correct + step_correct,
                                        count + step_count)
            callback_list.on_train_batch_end(step, {"loss": loss_sum / count,
                                                    "accuracy": correct / count})
            if model.stop_training:
                break
        logs = {"accuracy": correct / max(count, 1), "loss": loss_sum / max(count, 1)}
        if validation_data is not None:
            logs["val_loss"], logs["val_accuracy"] = loop.evaluate(validation_data)
        callback_list.on_epoch_end(epoch, logs)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if verbose and is_chief(strategy):
            _progress(epoch, epochs, logs, time.time() - start)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


def predict_probabilities(model, images, batch_size=512):
    """`model`'s outputs on NumPy `images` by plain calls, without Keras's `predict` loop.

    Needs no collective, so one worker of a multi-worker run (the chief) may
    call it alone.
    """
    predict = tf.function(lambda x: model(x, training=False))
    outputs = [np.asarray(predict(tf.constant(images[i:i + batch_size], tf.float32)))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs)

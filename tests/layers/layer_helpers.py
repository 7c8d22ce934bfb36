"""Shared helpers of the layer tests: a kzoo layer beside the Keras layer it mirrors."""

import tensorflow as tf


def outputs_and_gradients(call, x, projection, variables=None):
    """`call(x)` and the gradients of sum(output * projection) w.r.t. x and `variables`
    (default: `call`'s trainable variables, when `call` is a layer)."""
    variables = call.trainable_variables if variables is None else variables
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = call(x)
        objective = tf.reduce_sum(y * projection)
    grads = tape.gradient(objective, [x, *variables])
    return y.numpy(), [g.numpy() for g in grads]


def twin_layers(keras_class, kzoo_class, implementation, x_shape, **kwargs):
    """A built Keras layer and the kzoo layer that mirrors it, holding the same weights (the
    Keras layer's bias drawn at random, so that a bias mix-up shows)."""
    reference = keras_class(bias_initializer="random_normal", **kwargs)
    reference.build(x_shape)
    ours = kzoo_class(implementation=implementation, **kwargs)
    ours.build(x_shape)
    ours.set_weights(reference.get_weights())
    return reference, ours

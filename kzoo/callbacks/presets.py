"""Presets of Keras callbacks: halve the LR on a plateau, early stopping with best weights."""

import numbers

import keras

__all__ = ["halve_lr_on_plateau", "early_stopping"]


def _check_patience(patience):
    if not isinstance(patience, numbers.Integral) or isinstance(patience, bool) or patience < 0:
        raise ValueError(
            f"Argument `patience` must be a non-negative integer. Received: patience={patience!r}"
        )
    return int(patience)


def halve_lr_on_plateau(
    monitor: str = "val_loss", patience: int = 5, min_lr: float = 0.0, **kwargs
) -> keras.callbacks.ReduceLROnPlateau:
    """Halves the learning rate when `monitor` has not improved for `patience` epochs.

    Keras's `keras.callbacks.ReduceLROnPlateau` with `factor=0.5`.

    Args:
        monitor: the metric to watch, e.g. `"val_loss"` (default) or
            `"val_accuracy"` (its direction is inferred by Keras).
        patience: epochs without improvement before halving, >= 0. Defaults
            to `5`.
        min_lr: the learning rate is never halved below this. Defaults to `0`.
        **kwargs: other `ReduceLROnPlateau` arguments (`min_delta`,
            `cooldown`, `mode`, `verbose`); `factor` is fixed at 0.5.

    Returns:
        A `keras.callbacks.ReduceLROnPlateau`.

    Examples:
        >>> callbacks = [kzoo.callbacks.halve_lr_on_plateau(patience=3)]
        >>> model.fit(x, y, validation_split=0.1, epochs=30, callbacks=callbacks)
    """
    if "factor" in kwargs:
        raise ValueError(
            "halve_lr_on_plateau always uses factor=0.5; use "
            f"keras.callbacks.ReduceLROnPlateau for another. Received: factor={kwargs['factor']!r}"
        )
    return keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, factor=0.5, patience=_check_patience(patience), min_lr=min_lr, **kwargs
    )


def early_stopping(
    monitor: str = "val_loss", patience: int = 10, **kwargs
) -> keras.callbacks.EarlyStopping:
    """Stops when `monitor` stops improving and restores the best weights.

    Keras's `keras.callbacks.EarlyStopping` with `restore_best_weights=True`:
    when training stops (or ends), the model gets back the weights of its
    best epoch rather than keeping those of the last one.

    Args:
        monitor: the metric to watch. Defaults to `"val_loss"`.
        patience: epochs without improvement before stopping, >= 0. Defaults
            to `10`.
        **kwargs: other `EarlyStopping` arguments (`min_delta`, `mode`,
            `baseline`, `start_from_epoch`, `verbose`).

    Returns:
        A `keras.callbacks.EarlyStopping`.

    Examples:
        >>> callbacks = [kzoo.callbacks.early_stopping(patience=5)]
        >>> model.fit(x, y, validation_split=0.1, epochs=100, callbacks=callbacks)
    """
    kwargs.setdefault("restore_best_weights", True)
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=_check_patience(patience), **kwargs
    )

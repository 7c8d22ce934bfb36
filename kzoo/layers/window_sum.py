"""Window sums for average pooling: Im2Col's columns reduced as they are read.

`window_sum(x, kernel_size, strides, padding)` equals `im2col(x, ...)`
summed over each window, without the column matrix: a window sum is
separable (rows, then columns), and along one axis Im2Col's blocked layout
(cells a = q·s + r as block q, residue r) turns the k cells of a window into
k // s whole blocks (summed once for all windows) and k % s residues of the
next block.
"""

import tensorflow as tf

from kzoo.layers.im2col import (
    WindowGeometry,
    _fit_length,
    _has_padding,
    _static_or_dynamic,
    with_static_shape,
)


def _block_count(kernel, stride, out_length):
    """Blocks of `stride` cells that `out_length` windows of `kernel` cells reach."""
    full, rest = divmod(kernel, stride)
    return out_length + full - (0 if rest else 1)


def _window_sum_1d(x, axis, kernel, stride, out_length):
    """Sums of `kernel` consecutive cells every `stride` along `axis` (1 or 2) of `x`,
    whose length along `axis` is at least `(out_length - 1)·stride + kernel`.

    Im2Col's blocked layout along one axis: cells a = q·s + r are block q,
    residue r. A window of k cells starting at block q covers the k // s
    whole blocks q ... q + k//s − 1 (their residues summed once for all
    windows) and the first k % s residues of the next block, so each output
    is a few plain slices added, not k copies. The gradient is the adjoint of
    those slices (pads), broadcast back over the residues.
    """
    full, rest = divmod(kernel, stride)
    blocks = _block_count(kernel, stride, out_length)
    length = _static_or_dynamic(x, axis)

    def along(t, first, size):  # t[first : first + size] along `axis`
        return t[:, first: first + size] if axis == 1 else t[:, :, first: first + size]

    def pad_along(t, before, after):
        paddings = [[0, 0]] * t.shape.rank
        paddings[axis] = [before, after]
        return tf.pad(t, paddings)

    @tf.custom_gradient
    def _sum(x):
        fitted = _fit_length(x, axis, blocks * stride, 0.0)  # a no-op from window_sum
        shape = tf.shape(fitted)
        blocked_shape = [shape[0], shape[1], shape[2], shape[3]]
        blocked_shape[axis:axis + 1] = [blocks, stride]
        blocked = tf.reshape(fitted, blocked_shape)  # the residue is axis + 1
        parts = []
        if full:
            whole = tf.reduce_sum(blocked, axis=axis + 1)
            parts += [along(whole, t, out_length) for t in range(full)]
        for r in range(rest):
            residue = tf.gather(blocked, r, axis=axis + 1)
            parts.append(along(residue, full, out_length))
        total = parts[0] if len(parts) == 1 else tf.add_n(parts)

        def grad(dy):
            padded = [pad_along(dy, t, blocks - t - out_length)
                      for t in range(full + (1 if rest else 0))]
            whole = tf.add_n(padded[:full]) if full else None  # (.., blocks, ..)
            residues = []
            for r in range(stride):
                cell = padded[full] if r < rest else None
                if whole is not None:
                    cell = whole if cell is None else whole + cell
                residues.append(tf.zeros_like(padded[0]) if cell is None else cell)
            blocked_grad = tf.stack(residues, axis=axis + 1)
            g_shape = tf.shape(blocked_grad)
            flat = [g_shape[i] for i in range(5)]
            flat[axis:axis + 2] = [blocks * stride]
            return _fit_length(tf.reshape(blocked_grad, flat), axis, length, 0.0)

        return total, grad

    return _sum(x)


def window_sum(x, kernel_size, strides=(1, 1), padding="valid"):
    """The sum of every window of `x`: Im2Col's columns reduced over the window.

    Equal to `im2col(x, ...)` summed over each window's kh·kw cells (a window
    sum is separable: rows, then columns), read through Im2Col's blocked
    layout (`_window_sum_1d`) so that no column matrix and no kh·kw copies are
    made. Average pooling runs on it.

    Returns:
        (B, H', W', C).
    """
    geometry = WindowGeometry(x, kernel_size, strides, (1, 1), padding)
    # One pad (or crop) to whole blocks on both axes, "same" padding included.
    lengths = [_block_count(k, s, out) * s for k, s, out in
               zip(kernel_size, strides, (geometry.out_height, geometry.out_width))]
    (top, _), (left, _) = geometry.pads
    x = x[:, :lengths[0] - top, :lengths[1] - left]
    paddings = [[0, 0], [top, lengths[0] - top - _static_or_dynamic(x, 1)],
                [left, lengths[1] - left - _static_or_dynamic(x, 2)], [0, 0]]
    if _has_padding(paddings[1:3]):
        x = tf.pad(x, paddings)
    rows = _window_sum_1d(x, 1, kernel_size[0], strides[0], geometry.out_height)
    total = _window_sum_1d(rows, 2, kernel_size[1], strides[1], geometry.out_width)
    return with_static_shape(total, x.shape[0], geometry.static_out(), x.shape[-1])

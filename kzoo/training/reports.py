"""Run reports: learning curves, the confusion matrix and heatmap overlays as PNG files."""

import csv

import numpy as np

from kzoo.utils.io import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    return plt


def read_history(path):
    """history.csv → {column: [values]} ordered by epoch, one row per epoch (last wins).

    A file that is not such a table (bytes that are not text, no `epoch`
    column, a row that is not numbers) is a `ValueError` naming it.
    """
    from kzoo.training.run_dir import RESTART_ADVICE, damaged

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header, table = reader.fieldnames, list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise damaged(path, f"not a text table: {e}", RESTART_ADVICE) from None
    if header is not None and "epoch" not in header:
        raise damaged(path, f"its header {header} has no `epoch` column", RESTART_ADVICE)
    rows = {}
    for line, row in enumerate(table, 2):
        try:
            if None in row:
                raise ValueError(f"more cells than the {len(header)} of the header")
            # NA: no validation; a missing cell (a row cut short) counts as NaN.
            rows[int(row["epoch"])] = {k: float(v) if v not in ("", None, "NA") else np.nan
                                       for k, v in row.items()}
        except ValueError as e:
            raise damaged(path, f"line {line} is not a row of numbers: {e}",
                          RESTART_ADVICE) from None
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            history.setdefault(key, []).append(value)
    return history


def plot_curves(history, path, title=""):
    """Loss and accuracy, train vs validation, against the epoch."""
    plt = pyplot()
    epochs = np.asarray(history.get("epoch", []), dtype=int) + 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in history:
                ax.plot(epochs, history[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def confusion_matrix(labels, predictions, num_classes):
    """counts[i, j] = examples of class i predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    return counts


def plot_confusion_matrix(counts, class_names, path, title=""):
    """The confusion matrix as a heat map, rows normalized, counts written in."""
    plt = pyplot()
    n = len(class_names)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def plot_heatmap_overlay(pixels, heatmap, title, path):
    """An image under its heatmap (e.g. a class activation map) as a PNG file.

    Args:
        pixels: the image (H, W, 1 or 3), pixel values 0–255.
        heatmap: (H, W) in [0, 1], drawn with the jet colormap at alpha 0.4.
        title: the figure's title.
        path: the PNG to write (atomically).

    Examples:
        >>> heat = kzoo.transfer.class_activation_map(model, x, normalize=True, upsample=True)
        >>> kzoo.training.reports.plot_heatmap_overlay(x[0], heat[0], "boot 0.98", "boot.png")
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 4.4))
    try:
        if pixels.shape[-1] == 1:
            ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(np.clip(pixels, 0, 255).astype("uint8"))
        ax.imshow(heatmap, cmap="jet", alpha=0.4, vmin=0.0, vmax=1.0)
        ax.set_title(title)
        ax.axis("off")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)

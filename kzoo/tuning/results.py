"""What a search leaves: `trials.csv`, `search.png` and `best.json`, from the trial records."""

import csv
import io as _io
import math

from kzoo.training import reports
from kzoo.utils import io

CSV_FILE, PLOT_FILE, BEST_FILE = "trials.csv", "search.png", "best.json"
_TAIL = ("val_accuracy", "val_loss", "epochs", "seconds", "status")


def write_csv(path, records, names):
    """`trials.csv`: `trial_id`, `stage`, one column per hyperparameter, then the results."""
    out = _io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial_id", "stage", *names, *_TAIL])
    for r in sorted(records, key=lambda r: (r["stage"], r["trial_id"])):
        writer.writerow([r["trial_id"], r["stage"], *(_cell(r["values"].get(n)) for n in names),
                         *(_cell(r.get(k)) for k in _TAIL)])
    io.write_text(path, out.getvalue())


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_csv(path):
    """`trials.csv` → a list of row dicts (strings)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def best_record(records):
    """The completed trial with the highest validation accuracy (None if there is none)."""
    done = [r for r in records if r["status"] == "completed" and r["val_accuracy"] is not None]
    return max(done, key=lambda r: (r["val_accuracy"], -r["stage"]), default=None)


def plot(path, records, space, stages):
    """Validation accuracy against each hyperparameter (log axes for log ranges), a colour
    per stage; diverged and failed trials are drawn at the bottom as crosses."""
    plt = reports.pyplot()
    names = space.names
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    done = [r["val_accuracy"] for r in records if r["val_accuracy"] is not None]
    floor = min(done) - 0.02 if done else 0.0
    for ax, name in zip(axes.flat, names):
        p = space[name]
        positions = None
        if p.type == "choice":
            positions = {repr(v): i for i, v in enumerate(p.values)}
            ax.set_xticks(range(len(p.values)), [str(v) for v in p.values], rotation=20)
        for stage in stages:
            for ok in (True, False):
                xs, ys = [], []
                for r in records:
                    value = r["values"].get(name)
                    if r["stage"] != stage.number or value is None:
                        continue
                    if (r["status"] == "completed") != ok:
                        continue
                    xs.append(positions.get(repr(value), -1) if positions else value)
                    ys.append(r["val_accuracy"] if ok and r["val_accuracy"] is not None
                              else floor)
                if xs:
                    ax.scatter(xs, ys, color=colours[(stage.number - 1) % len(colours)],
                               marker="o" if ok else "x", alpha=0.8,
                               label=(f"{stage.name} ({stage.trials}×{stage.epochs} ep)"
                                      if ok else f"{stage.name} diverged/failed"))
        if p.is_log:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(handles)), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)

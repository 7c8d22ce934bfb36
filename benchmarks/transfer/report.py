"""The transfer benchmark's report: the Markdown table and verdicts, and the plot."""

import math

from benchmarks.results_io import RESULTS_DIR, for_docs, machine_note, machine_text, read_results
from benchmarks.transfer.cells import MODES, PROTOCOLS
from benchmarks.transfer.probe import probe_markdown
from benchmarks.transfer.verdicts import compare, find_row

# Measured by hand before this benchmark (lenet, split protocol, mean of 3 seeds;
# linear 60 epochs at 1e-2, full then 30 epochs at 1e-4, scratch 60 epochs at 1e-3).
REFERENCE = {
    ("lenet", "split"): {2: {"scratch": 0.700, "linear": 0.664, "full": 0.676},
                         5: {"scratch": 0.806, "linear": 0.785, "full": 0.791},
                         10: {"scratch": 0.852, "linear": 0.859, "full": 0.868},
                         50: {"scratch": 0.908, "linear": 0.910, "full": 0.919}},
    ("lenet", "digits"): {10: {"scratch": 0.892, "linear": 0.802, "full": 0.835}},
}


def fmt(row, seeds_expected=3):
    if row is None:
        return "—"
    text = f"{row['mean']:.3f} ± {row['std']:.3f}"
    return text if len(row["seeds"]) >= seeds_expected else text + f" ({len(row['seeds'])} seed)"


def to_markdown(results):
    rows, s = results["rows"], results["settings"]
    lines = [
        f"Transfer with few labels: test accuracy, mean ± std over seeds "
        f"{results['seeds']} ({machine_text(results['machine'])}, TF "
        f"{results['machine']['tensorflow']}). `split`: base trained on Fashion-MNIST "
        f"classes 0–4, N labels per class of classes 5–9, tested on their 5,000 test images; "
        f"`digits`: the shipped Fashion-MNIST checkpoints to scikit-learn's 8×8 digits "
        f"(resized), tested on its 359 test images.",
        "",
        f"Recipe: scratch {s['scratch_epochs']} epochs at {s['scratch_lr']:g}; linear "
        f"{s['linear_epochs']} epochs at {s['linear_lr']:g}; head/full = linear, then "
        f"{s['tune_epochs']} epochs (classifier {s['tune_lr']:g}, base "
        f"{s['tune_lr'] * s['base_lr_factor']:g}, BatchNorm frozen); batch {s['batch_size']}, "
        f"adam; auto = the mode `fine_tune(mode=\"auto\")` picks. Split bases: "
        + ", ".join(f"{m} {b['epochs']} epochs on classes 0–4 (test accuracy there "
                    f"{b['test_accuracy']:.4f})" for m, b in sorted(results["bases"].items()))
        + ".",
        "",
        "| base | protocol | N/class | scratch | linear | head | full | auto (mode) | "
        "best − scratch | linear train acc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["model"], r["protocol"], r["n"]) for r in rows},
                  key=lambda k: (k[0], PROTOCOLS.index(k[1]), k[2]))
    for model, protocol, n in keys:
        cells = {m: find_row(rows, model, protocol, n, m) for m in MODES}
        auto = cells["auto"]
        k = len(results["seeds"])
        auto_text = fmt(auto, k) + (f" ({'/'.join(auto['auto_modes'])})" if auto else "")
        c = compare(rows, model, protocol, n, len(results["seeds"]))
        gain = f"{c['gain']:+.3f} ({c['best_mode']})" if c else "—"
        lines.append(f"| `{model}` | {protocol} | {n} | " + " | ".join(
            fmt(cells[m], k) for m in MODES[:-1]) + f" | {auto_text} | {gain} | "
            + (f"{cells['linear']['train_accuracy_mean']:.3f}" if cells["linear"] else "—")
            + " |")
    lines += ["", "Verdicts (computed from the table):", ""]
    for v in results["verdicts"]:
        lines.append(f"- {v['text']}.")
    goal = results.get("goal_verdict")
    if goal:
        lines += ["", f"**Goal** (resnet20 base, split protocol: the best transfer mode beats "
                      f"scratch at every budget and `auto` picks it): "
                      f"**{ {True: 'met', False: 'not met', None: 'undecided'}[goal['met']] }** "
                      f"(transfer above scratch at every budget: "
                      f"{'yes' if goal['transfer_beats_scratch_everywhere'] else 'no'}; auto "
                      f"picks the best mode everywhere: "
                      f"{'yes' if goal['auto_picks_best_everywhere'] else 'no'})."]
    lines += probe_markdown(results.get("probes"))
    ref_lines = []
    for (model, protocol), by_n in REFERENCE.items():
        for n, ref in by_n.items():
            got = {m: find_row(rows, model, protocol, n, m) for m in ref}
            ref_lines.append(f"{model} {protocol} N={n}: " + ", ".join(
                f"{m} {v:.3f} → " + (f"{got[m]['mean']:.3f}" if got[m] else "—")
                for m, v in ref.items()))
    lines += ["", "Hand-measured reference (before → this run; full there used 1e-4 for "
                  "everything in phase 2): " + "; ".join(ref_lines) + "."]
    missing = results["missing"]
    if missing:
        lines += ["", f"Missing cells ({len(missing)} of {results['planned']}; not run before "
                      f"the deadline): " + ", ".join(
                          f"{m}/{p}/N={n}/{mode}/seed {s}" for m, p, n, mode, s in missing[:40])
                  + (" …" if len(missing) > 40 else "") + "."]
    else:
        lines += ["", f"All {results['planned']} planned cells ran."]
    lines += ["", "![accuracy against labels per class](transfer.png)"]
    return "\n".join(lines) + "\n"


def docs_markdown(results_dir=RESULTS_DIR):
    """The docs page's tables and verdicts: `results/transfer.json` through `to_markdown`
    (the page shows the plot itself)."""
    results = read_results("transfer", results_dir)
    note = machine_note(results["machine"])
    return for_docs(to_markdown(results)) + (f"\n{note}" if note else "")


def plot(results, path):
    """Accuracy against labels per class: one panel per (protocol, base), one line per mode."""
    from kzoo.training.reports import pyplot
    from kzoo.utils.io import atomic_path

    plt = pyplot()
    rows = results["rows"]
    panels = sorted({(r["protocol"], r["model"]) for r in rows},
                    key=lambda k: (PROTOCOLS.index(k[0]), k[1])) or [("split", "lenet")]
    cols = 2
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(11, 4.2 * nrows), squeeze=False)
    styles = {"scratch": ("k", "o", "-"), "linear": ("C0", "s", "-"), "head": ("C1", "^", "-"),
              "full": ("C2", "D", "-"), "auto": ("C3", "x", ":")}
    for ax, (protocol, model) in zip(axes.flat, panels):
        for mode in MODES:
            points = sorted((r["n"], r["mean"], r["std"]) for r in rows
                            if (r["model"], r["protocol"], r["mode"]) == (model, protocol, mode))
            if not points:
                continue
            color, marker, line = styles[mode]
            ns, means, stds = zip(*points)
            ax.errorbar(ns, means, yerr=stds, color=color, marker=marker, linestyle=line,
                        capsize=3, label=mode, alpha=0.9)
        ax.set_xscale("log")
        ns = sorted({r["n"] for r in rows if r["protocol"] == protocol})
        ax.minorticks_off()
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.set_title(f"{model} — {protocol}", fontsize=10)
        ax.set_xlabel("labelled images per class (log scale)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

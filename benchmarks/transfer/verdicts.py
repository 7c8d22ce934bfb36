"""Rows (mean ± std over seeds) from the cells, and the verdicts computed from them."""

import math
import statistics

from benchmarks.transfer.cells import MODES, PROTOCOLS, TRANSFER_MODES


def mean_std(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(cells):
    """Rows `{model, protocol, n, mode, seeds, accuracies, mean, std}` (+ `auto_modes`)."""
    groups = {}
    for cell in cells:
        key = (cell["model"], cell["protocol"], cell["n"], cell["mode"])
        groups.setdefault(key, []).append(cell)
    rows = []
    for (model, protocol, n, mode), group in sorted(
            groups.items(), key=lambda kv: (kv[0][0], PROTOCOLS.index(kv[0][1]), kv[0][2],
                                            MODES.index(kv[0][3]))):
        group = sorted(group, key=lambda c: c["seed"])
        accuracies = [c["test_accuracy"] for c in group]
        mean, std = mean_std(accuracies)
        row = {"model": model, "protocol": protocol, "n": n, "mode": mode,
               "seeds": [c["seed"] for c in group], "accuracies": accuracies,
               "mean": mean, "std": std,
               "train_accuracy_mean": statistics.mean(c.get("train_accuracy", math.nan)
                                                      for c in group)}
        if mode == "auto":
            row["auto_modes"] = sorted({c["chosen_mode"] for c in group})
        rows.append(row)
    return rows


def find_row(rows, model, protocol, n, mode):
    for row in rows:
        if (row["model"], row["protocol"], row["n"], row["mode"]) == (model, protocol, n, mode):
            return row
    return None


def compare(rows, model, protocol, n, seeds_expected):
    """Scratch against the best transfer mode at one budget, or None without scratch.

    Only modes with all `seeds_expected` seeds count (a partial mean is no
    comparison). Returns `{n, scratch, best_mode, best, gain, auto_mode,
    auto_is_best, complete}`.
    """
    def complete(row):
        return row is not None and len(row["seeds"]) >= seeds_expected

    scratch = find_row(rows, model, protocol, n, "scratch")
    transfer = [find_row(rows, model, protocol, n, m) for m in TRANSFER_MODES]
    transfer = [r for r in transfer if complete(r)]
    if not complete(scratch) or not transfer:
        return None
    best = max(transfer, key=lambda r: r["mean"])
    auto = find_row(rows, model, protocol, n, "auto")
    auto_mode = auto["auto_modes"][0] if auto and len(auto["auto_modes"]) == 1 else None
    return {"n": n, "scratch": scratch["mean"], "best_mode": best["mode"], "best": best["mean"],
            "gain": best["mean"] - scratch["mean"], "auto_mode": auto_mode,
            "auto_is_best": auto_mode == best["mode"],
            "complete": len(transfer) == len(TRANSFER_MODES)}


def verdict(rows, model, protocol, budgets, seeds_expected):
    """The goal at `model`/`protocol`: the best transfer mode beats scratch at every budget
    (mean over seeds) and `auto` picks it. Returns a dict with `met` (True/False/None:
    undecided, some budgets missing), `comparisons` and a one-line `text`."""
    comparisons = [compare(rows, model, protocol, n, seeds_expected) for n in budgets]
    done = [c for c in comparisons if c is not None]
    missing = [n for n, c in zip(budgets, comparisons) if c is None]
    beats = [c["n"] for c in done if c["gain"] > 0]
    loses = [c["n"] for c in done if c["gain"] <= 0]
    auto_right = [c["n"] for c in done if c["auto_is_best"]]
    if loses or (done and len(auto_right) < len(done)):
        met = False
    elif missing or not done:
        met = None
    else:
        met = True
    parts = []
    for c in done:
        parts.append(f"N={c['n']}: best {c['best_mode']} {c['best']:.3f} vs scratch "
                     f"{c['scratch']:.3f} ({c['gain']:+.3f}), auto -> {c['auto_mode']}"
                     f" ({'right' if c['auto_is_best'] else 'wrong'})")
    status = {True: "met", False: "not met", None: "undecided"}[met]
    beats_everywhere = bool(done) and not loses and not missing
    auto_everywhere = bool(done) and len(auto_right) == len(done) and not missing
    text = (f"{model} {protocol}: best transfer mode above scratch at every budget and auto "
            f"picking it: {status} (transfer above scratch everywhere: "
            f"{'yes' if beats_everywhere else 'no'}; auto right everywhere: "
            f"{'yes' if auto_everywhere else 'no'})"
            + (f" — transfer beats scratch at N={beats}" if beats else "")
            + (f"; loses at N={loses}" if loses else "")
            + (f"; auto picks the best mode at N={auto_right} of {[c['n'] for c in done]}"
               if done else "")
            + (f"; budgets without all cells: {missing}" if missing else ""))
    return {"model": model, "protocol": protocol, "met": met, "comparisons": comparisons,
            "transfer_beats_scratch_everywhere": beats_everywhere,
            "auto_picks_best_everywhere": auto_everywhere,
            "missing_budgets": missing, "details": parts, "text": text}

"""The feature probe of the split bases: a logistic regression on their features."""

import json
import os

from benchmarks.transfer.base import TARGET_CLASSES
from benchmarks.transfer.runs import new_model
from benchmarks.transfer.verdicts import mean_std


def feature_probe(root, model, budgets, seeds):
    """Evidence on the split base's features: a logistic regression (scikit-learn, C=1, on
    standardized pooled features) on classes 5–9 with all 30,000 training images and with
    N per class, for the trained base and for the same network untrained (random init).
    Cached in `root/probe-<model>.json`."""
    import keras
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from kzoo.data import load_arrays

    path = os.path.join(root, f"probe-{model}.json")
    if os.path.exists(path):
        with open(path) as f:
            probe = json.load(f)
        if (probe.get("budgets"), probe.get("seeds"), probe.get("version")) == (
                list(budgets), list(seeds), 2):
            return probe
    x, y, _ = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES)
    xt, yt, _ = load_arrays("fashion_mnist", "test", classes=TARGET_CLASSES)
    probe = {"model": model, "budgets": list(budgets), "seeds": list(seeds), "version": 2}
    variants = [("pretrained", True, "output"), ("random_init", False, "output")]
    if model == "lenet":  # small enough a feature map to probe unpooled too
        variants += [("pretrained_flatten", True, "input"), ("random_init_flatten", False, "input")]
    for name, pretrained, end in variants:
        keras.utils.set_random_seed(0)
        net = new_model(root, model, "split", len(TARGET_CLASSES), None, pretrained=pretrained)
        pooler = net.get_layer("pooler")
        features = keras.Model(net.inputs, keras.layers.Flatten()(pooler.input)
                               if end == "input" else pooler.output)
        f, ft = (features.predict(a, batch_size=500, verbose=0) for a in (x, xt))

        def fit(fx, fy):
            scaler = StandardScaler().fit(fx)
            lr = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(fx), fy)
            return float(np.mean(lr.predict(scaler.transform(ft)) == yt))

        result = {"features": int(f.shape[-1]), "all_labels": fit(f, y)}
        for n in budgets:
            accs = []
            for seed in seeds:
                xs, ys, _ = load_arrays("fashion_mnist", "train", classes=TARGET_CLASSES,
                                        labels_per_class=n, seed=seed)
                fs = features.predict(xs, batch_size=500, verbose=0)
                accs.append(fit(fs, ys))
            result[f"n{n}"] = mean_std(accs)
        probe[name] = result
        print(f"transfer: probe {model} {name}: {result}", flush=True)
    from kzoo.utils import io

    io.write_json(path, probe)
    return probe


def probe_markdown(probes):
    if not probes:
        return []
    budgets = sorted({n for p in probes.values() for n in p["budgets"]})
    lines = ["", "Feature probe (split protocol; logistic regression on the standardized pooled "
                 "features (`flatten`: the unpooled last feature map), classes 5–9, mean ± std "
                 "over seeds): trained base against the same network untrained.", "",
             "| base | features | all 30,000 labels | " + " | ".join(
                 f"N={n}" for n in budgets) + " |",
             "|---|---|---|" + "---|" * len(budgets)]
    for model, p in sorted(probes.items()):
        for name in ("pretrained", "random_init", "pretrained_flatten", "random_init_flatten"):
            if name not in p:
                continue
            r = p[name]
            lines.append(f"| `{model}` {name.replace('_', ' ')} | {r['features']} | "
                         f"{r['all_labels']:.3f} | " + " | ".join(
                             f"{r[f'n{n}'][0]:.3f} ± {r[f'n{n}'][1]:.3f}"
                             if f"n{n}" in r else "—" for n in budgets) + " |")
    return lines


def probe_infos(root, models):
    probes = {}
    for model in models:
        path = os.path.join(root, f"probe-{model}.json")
        if os.path.exists(path):
            with open(path) as f:
                probes[model] = json.load(f)
    return probes

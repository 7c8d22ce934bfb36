"""The accuracy benchmark's report: learning curves, the 60-minute verdict, the plot."""

import os

import pytest

from benchmarks import fashion_mnist_accuracy as bench


def write_history(run_dir, rows, timed=True):
    os.makedirs(run_dir)
    header = "epoch,accuracy,epoch_seconds,val_accuracy" if timed else "epoch,accuracy,val_accuracy"
    lines = [header]
    for epoch, (seconds, val) in enumerate(rows):
        lines.append(f"{epoch},0.5,{seconds},{val}" if timed else f"{epoch},0.5,{val}")
    with open(os.path.join(run_dir, "history.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def test_learning_curve_accumulates_epoch_times(tmp_path):
    write_history(tmp_path / "run", [(30, 0.8), (60, 0.85), (90, 0.9)])
    curve = bench.learning_curve(tmp_path / "run", train_seconds=999)
    assert curve == {"minutes": [0.5, 1.5, 3.0], "val_accuracy": [0.8, 0.85, 0.9], "timed": True}


def test_learning_curve_spreads_total_time_without_epoch_times(tmp_path):
    write_history(tmp_path / "run", [(0, 0.8), (0, 0.9)], timed=False)
    curve = bench.learning_curve(tmp_path / "run", train_seconds=240)
    assert curve["minutes"] == [2.0, 4.0] and not curve["timed"]


def results(rows):
    return {"machine": {"cpus": 2, "tensorflow": "x"}, "goal": "0.95 in 60 min",
            "published": bench.PUBLISHED, "rows": rows}


def row(model, accuracies, seconds):
    return {"model": model, "seeds": list(range(len(accuracies))), "test_accuracy": accuracies,
            "train_seconds": seconds, "params": 1000, "accuracy_mean": sum(accuracies) / 2,
            "accuracy_std": 0.0, "seconds_mean": sum(seconds) / 2,
            "config": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.1,
                       "schedule": "cosine"},
            "curves": [{"minutes": [s / 60], "val_accuracy": [a], "timed": True}
                       for a, s in zip(accuracies, seconds)]}


@pytest.mark.parametrize("accuracy, verdict", [(0.951, "— met"), (0.949, "— not met")])
def test_verdict_counts_only_runs_within_60_minutes(accuracy, verdict):
    # The 0.97 run took 61 minutes: it must not count.
    r = results([row("a", [accuracy, 0.90], [3500, 100]), row("b", [0.97, 0.5], [3660, 10])])
    assert bench.best_within(r)[:3] == ("a", 0, accuracy)
    assert verdict in bench.to_markdown(r)


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "acc.png"
    bench.plot(results([row("a", [0.9, 0.91], [100, 120])]), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- The transfer benchmark's aggregation and report (no training here).

from benchmarks.transfer import cli, report, verdicts  # noqa: E402
from benchmarks.transfer.cells import (MODES, cell_path, cell_settings,  # noqa: E402
                                       collect_cells, full_plan, missing_cells, read_cell)


def tcell(model, protocol, n, mode, seed, accuracy, chosen=None):
    cell = {"model": model, "protocol": protocol, "n": n, "mode": mode, "seed": seed,
            "test_accuracy": accuracy, "train_accuracy": 1.0}
    if mode == "auto":
        cell["chosen_mode"] = chosen
    return cell


def tgroup(n, accuracies, chosen, model="resnet20", protocol="split", seeds=(0, 1, 2)):
    """Cells of every mode at one budget; `accuracies` maps mode -> mean accuracy."""
    cells = []
    for seed in seeds:
        jitter = 0.01 * (seed - 1)
        for mode, acc in accuracies.items():
            cells.append(tcell(model, protocol, n, mode, seed, acc + jitter))
        cells.append(tcell(model, protocol, n, "auto", seed, accuracies[chosen] + jitter, chosen))
    return cells


def test_aggregate_means_and_stds_over_seeds():
    cells = tgroup(2, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear")
    rows = verdicts.aggregate(cells)
    linear = verdicts.find_row(rows, "resnet20", "split", 2, "linear")
    assert linear["seeds"] == [0, 1, 2]
    assert linear["mean"] == pytest.approx(0.6) and linear["std"] == pytest.approx(0.01)
    assert verdicts.find_row(rows, "resnet20", "split", 2, "auto")["auto_modes"] == ["linear"]
    assert [r["mode"] for r in rows] == list(MODES)


def test_verdict_met_when_best_transfer_beats_scratch_and_auto_picks_it():
    cells = (tgroup(2, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear")
             + tgroup(50, {"scratch": 0.8, "linear": 0.82, "head": 0.85, "full": 0.84}, "head"))
    v = verdicts.verdict(verdicts.aggregate(cells), "resnet20", "split", [2, 50], 3)
    assert v["met"] is True and v["transfer_beats_scratch_everywhere"]
    assert v["auto_picks_best_everywhere"]
    assert [c["best_mode"] for c in v["comparisons"]] == ["linear", "head"]
    assert v["comparisons"][1]["gain"] == pytest.approx(0.05)


@pytest.mark.parametrize("accuracies, chosen", [
    ({"scratch": 0.7, "linear": 0.6, "head": 0.65, "full": 0.68}, "full"),  # scratch wins
    ({"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.65}, "linear"),  # auto wrong
])
def test_verdict_not_met(accuracies, chosen):
    v = verdicts.verdict(verdicts.aggregate(tgroup(2, accuracies, chosen)), "resnet20", "split",
                         [2], 3)
    assert v["met"] is False and "not met" in v["text"]
    assert v["transfer_beats_scratch_everywhere"] == (accuracies["scratch"] < 0.68)


def test_verdict_undecided_with_missing_budgets_or_seeds():
    cells = tgroup(2, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear")
    cells += tgroup(5, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear",
                    seeds=(0,))  # one seed of three: not a comparison
    v = verdicts.verdict(verdicts.aggregate(cells), "resnet20", "split", [2, 5, 10], 3)
    assert v["met"] is None and v["missing_budgets"] == [5, 10]
    assert "undecided" in v["text"]


def test_missing_cells_lists_the_plan_without_results():
    plan = full_plan(["lenet"], ["split", "digits"], [2], [10], [0])
    assert len(plan) == 2 * len(MODES)
    cells = [tcell("lenet", "split", 2, m, 0, 0.5, "linear") for m in MODES]
    assert missing_cells(cells, plan) == [("lenet", "digits", 10, m, 0) for m in MODES]


def test_cached_cell_with_other_settings_is_not_reused(tmp_path):
    from kzoo.utils import io

    settings = dict(cli.DEFAULTS)
    expected = cell_settings(settings, "lenet", "split", "linear")
    assert expected["base_epochs"] == settings["base_epochs"]["lenet"]
    path = cell_path(str(tmp_path), "lenet", "split", 2, "linear", 0)
    io.write_json(path, {**tcell("lenet", "split", 2, "linear", 0, 0.5), "settings": expected})
    assert read_cell(path, expected)["test_accuracy"] == 0.5
    assert read_cell(path, {**expected, "linear_lr": 1.0}) is None
    assert read_cell(str(tmp_path / "absent.json")) is None
    assert len(collect_cells(str(tmp_path))) == 1
    # The digits protocol does not depend on the split protocol's base.
    assert "base_epochs" not in cell_settings(settings, "lenet", "digits", "full")


def test_parse_base_epochs_overrides_the_defaults():
    assert cli.parse_base_epochs("resnet20=5") == {"lenet": 12, "resnet20": 5}


def tresults(cells, plan):
    rows = verdicts.aggregate(cells)
    goal = verdicts.verdict(rows, "resnet20", "split", [2, 50], 3)
    return {"machine": {"cpus": 2, "tensorflow": "x"}, "settings": dict(cli.DEFAULTS),
            "seeds": [0, 1, 2], "bases": {"resnet20": {"epochs": 3, "test_accuracy": 0.9}},
            "rows": rows, "verdicts": [goal], "goal_verdict": goal,
            "missing": missing_cells(cells, plan), "planned": len(plan)}


def test_markdown_states_the_computed_verdict_and_the_missing_cells():
    cells = tgroup(2, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear")
    plan = full_plan(["resnet20"], ["split"], [2, 50], [], [0, 1, 2])
    text = report.to_markdown(tresults(cells, plan))
    assert "| `resnet20` | split | 2 | 0.500 ± 0.010 | 0.600 ± 0.010 |" in text
    assert "| +0.100 (linear) | 1.000 |" in text
    assert "+0.100 (linear)" in text
    assert "**undecided**" in text
    assert "Missing cells (15 of 30" in text and "resnet20/split/N=50/scratch/seed 0" in text


def test_transfer_plot_writes_a_png(tmp_path):
    cells = (tgroup(2, {"scratch": 0.5, "linear": 0.6, "head": 0.55, "full": 0.58}, "linear")
             + tgroup(10, {"scratch": 0.7, "linear": 0.7, "head": 0.75, "full": 0.72}, "linear",
                      model="lenet", protocol="digits"))
    path = tmp_path / "transfer.png"
    report.plot(tresults(cells, []), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- The tuning benchmark's accounting and report, on made-up trial records (no training).

def test_tuning_benchmark_counts_only_trials_within_the_cpu_budget(tmp_path):
    import json

    from benchmarks.tuning import budget, cli, searches
    from kzoo.training.config import TrainConfig

    runs, out = tmp_path / "runs", tmp_path / "results"

    def trial(method, stage, tid, val, cpu, status="completed", lr=1e-3):
        path = runs / method / f"stage{stage}" / f"trial_{tid}" / "kzoo_trial.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({
            "trial_id": tid, "stage": stage, "values": {"learning_rate": lr, "dropout": 0.1},
            "val_accuracy": val, "status": status, "epochs": stage, "seconds": 2 * cpu,
            "cpu_seconds": cpu, "finished_at": 1000.0 + int(tid) + 10 * stage}))

    # random: reaches 0.92 at 8 CPU s; the 0.95 trial ends at 12 > 10 CPU s, past the budget.
    trial("random", 1, "0", 0.90, 4.0)
    trial("random", 1, "1", None, 1.0, status="diverged")
    trial("random", 1, "2", 0.92, 3.0)
    trial("random", 1, "3", 0.95, 4.0)
    trial("coarse_to_fine", 1, "0", 0.80, 5.0, lr=0.01)
    trial("coarse_to_fine", 2, "0", 0.91, 5.0, lr=0.002)
    for method in ("random", "coarse_to_fine"):
        (runs / method / "metrics.json").write_text("{}")
        (runs / method / "run.json").write_text(json.dumps(
            {"config": {"stages": [[4, 1], [1, 6]], "validation_size": 200}}))
        (runs / method / "best.json").write_text(json.dumps(
            {"config": TrainConfig("mlp", "digits", validation_size=200).to_dict()}))
    settings = {**cli.DEFAULTS, **cli.QUICK, "budget_cpu_seconds": 10.0, "goal": 0.915}
    trials = searches.read_trials(str(runs / "random"))
    s = budget.summarize("random", trials, 10.0, 0.915)
    assert [p["cpu_seconds"] for p in s["curve"]] == [4.0, 5.0, 8.0, 12.0]
    assert s["best_val_accuracy"] == 0.92 and s["best_val_accuracy_overall"] == 0.95
    assert (s["goal_cpu_seconds"], s["goal_wall_seconds"]) == (8.0, 16.0)
    assert (s["trials"], s["trials_within_budget"], s["trials_diverged"]) == (4, 3, 1)
    # The winner's kzoo train command: its values and its stage's epochs.
    c2f_trials = searches.read_trials(str(runs / "coarse_to_fine"))
    c2f = budget.summarize("coarse_to_fine", c2f_trials, 10.0, 0.915)
    config = budget.winner_config(str(runs / "coarse_to_fine"), c2f["winner"])
    assert (config.epochs, config.learning_rate, config.model_kwargs) == (6, 0.002,
                                                                          {"dropout": 0.1})
    assert "--budget-cpu-seconds" in searches.tune_argv("hyperband", settings, "d")
    # hyperband never ran: the verdict is met by random, undecided parts are listed.
    cli.main(["--quick", "--budget-cpu-seconds", "10", "--runs-dir", str(runs),
              "--results-dir", str(out), "--skip-search", "--no-retrain", "--skip-replicas"])
    results = json.loads((out / "tuning.json").read_text())
    assert results["verdict"]["state"] == "met" and results["verdict"]["best_method"] == "random"
    assert results["verdict"]["missing"] == ["hyperband"]
    text = (out / "tuning.md").read_text()
    assert "| random | 4 (3) | 4 | 12 | 24 | 0.9200 | 8 | 16 |" in text
    assert "a trial past the budget reached 0.9500 (not counted)" in text
    assert (out / "tuning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    v = budget.verdict([{**c2f, "finished": True}], 0.915, 10.0, ["coarse_to_fine"])
    assert v["met"] is False and v["text"].endswith("— not met")


# ---- The serving benchmark's verdicts and report (no server here).

from benchmarks import serving  # noqa: E402


def sresults(unbatched_rps, batched_rps, http_p50, fastest_p50):
    def lat(p50):
        return {"p50_ms": p50, "p99_ms": 2 * p50, "mean_ms": p50, "n": 300}

    def row(batching, clients, rps):
        return {"batching": batching, "clients": clients, "seconds": 6.0, "rounds": 3,
                "requests": int(rps * 6), "requests_per_s": rps, "errors": 0,
                "first_errors": [], "latency": lat(1000.0 * clients / rps),
                "mean_batch_rows": clients if batching else None,
                "server_cpu_ms_per_request": 1.0, "client_cpu_ms_per_request": 0.2}

    latency = {"http": lat(http_p50), "keras_eager": lat(5.0),
               "keras_compiled": lat(fastest_p50 + 0.1),
               "signature_in_process": lat(fastest_p50), "block": 20,
               "max_abs_difference": 1e-7}
    latency["overhead_ms"] = {k: http_p50 - latency[k]["p50_ms"]
                              for k in ("keras_eager", "keras_compiled",
                                        "signature_in_process")}
    rows = [row(b, n, (batched_rps if b else unbatched_rps) * (n / 8) ** 0.5)
            for n in (1, 8, 32) for b in (False, True)]
    return {"machine": {"cpus": 2, "tensorflow": "x", "keras": "y", "aiohttp": "z",
                        "python": "3", "load_average_before": [1.0, 1, 1],
                        "load_average_after": [2.0, 2, 2]},
            "model": {"params": 431080},
            "settings": {"seconds": 6.0, "rounds": 3, "warmup": 0.5, "max_batch_size": 32,
                         "batch_timeout_ms": 5.0, "clients": [1, 8, 32]},
            "latency": latency, "throughput": rows,
            "breakdown_ms": {"decode": 0.05, "json_decode": 0.2, "to_tensors": 0.1,
                             "signature_call": 0.9,
                             "predict": 1.1, "json_encode": 0.01, "request_body_bytes": 6816,
                             "answer_bytes": 300},
            "correctness": [{"server": "batching", "clients": 8, "requests_per_client": 500,
                             "answered": 4000, "errors": 0, "mismatches": 0,
                             "seconds": 30.0, "passed": True}]}


@pytest.mark.parametrize("batched, http, met", [(1000.0, 2.5, (True, True)),
                                                (850.0, 3.1, (False, False))])
def test_serving_verdicts_are_computed_from_the_numbers(batched, http, met):
    results = sresults(450.0, batched, http, fastest_p50=1.0)
    v = serving.verdicts(results)
    assert v["throughput"]["speedup_at_8"] == pytest.approx(batched / 450.0)
    assert (v["throughput"]["met"], v["overhead"]["met"]) == met
    assert v["overhead"]["baseline"] == "signature_in_process"
    assert v["overhead"]["overhead_ms"] == pytest.approx(http - 1.0)
    text = serving.to_markdown(results)
    assert ("**met**" in text) == any(met) and ("**not met**" in text) == (not all(met))
    assert "| 8 | 450.0 |" in text and "4000 answered, 0 errors, 0 mismatches" in text


def test_serving_turn_by_turn_ratios():
    """Each batching turn over the unbatched turn of its round, beside the pooled ratio."""
    results = sresults(450.0, 900.0, 2.5, fastest_p50=1.0)
    for row in results["throughput"]:
        if row["clients"] == 8:
            row["turn_requests_per_s"] = ([900.0, 1000.0, 800.0] if row["batching"]
                                          else [500.0, 400.0, 450.0])
    v = serving.verdicts(results)
    assert v["throughput"]["turn_speedups_at_8"] == pytest.approx([1.8, 2.5, 800 / 450])
    text = serving.to_markdown(results)
    assert "2.00× (turn by turn: 1.78–2.50×, median 1.80×, 1 of 3 turns ≥ 2×)" in text
    for row in results["throughput"]:  # an old results file: no turns, no spread
        row.pop("turn_requests_per_s", None)
    assert serving.verdicts(results)["throughput"]["turn_speedups_at_8"] == []
    assert "turn by turn" not in serving.to_markdown(results)


def test_serving_grpc_rows_goal_and_summary():
    """gRPC's latency row, throughput rows and goal beside REST's, which keep their verdict."""
    results = sresults(450.0, 900.0, 2.5, fastest_p50=1.0)
    lat = results["latency"]
    lat["grpc"] = {"p50_ms": 1.6, "p99_ms": 3.0, "mean_ms": 1.7, "n": 300}
    lat["grpc_overhead_ms"] = {k: 1.6 - lat[k]["p50_ms"]
                               for k in ("keras_eager", "keras_compiled", "signature_in_process")}
    results["throughput"] += [{**row, "api": "grpc", "requests_per_s": 3 * row["requests_per_s"]}
                              for row in results["throughput"]]
    results["correctness"].append({**results["correctness"][0], "api": "grpc"})
    v = serving.verdicts(results)
    assert v["throughput"]["speedup_at_8"] == pytest.approx(2.0)  # REST's rows only
    assert v["grpc_overhead"]["overhead_ms"] == pytest.approx(0.6) and v["grpc_overhead"]["met"]
    text = serving.to_markdown(results)
    assert "| REST | 8 | 450.0 |" in text and "| gRPC | 8 | 1350.0 |" in text
    assert ("| gRPC `Predict` (`grpc` in a client process, one channel) | 1.60 | 3.00 | — | — |"
            in text)
    assert "| exported `serving_default`, in process | 1.00 | 2.00 | +1.50 | +0.60 |" in text
    assert "- batching, gRPC: 8 clients × 500 requests" in text
    assert "gRPC path ≤ 1 ms over the in-process call (the fastest one, exported " \
        "`serving_default`, in process): +0.60 ms — **met**" in text
    old = sresults(450.0, 900.0, 2.5, fastest_p50=1.0)
    table = serving.summary_markdown([("new", results), ("old", old)])
    assert "| +0.60 ms | **met** |" in table and table.count("| — | — |") == 1


@pytest.mark.parametrize("value", ["1,1", "-1", ""])
def test_serving_intra_op_threads_rejects_bad_lists(value, capsys):
    with pytest.raises(SystemExit):
        serving.main(["--intra-op-threads", value])
    assert "--intra-op-threads: expected distinct ints >= 0" in capsys.readouterr().err


def test_serving_list_flags_reject_non_integers(capsys):
    with pytest.raises(SystemExit):
        serving.main(["--clients", "8,x"])
    assert "--clients: expected comma-separated integers (e.g. 1,8,32), got '8,x'" in \
        capsys.readouterr().err


def test_serving_summary_percentiles():
    s = serving.summary([0.001 * i for i in range(1, 101)])
    assert s["n"] == 100 and s["p50_ms"] == pytest.approx(50.5)
    assert s["p99_ms"] == pytest.approx(99.01)


# ---- The export benchmark's verdicts and report, on made-up numbers (no export here).

from benchmarks import export as export_bench  # noqa: E402


def eresults(int8_agreement, float_acc, int8_acc, tta=False):
    def lat(p50):
        return {"p50_ms": p50, "p99_ms": 2 * p50, "mean_ms": p50, "n": 300}

    def file(size, agreement=1.0, accuracy=0.9, diff=1e-6, runtime="rt 1"):
        return {"bytes": size, "runtime": runtime, "top1_agreement": agreement,
                "accuracy": accuracy, "max_abs_diff": diff, "images": 1000}

    files = {"keras": file(4_000_000, runtime=None, diff=0.0),
             "saved_model": file(2_000_000), "litert_float32": file(1_600_000),
             "litert_float16": file(800_000), "litert_int8": file(400_000, int8_agreement),
             "onnx": file(1_600_000)}
    latency = {key: lat(p50) for key, p50 in zip(export_bench.CALLS,
                                                 (8.0, 1.0, 0.9, 0.2, 0.3, 0.25, 0.4))}
    test = {"images": 10000, "float": float_acc, "int8": int8_acc, "int8_export": int8_acc,
            "recorded": 0.95 if tta else float_acc, "tta": tta}
    if tta:
        test.update(float_tta=float_acc + 0.004, int8_tta=int8_acc + 0.003)
    row = {"checkpoint": "resnet9_fashion_mnist", "architecture": "resnet9", "params": 413776,
           "mult_adds": 12_000_000, "model_kwargs": {"width": 16},
           "export_seconds": {"all": 10.0, "float16": 5.0, "int8": 20.0},
           "int8": {"input_type": "uint8", "input_scale": 1.0, "input_zero_point": 0},
           "calibration_images": 500, "onnx_opset": 17, "files": files, "test": test,
           "latency": {"2": latency, "1": {**latency, "keras_compiled": lat(2.0)}}}
    return {"machine": {"cpus": 2, "tensorflow": "x", "keras": "y", "python": "3",
                        "ai_edge_litert": "a", "onnxruntime": "o", "tf2onnx": "t",
                        "onnx": "n", "load_average_before": [1.0, 1, 1],
                        "load_average_after": [2.0, 2, 2]},
            "settings": {"images": 1000, "latency_calls": 300, "warmup": 30, "block": 20,
                         "threads": [2, 1]},
            "checkpoints": [row]}


@pytest.mark.parametrize("agreement, int8_acc, met", [(0.992, 0.9400, (True, True)),
                                                      (0.985, 0.9349, (False, False))])
def test_export_verdicts_are_computed_from_the_numbers(agreement, int8_acc, met):
    results = eresults(agreement, 0.94, int8_acc)
    v = export_bench.verdicts(results)[0]
    assert (v["agreement"]["met"], v["drop"]["met"]) == met and v["met"] == all(met)
    assert v["drop"]["points"] == pytest.approx(100 * (0.94 - int8_acc))
    text = export_bench.to_markdown(results)
    assert ("**not met**" in text) == (not all(met))
    assert f"on 1,000 test images: {100 * agreement:.2f}% — {export_bench._yes(met[0])}" in text
    # Sizes against the .keras file; p50 ratios to the compiled Keras call, per thread count.
    assert "| LiteRT int8 (uint8 input, scale 1, zero point 0) | rt 1 | 400.0 kB | 0.10× |" in text
    assert "| Keras `tf.function(model)` (baseline) | 1.000 | 2.000 | 1.00× | 2.000 |" in text
    assert "| LiteRT int8 (`ai-edge-litert`) | 0.250 | 0.500 | 0.25× | 0.250 | 0.500 | 0.12× |" \
        in text
    assert "| `resnet9` |" in export_bench.summary_markdown(results)


def test_export_report_gives_the_tta_drops_beside_the_judged_one():
    results = eresults(0.995, 0.9400, 0.9390, tta=True)
    v = export_bench.verdicts(results)[0]
    assert v["drop"]["points"] == pytest.approx(0.1) and v["met"]
    assert v["drop_vs_recorded"]["points"] == pytest.approx(1.1)
    assert v["drop_tta"]["points"] == pytest.approx(0.2)
    text = export_bench.to_markdown(results)
    assert ("The drop against the recorded 95.00% (with TTA): 1.10 points; with TTA on both "
            "sides: 0.20 points (not judged).") in text


def test_export_thread_list_is_checked(capsys):
    with pytest.raises(SystemExit):
        export_bench.main(["--threads", "2,2"])
    assert "expected distinct comma-separated integers >= 1" in capsys.readouterr().err


# Heavy (about 8 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_speed_writes_timm_columns_and_resumes_from_its_rows(tmp_path, monkeypatch):
    import csv

    from benchmarks import speed

    argv = ["--models", "lenet,resnet9.w16_28", "--modes", "infer,train", "--steps", "1",
            "--warmup", "0", "--small-batch", "4", "--im2col-models", "lenet",
            "--output", str(tmp_path)]
    first = speed.main(argv)
    for mode in ("infer", "train"):
        with open(tmp_path / f"speed-{mode}-float32-nhwc-tf-cpu.csv") as f:
            rows = list(csv.DictReader(f))
        assert [r["model"] for r in rows] == ["lenet", "lenet.im2col", "resnet9.w16_28"]
        for column in ("samples_per_sec", "step_time", "batch_size", "img_size", "gmacs"):
            assert all(float(r[f"{mode}_{column}"]) > 0 for r in rows), column
        assert [r[f"{mode}_img_size"] for r in rows] == ["28", "28", "28"]
        # timm's param_count is in millions: ResNet-9 at width 16, 28×28×1 has 413,776.
        assert float(rows[2]["param_count"]) == pytest.approx(0.4138, abs=1e-4)
    # A rerun measures nothing: every row comes from the kept rows.
    monkeypatch.setattr(speed, "measure", lambda *a, **k: pytest.fail("re-measured"))
    assert speed.main(argv) == first
    summary = (tmp_path / "speed-cpu.md").read_text()
    # Two rows per mode, and the training-throughput table's native-vs-im2col row.
    assert summary.count("| `lenet") == 5
    assert "Training throughput" in summary and "| `resnet9.w16_28` | 4 |" in summary
    # The step count is kept with each row and noted under each table, not a CSV column.
    assert summary.count("Timed steps, where recorded: 1 for lenet, lenet.im2col, "
                         "resnet9.w16_28.") == 2
    assert "steps" not in rows[0]


def test_speed_batch_follows_the_input_side_and_a_partial_run_keeps_the_other_rows(tmp_path):
    import argparse

    from benchmarks import speed

    args = argparse.Namespace(small_batch=256, batch=16, large_batch=2)
    batches = {name: speed.batch_of(name, args) for name in (
        "mlp", "lenet", "resnet20.28", "resnet50", "inception_v3", "efficientnet_b3",
        "efficientnet_v2_b3", "efficientnet_b4", "efficientnet_b7", "efficientnet_v2_s")}
    assert batches == {"mlp": 256, "lenet": 256, "resnet20.28": 256, "resnet50": 16,
                       "inception_v3": 16, "efficientnet_b3": 16, "efficientnet_v2_b3": 16,
                       "efficientnet_b4": 2, "efficientnet_b7": 2, "efficientnet_v2_s": 2}
    assert all(name in speed.APPLICATIONS for name in batches if name.startswith("eff"))

    def row(model, rate, impl="native"):
        return {"model": model, "train_samples_per_sec": rate, "train_step_time": 1.0,
                "train_batch_size": 4, "train_img_size": 28, "param_count": 0.1,
                "train_gmacs": 0.01, "conv_impl": impl, "precision": "float32",
                "device": "cpu", "keras_applications_samples_per_sec": "",
                "ratio_vs_keras_applications": ""}

    speed.write_csv(str(tmp_path / "speed-train-float32-nhwc-tf-cpu.csv"),
                    [row("lenet", 1.5), row("lenet.im2col", 0.5, "im2col"),
                     row("resnet20.28", 2.5), row("vgg99", 3.5)], "train")
    cache = {speed.row_key("lenet", "train", "float32", "native", 4, "cpu"):
             {**row("lenet", 1.5), "steps": 9}}
    # A run of alexnet and lenet.im2col: the CSV's lenet and resnet20.28 rows are kept (with
    # lenet's recorded steps), in the registry's order; a name no longer registered is not.
    rows = speed.merge_rows([{**row("lenet.im2col", 0.75, "im2col"), "steps": 3},
                             {**row("alexnet", 5.0), "steps": 3}],
                            "train", ["float32"], str(tmp_path), cache, "cpu")
    assert [(r["model"], r["train_samples_per_sec"], r.get("steps")) for r in rows] == [
        ("alexnet", 5.0, 3), ("lenet", 1.5, 9), ("lenet.im2col", 0.75, 3),
        ("resnet20.28", 2.5, None)]


# ---- The machine entry of every results file: the CPU model and its vector extensions.

def test_machine_records_the_cpu_and_machine_text_names_it():
    from benchmarks.results_io import machine, machine_text

    m = machine(keras="y")
    assert m["cpus"] == os.cpu_count() and m["keras"] == "y"
    assert isinstance(m["cpu"], str) and m["cpu"]
    assert {"python", "tensorflow"} <= set(m)
    assert isinstance(m["isa"], list) and all(isinstance(f, str) for f in m["isa"])
    # Old results files have no "cpu": the count alone.
    assert machine_text({"cpus": 2, "tensorflow": "x"}) == "2 CPUs"
    text = machine_text({"cpus": 2, "cpu": "Some CPU", "isa": ["avx2", "fma"]})
    assert text == "2 CPUs (Some CPU; AVX2 FMA)"
    assert machine_text({"cpus": 2, "cpu": "Some CPU", "isa": []}) == "2 CPUs (Some CPU)"
    assert m["cpu"] in machine_text(m)
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo here: the extensions are not read")
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    assert set(m["isa"]) <= set(flags)


# ---- The roofline benchmark (issue 31): its report code on made-up numbers.

from benchmarks import roofline  # noqa: E402


def test_roofline_rates_count_three_forward_passes_against_the_matmul_rate():
    r = roofline.rates(256, 10_000_000, {"memory": 0.5, "pipeline": 0.64, "input": 0.25},
                       matmul_gflops=100.0)
    assert r["memory"]["images_per_s"] == 512.0 and r["memory"]["step_ms"] == 500.0
    assert r["memory"]["gflops"] == pytest.approx(3 * 10e6 * 512 / 1e9)
    assert r["memory"]["fraction_of_matmul"] == pytest.approx(0.1536, abs=1e-4)
    assert r["pipeline"]["images_per_s"] == 400.0
    assert r["input"]["images_per_s"] == 1024.0 and r["input_headroom"] == 2.0


def test_roofline_nominal_peak_from_cpuinfo():
    text = "model name\t: X\ncpu MHz\t\t: 2500.000\nflags\t\t: fpu avx avx2 fma\n"
    peak = roofline.nominal_peak(text, cpus=2)
    assert peak["gflops"] == 2 * 2.5 * 8 * 2 * 2 and peak["lanes"] == 8 and peak["fma"]
    assert roofline.nominal_peak("flags : avx512f fma\ncpu MHz : 1000\n", cpus=1)["lanes"] == 16
    assert roofline.nominal_peak("no clock here\n") is None


def test_roofline_profile_categories_and_breakdown():
    layers = {"layer1_bn": "BatchNormalization", "layer1_conv": "Conv2D",
              "layer1_pool": "MaxPooling2D", "layer1_relu": "ReLU"}
    p = "StatefulPartitionedCall/gradient_tape/resnet9_1/"
    cases = [("Conv2DBackpropFilter", p + "layer1_conv_1/convolution/Conv2DBackpropFilter",
              "convolution"),
             ("Mul", p + "layer1_bn_1/mul_6/Mul", "batchnorm"),
             ("FusedBatchNormGradV3", "StatefulPartitionedCall/x/FusedBatchNormGradV3",
              "batchnorm"),
             ("MaxPoolGrad", p + "layer1_pool_1/MaxPool2d/MaxPoolGrad", "pooling"),
             ("_MklNativeConv2DBackpropInput", p + "layer1_conv_1/x/Conv2DBackpropInput",
              "convolution"),  # oneDNN's rewrite
             ("_MklNativeFusedBatchNormGradV3", "StatefulPartitionedCall/x/FusedBatchNormGradV3",
              "batchnorm"),
             ("_MklMatMul", "StatefulPartitionedCall/dense/MatMul", "convolution"),
             ("ReluGrad", p + "layer1_relu_1/ReluGrad", "elementwise"),
             ("AddN", "StatefulPartitionedCall/AddN_15", "elementwise"),
             ("AssignSubVariableOp", "StatefulPartitionedCall/sgd/AssignSubVariableOp_3",
              "optimizer"),
             ("LogSoftmax", "StatefulPartitionedCall/compile_loss/x/LogSoftmax", "loss"),
             ("Dataset", "Iterator::Root::Prefetch", "input"),
             ("Pad", "zero_padding2d_1/Pad", "input"),  # the augmentation, in tf.data's map
             ("Bitcast", "StatefulPartitionedCall/Bitcast", "other")]
    for op_type, name, category in cases:
        assert roofline.categorize(op_type, name, layers) == category, name
    data = json.dumps([{"cols": [{"id": i} for i in (
        "rank", "host_or_device", "type", "operation", "occurrences", "total_time",
        "avg_time", "total_self_time")],
        "rows": [{"c": [{"v": 1}, {"v": "Host"}, {"v": t}, {"v": n}, {"v": 2}, {"v": us},
                        {"v": 0}, {"v": us}]}
                 for t, n, us in [("IDLE", "IDLE", 9e9),
                                  ("Conv2D", p + "layer1_conv_1/Conv2D", 6000.0),
                                  ("Mul", p + "layer1_bn_1/mul", 3000.0),
                                  ("Dataset", "Iterator::Root", 1000.0)]]}])
    ops = roofline.parse_op_stats(data)
    assert [o[0] for o in ops] == ["Conv2D", "Mul", "Dataset"]  # the idle row left out
    b = roofline.breakdown(ops, layers, steps=2, wall_seconds=0.012)
    assert b["wall_ms_per_step"] == 6.0 and b["op_self_ms_per_step"] == 5.0
    assert b["unaccounted_ms_per_step"] == 1.0
    assert b["categories"]["convolution"] == {"ms_per_step": 3.0, "share": 0.6,
                                              "top_op_types": ["Conv2D"]}
    assert b["categories"]["batchnorm"]["share"] == 0.3
    assert roofline.breakdown(ops, layers, 2, 0.008)["unaccounted_ms_per_step"] is None


def roofline_results(fraction_scale=1.0):
    def row(name, batch, flops, memory_s):
        out = {"model": name, "registered": name, "builder_kwargs": {},
               "input_shape": [28, 28, 1], "batch": batch, "params": 1000,
               "forward_flops": flops, "optimizer": "adam", "augment": "flip",
               "steps_timed": {"memory": 10, "pipeline": 10, "input": 16}}
        return {**out, **roofline.rates(batch, flops, {"memory": memory_s,
                                                       "pipeline": 1.25 * memory_s,
                                                       "input": 2 * memory_s}, 50.0)}

    rows = [row("lenet", 128, 4_586_000, 0.01),
            row("resnet9", 256, 34_400_000, 0.9 / fraction_scale)]
    breakdown = roofline.breakdown([("Conv2D", "StatefulPartitionedCall/m/c_1/Conv2D", 2, 9e4)],
                                   {}, 2, 0.1)
    return {"benchmark": "roofline",
            "settings": {"models": ["lenet", "resnet9"], "rounds": 5, "steps": 10,
                         "matmul_sizes": [2048], "stream_elements": 2**26, "batch_size": None,
                         "jit_compile": False, "profile_models": ["resnet9"],
                         "profile_steps": 5, "intra_op_threads": 0, "inter_op_threads": 0,
                         "op_determinism": True, "quick": False},
            "machine": {"cpus": 2, "cpu": "Some CPU", "isa": ["avx2"], "python": "3",
                        "tensorflow": "2"},
            "nominal_peak": {"gflops": 160.0, "cores": 2, "mhz": 2500.0, "lanes": 8,
                             "fma": True, "assumed_fma_units": 2},
            "matmul": [{"n": 2048, "best_ms": 343.6, "median_ms": 400.0, "gflops": 50.0,
                        "median_gflops": 42.95, "runs": 10}],
            "matmul_gflops": 50.0,
            "stream": {"elements": 2**26, "bytes": 8 * 2**26, "best_ms": 100.0,
                       "gb_per_s": 5.37, "median_gb_per_s": 5.0, "runs": 15},
            "models": rows,
            "profiles": [{**breakdown, "batch1_step_ms": 12.5, "model": "resnet9",
                          "batch": 256}],
            "verdict": roofline.verdict(rows, 50.0), "seconds": 200.0}


@pytest.mark.parametrize("scale, met", [(1.0, False), (3.0, True)])
def test_roofline_report_and_verdict_from_the_numbers(tmp_path, scale, met):
    results = roofline_results(scale)
    v = results["verdict"]
    fraction = 3 * 34.4e6 * 256 / (0.9 / scale) / 1e9 / 50.0
    assert v["met"] is met and v["fraction"] == pytest.approx(fraction, abs=1e-4)
    md = roofline.to_markdown(results)
    assert f"the goal of 0.6 is {'met' if met else 'not met'}" in md
    assert "| float32 matmul 2048×2048 | 50.0 GFLOP/s (343.6 ms) | 43.0 GFLOP/s | 10 |" in md
    assert "Nominal float32 peak: 160.0 GFLOP/s" in md and "reaches 0.31 of it" in md
    assert "| `lenet` | 28×28×1 | 128 | 4.6 | 10.0 | 12800 | 176.10 | 3.522 | 10240 | " \
           "6400 (flip) |" in md
    assert "Input a bottleneck" in md and ": lenet, resnet9." in md
    assert "| convolution and matmul (forward and backward) | 45.0 | 100.0% | Conv2D |" in md
    assert "wall − ops: 5.0 ms" in md and "takes 12.5 ms" in md
    assert "smoke run" not in md
    assert "smoke run" in roofline.to_markdown(
        {**results, "settings": {**results["settings"], "quick": True}})
    # The docs page renders the results file; a placeholder table while there is none.
    assert "No results yet" in roofline.docs_markdown(str(tmp_path))
    (tmp_path / "roofline.json").write_text(json.dumps(results))
    docs_md = roofline.docs_markdown(str(tmp_path))
    assert "\n|---|" in docs_md and "### The machine's limits" in docs_md


def test_roofline_rejects_unknown_models(capsys):
    with pytest.raises(SystemExit):
        roofline.main(["--models", "lenet,vgg99"])
    assert "unknown model(s) ['vgg99']" in capsys.readouterr().err


# Heavy (a minute or two on 2 cores): a smoke run end to end, into a temporary folder.
@pytest.mark.heavy
def test_roofline_smoke_run_writes_its_files(tmp_path):
    results = roofline.main(["--quick", "--models", "lenet", "--profile-models", "lenet",
                             "--matmul-sizes", "256", "--stream-elements", "65536",
                             "--output-dir", str(tmp_path)])
    assert results["models"][0]["memory"]["images_per_s"] > 0
    assert results["profiles"][0]["categories"]["convolution"]["ms_per_step"] > 0
    written = json.loads((tmp_path / "roofline.json").read_text())
    assert written["settings"]["quick"] is True
    assert "smoke run" in (tmp_path / "roofline.md").read_text()


# ---- The train_speed benchmark (issue 31): its summary and report on made-up rounds.

from benchmarks import train_speed  # noqa: E402


def _speed_round(scale):
    def setting(rate, matmul):
        return {"matmul_gflops": matmul, "models": {
            m: {"memory": rate * scale * k, "pipeline": 0.9 * rate * scale * k,
                "fraction": 0.3 * rate / 100, "gflops": 30.0 * rate / 100, "batch": 128}
            for m, k in (("lenet", 10.0), ("resnet9", 1.0))}}
    return {"before": setting(100.0, 120.0), "onednn": setting(170.0, 170.0),
            "fused": setting(120.0, 121.0), "after": setting(200.0, 175.0)}


def test_train_speed_medians_speedups_and_verdict():
    rounds = [_speed_round(1.0), _speed_round(0.5), _speed_round(1.1)]  # a slow spell
    rows, matmul = train_speed.summarize(rounds, list(train_speed.SETTINGS),
                                         ["lenet", "resnet9"])
    lenet = rows[0]
    assert lenet["settings"]["before"]["pipeline"] == pytest.approx(900.0)  # the median
    assert lenet["speedup_pipeline"] == pytest.approx(2.0)
    assert matmul == {"before": 120.0, "onednn": 170.0, "fused": 121.0, "after": 175.0}
    verdict = train_speed.verdict(rows)
    assert verdict["speedup_met"] is True and verdict["recipe_fraction"] == pytest.approx(0.6)
    assert verdict["fraction_met"] is True
    results = {"settings": {"settings": list(train_speed.SETTINGS), "rounds": 3, "steps": 8,
                            "quick": False},
               "machine": {"python": "3.11", "tensorflow": "2.21", "cpus": 2,
                           "cpu": "test CPU", "platform": "linux"},
               "matmul_gflops": matmul, "models": rows, "verdict": verdict, "seconds": 60.0}
    results["machine"] = {**results["machine"], **_machine_fields()}
    results["main_job"] = {"before": {"seconds": 166.0, "test_accuracy": 0.9144, "runs": 1},
                           "after": {"seconds": 126.0, "test_accuracy": 0.914, "runs": 1}}
    md = train_speed.to_markdown(results)
    assert "| `lenet` | 128 | 900 | 1530 | 1080 | 1800 | **2.00×** |" in md, md
    assert "| before (Eigen kernels, BatchNorm formula) | 166 | 0.9144 | 1 |" in md, md
    slow = train_speed.verdict([{**rows[1], "speedup_pipeline": 1.2}])
    assert slow["speedup_met"] is False and "not met for resnet9" in slow["text"]


def test_train_speed_rejects_unknown_models_and_settings(capsys):
    for argv, message in ((["--models", "lenet,vgg99"], "--models"),
                          (["--settings", "before,turbo"], "--settings"),
                          (["--rounds", "0"], "--rounds")):
        with pytest.raises(SystemExit):
            train_speed.main(argv)
        assert message in capsys.readouterr().err


# Heavy (about two minutes on 2 cores): two real settings, each in a process of its own.
@pytest.mark.heavy
def test_train_speed_smoke_run_measures_each_setting_in_its_own_process(tmp_path):
    results = train_speed.main(["--quick", "--models", "lenet", "--settings", "before,after",
                                "--output-dir", str(tmp_path)])
    rounds = results["rounds_data"]
    assert len(rounds) == 1 and rounds[0]["before"]["models"]["lenet"]["pipeline"] > 0
    assert results["models"][0]["speedup_pipeline"] > 0
    assert "smoke run" in (tmp_path / "train_speed.md").read_text()


def _machine_fields():
    from benchmarks.results_io import machine

    return machine()


# ---- The docs' benchmark pages: each benchmark's docs_markdown() renders its shipped
# results files with its own report code (scripts/mkdocs_hooks.py calls it at build time).

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import types  # noqa: E402

from benchmarks.results_io import RESULTS_DIR, for_docs  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each page of docs/benchmarks/ and the benchmark whose tables it shows.
DOCS_PAGES = {"im2col.md": "im2col_speed", "speed.md": "speed",
              "accuracy.md": "fashion_mnist_accuracy", "transfer.md": "transfer",
              "serving.md": "serving", "export.md": "export", "tuning.md": "tuning",
              "roofline.md": "roofline", "train_speed.md": "train_speed"}


def load_hooks():
    spec = importlib.util.spec_from_file_location(
        "kzoo_mkdocs_hooks", os.path.join(REPO, "scripts", "mkdocs_hooks.py"))
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def shipped(name):
    with open(os.path.join(RESULTS_DIR, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def docs():
    return {name: importlib.import_module(f"benchmarks.{name}").docs_markdown()
            for name in DOCS_PAGES.values()}


def test_every_benchmark_has_a_page_with_its_marker():
    from benchmarks.__main__ import BENCHMARKS

    assert set(load_hooks().BENCHMARKS) == set(BENCHMARKS) == set(DOCS_PAGES.values())
    for page, name in DOCS_PAGES.items():
        with open(os.path.join(REPO, "docs", "benchmarks", page), encoding="utf-8") as f:
            assert f"\n<!-- kzoo:benchmark {name} -->\n" in f.read(), page


@pytest.mark.parametrize("name", sorted(DOCS_PAGES.values()))
def test_docs_markdown_is_a_section_of_its_page(docs, name):
    md = docs[name]
    assert "\n|---|" in md  # at least one table
    assert not re.search(r"^#{1,2} ", md, re.M), "a heading at the page's own levels"
    assert "![" not in md, "plots are shown by the page, from results/NAME.png"


def test_for_docs_drops_images_and_shifts_headings_outside_code():
    md = ("#### infer\n\n| a |\n|---|\n\n![plot](x.png)\n\n```\n# not a heading\n```\n"
          "##### part\n")
    assert for_docs(md, top_level=3) == (
        "### infer\n\n| a |\n|---|\n\n\n```\n# not a heading\n```\n#### part\n")
    assert for_docs("no headings\n", top_level=2) == "no headings\n"


def test_im2col_docs_carry_the_shipped_numbers(docs):
    results, md = shipped("im2col_speed"), docs["im2col_speed"]
    for row in results["conv"] + results["pool"]:
        assert (f"| {row['shape']} | {row['native_forward_ms']:.2f} | "
                f"{row['im2col_forward_ms']:.2f} |") in md
        assert f"| {row['fwd_bwd_ratio']:.2f}× |" in md
    assert "not recorded" in md  # the file names no CPU model, and the page says so


def test_speed_docs_render_the_csvs_as_the_run_did(docs):
    import csv

    md = docs["speed"]
    with open(os.path.join(RESULTS_DIR, "speed-cpu.md"), encoding="utf-8") as f:
        summary = f.read().splitlines()
    # The run's own summary, written from the same rows: every table row and note agrees.
    kept = [line for line in summary if line.startswith(("|", "Pairs", "Timed"))]
    assert kept and all(line in md for line in kept)
    assert "### infer" in md and "### train" in md and "Training throughput" in md
    with open(os.path.join(RESULTS_DIR, "speed-train-float32-nhwc-tf-cpu.csv")) as f:
        for row in csv.DictReader(f):
            assert f"| `{row['model']}` | float32 | {row['train_batch_size']} |" in md
            assert f"| {row['train_samples_per_sec']} | {row['train_step_time']} |" in md


def test_speed_read_rows_takes_steps_only_from_the_rows_the_csv_holds(tmp_path):
    from benchmarks import speed

    def row(model, rate, impl="native"):
        return {"model": model, "train_samples_per_sec": rate, "train_step_time": 1.0,
                "train_batch_size": 4, "train_img_size": 28, "param_count": 0.1,
                "train_gmacs": 0.01, "conv_impl": impl, "precision": "float32",
                "device": "cpu", "keras_applications_samples_per_sec": "",
                "ratio_vs_keras_applications": ""}

    speed.write_csv(str(tmp_path / "speed-train-float32-nhwc-tf-cpu.csv"),
                    [row("lenet", 10.5), row("lenet.im2col", 3.25, "im2col")], "train")
    cache = {speed.row_key("lenet", "train", "float32", "native", 4, "cpu"):
             {**row("lenet", 10.5), "steps": 25},
             speed.row_key("lenet", "train", "float32", "im2col", 4, "cpu"):
             {**row("lenet.im2col", 9.0, "im2col"), "steps": 7}}  # not the CSV's row
    (tmp_path / ".speed-rows-cpu.json").write_text(json.dumps(cache))
    (tmp_path / "speed-cpu.md").write_text(
        "Speed of the zoo's models (cpu, 2 CPUs (Some CPU; AVX2), Python 3, TF 2); samples "
        "per second, median of interleaved steps; ratio = zoo / keras.applications.\n")
    rows_by_mode, machine_line = speed.read_rows(str(tmp_path))
    assert machine_line == "2 CPUs (Some CPU; AVX2), Python 3, TF 2"
    rows = rows_by_mode["train"]
    assert [r["train_samples_per_sec"] for r in rows] == [10.5, 3.25]
    assert rows[0]["train_batch_size"] == 4 and rows[0]["ratio_vs_keras_applications"] == ""
    assert rows[0]["steps"] == 25 and rows[1].get("steps") is None
    md = speed.docs_markdown(str(tmp_path))
    assert "Timed steps, where recorded: 25 for lenet." in md and "not recorded" not in md


def test_accuracy_docs_carry_the_shipped_numbers(docs):
    from benchmarks import fashion_mnist_accuracy as accuracy

    results, md = shipped("fashion_mnist_accuracy"), docs["fashion_mnist_accuracy"]
    for row in results["rows"]:
        assert f"| `{row['model']}` | {row['params']:,} |" in md
        assert f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}" in md
    best = accuracy.best_within(results)
    assert f"within 60 minutes: {best[2]:.4f} ({best[0]} seed {best[1]}" in md


def test_transfer_docs_carry_the_shipped_numbers(docs):
    results, md = shipped("transfer"), docs["transfer"]
    for row in results["rows"]:
        assert f"{row['mean']:.3f} ± {row['std']:.3f}" in md
    for v in results["verdicts"]:
        assert f"- {v['text']}." in md
    met = {True: "met", False: "not met", None: "undecided"}[results["goal_verdict"]["met"]]
    assert f"it): **{met}**" in md


def test_serving_docs_render_all_four_files(docs):
    from benchmarks import serving as bench

    md = docs["serving"]
    names = ["serving", "serving-intra1", "serving-resnet9_fashion_mnist",
             "serving-resnet9_fashion_mnist-intra1"]
    headings = re.findall(r"^### .*\(`(.+)\.json`\)$", md, re.M)
    assert headings == names
    for name in names:
        results = shipped(name)
        v = results["verdicts"]
        # Each file's whole report, and its line in the summary table.
        assert all(line in md for line in bench.to_markdown(results).splitlines())
        summary = next(line for line in md.splitlines() if line.startswith(f"| `{name}.json`"))
        assert f"{v['throughput']['speedup_at_8']:.2f}×" in summary
        assert f"{v['overhead']['overhead_ms']:+.2f} ms" in summary


def test_export_docs_carry_the_shipped_numbers(docs):
    results, md = shipped("export"), docs["export"]
    assert all(line in md for line in export_bench.to_markdown(results).splitlines()
               if line.startswith("|"))
    for row, v in zip(results["checkpoints"], results["verdicts"]):
        assert f"{100 * v['agreement']['value']:.2f}% — " in md
        assert f"{v['drop']['points']:.2f} points — " in md
        for n, lat in row["latency"].items():
            assert f"| {lat['litert_int8']['p50_ms']:.3f} |" in md


def test_tuning_docs_carry_the_shipped_numbers(docs):
    results, md = shipped("tuning"), docs["tuning"]
    for method in results["methods"]:
        assert f"| {method['method']} | {method['trials']} " in md
        assert f"| {method['best_val_accuracy']:.4f} |" in md
    for row in results["replicas"]["configs"].values():
        assert f"| {row['median_steps_per_second']:.2f} |" in md
    assert results["verdict"]["text"] in md


def test_the_site_gets_every_plot_a_page_shows(tmp_path):
    from mkdocs.structure.files import Files

    config = types.SimpleNamespace(site_dir=str(tmp_path), use_directory_urls=True,
                                   plugins=types.SimpleNamespace(_current_plugin=None))
    files = load_hooks().on_files(Files([]), config)
    shown = set()
    for page in DOCS_PAGES:
        with open(os.path.join(REPO, "docs", "benchmarks", page), encoding="utf-8") as f:
            shown |= set(re.findall(r"!\[[^\]]*\]\(results/([^)]+\.png)\)", f.read()))
    assert shown == {"fashion_mnist_accuracy.png", "transfer.png", "tuning.png"}
    for name in shown:
        file = files.get_file_from_path(f"benchmarks/results/{name}")
        assert file is not None, name
        assert os.path.samefile(file.abs_src_path, os.path.join(RESULTS_DIR, name))
        assert file.dest_uri == f"benchmarks/results/{name}"


def test_the_overview_quotes_numbers_the_pages_render(docs):
    # docs/benchmarks/index.md's headlines are typed by hand: each decimal in its table must
    # be in the generated tables, so a rerun that changes one fails here until it is updated.
    with open(os.path.join(REPO, "docs", "benchmarks", "index.md"), encoding="utf-8") as f:
        table = [line for line in f.read().splitlines() if line.startswith("| [")]
    rendered = "\n".join(docs.values())
    numbers = {n for line in table for n in re.findall(r"[+-]?\d+\.\d+×?", line)}
    assert len(numbers) >= 8
    assert sorted(n for n in numbers if n not in rendered) == []


def test_the_committed_speed_tables_pair_every_keras_applications_model():
    # Issues 26 and 27: the speed table has a keras.applications pair, with its ratio, for
    # every model keras.applications also has, in inference and in training.
    from benchmarks import speed as speed_bench

    for mode in ("infer", "train"):
        path = os.path.join(speed_bench.RESULTS, f"speed-{mode}-float32-nhwc-tf-cpu.csv")
        rows = speed_bench.read_csv(path)
        paired = {r["model"] for r in rows if r["conv_impl"] == "native"
                  and isinstance(r["ratio_vs_keras_applications"], float)}
        assert sorted(set(speed_bench.APPLICATIONS) - paired) == [], mode

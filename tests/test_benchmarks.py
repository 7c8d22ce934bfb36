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

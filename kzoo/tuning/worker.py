"""`python -m kzoo.tuning.worker DIR [--strategy NAME] [--cpu-replicas N]`: join a search.

Run by `kzoo tune --workers N` (`kzoo.tuning.launcher`) with KerasTuner's
environment (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`): reads the search's arguments from the chief's
`DIR/run.json` (waiting for it) and runs trials until the oracle says stop.
"""

import argparse
import os
import sys
import time

#: How long a worker waits for the chief's run.json.
WAIT_SECONDS = 600


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kzoo.tuning.worker")
    parser.add_argument("output_dir")
    parser.add_argument("--strategy", default=None)
    parser.add_argument("--cpu-replicas", type=int, default=None)
    args = parser.parse_args(argv)
    if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "chief"):
        parser.error("KERASTUNER_TUNER_ID must be set to a worker id (without 'chief')")
    from kzoo.training import run_dir
    from kzoo.tuning.search import search

    deadline = time.time() + WAIT_SECONDS
    while (run := run_dir.read_run(args.output_dir)) is None:
        if time.time() > deadline:
            sys.exit(f"kzoo tune worker: no search in {args.output_dir} after "
                     f"{WAIT_SECONDS} s")
        time.sleep(0.5)
    record = run["config"]
    (trials, epochs), *_ = record["stages"]
    stages = ",".join(f"{t}x{e}" for t, e in record["stages"])
    search(
        record["model"], dataset=record["dataset"], space=record["space"],
        algorithm=record["algorithm"], max_trials=trials, epochs=epochs, stages=stages,
        output_dir=args.output_dir, strategy=args.strategy, cpu_replicas=args.cpu_replicas,
        seed=record["seed"], precision=record["precision"],
        validation_size=record["validation_size"], top_k=record["top_k"],
        base_options=record["base_options"],
        budget_cpu_seconds=record.get("budget_cpu_seconds"), retrain_best=False)


if __name__ == "__main__":
    main()

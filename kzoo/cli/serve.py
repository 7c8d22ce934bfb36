"""`kzoo serve`: the models under a base folder over TensorFlow Serving's REST and gRPC
APIs."""

import signal
import sys

import click

from kzoo.serving import grpc_api, server


@click.command("serve")
@click.argument("base", required=False)
@click.option("--model-config-file", "--model_config_file", "model_config_file", default=None,
              help="Instead of BASE: TF Serving's model config file (ModelServerConfig text "
              "format): several models from several base paths, version policies and "
              "labels. Relative base paths are taken from the current directory.")
@click.option("--model-config-file-poll-wait-seconds",
              "--model_config_file_poll_wait_seconds", "config_poll",
              default=server.DEFAULT_POLL_SECONDS, show_default=True, type=float,
              help="With --model-config-file: seconds between checks of the file for "
              "changes (0: never reload). A broken file is logged; the old config stays.")
@click.option("--host", default=server.DEFAULT_HOST, show_default=True,
              help="Address to listen on (loopback unless told otherwise).")
@click.option("--port", default=server.DEFAULT_PORT, show_default=True, type=int,
              help="Port to listen on (0 picks a free one).")
@click.option("--grpc-port", default=grpc_api.DEFAULT_PORT, show_default=True, type=int,
              help="Port of TF Serving's gRPC API, on the same host (0: no gRPC).")
@click.option("--max-body-mb", default=server.DEFAULT_MAX_BODY / 2**20, show_default=True,
              type=float, help="Largest request body in MiB (413 above it).")
@click.option("--poll-seconds", default=server.DEFAULT_POLL_SECONDS, show_default=True,
              type=float, help="Seconds between scans of BASE for new or removed versions.")
@click.option("--batching", is_flag=True,
              help="Merge concurrent requests to one signature into one model call.")
@click.option("--max-batch-size", default=32, show_default=True, type=int,
              help="With --batching: the most rows in one call.")
@click.option("--batch-timeout-ms", default=5.0, show_default=True, type=float,
              help="With --batching: how long a request waits for others.")
@click.option("--num-batch-threads", default=None, type=int,
              help="With --batching: how many batches run at once [default: one per CPU].")
@click.option("--tensorflow-intra-op-parallelism", "intra_op", default=0, show_default=True,
              type=int, help="Threads of one TensorFlow op (TF Serving's flag of that "
              "name; 0: TensorFlow chooses). On a few cores, 1 is often faster for small "
              "models and batches (see docs/benchmarks/serving.md).")
@click.option("--tensorflow-inter-op-parallelism", "inter_op", default=0, show_default=True,
              type=int, help="TensorFlow ops run at once (TF Serving's flag of that name; "
              "0: TensorFlow chooses).")
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
def serve_cmd(base, model_config_file, config_poll, host, port, grpc_port, max_body_mb,
              poll_seconds, batching, max_batch_size, batch_timeout_ms, num_batch_threads, intra_op, inter_op, verbose):
    """Serve every model under BASE (BASE/NAME/VERSION/ SavedModels), all versions,
    or the models of a TF Serving model config file (--model-config-file).

    Speaks TF Serving's REST API: GET /v1/models/NAME[/versions/V|/labels/L][/metadata],
    POST /v1/models/NAME[/versions/V|/labels/L]:predict; and its gRPC API on
    --grpc-port (PredictionService, ModelService); Prometheus metrics at GET
    /monitoring/prometheus/metrics. New versions are picked up without a restart.
    """
    if (base is None) == (model_config_file is None):
        raise ValueError("Give either BASE or --model-config-file (exactly one). "
                         f"Received: BASE={base!r}, --model-config-file={model_config_file!r}")
    if batching and (max_batch_size < 1 or batch_timeout_ms < 0):
        raise ValueError(f"Arguments --max-batch-size (>= 1) and --batch-timeout-ms (>= 0). "
                         f"Received: {max_batch_size}, {batch_timeout_ms}")
    if num_batch_threads is not None and num_batch_threads < 1:
        raise ValueError(f"Argument `num_batch_threads` (--num-batch-threads) must be >= 1. "
                         f"Received: num_batch_threads={num_batch_threads}")
    if not 0 <= port <= 65535:
        raise ValueError(f"Argument `port` (--port) must be 0-65535. Received: port={port}")
    if not 0 <= grpc_port <= 65535 or (grpc_port and grpc_port == port):
        raise ValueError(f"Argument `grpc_port` (--grpc-port) must be 0-65535 (0: no gRPC) "
                         f"and differ from --port. Received: grpc_port={grpc_port}")

    def ready(srv):
        host_, port_ = srv.server_address[:2]
        models = srv.registry.names()
        threads = srv.batcher.num_batch_threads if srv.batcher is not None else 0
        tf_threads = ", ".join(f"{what}-op {n}" for what, n in (("intra", intra_op),
                                                                 ("inter", inter_op)) if n)
        source = base if base is not None else f"model config {model_config_file}"
        click.echo(f"kzoo serve: {len(models)} model(s) {models} from {source} on "
                   f"http://{host_}:{port_}"
                   + (f" and gRPC {grpc_api.address(*srv.grpc_address)}"
                      if srv.grpc_address is not None else "")
                   + (f" (batching up to {max_batch_size} rows, {batch_timeout_ms:g} ms, "
                      f"{threads} batch thread{'s' if threads != 1 else ''})"
                      if batching else "")
                   + (f"; TensorFlow threads: {tf_threads}" if tf_threads else ""), err=True)

    def terminate(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    server.serve(base, host, port, model_config_file=model_config_file,
                 model_config_file_poll_wait_seconds=config_poll, max_body=int(max_body_mb * 2**20), poll=poll_seconds,
                 verbose=verbose, batching=batching, max_batch_size=max_batch_size,
                 batch_timeout_ms=batch_timeout_ms, num_batch_threads=num_batch_threads,
                 intra_op_parallelism=intra_op, inter_op_parallelism=inter_op,
                 grpc_port=grpc_port or None, ready=ready)


COMMANDS = (serve_cmd,)

"""`kzoo serve`: the models under a base folder over TensorFlow Serving's REST and gRPC
APIs."""

import signal
import sys

import click

from kzoo.serving import grpc_api, server


def _range(name):
    """The range of option `name` for its help text, e.g. "0-65535"."""
    _, low, high, _, _ = server.OPTIONS[name]
    return "-".join(str(b) if isinstance(b, int) else f"{b:g}" for b in (low, high))


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
              "changes (0: never reload; "
              f"{_range('model_config_file_poll_wait_seconds')}). A broken file is "
              "logged; the old config stays.")
@click.option("--host", default=server.DEFAULT_HOST, show_default=True,
              help="Address to listen on (loopback unless told otherwise).")
@click.option("--port", default=server.DEFAULT_PORT, show_default=True, type=int,
              help=f"Port to listen on (0 picks a free one; {_range('port')}).")
@click.option("--grpc-port", default=grpc_api.DEFAULT_PORT, show_default=True, type=int,
              help="Port of TF Serving's gRPC API, on the same host (0: no gRPC; "
              f"{_range('grpc_port')}).")
@click.option("--max-body-mb", default=server.DEFAULT_MAX_BODY / 2**20, show_default=True,
              type=float, help=f"Largest request body in MiB (413 above it; "
              f"{_range('max_body_mb')}).")
@click.option("--max-image-pixels", default=server.DEFAULT_MAX_IMAGE_PIXELS,
              show_default=True, type=int,
              help="Most pixels (width x height x frames) of an encoded image in a "
              "request, read from its header before any decoding (400 above it; 0: no "
              f"limit; {_range('max_image_pixels')}).")
@click.option("--poll-seconds", default=server.DEFAULT_POLL_SECONDS, show_default=True,
              type=float, help="Seconds between scans of BASE for new or removed versions "
              f"({_range('poll')}).")
@click.option("--batching", is_flag=True,
              help="Merge concurrent requests to one signature into one model call. The "
              "batch options below are ignored without it (with a warning naming them).")
@click.option("--max-batch-size", default=None, type=int,
              help=f"With --batching: the most rows in one call ({_range('max_batch_size')})"
              f"  [default: {server.DEFAULT_MAX_BATCH_SIZE}]")
@click.option("--batch-timeout-ms", default=None, type=float,
              help="With --batching: how long a request waits for others "
              f"({_range('batch_timeout_ms')})  [default: {server.DEFAULT_BATCH_TIMEOUT_MS:g}]")
@click.option("--num-batch-threads", default=None, type=int,
              help="With --batching: how many batches run at once "
              f"({_range('num_batch_threads')})  [default: one per CPU]")
@click.option("--tensorflow-intra-op-parallelism", "intra_op", default=0, show_default=True,
              type=int, help="Threads of one TensorFlow op (TF Serving's flag of that "
              f"name; 0: TensorFlow chooses; {_range('intra_op_parallelism')}). On a few "
              "cores, 1 is often faster for small models and batches (see "
              "docs/benchmarks/serving.md).")
@click.option("--tensorflow-inter-op-parallelism", "inter_op", default=0, show_default=True,
              type=int, help="TensorFlow ops run at once (TF Serving's flag of that name; "
              f"0: TensorFlow chooses; {_range('inter_op_parallelism')}).")
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
def serve_cmd(base, model_config_file, config_poll, host, port, grpc_port, max_body_mb,
              max_image_pixels, poll_seconds, batching, max_batch_size, batch_timeout_ms,
              num_batch_threads, intra_op, inter_op, verbose):
    """Serve every model under BASE (BASE/NAME/VERSION/ SavedModels), all versions,
    or the models of a TF Serving model config file (--model-config-file).

    Speaks TF Serving's REST API: GET /v1/models/NAME[/versions/V|/labels/L][/metadata],
    POST /v1/models/NAME[/versions/V|/labels/L]:predict; and its gRPC API on
    --grpc-port (PredictionService, ModelService); Prometheus metrics at GET
    /monitoring/prometheus/metrics. New versions are picked up without a restart.
    Every numeric option is checked against its range before anything starts.
    """
    if (base is None) == (model_config_file is None):
        raise ValueError("Give either BASE or --model-config-file (exactly one). "
                         f"Received: BASE={base!r}, --model-config-file={model_config_file!r}")
    # The CLI's own unit (MiB); every other option is checked by `server.serve`.
    server.check_option("max_body_mb", max_body_mb)
    if grpc_port and grpc_port == port:
        raise ValueError(f"Argument `grpc_port` (--grpc-port) must differ from --port. "
                         f"Received: grpc_port={grpc_port}")
    batch = {"max_batch_size": max_batch_size, "batch_timeout_ms": batch_timeout_ms,
             "num_batch_threads": num_batch_threads}
    for name, value in batch.items():  # checked even where they are ignored
        if value is not None:
            server.check_option(name, value)
    unused = server.unused_batch_options(batching, **batch)
    if unused:  # said here, in the CLI's words, rather than as a Python warning
        click.echo(f"kzoo serve: warning: {unused}", err=True)
        batch = dict.fromkeys(batch)

    def ready(srv):
        host_, port_ = srv.server_address[:2]
        models = srv.registry.names()
        batcher = srv.batcher
        tf_threads = ", ".join(f"{what}-op {n}" for what, n in (("intra", intra_op),
                                                                 ("inter", inter_op)) if n)
        source = base if base is not None else f"model config {model_config_file}"
        click.echo(f"kzoo serve: {len(models)} model(s) {models} from {source} on "
                   f"http://{host_}:{port_}"
                   + (f" and gRPC {grpc_api.address(*srv.grpc_address)}"
                      if srv.grpc_address is not None else "")
                   + (f" (batching up to {batcher.max_batch_size} rows, "
                      f"{batcher.timeout * 1000:g} ms, {batcher.num_batch_threads} batch "
                      f"thread{'s' if batcher.num_batch_threads != 1 else ''})"
                      if batcher is not None else "")
                   + (f"; TensorFlow threads: {tf_threads}" if tf_threads else ""), err=True)

    def terminate(signum, frame):
        sys.exit(0)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server.serve(base, host, port, model_config_file=model_config_file,
                     model_config_file_poll_wait_seconds=config_poll,
                     max_body=int(max_body_mb * 2**20), poll=poll_seconds, verbose=verbose,
                     batching=batching, **batch, intra_op_parallelism=intra_op,
                     inter_op_parallelism=inter_op, grpc_port=grpc_port or None,
                     max_image_pixels=max_image_pixels, ready=ready)
    finally:  # e.g. a bad option in a process that goes on (a test's CliRunner)
        signal.signal(signal.SIGTERM, previous)


COMMANDS = (serve_cmd,)

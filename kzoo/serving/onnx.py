"""ONNX export through tf2onnx (as Keras 3's `model.export(format="onnx")` does), run
in onnxruntime.

`convert(function, spec, path)` converts a traced serving function (`images`,
raw pixels 0-255, float32 `(batch, H, W, C)` → `probabilities` float32
`(batch, classes)` and `classes` int64 `(batch,)`: `serving_default` without its
string output, which ONNX runtimes rarely take) at opset `OPSET`, with the
input and outputs named as in `serving_default`. `Runner` runs the file through
`onnxruntime` (not TensorFlow).
"""

import contextlib
import gc
import os
import re
import warnings

import numpy as np

#: The ONNX opset kzoo writes (tf2onnx 1.17 converts up to 18; onnxruntime runs it).
OPSET = 17
SESSION_PROVIDERS = ("CPUExecutionProvider",)
#: Weights (bytes) above which `convert` takes tf2onnx's large-model path (see there).
LARGE_MODEL_BYTES = 256 * 2 ** 20
#: Weights (bytes) above which each tf2onnx optimizer pass ends with a garbage collection.
COLLECT_BYTES = 32 * 2 ** 20


def _libraries():
    try:
        import onnx  # noqa: F401
        import tf2onnx
    except ImportError:  # pragma: no cover - the export extra installs them
        raise ValueError("Argument `format`: ONNX export needs the `onnx` and `tf2onnx` "
                         "packages (pip install 'kzoo[export]'). Received: format='onnx'"
                         ) from None
    try:  # tf2onnx 1.17 predates NumPy 2: Keras's own export applies this patch
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:  # pragma: no cover - a Keras without it
        pass
    else:
        with warnings.catch_warnings():  # its `hasattr(np, "object")` warns on NumPy 2
            warnings.simplefilter("ignore", FutureWarning)
            patch_tf2onnx()
    return tf2onnx


def runtime_version():
    """`"onnxruntime X.Y.Z"`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"onnxruntime {version('onnxruntime')}"
    except PackageNotFoundError:  # pragma: no cover
        return "onnxruntime"


def _rename(model, names):
    """Renames the graph's tensors by `names` ({old: new}) everywhere they occur."""
    graph = model.graph
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = names.get(value.name, value.name)


def _layers_of(nodes):
    """Layer names from the nodes' names ("model_1/layer_1/Op/..." → "layer")."""
    found = []
    for node in nodes:
        parts = node.name.split("/")
        if len(parts) >= 3:
            name = re.sub(r"_\d+$", "", parts[1])
            if name not in found:
                found.append(name)
    return found


def _freeze_captured_tensors(model, concrete):
    """Constant tensors the traced function captures (e.g. the mean and variance that
    Keras's `Normalization(mean=..., variance=...)` keeps as tensors, not variables)
    become initializers: tf2onnx freezes captured variables but leaves such tensors
    as graph inputs that no caller could feed."""
    import tensorflow as tf
    from onnx import numpy_helper

    placeholders = [t.name for t in concrete.inputs[len(concrete.inputs)
                                                    - len(concrete.captured_inputs):]]
    captured = {name: value for name, value in zip(placeholders, concrete.captured_inputs)
                if value.dtype != tf.resource}
    graph = model.graph
    for value in list(graph.input):
        if value.name in captured:
            graph.initializer.append(numpy_helper.from_array(
                np.asarray(captured[value.name].numpy()), value.name))
            graph.input.remove(value)


def _rewrite_erfc(model):
    """`Erfc(x)` (TF's exact GELU, `0.5 x erfc(-x/√2)`, which tf2onnx passes through
    although ONNX has no such op) as `1 - Erf(x)`: within float32 round-off of GELU's
    values (where erfc is small, x·erfc is too)."""
    from onnx import TensorProto, helper

    nodes, changed = [], False
    for node in model.graph.node:
        if node.op_type != "Erfc" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        changed = True
        out = node.output[0]
        nodes.append(helper.make_node("Erf", [node.input[0]], [out + "/erf"],
                                      name=node.name + "/Erf"))
        nodes.append(helper.make_node("Constant", [], [out + "/one"], name=node.name + "/One",
                                      value=helper.make_tensor(out + "/one_value",
                                                               TensorProto.FLOAT, [], [1.0])))
        nodes.append(helper.make_node("Sub", [out + "/one", out + "/erf"], [out],
                                      name=node.name))
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)


@contextlib.contextmanager
def _fresh_node_protos(collect=True):
    """Keeps tf2onnx's graph optimizers from holding a copy of every weight per pass.

    Each of the 30-odd passes clears and refills every node's `NodeProto` attributes
    (`Node.update_proto`); under protobuf's upb runtime a cleared attribute's memory
    stays in the message's arena, so each pass kept one more copy of every weight.
    And with `catch_errors` each pass deep-copies the graph (to roll back a failing
    pass), the replaced graph a cycle only the garbage collector frees. Here each
    update starts from a new `NodeProto` (the old one and its arena freed) and each
    pass ends with a collection (when `collect`: with TensorFlow loaded a collection
    costs about half a second, a few MB of a small model's copies do not). Measured on Inception-ResNet-v2 (54 M weights):
    the conversion's peak went from 11.7 GB to 5.3 GB (then TensorFlow's own freezing of
    the variables, which `convert` avoids for large models); the graph written is the
    same. Not thread-safe (it patches tf2onnx's classes while the conversion runs), as
    tf2onnx is not.
    """
    from onnx import NodeProto
    from tf2onnx import graph as tf2onnx_graph
    from tf2onnx.optimizer.optimizer_base import GraphOptimizerBase

    original = tf2onnx_graph.Node.update_proto

    def update_proto(node, external_tensor_storage=None):
        fresh = NodeProto()
        for field, value in node._op.ListFields():
            if field.name == "attribute":
                continue
            repeated = getattr(field, "is_repeated", None)  # protobuf ≥ 6; `label` before
            if repeated is None:
                repeated = field.label == field.LABEL_REPEATED
            if repeated:
                getattr(fresh, field.name).extend(value)
            elif field.type == field.TYPE_MESSAGE:
                getattr(fresh, field.name).CopyFrom(value)
            else:
                setattr(fresh, field.name, value)
        node._op = fresh
        return original(node, external_tensor_storage)

    def optimize(optimizer, graph, iteration):
        # The graph each pass replaced (tf2onnx deep-copies it first, to roll back a
        # failing pass) is a cycle of objects: collected now, not passes later.
        answer = original_optimize(optimizer, graph, iteration)
        if collect:
            gc.collect()
        return answer

    original_optimize = GraphOptimizerBase.optimize
    tf2onnx_graph.Node.update_proto = update_proto
    GraphOptimizerBase.optimize = optimize
    try:
        yield
    finally:
        tf2onnx_graph.Node.update_proto = original
        GraphOptimizerBase.optimize = original_optimize


@contextlib.contextmanager
def _optimizer_errors_caught():
    """tf2onnx skips a graph optimizer that fails (keeping the graph it had) on its default
    path, not on its large-model path; here on both. Not through its environment variable
    `TF2ONNX_CATCH_ERRORS`: tf2onnx 1.17 compares the variable's name, not its value, with
    "TRUE", so setting it at all turns the catching off (MobileNetV3-Large's export then
    failed in the transpose optimizer, which plain tf2onnx skips)."""
    from tf2onnx import optimizer

    original = optimizer.optimize_graph

    def optimize_graph(graph, catch_errors=True, optimizers=None):
        return original(graph, True, optimizers=optimizers)

    optimizer.optimize_graph = optimize_graph
    try:
        yield
    finally:
        optimizer.optimize_graph = original


def _graph_tensors(graph):
    """Every TensorProto of an ONNX graph: initializers and node attributes, subgraphs
    included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _graph_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graph_tensors(subgraph)


def _inline_external_tensors(model, storage):
    """The tensors tf2onnx's large-model path keeps in `storage` (`ExternalTensorStorage`)
    written back into the model, which is then one self-contained file."""
    from onnx import TensorProto

    data = storage.name_to_tensor_data if storage is not None else {}
    for tensor in _graph_tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}["location"]
        tensor.raw_data = data[location]
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def convert(function, spec, path, *, opset=OPSET):
    """Writes the ONNX model of `function` (a `tf.function` of one input `spec`
    answering a dict of tensors) to `path`, the input named `spec.name` and each
    output by its key.

    Raises:
        ValueError: tf2onnx cannot convert an op (the message names the ops and, where
            the graph says, the layers).
    """
    import onnx
    import tensorflow as tf

    tf2onnx = _libraries()
    concrete = function.get_concrete_function(spec)
    keys = sorted(concrete.structured_outputs)  # the order of concrete.outputs (tf.nest)
    # Above LARGE_MODEL_BYTES of weights, tf2onnx's large-model path: it freezes the
    # variables without TensorFlow's convert_variables_to_constants and grappler pass
    # (about 24 copies of the weights at their peak: 5.3 GB for Inception-ResNet-v2's
    # 217 MB, 1.4 GB on this path; ConvNeXt-XLarge's 1.4 GB of weights could not be
    # converted in 24 GB) and keeps the weights outside the graph while it converts;
    # they are put back into the one file below.
    weights = sum(int(np.prod(v.shape)) * v.dtype.size
                  for v in concrete.captured_inputs if v.dtype != tf.resource) + sum(
        int(np.prod(v.shape)) * v.dtype.size for v in concrete.graph.variables)
    large = weights > LARGE_MODEL_BYTES
    try:
        with _fresh_node_protos(collect=weights > COLLECT_BYTES), _optimizer_errors_caught():
            model, storage = tf2onnx.convert.from_function(
                function, input_signature=[spec], opset=opset, large_model=large)
        _inline_external_tensors(model, storage)
    except Exception as e:  # noqa: BLE001 - tf2onnx raises many kinds
        message = " ".join(str(e).split())
        ops = sorted(set(re.findall(r"\b([A-Z][A-Za-z0-9]+)\b(?= op| is not supported)",
                                    message)))
        raise ValueError(
            "Argument `format`: the model cannot be converted to ONNX"
            + (f": ops {', '.join(ops)}" if ops else "")
            + f" ({message[:600]}). Received: format='onnx'") from None
    inputs = [t for t in concrete.inputs if t.dtype != tf.resource]
    outputs = [t for t in concrete.outputs if t.dtype != tf.resource]
    names = {inputs[0].name: spec.name}
    names.update({tensor.name: key for tensor, key in zip(outputs, keys)})
    _rename(model, names)
    _freeze_captured_tensors(model, concrete)
    _rewrite_erfc(model)
    unknown = [node for node in model.graph.node
               if not onnx.defs.has(node.op_type, node.domain or "")]
    if unknown:
        ops = sorted({node.op_type for node in unknown})
        layers = _layers_of(unknown)
        raise ValueError(
            f"Argument `format`: the model cannot be converted to ONNX: tf2onnx left ops "
            f"that ONNX does not define ({', '.join(ops)})"
            + (f" in layer(s) {', '.join(layers)}" if layers else "")
            + ". Received: format='onnx'")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"Argument `format`: the ONNX model tf2onnx wrote is not valid "
                         f"({' '.join(str(e).split())[:600]}). Received: format='onnx'"
                         ) from None
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


class Runner:
    """An ONNX file run through onnxruntime: `runner(images)` answers
    `{"probabilities": float32 (N, classes), "classes": int64 (N,)}`."""

    def __init__(self, path, num_threads=None):
        try:
            import onnxruntime
        except ImportError:  # pragma: no cover - the export extra installs it
            raise ValueError("Argument `format`: running an ONNX file needs `onnxruntime` "
                             "(pip install 'kzoo[export]'). Received: format='onnx'") from None
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.session = onnxruntime.InferenceSession(os.fspath(path), options,
                                                    providers=list(SESSION_PROVIDERS))
        self.output_names = [output.name for output in self.session.get_outputs()]

    def __call__(self, images):
        values = self.session.run(self.output_names,
                                  {"images": np.asarray(images, dtype=np.float32)})
        outputs = dict(zip(self.output_names, values))
        return {"probabilities": np.asarray(outputs["probabilities"], dtype=np.float32),
                "classes": np.asarray(outputs["classes"]).astype(np.int64)}


__all__ = ["OPSET", "Runner", "convert", "runtime_version"]

"""The served models: SavedModel versions on disk, loaded and kept up to date.

A `Registry` serves model folders in TF Serving's layout (`BASE/NAME/VERSION/`,
numeric version folders holding a complete SavedModel, loaded with plain
`tf.saved_model.load`). Both protocols of `kzoo serve` (REST,
`kzoo.serving.rest`; gRPC, `kzoo.serving.grpc_api`) answer from one `Registry`.
"""

import os
import sys
import threading

from kzoo.serving.rest import RequestError, _numeric_input


def is_complete_version(path):
    """Whether `path` holds a complete SavedModel (`saved_model.pb` and `variables/`)."""
    return (os.path.isfile(os.path.join(path, "saved_model.pb"))
            and os.path.isdir(os.path.join(path, "variables")))


def _signature_def_map(path):
    """The SavedModel's serving SignatureDefMap (a `tensorflow.serving.SignatureDefMap`
    proto, as TF Serving's GetModelMetadata answers it)."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graphs = list(saved_model.meta_graphs)
    graph = next((g for g in graphs if "serve" in g.meta_info_def.tags), graphs[0])
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key in sorted(graph.signature_def):
        signature_map.signature_def[key].CopyFrom(graph.signature_def[key])
    return signature_map


def _as_dict(message):
    """A proto as TF Serving's REST API prints it (field names kept, defaults shown)."""
    from google.protobuf import json_format

    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    except TypeError:  # protobuf < 5
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         including_default_value_fields=True)


class Signature:
    """One callable signature: its input specs, output names and the function."""

    def __init__(self, name, function):
        self.name = name
        self.function = function
        _, kwargs = function.structured_input_signature
        self.inputs = dict(sorted(kwargs.items()))
        self.outputs = sorted(function.structured_outputs)
        # Whether every input has a fully known shape after the batch axis (what
        # `Batcher` can concatenate), worked out once rather than per request.
        self.batchable = all(
            spec.shape.rank is not None and spec.shape.rank >= 1
            and None not in spec.shape.as_list()[1:] for spec in self.inputs.values())
        self.numeric_input = _numeric_input(self.inputs)


class Servable:
    """One loaded version of one model."""

    def __init__(self, name, version, path):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        self.mtime = os.path.getmtime(os.path.join(path, "saved_model.pb"))
        self._loaded = tf.saved_model.load(path)
        self.signatures = {key: Signature(key, fn)
                           for key, fn in self._loaded.signatures.items()}
        #: The SignatureDefMap proto (gRPC's GetModelMetadata) and its JSON form (REST's).
        self.signature_def_map = _signature_def_map(path)
        self.signature_defs = {"signature_def": {
            key: _as_dict(self.signature_def_map.signature_def[key])
            for key in sorted(self.signature_def_map.signature_def)}}


class ModelSource:
    """One served model: its name, base path, version policy and version labels.

    `policy` is TF Serving's `ServableVersionPolicy` as a tuple: `("latest", n)`
    (the n highest versions on disk), `("all",)` or `("specific", versions)`.
    `labels` maps a version label to a version number.
    """

    def __init__(self, name, base_path, policy=("latest", 1), labels=None):
        self.name, self.base_path = name, base_path
        self.policy = policy
        self.labels = dict(labels or {})

    def choose(self, versions):
        """The versions (of those complete on disk) this model serves, by its policy."""
        kind = self.policy[0]
        if kind == "all":
            return set(versions)
        if kind == "specific":
            return set(versions) & set(self.policy[1])
        return set(sorted(versions, reverse=True)[:self.policy[1]])

    def __eq__(self, other):
        return (isinstance(other, ModelSource)
                and (self.name, self.base_path, self.policy, self.labels)
                == (other.name, other.base_path, other.policy, other.labels))

    def __repr__(self):
        return (f"ModelSource({self.name!r}, {self.base_path!r}, policy={self.policy!r}, "
                f"labels={self.labels!r})")


def parse_model_config(text, where="the model config"):
    """TF Serving's `ModelServerConfig` text format → `{name: ModelSource}`.

    Parsed with the proto (`tensorflow_serving.config.model_server_config_pb2`);
    `text` may also be a `ModelServerConfig` message. Relative base paths are
    taken from the current directory, as TF Serving takes them. Raises a
    `ValueError` naming `where` for a file the proto cannot parse or a config TF
    Serving would refuse (no `model_config_list`, an empty or repeated name, an
    empty base path, a platform other than "tensorflow", an empty `specific`
    policy, a label on a version the policy does not serve).
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if isinstance(text, model_server_config_pb2.ModelServerConfig):
        config = text
    else:
        config = model_server_config_pb2.ModelServerConfig()
        try:
            text_format.Parse(text, config)
        except text_format.ParseError as e:
            raise ValueError(f"{where}: not a TF Serving ModelServerConfig in text format "
                             f"({e})") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{where}: expected a `model_config_list {{ config {{ ... }} }}` "
                         f"(kzoo serve has no custom_model_config)")
    sources = {}
    for i, entry in enumerate(config.model_config_list.config):
        at = f"{where}, config #{i + 1}"
        if not entry.name:
            raise ValueError(f"{at}: `name` must not be empty")
        at = f"{where}, model {entry.name!r}"
        if entry.name in sources:
            raise ValueError(f"{at}: the name appears twice")
        if "/" in entry.name or entry.name.startswith("."):
            raise ValueError(f"{at}: a model name cannot contain '/' or start with '.'")
        if not entry.base_path:
            raise ValueError(f"{at}: `base_path` must not be empty")
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{at}: model_platform {entry.model_platform!r} is not served "
                             f"(kzoo serve serves SavedModels: \"tensorflow\")")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "all":
            chosen = ("all",)
        elif kind == "specific":
            if not policy.specific.versions:
                raise ValueError(f"{at}: a `specific` version policy needs one or more "
                                 f"`versions`")
            chosen = ("specific", tuple(sorted(set(policy.specific.versions))))
        else:  # TF Serving's default: the latest version only
            chosen = ("latest", max(1, policy.latest.num_versions) if kind else 1)
        labels = dict(entry.version_labels)
        if chosen[0] == "specific":
            stray = {k: v for k, v in labels.items() if v not in chosen[1]}
            if stray:
                raise ValueError(f"{at}: version_labels {stray} name versions its "
                                 f"`specific` policy does not serve {list(chosen[1])}")
        sources[entry.name] = ModelSource(entry.name, os.path.abspath(entry.base_path),
                                          chosen, labels)
    return sources


def read_model_config(path):
    """`parse_model_config` of the file at `path` (a `ValueError` names the file)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Model config file {path!r}: cannot read it ({e})") from None
    return parse_model_config(text, where=f"Model config file {path!r}")


class Registry:
    """The served models, kept up to date by `scan()`; thread-safe.

    Either every model folder under `base` with all of its versions (`kzoo serve
    BASE`), or the models of a TF Serving model config (`config`: a
    `{name: ModelSource}` from `parse_model_config`, replaced by `set_config`),
    each served per its version policy and with its version labels.
    """

    def __init__(self, base=None, log=None, *, config=None):
        if (base is None) == (config is None):
            raise ValueError("Registry: pass exactly one of `base` and `config`. "
                             f"Received: base={base!r}, config={config!r}")
        self.base = None if base is None else os.fspath(base)
        self._config = None if config is None else dict(config)
        self._models = {}   # name -> {version: Servable}
        self._failed = {}   # path -> mtime of a version that failed to load
        self._empty = {}    # name -> why a model has no version to serve (reported once)
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()  # one scan at a time (poller, reloads)
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))

    def _sources(self):
        """`{name: ModelSource}`: the config's, or every model folder under `base`."""
        if self._config is not None:
            return dict(self._config)
        try:
            names = os.listdir(self.base)
        except OSError:
            return {}
        return {name: ModelSource(name, os.path.join(self.base, name), ("all",))
                for name in names
                if not name.startswith(".") and os.path.isdir(os.path.join(self.base, name))}

    def _on_disk(self):
        """`{name: {version: path}}` of the versions each model's policy serves."""
        found, empty = {}, {}
        for name, source in self._sources().items():
            try:
                entries = os.listdir(source.base_path)
            except OSError as e:
                empty[name] = f"cannot read {source.base_path} ({e.strerror or e})"
                continue
            complete = {}
            for entry in entries:
                path = os.path.join(source.base_path, entry)
                if entry.isdigit() and entry.isascii() and is_complete_version(path):
                    complete[int(entry)] = path
            chosen = source.choose(complete)
            if chosen:
                found[name] = {v: complete[v] for v in chosen}
            elif complete:
                empty[name] = (f"its version policy {source.policy} names none of the "
                               f"versions in {source.base_path} {sorted(complete)}")
            else:
                empty[name] = (f"no complete version (a numeric folder with saved_model.pb "
                               f"and variables/) in {source.base_path}")
        # Each model that has nothing to serve is reported once, until that changes.
        for name, reason in empty.items():
            if self._empty.get(name) != reason:
                self._log(f"kzoo serve: nothing to serve for model {name}: {reason}")
        self._empty = empty
        return found

    def set_config(self, config):
        """Serves the models of a new model config (a `ModelServerConfig` proto, its
        text, or `{name: ModelSource}`) and rescans; the old config stays when the new
        one is refused (`ValueError`). Returns the number of changes."""
        if not isinstance(config, dict):
            config = parse_model_config(config)
        with self._scan_lock:
            if self._config is None:
                raise ValueError("This server serves a base folder, not a model config: "
                                 "start it with a model config file to reload configs")
            self._config = dict(config)
        return self.scan()

    def scan(self):
        """Loads new versions and drops vanished ones; returns the number of changes."""
        with self._scan_lock:
            return self._scan()

    def _scan(self):
        changes = 0
        found = self._on_disk()
        with self._lock:
            current = {name: dict(versions) for name, versions in self._models.items()}
        for name, versions in found.items():
            for version, path in sorted(versions.items()):
                servable = current.get(name, {}).get(version)
                try:
                    mtime = os.path.getmtime(os.path.join(path, "saved_model.pb"))
                except OSError:
                    continue
                if (servable is not None and servable.mtime == mtime
                        and servable.path == path):
                    continue
                if self._failed.get(path) == mtime:
                    continue
                try:
                    servable = Servable(name, version, path)
                except Exception as e:  # a broken SavedModel must not stop the server
                    self._failed[path] = mtime
                    self._log(f"kzoo serve: could not load {path}: "
                              f"{' '.join(str(e).split())[:500]}")
                    continue
                self._failed.pop(path, None)
                with self._lock:
                    self._models.setdefault(name, {})[version] = servable
                changes += 1
                self._log(f"kzoo serve: serving {name} version {version} ({path})")
        with self._lock:
            for name in list(self._models):
                for version in list(self._models[name]):
                    if version not in found.get(name, {}):
                        del self._models[name][version]
                        changes += 1
                        self._log(f"kzoo serve: dropped {name} version {version}")
                if not self._models[name]:
                    del self._models[name]
        return changes

    def names(self):
        with self._lock:
            return sorted(self._models)

    def versions(self, name):
        """The servables of model `name`, newest first (404 if unknown)."""
        with self._lock:
            versions = dict(self._models.get(name, {}))
        if not versions:
            raise RequestError(404, f"Servable not found for request: Latest({name})")
        return [versions[v] for v in sorted(versions, reverse=True)]

    def labels(self, name):
        """`{label: version}` of model `name` (empty without a model config)."""
        with self._lock:
            source = (self._config or {}).get(name)
        return dict(source.labels) if source is not None else {}

    def label_version(self, name, label):
        """The version that `label` names for model `name` (400 if it names none)."""
        labels = self.labels(name)
        if label not in labels:
            raise RequestError(400, f"Unrecognized servable version label: {label}")
        return labels[label]

    def get(self, name, version=None, label=None):
        """The servable `name` at `version` or version `label` (default the latest).

        A `RequestError`: 404 (NOT_FOUND) for an unknown model or version, 400
        (INVALID_ARGUMENT) for an unknown label or both a version and a label.
        """
        if not name:
            raise RequestError(400, "Missing model name in request.")
        if label is not None:
            if version is not None:
                raise RequestError(400, "Both version and version_label are set in the "
                                        "request; set only one of them.")
            version = self.label_version(name, label)
        servables = self.versions(name)
        if version is None:
            return servables[0]
        for servable in servables:
            if servable.version == version:
                return servable
        raise RequestError(404, f"Servable not found for request: Specific({name}, {version})")


__all__ = ["ModelSource", "Registry", "Servable", "Signature", "is_complete_version",
           "parse_model_config", "read_model_config"]

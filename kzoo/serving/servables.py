"""The served models: SavedModel versions on disk, loaded and kept up to date.

A `Registry` serves model folders in TF Serving's layout (`BASE/NAME/VERSION/`,
numeric version folders holding a complete SavedModel, loaded with plain
`tf.saved_model.load`). Both protocols of `kzoo serve` (REST,
`kzoo.serving.rest`; gRPC, `kzoo.serving.grpc_api`) answer from one `Registry`.

Only folders named by a number that fits TF Serving's int64 versions are
versions; hidden folders (`.tmp-export-*` of an export in progress or killed)
are never models. A version is loaded when it appears, and again when
anything in it changed (once it stayed unchanged from one scan to the next);
it is served only if nothing in it changed while it loaded. So a copy in
progress is never served half-written, and a load that failed on a partial
copy is retried once the copy is complete (`version_stamp` tells a change).
"""

import os
import sys
import threading

#: TF Serving's versions are int64: a folder named by a larger number is no version.
MAX_VERSION = 2 ** 63 - 1

from kzoo.serving.rest import RequestError, _numeric_input


def is_complete_version(path):
    """Whether `path` holds a complete SavedModel (`saved_model.pb` and `variables/`)."""
    return (os.path.isfile(os.path.join(path, "saved_model.pb"))
            and os.path.isdir(os.path.join(path, "variables")))


def version_number(entry):
    """The version a folder name `entry` names (ASCII digits), else None; a number
    beyond int64 is None too (TF Serving could not name it)."""
    if not (entry.isascii() and entry.isdigit()):
        return None
    number = int(entry)
    return number if number <= MAX_VERSION else None


def version_stamp(path):
    """What tells a changed version folder: `(relative path, size, mtime)` of every file
    under `path`, sorted; None while it cannot be read (e.g. a file vanished)."""
    stamp = []
    try:
        for root, _, files in os.walk(path, onerror=_raise):
            for name in files:
                file = os.path.join(root, name)
                info = os.stat(file)
                stamp.append((os.path.relpath(file, path), info.st_size, info.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(stamp))


def _raise(error):
    raise error


def base_layout_hint(base):
    """Why `kzoo serve BASE` finds no model in `base`, when its layout tells: it is a
    version folder, a model folder, or holds no folder at all; else None."""
    base = os.path.abspath(base)
    layout = "BASE should hold one folder per model, each holding numbered version " \
             "folders with a SavedModel (BASE/NAME/VERSION/saved_model.pb)"
    if os.path.isfile(os.path.join(base, "saved_model.pb")):
        model = os.path.dirname(base)
        where = (f"serve {os.path.dirname(model)}, where it is version "
                 f"{os.path.basename(base)} of model {os.path.basename(model)}, or "
                 if version_number(os.path.basename(base)) is not None else "")
        return (f"BASE {base} looks like a version folder (it holds saved_model.pb): "
                f"{where}move it to BASE/NAME/1/. {layout}")
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return None
    versions = [e for e in entries if version_number(e) is not None
                and os.path.isfile(os.path.join(base, e, "saved_model.pb"))]
    if versions:
        return (f"BASE {base} looks like a model folder (it holds version {versions[0]}/ "
                f"with saved_model.pb): serve its parent {os.path.dirname(base)}, where "
                f"it is model {os.path.basename(base)}, or move it into BASE/NAME/. {layout}")
    if not any(not e.startswith(".") and os.path.isdir(os.path.join(base, e))
               for e in entries):
        return f"BASE {base} holds no model folder. {layout}"
    return None


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

    def __init__(self, name, function, kzoo_export=False):
        self.name = name
        self.function = function
        # A kzoo export's inputs are raw pixels or encoded images: `rest.check_inputs`
        # refuses non-finite pixels and bytes that are no image before the model runs
        # (another SavedModel's inputs pass as TF Serving passes them).
        self.kzoo_export = kzoo_export
        _, kwargs = function.structured_input_signature
        self.inputs = dict(sorted(kwargs.items()))
        self.outputs = sorted(function.structured_outputs)
        # The string inputs, whose encoded images `rest.check_inputs` checks.
        self.string_inputs = [key for key, spec in self.inputs.items()
                              if spec.dtype.name == "string"]
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
        self.stamp = None  # `version_stamp` of the files loaded (set by `Registry`)
        self._loaded = tf.saved_model.load(path)
        from kzoo.serving.export import is_export

        kzoo_export = is_export(path)
        self.signatures = {key: Signature(key, fn, kzoo_export)
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
        raise ValueError(f"Argument `model_config_file` (--model-config-file): model config "
                         f"file {path!r}: cannot read it ({e})") from None
    return parse_model_config(text, where=f"Argument `model_config_file` "
                                          f"(--model-config-file): model config file {path!r}")


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
        self._failed = {}   # path -> version_stamp of a version that failed to load
        self._seen = {}     # path -> version_stamp of each version at the last scan
        self._empty = {}    # name -> why a model has no version to serve (reported once)
        self._ignored = set()  # version folders beyond int64, reported once
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
        # Hidden folders (e.g. `.tmp-export-*`) are never models.
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
            for entry in entries:  # numbered folders only: never `.tmp-export-*`
                path = os.path.join(source.base_path, entry)
                version = version_number(entry)
                if version is None:
                    if (entry.isascii() and entry.isdigit() and path not in self._ignored
                            and os.path.isdir(path)):
                        self._ignored.add(path)
                        self._log(f"kzoo serve: ignored {path}: version {entry} does not "
                                  f"fit TF Serving's int64 versions (at most {MAX_VERSION})")
                    continue
                if is_complete_version(path):
                    complete[version] = path
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

    def explain_empty(self):
        """When nothing is served from `base` and its layout tells why (it is a model or
        version folder, or empty: `base_layout_hint`), logs it; returns the hint or None."""
        if self.base is None or self.names():
            return None
        hint = base_layout_hint(self.base)
        if hint:
            self._log(f"kzoo serve: no model to serve: {hint}")
        return hint

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
        seen, self._seen = self._seen, {}
        for name, versions in found.items():
            for version, path in sorted(versions.items()):
                servable = current.get(name, {}).get(version)
                stamp = self._seen[path] = version_stamp(path)
                if stamp is None:  # changing under our feet: the next scan sees it
                    continue
                if (servable is not None and servable.stamp == stamp
                        and servable.path == path):
                    continue
                if self._failed.get(path) == stamp:  # retried once anything changes
                    continue
                if path in seen and seen[path] != stamp:
                    continue  # changed since the last scan (a copy going on): not yet
                try:
                    servable = Servable(name, version, path)
                except Exception as e:  # a broken SavedModel must not stop the server
                    if version_stamp(path) == stamp:
                        self._failed[path] = stamp
                    self._log(f"kzoo serve: could not load {path}: "
                              f"{' '.join(str(e).split())[:500]}")
                    continue
                if version_stamp(path) != stamp:  # written while it loaded: a copy in
                    # progress is never served; loaded again once it stops changing
                    self._log(f"kzoo serve: {path} changed while it loaded; loading it "
                              f"again at the next scan")
                    continue
                servable.stamp = stamp
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


__all__ = ["MAX_VERSION", "ModelSource", "Registry", "Servable", "Signature",
           "base_layout_hint", "is_complete_version", "parse_model_config",
           "read_model_config", "version_number", "version_stamp"]

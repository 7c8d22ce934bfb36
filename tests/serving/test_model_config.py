"""`kzoo serve --model-config-file`: TF Serving's ModelServerConfig, its version
policies and labels, and its reload.

The parser's checks run without TensorFlow models; the policies and labels run
in a `Registry` over real SavedModel versions (the shipped LeNet exported once,
its version folder copied to other numbers), and one real `kzoo serve` process
serves a config file of two models, then a changed file, then a broken one.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from kzoo.serving import export_version
from kzoo.serving.servables import ModelSource, Registry, parse_model_config, read_model_config
from kzoo.utils import processes

from tests.serving.test_server import LENET, REPO, _call, _free_port

CONFIG = """
model_config_list {{
  config {{
    name: "fashion"
    base_path: "{fashion}"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 2 }} }}
  }}
  config {{
    name: "digits"
    base_path: "{digits}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 5 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 5 }}
  }}
}}
"""


def test_parse_policies_and_labels(tmp_path):
    sources = parse_model_config(CONFIG.format(fashion="a", digits=str(tmp_path)))
    assert list(sources) == ["fashion", "digits"]
    assert sources["fashion"].policy == ("latest", 2)
    assert sources["fashion"].base_path == os.path.abspath("a")  # from the working dir
    assert sources["digits"].policy == ("specific", (1, 5))
    assert sources["digits"].labels == {"stable": 1, "canary": 5}
    default = parse_model_config('model_config_list { config { name: "m" base_path: "/x" } }')
    assert default["m"].policy == ("latest", 1)  # TF Serving's default policy
    every = parse_model_config('model_config_list { config { name: "m" base_path: "/x" '
                               'model_version_policy { all {} } } }')
    assert every["m"].policy == ("all",)
    assert ModelSource("m", "/x", ("latest", 2)).choose([1, 2, 3, 7]) == {3, 7}
    assert ModelSource("m", "/x", ("specific", (1, 5))).choose([1, 2, 3]) == {1}
    assert ModelSource("m", "/x", ("all",)).choose([1, 2]) == {1, 2}


@pytest.mark.parametrize("text, words", [
    ("model_config_list { config { name: \"m\" base_path: \"/x\" } ", "text format"),
    ("model_config_list { config { nmae: \"m\" } }", "nmae"),
    ("", "model_config_list"),
    ("model_config_list { config { base_path: \"/x\" } }", "`name` must not be empty"),
    ("model_config_list { config { name: \"m\" } }", "`base_path` must not be empty"),
    ("model_config_list { config { name: \"m\" base_path: \"/x\" } "
     "config { name: \"m\" base_path: \"/y\" } }", "appears twice"),
    ("model_config_list { config { name: \"m\" base_path: \"/x\" "
     "model_platform: \"pytorch\" } }", "pytorch"),
    ("model_config_list { config { name: \"m\" base_path: \"/x\" "
     "model_version_policy { specific { } } } }", "one or more `versions`"),
    ("model_config_list { config { name: \"m\" base_path: \"/x\" "
     "model_version_policy { specific { versions: 2 } } "
     "version_labels { key: \"l\" value: 3 } } }", "does not serve"),
])
def test_refused_configs_name_the_problem(text, words):
    with pytest.raises(ValueError, match="the model config") as info:
        parse_model_config(text)
    assert words in str(info.value)


def test_read_model_config_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.conf"):
        read_model_config(str(tmp_path / "missing.conf"))


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Two base paths: fashion/{1,2,3} and digits/{1,2,5} (copies of one export)."""
    root = tmp_path_factory.mktemp("config")
    export_version(LENET, "fashion", version=1, base=str(root))
    for version in (2, 3):
        shutil.copytree(root / "fashion" / "1", root / "fashion" / str(version))
    other = root / "elsewhere" / "digits"
    for version in (1, 2, 5):
        shutil.copytree(root / "fashion" / "1", other / str(version))
    return {"fashion": str(root / "fashion"), "digits": str(other)}


def test_registry_serves_each_policy_and_label(bases):
    registry = Registry(config=parse_model_config(CONFIG.format(**bases)), log=lambda m: None)
    registry.scan()
    assert registry.names() == ["digits", "fashion"]
    assert [s.version for s in registry.versions("fashion")] == [3, 2]
    assert [s.version for s in registry.versions("digits")] == [5, 1]
    assert registry.get("digits", label="canary").version == 5
    assert registry.get("digits", label="stable").version == 1
    with pytest.raises(Exception, match="Unrecognized servable version label: beta") as info:
        registry.get("digits", label="beta")
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(Exception, match=r"Specific\(fashion, 1\)") as info:
        registry.get("fashion", 1)  # on disk, but not in the latest 2
    assert info.value.code == "NOT_FOUND"
    # A new config: all of fashion's versions, digits dropped.
    registry.set_config('model_config_list { config { name: "fashion" base_path: "%s" '
                        'model_version_policy { all {} } } }' % bases["fashion"])
    assert registry.names() == ["fashion"]
    assert [s.version for s in registry.versions("fashion")] == [3, 2, 1]
    with pytest.raises(ValueError, match="appears twice"):
        registry.set_config('model_config_list { config { name: "a" base_path: "/x" } '
                            'config { name: "a" base_path: "/x" } }')
    assert registry.names() == ["fashion"]  # the refused config changed nothing
    base_registry = Registry(os.path.dirname(bases["fashion"]), log=lambda m: None)
    with pytest.raises(ValueError, match="model config"):
        base_registry.set_config({})


def _versions(port, name):
    code, answer, raw = _call(port, "GET", f"/v1/models/{name}")
    assert code == 200, raw
    return sorted(int(v["version"]) for v in answer["model_version_status"])


def _wait_for(condition, what, log, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened:\n{log.read_text()}"
        time.sleep(0.3)


def test_serve_model_config_file_and_reload(bases, tmp_path):
    config = tmp_path / "models.config"
    config.write_text(CONFIG.format(**bases))
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kzoo", "serve", "--model-config-file", str(config),
             "--port", str(port), "--grpc-port", "0",
             "--model-config-file-poll-wait-seconds", "0.5"],
            stdout=out, stderr=out, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), cwd=REPO)
    try:
        def answers():
            assert process.poll() is None, log.read_text()
            try:
                return _call(port, "GET", "/v1/models/digits", timeout=5)[0] == 200
            except OSError:
                return False
        _wait_for(answers, "the server answering", log, timeout=90)
        assert _versions(port, "fashion") == [2, 3]
        assert _versions(port, "digits") == [1, 5]
        code, answer, raw = _call(port, "GET", "/v1/models/digits/labels/canary")
        assert code == 200 and answer["model_version_status"][0]["version"] == "5", raw
        body = {"instances": [[[[0.0]] * 28] * 28]}
        code, answer, raw = _call(port, "POST", "/v1/models/digits/labels/stable:predict",
                                  body)
        assert code == 200 and len(answer["predictions"][0]["probabilities"]) == 10, raw
        code, answer, _ = _call(port, "POST", "/v1/models/digits/labels/beta:predict", body)
        assert code == 400 and "Unrecognized servable version label: beta" in answer["error"]
        assert _call(port, "GET", "/v1/models/fashion/versions/1")[0] == 404

        # A changed file is served without a restart.
        config.write_text('model_config_list { config { name: "fashion" base_path: "%s" '
                          'model_version_policy { all {} } } }' % bases["fashion"])
        _wait_for(lambda: _call(port, "GET", "/v1/models/digits")[0] == 404,
                  "the reload", log)
        assert _versions(port, "fashion") == [1, 2, 3]
        # A broken file is logged, and the previous config keeps serving.
        config.write_text("model_config_list { config { name: ")
        _wait_for(lambda: "kept the previous model config" in log.read_text(),
                  "the broken file's log line", log)
        assert _versions(port, "fashion") == [1, 2, 3]
        assert process.poll() is None
    finally:
        processes.stop(process)


def test_serve_refuses_bad_arguments(tmp_path):
    from click.testing import CliRunner

    from kzoo.cli import main

    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { name: \"m\" } }")
    result = CliRunner().invoke(main, ["serve", "--model-config-file", str(bad)])
    assert result.exit_code != 0 and "`base_path` must not be empty" in result.output
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0 and "BASE or --model-config-file" in result.output


def test_a_model_with_nothing_to_serve_is_reported_once(bases, tmp_path):
    logged = []
    config = ('model_config_list { config { name: "gone" base_path: "%s" } '
              'config { name: "other" base_path: "%s" '
              'model_version_policy { specific { versions: 9 } } } }'
              % (tmp_path / "missing", bases["digits"]))
    registry = Registry(config=parse_model_config(config), log=logged.append)
    registry.scan()
    registry.scan()
    assert registry.names() == []
    assert len(logged) == 2, logged  # once each, not once per scan
    assert "model gone: cannot read" in logged[0] and "missing" in logged[0]
    assert "model other: its version policy ('specific', (9,))" in logged[1]
    assert "[1, 2, 5]" in logged[1]

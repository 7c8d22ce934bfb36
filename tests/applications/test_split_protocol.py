"""applications/split_protocol.py on a small budget: base cached and reused, one table.

Needs the real Fashion-MNIST (Debian's dataset-fashion-mnist, or any source
kzoo.data knows); skipped when kzoo.data cannot load it.
"""

import json
import os

import pytest
from application_helpers import last_line, load_program

import kzoo

TARGET = ["--labels-per-class", "3", "--epochs", "2", "--seed", "0"]
SMALL = ["--base-epochs", "1", "--base-labels-per-class", "100"] + TARGET


@pytest.fixture(scope="module")
def program():
    try:
        kzoo.data.load_arrays("fashion_mnist", "test", classes=[5])
    except kzoo.data.DatasetNotFoundError as error:
        pytest.skip(f"kzoo.data cannot load Fashion-MNIST: {error}")
    return load_program("split_protocol")


# Heavy (about 14 s; moved out of the default run to keep it under 15 minutes on 2 cores):
# `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_trains_caches_and_reuses_the_base(program, tmp_path, capsys):
    output = tmp_path / "split"
    results = program.main(SMALL + ["--modes", "scratch,linear,full", "--output", str(output)])
    printed = capsys.readouterr().out
    assert "base: training a LeNet on classes 0-4 (500 images" in printed
    assert [row["mode"] for row in results["modes"]] == ["scratch", "linear", "full"]
    assert results["train_images"] == 15 and results["test_images"] == 5000
    for row in results["modes"]:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert f"| {row['mode']} | {row['accuracy']:.4f} |" in printed
    assert results["modes"][1]["trained"] == "linear 2 ep: predictions"
    assert "full 1 ep: block1_conv+block2_conv+predictions" in results["modes"][2]["trained"]
    assert last_line(printed).startswith("result: scratch ")
    assert json.loads((output / "results.json").read_text())["modes"] == results["modes"]
    assert 0.0 <= results["base"]["test_accuracy"] <= 1.0

    # The same settings reuse the cached base; the linear mode trains the same model again.
    base_file = output / "base.keras"
    stamp = os.stat(base_file).st_mtime_ns
    again = program.main(SMALL + ["--modes", "linear", "--output", str(output)])
    printed = capsys.readouterr().out
    assert f"base: reusing {base_file}" in printed
    assert os.stat(base_file).st_mtime_ns == stamp
    assert again["modes"][0]["accuracy"] == pytest.approx(results["modes"][1]["accuracy"],
                                                          abs=1e-6)

    # Other base settings retrain it.
    program.main(["--base-epochs", "1", "--base-labels-per-class", "50"] + TARGET
                 + ["--modes", "linear", "--output", str(output)])
    printed = capsys.readouterr().out
    assert "retraining" in printed and "(250 images" in printed


def test_unknown_mode_is_a_usage_error(program, capsys):
    with pytest.raises(SystemExit) as exit_info:
        program.main(["--modes", "scratch,magic"])
    assert exit_info.value.code == 2
    assert "magic" in capsys.readouterr().err

"""`kzoo demo`: the short digits run of a CNN made of kzoo layers."""

from kzoo.demo import build_demo_model, run_demo


def test_demo_learns_digits_and_round_trips(capsys):
    accuracy = run_demo(epochs=2, seed=0)
    assert accuracy > 0.8  # 10 classes: chance is 0.1
    assert ".keras round trip identical" in capsys.readouterr().out


def test_demo_model_uses_kzoo_layers():
    names = {type(layer).__module__.split(".")[0] for layer in build_demo_model().layers}
    assert "kzoo" in names

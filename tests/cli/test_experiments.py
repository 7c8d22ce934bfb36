"""`kzoo activation-stats` and `kzoo overfit-check`."""

from click.testing import CliRunner

from kzoo.cli import main


def test_activation_stats_prints_table_and_saves_plot(tmp_path):
    output = tmp_path / "stats.png"
    result = CliRunner().invoke(
        main, ["activation-stats", "--layers", "3", "--units", "50", "--samples", "100",
               "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "Xavier" in result.output and "relu" in result.output
    assert len([l for l in result.output.splitlines() if " tanh " in l]) == 4 * 3
    assert output.read_bytes()[:4] == b"\x89PNG"


def test_overfit_check_on_a_zoo_model():
    result = CliRunner().invoke(main, ["overfit-check", "mlp", "--dataset", "digits", "--n", "20"])
    assert result.exit_code == 0, result.output
    assert "reached 100% training accuracy" in result.output


def test_overfit_check_fails_with_status_1():
    result = CliRunner().invoke(
        main,
        ["overfit-check", "mlp", "--optimizer", "sgd", "--learning-rate", "0", "--epochs", "2"],
    )
    assert result.exit_code == 1
    assert "did NOT reach" in result.output


def test_overfit_check_user_errors_are_one_line():
    result = CliRunner().invoke(main, ["overfit-check", "no_such_model"])
    assert result.exit_code != 0
    assert "Received: name='no_such_model'" in result.output
    assert "Traceback" not in result.output

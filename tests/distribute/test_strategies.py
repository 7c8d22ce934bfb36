"""kzoo.distribute.get_strategy: names, the CPU split, one strategy per process.

tests/conftest.py splits the CPU into two logical devices before TensorFlow
starts, so in this process `cpu_replicas=2` is already in place and any other
count is too late; a fresh subprocess checks a split of its own.
"""

import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from kzoo.distribute import get_strategy, strategy_name
from kzoo.testing import two_replica_strategy


def _two_cpus():
    if len(tf.config.list_logical_devices("CPU")) != 2:
        pytest.skip("needs the two logical CPU devices of tests/conftest.py")


def test_default_auto_and_one_device_on_a_cpu_machine():
    assert not tf.config.list_logical_devices("GPU")
    assert get_strategy("default") is tf.distribute.get_strategy()
    assert get_strategy() is tf.distribute.get_strategy()  # auto: no GPUs, one replica
    one = get_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    assert one.num_replicas_in_sync == 1 and get_strategy("one_device") is one


def test_mirrored_over_split_cpus_is_the_one_strategy_of_the_process():
    _two_cpus()
    mirrored = get_strategy("mirrored", cpu_replicas=2)  # already split that way: no-op
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    assert get_strategy("auto", cpu_replicas=2) is mirrored
    assert two_replica_strategy() is mirrored


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "tpu"}, "Received: strategy='tpu'"),
    ({"cpu_replicas": 0}, "Received: cpu_replicas=0"),
    ({"cpu_replicas": "2"}, "Received: cpu_replicas='2'"),
    ({"cpu_replicas": True}, "Received: cpu_replicas=True"),
    ({"name": "one_device", "cpu_replicas": 2}, "cpu_replicas=2"),
])
def test_bad_arguments_name_what_was_received(kwargs, message):
    _two_cpus()
    with pytest.raises(ValueError, match="Argument `(strategy|cpu_replicas)`") as info:
        get_strategy(**kwargs)
    assert message in str(info.value)


def test_a_split_after_tensorflow_started_is_a_clear_error():
    _two_cpus()
    tf.constant(1.0)  # TensorFlow's devices are initialized
    with pytest.raises(ValueError, match=r"before TensorFlow initializes its devices.*"
                                         r"already initialized as 2 .*cpu_replicas=3"):
        get_strategy("mirrored", cpu_replicas=3)


def test_cpu_replicas_in_a_fresh_process():
    code = textwrap.dedent("""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        from kzoo.distribute import get_strategy
        s = get_strategy("auto", cpu_replicas=3)
        assert get_strategy("mirrored", cpu_replicas=3) is s  # idempotent
        print(type(s).__name__, s.num_replicas_in_sync)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["MirroredStrategy", "3"]


def test_strategy_names_are_the_public_ones():
    _two_cpus()
    assert strategy_name(tf.distribute.get_strategy()) == "default"
    assert strategy_name(get_strategy("one_device")) == "OneDeviceStrategy"
    assert strategy_name(get_strategy("mirrored", cpu_replicas=2)) == "MirroredStrategy"

"""freeze(): the boundary, stage names and indices, and BatchNorm statistics kept bit for bit."""

import keras
import pytest
from transfer_helpers import weight_bytes

import kzoo


def _weighted(model, trainable):
    return [layer.name for layer in model.layers
            if layer.weights and bool(layer.trainable_weights) == trainable]


def _bn_statistics(model):
    """`{layer: (moving_mean bytes, moving_variance bytes)}` of every BN layer."""
    return {layer.name: (layer.moving_mean.numpy().tobytes(),
                         layer.moving_variance.numpy().tobytes())
            for layer in model.layers if kzoo.transfer.is_batch_norm(layer)}


@pytest.fixture
def resnet20_classifier():
    base = kzoo.create_model("resnet20", input_shape=(32, 32, 3), classes=10)
    return kzoo.transfer.classifier(base, 10)


def _train(model, rng, n=64, epochs=1):
    x = rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)


def test_none_freezes_all_but_the_head(lenet_features):
    model = kzoo.transfer.classifier(lenet_features, 3, hidden_units=8)
    frozen = kzoo.transfer.freeze(model)
    assert frozen == ["block1_conv", "block2_conv"]
    assert _weighted(model, trainable=True) == ["hidden", "predictions"]
    assert [w.path for w in model.trainable_weights] == [
        "hidden/kernel", "hidden/bias", "predictions/kernel", "predictions/bias"]


def test_without_pooler_the_last_weighted_layer_is_the_head():
    with_top = kzoo.create_model("lenet", weights="fashion_mnist")
    frozen = kzoo.transfer.freeze(with_top)
    assert frozen == ["block1_conv", "block2_conv", "fc1"]
    assert _weighted(with_top, trainable=True) == ["predictions"]


def test_until_stage_name_then_index_moves_the_boundary(resnet20_classifier):
    model = resnet20_classifier
    stages = [s["name"] for s in kzoo.models.features.find_stages(model)]
    assert stages == ["stage1_block3_out", "stage2_block3_out", "stage3_block3_out"]

    kzoo.transfer.freeze(model, until="stage2_block3_out")
    trainable = _weighted(model, trainable=True)
    assert trainable == [n for n in trainable if n.startswith("stage3_") or n == "predictions"]
    assert "stage3_block1_1_conv" in trainable and "stage3_block1_0_conv" in trainable
    assert not any(n.endswith("_bn") for n in trainable)  # BN stays frozen past the boundary

    # An earlier boundary (stage index 0) unfreezes stage 2's convolutions.
    frozen = kzoo.transfer.freeze(model, until=0)
    trainable = _weighted(model, trainable=True)
    assert "stage2_block1_1_conv" in trainable
    assert "stage1_block3_2_conv" not in trainable and "stem_conv" not in trainable
    assert set(frozen) == {layer.name for layer in model.layers if layer.weights} - set(trainable)
    assert "stage3_block1_1_bn" in frozen
    # Negative indices count from the end.
    kzoo.transfer.freeze(model, until=-1)
    assert _weighted(model, trainable=True) == ["predictions"]


def test_train_bn_lets_bn_past_the_boundary_train(resnet20_classifier):
    model = resnet20_classifier
    kzoo.transfer.freeze(model, until="stage2_block3_out", train_bn=True)
    trainable = _weighted(model, trainable=True)
    assert "stage3_block1_1_bn" in trainable and "stage2_block1_1_bn" not in trainable


def test_unknown_until_lists_the_stages(resnet20_classifier):
    with pytest.raises(ValueError, match="Unknown `until`: 'conv9'.*Stages: \\['stage1_block3_out'"
                                         ".*any layer name.*Received: until='conv9'"):
        kzoo.transfer.freeze(resnet20_classifier, until="conv9")
    with pytest.raises(ValueError, match="out of range.*Received: until=3"):
        kzoo.transfer.freeze(resnet20_classifier, until=3)
    with pytest.raises(ValueError, match="Received: until=1.5"):
        kzoo.transfer.freeze(resnet20_classifier, until=1.5)


# Heavy (about 16 s of training; moved out of the default run to keep it under 15 minutes on
# 2 cores): `./scripts/run test-heavy` runs it.
@pytest.mark.heavy
def test_frozen_batch_norm_statistics_stay_bit_identical(resnet20_classifier, rng):
    model = resnet20_classifier
    before = _bn_statistics(model)
    assert len(before) == 19
    kzoo.transfer.freeze(model)
    _train(model, rng)
    assert _bn_statistics(model) == before

    # Unfreezing stages 2 and 3: their convolutions train, every BN still does not.
    convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
    conv_before = weight_bytes(convs)
    kzoo.transfer.freeze(model, until="stage1_block3_out")
    _train(model, rng)
    assert _bn_statistics(model) == before
    conv_after = weight_bytes(convs)
    changed = {path.split("/")[0] for path in conv_before if conv_after[path] != conv_before[path]}
    assert changed == {layer.name for layer in convs if layer.name.startswith(("stage2", "stage3"))}

    # With train_bn=True the BN layers past the boundary move their statistics.
    kzoo.transfer.freeze(model, until="stage1_block3_out", train_bn=True)
    _train(model, rng)
    after = _bn_statistics(model)
    moved = {name for name in before if after[name] != before[name]}
    assert moved == {name for name in before if name.startswith(("stage2", "stage3"))}


def test_keras_batch_normalization_is_kept_frozen_too(rng):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    model = kzoo.transfer.classifier(keras.Model(inputs, x), 2)
    # Non-default statistics, so a batch-statistics update could not leave them unchanged.
    for layer in (model.get_layer("bn1"), model.get_layer("bn2")):
        layer.moving_mean.assign(rng.normal(size=8).astype("float32"))
        layer.moving_variance.assign(rng.uniform(0.5, 2, 8).astype("float32"))
    before = _bn_statistics(model)
    frozen = kzoo.transfer.freeze(model, until="conv1")
    assert frozen == ["conv1", "bn1", "bn2"]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.uniform(0, 1, (32, 16, 16, 3)), rng.integers(0, 2, 32), epochs=1, verbose=0)
    assert _bn_statistics(model) == before


def test_a_resized_classifier_has_its_bases_stages(lenet_features):
    model = kzoo.transfer.classifier(lenet_features, 10, input_shape=(8, 8, 1))
    # Stage 1 of the base (measured at its own 28×28 input) is block1_conv.
    assert kzoo.transfer.freeze(model, until=1) == ["block1_conv"]
    assert _weighted(model, trainable=True) == ["block2_conv", "predictions"]

"""dlbook.custom_objects：自定义层存进 .keras 再读回，结构与输出不变。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
import keras
from dlbook.custom_objects import (
    ScaledLayer,
    Standardize,
    StandardizeWithoutHooks,
)


def roundtrip(model, tmp_path, **kwargs):
    path = tmp_path / "m.keras"
    model.save(path)
    return keras.models.load_model(path, **kwargs)


@settings(max_examples=5, deadline=None)
@given(
    units=st.integers(1, 6),
    scale=st.floats(-2, 2),
    features=st.integers(1, 5),
)
def test_scaled_layer_roundtrip(tmp_path_factory, units, scale, features):
    layer = ScaledLayer(
        keras.layers.Dense(units, activation="tanh"),
        keras.initializers.Constant(scale),
    )
    model = keras.Sequential([keras.Input(shape=(features,)), layer])
    X = np.random.default_rng(0).normal(size=(3, features)).astype("float32")
    loaded = roundtrip(model, tmp_path_factory.mktemp("s"))
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6
    )
    back = loaded.layers[0]
    assert isinstance(back.inner, keras.layers.Dense)
    assert back.inner.get_config()["activation"] == "tanh"
    assert isinstance(back.scale_initializer, keras.initializers.Constant)
    assert back.scale_initializer.value == pytest.approx(scale)


def test_scaled_layer_needs_from_config(tmp_path):
    class NoFromConfig(ScaledLayer):
        from_config = classmethod(keras.layers.Layer.from_config.__func__)

    model = keras.Sequential(
        [keras.Input(shape=(3,)), NoFromConfig(keras.layers.Dense(2))]
    )
    with pytest.raises(Exception, match="TrackedDict|dict"):
        roundtrip(
            model, tmp_path, custom_objects={"NoFromConfig": NoFromConfig}
        )


def test_standardize_keeps_its_numpy_state(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(50, 4)).astype("float32")
    with_hooks, without = Standardize(), StandardizeWithoutHooks()
    outputs = {}
    for layer in (with_hooks, without):
        layer.adapt(X)
        model = keras.Sequential([keras.Input(shape=(4,)), layer])
        loaded = roundtrip(
            model,
            tmp_path,
            custom_objects={
                "StandardizeWithoutHooks": StandardizeWithoutHooks
            },
        )
        outputs[type(layer).__name__] = (
            model.predict(X, verbose=0),
            loaded.predict(X, verbose=0),
        )
    before, after = outputs["Standardize"]
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert abs(before.mean()) < 1e-4  # 确实标准化了
    before, after = outputs["StandardizeWithoutHooks"]
    assert np.abs(after - before).max() > 1  # 对照组：状态丢了

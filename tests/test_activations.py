"""激活函数与 Keras/TF 的实现逐点比对，导数与有限差分比对。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import activations as A

finite = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=6),
    elements=st.floats(-30, 30),
)


@settings(max_examples=50, deadline=None)
@given(finite)
def test_matches_keras(Z):
    import keras

    for name, fn in [
        ("relu", A.relu),
        ("sigmoid", A.sigmoid),
        ("tanh", A.tanh),
        ("linear", A.identity),
    ]:
        ref = keras.ops.convert_to_numpy(
            keras.activations.get(name)(Z.astype(np.float32))
        )
        np.testing.assert_allclose(fn(Z), ref, rtol=1e-5, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(finite)
def test_softmax_matches_keras_and_sums_to_one(Z):
    import keras

    ref = keras.ops.convert_to_numpy(keras.ops.softmax(Z, axis=-1))
    P = A.softmax(Z)
    np.testing.assert_allclose(P, ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=-1), 1.0, rtol=1e-12)


def test_softmax_is_stable_for_huge_inputs():
    P = A.softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P, [[0.5, 0.5], [0.0, 1.0]], atol=1e-12)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        np.testing.assert_allclose(
            A.sigmoid(np.array([-800.0, 800.0])), [0.0, 1.0]
        )


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "linear"])
def test_derivative_matches_finite_difference(name):
    g, g_grad = A.get(name)
    rng = np.random.default_rng(0)
    Z = rng.normal(size=200) * 3
    Z = Z[np.abs(Z) > 1e-3]  # ReLU 在 0 处不可导
    h = 1e-6
    numeric = (g(Z + h) - g(Z - h)) / (2 * h)
    np.testing.assert_allclose(g_grad(Z), numeric, rtol=1e-6, atol=1e-8)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="未知的激活函数 'swish'"):
        A.get("swish")

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


# ------------------------------------------------ ReLU 的变体（卷积网络部分）

variants_z = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=6),
    elements=st.floats(-30, 30, width=32),
)


@settings(max_examples=40, deadline=None)
@given(variants_z, st.floats(0.0, 0.9))
def test_relu_variants_match_keras(Z, a):
    import keras

    def np_(t):
        return keras.ops.convert_to_numpy(t)

    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        A.leaky_relu(Z, a),
        np_(keras.layers.LeakyReLU(negative_slope=a)(Z)),
        **tol,
    )
    np.testing.assert_allclose(
        A.elu(Z, 1.0), np_(keras.activations.elu(Z)), **tol
    )
    np.testing.assert_allclose(
        A.elu(Z, a), np_(keras.layers.ELU(alpha=a)(Z)), **tol
    )
    prelu = keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(a)
    )
    np.testing.assert_allclose(A.prelu(Z, a), np_(prelu(Z)), **tol)


@pytest.mark.parametrize(
    "g, g_grad, kw",
    [
        (A.leaky_relu, A.leaky_relu_grad, {"negative_slope": 0.1}),
        (A.elu, A.elu_grad, {"alpha": 1.0}),
        (A.elu, A.elu_grad, {"alpha": 0.5}),
        (A.prelu, A.prelu_grad, {"alpha": 0.25}),
    ],
)
def test_variant_derivatives_match_finite_difference(g, g_grad, kw):
    Z = np.random.default_rng(1).normal(size=200) * 3
    Z = Z[np.abs(Z) > 1e-3]
    h = 1e-6
    numeric = (g(Z + h, **kw) - g(Z - h, **kw)) / (2 * h)
    np.testing.assert_allclose(g_grad(Z, **kw), numeric, rtol=1e-6, atol=1e-8)


def test_prelu_alpha_gradient_matches_keras():
    import keras
    import tensorflow as tf

    Z = np.random.default_rng(2).normal(size=(4, 3, 3, 2)).astype(np.float32)
    layer = keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25),
        shared_axes=[1, 2],
    )
    layer.build(Z.shape)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer(Z))
    (g_alpha,) = tape.gradient(out, layer.trainable_weights)
    # 每个通道一个 α：把该通道所有负值元素的 z 加起来
    ref = A.prelu_grad_alpha(Z).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(np.ravel(g_alpha), ref, rtol=1e-5)


def test_rrelu_numpy_train_and_inference():
    Z = np.linspace(-3, 3, 601)
    A_inf, s = A.rrelu(Z)
    np.testing.assert_allclose(A_inf, A.leaky_relu(Z, (1 / 8 + 1 / 3) / 2))
    A_tr, slope = A.rrelu(Z, training=True, rng=np.random.default_rng(0))
    neg = Z < 0
    assert np.all((slope >= 1 / 8) & (slope <= 1 / 3))
    assert np.unique(slope[neg]).size == neg.sum()  # 每个元素各抽一个
    np.testing.assert_array_equal(A_tr[~neg], Z[~neg])
    np.testing.assert_allclose(A.rrelu_grad(Z, slope)[neg], slope[neg])
    with pytest.raises(ValueError, match="rng"):
        A.rrelu(Z, training=True)
    with pytest.raises(ValueError, match="lower=0.5、upper=0.1"):
        A.rrelu(Z, 0.5, 0.1)


def test_rrelu_keras_layer_train_vs_inference():
    import keras

    Z = np.linspace(-3, 3, 200, dtype=np.float32)[None]
    layer = A.RReLU(seed=3)
    inf = keras.ops.convert_to_numpy(layer(Z, training=False))
    np.testing.assert_allclose(inf, A.rrelu(Z)[0], rtol=1e-6)
    tr1 = keras.ops.convert_to_numpy(layer(Z, training=True))
    tr2 = keras.ops.convert_to_numpy(layer(Z, training=True))
    neg = Z < 0
    ratio = tr1[neg] / Z[neg]
    assert ratio.min() >= 1 / 8 - 1e-6 and ratio.max() <= 1 / 3 + 1e-6
    assert not np.allclose(tr1, tr2)  # 每次训练调用重新抽样
    np.testing.assert_array_equal(tr1[~neg], Z[~neg])
    # 放进模型里：fit 用训练行为，predict 用推断行为
    model = keras.Sequential([keras.Input((200,)), A.RReLU(seed=0)])
    np.testing.assert_allclose(model.predict(Z, verbose=0), inf, rtol=1e-6)
    assert A.make_rrelu_layer() is A.RReLU  # 类只构造一次
    cfg = layer.get_config()
    assert (cfg["lower"], cfg["upper"], cfg["seed"]) == (1 / 8, 1 / 3, 3)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "linear"])
def test_derivative_matches_gradient_tape_including_zero(name):
    """导数与 TensorFlow 自动微分一致，包括 ReLU 在 z = 0 处取 0 的约定。"""
    import tensorflow as tf

    fns = {
        "relu": tf.nn.relu,
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "linear": tf.identity,
    }
    z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    z_tf = tf.Variable(z)
    with tf.GradientTape() as tape:
        a = fns[name](z_tf)
    _, g_grad = A.get(name)
    np.testing.assert_allclose(g_grad(z), tape.gradient(a, z_tf).numpy())

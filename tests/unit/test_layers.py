"""dlbook.layers：模块化的层与 dlbook.mlp、tf.GradientTape、Keras 一致。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook import layers, mlp

ACTS = ["relu", "sigmoid", "tanh", "linear"]


@st.composite
def networks(draw):
    """随机层数、层宽、激活函数和批量；偏置也随机，才能检验 db。"""
    depth = draw(st.integers(1, 3))
    sizes = draw(
        st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1)
    )
    sizes[-1] = max(sizes[-1], 2)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    params = mlp.init_params(sizes, seed=seed)
    for p in params:
        p["b"] = rng.normal(scale=0.5, size=p["b"].shape)
    acts = [draw(st.sampled_from(ACTS)) for _ in range(depth - 1)]
    m = draw(st.integers(1, 5))
    X = rng.normal(size=(m, sizes[0]))
    y = rng.integers(0, sizes[-1], size=m)
    return params, X, y, acts + ["linear"], seed


@settings(max_examples=40, deadline=None)
@given(networks())
def test_same_gradients_as_dlbook_mlp(net):
    params, X, y, acts, _ = net
    model = layers.from_mlp(params, acts)
    value = model.loss_and_grads(X, y)
    ref_value, ref = mlp.loss_and_grads(params, X, y, acts)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    dense = [la for la in model.layers if isinstance(la, layers.Dense)]
    for la, r in zip(dense, ref, strict=True):
        for key in ("W", "b"):
            np.testing.assert_allclose(la.grads[key], r[key], atol=1e-12)


def _tape_reference(model, X, Y):
    return layers.tape_loss_and_grads(model, X, Y)


@settings(max_examples=30, deadline=None)
@given(networks(), st.sampled_from([0.0, 0.3, 0.6]))
def test_matches_gradient_tape_with_dropout(net, rate):
    params, X, y, acts, seed = net
    model = layers.from_mlp(params, acts)
    # 每个隐藏层之后插一个 Dropout
    stack = []
    for la in model.layers:
        stack.append(la)
        if isinstance(la, layers.Activation) and la is not model.layers[-1]:
            stack.append(layers.Dropout(rate, seed=seed))
    model = layers.Sequential(stack)
    Y = np.eye(params[-1]["W"].shape[0])[y]
    value = model.loss_and_grads(X, Y, training=True)
    ref_value, ref = _tape_reference(model, X, Y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10)
    ours = layers.dense_grads(model)
    for g, r in zip(ours, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_dropout_keeps_the_expectation_and_is_identity_at_inference():
    drop = layers.Dropout(0.25, seed=0)
    X = np.ones((400, 500))
    out = drop.forward(X, training=True)
    assert abs((out == 0).mean() - 0.25) < 0.01
    assert abs(out.mean() - 1) < 0.01  # 反向随机丢弃：期望不变
    np.testing.assert_array_equal(drop.backward(X), out)  # 掩码相同
    np.testing.assert_array_equal(drop.forward(X), X)
    np.testing.assert_array_equal(drop.backward(X), X)


def test_dropout_backward_fails_without_the_mask():
    """检验能失败：反向时不乘掩码，梯度就与 TensorFlow 不同。"""
    params = mlp.init_params([4, 5, 3], seed=0)
    model = layers.from_mlp(params, ["relu", "linear"])
    drop = layers.Dropout(0.5, seed=1)
    model = layers.Sequential(model.layers[:2] + [drop] + model.layers[2:])
    X = np.random.default_rng(0).normal(size=(6, 4))
    Y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    drop.backward = lambda dY: dY  # 错误：忘了掩码
    model.loss_and_grads(X, Y, training=True)
    _, ref = _tape_reference(model, X, Y)
    assert not np.allclose(model.layers[0].grads["W"], ref[0])


def test_dense_matches_keras_dense():
    import keras

    dense = layers.Dense(5, 3, seed=0)
    k = keras.layers.Dense(3)
    k.build((None, 5))
    k.set_weights([dense.params["W"].T, dense.params["b"]])  # kernel = W^T
    X = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(k(X)),
        dense.forward(X),
        rtol=1e-5,
        atol=1e-6,
    )


def test_clear_errors():
    with pytest.raises(ValueError, match=r"\(批量大小, 5\)"):
        layers.Dense(5, 3).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="正整数"):
        layers.Dense(0, 3)
    model = layers.Sequential([layers.Dense(2, 3)])
    with pytest.raises(ValueError, match="0 到 2"):
        model.loss_and_grads(np.zeros((1, 2)), np.array([3]))
    with pytest.raises(ValueError, match="relu"):
        layers.Activation("softplus")


def _keras_batchnorm(bn):
    """与 ``bn`` 参数、滑动统计量相同的 keras.layers.BatchNormalization。"""
    import keras

    n = len(bn.params["gamma"])
    k = keras.layers.BatchNormalization(
        momentum=bn.momentum, epsilon=bn.epsilon, dtype="float64"
    )
    k.build((None, n))
    k.set_weights(
        [bn.params["gamma"], bn.params["beta"], bn.moving_mean, bn.moving_var]
    )
    return k


def _tape(k_bn, X, dY, training):
    """Keras 的输出，以及 sum(输出 * dY) 对输入、gamma、beta 的梯度。"""
    import tensorflow as tf

    X = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        out = k_bn(X, training=training)
        loss = tf.reduce_sum(out * dY)
    grads = tape.gradient(loss, [X, k_bn.gamma, k_bn.beta])
    return out.numpy(), [g.numpy() for g in grads]


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(2, 9),
    n=st.integers(1, 4),
    momentum=st.sampled_from([0.0, 0.9, 0.99]),
    seed=st.integers(0, 2**16),
)
def test_batchnorm_matches_keras_in_both_modes(m, n, momentum, seed):
    rng = np.random.default_rng(seed)
    bn = layers.BatchNorm(n, momentum=momentum)
    bn.params["gamma"] = rng.normal(size=n)
    bn.params["beta"] = rng.normal(size=n)
    k_bn = _keras_batchnorm(bn)
    X = rng.normal(1.0, 2.0, size=(m, n))
    dY = rng.normal(size=(m, n))
    for training in (True, False):  # 推理用训练那一步更新后的滑动统计量
        out = bn.forward(X, training=training)
        ours = [bn.backward(dY), bn.grads["gamma"], bn.grads["beta"]]
        k_out, ref = _tape(k_bn, X, dY, training)
        np.testing.assert_allclose(out, k_out, atol=1e-10)
        for g, r in zip(ours, ref, strict=True):
            np.testing.assert_allclose(g, r, atol=1e-9)
        np.testing.assert_allclose(bn.moving_mean, k_bn.moving_mean.numpy())
        np.testing.assert_allclose(
            bn.moving_var, k_bn.moving_variance.numpy()
        )


def test_batchnorm_naive_backward_is_wrong_and_columns_sum_to_zero():
    """对照：把均值、方差当常数的反向与 Keras 不同；正确的 dX 每列和为 0。"""
    rng = np.random.default_rng(0)
    bn = layers.BatchNorm(3)
    bn.params["gamma"] = rng.normal(size=3)
    X, dY = rng.normal(2.0, 3.0, size=(8, 3)), rng.normal(size=(8, 3))
    k_bn = _keras_batchnorm(bn)
    bn.forward(X, training=True)
    dX = bn.backward(dY)
    _, (ref, *_) = _tape(k_bn, X, dY, training=True)
    naive = dY * bn.params["gamma"] / bn.std
    assert np.abs(naive - ref).max() > 0.1
    np.testing.assert_allclose(dX.sum(axis=0), 0, atol=1e-12)
    # 推理模式下列和一般不为 0
    bn.forward(X, training=False)
    assert np.abs(bn.backward(dY).sum(axis=0)).max() > 0.1


def test_batchnorm_trains_inside_sequential():
    """BatchNorm 放进 Sequential：整网的梯度与数值差分一致。"""
    rng = np.random.default_rng(1)
    model = layers.Sequential(
        [layers.Dense(4, 5, seed=0), layers.BatchNorm(5), layers.Activation(
            "tanh"), layers.Dense(5, 3, seed=1)]
    )  # fmt: skip
    bn = model.layers[1]
    bn.params["gamma"] = rng.normal(size=5)
    X, y = rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
    model.loss_and_grads(X, y)
    grad = bn.grads["gamma"].copy()
    eps, numeric = 1e-6, np.zeros(5)
    for j in range(5):
        for sign in (1, -1):
            bn.params["gamma"][j] += sign * eps
            numeric[j] += sign * model.loss_and_grads(X, y) / (2 * eps)
            bn.params["gamma"][j] -= sign * eps
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_batchnorm_clear_errors():
    with pytest.raises(ValueError, match=r"\(批量大小, 3\)"):
        layers.BatchNorm(3).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="momentum"):
        layers.BatchNorm(3, momentum=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        layers.BatchNorm(3, epsilon=0)
    with pytest.raises(ValueError, match="正整数"):
        layers.BatchNorm(0)

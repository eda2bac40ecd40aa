"""NumPy 多层网络：梯度与有限差分、tf.GradientTape、Keras 逐一比对。"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import mlp
from dlbook.activations import sigmoid_grad

ACTS = ["relu", "sigmoid", "tanh"]


@st.composite
def networks(draw):
    """随机的小网络：层宽、激活函数、批量大小、损失与数据。"""
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=5))
    n_layers = len(sizes) - 1
    hidden = draw(
        st.lists(
            st.sampled_from(ACTS),
            min_size=n_layers - 1,
            max_size=n_layers - 1,
        )
    )
    loss = draw(st.sampled_from(mlp.LOSSES))
    if loss == "softmax_ce":
        sizes[-1] = max(sizes[-1], 2)
        out = "linear"
    else:
        out = draw(st.sampled_from(["sigmoid", "linear", "tanh"]))
    m = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = mlp.init_params(sizes, seed=seed)
    for p in params:  # 偏置也取非零值，才能检验 db
        p["b"] = rng.normal(scale=0.5, size=p["b"].shape)
    X = rng.normal(size=(m, sizes[0]))
    if loss == "softmax_ce":
        y = rng.integers(0, sizes[-1], size=m)
    else:
        y = rng.uniform(size=(m, sizes[-1]))
    return params, X, y, hidden + [out], loss


def _kinks(params, X, acts):
    """ReLU 在 0 处不可导：加权输入离 0 太近时差分不可信。"""
    _, cache = mlp.forward(X, params, acts)
    return any(
        name == "relu" and np.abs(Z).min() < 1e-4
        for (_, Z), name in zip(cache, acts, strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(networks())
def test_gradient_check_float64(net):
    params, X, y, acts, loss = net
    assume(not _kinks(params, X, acts))
    _, grads = mlp.loss_and_grads(params, X, y, acts, loss)
    numeric = mlp.numerical_grads(params, X, y, acts, loss)
    assert mlp.relative_error(grads, numeric) < 1e-7


@settings(max_examples=40, deadline=None)
@given(networks())
def test_matches_gradient_tape(net):
    params, X, y, acts, loss = net
    value, grads = mlp.loss_and_grads(params, X, y, acts, loss)
    ref_value, ref = mlp.tf_loss_and_grads(params, X, y, acts, loss)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for g, r in zip(grads, ref, strict=True):
        for key in ("W", "b"):
            np.testing.assert_allclose(g[key], r[key], rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(networks(), st.floats(1e-3, 1.0))
def test_l2_penalty_adds_lambda_w_and_keras_l2_has_no_half(net, lam):
    # 反向传播一页：J = L + λ/2 Σ‖W‖² 的梯度是 BP 的梯度加 λW；
    # Keras 的 L2(l2) 是 l2 Σw²，所以 L2(λ/2) 对应 λ
    import keras
    import tensorflow as tf

    params, X, y, acts, loss = net
    _, grads = mlp.loss_and_grads(params, X, y, acts, loss)
    Ws = [tf.Variable(p["W"]) for p in params]
    with tf.GradientTape(persistent=True) as tape:
        ours = lam / 2 * tf.add_n([tf.reduce_sum(W**2) for W in Ws])
        half = tf.add_n([keras.regularizers.L2(lam / 2)(W) for W in Ws])
        full = tf.add_n([keras.regularizers.L2(lam)(W) for W in Ws])
    for p, g, dW, dH, dF in zip(
        params,
        grads,
        tape.gradient(ours, Ws),
        tape.gradient(half, Ws),
        tape.gradient(full, Ws),
        strict=True,
    ):
        np.testing.assert_allclose(
            g["W"] + dW.numpy(), g["W"] + lam * p["W"], rtol=1e-12
        )
        # Keras 按 float32 处理系数 l2，只能要求 float32 的精度
        np.testing.assert_allclose(dH.numpy(), lam * p["W"], rtol=1e-6)
        np.testing.assert_allclose(dF.numpy(), 2 * lam * p["W"], rtol=1e-6)


def test_gradient_check_detects_a_wrong_gradient():
    """检验本身要能失败：把 δ 的递推故意写错，相对误差必须变大。"""
    ex = mlp.worked_example()
    args = (ex["params"], ex["x"], ex["y"], ex["activations"])
    _, grads = mlp.loss_and_grads(*args)
    grads[0]["W"] = grads[0]["W"] * 1.01
    assert mlp.relative_error(grads, mlp.numerical_grads(*args)) > 1e-4


def test_worked_example_against_tensorflow():
    """手算例子的每个中间量，与 TensorFlow 独立算出的值比对。"""
    import tensorflow as tf

    ex = mlp.worked_example()
    (p1, p2), x, y = ex["params"], ex["x"], ex["y"]
    _, cache = mlp.forward(x, ex["params"], ex["activations"])
    value, grads = mlp.loss_and_grads(ex["params"], x, y, ex["activations"])

    W1, b1 = tf.Variable(p1["W"]), tf.Variable(p1["b"])
    W2, b2 = tf.Variable(p2["W"]), tf.Variable(p2["b"])
    with tf.GradientTape(persistent=True) as tape:
        z1 = tf.linalg.matvec(W1, x[0]) + b1
        tape.watch(z1)
        a1 = tf.sigmoid(z1)
        z2 = tf.linalg.matvec(W2, a1) + b2
        tape.watch(z2)
        y_hat = tf.nn.softmax(z2)
        loss = -tf.math.log(y_hat[int(y[0])])
    np.testing.assert_allclose(cache[0][1][0], z1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cache[1][0][0], a1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cache[1][1][0], z2.numpy(), rtol=1e-12)
    np.testing.assert_allclose(value, loss.numpy(), rtol=1e-12)
    # δ^[2] = ŷ - y 与 δ^[1] 就是损失对 z 的导数
    _, delta2 = mlp.softmax_cross_entropy(cache[1][1], y)
    np.testing.assert_allclose(
        delta2[0], tape.gradient(loss, z2).numpy(), atol=1e-12
    )
    delta1 = (delta2 @ p2["W"]) * sigmoid_grad(cache[0][1])
    np.testing.assert_allclose(
        delta1[0], tape.gradient(loss, z1).numpy(), atol=1e-12
    )
    for g, var in zip(
        [grads[0]["W"], grads[0]["b"], grads[1]["W"], grads[1]["b"]],
        [W1, b1, W2, b2],
        strict=True,
    ):
        np.testing.assert_allclose(g, tape.gradient(loss, var), atol=1e-12)
    # 独立的数值：用 math 模块逐项计算损失
    import math

    z1_ref = [0.1 * 1 + 0.2 * 2 + 0.1, -0.3 + 0.8, 0.5 - 1.2 - 0.1]
    a1_ref = [1 / (1 + math.exp(-z)) for z in z1_ref]
    z2_ref = [
        0.3 * a1_ref[0] - 0.2 * a1_ref[1] + 0.1 * a1_ref[2],
        0.2 * a1_ref[0] + 0.4 * a1_ref[1] - 0.5 * a1_ref[2] + 0.1,
    ]
    loss_ref = math.log(sum(math.exp(z) for z in z2_ref)) - z2_ref[1]
    assert value == pytest.approx(loss_ref, rel=1e-12)


def test_softmax_cross_entropy_is_stable():
    Z = np.array([[1000.0, 0.0], [-1000.0, 1000.0]])
    value, Delta = mlp.softmax_cross_entropy(Z, np.array([0, 0]))
    assert np.isfinite(value) and np.all(np.isfinite(Delta))
    # 第二个样本以极大的把握判错：损失约为 2000
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(Delta, [[0.0, 0.0], [-1.0, 1.0]], atol=1e-12)


def test_one_training_step_matches_keras():
    """同样的初始权重、同样的批量，一步 SGD 之后 NumPy 与 Keras 一致。"""
    import keras

    acts = ["relu", "tanh", "linear"]
    params = mlp.init_params([6, 5, 4, 3], seed=1, dtype=np.float32)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=8)
    model = mlp.to_keras(params, acts)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(X)),
        mlp.forward(X, params, acts)[0],
        rtol=1e-5,
        atol=1e-6,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(X, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    _, grads = mlp.loss_and_grads(params, X, y, acts)
    mlp.sgd_step(params, grads, 0.5)
    for p, k in zip(params, mlp.keras_params(model), strict=True):
        np.testing.assert_allclose(p["W"], k["W"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p["b"], k["b"], rtol=1e-4, atol=1e-6)


def test_sgd_reduces_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = mlp.init_params([4, 8, 2], seed=0)
    acts = ["tanh", "linear"]
    before, _ = mlp.loss_and_grads(params, X, y, acts)
    for _ in range(50):
        mlp.sgd_epoch(params, X, y, acts, lr=0.5, batch_size=16)
    after, _ = mlp.loss_and_grads(params, X, y, acts)
    assert after < 0.5 * before


def test_init_matches_glorot_bounds_and_shapes():
    params = mlp.init_params([784, 128, 10], seed=3)
    assert [p["W"].shape for p in params] == [(128, 784), (10, 128)]
    limit = np.sqrt(6 / (784 + 128))
    assert np.abs(params[0]["W"]).max() <= limit
    assert np.all(params[0]["b"] == 0)


# ------------------------------------------------------------ 错误信息


def test_input_with_wrong_number_of_features():
    params = mlp.init_params([4, 3, 2])
    with pytest.raises(ValueError, match=r"X 的形状为 \(5, 7\).*展平"):
        mlp.forward(np.zeros((5, 7)), params, ["relu", "linear"])


def test_unflattened_images_are_rejected():
    params = mlp.init_params([784, 3, 2])
    with pytest.raises(ValueError, match=r"\(批量大小, 784\)"):
        mlp.forward(np.zeros((5, 28, 28)), params, ["relu", "linear"])


def test_mismatched_layer_shapes():
    params = mlp.init_params([4, 3, 2])
    params[1]["W"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match="第 2 层的 W 形状为 \\(2, 5\\)"):
        mlp.forward(np.zeros((1, 4)), params, ["relu", "linear"])


def test_wrong_number_of_activations():
    params = mlp.init_params([4, 3, 2])
    with pytest.raises(ValueError, match="网络有 2 层，却给了 1 个"):
        mlp.forward(np.zeros((1, 4)), params, ["relu"])


def test_unknown_activation():
    params = mlp.init_params([4, 3, 2])
    with pytest.raises(ValueError, match="未知的激活函数 'swish'"):
        mlp.forward(np.zeros((1, 4)), params, ["swish", "linear"])


def test_unknown_loss_and_bad_labels():
    params = mlp.init_params([4, 3, 2])
    X = np.zeros((2, 4))
    with pytest.raises(ValueError, match="未知的损失函数 'hinge'"):
        mlp.loss_and_grads(
            params, X, np.array([0, 1]), ["relu", "linear"], "hinge"
        )
    with pytest.raises(ValueError, match="标签取值应在 0 到 1 之间"):
        mlp.loss_and_grads(params, X, np.array([0, 5]), ["relu", "linear"])
    with pytest.raises(ValueError, match="要求输出层激活为 'linear'"):
        mlp.loss_and_grads(params, X, np.array([0, 1]), ["relu", "sigmoid"])
    with pytest.raises(ValueError, match=r"目标的形状为 \(2, 3\)"):
        mlp.loss_and_grads(
            params, X, np.zeros((2, 3)), ["relu", "sigmoid"], "mse"
        )


def test_bad_layer_sizes():
    with pytest.raises(ValueError, match="layer_sizes 应至少含两个正整数"):
        mlp.init_params([784])


def test_fit_numpy_and_fit_keras_follow_the_same_trajectory():
    """同样的初始权重与批量顺序：两边每轮的损失与准确率几乎相同。"""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(96, 12)).astype(np.float32)
    y = (X[:, :4].sum(axis=1) > 2).astype(np.int64) + 2 * (X[:, 4] > 0.5)
    data = (X[:64], y[:64], X[64:], y[64:])
    acts = ["relu", "sigmoid", "linear"]
    params = mlp.init_params([12, 8, 6, 4], seed=5, dtype=np.float32)
    model = mlp.to_keras(params, acts)
    orders = mlp.epoch_orders(64, 3, seed=1)
    h_np = mlp.fit_numpy(params, acts, data, 0.3, 10, orders)
    h_keras = mlp.fit_keras(model, data, 0.3, 10, orders)
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(h_np[key], h_keras[key], rtol=1e-4)
    assert h_np["train_loss"][-1] < h_np["train_loss"][0]
    for p, k in zip(params, mlp.keras_params(model), strict=True):
        np.testing.assert_allclose(p["W"], k["W"], rtol=1e-4, atol=1e-5)


def test_init_params_is_deterministic():
    a = mlp.init_params([5, 4, 3], seed=7)
    b = mlp.init_params([5, 4, 3], seed=7)
    c = mlp.init_params([5, 4, 3], seed=8)
    assert all(
        np.array_equal(p["W"], q["W"]) for p, q in zip(a, b, strict=True)
    )
    assert not np.array_equal(a[0]["W"], c[0]["W"])


@settings(max_examples=30, deadline=None)
@given(networks())
def test_layer_deltas_are_what_backward_uses(net):
    """Δ^[l] 与 backward 一致：dW = Δ^T A^[l-1] / m，db = Δ 的列均值。"""
    params, X, y, acts, loss = net
    deltas = mlp.layer_deltas(params, X, y, acts, loss)
    _, grads = mlp.loss_and_grads(params, X, y, acts, loss)
    _, cache = mlp.forward(X, params, acts)
    for D, (A_prev, _), g in zip(deltas, cache, grads, strict=True):
        np.testing.assert_allclose(D.T @ A_prev / len(X), g["W"], atol=1e-12)
        np.testing.assert_allclose(D.mean(axis=0), g["b"], atol=1e-12)
    norms = mlp.layer_delta_norms(params, X, y, acts, loss)
    np.testing.assert_allclose(
        norms, [np.linalg.norm(D, axis=1).mean() for D in deltas]
    )


def test_delta_norms_vanish_with_sigmoid_not_with_he_relu():
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 30)), rng.integers(0, 5, size=64)
    sizes = [30] + [40] * 8 + [5]
    sig = mlp.layer_delta_norms(
        mlp.init_params(sizes, seed=0), X, y, ["sigmoid"] * 8 + ["linear"]
    )
    assert sig[0] / sig[-1] < 0.25**6  # 每层约缩小到 1/4
    he = mlp.init_params(sizes, seed=0)
    for p in he:
        p["W"] = rng.normal(0, np.sqrt(2 / p["W"].shape[1]), p["W"].shape)
    relu = mlp.layer_delta_norms(he, X, y, ["relu"] * 8 + ["linear"])
    assert 0.2 < relu[0] / relu[-2] < 5


def test_public_functions_reject_bad_arguments():
    params = mlp.init_params([3, 2], seed=0)
    with pytest.raises(ValueError, match="梯度却有"):
        mlp.sgd_step(params, [], 0.1)
    X, y = np.zeros((4, 3)), np.zeros(4, int)
    with pytest.raises(ValueError, match="排列"):
        mlp.sgd_epoch(params, X, y, ["linear"], 0.1, 2, order=[0, 0, 1, 2])
    with pytest.raises(ValueError, match="未知的损失函数"):
        mlp.tf_loss_and_grads(params, X, y, ["linear"], loss="hinge")


@settings(max_examples=30, deadline=None)
@given(networks())
def test_cache_size_is_batch_times_sum_of_widths(net):
    """forward 为反向缓存的数：每层的 Z^[l] 与除输入外的 A^[l-1]。"""
    params, X, _, acts, _ = net
    _, cache = mlp.forward(X, params, acts)
    widths = [p["W"].shape[0] for p in params]
    n_cached = sum(Z.size + (A.size if A is not X else 0) for A, Z in cache)
    assert n_cached == len(X) * (2 * sum(widths) - widths[-1])

"""dlbook.pooling 与 Keras 池化层逐元素比对（容差 rtol=1e-5、atol=1e-6）。"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import pooling as P

TOL = dict(rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["valid", "same"]),
    st.sampled_from(["max", "avg"]),
    st.integers(0, 2**16),
)
def test_pool2d_matches_keras(n, H, W, c, ph, pw, s, padding, mode, seed):
    import keras

    assume(padding == "same" or (ph <= H and pw <= W))
    X = np.random.default_rng(seed).normal(size=(n, H, W, c))
    X = X.astype(np.float32)
    cls = {
        "max": keras.layers.MaxPooling2D,
        "avg": keras.layers.AveragePooling2D,
    }[mode]
    ref = keras.ops.convert_to_numpy(
        cls((ph, pw), strides=s, padding=padding)(X)
    )
    Y = P.pool2d(X, (ph, pw), s, padding, mode)
    assert Y.shape == ref.shape
    np.testing.assert_allclose(Y, ref, **TOL)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 4),
    st.integers(0, 2**16),
)
def test_global_pooling_matches_keras(n, H, W, c, seed):
    import keras

    X = np.random.default_rng(seed).normal(size=(n, H, W, c))
    X = X.astype(np.float32)
    for mode, cls in (
        ("avg", keras.layers.GlobalAveragePooling2D),
        ("max", keras.layers.GlobalMaxPooling2D),
    ):
        ref = keras.ops.convert_to_numpy(cls()(X))
        np.testing.assert_allclose(P.global_pool2d(X, mode), ref, **TOL)


def test_small_example_by_hand():
    X = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(
        P.max_pool2d(X)[0, :, :, 0], [[5, 7], [13, 15]]
    )
    np.testing.assert_array_equal(
        P.avg_pool2d(X)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]]
    )


def test_same_avg_pooling_ignores_padding():
    # 3×3 全 1 图，2×2 窗口、same 填充：边缘窗口只平均真实像素，仍为 1
    X = np.ones((1, 3, 3, 1))
    np.testing.assert_array_equal(P.avg_pool2d(X, padding="same"), 1.0)


def test_max_pool_commutes_with_monotone_activation():
    from dlbook.activations import relu

    X = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    np.testing.assert_array_equal(
        P.max_pool2d(relu(X)), relu(P.max_pool2d(X))
    )


def test_bad_arguments():
    X = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match="扩张后边长 5"):
        P.max_pool2d(X, 5)
    with pytest.raises(ValueError, match="stride=0"):
        P.max_pool2d(X, 2, 0)
    with pytest.raises(ValueError, match="未知的池化方式 'median'"):
        P.pool2d(X, mode="median")
    with pytest.raises(ValueError, match="形状应为"):
        P.global_pool2d(np.zeros((4, 4)))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2),
    H=st.integers(3, 9),
    W=st.integers(3, 9),
    c=st.integers(1, 3),
    f=st.integers(2, 3),
    s=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    mode=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**16),
)
def test_pool2d_backward_matches_gradient_tape(
    n, H, W, c, f, s, padding, mode, seed
):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, H, W, c)).astype(np.float32)
    layer = {
        "max": keras.layers.MaxPooling2D,
        "avg": keras.layers.AveragePooling2D,
    }[mode](f, strides=s, padding=padding)
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        Y = layer(Xt)
        G = rng.normal(size=Y.shape).astype(np.float32)
        loss = tf.reduce_sum(Y * G)
    ref = tape.gradient(loss, Xt).numpy()
    ours = P.pool2d_backward(X, G, f, s, padding, mode)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_max_pool_gradient_goes_to_the_argmax_only():
    X = np.array([[1.0, 5.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    dX = P.pool2d_backward(X, np.full((1, 1, 1, 1), 7.0), 2)
    np.testing.assert_array_equal(dX[0, :, :, 0], [[0, 7], [0, 0]])
    dX = P.pool2d_backward(X, np.full((1, 1, 1, 1), 8.0), 2, mode="avg")
    np.testing.assert_array_equal(dX[0, :, :, 0], [[2, 2], [2, 2]])

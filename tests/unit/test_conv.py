"""dlbook.conv 与 Keras/TensorFlow/SciPy 逐元素比对，输出尺寸与 Keras 比对。

容差：float32 输入上与 TensorFlow 比较用 rtol=1e-4、atol=1e-4（求和顺序
不同造成的舍入误差随 f²·c_in 增长，量级约 1e-6～1e-5）；float64 上与
SciPy 比较用 atol=1e-10。
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import conv as C

TOL = dict(rtol=1e-4, atol=1e-4)


@st.composite
def conv_case(draw, allow_dilation=True):
    """随机生成一组卷积参数与数据（保证卷积核不大于填充后的输入）。"""
    f_h = draw(st.integers(1, 4))
    f_w = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    dilation = 1
    if allow_dilation and stride == 1:  # TF 不支持步长与扩张率同时 > 1
        dilation = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    H = draw(st.integers(dilation * (f_h - 1) + 1, 10))
    W = draw(st.integers(dilation * (f_w - 1) + 1, 10))
    n = draw(st.integers(1, 3))
    c_in = draw(st.integers(1, 4))
    c_out = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, H, W, c_in)).astype(np.float32)
    K = rng.normal(size=(f_h, f_w, c_in, c_out)).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32)
    return X, K, b, stride, padding, dilation


# ---------------------------------------------------------------- 互相关


def test_corr2d_small_example():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(C.corr2d(X, K), [[19, 25], [37, 43]])


@settings(max_examples=40, deadline=None)
@given(conv_case())
def test_conv2d_matches_tf_nn_conv2d(case):
    import tensorflow as tf

    X, K, b, s, padding, d = case
    ref = tf.nn.conv2d(X, K, s, padding.upper(), dilations=d).numpy() + b
    np.testing.assert_allclose(C.conv2d(X, K, b, s, padding, d), ref, **TOL)
    np.testing.assert_allclose(
        C.conv2d_loops(X, K, b, s, padding, d), ref, **TOL
    )


@settings(max_examples=15, deadline=None)
@given(conv_case())
def test_conv2d_matches_keras_conv2d_layer(case):
    import keras

    X, K, b, s, padding, d = case
    layer = keras.layers.Conv2D(
        K.shape[-1],
        K.shape[:2],
        strides=s,
        padding=padding,
        dilation_rate=d,
    )
    layer.build(X.shape)
    layer.set_weights([K, b])
    ref = keras.ops.convert_to_numpy(layer(X))
    np.testing.assert_allclose(C.conv2d(X, K, b, s, padding, d), ref, **TOL)


@settings(max_examples=25, deadline=None)
@given(conv_case(allow_dilation=False), st.integers(0, 3), st.integers(0, 3))
def test_arbitrary_padding_matches_zeropadding2d(case, p_h, p_w):
    import keras
    import tensorflow as tf

    X, K, b, s, _, _ = case
    Xp = keras.ops.convert_to_numpy(
        keras.layers.ZeroPadding2D(((p_h, p_h), (p_w, p_w)))(X)
    )
    ref = tf.nn.conv2d(Xp, K, s, "VALID").numpy()
    Y = C.conv2d(X, K, stride=s, padding=((p_h, p_h), (p_w, p_w)))
    np.testing.assert_allclose(Y, ref, **TOL)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(["full", "valid", "same"]),
    st.integers(0, 2**16),
)
def test_convolve2d_matches_scipy(H, W, fh, fw, mode, seed):
    from scipy import signal

    assume(mode != "valid" or (fh <= H and fw <= W))
    rng = np.random.default_rng(seed)
    X, K = rng.normal(size=(H, W)), rng.normal(size=(fh, fw))
    np.testing.assert_allclose(
        C.convolve2d(X, K, mode), signal.convolve2d(X, K, mode), atol=1e-10
    )


def test_correlation_is_not_convolution_for_asymmetric_kernel():
    from scipy import signal

    X = np.arange(16.0).reshape(4, 4)
    K = np.array([[1.0, 0.0], [0.0, -1.0]])
    assert not np.allclose(C.corr2d(X, K), signal.convolve2d(X, K, "valid"))
    np.testing.assert_allclose(
        C.corr2d(X, K), signal.correlate2d(X, K, "valid")
    )


def test_replicate_padding_matches_numpy_edge_and_differs_from_zero():
    X = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    P = C.pad2d(X, 1, mode="replicate")[0, :, :, 0]
    np.testing.assert_array_equal(P[0], [1, 1, 2, 3, 3])
    np.testing.assert_array_equal(P[:, 0], [1, 1, 4, 4])
    assert C.pad2d(X, 1)[0, 0, 0, 0] == 0


# ---------------------------------------------------------------- 变体


@settings(max_examples=25, deadline=None)
@given(conv_case(allow_dilation=False), st.sampled_from(["valid", "same"]))
def test_conv_transpose2d_matches_keras(case, padding):
    # TF 的 CPU 实现不支持扩张的转置卷积；扩张的情形由下面的梯度测试覆盖
    import keras

    X, K, b, s, _, d = case
    # 转置卷积核布局 (核高, 核宽, 输出通道, 输入通道)
    Kt = np.ascontiguousarray(np.swapaxes(K, 2, 3))
    layer = keras.layers.Conv2DTranspose(
        Kt.shape[2],
        Kt.shape[:2],
        strides=s,
        padding=padding,
        dilation_rate=d,
    )
    layer.build(X.shape)
    layer.set_weights([Kt, b])
    ref = keras.ops.convert_to_numpy(layer(X))
    Y = C.conv_transpose2d(X, Kt, b, s, padding, d)
    assert Y.shape == ref.shape
    np.testing.assert_allclose(Y, ref, **TOL)


@settings(max_examples=15, deadline=None)
@given(conv_case())
def test_conv_transpose_is_gradient_of_conv(case):
    import tensorflow as tf

    X, K, _, s, padding, d = case
    # same 时 Keras 默认转置卷积输出 n·s，只有输入边长是 s 的倍数才与
    # 原卷积的输入对齐；否则需要 output_padding 来消除歧义
    assume(padding == "valid" or X.shape[1] % s == X.shape[2] % s == 0)
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        # TF 的 CPU 实现不能对扩张卷积求梯度，于是改用插零后的等价卷积核
        Y = tf.nn.conv2d(Xt, C.dilate_kernel(K, d), s, padding.upper())
        G = np.random.default_rng(0).normal(size=Y.shape).astype(np.float32)
        loss = tf.reduce_sum(Y * G)
    grad = tape.gradient(loss, Xt).numpy()
    Z = C.conv_transpose2d(G, K, stride=s, padding=padding, dilation=d)
    # 步长不能整除时，转置卷积的输出可能比 X 多几行（不影响 X，舍去），
    # 也可能少几行（那些输入像素从未被卷积核访问，梯度为 0）
    h, w = min(Z.shape[1], X.shape[1]), min(Z.shape[2], X.shape[2])
    Zc = np.zeros_like(grad)
    Zc[:, :h, :w] = Z[:, :h, :w]
    np.testing.assert_allclose(Zc, grad, **TOL)


@settings(max_examples=25, deadline=None)
@given(
    conv_case(allow_dilation=False),
    st.sampled_from(["valid", "same"]),
    st.data(),
)
def test_conv_transpose2d_output_padding_matches_keras(case, padding, data):
    import keras

    X, K, b, s, _, _ = case
    assume(s > 1)
    op = data.draw(st.integers(0, s - 1))
    Kt = np.ascontiguousarray(np.swapaxes(K, 2, 3))
    layer = keras.layers.Conv2DTranspose(
        Kt.shape[2],
        Kt.shape[:2],
        strides=s,
        padding=padding,
        output_padding=op,
    )
    layer.build(X.shape)
    layer.set_weights([Kt, b])
    try:
        ref = keras.ops.convert_to_numpy(layer(X))
    except Exception:  # TF 自己也拒绝一些 same + output_padding 的组合
        assume(False)
    Y = C.conv_transpose2d(X, Kt, b, s, padding, output_padding=op)
    assert Y.shape == ref.shape
    np.testing.assert_allclose(Y, ref, **TOL)


def test_output_padding_picks_one_of_the_inputs_that_share_an_output():
    # n = 7 与 n = 8（f = 3, s = 2）卷积后都是 3；转置卷积靠
    # output_padding 决定还原成哪一个
    assert C.conv_output_size(7, 3, 2) == C.conv_output_size(8, 3, 2) == 3
    sizes = [
        C.conv_transpose_output_size(3, 3, 2, "valid", op) for op in (0, 1)
    ]
    assert sizes == [7, 8]


def test_tiled_bias_is_shared_by_all_tiles():
    # 式 eq-convnets-tiled 与练习的参数个数都假定偏置由所有平铺共用
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1, 6, 6, 2))
    Wt = rng.normal(size=(2, 2, 3, 3, 2, 4))
    b = rng.normal(size=4)
    Y = C.conv2d_tiled(X, Wt, b)
    np.testing.assert_allclose(Y - C.conv2d_tiled(X, Wt), np.ones_like(Y) * b)
    with pytest.raises(ValueError, match="所有核共用"):
        C.conv2d_tiled(X, Wt, rng.normal(size=(2, 2, 4)))


def test_conv_transpose_is_matrix_transpose():
    rng = np.random.default_rng(1)
    K = rng.normal(size=(3, 3))
    Cm = C.conv_as_matrix(4, 4, K)
    Y = rng.normal(size=(1, 2, 2, 1))
    Z = C.conv_transpose2d(Y, K[:, :, None, None])
    np.testing.assert_allclose(Z.ravel(), Cm.T @ Y.ravel(), atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(conv_case(allow_dilation=False))
def test_tiled_with_t1_is_ordinary_conv(case):
    X, K, b, s, padding, _ = case
    np.testing.assert_allclose(
        C.conv2d_tiled(X, K[None, None], b, s, padding),
        C.conv2d(X, K, b, s, padding),
        rtol=1e-6,
    )


def test_tiled_uses_kernel_i_mod_t():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    X = rng.normal(size=(2, 7, 6, 2)).astype(np.float32)
    Wt = rng.normal(size=(2, 2, 3, 3, 2, 3)).astype(np.float32)
    Y = C.conv2d_tiled(X, Wt)
    for u in range(2):
        for v in range(2):
            ref = tf.nn.conv2d(X, Wt[u, v], 1, "VALID").numpy()
            np.testing.assert_allclose(
                Y[:, u::2, v::2], ref[:, u::2, v::2], **TOL
            )
    # 不同位置确实用了不同的核
    assert not np.allclose(Y, C.conv2d(X, Wt[0, 0]))


def test_1x1_conv_equals_dense_per_pixel():
    import keras

    rng = np.random.default_rng(3)
    X = rng.normal(size=(2, 5, 5, 8)).astype(np.float32)
    K = rng.normal(size=(1, 1, 8, 3)).astype(np.float32)
    dense = keras.layers.Dense(3, use_bias=False)
    dense.build((None, 8))
    dense.set_weights([K[0, 0]])
    ref = keras.ops.convert_to_numpy(dense(X))
    np.testing.assert_allclose(C.conv2d(X, K), ref, **TOL)


def test_dilate_kernel_is_equivalent_to_dilation():
    import tensorflow as tf

    rng = np.random.default_rng(4)
    X = rng.normal(size=(1, 9, 9, 2)).astype(np.float32)
    K = rng.normal(size=(3, 2, 2, 2)).astype(np.float32)
    ref = tf.nn.conv2d(X, K, 1, "VALID", dilations=2).numpy()
    np.testing.assert_allclose(
        tf.nn.conv2d(X, C.dilate_kernel(K, 2), 1, "VALID").numpy(),
        ref,
        **TOL,
    )


def test_receptive_field_matches_impulse_response():
    import tensorflow as tf

    # 全 1 核关于中心对称：输入中心的单位脉冲经各层传播后所波及的范围，
    # 恰好等于一个输出像素的感受野（TF 的 CPU 实现不能对扩张卷积求梯度）
    layers = [(3, 1, 1), (3, 1, 2), (3, 1, 4)]
    Y = np.zeros((1, 41, 41, 1), dtype=np.float32)
    Y[0, 20, 20, 0] = 1
    for f, s, d in layers:
        Y = tf.nn.conv2d(Y, tf.ones((f, f, 1, 1)), s, "SAME", dilations=d)
    rows = np.flatnonzero(Y.numpy()[0, :, :, 0].sum(axis=1))
    assert rows[-1] - rows[0] + 1 == C.receptive_field(layers) == 15


# ---------------------------------------------------------------- 输出尺寸


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 7),
    st.integers(1, 5),
    st.integers(1, 4),
    st.sampled_from(["valid", "same"]),
)
def test_conv_output_size_matches_keras(n, f, s, d, padding):
    import keras

    assume(s == 1 or d == 1)
    assume(padding == "same" or d * (f - 1) + 1 <= n)
    layer = keras.layers.Conv2D(
        1, f, strides=s, padding=padding, dilation_rate=d
    )
    shape = layer.compute_output_shape((None, n, n + 1, 1))
    if padding == "same" or d * (f - 1) + 1 <= n + 1:
        assert shape[1] == C.conv_output_size(n, f, s, padding, d)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(1, 5)),
    st.sampled_from(["valid", "same"]),
)
def test_pool_output_size_matches_keras(n, f, s, padding):
    import keras

    assume(padding == "same" or f <= n)
    for cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
        shape = cls(f, strides=s, padding=padding).compute_output_shape(
            (None, n, n, 1)
        )
        assert shape[1] == C.pool_output_size(n, f, s, padding)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from(["valid", "same"]),
)
def test_conv_transpose_output_size_matches_keras(n, f, s, d, padding):
    import keras

    assume(s == 1 or d == 1)
    layer = keras.layers.Conv2DTranspose(
        1, f, strides=s, padding=padding, dilation_rate=d
    )
    shape = layer.compute_output_shape((None, n, n, 1))
    assert shape[1] == C.conv_transpose_output_size(n, f, s, padding, None, d)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 7),
    st.integers(1, 4),
    st.integers(0, 4),
)
def test_output_size_formula_with_explicit_padding(n, f, s, p):
    assume(f <= n + 2 * p)
    assert C.conv_output_size(n, f, s, p) == (n + 2 * p - f) // s + 1


def test_lesson_example_16x16_5x5():
    assert C.conv_output_size(16, 5, 1, "valid") == 12
    assert C.same_padding_1d(5) == 2
    assert C.conv_output_size(16, 5, 1, "same") == 16
    assert C.conv_output_size(16, 5, 1, 2) == 16
    assert C.conv_output_size(16, 5, 1, "full") == 16 + 5 - 1


# ---------------------------------------------------------------- 报错


def test_kernel_larger_than_padded_input_is_a_clear_error():
    X = np.zeros((1, 4, 4, 1))
    K = np.zeros((5, 5, 1, 1))
    with pytest.raises(ValueError, match=r"扩张后边长 5.*边长 4 = 4 \+ 0"):
        C.conv2d(X, K)
    with pytest.raises(ValueError, match="扩张后边长 9"):
        C.conv_output_size(8, 3, dilation=4)
    # 填充后就够大了
    assert C.conv2d(X, K, padding=1).shape == (1, 2, 2, 1)


@pytest.mark.parametrize(
    "kw", [{"stride": 0}, {"dilation": 0}, {"stride": -1}]
)
def test_stride_and_dilation_below_one_are_errors(kw):
    X = np.zeros((1, 6, 6, 1))
    K = np.zeros((3, 3, 1, 1))
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"{name}={kw[name]}"):
        C.conv2d(X, K, **kw)
    with pytest.raises(ValueError, match=f"{name}={kw[name]}"):
        C.conv2d_loops(X, K, **kw)


def test_channel_mismatch_is_a_clear_error():
    X = np.zeros((1, 6, 6, 3))
    with pytest.raises(ValueError, match="输入 X 有 3 个通道.*输入通道为 2"):
        C.conv2d(X, np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="X 有 3 个通道.*输入通道）为 2"):
        C.conv_transpose2d(X, np.zeros((3, 3, 4, 2)))


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="未知的填充方式 'half'"):
        C.conv_output_size(8, 3, padding="half")
    with pytest.raises(ValueError, match="不能为负"):
        C.conv_output_size(8, 3, padding=-1)
    with pytest.raises(ValueError, match="形状应为"):
        C.conv2d(np.zeros((6, 6)), np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError, match="偶数"):
        C.same_padding_1d(4)
    with pytest.raises(ValueError, match="'full'"):
        C.pool_output_size(8, 2, padding="full")
    with pytest.raises(ValueError, match="replicate"):
        C.pad2d(np.zeros((1, 2, 2, 1)), 1, mode="mirror")


# ---------------------------------------------------------------- 反向传播


def _tf_conv_grads(X, K, s, padding, d, G):
    """用 tf.GradientTape 求 ∂L/∂X、∂L/∂K、∂L/∂b，L = sum(Z · G)。"""
    import tensorflow as tf

    Xt = tf.constant(X)
    # TF 的 CPU 实现不能对扩张卷积求梯度：改用插零后的等价核，
    # 对原核的梯度就是插零核在非零位置上的梯度
    Kt = tf.Variable(C.dilate_kernel(K, d))
    bt = tf.Variable(np.zeros(K.shape[-1], dtype=X.dtype))
    if isinstance(padding, int):
        pad = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    else:
        pad = padding.upper()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(Xt)
        Z = tf.nn.conv2d(Xt, Kt, s, pad) + bt
        loss = tf.reduce_sum(Z * G)
    dX, dK, db = (tape.gradient(loss, v).numpy() for v in (Xt, Kt, bt))
    return dX, dK[::d, ::d], db


@settings(max_examples=30, deadline=None)
@given(conv_case(), st.sampled_from(["string", 0, 1, 2]))
def test_conv2d_backward_matches_gradient_tape(case, explicit):
    X, K, b, s, padding, d = case
    if explicit != "string":
        padding = explicit
    Z = C.conv2d(X, K, b, s, padding, d)
    G = np.random.default_rng(1).normal(size=Z.shape).astype(np.float32)
    dX, dK, db = C.conv2d_backward(X, K, G, s, padding, d)
    ref = _tf_conv_grads(X, K, s, padding, d, G)
    for ours, want in zip((dX, dK, db), ref, strict=True):
        assert ours.shape == want.shape
        np.testing.assert_allclose(ours, want, **TOL)


def test_conv2d_backward_kernel_gradient_is_correlation_with_G():
    # 单通道、步长 1：∂L/∂K = corr2d(X, G)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1, 6, 7, 1))
    K = rng.normal(size=(3, 2, 1, 1))
    G = rng.normal(size=(1, 4, 6, 1))
    _, dK, _ = C.conv2d_backward(X, K, G)
    np.testing.assert_allclose(
        dK[:, :, 0, 0], C.corr2d(X[0, :, :, 0], G[0, :, :, 0]), atol=1e-12
    )


def test_conv2d_backward_rejects_wrong_upstream_shape():
    X, K = np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 2))
    with pytest.raises(ValueError, match="上游梯度 G 的形状"):
        C.conv2d_backward(X, K, np.zeros((1, 3, 3, 1)))


# ---------------------------------------------------------------- 一维卷积


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    length=st.integers(6, 14),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    f=st.integers(1, 4),
    d=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", "causal"]),
    seed=st.integers(0, 2**16),
)
def test_conv1d_matches_keras(n, length, c_in, c_out, f, d, padding, seed):
    import keras

    assume(d * (f - 1) + 1 <= length)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, length, c_in)).astype(np.float32)
    layer = keras.layers.Conv1D(
        c_out,
        f,
        padding=padding,
        dilation_rate=d,
        bias_initializer="random_normal",
    )
    ref = keras.ops.convert_to_numpy(layer(X))
    W, b = layer.get_weights()
    np.testing.assert_allclose(
        C.conv1d(X, W, b, padding=padding, dilation=d), ref, **TOL
    )


def test_causal_conv1d_never_looks_ahead():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1, 12, 1))
    W = rng.normal(size=(3, 1, 1))
    Y = C.conv1d(X, W, padding="causal", dilation=2)
    X2 = X.copy()
    X2[0, 7:] += 10.0  # 只改动 t >= 7 的输入
    Y2 = C.conv1d(X2, W, padding="causal", dilation=2)
    np.testing.assert_allclose(Y2[0, :7], Y[0, :7])  # 之前的输出不变
    assert not np.allclose(Y2[0, 7:], Y[0, 7:])
    # 对照："same" 填充会看到未来
    Ys = C.conv1d(X, W, padding="same", dilation=2)
    Ys2 = C.conv1d(X2, W, padding="same", dilation=2)
    assert not np.allclose(Ys2[0, :7], Ys[0, :7])


@pytest.mark.parametrize("f, c_in, c_out", [(3, 3, 4), (5, 8, 16), (1, 2, 3)])
def test_separable_counts_match_keras(f, c_in, c_out):
    import keras
    import tensorflow as tf

    n = 7
    counts = C.separable_conv_counts(n - f + 1, f, c_in, c_out)
    std = keras.layers.Conv2D(c_out, f)
    sep = keras.layers.SeparableConv2D(c_out, f)
    for layer in (std, sep):
        layer.build((None, n, n, c_in))
    assert counts["standard"][0] == std.count_params()
    assert counts["separable"][0] == sep.count_params()
    # 乘加次数 = 线性映射的雅可比矩阵里非零元的个数（随机权重下）
    X = tf.constant(np.random.default_rng(0).normal(size=(1, n, n, c_in)))
    dw = keras.layers.DepthwiseConv2D(f, use_bias=False, dtype="float64")
    pw = keras.layers.Conv2D(c_out, 1, use_bias=False, dtype="float64")
    sd = keras.layers.Conv2D(c_out, f, use_bias=False, dtype="float64")

    def nnz(layer, inp):
        with tf.GradientTape() as tape:
            tape.watch(inp)
            out = layer(inp)
        return int(np.count_nonzero(tape.jacobian(out, inp).numpy()))

    mid = dw(X)
    assert nnz(sd, X) == counts["standard"][1]
    assert nnz(dw, X) + nnz(pw, mid) == counts["separable"][1]

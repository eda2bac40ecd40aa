"""池化运算的 NumPy 实现，与 Keras 的池化层逐元素一致。

张量采用“通道在后”布局 (批量大小, 高, 宽, 通道)。池化对每个通道
分别进行，不跨通道混合，也没有可学习的参数。
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlbook._checks import pair
from dlbook.conv import padding_amounts, pool_output_size

POOL_MODES = ("max", "avg")


def pool2d(X, pool_size=2, stride=None, padding="valid", mode="max"):
    """计算二维最大池化或平均池化。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 通道)。
        pool_size: 池化窗口边长，整数或 (高, 宽)。
        stride: 步长，整数或二元组；None 时等于 pool_size（Keras 的约定）。
        padding: ``"valid"`` 或 ``"same"``。same 填充的位置不参与统计：
            最大池化视其为 -inf，平均池化只对窗口内的真实像素求平均，
            与 TensorFlow 相同。
        mode: ``"max"`` 或 ``"avg"``。

    Returns:
        形状 (批量大小, 输出高, 输出宽, 通道) 的数组，输出边长由
        :func:`dlbook.conv.pool_output_size` 给出。
    """
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(
            f"X 的形状应为 (批量大小, 高, 宽, 通道)，收到 {X.shape}。"
        )
    if mode not in POOL_MODES:
        raise ValueError(f"未知的池化方式 {mode!r}；可选 {POOL_MODES}。")
    f = pair("池化窗口 pool_size", pool_size)
    s = pair("步长 stride", f if stride is None else stride)
    for n_in, fi, si in zip(X.shape[1:3], f, s, strict=True):
        pool_output_size(n_in, fi, si, padding)  # 窗口过大时报错
    pads = tuple(
        padding_amounts(n_in, fi, si, padding)
        for n_in, fi, si in zip(X.shape[1:3], f, s, strict=True)
    )
    return _pool2d(X.astype(np.result_type(X, np.float32)), f, s, pads, mode)


def _pool2d(X, f, s, pads, mode):
    width = ((0, 0), *pads, (0, 0))
    if mode == "max":
        # 用 -inf 填充：填充位置永远不会被选为最大值
        Xp = np.pad(X, width, constant_values=-np.inf)
        win = sliding_window_view(Xp, f, axis=(1, 2))[:, :: s[0], :: s[1]]
        return win.max(axis=(-2, -1))
    # 平均池化：分母只数窗口里的真实像素（填充位置不算）
    win = sliding_window_view(np.pad(X, width), f, axis=(1, 2))
    ones = np.pad(np.ones(X.shape[1:3]), pads)
    cnt = sliding_window_view(ones, f)[:: s[0], :: s[1]].sum(axis=(-2, -1))
    total = win[:, :: s[0], :: s[1]].sum(axis=(-2, -1))
    return total / cnt[None, :, :, None].astype(X.dtype)


def _pool2d_backward(X, G, f, s, pads, mode):
    Xp = np.pad(X, ((0, 0), *pads, (0, 0)), constant_values=-np.inf)
    real = np.pad(np.ones(X.shape[1:3]), pads)[None, :, :, None]  # 真实像素
    dXp = np.zeros(Xp.shape)
    n, Ho, Wo, C = G.shape
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(s[0] * i, s[0] * i + f[0])
            cols = slice(s[1] * j, s[1] * j + f[1])
            if mode == "max":
                # 梯度只流向窗口里的最大值（并列时取第一个）
                win = Xp[:, rows, cols].reshape(n, -1, C)
                share = np.zeros_like(win)
                np.put_along_axis(share, win.argmax(axis=1)[:, None], 1, 1)
                share = share.reshape(n, f[0], f[1], C)
            else:
                # 平均池化：梯度平分给窗口里的每个真实像素
                w = real[:, rows, cols]
                share = w / w.sum()
            dXp[:, rows, cols] += share * G[:, i : i + 1, j : j + 1]
    (t, _), (lft, _) = pads
    return dXp[:, t : t + X.shape[1], lft : lft + X.shape[2]]


def pool2d_backward(
    X, G, pool_size=2, stride=None, padding="valid", mode="max"
):
    """池化层的反向传播：给出上游梯度 G，求 ∂L/∂X。

    最大池化把每个窗口的梯度整个交给窗口里的最大值（其余位置为 0）；
    平均池化把它平分给窗口里的每个真实像素（填充位置不算）。

    Args:
        X: 前向时的输入，形状 (批量大小, 高, 宽, 通道)。
        G: 上游梯度，形状与前向输出相同。
        pool_size, stride, padding, mode: 与 :func:`pool2d` 相同。

    Returns:
        与 X 同形状的 ∂L/∂X。
    """
    X, G = np.asarray(X), np.asarray(G)
    want = pool2d(X, pool_size, stride, padding, mode).shape
    if G.shape != want:
        raise ValueError(
            f"上游梯度 G 的形状应与池化输出相同，即 {want}，收到 {G.shape}。"
        )
    f = pair("池化窗口 pool_size", pool_size)
    s = pair("步长 stride", f if stride is None else stride)
    pads = tuple(
        padding_amounts(n_in, fi, si, padding)
        for n_in, fi, si in zip(X.shape[1:3], f, s, strict=True)
    )
    dX = _pool2d_backward(X.astype(float), G, f, s, pads, mode)
    return dX.astype(np.result_type(X, G, np.float32))


def max_pool2d(X, pool_size=2, stride=None, padding="valid"):
    """二维最大池化：取窗口内的最大值。"""
    return pool2d(X, pool_size, stride, padding, mode="max")


def avg_pool2d(X, pool_size=2, stride=None, padding="valid"):
    """二维平均池化：取窗口内的平均值。"""
    return pool2d(X, pool_size, stride, padding, mode="avg")


def global_pool2d(X, mode="avg"):
    """全局池化：把每个通道的整张特征图压缩成一个数。

    Args:
        X: 输入，形状 (批量大小, 高, 宽, 通道)。
        mode: ``"max"`` 或 ``"avg"``。

    Returns:
        形状 (批量大小, 通道) 的数组。
    """
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(
            f"X 的形状应为 (批量大小, 高, 宽, 通道)，收到 {X.shape}。"
        )
    if mode not in POOL_MODES:
        raise ValueError(f"未知的池化方式 {mode!r}；可选 {POOL_MODES}。")
    return _global_pool2d(X, mode)


def _global_pool2d(X, mode):
    # 窗口就是整张特征图：在高、宽两维上取最大值或平均值
    return X.max(axis=(1, 2)) if mode == "max" else X.mean(axis=(1, 2))

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
    ph, pw = pair("池化窗口 pool_size", pool_size)
    sh, sw = pair("步长 stride", (ph, pw) if stride is None else stride)
    for L, f, s in ((X.shape[1], ph, sh), (X.shape[2], pw, sw)):
        pool_output_size(L, f, s, padding)  # 窗口过大时报错
    (t, b) = padding_amounts(X.shape[1], ph, sh, padding)
    (lft, rgt) = padding_amounts(X.shape[2], pw, sw, padding)
    width = ((0, 0), (t, b), (lft, rgt), (0, 0))
    Xf = X.astype(np.result_type(X, np.float32), copy=False)
    if mode == "max":
        # 用 -inf 填充：填充位置永远不会被选为最大值
        Xp = np.pad(Xf, width, constant_values=-np.inf)
        win = sliding_window_view(Xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
        return win.max(axis=(-2, -1))
    Xp = np.pad(Xf, width)
    # 同样地数出每个窗口里有多少真实像素，作为平均的分母
    ones = np.pad(np.ones(X.shape[1:3], dtype=Xf.dtype), width[1:3])
    win = sliding_window_view(Xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
    cnt = sliding_window_view(ones, (ph, pw))[::sh, ::sw].sum(axis=(-2, -1))
    return win.sum(axis=(-2, -1)) / cnt[None, :, :, None]


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
    if mode == "max":
        return X.max(axis=(1, 2))
    if mode == "avg":
        return X.mean(axis=(1, 2))
    raise ValueError(f"未知的池化方式 {mode!r}；可选 {POOL_MODES}。")

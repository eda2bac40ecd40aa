"""激活函数及其导数（NumPy 实现）。

多层网络（BP 算法）与卷积网络两部分共用本模块。每个激活函数 ``g``
都配有导数 ``g'``，导数以加权输入 ``z`` 为自变量，与推导中的
:math:`g'(z^{[l]})` 一致。
"""

import numpy as np


def relu(Z):
    """线性整流函数 ReLU：max(0, z)。"""
    return np.maximum(Z, 0)


def relu_grad(Z):
    """ReLU 的导数：z > 0 处为 1，其余为 0（约定 z = 0 处取 0）。"""
    return (np.asarray(Z) > 0).astype(np.result_type(Z, np.float32))


def sigmoid(Z):
    """Sigmoid 函数 1 / (1 + exp(-z))，对很大的 |z| 也不溢出。"""
    Z = np.asarray(Z)
    # 按 z 的符号分别计算，避免 exp 的参数为很大的正数。
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def sigmoid_grad(Z):
    """Sigmoid 的导数：σ(z)(1 − σ(z))。"""
    S = sigmoid(Z)
    return S * (1 - S)


def tanh(Z):
    """双曲正切函数 tanh(z)。"""
    return np.tanh(Z)


def tanh_grad(Z):
    """tanh 的导数：1 − tanh²(z)。"""
    return 1 - np.tanh(Z) ** 2


def identity(Z):
    """恒等函数（线性激活），常用于输出层。"""
    return np.asarray(Z)


def identity_grad(Z):
    """恒等函数的导数：处处为 1。"""
    return np.ones_like(np.asarray(Z))


def softmax(Z, axis: int = -1):
    """数值稳定的 softmax：先减去每行最大值再取指数。

    Args:
        Z: 任意形状的数组，通常为 (批量大小, 类别数)。
        axis: 在哪个轴上归一化。

    Returns:
        与 ``Z`` 同形状、沿 ``axis`` 求和为 1 的数组。
    """
    Z = np.asarray(Z)
    E = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return E / E.sum(axis=axis, keepdims=True)


#: 名称到 (激活函数, 导数) 的映射。
ACTIVATIONS = {
    "relu": (relu, relu_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "linear": (identity, identity_grad),
}


def get(name: str):
    """按名称取出 ``(g, g_grad)``；名称未知时给出可选项。"""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"未知的激活函数 {name!r}；可选 {sorted(ACTIVATIONS)}。"
        ) from None

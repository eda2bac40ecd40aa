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


# ---------------------------------------------------------------------------
# ReLU 的变体（卷积网络一部分使用）
# ---------------------------------------------------------------------------


def leaky_relu(Z, negative_slope: float = 0.01):
    """有斜率的 ReLU（Leaky ReLU）：z > 0 时为 z，否则为 αz。"""
    Z = np.asarray(Z)
    return np.where(Z > 0, Z, negative_slope * Z)


def leaky_relu_grad(Z, negative_slope: float = 0.01):
    """Leaky ReLU 的导数：z > 0 处为 1，其余为 α（约定 z = 0 处取 α）。"""
    Z = np.asarray(Z)
    dtype = np.result_type(Z, np.float32)
    return np.where(Z > 0, 1.0, negative_slope).astype(dtype)


def prelu(Z, alpha):
    """参数化的 ReLU（PReLU）：形同 Leaky ReLU，但斜率 α 是可学习参数。

    Args:
        Z: 加权输入，任意形状，例如 (批量大小, 高, 宽, 通道)。
        alpha: 斜率，可与 Z 广播，例如每个通道一个，形状 (通道,)。

    Returns:
        与 ``Z`` 同形状的数组。
    """
    Z = np.asarray(Z)
    return np.where(Z > 0, Z, np.asarray(alpha) * Z)


def prelu_grad(Z, alpha):
    """PReLU 对 z 的导数（1 或 α）；对 α 的导数另见 prelu_grad_alpha。"""
    Z = np.asarray(Z)
    dtype = np.result_type(Z, np.float32)
    return np.where(Z > 0, 1.0, np.asarray(alpha)).astype(dtype)


def prelu_grad_alpha(Z):
    """PReLU 对斜率 α 的导数：z > 0 处为 0，其余为 z。"""
    Z = np.asarray(Z)
    return np.where(Z > 0, 0.0, Z).astype(np.result_type(Z, np.float32))


def elu(Z, alpha: float = 1.0):
    """指数线性单元 ELU：z > 0 时为 z，否则为 α(exp(z) − 1)。"""
    Z = np.asarray(Z)
    # 只对非正部分取指数，避免很大的正 z 溢出
    return np.where(Z > 0, Z, alpha * np.expm1(np.minimum(Z, 0)))


def elu_grad(Z, alpha: float = 1.0):
    """ELU 的导数：z > 0 处为 1，其余为 α·exp(z)。"""
    Z = np.asarray(Z)
    dtype = np.result_type(Z, np.float32)
    return np.where(Z > 0, 1.0, alpha * np.exp(np.minimum(Z, 0))).astype(
        dtype
    )


#: RReLU 斜率的默认取值区间 [1/8, 1/3]（Xu 等人, 2015）。
RRELU_LOWER, RRELU_UPPER = 1 / 8, 1 / 3


def rrelu(
    Z,
    lower: float = RRELU_LOWER,
    upper: float = RRELU_UPPER,
    training: bool = False,
    rng=None,
):
    """随机化的 ReLU（RReLU）。

    训练时每个负值元素的斜率独立地从均匀分布 U(lower, upper) 中抽取；
    推断时斜率固定为区间中点 (lower + upper) / 2，输出是确定的。

    Args:
        Z: 加权输入，任意形状。
        lower, upper: 斜率区间，0 <= lower <= upper。
        training: 是否处于训练阶段。
        rng: ``numpy.random.Generator``；训练时必须给出，保证可复现。

    Returns:
        ``(A, slope)``：与 ``Z`` 同形状的输出，以及所用的斜率（训练时
        与 ``Z`` 同形状，推断时为标量）。
    """
    if not 0 <= lower <= upper:
        raise ValueError(
            f"RReLU 要求 0 <= lower <= upper，收到 lower={lower}、"
            f"upper={upper}。"
        )
    if training and rng is None:
        raise ValueError(
            "训练阶段的 RReLU 需要随机数生成器："
            "请传入 rng=np.random.default_rng(种子)。"
        )
    return _rrelu(np.asarray(Z), lower, upper, training, rng)


def _rrelu(Z, lower, upper, training, rng):
    if training:
        # 训练：每个元素独立地抽一个斜率
        slope = rng.uniform(lower, upper, size=Z.shape)
    else:
        slope = (lower + upper) / 2  # 推断：取斜率的期望
    return np.where(Z > 0, Z, slope * Z), slope


def rrelu_grad(Z, slope):
    """RReLU 的导数：z > 0 处为 1，其余为前向时所用的斜率。"""
    Z = np.asarray(Z)
    dtype = np.result_type(Z, np.float32)
    return np.where(Z > 0, 1.0, slope).astype(dtype)


def make_rrelu_layer():
    """返回 Keras 层类 ``RReLU``（Keras 3 没有内置的随机化 ReLU）。

    延迟到调用时才导入 Keras，使只用 NumPy 函数的代码不必加载
    TensorFlow。也可直接使用模块属性 ``dlbook.activations.RReLU``。
    类只构造一次，之后的调用返回同一个类，``isinstance`` 判断始终可靠。
    """
    if "RReLU" in globals():
        return globals()["RReLU"]
    import keras

    @keras.saving.register_keras_serializable(package="dlbook")
    class RReLU(keras.layers.Layer):
        """随机化的 ReLU 层：训练时斜率随机，推断时取区间中点。"""

        def __init__(
            self, lower=RRELU_LOWER, upper=RRELU_UPPER, seed=None, **kwargs
        ):
            super().__init__(**kwargs)
            if not 0 <= lower <= upper:
                raise ValueError(
                    f"RReLU 要求 0 <= lower <= upper，收到 lower={lower}、"
                    f"upper={upper}。"
                )
            self.lower, self.upper, self.seed = lower, upper, seed
            # 层自带随机种子状态：每次调用抽到不同斜率，但整体可复现
            self.seed_generator = keras.random.SeedGenerator(seed)

        # 书中展示的部分：RReLU.call 开始
        def call(self, inputs, training=None):
            if training:
                slope = keras.random.uniform(
                    keras.ops.shape(inputs),
                    self.lower,
                    self.upper,
                    dtype=inputs.dtype,
                    seed=self.seed_generator,
                )
            else:
                slope = (self.lower + self.upper) / 2
            return keras.ops.where(inputs > 0, inputs, slope * inputs)

        # 书中展示的部分：RReLU.call 结束

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {
                **super().get_config(),
                "lower": self.lower,
                "upper": self.upper,
                "seed": self.seed,
            }

    globals()["RReLU"] = RReLU
    return RReLU


def __getattr__(name):
    # 访问 dlbook.activations.RReLU 时才构造 Keras 层类，并缓存起来
    if name == "RReLU":
        return make_rrelu_layer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

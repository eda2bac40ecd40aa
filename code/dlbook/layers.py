"""模块化的网络：每一层是一个有 ``forward`` 与 ``backward`` 的对象。

与 :mod:`dlbook.mlp` 计算的是同一件事，组织方式不同：:mod:`dlbook.mlp`
用一个函数从后往前循环所有层；这里每层只管自己，``backward`` 收到损失对
本层输出的梯度，返回损失对本层输入的梯度，并把参数的梯度存进
``self.grads``。Keras 的 ``keras.layers.Dense`` 也是这样组织的（参数在层里，
``kernel`` 即 ``W.T``），只是它的反向传播由自动微分完成。

约定（与 Keras 相同）：样本按行排列；损失是批量平均，所以损失层的
``backward`` 已经除以批量大小 m，后面各层的梯度不再除以 m。
"""

import numpy as np

from dlbook import activations as _act


class Layer:
    """层的接口：forward 计算并缓存反向要用的量，backward 往回传梯度。"""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, X, training=False):
        raise NotImplementedError

    def backward(self, dY):
        raise NotImplementedError


class Dense(Layer):
    """全连接层 Z = X W^T + b；W 形状 (n_out, n_in)，与全书记号一致。"""

    def __init__(self, n_in: int, n_out: int, seed: int = 0):
        super().__init__()
        if int(n_in) < 1 or int(n_out) < 1:
            raise ValueError(
                f"Dense 的宽度应为正整数，收到 n_in={n_in!r}、"
                f"n_out={n_out!r}。"
            )
        rng = np.random.default_rng(seed)
        r = np.sqrt(6.0 / (n_in + n_out))  # Glorot 均匀分布
        self.params = {
            "W": rng.uniform(-r, r, size=(n_out, n_in)),
            "b": np.zeros(n_out),
        }

    def forward(self, X, training=False):
        X = np.asarray(X)
        n_in = self.params["W"].shape[1]
        if X.ndim != 2 or X.shape[1] != n_in:
            raise ValueError(
                f"Dense 需要形状 (批量大小, {n_in}) 的输入，收到 {X.shape}；"
                "请检查上一层的宽度，图片请先展平。"
            )
        return self._forward(X)

    def _forward(self, X):
        self.X = X  # 反向时求 dW 要用
        return X @ self.params["W"].T + self.params["b"]

    def backward(self, dZ):
        self.grads["W"] = dZ.T @ self.X  # dZ 已含 1/m
        self.grads["b"] = dZ.sum(axis=0)
        return dZ @ self.params["W"]  # 传给上一层的 dX


class Activation(Layer):
    """逐元素的激活函数层；name 取 relu、sigmoid、tanh 或 linear。"""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.g, self.g_grad = _act.get(name)  # 名称未知时给出可选项

    def forward(self, X, training=False):
        self.Z = np.asarray(X)
        return self.g(self.Z)

    def backward(self, dA):
        return dA * self.g_grad(self.Z)  # 雅可比矩阵是对角阵


class Dropout(Layer):
    """反向随机丢弃（inverted dropout）：训练时以概率 rate 置零、其余放大。"""

    def __init__(self, rate: float, seed: int = 0):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(
                f"Dropout 的 rate 应在 [0, 1) 内，收到 {rate!r}；"
                "它是每个元素被置零的概率。"
            )
        self.rate, self.rng = rate, np.random.default_rng(seed)

    def forward(self, X, training=False):
        if not training:  # 推理时什么也不做
            self.mask = None
            return X
        keep = self.rng.random(np.shape(X)) >= self.rate
        self.mask = keep / (1 - self.rate)  # 放大，使期望不变
        return X * self.mask

    def backward(self, dY):
        return dY if self.mask is None else dY * self.mask


class BatchNorm(Layer):
    """批量归一化：每个特征（列）按本批的均值与方差归一化，再缩放平移。

    训练时用本批的统计量，并更新滑动平均；推理时用滑动平均。默认的
    ``momentum`` 与 ``epsilon`` 与 ``keras.layers.BatchNormalization`` 相同。
    """

    def __init__(self, n: int, momentum: float = 0.99, epsilon: float = 1e-3):
        super().__init__()
        if int(n) < 1:
            raise ValueError(f"BatchNorm 的宽度应为正整数，收到 n={n!r}。")
        if not 0 <= momentum < 1:
            raise ValueError(
                f"BatchNorm 的 momentum 应在 [0, 1) 内，收到 {momentum!r}；"
                "它是滑动平均保留旧值的比例（Keras 默认 0.99）。"
            )
        if not epsilon > 0:
            raise ValueError(
                f"BatchNorm 的 epsilon 应为正数，收到 {epsilon!r}；"
                "它防止方差为 0 时除以 0（Keras 默认 1e-3）。"
            )
        self.momentum, self.epsilon = momentum, epsilon
        self.params = {"gamma": np.ones(n), "beta": np.zeros(n)}
        self.moving_mean, self.moving_var = np.zeros(n), np.ones(n)

    def forward(self, X, training=False):
        X = np.asarray(X)
        n = len(self.params["gamma"])
        if X.ndim != 2 or X.shape[1] != n:
            raise ValueError(
                f"BatchNorm 需要形状 (批量大小, {n}) 的输入，收到 {X.shape}；"
                "请检查上一层的宽度。"
            )
        return self._forward(X, training)

    def _forward(self, X, training):
        if training:  # 本批的统计量；滑动平均只在训练时更新
            mean, var = X.mean(axis=0), X.var(axis=0)
            rho = self.momentum
            self.moving_mean = rho * self.moving_mean + (1 - rho) * mean
            self.moving_var = rho * self.moving_var + (1 - rho) * var
        else:
            mean, var = self.moving_mean, self.moving_var
        self.training = training
        self.std = np.sqrt(var + self.epsilon)
        self.X_hat = (X - mean) / self.std  # 反向要用
        return self.params["gamma"] * self.X_hat + self.params["beta"]

    def backward(self, dY):
        self.grads["gamma"] = (dY * self.X_hat).sum(axis=0)
        self.grads["beta"] = dY.sum(axis=0)
        dX_hat = dY * self.params["gamma"]
        if not self.training:  # 均值、方差是常数：逐元素缩放
            return dX_hat / self.std
        # 均值与方差也随 X 变化，于是多出两项（推导见正文）
        return (
            dX_hat
            - dX_hat.mean(axis=0)
            - self.X_hat * (dX_hat * self.X_hat).mean(axis=0)
        ) / self.std


class SoftmaxCrossEntropy:
    """softmax 交叉熵损失（批量平均），输入是 logits。"""

    def forward(self, Z, Y):
        Z_shift = Z - Z.max(axis=1, keepdims=True)
        log_p = Z_shift - np.log(np.exp(Z_shift).sum(axis=1, keepdims=True))
        self.P, self.Y = np.exp(log_p), Y
        return float(-(Y * log_p).sum(axis=1).mean())

    def backward(self):
        return (self.P - self.Y) / len(self.Y)  # 对批量平均，所以除以 m


class Sequential:
    """把若干层串起来：前向依次调用 forward，反向倒序调用 backward。"""

    def __init__(self, layers):
        self.layers = list(layers)
        self.loss = SoftmaxCrossEntropy()

    def forward(self, X, training=False):
        for layer in self.layers:
            X = layer.forward(X, training)
        return X

    def loss_and_grads(self, X, Y, training=True):
        """前向、求损失、反向；返回批量平均损失，梯度存在各层的 grads 里。"""
        value = self._loss_and_grads(
            np.asarray(X), _onehot(Y, self), training
        )
        return value

    def _loss_and_grads(self, X, Y, training):
        value = self.loss.forward(self.forward(X, training), Y)
        dY = self.loss.backward()
        for layer in reversed(self.layers):
            dY = layer.backward(dY)
        return value

    def sgd_step(self, lr: float):
        """对每层的每个参数做一步 SGD：θ ← θ - lr · grad。"""
        for layer in self.layers:
            for key, grad in layer.grads.items():
                layer.params[key] -= lr * grad


def _onehot(Y, model):
    """整数标签转为独热标签；已是二维的目标原样返回。"""
    Y = np.asarray(Y)
    if Y.ndim == 2:
        return Y
    n_out = next(
        layer.params["W"].shape[0]
        for layer in reversed(model.layers)
        if isinstance(layer, Dense)
    )
    if Y.size and (Y.min() < 0 or Y.max() >= n_out):
        raise ValueError(
            f"标签应在 0 到 {n_out - 1} 之间，收到最小值 {Y.min()}、"
            f"最大值 {Y.max()}；请检查最后一个 Dense 层的宽度。"
        )
    return np.eye(n_out)[Y]


def from_mlp(params, activations):
    """由 :mod:`dlbook.mlp` 的参数搭同一个网络（复制权重）。"""
    layers = []
    for p, name in zip(params, activations, strict=True):
        dense = Dense(p["W"].shape[1], p["W"].shape[0])
        dense.params = {"W": p["W"].copy(), "b": p["b"].copy()}
        layers += [dense, Activation(name)]
    return Sequential(layers)


def tape_loss_and_grads(model, X, Y):
    """参照实现：用 tf.GradientTape 重算同一个 Sequential 网络。

    Dropout 层使用它最近一次前向时的掩码，所以要在 ``model`` 的前向之后
    调用。返回 (损失, 梯度列表)，梯度按各 Dense 层的 W、b 依次排列。
    """
    import tensorflow as tf

    fns = {
        "relu": tf.nn.relu,
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "linear": tf.identity,
    }
    variables = []
    with tf.GradientTape() as tape:
        A = tf.constant(np.asarray(X, np.float64))
        for layer in model.layers:
            if isinstance(layer, Dense):
                W = tf.Variable(layer.params["W"])
                b = tf.Variable(layer.params["b"])
                variables += [W, b]
                A = tf.matmul(A, W, transpose_b=True) + b
            elif isinstance(layer, Activation):
                A = fns[layer.name](A)
            elif isinstance(layer, Dropout):
                A = A if layer.mask is None else A * layer.mask
            else:
                raise ValueError(
                    f"tape_loss_and_grads 不认识层 {type(layer).__name__}；"
                    "只支持 Dense、Activation 与 Dropout。"
                )
        per_sample = tf.nn.softmax_cross_entropy_with_logits(Y, A)
        loss = tf.reduce_mean(per_sample)
    grads = tape.gradient(loss, variables)
    return float(loss), [g.numpy() for g in grads]


def dense_grads(model):
    """按 Dense 层依次取出 W、b 的梯度，顺序与 tape_loss_and_grads 相同。"""
    return [
        layer.grads[key]
        for layer in model.layers
        if isinstance(layer, Dense)
        for key in ("W", "b")
    ]

"""多层全连接网络（MLP）的 NumPy 实现：前向传播、反向传播与小批量 SGD。

记号与全书一致：第 :math:`l` 层的权重 ``W`` 形状为 (n_l, n_{l-1})，
偏置 ``b`` 形状为 (n_l,)。**批量约定：样本按行排列。** 一批 m 个样本的
输入 ``X`` 形状为 (批量大小, 特征数)，于是

    Z^{[l]} = A^{[l-1]} W^{[l]T} + b^{[l]},   A^{[l]} = g^{[l]}(Z^{[l]}),

``Z`` 与 ``A`` 的第 i 行就是第 i 个样本的 z 与 a（列向量的转置）。
Keras 的 ``Dense`` 层同样按行排列样本，它的 ``kernel`` 正是 ``W.T``。

网络参数 ``params`` 是一个列表，下标 k（从 0 数起）处是第 k+1 层的字典
``{"W": W, "b": b}``；梯度 ``grads`` 与它结构相同。
"""

import contextlib

import numpy as np

from dlbook import activations as _act

#: 支持的损失函数名。
LOSSES = ("softmax_ce", "mse")


# ---------------------------------------------------------------- 初始化


def init_params(layer_sizes, seed: int = 0, dtype=np.float64):
    """按 Glorot 均匀分布初始化各层权重，偏置取零（与 Keras 默认一致）。

    Args:
        layer_sizes: 各层宽度 [n_0, n_1, ..., n_L]，n_0 是输入特征数。
        seed: NumPy 随机数生成器的种子。
        dtype: 参数的数据类型；梯度检验用 float64，训练可用 float32。

    Returns:
        长度为 L 的列表，第 l 项为 {"W": (n_l, n_{l-1}), "b": (n_l,)}。
    """
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"layer_sizes 应至少含两个正整数 [n_0, ..., n_L]，收到 "
            f"{list(layer_sizes)!r}；例如 [784, 128, 10]。"
        )
    return _glorot_params(sizes, np.random.default_rng(seed), dtype)


def _glorot_params(sizes, rng, dtype):
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        # Glorot 均匀分布：使前向与反向的方差大致保持不变
        r = np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-r, r, size=(n_out, n_in))  # W^[l]: (n_l, n_{l-1})
        params.append({"W": W.astype(dtype), "b": np.zeros(n_out, dtype)})
    return params


# ---------------------------------------------------------------- 检查


def check_network(params, activations, X=None) -> None:
    """检查参数形状、激活函数名与输入是否彼此相容，不相容时报错。

    Raises:
        ValueError: 层数与激活函数个数不同、相邻两层形状不接、
            激活函数名未知，或 ``X`` 的特征数与第 1 层不符。
    """
    if len(activations) != len(params):
        raise ValueError(
            f"网络有 {len(params)} 层，却给了 {len(activations)} 个"
            f"激活函数 {list(activations)!r}；请为每层各给一个激活函数名。"
        )
    for name in activations:
        _act.get(name)  # 名称未知时抛出 ValueError，并列出可选项
    for k, p in enumerate(params, start=1):
        W, b = p["W"], p["b"]
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(
                f"第 {k} 层的 W 形状为 {W.shape}、b 形状为 {b.shape}；"
                "应为 W: (n_l, n_{l-1}) 与 b: (n_l,)。"
            )
        if k > 1 and W.shape[1] != params[k - 2]["W"].shape[0]:
            raise ValueError(
                f"第 {k} 层的 W 形状为 {W.shape}，需要 {W.shape[1]} 个"
                f"输入，但第 {k - 1} 层输出 "
                f"{params[k - 2]['W'].shape[0]} 个；请检查各层宽度。"
            )
    if X is not None:
        n_in = params[0]["W"].shape[1]
        if X.ndim != 2 or X.shape[1] != n_in:
            raise ValueError(
                f"X 的形状为 {X.shape}，而第 1 层需要形状为 "
                f"(批量大小, {n_in}) 的输入；图片请先展平，"
                "例如 X.reshape(len(X), -1)。"
            )


def one_hot(y, num_classes: int):
    """把整数标签转为独热编码。

    Args:
        y: 整数标签，形状 (批量大小,)，取值 0 到 num_classes - 1。
        num_classes: 类别数。

    Returns:
        形状 (批量大小, 类别数) 的 float64 数组。
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"标签 y 应为一维整数数组，收到形状 {y.shape}、类型 {y.dtype}。"
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"标签取值应在 0 到 {num_classes - 1} 之间，收到最小值 "
            f"{y.min()}、最大值 {y.max()}；请检查输出层宽度是否等于类别数。"
        )
    Y = np.zeros((y.size, num_classes))
    Y[np.arange(y.size), y] = 1.0
    return Y


# ---------------------------------------------------------------- 前向


def forward(X, params, activations):
    """前向传播：从 A^[0] = X 出发逐层计算，并缓存反向传播要用的量。

    Args:
        X: 输入，形状 (批量大小, n_0)。
        params: 各层参数，见模块说明。
        activations: 各层激活函数名，如 ["relu", "linear"]。

    Returns:
        (A_L, cache)。A_L 形状 (批量大小, n_L)；cache 是列表，第 l 项为
        (A^[l-1], Z^[l])，形状 (批量大小, n_{l-1}) 与 (批量大小, n_l)。
    """
    X = np.asarray(X)
    check_network(params, activations, X)
    return _forward(X, params, activations)


def _forward(X, params, activations):
    A, cache = X, []
    for p, name in zip(params, activations, strict=True):
        g, _ = _act.get(name)
        Z = A @ p["W"].T + p["b"]  # 每行一个样本：z = W a + b 的转置
        cache.append((A, Z))  # 反向传播要用 A^[l-1] 与 Z^[l]
        A = g(Z)
    return A, cache


# ---------------------------------------------------------------- 损失


def softmax_cross_entropy(Z, y):
    """数值稳定的 softmax 交叉熵，及它对 logits 的导数。

    用 log-sum-exp 技巧计算 log softmax，不会因 exp 溢出得到 inf 或
    log(0)。

    Args:
        Z: 输出层的加权输入（logits），形状 (批量大小, 类别数)。
        y: 整数标签 (批量大小,) 或独热标签 (批量大小, 类别数)。

    Returns:
        (loss, Delta)。loss 是批量平均损失（标量）；Delta = Y_hat - Y
        形状 (批量大小, 类别数)，第 i 行是第 i 个样本的 δ^[L]。
    """
    Z = np.asarray(Z)
    return _softmax_cross_entropy(Z, _targets(y, Z))


def _softmax_cross_entropy(Z, Y):
    Z_shift = Z - Z.max(axis=1, keepdims=True)  # 每行最大值变为 0
    log_sum = np.log(np.exp(Z_shift).sum(axis=1, keepdims=True))
    log_p = Z_shift - log_sum  # log softmax，不会溢出
    loss = -(Y * log_p).sum(axis=1).mean()  # 对批量取平均
    Delta = np.exp(log_p) - Y  # 每行一个样本的 δ^[L] = y_hat - y
    return float(loss), Delta


def _targets(y, Z):
    """把标签整理为与输出同形状的目标矩阵 Y。"""
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        Y = one_hot(y, Z.shape[1])
    else:
        Y = y
    if Y.shape != Z.shape:
        raise ValueError(
            f"目标的形状为 {y.shape}，与网络输出的形状 {Z.shape} 不符；"
            "请给出 (批量大小,) 的整数标签或与输出同形状的目标。"
        )
    return Y.astype(Z.dtype, copy=False)


def loss_and_delta(A_L, Z_L, y, loss: str, activation: str):
    """计算批量平均损失与输出层的 δ^[L]（每行一个样本）。

    Args:
        A_L, Z_L: 输出层的激活值与加权输入，形状 (批量大小, n_L)。
        y: 目标；"softmax_ce" 用整数标签或独热标签，"mse" 用实数目标。
        loss: "softmax_ce"（输出层须为 "linear"，softmax 在损失中计算）
            或 "mse"（每个样本 1/2 ||a - y||^2）。
        activation: 输出层的激活函数名。

    Returns:
        (loss, Delta_L)，Delta_L 形状 (批量大小, n_L)。
    """
    if loss == "softmax_ce":
        if activation != "linear":
            raise ValueError(
                f"softmax_ce 要求输出层激活为 'linear'（输出 logits），"
                f"收到 {activation!r}；softmax 已包含在损失中。"
            )
        return softmax_cross_entropy(Z_L, y)
    if loss == "mse":
        _, g_grad = _act.get(activation)
        Y = _targets(y, Z_L)
        E = A_L - Y
        return float(0.5 * (E**2).sum(axis=1).mean()), E * g_grad(Z_L)
    raise ValueError(f"未知的损失函数 {loss!r}；可选 {LOSSES}。")


# ---------------------------------------------------------------- 反向


def backward(Delta_L, cache, params, activations):
    """反向传播：从 δ^[L] 出发逐层求出所有参数的梯度（批量平均）。

    Args:
        Delta_L: 输出层的 δ，形状 (批量大小, n_L)，每行一个样本。
        cache: :func:`forward` 返回的缓存。
        params: 各层参数。
        activations: 各层激活函数名。

    Returns:
        与 params 结构相同的梯度列表 [{"W": dW, "b": db}, ...]。
    """
    return _backward(np.asarray(Delta_L), cache, params, activations)


def _backward(Delta_L, cache, params, activations):
    m = Delta_L.shape[0]
    grads = [None] * len(params)
    Delta = Delta_L
    for k in reversed(range(len(params))):  # 下标 k 是第 k+1 层
        A_prev, _ = cache[k]
        # 对批量求平均：dW = (1/m) Δ^T A^[l-1]，db = Δ 各列的均值
        grads[k] = {"W": Delta.T @ A_prev / m, "b": Delta.mean(axis=0)}
        if k > 0:
            _, g_grad = _act.get(activations[k - 1])
            _, Z_prev = cache[k - 1]
            # δ^[l-1] = (W^[l]T δ^[l]) ⊙ g'(z^[l-1])，按行写成矩阵乘
            Delta = (Delta @ params[k]["W"]) * g_grad(Z_prev)
    return grads


def layer_deltas(params, X, y, activations, loss: str = "softmax_ce"):
    """各层的 Δ^[l]（每行一个样本的 δ^[l]，未除以 m），长度为 L 的列表。

    与 :func:`backward` 用同一递推式；``dW = Δ^T A^[l-1] / m``。
    """
    A_L, cache = forward(X, params, activations)
    _, Delta = loss_and_delta(A_L, cache[-1][1], y, loss, activations[-1])
    return _deltas(Delta, cache, params, activations)


def _deltas(Delta_L, cache, params, activations):
    deltas = [Delta_L]
    for k in range(len(params) - 1, 0, -1):
        _, g_grad = _act.get(activations[k - 1])
        Delta = (deltas[0] @ params[k]["W"]) * g_grad(cache[k - 1][1])
        deltas.insert(0, Delta)
    return deltas


def layer_delta_norms(params, X, y, activations, loss="softmax_ce"):
    """各层误差的大小：对批量平均的 ||δ^[l]||，形状 (L,)。

    这正是式 (delta-product) 所预测的量；权重梯度的范数还要再乘上
    输入 a^[l-1] 的大小，并受层的形状影响。
    """
    deltas = layer_deltas(params, X, y, activations, loss)
    return np.array([np.linalg.norm(D, axis=1).mean() for D in deltas])


def loss_and_grads(params, X, y, activations, loss: str = "softmax_ce"):
    """一次前向加一次反向：返回批量平均损失和全部参数的梯度。"""
    A_L, cache = forward(X, params, activations)
    value, Delta_L = loss_and_delta(
        A_L, cache[-1][1], y, loss, activations[-1]
    )
    return value, backward(Delta_L, cache, params, activations)


def sgd_step(params, grads, lr: float) -> None:
    """随机梯度下降的一步：θ ← θ - lr · ∂L/∂θ（原地更新）。"""
    if len(params) != len(grads):
        raise ValueError(
            f"参数有 {len(params)} 层，梯度却有 {len(grads)} 层；"
            "请传入 loss_and_grads 为同一组参数算出的梯度。"
        )
    _sgd_step(params, grads, lr)


def _sgd_step(params, grads, lr):
    for p, g in zip(params, grads, strict=True):
        p["W"] -= lr * g["W"]  # 沿负梯度方向走一小步
        p["b"] -= lr * g["b"]


# ---------------------------------------------------------------- 检验


def numerical_grads(params, X, y, activations, loss="softmax_ce", h=1e-6):
    """用中心差分 (L(θ+h) - L(θ-h)) / 2h 逐个元素估计梯度。

    每个参数元素要做两次前向传播，只适合很小的网络；参数应为 float64，
    否则舍入误差会淹没差分。

    Returns:
        与 params 结构相同的梯度列表。
    """

    def f():
        A_L, cache = forward(X, params, activations)
        return loss_and_delta(A_L, cache[-1][1], y, loss, activations[-1])[0]

    return _numerical_grads(f, params, h)


def _numerical_grads(f, params, h):
    grads = []
    for p in params:
        g = {}
        for key in ("W", "b"):
            theta, d = p[key], np.zeros_like(p[key])
            for idx in np.ndindex(theta.shape):  # 逐个元素扰动
                old = theta[idx]
                theta[idx] = old + h
                f_plus = f()
                theta[idx] = old - h
                f_minus = f()
                theta[idx] = old  # 还原，不改变参数
                d[idx] = (f_plus - f_minus) / (2 * h)
            g[key] = d
        grads.append(g)
    return grads


def relative_error(grads_a, grads_b) -> float:
    """两组梯度的相对误差 ||a - b|| / (||a|| + ||b||)，对全部参数计算。"""
    a = np.concatenate([g[k].ravel() for g in grads_a for k in ("W", "b")])
    b = np.concatenate([g[k].ravel() for g in grads_b for k in ("W", "b")])
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def tf_loss_and_grads(params, X, y, activations, loss="softmax_ce"):
    """参照实现：用 TensorFlow 搭同一网络，由 tf.GradientTape 求梯度。

    与 :func:`loss_and_grads` 接口相同，计算在 float64 中进行。
    """
    X = np.asarray(X, np.float64)
    check_network(params, activations, X)
    if loss not in LOSSES:
        raise ValueError(f"未知的损失函数 {loss!r}；可选 {LOSSES}。")
    n_out = params[-1]["W"].shape[0]
    Y = _targets(y, np.zeros((len(X), n_out)))
    params = [
        {k: np.asarray(v, np.float64) for k, v in p.items()} for p in params
    ]
    return _tape_loss_and_grads(params, X, Y, activations, loss)


def _tape_loss_and_grads(params, X, Y, activations, loss):
    import tensorflow as tf

    g = {
        "relu": tf.nn.relu,
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
        "linear": tf.identity,
    }
    Ws = [tf.Variable(p["W"]) for p in params]
    bs = [tf.Variable(p["b"]) for p in params]
    with tf.GradientTape() as tape:  # 记录前向的每一步运算
        A = tf.constant(X)
        for W, b, name in zip(Ws, bs, activations, strict=True):
            A = g[name](tf.matmul(A, W, transpose_b=True) + b)
        if loss == "softmax_ce":
            per_sample = tf.nn.softmax_cross_entropy_with_logits(Y, A)
        else:  # "mse"
            per_sample = 0.5 * tf.reduce_sum((A - Y) ** 2, axis=1)
        value = tf.reduce_mean(per_sample)
    dWs, dbs = tape.gradient(value, [Ws, bs])  # 倒着重放磁带
    grads = [
        {"W": dW.numpy(), "b": db.numpy()}
        for dW, db in zip(dWs, dbs, strict=True)
    ]
    return float(value), grads


# ---------------------------------------------------------------- 训练


def predict(params, X, activations):
    """返回每个样本得分最高的类别，形状 (批量大小,)。"""
    return forward(X, params, activations)[0].argmax(axis=1)


def single_thread_blas():
    """返回一个让 BLAS 只用一个线程的上下文（threadpoolctl 不在时不做事）。

    训练时的矩阵只有 (32, 784) 这样大，多线程 BLAS 的同步开销大于收益；
    与 TensorFlow 的线程池同在一个进程里时，两组线程还会在少数几个 CPU
    核上互相争抢，一轮训练可能慢上几十倍。
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl 随 scikit-learn 安装，通常都在
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def sgd_epoch(params, X, y, activations, lr, batch_size, order=None):
    """按给定顺序把训练集切成小批量，对每个批量做一步 SGD。

    Args:
        X: 训练输入 (样本数, n_0)；y: 整数标签 (样本数,)。
        order: 样本顺序（一个排列）；None 表示按原顺序。

    Returns:
        本轮各批量损失的平均值。
    """
    order = np.arange(len(X)) if order is None else np.asarray(order)
    if sorted(order.tolist()) != list(range(len(X))):
        raise ValueError(
            f"order 应是 0 到 {len(X) - 1} 的一个排列（长度 {len(X)}），"
            f"收到长度 {len(order)} 的数组；请用 epoch_orders 生成。"
        )
    with single_thread_blas():
        return _sgd_epoch(params, X, y, activations, lr, batch_size, order)


def _sgd_epoch(params, X, y, activations, lr, batch_size, order):
    losses = []
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]  # 本批量的样本下标
        value, grads = loss_and_grads(params, X[idx], y[idx], activations)
        sgd_step(params, grads, lr)
        losses.append(value)
    return float(np.mean(losses))


def epoch_orders(n: int, num_epochs: int, seed: int = 0):
    """为每一轮生成一个打乱顺序；NumPy 与 Keras 共用，批量逐一相同。"""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(num_epochs)]


def evaluate(logits, y):
    """由 logits 计算平均交叉熵损失与准确率。"""
    value, _ = softmax_cross_entropy(logits, y)
    return value, float((np.argmax(logits, axis=1) == y).mean())


def fit_numpy(params, activations, data, lr, batch_size, orders):
    """用小批量 SGD 训练 NumPy 网络，每轮结束后在训练集与测试集上评估。

    Args:
        data: (X_train, y_train, X_test, y_test)，X 已展平。
        orders: 每轮的样本顺序，见 :func:`epoch_orders`。

    Returns:
        字典，键 "train_loss"、"test_loss"、"test_acc" 各对应一个列表，
        第 0 项是训练前的值，第 k 项是第 k 轮之后的值。
    """
    X, y, X_test, y_test = data
    hist = {"train_loss": [], "test_loss": [], "test_acc": []}

    def record():
        hist["train_loss"].append(
            evaluate(forward(X, params, activations)[0], y)[0]
        )
        test_loss, acc = evaluate(
            forward(X_test, params, activations)[0], y_test
        )
        hist["test_loss"].append(test_loss)
        hist["test_acc"].append(acc)

    with single_thread_blas():
        record()
        for order in orders:
            sgd_epoch(params, X, y, activations, lr, batch_size, order)
            record()
    return hist


def to_keras(params, activations):
    """搭建同一结构的 Keras 模型，并装入相同的权重（kernel = W.T）。"""
    check_network(params, activations)
    return _to_keras(params, activations)


def _to_keras(params, activations):
    import keras

    layers = [keras.Input(shape=(params[0]["W"].shape[1],))]
    for p, name in zip(params, activations, strict=True):
        layers.append(keras.layers.Dense(p["W"].shape[0], activation=name))
    model = keras.Sequential(layers)
    for layer, p in zip(model.layers, params, strict=True):
        layer.set_weights([p["W"].T, p["b"]])  # kernel = W^T
    return model


def keras_params(model):
    """把 Keras 模型的权重取回为本模块的 params 格式（W = kernel.T）。"""
    return [
        {"W": layer.get_weights()[0].T, "b": layer.get_weights()[1]}
        for layer in model.layers
    ]


def fit_keras(model, data, lr, batch_size, orders):
    """用 Keras 的 SGD 训练同一网络，批量顺序与 :func:`fit_numpy` 相同。

    Returns:
        与 :func:`fit_numpy` 相同格式的字典。
    """
    import keras

    X, y, X_test, y_test = data
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    hist = {"train_loss": [], "test_loss": [], "test_acc": []}

    def record():
        logits = keras.ops.convert_to_numpy(model(X, training=False))
        hist["train_loss"].append(evaluate(logits, y)[0])
        logits = keras.ops.convert_to_numpy(model(X_test, training=False))
        test_loss, acc = evaluate(logits, y_test)
        hist["test_loss"].append(test_loss)
        hist["test_acc"].append(acc)

    record()
    for order in orders:
        _keras_epoch(model, X, y, batch_size, order)
        record()
    return hist


def _keras_epoch(model, X, y, batch_size, order):
    # 由我们打乱、Keras 不再打乱：两边看到的批量逐一相同
    model.fit(
        X[order],
        y[order],
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
    )


# ---------------------------------------------------------------- 手算例子


def worked_example():
    """手算例子的给定数据：一个 2-3-2 网络和一个样本。

    隐藏层用 sigmoid，输出层输出 logits，损失为 softmax 交叉熵。

    Returns:
        字典：x (1, 2)、y (1,)、params（两层）、activations。
    """
    return {
        "x": np.array([[1.0, 2.0]]),
        "y": np.array([1]),
        "params": [
            {
                "W": np.array([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]),
                "b": np.array([0.1, 0.0, -0.1]),
            },
            {
                "W": np.array([[0.3, -0.2, 0.1], [0.2, 0.4, -0.5]]),
                "b": np.array([0.0, 0.1]),
            },
        ],
        "activations": ["sigmoid", "linear"],
    }


def layer_grad_norms(params, X, y, activations, loss="softmax_ce"):
    """各层权重梯度的 Frobenius 范数 ||∂L/∂W^[l]||，形状 (L,)。"""
    _, grads = loss_and_grads(params, X, y, activations, loss)
    return np.array([np.linalg.norm(g["W"]) for g in grads])

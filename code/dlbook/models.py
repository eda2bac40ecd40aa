"""“卷积网络的应用”一部分的模型：本章的 CNN、经典基线与训练工具。

两个构建函数都接受原始的 uint8 像素（0–255）：缩放放在模型里面，
保存下来的模型因此自带预处理，拿去预测新图片时不会忘记这一步。
"""

import time

import numpy as np

#: 本章 CNN 的默认训练设置（基准测试与书页共用）。
CNN_EPOCHS = 25
CNN_BATCH_SIZE = 128
CNN_LR = 3e-3
#: 经典基线的训练设置，取自 Keras 官方 MNIST 卷积网络示例。
CLASSIC_EPOCHS = 15
CLASSIC_BATCH_SIZE = 128


def conv2d_params(kernel_size, c_in, c_out, use_bias=True) -> int:
    """卷积层的参数个数：每个输出通道一个 k×k×c_in 的核，外加一个偏置。"""
    kh, kw = (
        (kernel_size, kernel_size)
        if isinstance(kernel_size, int)
        else kernel_size
    )
    return kh * kw * c_in * c_out + (c_out if use_bias else 0)


def dense_params(n_in, n_out, use_bias=True) -> int:
    """全连接层的参数个数：n_in×n_out 的权重矩阵，外加 n_out 个偏置。"""
    return n_in * n_out + (n_out if use_bias else 0)


def batchnorm_params(channels) -> tuple:
    """批量归一化层的参数个数，返回 (可训练, 不可训练)。

    每个通道有可训练的缩放 γ 与平移 β，以及不参与梯度下降、
    只在训练时更新的滑动均值与滑动方差。
    """
    return 2 * channels, 2 * channels


def build_classic_cnn(input_shape=(28, 28, 1), num_classes=10):
    """构建 Keras 官方 MNIST 示例的经典卷积网络（作为基线）。

    两个“卷积 + 最大池化”块，展平后随机丢弃一半，再接 softmax 输出。

    Args:
        input_shape: 单张图片的形状 (高, 宽, 通道)。
        num_classes: 类别数。

    Returns:
        未编译的 ``keras.Sequential`` 模型，输入 uint8 或 float 像素
        (批量大小, 高, 宽, 通道)，输出 (批量大小, 类别数) 的概率。
    """
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1 / 255, name="rescale"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.5, name="dropout"),
            layers.Dense(num_classes, activation="softmax", name="probs"),
        ],
        name="classic_cnn",
    )


def conv_pool_bn_relu(x, filters, kernel_size, name):
    """卷积 → 2×2 最大池化 → 批量归一化 → ReLU 的小积木（函数式 API）。

    经典的顺序是“卷积 → 批量归一化 → ReLU → 池化”。最大池化与任何
    单调不减的逐元素函数都可以交换次序（见 :func:`pool_commutes`），
    ReLU 如此，缩放 γ > 0 的批量归一化在推断时也如此；先池化，
    批量归一化和 ReLU 就只需处理四分之一的激活值。

    卷积不带偏置：紧随其后的批量归一化会减去均值，偏置被抵消，
    平移 β 已经承担了偏置的作用。
    """
    from keras import layers

    x = layers.Conv2D(
        filters, kernel_size, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    # 本章每次训练只有几百步，默认动量 0.99 的滑动统计量来不及
    # 收敛到真实值；0.9 只需几十步。
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    width=32,
    kernel_sizes=(5, 5),
    dropout=0.5,
    shift=0.1,
):
    """构建本章的卷积网络：经典布局换成 5×5 的核，加批量归一化与增强。

    Args:
        input_shape: 单张图片的形状 (高, 宽, 通道)。
        num_classes: 类别数。
        width: 第一个卷积块的通道数，第二块加倍。
        kernel_sizes: 两个卷积层的核边长 (第一层, 第二层)。
        dropout: 输出层之前随机丢弃的比例。
        shift: 随机平移的最大幅度（占高、宽的比例）；0 表示不做增强。

    Returns:
        未编译的函数式 ``keras.Model``，输入像素 (批量大小, 高, 宽, 通道)，
        取值 0–255；输出 (批量大小, 类别数) 的概率。
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    if shift:
        # 只在训练时生效；推断时原样通过。
        x = layers.RandomTranslation(
            shift, shift, fill_mode="constant", name="augment"
        )(x)
    k1, k2 = kernel_sizes
    x = conv_pool_bn_relu(x, width, k1, "block1")
    x = conv_pool_bn_relu(x, 2 * width, k2, "block2")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="chapter_cnn")


def pool_commutes(f, x, pool=2, pooling="max"):
    """用 Keras 的池化层比较 pool(f(x)) 与 f(pool(x))。

    Args:
        f: 逐元素作用的函数或 Keras 层，如 ``keras.layers.ReLU()``，
            或推断模式下的批量归一化 ``lambda t: bn(t, training=False)``。
        x: 形状 (批量大小, 高, 宽, 通道) 的数组。
        pool: 池化窗口边长（步长相同，窗口不重叠）。
        pooling: ``"max"``（最大池化）或 ``"average"``（平均池化）。

    Returns:
        两种次序的结果之间最大的绝对差：0 表示次序可以交换。
        最大池化配单调不减的 f、平均池化配仿射的 f 时都是 0。
    """
    from keras import layers, ops

    kinds = {"max": layers.MaxPooling2D, "average": layers.AveragePooling2D}
    if pooling not in kinds:
        raise ValueError(
            f"pooling 应为 'max' 或 'average'，收到 {pooling!r}。"
        )
    pool_layer = kinds[pooling](pool)
    x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    a = ops.convert_to_numpy(pool_layer(f(x)))
    b = ops.convert_to_numpy(f(pool_layer(x)))
    return float(np.max(np.abs(a - b)))


def cosine_schedule(lr, total_steps, warmup_fraction=0.2):
    """先线性升温、再余弦退火的学习率调度（类似 one-cycle）。

    学习率从 lr/10 线性升到 lr，用去 warmup_fraction 的步数，
    然后沿余弦曲线降到 0。

    Args:
        lr: 峰值学习率。
        total_steps: 训练的总步数（轮数 × 每轮批次数）。
        warmup_fraction: 升温阶段占总步数的比例。
    """
    import keras

    if total_steps < 2:
        raise ValueError(f"total_steps 应至少为 2，收到 {total_steps}。")
    warmup = max(1, int(total_steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10,
        decay_steps=total_steps - warmup,
        warmup_target=lr,
        warmup_steps=warmup,
    )


def compile_model(model, lr=None, total_steps=None):
    """用 Adam 和稀疏交叉熵编译模型。

    给出 total_steps 时使用 :func:`cosine_schedule`，否则使用固定学习率
    lr（默认 Adam 的 0.001）。
    """
    import keras

    if total_steps is None:
        rate = 1e-3 if lr is None else lr
    else:
        rate = cosine_schedule(CNN_LR if lr is None else lr, total_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit_timed(
    model,
    X,
    y,
    epochs,
    batch_size,
    validation_data=None,
    seed=0,
    verbose=0,
):
    """训练已编译的模型并计时。

    Args:
        model: 已编译的模型。
        X: 训练图片，形状 (样本数, 高, 宽, 通道)；或已分批的
            ``tf.data.Dataset``，元素为 (图片, 标签)。
        y: 整数标签，形状 (样本数,)；X 为数据集时传 None。
        epochs: 训练轮数。
        batch_size: 批量大小；X 为数据集时忽略。
        validation_data: 可选的 (X_val, y_val)，每轮结束时评估。
        seed: 训练前重新固定的随机种子，保证打乱与丢弃可复现。
        verbose: 传给 ``fit`` 的日志级别（0 或 2，书中不用进度条）。

    Returns:
        ``(history, seconds)``：每轮指标的字典与训练所用的秒数。
    """
    import keras

    keras.utils.set_random_seed(seed)
    # tf.data 数据集自己负责分批和打乱（y 为 None），数组才交给 fit 打乱。
    arrays = y is not None
    start = time.perf_counter()
    hist = model.fit(
        X,
        y,
        epochs=epochs,
        batch_size=batch_size if arrays else None,
        shuffle=arrays,
        validation_data=validation_data,
        verbose=verbose,
    )
    return hist.history, time.perf_counter() - start


def train_classic(X, y, seed=0, **kwargs):
    """按 Keras 示例的设置训练经典基线，返回 (模型, 历史, 秒数)。

    固定学习率 0.001 的 Adam，批量 128，训练 15 轮。
    """
    import keras

    keras.utils.set_random_seed(seed)  # 让权重初始化也可复现
    model = compile_model(build_classic_cnn(X.shape[1:]))
    history, seconds = fit_timed(
        model, X, y, CLASSIC_EPOCHS, CLASSIC_BATCH_SIZE, seed=seed, **kwargs
    )
    return model, history, seconds


def train_cnn(
    X,
    y,
    seed=0,
    epochs=CNN_EPOCHS,
    lr=CNN_LR,
    batch_size=CNN_BATCH_SIZE,
    **kwargs,
):
    """按本章的设置训练本章的 CNN，返回 (模型, 历史, 秒数)。

    Args:
        X: 训练图片，形状 (样本数, 高, 宽, 通道)，像素 0–255。
        y: 整数标签，形状 (样本数,)。
        seed: 随机种子，固定权重初始化、打乱顺序与随机丢弃。
        epochs: 训练轮数。
        lr: 学习率调度的峰值。
        batch_size: 批量大小。
        **kwargs: 其余参数中，``validation_data`` 与 ``verbose`` 交给
            :func:`fit_timed`，其他（如 ``kernel_sizes``、``shift``）
            交给 :func:`build_cnn`，便于做消融实验。
    """
    import keras

    fit_kwargs = {
        k: kwargs.pop(k)
        for k in ("validation_data", "verbose")
        if k in kwargs
    }
    keras.utils.set_random_seed(seed)  # 让权重初始化也可复现
    model = build_cnn(X.shape[1:], **kwargs)
    steps = epochs * int(np.ceil(len(X) / batch_size))
    compile_model(model, lr, total_steps=steps)
    history, seconds = fit_timed(
        model, X, y, epochs, batch_size, seed=seed, **fit_kwargs
    )
    return model, history, seconds


def predict_labels(model, X, batch_size=256):
    """返回模型对 X 的预测类别，形状 (样本数,)。"""
    probs = model.predict(X, batch_size=batch_size, verbose=0)
    return np.argmax(probs, axis=-1)


def create_model():
    """构建并编译讲义中的序列模型：Dense(512) - Dropout(0.2) - Dense(10)。

    与讲义的 TF 2.3 写法相比只改了一处：用 ``keras.Input(shape=(784,))``
    声明输入，而不是给第一层传 ``input_shape``（Keras 3 会为此发出警告）。

    Returns:
        编译好的 ``keras.Sequential``，输入形状 (批量大小, 784)，
        输出形状 (批量大小, 10) 的 logits（未经 softmax）。
    """
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        # 输出层没有 softmax，故 from_logits=True：数值上更稳定。
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def confusion_matrix(y_true, y_pred, num_classes=10):
    """计算混淆矩阵：第 i 行第 j 列是真实类别 i 被预测为 j 的样本数。

    Returns:
        int 数组，形状 (类别数, 类别数)。
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true 形状 {y_true.shape} 与 y_pred 形状 {y_pred.shape} 不同。"
        )
    cm = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm

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
#: 数据增强：随机平移的最大幅度（占高、宽的比例）。
CNN_SHIFT = 0.1
#: 经典基线的训练设置，取自 Keras 官方 MNIST 卷积网络示例。
CLASSIC_EPOCHS = 15
CLASSIC_BATCH_SIZE = 128


def _conv2d_params(kernel_size, c_in, c_out, use_bias=True):
    # 每个输出通道一个 f_h×f_w×c_in 的核，外加一个偏置
    fh, fw = (
        (kernel_size, kernel_size)
        if isinstance(kernel_size, int)
        else kernel_size
    )
    return fh * fw * c_in * c_out + (c_out if use_bias else 0)


def conv2d_params(kernel_size, c_in, c_out, use_bias=True) -> int:
    """卷积层的参数个数：每个输出通道一个 k×k×c_in 的核，外加一个偏置。"""
    return _conv2d_params(kernel_size, c_in, c_out, use_bias)


def _dense_params(n_in, n_out, use_bias=True):
    # n_in×n_out 的权重矩阵，外加 n_out 个偏置
    return n_in * n_out + (n_out if use_bias else 0)


def dense_params(n_in, n_out, use_bias=True) -> int:
    """全连接层的参数个数：n_in×n_out 的权重矩阵，外加 n_out 个偏置。"""
    return _dense_params(n_in, n_out, use_bias)


def batchnorm_params(channels) -> tuple:
    """批量归一化层的参数个数，返回 (可训练, 不可训练)。

    每个通道有可训练的缩放 γ 与平移 β，以及不参与梯度下降、
    只在训练时更新的滑动均值与滑动方差。
    """
    return 2 * channels, 2 * channels


def _classic_cnn(input_shape, num_classes, shift):
    import keras
    from keras import layers

    head = [keras.Input(shape=input_shape), layers.Rescaling(1 / 255)]
    if shift:  # 随机平移只在“经典布局 + 本章配方”的对照实验里打开
        head.append(
            layers.RandomTranslation(shift, shift, fill_mode="constant")
        )
    return keras.Sequential(
        head
        + [
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


def build_classic_cnn(input_shape=(28, 28, 1), num_classes=10, shift=0.0):
    """构建 Keras 官方 MNIST 示例的经典卷积网络（作为基线）。

    两个“卷积 + 最大池化”块，展平后随机丢弃一半，再接 softmax 输出。

    Args:
        input_shape: 单张图片的形状 (高, 宽, 通道)。
        num_classes: 类别数。
        shift: 随机平移的最大幅度；默认 0 即 Keras 示例原样（无增强），
            只有“经典布局 + 本章配方”的对照实验才打开。

    Returns:
        未编译的 ``keras.Sequential`` 模型，输入 uint8 或 float 像素
        (批量大小, 高, 宽, 通道)，输出 (批量大小, 类别数) 的概率。
    """
    _check_shift(shift)
    return _classic_cnn(tuple(input_shape), int(num_classes), shift)


def _check_shift(shift):
    if not 0 <= shift < 0.5:
        raise ValueError(
            f"shift 是平移幅度占高、宽的比例，应在 [0, 0.5) 内，"
            f"收到 {shift!r}。"
        )


def _conv_block(x, filters, kernel_size, name, batchnorm, pool_first):
    from keras import layers

    # 紧随其后的批量归一化会减去均值，偏置被抵消，所以卷积不带偏置
    x = layers.Conv2D(
        filters, kernel_size, use_bias=not batchnorm, name=f"{name}_conv"
    )(x)
    pool = layers.MaxPooling2D(2, name=f"{name}_pool")
    if pool_first:  # 本章的提速做法：先池化，后两步只处理 1/4 的值
        x = pool(x)
    if batchnorm:
        # 动量 0.9：训练步数不多时滑动统计量也能跟上（见“常用层”一节）
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return x if pool_first else pool(x)


def conv_pool_bn_relu(
    x, filters, kernel_size, name, batchnorm=True, pool_first=True
):
    """卷积 → 2×2 最大池化 → 批量归一化 → ReLU 的小积木（函数式 API）。

    常见的顺序是“卷积 → 批量归一化 → ReLU → 池化”（``pool_first=False``）。
    本章默认先池化：这是一个*不同的、更省时的*网络，而不是等价改写。
    ReLU 与最大池化可以严格交换（见 :func:`pool_commutes`）；批量归一化
    则不然：训练时它的均值和方差取自池化后的激活值，γ 也可能学成负数。

    Args:
        x: 输入张量 (批量大小, 高, 宽, 通道)。
        filters: 卷积的输出通道数。
        kernel_size: 卷积核边长。
        name: 层名前缀。
        batchnorm: False 时去掉批量归一化（卷积改为带偏置），用于消融实验。
        pool_first: False 时改用常见顺序，池化放在最后。
    """
    return _conv_block(x, filters, kernel_size, name, batchnorm, pool_first)


def _chapter_cnn(
    input_shape,
    num_classes,
    width,
    kernel_sizes,
    dropout,
    shift,
    batchnorm,
    pool_first,
):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    if shift:  # 随机平移只在训练时生效，推断时原样通过
        x = layers.RandomTranslation(
            shift, shift, fill_mode="constant", name="augment"
        )(x)
    for i, k in enumerate(kernel_sizes):  # 第二块的通道数加倍
        x = _conv_block(
            x, width * 2**i, k, f"block{i + 1}", batchnorm, pool_first
        )
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="chapter_cnn")


def build_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    width=32,
    kernel_sizes=(5, 5),
    dropout=0.5,
    shift=CNN_SHIFT,
    batchnorm=True,
    pool_first=True,
):
    """构建本章的卷积网络：经典布局换成 5×5 的核，加批量归一化与增强。

    Args:
        input_shape: 单张图片的形状 (高, 宽, 通道)。
        num_classes: 类别数。
        width: 第一个卷积块的通道数，第二块加倍。
        kernel_sizes: 两个卷积层的核边长 (第一层, 第二层)。
        dropout: 输出层之前随机丢弃的比例。
        shift: 随机平移的最大幅度（占高、宽的比例）；0 表示不做增强。
        batchnorm: False 时去掉批量归一化（消融实验用）。
        pool_first: False 时每块改用常见顺序“卷积 → BN → ReLU → 池化”。

    Returns:
        未编译的函数式 ``keras.Model``，输入像素 (批量大小, 高, 宽, 通道)，
        取值 0–255；输出 (批量大小, 类别数) 的概率。
    """
    _check_shift(shift)
    if len(kernel_sizes) != 2:
        raise ValueError(
            f"kernel_sizes 应为两个卷积层的核边长 (第一层, 第二层)，"
            f"收到 {kernel_sizes!r}。"
        )
    return _chapter_cnn(
        tuple(input_shape),
        int(num_classes),
        int(width),
        tuple(int(k) for k in kernel_sizes),
        float(dropout),
        shift,
        bool(batchnorm),
        bool(pool_first),
    )


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


def _train_cnn(
    build,
    X,
    y,
    seed,
    epochs,
    lr,
    batch_size,
    schedule,
    fit_kwargs,
    build_kwargs,
):
    import keras

    keras.utils.set_random_seed(seed)  # 让权重初始化也可复现
    model = build(X.shape[1:], **build_kwargs)
    # 升温 + 余弦退火需要知道总步数；schedule=False 时学习率固定为 lr
    steps = epochs * int(np.ceil(len(X) / batch_size))
    compile_model(model, lr, total_steps=steps if schedule else None)
    history, seconds = fit_timed(
        model, X, y, epochs, batch_size, seed=seed, **fit_kwargs
    )
    return model, history, seconds


def train_cnn(
    X,
    y,
    seed=0,
    epochs=CNN_EPOCHS,
    lr=CNN_LR,
    batch_size=CNN_BATCH_SIZE,
    schedule=True,
    build=None,
    **kwargs,
):
    """按本章的设置训练本章的 CNN，返回 (模型, 历史, 秒数)。

    Args:
        X: 训练图片，形状 (样本数, 高, 宽, 通道)，像素 0–255。
        y: 整数标签，形状 (样本数,)。
        seed: 随机种子，固定权重初始化、打乱顺序与随机丢弃。
        epochs: 训练轮数。
        lr: 学习率调度的峰值；``schedule=False`` 时是固定的学习率。
        batch_size: 批量大小。
        schedule: 是否使用升温 + 余弦退火（:func:`cosine_schedule`）。
        build: 构建模型的函数，默认 :func:`build_cnn`；传
            :func:`build_classic_cnn`（配 ``shift=0.1``）就是“经典布局 +
            本章配方”的对照实验。
        **kwargs: 其余参数中，``validation_data`` 与 ``verbose`` 交给
            :func:`fit_timed`，其他（如 ``kernel_sizes``、``shift``、
            ``batchnorm``）交给 ``build``，便于做消融实验。
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(
            "epochs 与 batch_size 都应为正整数，"
            f"收到 {epochs}、{batch_size}。"
        )
    fit_kwargs = {
        k: kwargs.pop(k)
        for k in ("validation_data", "verbose")
        if k in kwargs
    }
    return _train_cnn(
        build or build_cnn,
        X,
        y,
        seed,
        int(epochs),
        lr,
        int(batch_size),
        bool(schedule),
        fit_kwargs,
        kwargs,
    )


def step_seconds(model, X, y, batch_size=128, steps=10):
    """已编译的模型每个训练步（一个批量）平均用多少秒。

    先跑两步让 TensorFlow 完成追踪与编译，再计时 steps 步。它只看
    每一步的计算量，不受训练轮数和数据量影响，几秒钟就能比较两个模型。
    """
    batch = X[:batch_size], y[:batch_size]
    for _ in range(2):
        model.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*batch)
    return (time.perf_counter() - start) / steps


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


def _confusion_matrix(y_true, y_pred, num_classes):
    cm = np.zeros((num_classes, num_classes), dtype=int)
    # 每个 (真实, 预测) 对在对应的格子里加 1；重复的下标也会逐个累加
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


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
    return _confusion_matrix(y_true, y_pred, int(num_classes))


def mcnemar(correct_a, correct_b) -> dict:
    """配对比较两个模型在同一批样本上的对错：精确 McNemar 检验。

    只有“一个对、一个错”的样本才携带两者差别的信息。设 A 对 B 错的有
    n01 个，A 错 B 对的有 n10 个；若两个模型一样好，这 n01 + n10 个样本
    各以 1/2 的概率落在哪一边，n01 服从二项分布 B(n01 + n10, 1/2)。

    Args:
        correct_a: 模型 A 每个样本是否判对，形状 (样本数,) 的布尔数组。
        correct_b: 模型 B 在同样样本上是否判对，形状相同。

    Returns:
        字典：``n01``（A 对 B 错）、``n10``（A 错 B 对）与双侧
        精确 p 值 ``p``。
    """
    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"correct_a 与 correct_b 应为同样长度的一维数组，收到形状 "
            f"{a.shape} 与 {b.shape}：两者必须是同一批样本上的对错。"
        )
    if a.dtype != bool or b.dtype != bool:
        raise ValueError(
            "correct_a 与 correct_b 应为布尔数组（True 表示判对），"
            f"收到 {a.dtype} 与 {b.dtype}；可以先写成 y_hat == y。"
        )
    n01, n10 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return {"n01": n01, "n10": n10, "p": _mcnemar_p(n01, n10)}


def _mcnemar_p(n01, n10):
    from math import comb

    # 双侧：把两边尾部中较小的一侧概率加倍（不超过 1）
    n, k = n01 + n10, min(n01, n10)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def baseline_results(path=None) -> dict:
    """读入 ``benchmarks/cnn_baseline.py --write`` 写出的结果文件。

    Args:
        path: 结果文件；默认是仓库里的
            ``benchmarks/results/cnn_baseline.json``。

    Returns:
        结果字典：``protocol``（两种协议的数据量、轮数与种子）、
        ``rows``（消融表各行的键、中文名与参数）、``holdout`` 与
        ``test``（每次训练一条记录：键、种子、准确率、秒数……）。
    """
    import json
    from pathlib import Path

    if path is None:
        path = (
            Path(__file__).resolve().parents[2]
            / "benchmarks"
            / "results"
            / "cnn_baseline.json"
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"找不到基准测试的结果文件 {path}。请在仓库根目录运行 "
            "python benchmarks/cnn_baseline.py --write "
            "benchmarks/results/cnn_baseline.json 生成它。"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def summarize_runs(records, rows) -> "pd.DataFrame":  # noqa: F821
    """把每次训练的记录按行汇总成表：种子数、准确率的均值、标准差与最低值。

    Args:
        records: 记录的列表，每条有 ``key``、``acc``、``seconds``。
        rows: 消融表各行，``[{"key": ..., "name": ...}, ...]``，决定表的
            行序与行名。

    Returns:
        ``pandas.DataFrame``，索引为行的中文名。
    """
    import pandas as pd

    table = {}
    for row in rows:
        accs = [r["acc"] for r in records if r["key"] == row["key"]]
        secs = [r["seconds"] for r in records if r["key"] == row["key"]]
        if not accs:
            continue
        table[row["name"]] = {
            "种子数": len(accs),
            "准确率均值": float(np.mean(accs)),
            "标准差": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
            "最低": float(np.min(accs)),
            "训练秒数": float(np.mean(secs)),
        }
    return pd.DataFrame(table).T


def _calibration_bins(confidence, correct, n_bins):
    # 按置信度把样本分进等宽的箱子，每箱比较平均置信度与实际准确率
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf = np.bincount(which, confidence, n_bins) / np.maximum(count, 1)
    acc = np.bincount(which, correct, n_bins) / np.maximum(count, 1)
    ece = np.sum(count * np.abs(acc - conf)) / len(confidence)
    return {
        "edges": edges,
        "count": count,
        "confidence": conf,
        "accuracy": acc,
        "ece": float(ece),
    }


def calibration(probs, y, n_bins=10) -> dict:
    """可靠性图的数据与期望校准误差（expected calibration error, ECE）。

    每个样本的置信度是最大的预测概率。按置信度分成 n_bins 个等宽的箱子，
    ECE 是各箱“平均置信度与准确率之差的绝对值”按样本数加权的平均：
    模型说“90% 有把握”的那些样本，若真有 90% 判对，就是校准良好的。

    Args:
        probs: 预测概率，形状 (样本数, 类别数)，每行之和为 1。
        y: 真实标签，形状 (样本数,)。
        n_bins: 箱子数。

    Returns:
        字典：``edges``（箱子边界）、``count``、``confidence``、
        ``accuracy``（各箱的样本数、平均置信度、准确率；空箱为 0）
        与 ``ece``。
    """
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if probs.ndim != 2 or len(probs) != len(y):
        raise ValueError(
            f"probs 应为 (样本数, 类别数)、y 应为 (样本数,)，收到形状 "
            f"{probs.shape} 与 {y.shape}。"
        )
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    return _calibration_bins(confidence, correct, int(n_bins))


def predict_tta(model, X, shifts=((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))):
    """测试时增强（test-time augmentation）：对平移后的几份图片取平均概率。

    Args:
        model: 输出概率的模型。
        X: 图片，形状 (样本数, 高, 宽, 通道)。
        shifts: (下移, 右移) 像素数的列表；空出来的边补 0（背景）。

    Returns:
        平均后的概率，形状 (样本数, 类别数)。
    """
    X = np.asarray(X)
    total = 0
    for dy, dx in shifts:
        shifted = np.zeros_like(X)
        h, w = X.shape[1:3]
        shifted[
            :, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)
        ] = X[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
        total = total + model.predict(shifted, batch_size=256, verbose=0)
    return total / len(shifts)

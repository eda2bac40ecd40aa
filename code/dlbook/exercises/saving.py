"""“保存和加载模型”一部分练习的检查器。

每个检查器在随机用例上运行读者的函数，与参考实现比较，出错时用中文
说明错在哪里::

    from dlbook.exercises.saving import check_checkpoint_epoch
    check_checkpoint_epoch(my_checkpoint_epoch)
"""

import os
import re
import tempfile

import numpy as np

from dlbook.exercises import ExerciseError, compare_on_cases

#: 练习用的文件名模板：Keras 文档中的写法，补零的与不补零的。
TEMPLATES = (
    "cp-{epoch:04d}.weights.h5",
    "cp-{epoch}.weights.h5",
    "{epoch:02d}-{val_loss:.2f}.weights.h5",
    "model.{epoch:02d}-{val_loss:.2f}.keras",
    "epoch-{epoch:04d}.keras",
)


def _checkpoint_epoch_cases(rng, n):
    cases = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        epoch = int(rng.integers(1, 20_000))
        loss = float(rng.uniform(0, 10))
        name = template.format(epoch=epoch, val_loss=loss)
        if i % 7 == 6:  # 不符合模板的文件名：应返回 None
            name = "best" + name[name.index(".") :]
        cases.append((os.path.join("ckpt", name), template))
    # 最容易出错的一例：轮次 5、损失 0.43
    cases.append(("05-0.43.weights.h5", TEMPLATES[2]))
    return cases


def _diagnose_epoch(case, got, want):
    name, _ = case
    digits = re.findall(r"\d+", os.path.basename(name))
    if want is None:
        return "这个文件名不符合模板，应返回 None，而不是猜一个轮次。"
    if digits and got == int(digits[-1]) != want:
        return "像是取了文件名里最后一串数字，而不是模板中 {epoch} 的位置。"
    if isinstance(got, str):
        return "像是返回了字符串，请用 int() 转成整数。"
    return ""


def check_checkpoint_epoch(fn, *, seed=0, n_cases=40) -> str:
    """检查读者的 ``fn(name, template)`` 能否按模板读出轮次。

    Raises:
        ExerciseError: 某个用例上结果与参考实现不同；消息给出用例与提示。
    """
    from dlbook.saving import checkpoint_epoch

    rng = np.random.default_rng(seed)
    for case in _checkpoint_epoch_cases(rng, n_cases):
        want = checkpoint_epoch(*case)
        try:
            got = fn(*case)
        except Exception as err:  # 读者代码的任何错误都要讲清楚
            raise ExerciseError(
                f"文件名 {case[0]!r}、模板 {case[1]!r} 上，你的函数抛出了 "
                f"{type(err).__name__}：{err}"
            ) from err
        if got != want or type(got) is not type(want):
            raise ExerciseError(
                f"文件名 {case[0]!r}、模板 {case[1]!r} 上，轮次应为 "
                f"{want!r}，你的函数给出的是 {got!r}。"
                f"{_diagnose_epoch(case, got, want)}"
            )
    return f"通过：你的函数在全部 {n_cases + 1} 个文件名上与参考实现一致。"


def reference_atomic_write(path, data: bytes, before_replace=None):
    """参考实现：原子地把 data 写到 path（同目录临时文件 + os.replace）。"""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class _Interrupt(Exception):
    """检查器注入的“写到一半被打断”。"""


def check_atomic_write(fn) -> str:
    """检查读者的 ``fn(path, data, before_replace=None)`` 是否原子地写文件。

    检查四件事：内容正确；临时文件与目标在同一目录；在改名前被打断时
    旧文件一字节未变、且不留临时文件；成功后目录里只有目标文件。

    Raises:
        ExerciseError: 某一项不满足；消息说明是哪一项。
    """
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cp.bin")
        old, new = b"old checkpoint" * 100, b"new checkpoint" * 200
        _call(fn, path, old)
        if _read(path) != old:
            raise ExerciseError("写完之后，文件内容与传入的 data 不同。")
        seen = []

        def interrupt(tmp):
            seen.append(os.fspath(tmp))
            raise _Interrupt("检查器在改名之前打断了写入")

        try:
            fn(path, new, before_replace=interrupt)
        except _Interrupt:
            pass
        else:
            raise ExerciseError(
                "你的函数没有调用 before_replace(临时文件路径)，或吞掉了它"
                "抛出的异常；打断应当原样传出去。"
            )
        if not seen or os.path.dirname(os.path.abspath(seen[0])) != d:
            raise ExerciseError(
                "临时文件不在目标文件所在的目录里：跨文件系统时 os.replace "
                "不是原子的，甚至会失败（EXDEV）。请用 "
                "tempfile.mkstemp(dir=目标目录)。"
            )
        if _read(path) != old:
            raise ExerciseError(
                "在改名之前被打断后，旧文件已经变了：你是不是直接写了目标"
                "路径，或者先删除了旧文件？"
            )
        if os.listdir(d) != ["cp.bin"]:
            raise ExerciseError(
                f"被打断后目录里留下了 {sorted(os.listdir(d))}：出错时请"
                "删掉临时文件再把异常抛出去。"
            )
        _call(fn, path, new)
        if _read(path) != new or os.listdir(d) != ["cp.bin"]:
            raise ExerciseError("第二次写入后，内容不对或留下了临时文件。")
    return "通过：内容正确、临时文件在同一目录、打断时旧文件完好且无残留。"


def _call(fn, path, data):
    try:
        fn(path, data)
    except Exception as err:
        raise ExerciseError(
            f"写入 {len(data)} 字节时，你的函数抛出了 "
            f"{type(err).__name__}：{err}"
        ) from err


def _read(path) -> bytes:
    if not os.path.exists(path):
        raise ExerciseError(f"目标文件 {os.path.basename(path)} 不存在。")
    with open(path, "rb") as f:
        return f.read()


def reference_adam_step(
    theta, g, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7
):
    """参考实现：Adam 的一步，t 是这一步的序号（从 1 数起）。"""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _adam_cases(rng, n):
    cases = []
    for i in range(n):
        shape = tuple(int(k) for k in rng.integers(1, 5, size=1 + i % 2))
        theta, g = rng.normal(size=shape), rng.normal(size=shape)
        if i < 3:  # 从零状态开始的第一步：恢复时丢了优化器状态就是这样
            m, v, t = np.zeros(shape), np.zeros(shape), 1
        else:
            m = rng.normal(scale=0.1, size=shape)
            v = rng.uniform(0.01, 1, size=shape)
            t = int(rng.integers(2, 50))
        cases.append((theta, g, m, v, t))
    return cases


def _diagnose_adam(case, got, want):
    theta, g, m, v, t = case
    plain = reference_adam_step(theta, g, m, v, 10**9)[0]  # 不做偏差修正
    if np.allclose(got, plain, atol=1e-6):
        return "像是漏了偏差修正 m/(1-β1^t)、v/(1-β2^t)。"
    off = reference_adam_step(theta, g, m, v, t + 1)[0]
    if np.allclose(got, off, atol=1e-6):
        return "偏差修正的 t 差了 1：t 是这一步的序号，从 1 数起。"
    if np.allclose(got, 2 * theta - want, atol=1e-6):
        return "更新方向反了：应当沿负梯度方向走。"
    return ""


def check_adam_step(fn, *, seed=0, n_cases=12) -> str:
    """检查读者的 ``fn(theta, g, m, v, t)`` 是否算对了 Adam 的一步。

    ``fn`` 返回 ``(新 theta, 新 m, 新 v)``；这里只比较新 theta（它由
    m、v 决定）。参考实现与 ``keras.optimizers.Adam`` 的默认超参数相同
    （学习率 0.001、β1=0.9、β2=0.999、ε=1e-7）。
    """
    rng = np.random.default_rng(seed)

    def first(*case):
        return fn(*case)[0]

    def reference(*case):
        return reference_adam_step(*case)[0]

    return compare_on_cases(
        first,
        reference,
        _adam_cases(rng, n_cases),
        name="你的 Adam",
        diagnose=_diagnose_adam,
        atol=1e-9,
    )


def check_layer_config(layer_cls, *, seed=0) -> str:
    """检查自定义层 ``layer_cls(units, scale=..., activation=...)`` 的
    ``get_config`` 是否写全了构造参数：存成 ``.keras`` 再读回，结构和
    输出都要与原来相同。

    Raises:
        ExerciseError: 读回失败、参数丢失或输出不同；消息说明是哪一个。
    """
    import keras

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, 6)).astype("float32")
    settings = {"units": 3, "scale": 0.25, "activation": "tanh"}
    layer = layer_cls(**settings)
    model = keras.Sequential([keras.Input(shape=(6,)), layer])
    config = layer.get_config()
    missing = [k for k in settings if k not in config]
    if missing:
        raise ExerciseError(
            f"get_config() 返回的配置里没有 {missing}：加载时 Keras 只能"
            "用默认值重建这一层。请把每个构造参数都写进配置。"
        )
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "custom.keras")
        model.save(path)
        try:
            loaded = keras.models.load_model(
                path, custom_objects={layer_cls.__name__: layer_cls}
            )
        except Exception as err:
            raise ExerciseError(
                f"从 .keras 文件读回时出错：{type(err).__name__}："
                f"{str(err).splitlines()[0]}。常见原因：get_config 里的值"
                "不能写成 JSON（例如直接放了函数对象，应放它的名字），或"
                "忘了 **super().get_config()。"
            ) from err
    back = loaded.layers[0].get_config()
    for key, value in settings.items():
        same = back.get(key) == value
        if key == "activation" and not same:
            try:
                same = keras.activations.get(back.get(key)) is (
                    keras.activations.get(value)
                )
            except (ValueError, TypeError):
                same = False
        if not same:
            raise ExerciseError(
                f"读回的层里 {key} = {back.get(key)!r}，应为 {value!r}。"
            )
    got = loaded.predict(X, verbose=0)
    want = model.predict(X, verbose=0)
    if not np.allclose(got, want, atol=1e-6):
        raise ExerciseError(
            "读回的模型输出与原模型不同：某个参数在重建时没有用上。"
        )
    return "通过：配置完整，存成 .keras 再读回后输出相同。"


def reference_scaled_layer():
    """参考答案：``get_config`` 写全了构造参数的 ``Scaled`` 层（类本身）。"""
    import keras

    class Scaled(keras.layers.Layer):
        def __init__(self, units, scale=1.0, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale = units, scale
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, x):
            return self.activation(self.scale * (x @ self.w))

        def get_config(self):
            return {
                **super().get_config(),
                "units": self.units,
                "scale": self.scale,
                "activation": keras.activations.serialize(self.activation),
            }

    return Scaled


def reference_newest_version(names):
    """参考实现：目录名里版本号最大的那个（整数）；没有版本时返回 None。"""
    versions = [int(n) for n in names if n.isdigit()]
    return max(versions, default=None)


def _version_cases(rng, n):
    cases = [(["1", "2", "10"],), ([".tmp-3-x", "2"],), (["assets"],), ([],)]
    for _ in range(n):
        k = int(rng.integers(1, 8))
        names = [str(int(v)) for v in rng.choice(200, size=k, replace=False)]
        names += [".tmp-999-ab", "README.txt", "v3"][
            : int(rng.integers(0, 4))
        ]
        rng.shuffle(names)
        cases.append((names,))
    return cases


def _diagnose_version(case, got, want):
    (names,) = case
    if got == max(names, default=None):
        return "像是按字符串比较（'9' > '10'）：请先转成整数再比较。"
    if want is not None and got not in (want, None) and str(got) in names:
        return "像是把不是纯数字的名字（临时目录、说明文件）也算成了版本。"
    return ""


def check_newest_version(fn, *, seed=0, n_cases=20) -> str:
    """检查读者的 ``fn(names)``：从目录名列表里挑出最大的整数版本号。"""
    rng = np.random.default_rng(seed)
    for (names,) in _version_cases(rng, n_cases):
        want = reference_newest_version(names)
        try:
            got = fn(list(names))
        except Exception as err:
            raise ExerciseError(
                f"目录名 {names} 上，你的函数抛出了 {type(err).__name__}："
                f"{err}"
            ) from err
        if got != want or type(got) is not type(want):
            raise ExerciseError(
                f"目录名 {names} 上，应返回 {want!r}，你的函数给出的是 "
                f"{got!r}。{_diagnose_version((names,), got, want)}"
            )
    return f"通过：你的函数在全部 {n_cases + 4} 组目录名上与参考实现一致。"

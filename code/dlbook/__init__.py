"""dlbook：《第12节课》可执行教材配套的、经过测试的代码包。

导入本包时，先于 TensorFlow 设定两个环境变量，使单元格输出里不出现
TensorFlow/absl/oneDNN 的日志行。每一页书的第一个代码单元都应先
``import dlbook``，再调用 :func:`dlbook.setup` 固定随机种子。
"""

import os

#: 安静且可复现的运行环境：关闭 TensorFlow/absl/oneDNN 的日志，固定
#: Keras 后端与字符串哈希的种子。构建扩展 dlbook_build 也用它设置内核的
#: 环境。用 setdefault：读者自己设了的值优先。
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONHASHSEED": "0",
}

# 必须在 TensorFlow 被导入之前设置，否则 C++ 日志已经打印出来了。
for _key, _value in QUIET_ENV.items():
    os.environ.setdefault(_key, _value)

__version__ = "0.1.0"

#: 全书默认的随机种子。
SEED = 0


def setup(seed: int = SEED, *, deterministic: bool = True) -> None:
    """为一页书做统一准备：固定随机种子、启用确定性算子、设置中文字体。

    Args:
        seed: 传给 ``keras.utils.set_random_seed`` 的种子，它同时固定
            Python ``random``、NumPy 与 TensorFlow 的随机数。
        deterministic: 为 True 时启用 TensorFlow 的确定性算子，
            使两次构建打印出相同的数字。
    """
    from dlbook._subprocess import import_tensorflow_quickly

    # 导入期间暂停垃圾回收：每页的内核少花约 1.5 秒 CPU，结果不变。
    import_tensorflow_quickly()

    import absl.logging
    import keras
    import tensorflow as tf

    from dlbook.plotting import use_chinese_font

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    use_chinese_font()

"""报告构建本书时所用的软件环境。"""

import os
import platform
import unicodedata


def environment() -> dict[str, str]:
    """收集 Python、TensorFlow、Keras、NumPy 等的版本与计算设备。

    Returns:
        有序字典：键为中文名称，值为版本或设备描述。
    """
    import keras
    import matplotlib
    import numpy as np
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads()
    gpus = tf.config.list_physical_devices("GPU")
    device = f"{len(gpus)} 块 GPU" if gpus else "仅 CPU"
    return {
        "Python": platform.python_version(),
        "TensorFlow": tf.__version__,
        "Keras": keras.__version__,
        "Keras 后端": keras.backend.backend(),
        "NumPy": np.__version__,
        "Matplotlib": matplotlib.__version__,
        "操作系统": f"{platform.system()} {platform.machine()}",
        "CPU 核数": str(os.cpu_count()),
        "TensorFlow 算子内线程数": str(threads) if threads else "默认",
        "计算设备": device,
    }


def environment_table() -> str:
    """把 :func:`environment` 的结果排成两列的纯文本表格。"""
    env = environment()
    width = max(_display_width(k) for k in env)
    lines = []
    for key, value in env.items():
        pad = " " * (width - _display_width(key))
        lines.append(f"{key}{pad}  {value}")
    return "\n".join(lines)


def _display_width(text: str) -> int:
    """等宽字体下的显示宽度：全角与宽字符（如汉字）占两格。"""
    return sum(
        2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text
    )

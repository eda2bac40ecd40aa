"""部署：导出带命名端点的 SavedModel、按版本号存放、挑最新的可用版本。

- :func:`export_endpoint` 用 ``keras.export.ExportArchive`` 导出一个
  批量大小可变、端点和输入都有名字的 SavedModel；
- :func:`export_version` 按 TF Serving 的约定写到 ``基目录/版本号/``，
  先写临时目录再改名，半途而废的导出不会冒充一个版本；
- :func:`latest_valid_export` 从最新的版本往回找，跳过打不开或算不对的；
- :func:`predict_in_plain_tf` 在一个只导入 TensorFlow、没有模型代码的
  子进程里调用导出的端点。
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

#: 本书导出的端点名与输入名。
ENDPOINT = "predict_logits"
INPUT_NAME = "pixels"


def _export_endpoint(model, path, endpoint, input_name, n_features):
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)  # 让变量随 SavedModel 一起保存
    archive.add_endpoint(
        name=endpoint,
        fn=lambda x: model(x, training=False),  # 推理：关掉 Dropout
        # 第一维是 None：任意批量大小都能调用
        input_signature=[
            tf.TensorSpec([None, n_features], tf.float32, name=input_name)
        ],
    )
    archive.write_out(path, verbose=False)


def export_endpoint(model, path, *, endpoint=ENDPOINT, input_name=INPUT_NAME):
    """把 model 导出为只含一个命名端点的 SavedModel 目录。

    Args:
        model: 输入形状为 (批量大小, 特征数) 的 Keras 模型。
        path: 目标目录（不应已存在）。
        endpoint: 端点名，也是 ``serving_default`` 之外的签名名。
        input_name: 输入张量的名字（签名里的键）。

    Returns:
        path（字符串）。
    """
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(
            f"{path} 已存在。导出的版本不应被覆盖：请换一个目录，或用 "
            "export_version 自动取下一个版本号。"
        )
    shape = model.inputs[0].shape if model.inputs else None
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"export_endpoint 只处理输入形状为 (批量大小, 特征数) 的模型，"
            f"收到输入形状 {shape}。"
        )
    _export_endpoint(model, path, endpoint, input_name, int(shape[-1]))
    return path


def _versions(base_dir):
    # 名字全是数字的子目录才是版本；临时目录以“.”开头，不算
    names = os.listdir(base_dir) if os.path.isdir(base_dir) else []
    return sorted(int(n) for n in names if n.isdigit())


def export_version(model, base_dir, **kwargs) -> str:
    """导出为 ``base_dir/<下一个版本号>/``（TF Serving 的目录约定）。

    先导出到同一目录下的临时目录，完成后再改名为版本号：加载方永远
    看不到写了一半的版本。

    Returns:
        新版本的目录。
    """
    base_dir = os.fspath(base_dir)
    os.makedirs(base_dir, exist_ok=True)
    version = max(_versions(base_dir), default=0) + 1
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base_dir)
    os.rmdir(tmp)  # 让 ExportArchive 自己建这个目录
    try:
        export_endpoint(model, tmp, **kwargs)
        final = os.path.join(base_dir, str(version))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _check_export(path, endpoint, probe):
    # 打得开、有这个端点、对探针输入算出有限的结果，才算可用
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    out = getattr(loaded, endpoint)(tf.constant(probe))
    if not np.all(np.isfinite(out.numpy())):
        raise ValueError("输出有 NaN 或无穷大")  # 属于算法：坏版本要跳过
    return loaded


def latest_valid_export(base_dir, probe, *, endpoint=ENDPOINT):
    """从版本号最大的导出往回找，返回第一个可用的。

    Args:
        base_dir: 版本目录所在的基目录。
        probe: 探针输入，形状 (批量大小, 特征数) 的 float32 数组。
        endpoint: 要调用的端点名。

    Returns:
        ``(路径, 加载得到的对象, 跳过的 [(路径, 原因)])``。

    Raises:
        FileNotFoundError: 没有任何可用的版本。
    """
    base_dir = os.fspath(base_dir)
    probe = np.asarray(probe, dtype="float32")
    skipped = []
    for version in reversed(_versions(base_dir)):
        path = os.path.join(base_dir, str(version))
        try:
            return path, _check_export(path, endpoint, probe), skipped
        except Exception as err:  # 任何原因打不开，都换上一个版本
            reason = str(err).strip().splitlines()[0][:120]
            skipped.append((path, f"{type(err).__name__}: {reason}"))
    raise FileNotFoundError(
        f"{base_dir} 中没有可用的导出版本（跳过了 {len(skipped)} 个："
        f"{skipped}）。请先用 export_version 导出一个。"
    )


#: 子进程里运行的脚本：只导入 TensorFlow 和 NumPy。
_PLAIN_TF = """
import sys
import numpy as np
import tensorflow as tf

path, endpoint, x_file, y_file = sys.argv[1:5]
loaded = tf.saved_model.load(path)
y = getattr(loaded, endpoint)(tf.constant(np.load(x_file)))
np.save(y_file, y.numpy())
print("dlbook" in sys.modules)
"""


def predict_in_plain_tf(path, X, *, endpoint=ENDPOINT, timeout=300):
    """在只用 ``tf.saved_model.load``、没有模型代码的子进程里调用端点。

    子进程不导入 dlbook，也不调用任何 Keras API（TensorFlow 在 import
    时会顺带加载 Keras 的部分模块，但用不到它们）。

    Returns:
        ``(输出数组, 子进程里是否导入过 dlbook)``。
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as d:
        x_file, y_file = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
        np.save(x_file, np.asarray(X, dtype="float32"))
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _PLAIN_TF,
                os.fspath(path),
                endpoint,
                x_file,
                y_file,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"子进程调用 {path} 的端点 {endpoint} 失败（退出码 "
                f"{proc.returncode}）。标准错误的末尾：\n{proc.stderr[-2000:]}"
            )
        used_dlbook = proc.stdout.strip().splitlines()[-1] == "True"
        return np.load(y_file), used_dlbook


def saved_model_cli_run(path, signature, *, timeout=120, **inputs) -> dict:
    """用 ``saved_model_cli run`` 在命令行里调用一个签名，返回各输出。

    inputs 以签名的输入名为关键字（如 ``pixels=X``），各自存成 ``.npy``
    交给 ``--inputs``；输出由 ``--outdir`` 写成 ``<输出名>.npy`` 再读回。

    Returns:
        ``{输出名: 数组}``。

    Raises:
        ValueError: 没有给任何输入。
        RuntimeError: 命令失败（例如签名名或输入名不对），附标准错误的末尾。
    """
    if not inputs:
        raise ValueError(
            "saved_model_cli_run 至少要一个输入，例如 pixels=X；输入名见 "
            "saved_model_cli_show 列出的 inputs[...]。"
        )
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as d:
        specs = []
        for name, value in inputs.items():
            np.save(os.path.join(d, f"{name}.npy"), np.asarray(value))
            specs.append(f"{name}={os.path.join(d, name)}.npy")
        out = os.path.join(d, "out")
        proc = subprocess.run(
            [
                cli,
                "run",
                "--dir",
                os.fspath(path),
                "--tag_set",
                "serve",
                "--signature_def",
                signature,
                "--inputs",
                ";".join(specs),
                "--outdir",
                out,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"saved_model_cli run 调用 {os.fspath(path)} 的签名 "
                f"{signature} 失败（退出码 {proc.returncode}）。签名名和"
                "输入名见 saved_model_cli_show。标准错误的末尾：\n"
                + proc.stderr[-2000:]
            )
        return {
            name[: -len(".npy")]: np.load(os.path.join(out, name))
            for name in sorted(os.listdir(out))
        }


def saved_model_cli_show(path, timeout=120) -> str:
    """运行 ``saved_model_cli show --dir PATH --all``，返回它的输出。"""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [cli, "show", "--dir", os.fspath(path), "--all"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"saved_model_cli 失败（退出码 {proc.returncode}）：\n"
            + proc.stderr[-2000:]
        )
    return proc.stdout

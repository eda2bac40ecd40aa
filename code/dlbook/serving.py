"""部署：导出带命名端点的 SavedModel、按版本号存放、挑最新的可用版本。

- :func:`export_endpoint` 用 ``keras.export.ExportArchive`` 导出一个
  批量大小可变、端点和输入都有名字的 SavedModel；
- :func:`export_version` 按 TF Serving 的约定写到 ``基目录/版本号/``，
  先写临时目录再改名，半途而废的导出不会冒充一个版本；
- :func:`latest_valid_export` 从最新的版本往回找，跳过打不开或算不对的；
- :func:`inspect_in_plain_tf` 在一个只导入 TensorFlow、没有模型代码的
  子进程里执行 ``saved_model_cli show`` 和 ``saved_model_cli run``，再只用
  ``tf.saved_model.load`` 调用导出的端点。
"""

import json
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


#: 子进程里运行的脚本：只导入 TensorFlow 和 NumPy（和标准库）。
_PLAIN_TF = """
import contextlib
import gc
import io
import json
import os
import sys

# 导入期间暂停循环垃圾回收，导入后把已有对象移出回收范围：导入和退出
# 都快 1 秒多，结果不变（与 dlbook._subprocess.import_tensorflow_quickly
# 相同；这里不能导入 dlbook）
gc.disable()
import numpy as np
import tensorflow as tf
from absl import flags
from tensorflow.python.tools import saved_model_cli

gc.freeze()
gc.enable()
path, workdir = sys.argv[1:3]
with open(os.path.join(workdir, "job.json")) as f:
    job = json.load(f)


def cli(*argv):
    # 与在终端里运行 saved_model_cli ARGV 相同：同一个解析器、同一个命令函数
    flags.FLAGS.unparse_flags()
    args = saved_model_cli.create_parser().parse_args(list(argv))
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        args.func()
    return text.getvalue()


result = {"show": cli("show", "--dir", path, "--all"), "errors": {}}
x_run = os.path.join(workdir, "x_run.npy")
for i, signature in enumerate(job["signatures"]):
    try:
        cli("run", "--dir", path, "--tag_set", "serve",
            "--signature_def", signature,
            "--inputs", job["input_name"] + "=" + x_run,
            "--outdir", os.path.join(workdir, f"run-{i}"))
    except Exception as e:
        result["errors"][signature] = f"{type(e).__name__}: {e}"
# 不用任何模型代码：只用 tf.saved_model.load 调用端点
loaded = tf.saved_model.load(path)
x = np.load(os.path.join(workdir, "x_predict.npy"))
y = getattr(loaded, job["endpoint"])(tf.constant(x))
np.save(os.path.join(workdir, "y.npy"), y.numpy())
result["used_dlbook"] = "dlbook" in sys.modules
with open(os.path.join(workdir, "result.json"), "w") as f:
    json.dump(result, f)
"""


def _run_plain_tf(
    path, X_run, X_predict, signatures, endpoint, input_name, timeout
):
    """运行 _PLAIN_TF 子进程；返回的字典多一项 ``errors``（签名: 原因）。"""
    path = os.fspath(path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x_run.npy"), np.asarray(X_run, "float32"))
        np.save(
            os.path.join(d, "x_predict.npy"), np.asarray(X_predict, "float32")
        )
        job = dict(
            signatures=list(signatures),
            endpoint=endpoint,
            input_name=input_name,
        )
        with open(os.path.join(d, "job.json"), "w") as f:
            json.dump(job, f)
        proc = subprocess.run(
            [sys.executable, "-c", _PLAIN_TF, path, d],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"子进程检查 {path} 失败（退出码 {proc.returncode}）。请确认"
                f"它是 SavedModel 目录、有端点 {endpoint}。标准错误的末尾：\n"
                + proc.stderr[-2000:]
            )
        with open(os.path.join(d, "result.json")) as f:
            result = json.load(f)
        result["predict"] = np.load(os.path.join(d, "y.npy"))
        result["run"] = {}
        for i, signature in enumerate(signatures):
            out = os.path.join(d, f"run-{i}")
            if signature not in result["errors"]:
                result["run"][signature] = {
                    name[: -len(".npy")]: np.load(os.path.join(out, name))
                    for name in sorted(os.listdir(out))
                }
        return result


def _raise_on_run_errors(result, path):
    """有签名的 ``saved_model_cli run`` 失败时抛出 RuntimeError。"""
    if result["errors"]:
        errors = result["errors"].items()
        detail = "\n".join(f"- 签名 {k}：{why[:300]}" for k, why in errors)
        raise RuntimeError(
            f"saved_model_cli run 调用 {os.fspath(path)} 的签名失败。签名名"
            f"和输入名见 show 的输出（signature_def[...] 与 inputs[...]）。\n"
            + detail
        )


def inspect_in_plain_tf(
    path,
    X_run,
    X_predict,
    *,
    signatures=(ENDPOINT,),
    endpoint=ENDPOINT,
    input_name=INPUT_NAME,
    timeout=300,
) -> dict:
    """在一个只导入 TensorFlow、没有模型代码的新子进程里检查 SavedModel。

    子进程不导入 dlbook，也不调用任何 Keras API（TensorFlow 在 import
    时会顺带加载 Keras 的部分模块，但用不到它们）。它依次：

    1. 执行 ``saved_model_cli show --dir PATH --all``；
    2. 对 signatures 中的每个签名执行 ``saved_model_cli run``，把 X_run
       存成 ``.npy`` 交给 ``--inputs input_name=...``，输出由
       ``--outdir`` 写成 ``<输出名>.npy``；
    3. 只用 ``tf.saved_model.load`` 加载，以 X_predict 调用端点 endpoint。

    两条命令用 ``saved_model_cli`` 自己的命令行解析器和命令函数执行，
    与在终端里运行这两条命令相同；三件事放在一个进程里，只导入一次
    TensorFlow。

    Returns:
        字典：``show``（show 的输出文本）、``run``（``{签名: {输出名:
        数组}}``）、``predict``（端点的输出）、``used_dlbook``（子进程里
        是否导入过 dlbook）。

    Raises:
        RuntimeError: 子进程失败，或某个签名的 ``run`` 失败（例如签名名、
            输入名不对；信息里附命令的报错）。
    """
    result = _run_plain_tf(
        path, X_run, X_predict, signatures, endpoint, input_name, timeout
    )
    _raise_on_run_errors(result, path)
    del result["errors"]
    return result

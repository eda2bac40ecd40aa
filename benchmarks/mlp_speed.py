"""NumPy 多层网络与等价 Keras 模型的一轮训练耗时之比。

同样的 784-128-64-10 ReLU 网络、同样的初始权重、同样的 MNIST 子集、
同样的批量大小与批量顺序，各训练一轮，计时取多次重复中的最小值
（最不受其他进程干扰）。目标：NumPy / Keras <= 1.5。

用法：python benchmarks/mlp_speed.py [--batch-size 32] [--repeats 5]
"""

import argparse
import time

import dlbook

dlbook.setup()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dlbook import mlp  # noqa: E402
from dlbook.data import flatten_images, load_mnist  # noqa: E402


def main() -> None:
    """解析参数，分别计时，打印两个耗时和比值。"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    (X, y), _ = load_mnist()
    X = flatten_images(X)
    acts = ["relu", "relu", "linear"]
    params = mlp.init_params([784, 128, 64, 10], seed=0, dtype=np.float32)
    model = mlp.to_keras(params, acts)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    order = np.random.default_rng(0).permutation(len(X))
    Xo, yo = X[order], y[order]

    def numpy_epoch():
        mlp.sgd_epoch(params, Xo, yo, acts, args.lr, args.batch_size)

    def keras_epoch():
        model.fit(
            Xo,
            yo,
            batch_size=args.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        )

    # 预热：Keras 第一次 fit 要追踪并编译计算图，不计入
    numpy_epoch()
    keras_epoch()
    t_np, t_keras = [], []
    for _ in range(args.repeats):  # 交替计时，两边受到的干扰相近
        start = time.perf_counter()
        numpy_epoch()
        t_np.append(time.perf_counter() - start)
        start = time.perf_counter()
        keras_epoch()
        t_keras.append(time.perf_counter() - start)

    best_np, best_keras = min(t_np), min(t_keras)
    steps = -(-len(X) // args.batch_size)
    print(
        f"数据: {len(X)} 个样本, 批量大小 {args.batch_size}, "
        f"每轮 {steps} 步, 重复 {args.repeats} 次取最小值"
    )
    print(f"NumPy 一轮: {best_np:.3f} s")
    print(f"Keras 一轮: {best_keras:.3f} s")
    print(f"比值 NumPy/Keras: {best_np / best_keras:.2f}  (目标 <= 1.5)")


if __name__ == "__main__":
    main()

"""向量化的 NumPy 卷积（dlbook.conv.conv2d）与 tf.nn.conv2d 的 CPU 耗时比较。

两种规模（均为 3×3 卷积核、步长 1）：

(a) 64 张 28×28×1 的输入，32 个卷积核；
(b) 64 张 14×14×32 的输入，64 个卷积核。

每种规模分别测 "valid" 与 "same" 填充。两者在同一次运行中测量，
取多次重复的最短时间，打印耗时与比值（NumPy / TF）。目标：比值 <= 3。
运行：python benchmarks/conv_speed.py [--repeat 7] [--number 5]
"""

import argparse
import timeit
from functools import partial

import dlbook  # 先设置 TensorFlow 的环境变量

CASES = {
    "(a) 64×28×28×1, 32 个 3×3 核": ((64, 28, 28, 1), 32),
    "(b) 64×14×14×32, 64 个 3×3 核": ((64, 14, 14, 32), 64),
}
GOAL = 3.0


def best_time(fn, repeat: int, number: int) -> float:
    """多次重复取最短的单次耗时（秒），最能代表无干扰时的速度。"""
    return min(timeit.repeat(fn, repeat=repeat, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=5)
    args = parser.parse_args()

    dlbook.setup()
    import numpy as np
    import tensorflow as tf

    from dlbook.conv import conv2d

    rng = np.random.default_rng(0)
    print(f"{'规模':32} {'填充':6} {'NumPy':>10} {'TF':>10} {'比值':>6}")
    worst = 0.0
    for name, (shape, c_out) in CASES.items():
        X = rng.normal(size=shape).astype(np.float32)
        W = rng.normal(size=(3, 3, shape[-1], c_out)).astype(np.float32)
        Xt, Wt = tf.constant(X), tf.constant(W)
        for padding in ("valid", "same"):
            ref = tf.nn.conv2d(Xt, Wt, 1, padding.upper()).numpy()
            Y = conv2d(X, W, padding=padding)  # 预热，并核对结果
            np.testing.assert_allclose(Y, ref, rtol=1e-4, atol=1e-4)
            t_np = best_time(
                partial(conv2d, X, W, padding=padding),
                args.repeat,
                args.number,
            )
            tf_conv = partial(tf.nn.conv2d, Xt, Wt, 1, padding.upper())
            t_tf = best_time(
                lambda f=tf_conv: f().numpy(), args.repeat, args.number
            )
            ratio = t_np / t_tf
            worst = max(worst, ratio)
            print(
                f"{name:32} {padding:6} {t_np * 1e3:8.2f}ms "
                f"{t_tf * 1e3:8.2f}ms {ratio:6.2f}"
            )
    verdict = "达到" if worst <= GOAL else "未达到"
    print(f"最大比值 {worst:.2f}，{verdict}目标（<= {GOAL:g}×）")


if __name__ == "__main__":
    main()

"""向量化的 NumPy 卷积（dlbook.conv.conv2d）与 tf.nn.conv2d 的 CPU 耗时比较。

两种规模（均为 3×3 卷积核、步长 1）：

(a) 64 张 28×28×1 的输入，32 个卷积核；
(b) 64 张 14×14×32 的输入，64 个卷积核。

每种规模分别测 "valid" 与 "same" 填充。两者在同一次运行中测量，
取多次重复的最短时间，打印耗时与比值（NumPy / TF）。目标：比值 <= 3。

NumPy 的矩阵乘法由 OpenBLAS 完成。在负载很重的机器上，OpenBLAS 的多个
工作线程被频繁挂起、唤醒，小矩阵乘法反而比单线程慢得多；若装有
threadpoolctl（scikit-learn 的依赖），脚本另测一遍 BLAS 单线程的耗时。
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

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # 只测默认线程数
        threadpool_limits = None

    rng = np.random.default_rng(0)
    print(
        f"{'规模':32} {'填充':6} {'BLAS 线程':10} {'NumPy':>10} "
        f"{'TF':>10} {'比值':>6}"
    )
    worst = {}
    for name, (shape, c_out) in CASES.items():
        X = rng.normal(size=shape).astype(np.float32)
        W = rng.normal(size=(3, 3, shape[-1], c_out)).astype(np.float32)
        Xt, Wt = tf.constant(X), tf.constant(W)
        for padding in ("valid", "same"):
            ref = tf.nn.conv2d(Xt, Wt, 1, padding.upper()).numpy()
            Y = conv2d(X, W, padding=padding)  # 预热，并核对结果
            np.testing.assert_allclose(Y, ref, rtol=1e-4, atol=1e-4)
            tf_conv = partial(tf.nn.conv2d, Xt, Wt, 1, padding.upper())
            np_conv = partial(conv2d, X, W, padding=padding)
            settings = [("默认", None)]
            if threadpool_limits is not None:
                settings.append(("1", 1))
            for label, n_threads in settings:
                if n_threads is None:
                    t_np = best_time(np_conv, args.repeat, args.number)
                else:
                    with threadpool_limits(n_threads, user_api="blas"):
                        t_np = best_time(np_conv, args.repeat, args.number)
                t_tf = best_time(
                    lambda f=tf_conv: f().numpy(), args.repeat, args.number
                )
                ratio = t_np / t_tf
                worst[label] = max(worst.get(label, 0.0), ratio)
                print(
                    f"{name:32} {padding:6} {label:10} {t_np * 1e3:8.2f}ms "
                    f"{t_tf * 1e3:8.2f}ms {ratio:6.2f}"
                )
    for label, w in worst.items():
        verdict = "达到" if w <= GOAL else "未达到"
        print(
            f"BLAS 线程 {label}：最大比值 {w:.2f}，{verdict}目标"
            f"（<= {GOAL:g}×）"
        )


if __name__ == "__main__":
    main()

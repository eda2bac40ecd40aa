"""“预备知识”一章编程练习的检查器。

用法::

    from dlbook.exercises.prereq import check_cross_entropy
    check_cross_entropy(my_cross_entropy)
"""

import numpy as np

from dlbook.exercises import ExerciseError, compare_on_cases


def cross_entropy_reference(Z, y):
    """每个样本的 softmax 交叉熵（参考实现，用 log-sum-exp 防止溢出）。

    Args:
        Z: logits，形状 (批量大小, 类别数)。
        y: 整数标签，形状 (批量大小,)。

    Returns:
        形状 (批量大小,) 的损失。
    """
    Z = np.asarray(Z, dtype=float)
    Z_shift = Z - Z.max(axis=1, keepdims=True)
    log_p = Z_shift - np.log(np.exp(Z_shift).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(Z)), np.asarray(y)]


def _cases(seed=0):
    """随机用例 (Z, y)：批量大小、类别数各不相同，最后两个 logits 很大。"""
    rng = np.random.default_rng(seed)
    cases = []
    for i, (m, n) in enumerate([(4, 10), (3, 5), (6, 3), (5, 7), (2, 10)]):
        Z = rng.normal(scale=3.0, size=(m, n))
        if i >= 3:  # 大 logits：直接 exp 会溢出成 inf
            Z = Z * 300 + 800
        cases.append((Z, rng.integers(0, n, size=m)))
    return cases


def _diagnose(case, got, want):
    """猜出常见的错误：溢出、返回了平均值、少了负号、沿错了轴。"""
    Z, y = case
    if got.shape == ():
        return (
            "你返回的是一个数；应返回每个样本各自的损失，形状 (批量大小,)。"
        )
    if got.shape != want.shape:
        return "输出应是每个样本一个损失，形状 (批量大小,)。"
    if not np.all(np.isfinite(got)):
        return (
            "结果里有 inf 或 nan：logits 很大时 np.exp 溢出了。"
            "先从每一行减去该行的最大值，再求 exp（结果不变）。"
        )
    if np.allclose(got, -want, atol=1e-6):
        return "符号反了：交叉熵是 -log(正确类别的概率)，应当 ≥ 0。"
    Zs = Z - Z.max(axis=0, keepdims=True)
    log_p0 = Zs - np.log(np.exp(Zs).sum(axis=0, keepdims=True))
    if np.allclose(got, -log_p0[np.arange(len(Z)), y], atol=1e-6):
        return (
            "softmax 沿错了轴：应对每一行（axis=1，一个样本的各类别）归一化。"
        )
    return ""


def check_cross_entropy(fn) -> str:
    """检查读者的 ``cross_entropy(Z, y)``：每个样本的交叉熵，不能溢出。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 某个用例上结果不对；消息说明用例与可能的原因。
    """
    return compare_on_cases(
        fn,
        cross_entropy_reference,
        _cases(),
        name="cross_entropy",
        diagnose=_diagnose,
    )


def check_dropout(fn) -> str:
    """检查读者的 ``dropout(a, rate, rng)``（训练时的反向随机丢弃）。

    随机丢弃的结果是随机的，无法与参考实现逐位比较；这里检查它必须满足的
    性质：形状不变，每个输出要么是 0、要么是输入的 ``1/(1-rate)`` 倍，
    被置零的比例约为 ``rate``，平均值约等于输入的平均值。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 某个性质不满足；消息说明是哪个、可能的原因。
    """
    rng = np.random.default_rng(0)
    for rate in (0.2, 0.5, 0.8):
        a = rng.uniform(1.0, 2.0, size=(200, 100))
        where = f"rate={rate}、输入为形状 {a.shape} 的正数数组时，"
        try:
            out = np.asarray(fn(a.copy(), rate, np.random.default_rng(1)))
        except Exception as err:  # 读者代码的任何错误都要讲清楚
            raise ExerciseError(
                f"{where}dropout 抛出了 {type(err).__name__}：{err}"
            ) from err
        if out.shape != a.shape:
            raise ExerciseError(
                f"{where}输出形状应为 {a.shape}，dropout 给出的是 "
                f"{out.shape}。随机丢弃逐元素进行，不改变形状。"
            )
        zero = out == 0
        frac = float(zero.mean())
        if abs(frac - (1 - rate)) < 0.05 and abs(frac - rate) > 0.05:
            raise ExerciseError(
                f"{where}被置零的比例是 {frac:.2f}，约为 1-rate：你把 rate "
                "当成了保留的概率。rate 是置零的概率。"
            )
        if abs(frac - rate) > 0.05:
            raise ExerciseError(
                f"{where}被置零的比例是 {frac:.2f}，应约为 rate={rate}。"
            )
        kept = out[~zero] / a[~zero]
        if np.allclose(kept, 1.0):
            raise ExerciseError(
                f"{where}保留下来的值没有放大。它们应乘以 1/(1-rate) = "
                f"{1 / (1 - rate):.3g}，这样输出的期望才与输入相同，"
                "推理时才可以什么都不做。"
            )
        if not np.allclose(kept, 1 / (1 - rate)):
            raise ExerciseError(
                f"{where}保留下来的值应是输入的 1/(1-rate) = "
                f"{1 / (1 - rate):.3g} 倍，你的是 {np.median(kept):.3g} 倍。"
            )
    return "通过：形状、置零比例与放大倍数都正确，输出的期望等于输入。"

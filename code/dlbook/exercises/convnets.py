"""“卷积网络的基本结构”一部分的练习检查器。

每个检查器在随机用例上把读者的函数与 :mod:`dlbook.conv`、
:mod:`dlbook.pooling` 的参考实现比较；出错时用中文说明错在哪里，
并尽量认出常见的错法（核被翻转、差一、填充只加在一侧、忽略步长……）。
"""

import math

import numpy as np

from dlbook.conv import conv2d, conv_output_size, convolve2d, corr2d
from dlbook.exercises import ExerciseError, compare_on_cases
from dlbook.pooling import avg_pool2d, max_pool2d


def _corr2d_cases(seed=0, n=8):
    """形状各异、核不对称的用例：宽高不等，核也不是方的。"""
    rng = np.random.default_rng(seed)
    cases = [(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1], [2, 3]]))]
    for _ in range(n):
        H, W = rng.integers(3, 9, size=2)
        h, w = rng.integers(1, 4, size=2)
        h, w = min(h, H), min(w, W)
        cases.append((rng.normal(size=(H, W)), rng.normal(size=(h, w))))
    return cases


def _diagnose_corr2d(case, got, want):
    X, K = case
    if got.shape == want.shape[::-1] and want.shape[0] != want.shape[1]:
        return "行和列好像弄反了：输出的第一维应对应输入的行（高）。"
    if got.shape != want.shape:
        dh = got.shape[0] - want.shape[0] if got.ndim == 2 else None
        if dh == -1 or (got.ndim == 2 and got.shape[1] == want.shape[1] - 1):
            return (
                "输出少了一行或一列：输出边长是 H - h + 1，"
                "循环应写成 range(H - h + 1)。"
            )
        if got.ndim == 2 and got.shape == (
            X.shape[0] + K.shape[0] - 1,
            X.shape[1] + K.shape[1] - 1,
        ):
            return "这是全填充（full）的尺寸；本题不填充，输出应变小。"
        if dh == 1:
            return "输出多了一行或一列：核不能越出输入的边界。"
        return "输出边长应为 (H - h + 1, W - w + 1)。"
    if want.shape[0] == want.shape[1] and np.allclose(got, want.T):
        return "行和列好像弄反了：输出的第一维应对应输入的行（高）。"
    if np.allclose(got, convolve2d(X, K, "valid")):
        return (
            "结果与把核旋转 180° 后的结果相同：你算的是数学上的卷积，"
            "而题目要的是互相关——不要翻转卷积核。"
        )
    if np.allclose(got, want.sum()):
        return "每个位置的值都一样：是不是忘了按 (i, j) 取不同的感受野？"
    return ""


def check_corr2d(fn):
    """检查读者写的二维互相关 ``fn(X, K)``（单通道、步长 1、不填充）。

    Args:
        fn: 读者的函数，参数为 (高, 宽) 的输入 X 与 (核高, 核宽) 的核 K。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里。
    """
    return compare_on_cases(
        fn,
        corr2d,
        _corr2d_cases(),
        name="你的 corr2d",
        diagnose=_diagnose_corr2d,
    )


# 常见的错误写法：名字 → (输出尺寸公式, 说明)
_SIZE_MISTAKES = {
    "no_floor": (
        lambda n, f, s, p: (n + 2 * p - f) / s + 1,
        "没有向下取整：核越出边界的最后一步不算，要用整除 //。",
    ),
    "no_plus_one": (
        lambda n, f, s, p: (n + 2 * p - f) // s,
        "差一：少算了核放在最左边时的那一个输出（公式末尾的 + 1）。",
    ),
    "one_side": (
        lambda n, f, s, p: (n + p - f) // s + 1,
        "填充只加在了一侧：p 是单侧的层数，两侧共 2p。",
    ),
    "no_stride": (
        lambda n, f, s, p: n + 2 * p - f + 1,
        "忽略了步长：核每次移动 s 个像素，要除以 s。",
    ),
    "ceil": (
        lambda n, f, s, p: math.ceil((n + 2 * p - f) / s) + 1,
        "用了向上取整：最后一次越出边界的移动不产生输出，应向下取整。",
    ),
    "extra_one": (
        lambda n, f, s, p: (n + 2 * p - f) // s + 2,
        "差一：多算了一个输出。",
    ),
}

# 能把上面各种错法区分开的探针用例 (n, f, s, p)
_SIZE_PROBES = [(7, 3, 2, 1), (10, 4, 3, 0), (9, 2, 2, 2), (16, 5, 1, 2)]


def _size_cases(seed=0, n=30):
    rng = np.random.default_rng(seed)
    cases = list(_SIZE_PROBES)
    while len(cases) < n:
        f = int(rng.integers(1, 8))
        p = int(rng.integers(0, 4))
        size = int(rng.integers(max(f - 2 * p, 1), 40))
        cases.append((size, f, int(rng.integers(1, 5)), p))
    return cases


def diagnose_output_size(fn):
    """在探针用例上把 ``fn`` 与常见错法比对，返回匹配的说明或 ""。"""
    for formula, text in _SIZE_MISTAKES.values():
        try:
            ok = all(
                np.isclose(float(fn(*case)), formula(*case))
                for case in _SIZE_PROBES
            )
        except Exception:  # 读者的函数出错时不做诊断
            return ""
        if ok:
            return text
    return ""


def check_conv_output_size(fn):
    """检查读者写的卷积输出边长 ``fn(n, f, s, p)``。

    参数依次是输入边长 n、核边长 f、步长 s、单侧填充层数 p。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里（差一、填充只算一侧……）。
    """

    def reference(n, f, s, p):
        return conv_output_size(n, f, s, p)

    def diagnose(case, got, want):
        return diagnose_output_size(fn)

    msg = compare_on_cases(
        fn,
        reference,
        _size_cases(),
        name="你的 conv_output_size",
        diagnose=diagnose,
    )
    if not all(
        isinstance(fn(*case), (int, np.integer)) for case in _SIZE_PROBES
    ):
        raise ExerciseError(
            "数值都对，但返回的不是整数：边长是整数，用 // 而不是 /。"
        )
    return msg


def _pool_cases(seed=0, n=8):
    rng = np.random.default_rng(seed)
    cases = [(np.arange(16.0).reshape(4, 4), 2, 2)]
    for _ in range(n):
        f = int(rng.integers(2, 4))
        s = int(rng.integers(1, 4))
        H, W = rng.integers(f + 1, 10, size=2)
        cases.append((rng.normal(size=(H, W)), f, s))
    cases.append((rng.normal(size=(7, 9)), 3, 2))  # 步长 ≠ 窗口
    return cases


def _max_pool_ref(X, f, s):
    return max_pool2d(X[None, :, :, None], f, s)[0, :, :, 0]


def _diagnose_pool(case, got, want):
    X, f, s = case
    if got.shape != want.shape:
        if s != 1 and got.shape == _max_pool_ref(X, f, 1).shape:
            return "忽略了步长：窗口每次应移动 s 个像素，而不是 1 个。"
        if got.shape == (X.shape[0] // f, X.shape[1] // f) and s != f:
            return "把步长当成了窗口大小 f；本用例的步长 s 与 f 不同。"
        return "输出边长应为 floor((H - f) / s) + 1：检查循环的范围是否差一。"
    avg = avg_pool2d(X[None, :, :, None], f, s)[0, :, :, 0]
    if np.allclose(got, avg):
        return "这是平均池化的结果；最大池化取窗口内的最大值。"
    return ""


def check_max_pool2d(fn):
    """检查读者写的二维最大池化 ``fn(X, f, s)``（单通道、不填充）。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里（忽略步长、差一……）。
    """
    return compare_on_cases(
        fn,
        _max_pool_ref,
        _pool_cases(),
        name="你的 max_pool2d",
        diagnose=_diagnose_pool,
    )


def _conv1x1_cases(seed=0, n=6):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        c_in, c_out = rng.integers(2, 6, size=2)
        if c_in == c_out:
            c_out += 1  # 输入、输出通道数不同，才查得出转置错误
        X = rng.normal(size=(2, *rng.integers(2, 6, size=2), c_in))
        W = rng.normal(size=(1, 1, c_in, c_out))
        cases.append((X, W, rng.normal(size=c_out)))
    return cases


def _conv1x1_ref(X, W, b):
    return conv2d(X, W, b)


def _diagnose_conv1x1(case, got, want):
    X, W, b = case
    if got.shape == want.shape and np.allclose(got, want - b):
        return "少加了偏置 b：每个输出通道都要加上自己的 b[k]。"
    if got.shape == want.shape[:-1] + (X.shape[-1],):
        return "输出通道数不对：结果的最后一维应是 C_out = W.shape[-1]。"
    return ""


def check_conv1x1(fn):
    """检查读者写的 1×1 卷积 ``fn(X, W, b)``（步长 1、不填充）。

    X 形状 (批量大小, 高, 宽, C_in)，W 形状 (1, 1, C_in, C_out)，
    b 形状 (C_out,)。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里（漏了偏置、通道数不对……）。
    """
    return compare_on_cases(
        fn,
        _conv1x1_ref,
        _conv1x1_cases(),
        name="你的 conv1x1",
        diagnose=_diagnose_conv1x1,
    )


def _elu_grad_ref(z, alpha):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))


def _diagnose_elu_grad(case, got, want):
    z, alpha = case
    neg, pos = z <= 0, z > 0
    if got.shape != want.shape:
        return "导数应与 z 同形状：逐元素计算。"
    if np.allclose(got[neg], alpha * np.expm1(z[neg])):
        return "负半轴写成了 ELU 本身 α(e^z − 1)，导数应是 α·e^z。"
    if np.allclose(got[neg], np.exp(z[neg])) and alpha != 1:
        return "负半轴漏乘了 α：导数是 α·e^z。"
    if not np.allclose(got[pos], 1.0):
        return "z > 0 时 ELU(z) = z，导数应恒为 1。"
    return ""


def check_elu_grad(fn):
    """检查读者写的 ELU 导数 ``fn(z, alpha)``。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里（写成了函数本身、漏乘 α……）。
    """
    rng = np.random.default_rng(0)
    cases = [
        (rng.normal(scale=3, size=50), alpha) for alpha in (1.0, 0.5, 2.0)
    ]
    return compare_on_cases(
        fn,
        _elu_grad_ref,
        cases,
        name="你的 elu_grad",
        diagnose=_diagnose_elu_grad,
    )


__all__ = [
    "check_corr2d",
    "check_conv_output_size",
    "check_max_pool2d",
    "check_conv1x1",
    "check_elu_grad",
    "diagnose_output_size",
]

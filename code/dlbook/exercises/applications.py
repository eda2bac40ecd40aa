"""“卷积网络的应用”一部分的练习检查器。

每个检查器在随机用例上把读者的函数与参考实现比较；出错时用中文说明
错在哪里，并尽量认出常见的错法（忘了偏置、行列颠倒、长短边弄反、
单侧与双侧 p 值……）。用法::

    from dlbook.exercises.applications import check_conv_params
    check_conv_params(my_conv_params)
"""

from math import comb

import numpy as np

from dlbook.exercises import ExerciseError, compare_on_cases
from dlbook.models import confusion_matrix


def conv_params_reference(f, c_in, c_out, use_bias=True, groups=1):
    """``Conv2D(c_out, f, use_bias=..., groups=...)`` 的参数个数（参考答案）。

    分成 groups 组时，每个核只跨越自己那组的 c_in/groups 个输入通道。
    """
    return f * f * (c_in // groups) * c_out + (c_out if use_bias else 0)


def _conv_params_cases(seed=0, n=12):
    rng = np.random.default_rng(seed)
    cases = [(3, 1, 32, True, 1), (5, 32, 64, False, 1), (3, 4, 8, True, 2)]
    for _ in range(n):
        groups = int(rng.choice([1, 2, 4]))
        c_in = groups * int(rng.integers(1, 9))
        c_out = groups * int(rng.integers(1, 9))
        f = int(rng.integers(1, 6))
        cases.append((f, c_in, c_out, bool(rng.integers(2)), groups))
    return cases


def _diagnose_conv_params(case, got, want):
    f, c_in, c_out, use_bias, groups = case
    got = float(got)
    weights = f * f * (c_in // groups) * c_out
    if use_bias and got == weights:
        return "少了偏置：use_bias=True 时每个输出通道还有一个偏置。"
    if not use_bias and got == weights + c_out:
        return "use_bias=False 时没有偏置，不要再加 c_out。"
    if groups > 1 and got in (
        f * f * c_in * c_out + c_out * use_bias,
        f * f * c_in * c_out,
    ):
        return (
            "分组卷积中每个核只跨越 c_in/groups 个输入通道，"
            "权重因此是普通卷积的 1/groups。"
        )
    if use_bias and got == weights + c_in:
        return "偏置是每个*输出*通道一个，不是每个输入通道一个。"
    return ""


def check_conv_params(fn):
    """检查读者写的卷积层参数个数 ``fn(f, c_in, c_out, use_bias, groups)``。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里。
    """
    return compare_on_cases(
        fn,
        conv_params_reference,
        _conv_params_cases(),
        name="你的 conv_params",
        diagnose=_diagnose_conv_params,
    )


def aspect_size_reference(h, w, box):
    """等比缩放后的 (高, 宽)：长边恰为 box，短边按比例四舍五入且至少为 1。"""
    scale = box / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _aspect_cases(seed=0, n=15):
    rng = np.random.default_rng(seed)
    cases = [(300, 360, 20), (360, 300, 20), (7, 700, 20), (40, 40, 20)]
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(5, 900, size=2))
        cases.append((h, w, int(rng.integers(8, 64))))
    return cases


def _diagnose_aspect(case, got, want):
    h, w, box = case
    got = tuple(int(v) for v in np.ravel(got))
    want = tuple(int(v) for v in np.ravel(want))
    if got == want[::-1] and want[0] != want[1]:
        return "高和宽弄反了：应返回 (新的高, 新的宽)。"
    if box not in got:
        return "长边应当恰好缩放到 box：缩放比例是 box / max(h, w)。"
    scale = box / min(h, w)
    if got == (round(h * scale), round(w * scale)):
        return "按短边缩放会让长边超出 box；比例应取 box / max(h, w)。"
    trunc = (
        max(1, int(h * box / max(h, w))),
        max(1, int(w * box / max(h, w))),
    )
    if got == trunc:
        return "短边被截断了：用 round 四舍五入，而不是 int 直接取整。"
    return "短边应按同一比例缩放，并且至少为 1 个像素。"


def check_aspect_size(fn):
    """检查读者写的 ``fn(h, w, box)``：等比缩放、长边为 box 后的 (高, 宽)。"""
    return compare_on_cases(
        fn,
        aspect_size_reference,
        _aspect_cases(),
        name="你的 aspect_size",
        diagnose=_diagnose_aspect,
        atol=0,
    )


def _confusion_cases(seed=0, n=8):
    rng = np.random.default_rng(seed)
    cases = [(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)]
    for _ in range(n):
        k = int(rng.integers(2, 7))
        size = int(rng.integers(5, 60))
        y_true = rng.integers(0, k, size)
        # 多数判对、少数判错，矩阵才不对称，方便认出行列颠倒
        y_pred = np.where(rng.random(size) < 0.7, y_true, rng.integers(0, k))
        cases.append((y_true, y_pred, k))
    # 最大的类别没有出现在数据里：类别数必须取参数，而不是 max + 1
    cases.append((np.array([0, 1, 1]), np.array([1, 1, 0]), 4))
    return cases


def _diagnose_confusion(case, got, want):
    y_true, y_pred, k = case
    if got.shape != want.shape:
        return (
            f"矩阵应是 {k}×{k}：类别数取参数 num_classes，"
            "不能从标签的最大值推断（有的类别可能没有出现）。"
        )
    if np.array_equal(got, want.T):
        return "行列颠倒了：第 i 行第 j 列应是“真实为 i、预测为 j”的个数。"
    if got.sum() != len(y_true):
        return f"所有格子之和应等于样本数 {len(y_true)}。"
    return ""


def check_confusion_matrix(fn):
    """检查读者写的 ``fn(y_true, y_pred, num_classes)``：混淆矩阵。"""
    return compare_on_cases(
        fn,
        confusion_matrix,
        _confusion_cases(),
        name="你的 confusion_matrix",
        diagnose=_diagnose_confusion,
        atol=0,
    )


def mcnemar_p_reference(n01, n10):
    """精确 McNemar 检验的双侧 p 值（同 :func:`dlbook.models.mcnemar`）。"""
    n, k = n01 + n10, min(n01, n10)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def _mcnemar_cases():
    return [(22, 4), (4, 22), (5, 5), (0, 0), (0, 7), (12, 3), (30, 18)]


def _diagnose_mcnemar(case, got, want):
    n01, n10 = case
    got = float(got)
    if got > 1:
        return "p 值不能超过 1：把一侧尾部加倍之后要与 1 取较小值。"
    if np.isclose(got, want / 2):
        return "这是单侧 p 值；题目要双侧的，把较小一侧的尾部概率加倍。"
    n = n01 + n10
    tail = sum(comb(n, i) for i in range(n01 + 1)) / 2**n
    if n01 > n10 and np.isclose(got, min(1.0, 2 * tail)):
        return "尾部要从较小的那个计数往外累加：用 min(n01, n10)。"
    return ""


def check_mcnemar_p(fn):
    """检查读者写的 ``fn(n01, n10)``：精确 McNemar 检验的双侧 p 值。"""
    return compare_on_cases(
        fn,
        mcnemar_p_reference,
        _mcnemar_cases(),
        name="你的 mcnemar_p",
        diagnose=_diagnose_mcnemar,
        atol=1e-12,
    )


def confident_thresholds_reference(probs, labels):
    """每个类别的置信阈值：标注为 j 的样本给类别 j 的平均概率（参考答案）。"""
    k = probs.shape[1]
    return np.array([probs[labels == j, j].mean() for j in range(k)])


def _threshold_cases(seed=0, n=8):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        k = int(rng.integers(2, 6))
        size = int(rng.integers(3 * k, 40))
        labels = np.concatenate([np.arange(k), rng.integers(0, k, size - k)])
        probs = rng.dirichlet(np.ones(k), size)
        # 多数样本的概率偏向自己的标签，少数偏向别的类：更像真的预测
        probs[np.arange(size), labels] += 2 * (rng.random(size) < 0.8)
        probs /= probs.sum(axis=1, keepdims=True)
        cases.append((probs, labels))
    return cases


def _diagnose_thresholds(case, got, want):
    probs, labels = case
    k = probs.shape[1]
    if got.shape != want.shape:
        return f"每个类别一个阈值，应返回长度为 {k} 的一维数组。"
    pred = probs.argmax(axis=1)
    by_pred = [
        probs[pred == j, j].mean() if np.any(pred == j) else np.nan
        for j in range(k)
    ]
    if np.allclose(got, by_pred, equal_nan=True):
        return "按*预测*类别分组了；应按数据集给出的标签 labels 分组。"
    if np.allclose(got, probs.mean(axis=0)):
        return "对所有样本取了平均；只取标注为 j 的那些样本。"
    by_max = [probs[labels == j].max(axis=1).mean() for j in range(k)]
    if np.allclose(got, by_max):
        return "取的是每个样本的最大概率；应取它给类别 j 的概率。"
    return ""


def check_confident_thresholds(fn):
    """检查读者写的 ``fn(probs, labels)``：每个类别的置信阈值。"""
    return compare_on_cases(
        fn,
        confident_thresholds_reference,
        _threshold_cases(),
        name="你的 confident_thresholds",
        diagnose=_diagnose_thresholds,
        atol=1e-9,
    )


def bn_backward_reference(dY, X_hat, gamma, std):
    """训练模式下批量归一化对输入的梯度（参考答案，即
    :meth:`dlbook.layers.BatchNorm.backward`）。"""
    from dlbook.layers import BatchNorm

    layer = BatchNorm(len(gamma))
    layer.params["gamma"] = np.asarray(gamma, dtype=float)
    layer.X_hat, layer.std, layer.training = X_hat, std, True
    return layer.backward(np.asarray(dY, dtype=float))


def _bn_cases(seed=0):
    from dlbook.layers import BatchNorm

    rng = np.random.default_rng(seed)
    cases = []
    for m, n in ((4, 3), (7, 2), (16, 5), (2, 1)):
        layer = BatchNorm(n)
        layer.params["gamma"] = rng.normal(1.0, 0.8, size=n)
        layer.forward(rng.normal(2.0, 3.0, size=(m, n)), training=True)
        dY = rng.normal(size=(m, n))
        cases.append((dY, layer.X_hat, layer.params["gamma"], layer.std))
    return cases


def _diagnose_bn(case, got, want):
    dY, X_hat, gamma, std = case
    if np.shape(got) != np.shape(want):
        return "返回值的形状应与 dY 相同：(批量大小, 特征数)。"
    q = dY * gamma  # 对 x̂ 的梯度
    q_mean, qx_mean = q.mean(axis=0), (q * X_hat).mean(axis=0)
    m = len(dY)
    wrong = [
        (q / std, "把均值和方差当成了常数：训练时它们也随输入变化，"
         "还要减去两个平均。"),
        ((q - q_mean) / std, "只减去了 q 的平均，还缺与 x̂ 有关的那一项。"),
        ((q - m * q_mean - X_hat * m * qx_mean) / std,
         "两项用了求和而不是平均（忘了除以 m）。"),
        (want / gamma, "忘了乘 γ：上游梯度乘上 γ 才是对 x̂ 的梯度。"),
        (want * std, "最后忘了除以 σ̂（std）。"),
    ]  # fmt: skip
    for value, hint in wrong:
        if np.allclose(got, value, atol=1e-8):
            return hint
    return ""


def check_bn_backward(fn):
    """检查读者写的批量归一化反向传播 ``fn(dY, X_hat, gamma, std)``。

    参数是训练模式的前向留下的量：上游梯度 dY、归一化后的 X_hat、
    缩放 gamma（每个特征一个）与 std = sqrt(本批方差 + epsilon)。

    Raises:
        ExerciseError: 说明哪个用例、错在哪里；认得出的错法会点明。
    """
    return compare_on_cases(
        fn,
        bn_backward_reference,
        _bn_cases(),
        name="你的 bn_backward",
        diagnose=_diagnose_bn,
        atol=1e-8,
    )


__all__ = [
    "ExerciseError",
    "check_aspect_size",
    "check_bn_backward",
    "check_confident_thresholds",
    "check_confusion_matrix",
    "check_conv_params",
    "check_mcnemar_p",
]

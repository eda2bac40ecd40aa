"""卷积部分的练习检查器：接受正确答案，认出每一种常见错法。"""

import math

import numpy as np
import pytest

from dlbook.exercises import ExerciseError
from dlbook.exercises import convnets as E
from dlbook.exercises.convnets import (
    check_conv_output_size,
    check_corr2d,
    check_max_pool2d,
)


# ------------------------------------------------------------ corr2d


def good_corr2d(X, K):
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


def test_corr2d_accepts_a_correct_answer():
    assert "通过" in check_corr2d(good_corr2d)


def test_corr2d_flipped_kernel_is_called_convolution():
    with pytest.raises(ExerciseError, match="旋转 180°.*卷积"):
        check_corr2d(lambda X, K: good_corr2d(X, K[::-1, ::-1]))


def test_corr2d_off_by_one_range():
    def short(X, K):
        h, w = K.shape
        Y = np.zeros((X.shape[0] - h, X.shape[1] - w))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
        return Y

    with pytest.raises(ExerciseError, match="少了一行或一列"):
        check_corr2d(short)


def test_corr2d_transposed_output_and_full_size():
    with pytest.raises(ExerciseError, match="行和列好像弄反了"):
        check_corr2d(lambda X, K: good_corr2d(X, K).T)
    from scipy import signal

    with pytest.raises(ExerciseError, match="全填充"):
        check_corr2d(lambda X, K: signal.correlate2d(X, K, "full"))


def test_corr2d_error_in_readers_code_is_reported():
    with pytest.raises(ExerciseError, match="NameError"):
        check_corr2d(lambda X, K: undefined_name)  # noqa: F821


# ------------------------------------------------------ 输出尺寸


def good_size(n, f, s, p):
    return (n + 2 * p - f) // s + 1


def test_output_size_accepts_a_correct_answer():
    assert "通过" in check_conv_output_size(good_size)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda n, f, s, p: (n + 2 * p - f) // s, "差一：少算了"),
        (lambda n, f, s, p: (n + p - f) // s + 1, "只加在了一侧"),
        (lambda n, f, s, p: n + 2 * p - f + 1, "忽略了步长"),
        (lambda n, f, s, p: (n + 2 * p - f) / s + 1, "没有向下取整"),
        (
            lambda n, f, s, p: math.ceil((n + 2 * p - f) / s) + 1,
            "向上取整",
        ),
        (lambda n, f, s, p: (n + 2 * p - f) // s + 2, "多算了一个"),
    ],
)
def test_output_size_diagnoses_each_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_conv_output_size(wrong)


def test_output_size_probes_tell_the_mistakes_apart():
    # 每种错法在探针上的结果互不相同，也都与正确答案不同
    rows = [
        tuple(formula(*c) for c in E._SIZE_PROBES)
        for formula, _ in E._SIZE_MISTAKES.values()
    ]
    rows.append(tuple(good_size(*c) for c in E._SIZE_PROBES))
    assert len(set(rows)) == len(rows)


def test_output_size_float_result_is_rejected():
    # 数值对、类型错（float）也要指出
    with pytest.raises(ExerciseError, match="不是整数"):
        check_conv_output_size(
            lambda n, f, s, p: float(good_size(n, f, s, p))
        )


# ------------------------------------------------------ 最大池化


def good_pool(X, f, s):
    Ho, Wo = (X.shape[0] - f) // s + 1, (X.shape[1] - f) // s + 1
    Y = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            Y[i, j] = X[s * i : s * i + f, s * j : s * j + f].max()
    return Y


def test_pool_accepts_a_correct_answer():
    assert "通过" in check_max_pool2d(good_pool)


def test_pool_stride_ignored():
    with pytest.raises(ExerciseError, match="忽略了步长"):
        check_max_pool2d(lambda X, f, s: good_pool(X, f, 1))


def test_pool_average_instead_of_max():
    def avg(X, f, s):
        Ho, Wo = (X.shape[0] - f) // s + 1, (X.shape[1] - f) // s + 1
        return np.array(
            [
                [
                    X[s * i : s * i + f, s * j : s * j + f].mean()
                    for j in range(Wo)
                ]
                for i in range(Ho)
            ]
        )

    with pytest.raises(ExerciseError, match="平均池化"):
        check_max_pool2d(avg)


def test_pool_stride_taken_as_window():
    with pytest.raises(ExerciseError, match="把步长当成了窗口大小"):
        check_max_pool2d(lambda X, f, s: good_pool(X, f, f))


# ------------------------------------------------------ 1×1 卷积与 ELU


def test_conv1x1_accepts_a_correct_answer():
    assert "通过" in E.check_conv1x1(lambda X, W, b: X @ W[0, 0] + b)
    assert "通过" in E.check_conv1x1(
        lambda X, W, b: np.einsum("nhwc,ck->nhwk", X, W[0, 0]) + b
    )


def test_conv1x1_missing_bias_and_wrong_channels():
    with pytest.raises(ExerciseError, match="少加了偏置"):
        E.check_conv1x1(lambda X, W, b: X @ W[0, 0])
    with pytest.raises(ExerciseError, match="输出通道数不对"):
        E.check_conv1x1(lambda X, W, b: X)


def test_elu_grad_accepts_a_correct_answer():
    def good(z, alpha):
        return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))

    assert "通过" in E.check_elu_grad(good)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda z, a: np.where(z > 0, 1.0, a * np.expm1(z)), "ELU 本身"),
        (lambda z, a: np.where(z > 0, 1.0, np.exp(z)), "漏乘了 α"),
        (lambda z, a: np.where(z > 0, z, a * np.exp(z)), "恒为 1"),
    ],
)
def test_elu_grad_diagnoses_each_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        E.check_elu_grad(wrong)

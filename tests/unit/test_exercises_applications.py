"""“卷积网络的应用”的练习检查器：接受正确答案，拒绝典型的错误答案并说清原因。"""

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook.exercises import ExerciseError
from dlbook.exercises import applications as A


def _rejects(check, fn, *fragments):
    with pytest.raises(ExerciseError) as info:
        check(fn)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


@settings(max_examples=20, deadline=None)
@given(
    f=st.integers(1, 5),
    groups=st.sampled_from([1, 2, 4]),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    bias=st.booleans(),
)
def test_conv_params_reference_matches_keras(f, groups, c_in, c_out, bias):
    import keras

    c_in, c_out = c_in * groups, c_out * groups
    layer = keras.layers.Conv2D(c_out, f, use_bias=bias, groups=groups)
    layer.build((None, 8, 8, c_in))
    assert layer.count_params() == A.conv_params_reference(
        f, c_in, c_out, bias, groups
    )


def test_check_conv_params():
    assert "通过" in A.check_conv_params(A.conv_params_reference)

    def no_bias(f, c_in, c_out, use_bias=True, groups=1):
        return f * f * (c_in // groups) * c_out

    def no_groups(f, c_in, c_out, use_bias=True, groups=1):
        return f * f * c_in * c_out + c_out * use_bias

    def bias_per_input(f, c_in, c_out, use_bias=True, groups=1):
        return f * f * (c_in // groups) * c_out + c_in * use_bias

    _rejects(A.check_conv_params, no_bias, "少了偏置")
    _rejects(A.check_conv_params, no_groups, "c_in/groups")
    _rejects(A.check_conv_params, bias_per_input, "输出*通道")


def test_aspect_reference_keeps_ratio():
    for h, w, box in A._aspect_cases():
        nh, nw = A.aspect_size_reference(h, w, box)
        assert max(nh, nw) == box and min(nh, nw) >= 1
        # 短边与按比例缩放的精确值相差不超过半个像素（除非被抬到 1）
        exact = min(h, w) * box / max(h, w)
        assert min(nh, nw) == 1 or abs(min(nh, nw) - exact) <= 0.5


def test_check_aspect_size():
    assert "通过" in A.check_aspect_size(A.aspect_size_reference)

    def swapped(h, w, box):
        return A.aspect_size_reference(h, w, box)[::-1]

    def short_side(h, w, box):
        s = box / min(h, w)
        return round(h * s), round(w * s)

    def truncated(h, w, box):
        s = box / max(h, w)
        return max(1, int(h * s)), max(1, int(w * s))

    _rejects(A.check_aspect_size, swapped, "高和宽弄反了")
    _rejects(A.check_aspect_size, short_side, "box / max(h, w)")
    _rejects(A.check_aspect_size, truncated, "round")


def test_check_confusion_matrix():
    from dlbook.models import confusion_matrix

    assert "通过" in A.check_confusion_matrix(confusion_matrix)

    def transposed(y_true, y_pred, k):
        return confusion_matrix(y_true, y_pred, k).T

    def inferred_k(y_true, y_pred, k):
        k = int(max(y_true.max(), y_pred.max())) + 1
        return confusion_matrix(y_true, y_pred, k)

    _rejects(A.check_confusion_matrix, transposed, "行列颠倒")
    _rejects(A.check_confusion_matrix, inferred_k, "num_classes")


def test_check_mcnemar_p():
    from scipy.stats import binomtest

    for n01, n10 in A._mcnemar_cases():
        if n01 + n10:
            want = binomtest(n01, n01 + n10, 0.5).pvalue
            assert np.isclose(A.mcnemar_p_reference(n01, n10), want)
    assert "通过" in A.check_mcnemar_p(A.mcnemar_p_reference)

    def one_sided(n01, n10):
        return A.mcnemar_p_reference(n01, n10) / 2

    def uncapped(n01, n10):
        n, k = n01 + n10, min(n01, n10)
        return 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n

    def wrong_tail(n01, n10):
        n = n01 + n10
        return min(1.0, 2 * sum(comb(n, i) for i in range(n01 + 1)) / 2**n)

    _rejects(A.check_mcnemar_p, one_sided, "单侧")
    _rejects(A.check_mcnemar_p, uncapped, "不能超过 1")
    _rejects(A.check_mcnemar_p, wrong_tail, "min(n01, n10)")


def test_check_confident_thresholds():
    from cleanlab.count import get_confident_thresholds

    # 参考答案与 cleanlab 的实现一致
    for probs, labels in A._threshold_cases():
        np.testing.assert_allclose(
            A.confident_thresholds_reference(probs, labels),
            get_confident_thresholds(labels, probs),
        )
    ref = A.confident_thresholds_reference
    assert "通过" in A.check_confident_thresholds(ref)

    def by_predicted(probs, labels):
        return ref(probs, probs.argmax(axis=1))

    def all_samples(probs, labels):
        return probs.mean(axis=0)

    def max_prob(probs, labels):
        k = probs.shape[1]
        return np.array(
            [probs[labels == j].max(axis=1).mean() for j in range(k)]
        )

    def scalar(probs, labels):
        return ref(probs, labels).mean()

    _rejects(A.check_confident_thresholds, by_predicted, "预测")
    _rejects(A.check_confident_thresholds, all_samples, "所有样本")
    _rejects(A.check_confident_thresholds, max_prob, "最大概率")
    _rejects(A.check_confident_thresholds, scalar, "一维数组")


def test_check_bn_backward():
    def right(dY, X_hat, gamma, std):
        q = dY * gamma
        return (q - q.mean(axis=0) - X_hat * (q * X_hat).mean(axis=0)) / std

    assert "通过" in A.check_bn_backward(right)
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: dY * gamma / std,
        "当成了常数",
    )
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: (
            (dY * gamma - (dY * gamma).mean(0)) / std
        ),
        "还缺与 x̂ 有关",
    )
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: right(dY, X_hat, 1.0, std),
        "忘了乘 γ",
    )
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: right(dY, X_hat, gamma, 1.0),
        "忘了除以 σ̂",
    )
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: right(dY, X_hat, gamma, std)[:1],
        "形状",
    )
    _rejects(
        A.check_bn_backward,
        lambda dY, X_hat, gamma, std: None.shape,
        "AttributeError",
    )

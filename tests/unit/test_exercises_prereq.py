"""dlbook.exercises.prereq：检查器接受正确答案，拒绝典型错误并说明原因。"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook.exercises import ExerciseError
from dlbook.exercises.prereq import (
    _cases,
    check_dropout,
    check_cross_entropy,
    cross_entropy_reference,
)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 6),
    n=st.integers(2, 12),
    scale=st.sampled_from([0.1, 3.0, 50.0]),
    seed=st.integers(0, 10_000),
)
def test_reference_matches_keras(m, n, scale, seed):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=scale, size=(m, n)).astype(np.float32)
    y = rng.integers(0, n, size=m)
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None
    )
    want = np.asarray(loss(y, Z))
    np.testing.assert_allclose(
        cross_entropy_reference(Z, y), want, rtol=1e-4, atol=1e-4
    )


def test_cases_include_logits_that_overflow_exp():
    with np.errstate(over="ignore"):
        assert any(np.isinf(np.exp(Z)).any() for Z, _ in _cases())


def _stable(Z, y):
    Z = Z - Z.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(Z)), y]


def test_accepts_a_stable_answer():
    assert "通过" in check_cross_entropy(_stable)


def _naive(Z, y):
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return -np.log(P[np.arange(len(Z)), y])


def _axis0(Z, y):  # softmax 沿列归一化
    Z = Z - Z.max(axis=0, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    return -log_p[np.arange(len(Z)), y]


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (_naive, "溢出"),
        (lambda Z, y: _stable(Z, y).mean(), "每个样本"),
        (lambda Z, y: -_stable(Z, y), "符号反了"),
        (_axis0, "沿错了轴"),
        (lambda Z, y: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_rejects_typical_mistakes_with_a_reason(fn, words):
    with np.errstate(all="ignore"), pytest.raises(ExerciseError) as err:
        check_cross_entropy(fn)
    assert words in str(err.value)


def _dropout(a, rate, rng):
    keep = rng.random(a.shape) >= rate
    return a * keep / (1 - rate)


def test_dropout_checker_accepts_inverted_dropout():
    assert "通过" in check_dropout(_dropout)


def test_dropout_reference_matches_keras_statistics():
    # 与 Keras 的 Dropout 层同样满足：非零值是输入的 1/(1-rate) 倍
    a = np.ones((100, 100), dtype=np.float32)
    out = np.asarray(keras.layers.Dropout(0.3, seed=1)(a, training=True))
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / 0.7, rtol=1e-6)
    assert abs((out == 0).mean() - 0.3) < 0.03


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (lambda a, rate, rng: a * (rng.random(a.shape) >= rate), "没有放大"),
        (
            lambda a, rate, rng: a * (rng.random(a.shape) < rate) / rate,
            "保留的概率",
        ),
        (lambda a, r, rng: _dropout(a, r, rng) * (1 - r), "没有放大"),
        (lambda a, rate, rng: _dropout(a, rate, rng) / 2, "倍"),
        (lambda a, rate, rng: _dropout(a, rate, rng).ravel(), "形状"),
        (lambda a, rate, rng: _dropout(a, 0.5, rng), "比例"),
    ],
)
def test_dropout_checker_rejects_typical_mistakes(fn, words):
    with pytest.raises(ExerciseError) as err:
        check_dropout(fn)
    assert words in str(err.value)

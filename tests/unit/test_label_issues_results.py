"""样本外概率的结果文件：格式完整，且与现在的代码和数据一致（指纹）。

``benchmarks/results/label_issues.npz`` 由 ``benchmarks/label_issues.py``
写出，书页“找出标错的标签”从中读取两组 5 折样本外概率。训练代码、
翻转标签的代码或数据一改，指纹就对不上，这里的测试会失败并提示重跑。
"""

import numpy as np
import pytest

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import label_noise as L
from dlbook import models as M
from helpers import load_benchmark

RERUN = (
    "请在仓库根目录重跑 nice -n 10 python benchmarks/label_issues.py"
    "（2 核 CPU 上约 6 分钟），再提交结果文件。"
)


def _benchmark_module():
    return load_benchmark("label_issues")


@pytest.fixture(scope="module")
def bench():
    return _benchmark_module()


@pytest.fixture(scope="module")
def res():
    return L.load_oof_results()


def test_fingerprint_sees_code_and_constants(bench, monkeypatch):
    before = bench.code_fingerprint()

    def f(x):
        """文档一。"""
        return x + 1

    def g(x):
        """文档二。"""
        # 注释不算
        return x + 1

    assert bench._code_of(f).replace("def f", "") == bench._code_of(
        g
    ).replace("def g", "")
    monkeypatch.setattr(L, "OOF_EPOCHS", L.OOF_EPOCHS + 1)
    assert bench.code_fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(M, "CNN_LR", M.CNN_LR * 2)  # 训练配方也在指纹里
    assert bench.code_fingerprint() != before


def test_results_match_current_code(bench, res):
    assert res["meta"]["schema"] == bench.SCHEMA_VERSION
    assert res["code_fingerprint"] == bench.code_fingerprint(), (
        "训练、划分或翻转标签的代码改过了，结果文件已经过期。" + RERUN
    )
    meta = res["meta"]
    assert meta["folds"] == L.OOF_FOLDS and meta["epochs"] == L.OOF_EPOCHS
    assert meta["width"] == L.OOF_WIDTH
    assert meta["noise_fraction"] == L.NOISE_FRACTION
    assert len(meta["clean"]["seconds"]) == L.OOF_FOLDS
    assert len(meta["noisy"]["seconds"]) == L.OOF_FOLDS


def test_results_match_current_data(res):
    X, y = L.all_digits()
    assert res["data_fingerprint"] == L.data_fingerprint(X, y), (
        "本书的 5,000 张数字（或它们的顺序）变了。" + RERUN
    )
    noisy, flipped = L.flip_labels(y)
    np.testing.assert_array_equal(res["flipped"], flipped)
    assert res["noisy_fingerprint"] == L.data_fingerprint(X, noisy)


def test_probabilities_are_sane(res):
    X, y = L.all_digits()
    noisy, flipped = L.flip_labels(y)
    for key, labels in (("probs", y), ("noisy_probs", noisy)):
        p = res[key]
        assert p.shape == (len(y), 10) and np.all(p >= 0)
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
        # 样本外准确率：一个正常训练的小 CNN 对真标签应在 95% 以上；
        # 对训练所用的标签也是（翻转的只有 2%）
        assert np.mean(p.argmax(axis=1) == y) > 0.95, key
        assert np.mean(p.argmax(axis=1) == labels) > 0.95, key
    # 在翻转后的标签上训练的模型，对被翻转的图片仍多半预测原来的类别：
    # 它没见过这些图片，见过的是其他图片的（大多正确的）标签
    p = res["noisy_probs"][flipped]
    assert np.mean(p.argmax(axis=1) == y[flipped]) > 0.8

"""基准测试的结果文件：格式完整，且与现在的模型代码一致（指纹）。

``benchmarks/results/cnn_baseline.json`` 由 ``benchmarks/cnn_baseline.py
--write`` 写出，书页“与经典基线比较”从中读取消融表与头条比较的数字。
模型或训练代码一改，指纹就对不上，这里的测试会失败并提示重跑基准测试。
"""

import numpy as np

import dlbook  # noqa: F401  （先设置 TensorFlow 的环境变量）
from dlbook import models as M
from helpers import load_benchmark


def _benchmark_module():
    return load_benchmark("cnn_baseline")


RERUN = (
    "请在仓库根目录重跑 python benchmarks/cnn_baseline.py --write "
    "benchmarks/results/cnn_baseline.json（约一小时），再提交结果文件。"
)


def test_fingerprint_sees_code_not_docstrings(monkeypatch):
    B = _benchmark_module()
    before = B.code_fingerprint()

    def f(x):
        """文档一。"""
        return x + 1

    def g(x):
        """文档二，完全不同。"""
        # 注释也不算
        return x + 1

    def h(x):
        """文档一。"""
        return x + 2

    assert B._code_of(f).replace("def f", "") == B._code_of(g).replace(
        "def g", ""
    )
    assert B._code_of(f).replace("def f", "") != B._code_of(h).replace(
        "def h", ""
    )
    monkeypatch.setattr(M, "CNN_LR", M.CNN_LR * 2)
    assert B.code_fingerprint() != before


def test_results_file_is_complete_and_up_to_date():
    B = _benchmark_module()
    res = M.baseline_results()
    assert res["schema"] == B.SCHEMA_VERSION
    assert res["code_fingerprint"] == B.code_fingerprint(), (
        "模型、训练代码或消融表改过了，结果文件已经过期。" + RERUN
    )
    assert [r["key"] for r in res["rows"]] == [r[0] for r in B.ROWS]
    hold, test = res["protocol"]["holdout"], res["protocol"]["test"]
    assert len(hold["seeds"]) >= 3 and len(test["seeds"]) >= 3
    assert hold["epochs"] == B.HOLDOUT_EPOCHS
    assert test["epochs"] == M.CNN_EPOCHS and test["rows"] == B.TEST_ROWS
    want = {(k, s) for k, *_ in B.ROWS for s in hold["seeds"]}
    got = [(r["key"], r["seed"]) for r in res["holdout"]]
    assert sorted(got) == sorted(want), "消融表不完整。" + RERUN
    want = {(k, s) for k in B.TEST_ROWS for s in test["seeds"]}
    got = [(r["key"], r["seed"]) for r in res["test"]]
    assert sorted(got) == sorted(want), "头条比较不完整。" + RERUN
    spec = {k: (kind, kw) for k, _, kind, kw in B.ROWS}
    for r in res["holdout"] + res["test"]:
        assert 0.5 < r["acc"] <= 1 and 0.5 < r["train_acc"] <= 1
        kind, kw = spec[r["key"]]
        base = B.HOLDOUT_EPOCHS if r in res["holdout"] else M.CNN_EPOCHS
        epochs = (
            M.CLASSIC_EPOCHS
            if kind == "classic"
            else round(base * kw.get("epoch_scale", 1.0))
        )
        assert r["epochs"] == epochs, r
    for r in res["test"]:
        correct = np.array([c == "1" for c in r["correct"]])
        assert len(correct) == test["n_eval"]
        assert np.isclose(correct.mean(), r["acc"])
    # 参数量与现在的构建函数一致
    for key, _, kind, kw in B.ROWS:
        kw = {k: v for k, v in kw.items() if k != "epoch_scale"}
        if kind == "classic" or kw.pop("build", None) == "classic":
            model = M.build_classic_cnn(**kw)
        else:
            if "kernel_sizes" in kw:
                kw["kernel_sizes"] = tuple(kw["kernel_sizes"])
            model = M.build_cnn(
                **{k: v for k, v in kw.items() if k != "schedule"}
            )
        params = {r["params"] for r in res["holdout"] if r["key"] == key}
        assert params == {model.count_params()}, key

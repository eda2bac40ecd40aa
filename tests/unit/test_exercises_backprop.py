"""BP 一部分的检查器：接受正确答案，拒绝典型错误并说出错在哪里。"""

import numpy as np
import pytest

from dlbook import mlp
from dlbook.activations import relu_grad, tanh_grad
from dlbook.exercises import ExerciseError
from dlbook.exercises import backprop as ex

# ---------------------------------------------------------------- forward


def test_forward_accepts_reference():
    assert "通过" in ex.check_forward(lambda X, p, a: mlp.forward(X, p, a)[0])


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda X, p, a: mlp.forward(X, _nobias(p), a)[0], "偏置"),
        (
            lambda X, p, a: mlp.forward(X, p, ["linear"] * len(a))[0],
            "激活函数",
        ),
        (lambda X, p, a: mlp.forward(X, p, a[:-1] + a[-2:-1])[0], "logits"),
        (lambda X, p, a: X @ p[0]["W"], "ValueError"),
    ],
)
def test_forward_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_forward(wrong)


def _nobias(params):
    return [{"W": p["W"], "b": 0 * p["b"]} for p in params]


# ---------------------------------------------------------------- 一层反向


def test_dense_backward_accepts_reference():
    assert "通过" in ex.check_dense_backward(ex.dense_backward)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda D, A, W: (A.T @ D / len(D), D.mean(0), D @ W), "dW.*转置"),
        (lambda D, A, W: (D.T @ A, D.mean(0), D @ W), "dW.*少除了批量"),
        (lambda D, A, W: (D.T @ A / len(D), D.sum(0), D @ W), "db.*少除了"),
        (
            lambda D, A, W: (D.T @ A / len(D), D.mean(0), D @ W / len(D)),
            "dA_prev.*多除了",
        ),
        (lambda D, A, W: (D.T @ A / len(D), D.mean(0), D @ W.T), "形状"),
        (lambda D, A, W: (D.T @ A / len(D), D.mean(0)), "3 个值"),
    ],
)
def test_dense_backward_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_dense_backward(wrong)


# ---------------------------------------------------------------- 整个网络


def test_backward_accepts_reference():
    assert "通过" in ex.check_backward(mlp.backward)


def _no_grad(D, cache, params, acts):
    return mlp._backward(D, cache, params, ["linear"] * len(acts))


def _shifted(D, cache, params, acts):
    return mlp._backward(D, cache, params, acts[1:] + acts[-1:])


def _transposed(D, cache, params, acts):
    grads = mlp._backward(D, cache, params, acts)
    return [{"W": g["W"].T, "b": g["b"]} for g in grads]


def _summed(D, cache, params, acts):
    grads = mlp._backward(D, cache, params, acts)
    return [{"W": g["W"] * len(D), "b": g["b"] * len(D)} for g in grads]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_no_grad, r"第 \d 层的 dW.*漏掉了激活函数的导数"),
        (_shifted, "本层而不是前一层"),
        (_transposed, "转置"),
        (_summed, "少除了批量"),
        (lambda *c: {"W": 0}, "列表"),
    ],
)
def test_backward_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_backward(wrong)


def test_backward_names_the_last_wrong_layer():
    # 只有第 1 层的 db 错：别的层都对，报告必须指向第 1 层的 db
    def wrong(D, cache, params, acts):
        grads = mlp._backward(D, cache, params, acts)
        grads[0]["b"] = grads[0]["b"] + 1
        return grads

    with pytest.raises(ExerciseError, match="第 1 层的 db"):
        ex.check_backward(wrong)


# ---------------------------------------------------------------- 损失


def _naive(Z, Y):
    with np.errstate(all="ignore"):
        P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        return -(Y * np.log(P)).sum(axis=1).mean(), P - Y


def test_softmax_ce_accepts_reference():
    assert "通过" in ex.check_softmax_ce(mlp.softmax_cross_entropy)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_naive, "溢出"),
        (
            lambda Z, Y: (
                mlp.softmax_cross_entropy(Z, Y)[0],
                mlp.softmax_cross_entropy(Z, Y)[1] / len(Z),
            ),
            "Δ.*多除了",
        ),
        (lambda Z, Y: mlp.softmax_cross_entropy(Z, Y)[0], "2 个值"),
    ],
)
def test_softmax_ce_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_softmax_ce(wrong)


# ---------------------------------------------------------------- 激活函数


def test_activation_grad_accepts_reference():
    assert "通过" in ex.check_activation_grad(relu_grad, "relu")
    assert "通过" in ex.check_activation_grad(tanh_grad, "tanh")


def test_activation_grad_rejects():
    with pytest.raises(ExerciseError, match=r"ReLU′\(0\) = 0"):
        ex.check_activation_grad(lambda Z: (Z >= 0) * 1.0, "relu")
    with pytest.raises(ExerciseError, match="sigmoid 的导数"):
        ex.check_activation_grad(
            lambda Z: np.tanh(Z) * (1 - np.tanh(Z)), "tanh"
        )
    with pytest.raises(ExerciseError, match="激活函数本身"):
        ex.check_activation_grad(np.tanh, "tanh")


# ---------------------------------------------------------------- 小批量


def test_make_batches():
    assert "通过" in ex.check_make_batches(ex.make_batches)
    with pytest.raises(ExerciseError, match="最后一个不满的批量"):
        ex.check_make_batches(
            lambda o, b: [o[s : s + b] for s in range(0, len(o) - b + 1, b)]
        )
    with pytest.raises(ExerciseError, match="第 1 个批量"):
        ex.check_make_batches(
            lambda o, b: [np.sort(o[s : s + b]) for s in range(0, len(o), b)]
        )


# ---------------------------------------------------------------- 初始化


def _he(sizes, seed, scale=2.0, fan=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "W": rng.normal(
                0, np.sqrt(scale / (n_in, n_out)[fan]), (n_out, n_in)
            ),
            "b": np.zeros(n_out),
        }
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def test_he_init():
    assert "通过" in ex.check_he_init(_he)
    with pytest.raises(ExerciseError, match="少了因子 2"):
        ex.check_he_init(lambda s, seed: _he(s, seed, scale=1.0))
    with pytest.raises(ExerciseError, match="输出宽度"):
        ex.check_he_init(lambda s, seed: _he(s, seed, fan=1))
    with pytest.raises(ExerciseError, match="转置"):
        ex.check_he_init(
            lambda s, seed: [
                {"W": p["W"].T, "b": p["b"]} for p in _he(s, seed)
            ]
        )
    with pytest.raises(ExerciseError, match="seed"):
        ex.check_he_init(lambda s, seed: _he(s, 0))


# ---------------------------------------------------------------- 模块化的层


class _Leaky:
    def __init__(self, alpha=0.1, wrong=None):
        self.alpha, self.wrong = alpha, wrong

    def forward(self, X, training=False):
        self.X = X
        return np.where(X > 0, X, self.alpha * X)

    def backward(self, dY):
        if self.wrong == "identity":
            return dY
        if self.wrong == "relu":
            return dY * (self.X > 0)
        if self.wrong == "none":
            return None
        return dY * np.where(self.X > 0, 1.0, self.alpha)


def test_check_layer():
    from dlbook import layers

    assert "通过" in ex.check_layer(_Leaky)
    assert "通过" in ex.check_layer(lambda: layers.Activation("tanh"))
    assert "通过" in ex.check_layer(lambda: layers.Dense(4, 3), n_in=4)
    with pytest.raises(ExerciseError, match="原样返回了 dY"):
        ex.check_layer(lambda: _Leaky(wrong="identity"))
    with pytest.raises(ExerciseError, match="位置"):
        ex.check_layer(lambda: _Leaky(wrong="relu"))
    with pytest.raises(ExerciseError, match="return dX"):
        ex.check_layer(lambda: _Leaky(wrong="none"))

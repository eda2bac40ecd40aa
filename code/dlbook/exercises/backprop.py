"""“多层神经网络与 BP 算法”一部分编程练习的检查器。

每个检查器在随机的小网络上运行读者的函数，与 :mod:`dlbook.mlp` 的参考
实现比较；不一致时抛出 :class:`~dlbook.exercises.ExerciseError`，用中文
说明错在哪一层、哪个量（dW、db 还是 dA），并尽量猜出原因（转置、漏了
1/m、漏了 g′……）。用法::

    from dlbook.exercises.backprop import check_backward
    check_backward(my_backward)
"""

import numpy as np

from dlbook import activations as _act
from dlbook import mlp
from dlbook.exercises import ExerciseError, compare_on_cases

#: 检查器使用的隐藏层激活函数（输出层总是 "linear"）。
_HIDDEN = ("relu", "sigmoid", "tanh")


def _network(rng, sizes, hidden):
    """随机的小网络：权重、偏置都随机，偏置不为 0 才能检验 db。"""
    params = mlp.init_params(sizes, seed=int(rng.integers(1 << 30)))
    for p in params:
        p["b"] = rng.normal(scale=0.5, size=p["b"].shape)
    acts = [hidden[k % len(hidden)] for k in range(len(sizes) - 2)]
    return params, acts + ["linear"]


def _net_cases(seed=0, n=6):
    """随机网络用例：(X, params, activations)，层宽各不相同以暴露转置。"""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        depth = 2 + i % 3
        sizes = [int(s) for s in rng.integers(2, 7, size=depth + 1)]
        sizes[0] = sizes[1] + 1  # 输入宽度与第一层不同，转置必然出错
        params, acts = _network(rng, sizes, _HIDDEN[i % 3 :] + _HIDDEN)
        X = rng.normal(size=(int(rng.integers(2, 6)), sizes[0]))
        label = "-".join(map(str, sizes)) + " 网络的参数"
        cases.append((X, _Shown(params, label), acts))
    return cases


class _Shown(list):
    """在检查器的消息里只显示一个简短标签的列表（如“3 层网络的参数”）。"""

    def __init__(self, items, label):
        super().__init__(items)
        self.label = label

    def __repr__(self):
        return self.label


def _run_all(fn, cases, name="你的函数"):
    """对每个用例只运行一次读者的函数；出错时说明是哪个用例。

    Returns:
        取结果的函数 ``result(*case)``，供 :func:`compare_on_cases` 使用。
    """
    out = {}
    for i, case in enumerate(cases, start=1):
        try:
            out[id(case[0])] = fn(*case)
        except Exception as err:  # 读者代码的任何错误都要讲清楚
            raise ExerciseError(
                f"第 {i} 个用例上，{name}抛出了 {type(err).__name__}：{err}。"
                "先核对每次矩阵乘法两边的形状。"
            ) from err
    return lambda *case: out[id(case[0])]


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, atol=1e-8)


def _ratio_hint(got, want, m):
    """got 与 want 相差 m 倍或 1/m 倍时给出提示。"""
    if _close(got, want * m):
        return "像是忘了对批量取平均（少除了批量大小 m）。"
    if m > 1 and _close(got, want / m):
        return "像是多除了一次批量大小 m。"
    return ""


# ---------------------------------------------------------------- 前向


def check_forward(fn):
    """检查 ``fn(X, params, activations)`` 是否返回网络输出 A^[L]。"""

    def reference(X, params, acts):
        return mlp.forward(X, params, acts)[0]

    def diagnose(case, got, want):
        X, params, acts = case
        nobias = [{"W": p["W"], "b": 0 * p["b"]} for p in params]
        if _close(got, reference(X, nobias, acts)):
            return "像是漏掉了偏置 b。"
        if _close(got, reference(X, params, ["linear"] * len(acts))):
            return "像是没有套用激活函数 g。"
        last = acts[:-1] + [acts[-2]]
        if _close(got, reference(X, params, last)):
            return "输出层不应再套激活函数：它输出 logits。"
        return ""

    return compare_on_cases(
        fn, reference, _net_cases(), name="你的 forward", diagnose=diagnose
    )


# ---------------------------------------------------------------- 一层的反向


def dense_backward(Delta, A_prev, W):
    """参考答案：一层的反向传播，返回 (dW, db, dA_prev)。

    Args:
        Delta: 本层的 Δ^[l]，形状 (m, n_l)，每行一个样本，未除以 m。
        A_prev: 本层的输入 A^[l-1]，形状 (m, n_{l-1})。
        W: 本层权重，形状 (n_l, n_{l-1})。

    Returns:
        dW (n_l, n_{l-1}) 与 db (n_l,) 对批量取平均；dA_prev
        (m, n_{l-1}) 的第 i 行是第 i 个样本的 W^T δ，不取平均。
    """
    m = len(Delta)
    return Delta.T @ A_prev / m, Delta.mean(axis=0), Delta @ W


def _dense_cases(seed=0, n=6):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        m, n_out = (int(v) for v in rng.integers(2, 6, size=2))
        n_in = n_out + int(rng.integers(1, 3))  # 非方阵，转置会暴露
        cases.append(
            (
                rng.normal(size=(m, n_out)),
                rng.normal(size=(m, n_in)),
                rng.normal(size=(n_out, n_in)),
            )
        )
    return cases


def check_dense_backward(fn):
    """检查 ``fn(Delta, A_prev, W)`` 是否返回 (dW, db, dA_prev)。

    逐个比较 dW、db、dA_prev，说明是哪一个错了、错在哪里。
    """
    cases = _dense_cases()
    result = _run_all(fn, cases)
    names = ("dW", "db", "dA_prev")
    for i, (what, formula) in enumerate(
        zip(names, ("Δ^T A^[l-1] / m", "Δ 各列的均值", "Δ W"), strict=True)
    ):

        def diagnose(case, got, want, i=i, formula=formula):
            m = len(case[0])
            if got.T.shape == want.shape and _close(got.T, want):
                return f"像是多转置了一次：{names[i]} 应为 {formula}。"
            hint = _ratio_hint(got, want, m)
            if i == 2 and not hint:
                return "dA_prev 是每个样本各自的 W^T δ，不必对批量取平均。"
            return hint or f"{names[i]} 应为 {formula}。"

        compare_on_cases(
            lambda *c, i=i: _pick(result(*c), i, 3),
            lambda *c, i=i: dense_backward(*c)[i],
            cases,
            name=f"你返回的 {what}",
            diagnose=diagnose,
        )
    return f"通过：dW、db、dA_prev 在全部 {len(cases)} 个用例上都正确。"


def _pick(result, i, n):
    """取出返回值的第 i 项；个数不对时说清楚应返回什么。"""
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise ExerciseError(
            f"函数应返回 {n} 个值的元组，收到 {type(result).__name__}"
            + (f"（{len(result)} 项）" if hasattr(result, "__len__") else "")
            + "。"
        )
    return result[i]


# ---------------------------------------------------------------- 整个网络


def _backward_no_grad(Delta_L, cache, params, acts):
    """常见错误：递推时漏掉 g'(Z)。"""
    return mlp._backward(Delta_L, cache, params, ["linear"] * len(acts))


def _backward_shifted(Delta_L, cache, params, acts):
    """常见错误：递推时用了第 l 层而不是第 l-1 层的激活函数。"""
    return mlp._backward(Delta_L, cache, params, acts[1:] + acts[-1:])


def check_backward(fn):
    """检查 ``fn(Delta_L, cache, params, activations)`` 返回的梯度列表。

    从最后一层往前比较每层的 dW 与 db：反向传播的错误从出错的那一层
    开始向前传染，所以报告的是最靠后的出错位置。
    """
    cases = []
    for X, params, acts in _net_cases(seed=1):
        A_L, cache = mlp.forward(X, params, acts)
        Delta_L = A_L - np.eye(A_L.shape[1])[np.arange(len(X)) % A_L.shape[1]]
        cache = _Shown(cache, "forward 返回的 cache")
        cases.append((Delta_L, cache, params, acts))
    result = _run_all(fn, cases)
    wrong = {
        "漏掉了激活函数的导数 g'(Z^[l-1])": _backward_no_grad,
        "乘的是本层而不是前一层激活函数的导数": _backward_shifted,
    }
    depth = max(len(c[2]) for c in cases)
    for k in reversed(range(depth)):
        for key in ("W", "b"):
            sub = [c for c in cases if len(c[2]) > k]

            def diagnose(case, got, want, k=k, key=key):
                m = len(case[0])
                if got.T.shape == want.shape and _close(got.T, want):
                    return "像是多转置了一次：dW 应为 Δ^T A^[l-1] / m。"
                whys = [
                    why
                    for why, bad in wrong.items()
                    if _close(got, bad(*case)[k][key])
                ]
                if whys:
                    return f"像是递推时{'，或'.join(whys)}。"
                return _ratio_hint(got, want, m)

            compare_on_cases(
                lambda *c, k=k, key=key: _layer(
                    result(*c), k, key, len(c[2])
                ),
                lambda *c, k=k, key=key: mlp._backward(*c)[k][key],
                sub,
                name=f"第 {k + 1} 层的 d{key}",
                diagnose=diagnose,
            )
    return f"通过：每一层的 dW、db 在全部 {len(cases)} 个随机网络上都正确。"


def _layer(grads, k, key, n_layers):
    if not isinstance(grads, (list, tuple)) or len(grads) != n_layers:
        raise ExerciseError(
            f"应返回长度为 {n_layers}（层数）的列表 "
            '[{"W": dW, "b": db}, ...]，'
            f"收到 {type(grads).__name__}。"
        )
    try:
        return grads[k][key]
    except (KeyError, TypeError, IndexError) as err:
        raise ExerciseError(
            f'第 {k + 1} 层的梯度应是字典 {{"W": dW, "b": db}}，'
            f"取 {key!r} 时出错：{err!r}。"
        ) from err


# ---------------------------------------------------------------- 损失


def check_softmax_ce(fn):
    """检查 ``fn(Z, Y)`` 是否返回 (批量平均损失, Δ^[L] = Ŷ − Y)。

    用例中有很大的 logits：按定义计算会溢出。
    """
    rng = np.random.default_rng(2)
    cases = []
    for scale in (1.0, 5.0, 1000.0):
        m, k = (int(v) for v in rng.integers(2, 6, size=2))
        Z = rng.normal(scale=scale, size=(m, k))
        cases.append((Z, np.eye(k)[rng.integers(0, k, size=m)]))

    def diagnose(case, got, want):
        if not np.all(np.isfinite(got)):
            return (
                "结果里有 inf 或 nan：exp 溢出了。先从每行减去它的最大值"
                "（log-sum-exp 技巧），再取指数。"
            )
        return _ratio_hint(got, want, len(case[0]))

    result = _run_all(fn, cases)
    for i, what in enumerate(("损失", "Δ^[L]")):
        compare_on_cases(
            lambda *c, i=i: _pick(result(*c), i, 2),
            lambda *c, i=i: mlp.softmax_cross_entropy(*c)[i],
            cases,
            name=f"你的{what}",
            diagnose=diagnose,
        )
    return f"通过：损失与 Δ^[L] 在全部 {len(cases)} 个用例上都正确。"


# ---------------------------------------------------------------- 激活函数


def check_activation_grad(fn, name):
    """检查激活函数 ``name`` 的导数 ``fn(Z)``，包括 z = 0 等特殊点。"""
    _, reference = _act.get(name)
    rng = np.random.default_rng(3)
    cases = [
        (np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),),
        (rng.normal(scale=3, size=(4, 3)),),
    ]
    g, _ = _act.get(name)

    def diagnose(case, got, want):
        (Z,) = case
        if _close(got, g(Z) * (1 - g(Z))) and name != "sigmoid":
            return "这是 sigmoid 的导数公式 g(1 − g)，不适用于这个函数。"
        if name == "relu" and _close(got[Z != 0], want[Z != 0]):
            return "只有 z = 0 处不同：本书与 TensorFlow 约定 ReLU′(0) = 0。"
        if _close(got, g(Z)):
            return "返回的是激活函数本身，不是它的导数。"
        return ""

    return compare_on_cases(
        fn, reference, cases, name=f"你的 {name} 导数", diagnose=diagnose
    )


# ---------------------------------------------------------------- 小批量


def make_batches(order, batch_size):
    """参考答案：按 order 把样本下标切成小批量，最后一批可以不满。"""
    return [
        order[start : start + batch_size]
        for start in range(0, len(order), batch_size)
    ]


def check_make_batches(fn):
    """检查 ``fn(order, batch_size)`` 是否把一轮的样本不重不漏地切成批量。"""
    rng = np.random.default_rng(4)
    cases = [(rng.permutation(n), b) for n, b in ((10, 3), (12, 4), (7, 8))]
    for order, b in cases:
        want = make_batches(order, b)
        try:
            got = [np.asarray(x) for x in fn(order, b)]
        except Exception as err:
            raise ExerciseError(
                f"n = {len(order)}、batch_size = {b} 时，你的函数抛出了 "
                f"{type(err).__name__}：{err}"
            ) from err
        where = f"n = {len(order)}、batch_size = {b} 时"
        if len(got) == len(want) - 1 and all(
            np.array_equal(g, w) for g, w in zip(got, want, strict=False)
        ):
            raise ExerciseError(
                f"{where}，少了最后一个不满的批量（{len(want[-1])} 个样本）："
                "range 的终点应是 n，而不是 n - batch_size。"
            )
        if len(got) != len(want):
            raise ExerciseError(
                f"{where}应有 {len(want)} 个批量，你给出了 {len(got)} 个。"
            )
        for j, (g, w) in enumerate(zip(got, want, strict=True), start=1):
            if not np.array_equal(g, w):
                raise ExerciseError(
                    f"{where}，第 {j} 个批量应为 {w.tolist()}，你给出了 "
                    f"{g.tolist()}；批量应按 order 的顺序取连续的一段。"
                )
    return f"通过：{len(cases)} 种 (n, batch_size) 下的切分都正确。"


# ---------------------------------------------------------------- 初始化


def check_he_init(fn):
    """检查 ``fn(layer_sizes, seed)`` 是否给出 He 初始化的参数。

    W^[l] 形状 (n_l, n_{l-1})、均值 0、标准差 sqrt(2 / n_{l-1})；b 为 0。
    """
    sizes = [400, 300, 200]
    params = fn(sizes, 0)
    if not isinstance(params, (list, tuple)) or len(params) != len(sizes) - 1:
        raise ExerciseError(
            f"layer_sizes = {sizes} 时应返回 {len(sizes) - 1} 层参数的列表。"
        )
    for k, p in enumerate(params, start=1):
        n_in, n_out = sizes[k - 1], sizes[k]
        W, b = np.asarray(p["W"]), np.asarray(p["b"])
        if W.shape != (n_out, n_in):
            hint = "，像是转置了" if W.shape == (n_in, n_out) else ""
            raise ExerciseError(
                f"第 {k} 层的 W 形状应为 {(n_out, n_in)}，"
                f"收到 {W.shape}{hint}。"
            )
        if b.shape != (n_out,) or np.any(b != 0):
            raise ExerciseError(
                f"第 {k} 层的 b 应为形状 ({n_out},) 的零向量。"
            )
        std, want = W.std(), np.sqrt(2 / n_in)
        if abs(std / want - 1) > 0.05:
            hints = {
                "用了 n_l（输出宽度）而不是 n_{l-1}": np.sqrt(2 / n_out),
                "这是 Glorot 的标准差": np.sqrt(2 / (n_in + n_out)),
                "把方差 2/n 当成了标准差": 2 / n_in,
                "少了因子 2": np.sqrt(1 / n_in),
            }
            why = next(
                (w for w, v in hints.items() if abs(std / v - 1) < 0.05), ""
            )
            raise ExerciseError(
                f"第 {k} 层 W 的标准差应约为 sqrt(2/{n_in}) = {want:.4f}，"
                f"收到 {std:.4f}" + (f"：{why}。" if why else "。")
            )
        if abs(W.mean()) > 3 * want / np.sqrt(W.size):
            raise ExerciseError(
                f"第 {k} 层 W 的均值应约为 0，收到 {W.mean():.4f}。"
            )
    if np.array_equal(params[0]["W"], fn(sizes, 1)[0]["W"]):
        raise ExerciseError(
            "换一个 seed，权重却没有变：请用 seed 生成随机数。"
        )
    return "通过：形状、均值、标准差与偏置都符合 He 初始化。"


# ---------------------------------------------------------------- 模块化的层


def _numeric_dX(make_layer, X, dY, h=1e-6):
    """数值梯度：f(X) = sum(dY * forward(X)) 对 X 的中心差分。"""
    layer, d = make_layer(), np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += h
        Xm[idx] -= h
        f_plus = (dY * layer.forward(Xp)).sum()
        f_minus = (dY * layer.forward(Xm)).sum()
        d[idx] = (f_plus - f_minus) / (2 * h)
    return d


def check_layer(make_layer, n_in=4):
    """检查一个层对象的 ``backward``：与数值梯度比较 dX（推理模式）。

    Args:
        make_layer: 无参数的函数，每次返回一个新的层对象，它有
            ``forward(X, training=False)`` 与 ``backward(dY)``。
        n_in: 输入的特征数。
    """
    rng = np.random.default_rng(5)
    cases = []
    for m in (1, 3, 5):
        X = rng.normal(size=(m, n_in))
        X[np.abs(X) < 0.05] = 0.3  # 避开折点，差分才可靠
        out = make_layer().forward(X)
        cases.append((X, rng.normal(size=np.shape(out))))

    def run(X, dY):
        layer = make_layer()
        layer.forward(X)
        dX = layer.backward(dY)
        if dX is None:
            raise ExerciseError("backward 没有返回值：它应当 return dX。")
        return dX

    def diagnose(case, got, want):
        X, dY = case
        if got.shape == dY.shape and _close(got, dY):
            return "backward 原样返回了 dY：忘了乘本层的局部导数。"
        return ""

    return compare_on_cases(
        run,
        lambda X, dY: _numeric_dX(make_layer, X, dY),
        cases,
        name="你的 backward 返回的 dX",
        diagnose=diagnose,
        atol=1e-5,
    )

"""dlbook.plotting.animation：每一帧画出的窗口和数字就是真实的计算结果。

检查函数（``_check_*``）只用画面上的图元（第 k 帧可见的窗口格子、写进
输出格子的文字）和独立算出的结果比对，不读动画自己的帧数据；再故意
改坏一帧，确认检查函数能发现。
"""

import copy
import warnings
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from dlbook import mlp  # noqa: E402
from dlbook.conv import conv2d, conv_transpose2d, padding_amounts  # noqa: E402
from dlbook.plotting import animation as A  # noqa: E402
from dlbook.pooling import pool2d  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def _num(s):
    return float(s.replace("−", "-"))


def _out_texts(anim, k, name="out"):
    """第 k 帧可见的输出文字：{(行, 列, ...): 数值}。"""
    return {p["tag"][1:]: _num(p["s"]) for p in anim.scene.tagged(k, name)}


def _cells(anim, k, name):
    return [p["tag"][1:] for p in anim.scene.tagged(k, name)]


def _svg_frames(anim):
    """从 SVG 文本读出每帧写进输出格子的文字：{k: [文字, ...]}。"""
    root = ET.fromstring(anim.svg("t"))
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("data-key") is not None:
            k = int(g.get("data-k"))
            out.setdefault(k, []).extend(
                "".join(t.itertext()) for t in g.iter(f"{SVG}text")
            )
    return out


def _check_conv(anim, X, K, stride, padding, dilation):
    Y = conv2d(
        X[None, :, :, None],
        K[:, :, None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )[0, :, :, 0]
    (t, b) = padding_amounts(
        X.shape[0], K.shape[0], stride, padding, dilation
    )
    (lf, r) = padding_amounts(
        X.shape[1], K.shape[1], stride, padding, dilation
    )
    Xp = np.pad(X, ((t, b), (lf, r)))
    assert len(anim) == Y.size
    svg = _svg_frames(anim)
    for k, (i, j) in enumerate(np.ndindex(Y.shape)):
        window = _cells(anim, k, "win")
        assert len(set(window)) == K.size, f"第 {k} 帧窗口格子数不对"
        # 画出的窗口（按核的行优先顺序）与核逐元素相乘再求和 = conv2d 的输出
        drawn = sum(
            Xp[rc] * w for rc, w in zip(window, K.ravel(), strict=True)
        )
        np.testing.assert_allclose(
            drawn, Y[i, j], atol=1e-9, err_msg=f"第 {k} 帧"
        )
        texts = _out_texts(anim, k)
        assert abs(texts[(i, j)] - Y[i, j]) < 0.006, f"第 {k} 帧输出格"
        assert len(texts) == k + 1  # 已算过的格子保留，未算的为空
        for (ii, jj), v in texts.items():
            assert abs(v - Y[ii, jj]) < 0.006
        assert [_num(s) for s in svg[k]] == [
            pytest.approx(Y[i, j], abs=0.006)
        ]
        assert anim.frames[k]["out"] == (i, j)
        assert anim.frames[k]["window"] == window
        assert anim.frames[k]["value"] == pytest.approx(Y[i, j])


CASES = [
    dict(n=4, stride=1, padding="valid", dilation=1),
    dict(n=5, stride=1, padding="same", dilation=1),
    dict(n=3, stride=1, padding="full", dilation=1),
    dict(n=5, stride=2, padding=1, dilation=1),
    dict(n=7, stride=1, padding="valid", dilation=2),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c))
def test_conv_frames_are_conv2d(case):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, (case["n"], case["n"])).astype(float)
    K = rng.integers(-1, 3, (3, 3)).astype(float)
    anim = A.conv_animation(
        X, K, case["stride"], case["padding"], case["dilation"]
    )
    _check_conv(anim, X, K, case["stride"], case["padding"], case["dilation"])


@settings(max_examples=20, deadline=None)
@given(
    H=st.integers(3, 6),
    W=st.integers(3, 6),
    f=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.sampled_from(["valid", "same", "full"]),
    seed=st.integers(0, 10**6),
)
def test_conv_frames_random_shapes(H, W, f, stride, padding, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(H, W)).round(1)
    K = rng.normal(size=(f, f)).round(1)
    anim = A.conv_animation(X, K, stride, padding)
    _check_conv(anim, X, K, stride, padding, 1)


def _broken(anim, k, change):
    """复制一份动画，对第 k 帧的某个图元做 change(图元)。"""
    bad = copy.deepcopy(anim)
    for p in bad.scene.prims:
        if p["k"] == k and change(p):
            return bad
    raise AssertionError("没有找到要改坏的图元")


def _shift_use(p):
    if p["kind"] == "use":
        p["cell"] = (p["cell"][0], p["cell"][1] + 1)
        return True
    return False


def _wrong_text(p):
    if p["tag"] is not None and p["tag"][0] in ("out", "max", "avg"):
        p["s"] = A._fmt(_num(p["s"]) + 1)
        return True
    return False


def test_conv_check_detects_a_wrong_frame():
    X = np.arange(25.0).reshape(5, 5) % 4
    K = np.array([[0.0, 1, 2], [2, 2, 0], [0, 1, 2]])
    anim = A.conv_animation(X, K, padding="same")
    _check_conv(anim, X, K, 1, "same", 1)
    for change in (_shift_use, _wrong_text):
        with pytest.raises(AssertionError):
            _check_conv(_broken(anim, 7, change), X, K, 1, "same", 1)


# ---------------------------------------------------------------------------
# 多通道
# ---------------------------------------------------------------------------


def _check_multichannel(anim, X, W, b, stride, padding):
    Y = conv2d(X[None], W, b, stride=stride, padding=padding)[0]
    pads = [
        padding_amounts(X.shape[a], W.shape[a], stride, padding)
        for a in (0, 1)
    ]
    Xp = np.pad(X, (*pads, (0, 0)))
    c_in = X.shape[2]
    assert len(anim) == Y.size
    k = 0
    for c in range(Y.shape[2]):
        for i, j in np.ndindex(Y.shape[:2]):
            cells = _cells(anim, k, "win")
            # 每个输入通道都高亮了一个 f×f 窗口，位置相同
            per = [
                sorted(rc[1:] for rc in cells if rc[0] == ch)
                for ch in range(c_in)
            ]
            assert all(len(w) == W.shape[0] * W.shape[1] for w in per)
            assert all(w == per[0] for w in per)
            drawn = b[c] + sum(
                Xp[r, cc, ch] * W[r - per[0][0][0], cc - per[0][0][1], ch, c]
                for ch in range(c_in)
                for r, cc in per[ch]
            )
            np.testing.assert_allclose(drawn, Y[i, j, c], atol=1e-9)
            texts = _out_texts(anim, k)
            assert abs(texts[(i, j, c)] - Y[i, j, c]) < 0.006
            k += 1


def test_multichannel_frames_are_conv2d():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, (5, 5, 3)).astype(float)
    W = rng.integers(-1, 2, (3, 3, 3, 2)).astype(float)
    b = np.array([1.0, 0.0])
    anim = A.multichannel_conv_animation(X, W, b, stride=2, padding=1)
    _check_multichannel(anim, X, W, b, 2, 1)
    assert len(anim) == 18
    for change in (_shift_use, _wrong_text):
        with pytest.raises(AssertionError):
            _check_multichannel(_broken(anim, 5, change), X, W, b, 2, 1)


# ---------------------------------------------------------------------------
# 转置卷积
# ---------------------------------------------------------------------------


def _check_transpose(anim, X, K, stride):
    Y = conv_transpose2d(
        X[None, :, :, None], K[:, :, None, None], stride=stride
    )[0, :, :, 0]
    f = K.shape[0]
    acc = np.zeros_like(Y)
    assert len(anim) == X.size
    for k, (i, j) in enumerate(np.ndindex(X.shape)):
        stamp = _cells(anim, k, "stamp")
        # 盖章区域：以 (s·i, s·j) 为左上角的 f×f 块
        assert stamp == [
            (stride * i + x, stride * j + y)
            for x in range(f)
            for y in range(f)
        ]
        for (r, c), w in zip(stamp, K.ravel(), strict=True):
            acc[r, c] += X[i, j] * w
        texts = _out_texts(anim, k)
        for (r, c), v in texts.items():
            assert abs(v - acc[r, c]) < 0.006, f"第 {k} 帧 ({r}, {c})"
        touched = {
            rc for kk in range(k + 1) for rc in _cells(anim, kk, "stamp")
        }
        assert set(texts) == touched
    # 所有盖章叠加起来恰好是 conv_transpose2d 的输出
    np.testing.assert_allclose(acc, Y)
    np.testing.assert_allclose(anim.frames[-1]["partial"], Y)


def test_transpose_stamps_sum_to_conv_transpose2d():
    X = np.array([[1.0, 2], [3, 1]])
    K = np.array([[1.0, 1, 1], [1, 2, 1], [1, 1, 1]])
    for s in (1, 2):
        anim = A.conv_transpose_animation(X, K, stride=s)
        _check_transpose(anim, X, K, s)
    anim = A.conv_transpose_animation(X, K, stride=2)
    with pytest.raises(AssertionError):
        _check_transpose(_broken(anim, 2, _shift_use), X, K, 2)
    with pytest.raises(AssertionError):
        _check_transpose(_broken(anim, 3, _wrong_text), X, K, 2)


def test_transpose_overlaps_are_summed():
    # 步长 2、核 3×3：相邻两次盖章在第 2 行/列重叠，重叠处是两者之和
    X = np.array([[1.0, 10.0]])
    K = np.ones((3, 3))
    anim = A.conv_transpose_animation(X, K, stride=2)
    final = _out_texts(anim, len(anim) - 1)
    assert final[(0, 2)] == 11 and final[(0, 1)] == 1 and final[(0, 3)] == 10


# ---------------------------------------------------------------------------
# 池化
# ---------------------------------------------------------------------------


def _check_pool(anim, X, f, s):
    Ym = pool2d(X[None, :, :, None], f, s, mode="max")[0, :, :, 0]
    Ya = pool2d(X[None, :, :, None], f, s, mode="avg")[0, :, :, 0]
    assert len(anim) == Ym.size
    for k, (i, j) in enumerate(np.ndindex(Ym.shape)):
        window = _cells(anim, k, "win")
        # 池化窗口：以 (s·i, s·j) 为左上角的 f×f 块
        assert window == [
            (s * i + x, s * j + y) for x in range(f) for y in range(f)
        ]
        vals = [X[rc] for rc in window]
        assert max(vals) == Ym[i, j] and np.mean(vals) == pytest.approx(
            Ya[i, j]
        )
        (arg,) = _cells(anim, k, "argmax")
        assert arg in window and X[arg] == Ym[i, j]
        assert abs(_out_texts(anim, k, "max")[(i, j)] - Ym[i, j]) < 0.006
        assert abs(_out_texts(anim, k, "avg")[(i, j)] - Ya[i, j]) < 0.006


def test_pool_frames_are_pool2d():
    X = np.random.default_rng(1).integers(0, 9, (4, 4)).astype(float)
    anim = A.pool_animation(X, 2)
    _check_pool(anim, X, 2, 2)
    X6 = np.random.default_rng(2).normal(size=(5, 5)).round(2)
    _check_pool(A.pool_animation(X6, 3, 1), X6, 3, 1)
    for change in (_shift_use, _wrong_text):
        with pytest.raises(AssertionError):
            _check_pool(_broken(anim, 1, change), X, 2, 2)


# ---------------------------------------------------------------------------
# BP 计算图
# ---------------------------------------------------------------------------


def _hand_bp():
    """按手算页面的公式独立算一遍（不调用 mlp.forward/backward）。"""
    ex = mlp.worked_example()
    (p1, p2) = ex["params"]
    x = ex["x"][0]
    y = np.eye(2)[ex["y"][0]]
    z1 = p1["W"] @ x + p1["b"]
    a1 = 1 / (1 + np.exp(-z1))
    z2 = p2["W"] @ a1 + p2["b"]
    y_hat = np.exp(z2) / np.exp(z2).sum()
    loss = -np.log(y_hat[1])
    d2 = y_hat - y
    da1 = p2["W"].T @ d2
    d1 = da1 * a1 * (1 - a1)
    return {
        ("forward", "x"): x,
        ("forward", "z1"): z1,
        ("forward", "a1"): a1,
        ("forward", "z2"): z2,
        ("forward", "yh"): y_hat,
        ("forward", "L"): np.array([loss]),
        ("backward", "z2"): d2,
        ("backward", "p2"): {"W": np.outer(d2, a1), "b": d2},
        ("backward", "a1"): da1,
        ("backward", "z1"): d1,
        ("backward", "p1"): {"W": np.outer(d1, x), "b": d1},
    }


def _check_bp(anim):
    hand = _hand_bp()
    assert len(anim) == len(hand) == 11
    phases = [fr["phase"] for fr in anim.frames]
    assert phases == ["forward"] * 6 + ["backward"] * 5  # 先前向，再反向
    for k, fr in enumerate(anim.frames):
        ref = hand[(fr["phase"], fr["node"])]
        if isinstance(ref, dict):
            drawn = {
                t[1:]: v
                for t, v in _out_texts(anim, k, "pgrad").items()
                if t[0] == fr["node"]
            }
            full = np.column_stack([ref["W"], ref["b"]])
            assert set(drawn) == set(np.ndindex(full.shape))
            for rc, v in drawn.items():
                assert abs(v - full[rc]) < 6e-5, f"第 {k} 帧 {rc}"
            continue
        name = "value" if fr["phase"] == "forward" else "grad"
        drawn = {
            t[1]: v
            for t, v in _out_texts(anim, k, name).items()
            if t[0] == fr["node"]
        }
        assert sorted(drawn) == list(range(ref.size))
        for m, v in drawn.items():
            assert abs(v - ref[m]) < 6e-5, f"第 {k} 帧 {fr['node']}[{m}]"


def test_backprop_frames_are_the_worked_example():
    anim = A.backprop_animation()
    _check_bp(anim)
    # 帧数据与 dlbook.mlp 的梯度逐元素一致
    ex = mlp.worked_example()
    _, grads = mlp.loss_and_grads(
        ex["params"], ex["x"], ex["y"], ex["activations"]
    )
    by_node = {fr["node"]: fr["value"] for fr in anim.frames[6:]}
    for layer, node in ((0, "p1"), (1, "p2")):
        for key in ("W", "b"):
            np.testing.assert_allclose(by_node[node][key], grads[layer][key])
    bad = _broken(anim, 8, _wrong_grad)
    with pytest.raises(AssertionError):
        _check_bp(bad)


def _wrong_grad(p):
    if p["tag"] is not None and p["tag"][0] == "grad":
        p["s"] = A._fmt(_num(p["s"]) * 2 + 0.01, 4)
        return True
    return False


# ---------------------------------------------------------------------------
# 网页与 PDF 两种输出
# ---------------------------------------------------------------------------


def _all_anims():
    rng = np.random.default_rng(0)
    return [
        A.conv_animation(rng.integers(0, 4, (5, 5)), np.ones((3, 3)), 2, 1),
        A.multichannel_conv_animation(
            rng.integers(0, 3, (5, 5, 3)), rng.integers(-1, 2, (3, 3, 3, 2))
        ),
        A.conv_transpose_animation(np.ones((2, 2)), np.ones((3, 3)), 2),
        A.pool_animation(rng.integers(0, 9, (4, 4))),
        A.backprop_animation(),
    ]


@pytest.mark.parametrize("anim", _all_anims(), ids=lambda a: a.name)
def test_html_player_is_offline_accessible_and_small(anim):
    page = anim.to_html()
    for cls in ("play", "pause", "next", "prev"):
        assert f'class="{cls}"' in page
    assert "prefers-reduced-motion" in page
    # 只有 SVG 的命名空间出现网址，没有任何外部资源
    assert page.count("http") == 1 and "http://www.w3.org/2000/svg" in page
    assert "src=" not in page and "<link" not in page
    root = ET.fromstring(anim.svg("t"))  # SVG 是合法的 XML
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == anim.alt and len(anim.alt) > 20
    # 第 0 帧可见，其余帧都隐藏
    for g in root.iter(f"{SVG}g"):
        if g.get("data-k") is not None and g.get("data-k") != "0":
            assert g.get("style") == "display:none"
    assert len(page.encode()) < 60_000
    assert anim.to_html() == page  # 两次生成完全相同（构建可复现）


@pytest.mark.parametrize("anim", _all_anims()[2:], ids=lambda a: a.name)
def test_png_panels_for_pdf(anim):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 缺字形等警告都算失败
        png = anim._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    steps = anim.panel_steps()
    assert steps[0] == 0 or anim.panels is not None
    assert steps[-1] == len(anim) - 1  # 最后一帧（完整结果）一定画出


def test_panel_steps_pick_first_and_last():
    X = np.zeros((5, 5))
    anim = A.conv_animation(X, np.ones((3, 3)), padding="same")
    assert anim.panel_steps() == [0, 8, 16, 24]


def test_bad_input_messages():
    with pytest.raises(ValueError, match="二维数组"):
        A.conv_animation(np.zeros((1, 4, 4, 1)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="通道数"):
        A.multichannel_conv_animation(
            np.zeros((4, 4, 2)), np.ones((3, 3, 3, 1))
        )
    with pytest.raises(ValueError, match="步长"):
        A.conv_transpose_animation(np.ones((2, 2)), np.ones((2, 2)), 3)


def test_group_shows_every_animation_once():
    anims = _all_anims()[2:]
    g = A.group(*anims)
    page = g._repr_html_()
    assert page.count('<figure class="dlb-anim"') == len(anims)
    for a in anims:
        assert a.to_html() in page
    fig = g.panel_figure()
    # 每段动画一块子图，各自画出自己的分步小图
    assert len(fig.subfigs) == len(anims)
    # 三段以上拼在一起时，每段画两帧：中间一帧与最后一帧
    per = 2 if len(anims) > 2 else 4
    for sub, a in zip(fig.subfigs, anims, strict=True):
        drawn = [ax for ax in sub.axes if ax.patches]
        assert len(drawn) == len(a.panel_steps(per))
        assert a.panel_steps(per)[-1] == len(a) - 1
    assert g._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="Animation"):
        A.group()

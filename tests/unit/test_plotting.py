"""dlbook.plotting：中文字体真的被使用，没有缺字形的方框。"""

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from dlbook import plotting  # noqa: E402
from helpers import worked_example_values  # noqa: E402


def test_cjk_font_is_registered_and_resolves():
    family = plotting.use_chinese_font()
    prop = font_manager.FontProperties(family=["sans-serif"])
    path = font_manager.findfont(prop, fallback_to_default=False)
    assert path == plotting.cjk_font_path()
    assert family == "Noto Sans CJK SC"


def test_chinese_text_renders_without_missing_glyphs():
    plotting.use_chinese_font()
    fig, ax = plt.subplots()
    ax.set_title("卷积核与反向传播：检查点")
    with warnings.catch_warnings():
        # 缺字形时 Matplotlib 会发出 "Glyph ... missing from font" 警告。
        warnings.simplefilter("error")
        fig.canvas.draw()
    plt.close(fig)


def test_show_digits_grid_and_labels():
    X = np.zeros((12, 28, 28), dtype=np.uint8)
    y = np.arange(12) % 10
    fig = plotting.show_digits(X, y, n=12, ncols=5, title="标题")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 12 and len(fig.axes) == 15
    assert images[3].get_title() == "3"
    fig = plotting.show_digits(X, y, n=2, pred=y[::-1])
    assert fig.axes[0].get_title() == "真 0\n预测 1"
    plt.close("all")


@pytest.mark.parametrize("n", [0, 13])
def test_show_digits_rejects_bad_n(n):
    X = np.zeros((12, 28, 28))
    with pytest.raises(ValueError, match=f"收到 {n}"):
        plotting.show_digits(X, np.zeros(12), n=n)


def test_show_digits_rejects_flat_images():
    with pytest.raises(ValueError, match=r"\(样本数, 高, 宽\)"):
        plotting.show_digits(np.zeros((5, 784)), np.zeros(5))


# ---------------------------------------------------------------- BP 一部分


def _texts(fig):
    return [t for ax in fig.axes for t in ax.texts]


def test_mlp_diagram_shows_every_weight_value_and_delta():
    from dlbook.plotting.backprop import plot_mlp_diagram

    p, x, a1, y_hat, deltas = worked_example_values()
    fig = plot_mlp_diagram(p, x, a1, y_hat, deltas)
    texts = [t.get_text() for t in _texts(fig)]
    for layer in p:  # 每个权重恰好写在一条连线上
        for w in layer["W"].ravel():
            assert f"{w:g}" in texts
    assert sum("\\delta" in t for t in texts) == 5  # 3 个隐藏 + 2 个输出
    # 圆内写的是前向的值，下方是偏置，上方红字是 δ：逐个与前向、反向
    # 传播算出的数比对
    for prefix, values in (("x", x), ("a", a1), (r"\hat{y}", y_hat)):
        for i, v in enumerate(values):
            assert rf"${prefix}_{i + 1}$" + f"\n{v:.3g}" in texts
    for layer in p:
        for b in layer["b"]:
            assert f"b = {b:g}" in texts
    for d in np.concatenate(deltas):
        assert rf"$\delta = {d:.4f}$" in texts
    plt.close(fig)


def test_mlp_diagram_rejects_other_shapes():
    from dlbook.plotting.backprop import plot_mlp_diagram

    p, x, a1, y_hat, _ = worked_example_values()
    with pytest.raises(ValueError, match="只画两层网络"):
        plot_mlp_diagram(p[:1], x, a1, y_hat)


@pytest.mark.parametrize("name", ["graph", "mlp", "norms", "curves"])
def test_bp_figures_are_readable_at_page_width(name):
    """图宽不超过 8 英寸（约正文宽度），所有文字不小于 12 磅。"""
    from dlbook.plotting import backprop as bp

    p, x, a1, y_hat, deltas = worked_example_values()
    fig = {
        "graph": bp.plot_computational_graph,
        "mlp": lambda: bp.plot_mlp_diagram(p, x, a1, y_hat, deltas),
        "norms": lambda: bp.plot_grad_norms(
            {"a": np.array([1e-3, 1.0])}, {"a": np.array([1.0, 2.0])}
        ),
        "curves": lambda: bp.plot_learning_curves(
            {
                "NumPy": {
                    "train_loss": [2.3, 0.5],
                    "test_loss": [2.3, 0.6],
                    "test_acc": [0.1, 0.9],
                }
            }
        ),
    }[name]()
    assert fig.get_size_inches()[0] <= 8
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in _texts(fig) if t.get_text()]
    for ax in fig.axes:
        if not ax.axison:  # 关掉坐标轴的图没有刻度文字
            continue
        sizes += [t.get_fontsize() for t in ax.get_xticklabels()]
        sizes += [ax.xaxis.label.get_fontsize(), ax.title.get_fontsize()]
    for ax in fig.axes:
        if ax.get_legend():
            sizes += [t.get_fontsize() for t in ax.get_legend().get_texts()]
    assert min(sizes) >= 12, min(sizes)
    plt.close(fig)


def test_grad_norms_plots_deltas_and_optional_weight_panel():
    from dlbook.plotting.backprop import plot_grad_norms

    d = {"sigmoid": np.array([1e-6, 1e-3, 1.0]), "ReLU": np.ones(3)}
    fig = plot_grad_norms(d)
    assert len(fig.axes) == 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), d["sigmoid"])
    fig = plot_grad_norms(d, {"sigmoid": np.ones(3), "ReLU": np.ones(3)})
    assert len(fig.axes) == 2 and "W" in fig.axes[1].get_ylabel()
    plt.close("all")


def _convnets_figures():
    """卷积部分每个画图函数各画一张小图。"""
    import dlbook.plotting.convnets as cp

    plotting.use_chinese_font()
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    fig, ax = plt.subplots(figsize=(6, 2.8))
    cp.draw_conv(ax, 3, 2, values=X, kernel=K, out_values=X[:2, :2])
    yield fig
    yield cp.conv_arithmetic_figure(
        [
            dict(n=4, f=3),
            dict(n=5, f=3, padding="same"),
            dict(kind="transpose", n=2, f=3),
        ],
        ncols=3,
        width=5,
    )
    yield cp.tiled_assignment_figure()
    z = np.linspace(-2, 2, 5)
    yield cp.plot_curves(z, [("a", {"x": z}), ("b", {"y": (z, z + 1)})], "g")
    yield cp.plot_maps(
        [[X, X, X, X, X]],
        col_titles=list("abcde"),
        row_titles=["行"],
        annotate=True,
        size=3,
    )
    yield cp.plot_receptive_field(np.arange(1, 4), {"a": [3, 5, 7]})
    yield cp.plot_kernel_learning({"a": [1.0, 0.1]}, np.zeros((2, 2, 2)), K)
    yield cp.plot_causal_stack([("a", np.ones((3, 8), bool))] * 2)
    yield cp.im2col_figure(X, K)[0]


def test_convnets_figures_are_readable_at_page_width():
    """卷积部分的图：宽不超过 8 英寸，所有文字不小于 12 磅。"""
    for fig in _convnets_figures():
        assert fig.get_size_inches()[0] <= 8 + 1e-9
        fig.canvas.draw()
        sizes = [t.get_fontsize() for t in _texts(fig) if t.get_text()]
        for ax in fig.axes:
            sizes += [ax.title.get_fontsize()] if ax.get_title() else []
            if ax.axison:
                sizes += [t.get_fontsize() for t in ax.get_xticklabels()]
                sizes += [t.get_fontsize() for t in ax.get_yticklabels()]
                sizes += [ax.xaxis.label.get_fontsize()]
            if ax.get_legend():
                sizes += [
                    t.get_fontsize() for t in ax.get_legend().get_texts()
                ]
        assert min(sizes) >= 12, min(sizes)
        plt.close(fig)


def test_computational_graph_uses_single_sample_loss_and_bias_edges():
    from dlbook.plotting.backprop import plot_computational_graph

    fig = plot_computational_graph()
    texts = " ".join(t.get_text() for t in _texts(fig))
    for l in (1, 2):  # noqa: E741  各层都有 W 与 b 的梯度
        assert rf"\partial\ell/\partial W^{{[{l}]}}" in texts
        assert rf"\partial\ell/\partial b^{{[{l}]}}" in texts
    assert r"\mathcal{L}" not in texts  # 图中是单样本的 ℓ
    assert r"\odot g'(z^{[1]})" in texts and r"(\cdot)" not in texts
    plt.close(fig)

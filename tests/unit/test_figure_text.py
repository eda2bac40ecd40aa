"""全书每一幅图的文字，按网页的默认宽度显示时都不小于正文。

规则（issue 17 第 8 项）：

* 网页正文栏约 800 CSS 像素宽（1280 px 视口，主题 60em 栏宽减去两侧
  边栏），正文字号 16 px（主题的 1rem）。Matplotlib 图以 100 dpi 存成
  PNG（``bbox_inches="tight"``，四周留 0.1 英寸），按原始像素显示，
  比栏宽时等比缩小。所以一段文字显示出来的字号是

      字号（磅） × min(1, 8 英寸 / 显示宽度（英寸）)，

  要求不小于 12 磅（100 dpi 下 16.7 px，不小于正文的 16 px）。
* 逐步动画在网页里是内联 SVG：宽度占满栏宽，但不超过 HTML 里写明的
  ``max-width``（见 ``Animation.max_width``）。显示字号
  = SVG 字号（px） × min(max-width, 800) / 画面宽度，要求不小于 16 px。
* 规则针对网页。PDF（A4，版心约 6.3 英寸，正文 11 磅）把 8 英寸宽的图
  缩到约 0.78 倍，图中 12 磅的字印出来约 9.4 磅；动画在 PDF 中的分步图
  （``_repr_png_``）更小，不在本测试之内。

检查的是真正画出来的文字：在 Agg 渲染器上记下每一次 ``draw_text`` 的
字号，因此隐藏的刻度、空标题不计，图例、色条、旋转的标签都计入。

``FIGURES`` 为 :mod:`dlbook.plotting` 各子模块里每一个画图函数给出一组
小输入（参数取自书页上的调用）；``NOT_FIGURES`` 列出不画图的公开名字
及理由。新增的公开函数两边都不在时，
``test_every_public_plotting_name_is_covered`` 失败。
"""

import importlib
import inspect
import pkgutil
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402

import dlbook.plotting  # noqa: E402
from dlbook.plotting import animation  # noqa: E402
from helpers import worked_example_values  # noqa: E402

#: 正文栏宽（英寸，100 dpi 下 800 px）与正文字号（磅）。
PAGE_WIDTH_IN, BODY_PT = 8.0, 12.0
#: 网页里 SVG 动画：正文栏宽与正文字号（CSS 像素）。
PAGE_WIDTH_PX, BODY_PX = 800.0, 16.0
#: inline 后端 ``bbox_inches="tight"`` 时四周留的空白（英寸）。
PAD_IN = 0.1


# --------------------------------------------------------------------- 输入


def _digits(n=20):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(n, 28, 28)).astype(np.uint8)


def _on_axes(draw, width=PAGE_WIDTH_IN, height=3.0):
    """画在一个新坐标系上的函数：放进一张正文宽度的图里检查。"""
    fig, ax = plt.subplots(figsize=(width, height))
    draw(ax)
    return fig


def _history(n=5):
    loss = list(np.linspace(2.0, 0.5, n))
    return {
        "loss": loss,
        "val_loss": [v + 0.1 for v in loss],
        "accuracy": list(np.linspace(0.3, 0.9, n)),
        "val_accuracy": list(np.linspace(0.35, 0.92, n)),
    }


def _figures():
    """{限定名: 返回一张或几张图的函数}。参数尽量与书页上的调用相同。"""
    from dlbook.plotting import applications as A
    from dlbook.plotting import backprop as B
    from dlbook.plotting import convnets as C
    from dlbook.plotting import prereq as R
    from dlbook.plotting import saving as S

    P = dlbook.plotting
    X3 = np.arange(9.0).reshape(3, 3)
    K2 = np.array([[0.0, 1.0], [2.0, 3.0]])
    z = np.linspace(-3, 3, 7)
    cal = {
        "count": np.array([0, 3, 5]),
        "confidence": np.array([0.0, 0.5, 0.9]),
        "accuracy": np.array([0.0, 0.4, 1.0]),
        "ece": 0.0875,
    }
    rng = np.random.default_rng(1)
    y20 = np.arange(20) % 10
    return {
        # ------------------------------------------------ 共用积木
        "dlbook.plotting.image_grid": lambda: P.image_grid(
            [np.zeros((4, 4))] * 10, [f"第{i}张" for i in range(10)]
        ),
        "dlbook.plotting.plot_series": lambda: _on_axes(
            lambda ax: P.plot_series(
                ax, {"训练集": [3, 2, 1]}, xlabel="轮次", ylabel="损失"
            )
        ),
        "dlbook.plotting.show_digits": lambda: [
            P.show_digits(_digits(), y20, n=10, title="MNIST 训练集样本"),
            P.show_digits(_digits(), y20, n=10, pred=y20[::-1]),
        ],
        # ------------------------------------------------ 保存
        "dlbook.plotting.saving.plot_update_norms": lambda: (
            S.plot_update_norms(
                {
                    "完整恢复（含 Adam 状态）": np.linspace(1, 0.1, 20),
                    "只恢复权重": np.linspace(2, 0.2, 20),
                }
            )
        ),
        # ------------------------------------------------ 预备知识
        "dlbook.plotting.prereq.plot_softmax": lambda: R.plot_softmax(
            np.arange(10.0) - 5,
            np.full(10, 0.1),
            label=3,
            title="标签为 3 的验证图片",
        ),
        "dlbook.plotting.prereq.plot_val_losses": lambda: R.plot_val_losses(
            {"SGD": _history(), "Adam": _history(), "大学习率": _history()}
        ),
        "dlbook.plotting.prereq.plot_overfitting": lambda: R.plot_overfitting(
            {"不丢弃": _history(), "丢弃率 0.5": _history()}
        ),
        # ------------------------------------------------ BP
        "dlbook.plotting.backprop.plot_computational_graph": (
            B.plot_computational_graph
        ),
        "dlbook.plotting.backprop.plot_mlp_diagram": lambda: (
            B.plot_mlp_diagram(*worked_example_values())
        ),
        "dlbook.plotting.backprop.plot_learning_curves": lambda: (
            B.plot_learning_curves(
                {
                    name: {
                        "train_loss": [2.3, 0.5, 0.3],
                        "test_loss": [2.3, 0.6, 0.4],
                        "test_acc": [0.1, 0.9, 0.93],
                    }
                    for name in ("NumPy", "Keras")
                }
            )
        ),
        "dlbook.plotting.backprop.plot_grad_norms": lambda: [
            B.plot_grad_norms(
                {"sigmoid": np.logspace(-6, 0, 10), "ReLU": np.ones(10)},
                {"sigmoid": np.ones(10), "ReLU": np.ones(10)},
            ),
            B.plot_grad_norms(
                {"Glorot": np.ones(10), "He": np.ones(10)},
                title="ReLU 网络：三种初始化下的 ‖δ‖",
            ),
        ],
        # ------------------------------------------------ 卷积
        "dlbook.plotting.convnets.draw_conv": lambda: _on_axes(
            lambda ax: C.draw_conv(
                ax, 3, 2, values=X3, kernel=K2, out_values=X3[:2, :2]
            )
        ),
        "dlbook.plotting.convnets.draw_conv_transpose": lambda: _on_axes(
            lambda ax: C.draw_conv_transpose(ax, 2, 3, stride=2, title="转置")
        ),
        "dlbook.plotting.convnets.conv_arithmetic_figure": lambda: (
            C.conv_arithmetic_figure(
                [
                    dict(n=5, f=3, title="valid"),
                    dict(n=5, f=3, padding="same"),
                    dict(n=5, f=3, padding="full"),
                    dict(n=5, f=3, stride=2, padding=1),
                ],
                ncols=2,
                width=4.0,
                height=3.4,
            )
        ),
        "dlbook.plotting.convnets.tiled_assignment_figure": lambda: (
            C.tiled_assignment_figure(out_size=6, tiles=(1, 2, 3))
        ),
        "dlbook.plotting.convnets.plot_curves": lambda: C.plot_curves(
            z,
            [
                ("函数", {"ReLU": z, "tanh": (z, np.tanh(z))}),
                ("导数", {"1": z}),
            ],
            "g",
        ),
        "dlbook.plotting.convnets.plot_maps": lambda: C.plot_maps(
            [[X3] * 5, [X3] * 5],
            col_titles=list("abcde"),
            row_titles=["最大池化", "平均池化"],
            annotate=True,
        ),
        "dlbook.plotting.convnets.plot_receptive_field": lambda: (
            C.plot_receptive_field(
                np.arange(1, 6), {"d = 1": [3, 5, 7, 9, 11]}
            )
        ),
        "dlbook.plotting.convnets.plot_kernel_learning": lambda: (
            C.plot_kernel_learning(
                {"学习率 0.1": [1.0, 0.1]}, np.zeros((2, 3, 3)), np.eye(3)
            )
        ),
        "dlbook.plotting.convnets.plot_causal_stack": lambda: (
            C.plot_causal_stack([("因果", np.ones((3, 8), bool))] * 2)
        ),
        "dlbook.plotting.convnets.im2col_figure": lambda: C.im2col_figure(
            X3, K2
        )[0],
        # ------------------------------------------------ 应用
        "dlbook.plotting.applications.plot_history": lambda: A.plot_history(
            _history()
        ),
        "dlbook.plotting.applications.plot_confusion_matrix": lambda: (
            A.plot_confusion_matrix(
                rng.integers(0, 1200, size=(10, 10)),
                [str(i) for i in range(10)],
            )
        ),
        "dlbook.plotting.applications.show_misclassified": lambda: (
            A.show_misclassified(_digits(), y20, (y20 + 1) % 10, n=10)
        ),
        "dlbook.plotting.applications.plot_filters": lambda: A.plot_filters(
            rng.normal(size=(5, 5, 1, 8))
        ),
        "dlbook.plotting.applications.plot_feature_maps": lambda: (
            A.plot_feature_maps(_digits(1)[0], rng.random((12, 12, 8)))
        ),
        "dlbook.plotting.applications.show_images": lambda: [
            A.show_images(
                _digits(8), ["原图"] + [f"增强 {i}" for i in range(7)]
            ),
            A.show_images(
                _digits(6),
                [f"{i % 10} → {(i + 1) % 10}" for i in range(6)],
                ncols=6,
            ),
            A.show_images(
                _digits(2), ["Image.open", "read_gray（按 EXIF 转正）"]
            ),
            A.show_images(
                _digits(2),
                ["直接缩放", "按 MNIST 预处理"],
                cmap="gray",
                size=1.8,
            ),
        ],
        "dlbook.plotting.applications.show_label_issues": lambda: (
            A.show_label_issues(
                _digits(8), y20[:8], np.full((8, 10), 0.1), np.arange(8)
            )
        ),
        "dlbook.plotting.applications.plot_schedule": lambda: A.plot_schedule(
            lambda s: 1e-3 * s / 300, 300, 30
        ),
        "dlbook.plotting.applications.plot_reliability": lambda: (
            A.plot_reliability(cal, "普通预测")
        ),
        "dlbook.plotting.applications.plot_dropout_masks": lambda: (
            A.plot_dropout_masks(
                [np.ones((6, 6, 8)), np.zeros((6, 6, 8))],
                ["Dropout", "SpatialDropout2D"],
            )
        ),
    }


def _animations():
    """{限定名: 返回动画的函数}。参数取自书页。"""
    A = animation
    rng = np.random.default_rng(0)
    X5 = rng.integers(0, 4, size=(5, 5)).astype(float)
    K3 = rng.integers(-1, 2, size=(3, 3)).astype(float)
    X4 = rng.integers(0, 9, size=(4, 4)).astype(float)
    return {
        "dlbook.plotting.animation.conv_animation": lambda: A.conv_animation(
            X5, K3, padding="same"
        ),
        "dlbook.plotting.animation.multichannel_conv_animation": lambda: (
            A.multichannel_conv_animation(
                rng.integers(0, 3, size=(5, 5, 3)),
                rng.integers(-1, 2, size=(3, 3, 3, 2)),
                np.array([1.0, -1.0]),
                stride=2,
                padding=1,
            )
        ),
        "dlbook.plotting.animation.conv_transpose_animation": lambda: (
            A.conv_transpose_animation(X4[:2, :2], K3, stride=2)
        ),
        "dlbook.plotting.animation.pool_animation": lambda: A.pool_animation(
            X4, pool_size=2
        ),
        "dlbook.plotting.animation.backprop_animation": (
            A.backprop_animation
        ),
        "dlbook.plotting.animation.group": lambda: A.group(
            A.conv_animation(X4, K3[:2, :2]), A.pool_animation(X4)
        ),
    }


#: 公开但不画图的名字，以及理由。
NOT_FIGURES = {
    "dlbook.plotting.cjk_font_path": "返回字体文件路径",
    "dlbook.plotting.use_chinese_font": "设置字体",
    "dlbook.plotting.rc": "临时改 rcParams 的上下文管理器",
    "dlbook.plotting.finish": "给已有的图收尾（每幅图都经过它）",
    "dlbook.plotting.convnets.padding_name": "返回填充方式的中文名",
    "dlbook.plotting.animation.Scene": "图元容器（由各动画函数检查）",
    "dlbook.plotting.animation.Animation": "动画对象（由各动画函数检查）",
    "dlbook.plotting.animation.AnimationGroup": "见 group",
    "dlbook.plotting.animation.backprop_frames": "只返回帧数据",
}


def _public_names():
    """dlbook.plotting 及其每个子模块里定义的公开函数与类。"""
    mods = [dlbook.plotting] + [
        importlib.import_module(f"dlbook.plotting.{m.name}")
        for m in pkgutil.iter_modules(dlbook.plotting.__path__)
        if not m.name.startswith("_")
    ]
    names = set()
    for mod in mods:
        for name, obj in vars(mod).items():
            if name.startswith("_") or not (
                inspect.isfunction(obj) or inspect.isclass(obj)
            ):
                continue
            if getattr(obj, "__module__", None) == mod.__name__:
                names.add(f"{mod.__name__}.{name}")
    return names


# --------------------------------------------------------------------- 测量


def drawn_text_sizes(fig):
    """把 fig 画一遍，返回 [(文字, 字号磅数)]：真正画出的每段文字。"""
    seen = []
    original = RendererAgg.draw_text

    def record(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if str(s).strip():
            seen.append((str(s), prop.get_size_in_points()))
        return original(self, gc, x, y, s, prop, angle, ismath, mtext)

    RendererAgg.draw_text = record
    # 字号以磅计、图宽以英寸计，都与 dpi 无关；低 dpi 画得快得多
    fig.set_dpi(30)
    try:
        fig.canvas.draw()
    finally:
        RendererAgg.draw_text = original
    return seen


def displayed_width_in(fig):
    """网页上这张 PNG 的宽度（英寸）：紧凑边界框加上四周的空白。

    先用 :func:`drawn_text_sizes` 画过一遍，这里不再重画。
    """
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())
    return bbox.width + 2 * PAD_IN


def too_small(fig, page_width=PAGE_WIDTH_IN, body=BODY_PT):
    """按正文宽度显示时比正文小的文字：[(文字, 显示字号)]。"""
    sizes = drawn_text_sizes(fig)
    scale = min(1.0, page_width / displayed_width_in(fig))
    return [
        (s, round(pt * scale, 2))
        for s, pt in sizes
        if pt * scale < body - 1e-6
    ]


def svg_too_small(anim):
    """网页中 SVG 动画比正文小的文字：[(样式, 显示字号 px)]。

    显示宽度取 HTML 里写的 ``max-width`` 与正文栏宽中较小的一个。
    """
    maxw = float(re.search(r"max-width:([\d.]+)px", anim.to_html()).group(1))
    scale = min(maxw, PAGE_WIDTH_PX) / anim.scene.width
    return sorted(
        (cls, round(size * scale, 1))
        for cls, size in anim.text_sizes().items()
        if size * scale < BODY_PX - 1e-6
    )


def _as_list(result):
    return result if isinstance(result, list) else [result]


# --------------------------------------------------------------------- 测试


def test_every_public_plotting_name_is_covered():
    """新增的公开画图函数必须加进 FIGURES（或写明理由放进 NOT_FIGURES）。"""
    covered = set(_figures()) | set(_animations()) | set(NOT_FIGURES)
    missing = _public_names() - covered
    assert not missing, f"这些画图函数没有字号检查：{sorted(missing)}"
    stale = covered - _public_names()
    assert not stale, f"这些名字已不存在，请从测试里删去：{sorted(stale)}"


@pytest.mark.parametrize("name", sorted(_figures()))
def test_figure_text_is_at_least_body_size(name):
    for fig in _as_list(_figures()[name]()):
        try:
            bad = too_small(fig)
            width = displayed_width_in(fig)
            assert not bad, (
                f"{name}：图宽 {width:.2f} 英寸，按 {PAGE_WIDTH_IN:g} 英寸"
                f"显示时这些文字小于 {BODY_PT:g} 磅：{bad[:6]}"
            )
        finally:
            plt.close(fig)


@pytest.mark.parametrize("name", sorted(_animations()))
def test_animation_svg_text_is_at_least_body_size(name):
    obj = _animations()[name]()
    anims = obj.anims if isinstance(obj, animation.AnimationGroup) else [obj]
    for anim in anims:
        bad = svg_too_small(anim)
        assert not bad, (
            f"{name}：画面宽 {anim.scene.width:g} px，网页中这些文字小于"
            f" {BODY_PX:g} px：{bad}"
        )


def test_measurement_catches_small_text_and_wide_figures():
    """对照：测量本身能发现问题，否则上面的测试什么也证明不了。"""
    dlbook.plotting.use_chinese_font()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.set_title("正文字号", fontsize=12)
    ax.tick_params(labelsize=12)
    ax.xaxis.label.set_size(12)
    ax.yaxis.label.set_size(12)
    assert too_small(fig) == []
    ax.text(0.5, 0.5, "小字", fontsize=9)
    assert [s for s, _ in too_small(fig)] == ["小字"]
    plt.close(fig)
    # 同样 12 磅的字，图宽 16 英寸时显示为一半大小
    fig, ax = plt.subplots(figsize=(16, 3))
    ax.set_title("正文字号", fontsize=12)
    ax.tick_params(labelsize=12)
    bad = dict(too_small(fig))
    assert displayed_width_in(fig) > 12
    assert bad["正文字号"] == pytest.approx(
        12 * 8 / displayed_width_in(fig), abs=0.01
    )
    plt.close(fig)
    # 关掉的坐标轴不画刻度，不应计入
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.tick_params(labelsize=5)
    ax.axis("off")
    assert drawn_text_sizes(fig) == []
    plt.close(fig)


def test_svg_measurement_catches_a_scene_wider_than_the_page():
    """对照：画面比正文栏宽得多时，SVG 被缩小，检查能发现字太小。"""
    A = animation
    for width, small in ((400, False), (2000, True)):
        sc = A.Scene(width, 60)
        sc.text(10, 30, "7", "tin")
        anim = A.Animation("t", sc, [{}], ["一步"], ["一步"], "替代文字")
        assert bool(svg_too_small(anim)) == small

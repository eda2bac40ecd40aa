"""多层网络与 BP 算法一部分的插图：计算图、学习曲线、逐层梯度范数。"""

import numpy as np

from dlbook.plotting import use_chinese_font

#: 前向与反向箭头的颜色。
FORWARD_COLOR = "#333333"
BACKWARD_COLOR = "#c0392b"


def _box(ax, xy, text, color="#eaf2fb", edge="#2e6da4", size=13):
    """在 xy 处画一个圆角方框节点。"""
    ax.text(
        *xy,
        text,
        ha="center",
        va="center",
        fontsize=size,
        zorder=3,
        bbox={"boxstyle": "round,pad=0.45", "fc": color, "ec": edge},
    )


def _arrow(
    ax,
    start,
    end,
    color,
    style="-",
    rad=0.0,
    label=None,
    label_xy=None,
    size=11,
):
    """从 start 到 end 画箭头，可在 label_xy 处附文字。"""
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=2,
        arrowprops={
            "arrowstyle": "-|>",
            "color": color,
            "lw": 1.5,
            "linestyle": style,
            "shrinkA": 16,
            "shrinkB": 16,
            "connectionstyle": f"arc3,rad={rad}",
        },
    )
    if label:
        ax.text(
            *label_xy,
            label,
            color=color,
            ha="center",
            va="center",
            fontsize=size,
            zorder=4,
        )


def plot_computational_graph():
    """画两层网络的计算图：黑色实线为前向传播，红色虚线为反向传播。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set_xlim(-0.8, 11.0)
    ax.set_ylim(-2.6, 2.4)
    ax.axis("off")

    main = {
        "x": (0, 0),
        "z1": (2.2, 0),
        "a1": (4.4, 0),
        "z2": (6.6, 0),
        "yh": (8.6, 0),
        "L": (10.4, 0),
    }
    _box(ax, main["x"], r"$x = a^{[0]}$")
    _box(ax, main["z1"], r"$z^{[1]}$")
    _box(ax, main["a1"], r"$a^{[1]}$")
    _box(ax, main["z2"], r"$z^{[2]}$")
    _box(ax, main["yh"], r"$\hat{y}$")
    _box(ax, main["L"], r"$\mathcal{L}$", color="#fdebd0", edge="#b9770e")
    p1, p2, y = (2.2, 1.8), (6.6, 1.8), (10.4, 1.8)
    _box(ax, p1, r"$W^{[1]},\ b^{[1]}$", color="#eafaf1", edge="#1e8449")
    _box(ax, p2, r"$W^{[2]},\ b^{[2]}$", color="#eafaf1", edge="#1e8449")
    _box(ax, y, r"$y$", color="#f4f6f6", edge="#7f8c8d")

    # 前向传播：每一步都是一个简单运算，箭头上写出这一步做什么
    fwd = FORWARD_COLOR
    _arrow(
        ax,
        main["x"],
        main["z1"],
        fwd,
        label=r"$W a + b$",
        label_xy=(1.1, 0.32),
    )
    _arrow(ax, p1, main["z1"], fwd)
    _arrow(
        ax,
        main["z1"],
        main["a1"],
        fwd,
        label=r"$g^{[1]}$",
        label_xy=(3.3, 0.32),
    )
    _arrow(
        ax,
        main["a1"],
        main["z2"],
        fwd,
        label=r"$W a + b$",
        label_xy=(5.5, 0.32),
    )
    _arrow(ax, p2, main["z2"], fwd)
    _arrow(
        ax, main["z2"], main["yh"], fwd, label="softmax", label_xy=(7.6, 0.32)
    )
    _arrow(
        ax, main["yh"], main["L"], fwd, label="交叉熵", label_xy=(9.5, 0.32)
    )
    _arrow(ax, y, main["L"], fwd)

    # 反向传播：沿同一条路径反向，逐段乘上局部导数
    bwd = BACKWARD_COLOR
    _arrow(
        ax,
        main["L"],
        main["z2"],
        bwd,
        "--",
        rad=-0.35,
        label=r"$\delta^{[2]} = \hat{y} - y$",
        label_xy=(8.5, -1.3),
    )
    _arrow(
        ax,
        main["z2"],
        main["a1"],
        bwd,
        "--",
        rad=-0.45,
        label=r"$W^{[2]\top}\delta^{[2]}$",
        label_xy=(5.5, -1.1),
    )
    _arrow(
        ax,
        main["a1"],
        main["z1"],
        bwd,
        "--",
        rad=-0.45,
        label=r"$\delta^{[1]} = (\cdot) \odot g'(z^{[1]})$",
        label_xy=(3.3, -1.1),
    )
    _arrow(
        ax,
        main["z2"],
        p2,
        bwd,
        "--",
        rad=0.45,
        label=r"$\partial\mathcal{L}/\partial W^{[2]}"
        r" = \delta^{[2]} a^{[1]\top}$",
        label_xy=(8.35, 1.0),
        size=10,
    )
    _arrow(
        ax,
        main["z1"],
        p1,
        bwd,
        "--",
        rad=0.45,
        label=r"$\partial\mathcal{L}/\partial W^{[1]}"
        r" = \delta^{[1]} a^{[0]\top}$",
        label_xy=(3.95, 1.0),
        size=10,
    )

    ax.plot([], [], color=fwd, lw=1.5, label="前向传播：计算各层的值")
    ax.plot(
        [],
        [],
        color=bwd,
        lw=1.5,
        ls="--",
        label="反向传播：计算损失对各量的梯度",
    )
    ax.legend(
        loc="lower left",
        frameon=False,
        fontsize=11,
        bbox_to_anchor=(0.0, -0.02),
    )
    fig.tight_layout()
    return fig


def plot_learning_curves(histories):
    """把几次训练的学习曲线画在同一张图中：左为损失，右为测试准确率。

    Args:
        histories: 字典 {名称: 历史}，历史的格式见
            :func:`dlbook.mlp.fit_numpy`。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    # 颜色区分训练集与测试集，线型与标记区分不同的实现
    styles = [
        {"marker": "o", "ls": "-", "ms": 7, "mfc": "none"},
        {"marker": "x", "ls": "--", "ms": 7},
        {"marker": "s", "ls": ":", "ms": 5, "mfc": "none"},
    ]
    for (name, h), st in zip(
        histories.items(), styles[: len(histories)], strict=True
    ):
        epochs = np.arange(len(h["train_loss"]))
        ax1.plot(
            epochs,
            h["train_loss"],
            color="C0",
            label=f"{name}（训练集）",
            **st,
        )
        ax1.plot(
            epochs,
            h["test_loss"],
            color="C1",
            label=f"{name}（测试集）",
            **st,
        )
        ax2.plot(
            epochs,
            np.array(h["test_acc"]) * 100,
            color="C2",
            label=name,
            **st,
        )
    ax1.set(
        xlabel="轮数（epoch）",
        ylabel="交叉熵损失",
        yscale="log",
        title="损失",
    )
    ax2.set(
        xlabel="轮数（epoch）", ylabel="测试准确率（%）", title="测试准确率"
    )
    ax2.set_ylim(bottom=max(0, ax2.get_ylim()[0]))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_grad_norms(delta_norms, weight_norms=None, title=None):
    """画各层误差 ||δ^[l]|| 随层号的变化（对数纵轴）。

    Args:
        delta_norms: 字典 {名称: 形状 (L,) 的数组}，各层批量平均的
            ||δ^[l]||，见 :func:`dlbook.mlp.layer_delta_norms`。
        weight_norms: 可选，同样格式的各层 ||∂L/∂W^[l]||；给出时画在
            下方的第二幅子图中，便于对照两种量。
        title: 上方子图的标题；默认为“各层误差 δ 的大小”。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    panels = [(delta_norms, r"$\|\delta^{[l]}\|$（批量平均）")]
    if weight_norms is not None:
        panels.append(
            (weight_norms, r"$\|\partial \mathcal{L} / \partial W^{[l]}\|$")
        )
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(7.5, 3.6 * len(panels)), squeeze=False
    )
    titles = [title or "各层误差 δ 的大小", "各层权重梯度的大小（对照）"]
    for ax, (norms, ylabel), ttl in zip(
        axes[:, 0], panels, titles, strict=False
    ):
        for (name, values), marker in zip(
            norms.items(), "osd^v"[: len(norms)], strict=True
        ):
            layers = np.arange(1, len(values) + 1)
            ax.semilogy(layers, values, marker=marker, label=name)
        ax.set_xlabel("层号 $l$（1 靠近输入）", fontsize=13)
        ax.set_ylabel(ylabel, fontsize=13)
        ax.set_title(ttl, fontsize=14)
        ax.set_xticks(layers)
        ax.tick_params(labelsize=12)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=12)
    fig.tight_layout()
    return fig

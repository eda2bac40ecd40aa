"""多层网络与 BP 算法一部分的插图：计算图、学习曲线、逐层梯度范数。"""

import numpy as np

from dlbook.plotting import finish, plot_series, use_chinese_font

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

    图宽 8 英寸，文字不小于 12 磅，在正文宽度下与正文字号相当。
    梯度都是单个样本的损失 ℓ 对各量的梯度，与推导一致。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.set_xlim(-0.7, 10.9)
    ax.set_ylim(-2.3, 3.1)
    ax.axis("off")
    xs = {"x": 0, "z1": 2.1, "a1": 4.2, "z2": 6.3, "yh": 8.2, "l": 10.1}
    main = {k: (v, 0) for k, v in xs.items()}
    names = {
        "x": r"$x$",
        "z1": r"$z^{[1]}$",
        "a1": r"$a^{[1]}$",
        "z2": r"$z^{[2]}$",
        "yh": r"$\hat{y}$",
    }
    for k, text in names.items():
        _box(ax, main[k], text, size=16)
    _box(ax, main["l"], r"$\ell$", color="#fdebd0", edge="#b9770e", size=16)
    p1, p2, y = (2.1, 2.5), (6.3, 2.5), (10.1, 2.5)
    green = {"color": "#eafaf1", "edge": "#1e8449", "size": 15}
    _box(ax, p1, r"$W^{[1]}, b^{[1]}$", **green)
    _box(ax, p2, r"$W^{[2]}, b^{[2]}$", **green)
    _box(ax, y, r"$y$", color="#f4f6f6", edge="#7f8c8d", size=15)

    # 前向传播：每条黑色箭头是一步简单运算，运算名写在箭头上方
    fwd = FORWARD_COLOR
    steps = [
        ("x", "z1", r"$Wa+b$"),
        ("z1", "a1", r"$g$"),
        ("a1", "z2", r"$Wa+b$"),
        ("z2", "yh", "softmax"),
        ("yh", "l", "交叉熵"),
    ]
    for a, b, text in steps:
        mid = ((xs[a] + xs[b]) / 2, 0.42)
        _arrow(ax, main[a], main[b], fwd, label=text, label_xy=mid, size=14)
    for src, dst in ((p1, main["z1"]), (p2, main["z2"]), (y, main["l"])):
        _arrow(ax, src, dst, fwd)

    # 反向传播：沿同一条路径反向，每条边上写出传回的梯度
    bwd = BACKWARD_COLOR
    back = [
        ("l", "z2", r"$\delta^{[2]} = \hat{y} - y$", (8.2, -1.2)),
        ("z2", "a1", r"$W^{[2]\top}\delta^{[2]}$", (5.25, -0.82)),
        ("a1", "z1", r"$\delta^{[1]}$", (3.15, -0.82)),
    ]
    for a, b, text, xy in back:
        _arrow(
            ax,
            main[a],
            main[b],
            bwd,
            "--",
            rad=-0.45,
            label=text,
            label_xy=xy,
            size=14,
        )
    ax.text(
        3.15,
        -1.45,
        r"$\delta^{[1]} = (W^{[2]\top}\delta^{[2]}) \odot g'(z^{[1]})$",
        color=bwd,
        ha="center",
        fontsize=13,
    )
    # 参数的梯度：从 z^[l] 分出，回到参数
    for z, p, li, prev in (("z2", p2, 2, "1"), ("z1", p1, 1, "0")):
        _arrow(ax, main[z], p, bwd, "--", rad=0.5)
        ax.text(
            p[0] + 1.05,
            1.25,
            rf"$\partial\ell/\partial W^{{[{li}]}} = "
            rf"\delta^{{[{li}]}} a^{{[{prev}]\top}}$"
            "\n"
            rf"$\partial\ell/\partial b^{{[{li}]}} = \delta^{{[{li}]}}$",
            color=bwd,
            ha="left",
            va="center",
            fontsize=13,
        )
    ax.plot([], [], color=fwd, lw=1.5, label="前向传播：计算各层的值")
    ax.plot(
        [],
        [],
        color=bwd,
        lw=1.5,
        ls="--",
        label="反向传播：损失 ℓ 对各量的梯度",
    )
    ax.legend(
        loc="lower center",
        frameon=False,
        fontsize=13,
        ncol=2,
        bbox_to_anchor=(0.5, -0.04),
    )
    return finish(fig)


def _neuron(ax, xy, text, color):
    """画一个圆形神经元，圆内写上数值。"""
    from matplotlib.patches import Circle

    ax.add_patch(Circle(xy, 0.5, fc=color, ec="#2e4053", lw=1.4, zorder=3))
    ax.text(*xy, text, ha="center", va="center", fontsize=12, zorder=4)


def plot_mlp_diagram(params, x, a_hidden, y_hat, delta=None):
    """画 2-3-2 这类小网络的“神经元与连线”图，标出手算例子的数值。

    每条连线 j → k 上写着权重 W_kj，每个神经元旁写着偏置；
    圆内是前向的值（输入 x_j、隐藏层 a_k、输出 ŷ_k）；给出 ``delta``
    时，在神经元上方用红字写出反向传播的 δ。

    Args:
        params: 两层参数 [{"W", "b"}, {"W", "b"}]，见 :mod:`dlbook.mlp`。
        x: 输入，形状 (n_0,)。
        a_hidden: 隐藏层输出 a^[1]，形状 (n_1,)。
        y_hat: softmax 输出，形状 (n_2,)。
        delta: 可选，(δ^[1], δ^[2])。

    Returns:
        Matplotlib 的 Figure。
    """
    import matplotlib.pyplot as plt

    use_chinese_font()
    values = [np.ravel(x), np.ravel(a_hidden), np.ravel(y_hat)]
    sizes = [len(v) for v in values]
    if len(params) != 2 or [p["W"].shape for p in params] != [
        (sizes[1], sizes[0]),
        (sizes[2], sizes[1]),
    ]:
        raise ValueError(
            "plot_mlp_diagram 只画两层网络：W^[1] 形状应为 "
            f"{(sizes[1], sizes[0])}、W^[2] 应为 {(sizes[2], sizes[1])}，"
            f"收到 {[p['W'].shape for p in params]}。"
        )
    fig, ax = plt.subplots(figsize=(8, 5.2))
    col_x = [0.0, 4.0, 8.0]
    pos = [
        [(cx, (n - 1) / 2 * 1.9 - i * 1.9) for i in range(n)]
        for cx, n in zip(col_x, sizes, strict=True)
    ]
    # 连线与权重：标签沿连线方向书写；通往相邻两个神经元的连线，标签
    # 放在不同的位置 t，免得挤在同一列
    for li, p in enumerate(params):
        for k, dst in enumerate(pos[li + 1]):
            t = 0.5 + 0.22 * (k % 2)
            for j, src in enumerate(pos[li]):
                dx, dy = dst[0] - src[0], dst[1] - src[1]
                ax.plot(
                    [src[0], dst[0]],
                    [src[1], dst[1]],
                    color="#7f8c8d",
                    lw=1.1,
                    zorder=1,
                )
                ax.text(
                    src[0] + t * dx,
                    src[1] + t * dy,
                    f"{p['W'][k, j]:g}",
                    fontsize=12,
                    ha="center",
                    va="center",
                    rotation=np.degrees(np.arctan2(dy, dx)),
                    rotation_mode="anchor",
                    zorder=2,
                    bbox={"fc": "white", "ec": "none", "pad": 0.3},
                )
    prefixes = [r"x", r"a", r"\hat{y}"]
    colors = ["#eaf2fb", "#eafaf1", "#fdebd0"]
    for li, (layer, v) in enumerate(zip(pos, values, strict=True)):
        for i, xy in enumerate(layer):
            label = rf"${prefixes[li]}_{i + 1}$" + f"\n{v[i]:.3g}"
            _neuron(ax, xy, label, colors[li])
            if li > 0:
                ax.text(
                    xy[0],
                    xy[1] - 0.55,
                    f"b = {params[li - 1]['b'][i]:g}",
                    fontsize=12,
                    ha="center",
                    va="top",
                )
            if delta is not None and li > 0:
                ax.text(
                    xy[0],
                    xy[1] + 0.55,
                    rf"$\delta = {delta[li - 1][i]:.4f}$",
                    color=BACKWARD_COLOR,
                    fontsize=12,
                    ha="center",
                    va="bottom",
                )
    titles = [
        "输入层 $a^{[0]}$",
        "隐藏层 $a^{[1]}$（sigmoid）",
        "输出 $\\hat{y}$（softmax）",
    ]
    top = max(xy[1] for layer in pos for xy in layer) + 1.15
    for cx, text in zip(col_x, titles, strict=True):
        ax.text(cx, top, text, ha="center", fontsize=13)
    ax.set_xlim(-1.2, 9.8)
    ax.set_ylim(-top + 0.3, top + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    return finish(fig)


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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.8))
    # 颜色区分训练集与测试集，线型与标记区分不同的实现
    styles = [
        {"marker": "o", "ls": "-", "ms": 7, "mfc": "none"},
        {"marker": "x", "ls": "--", "ms": 7},
        {"marker": "s", "ls": ":", "ms": 5, "mfc": "none"},
    ][: len(histories)]
    losses, loss_styles, accs = {}, [], {}
    for (name, h), st in zip(histories.items(), styles, strict=True):
        epochs = np.arange(len(h["train_loss"]))
        losses[f"{name}（训练集）"] = (epochs, h["train_loss"])
        losses[f"{name}（测试集）"] = (epochs, h["test_loss"])
        loss_styles += [{**st, "color": "C0"}, {**st, "color": "C1"}]
        accs[name] = (epochs, np.array(h["test_acc"]) * 100)
    plot_series(
        ax1,
        losses,
        xlabel="轮次（epoch）",
        ylabel="交叉熵损失",
        title="损失",
        styles=loss_styles,
    )
    ax1.set_yscale("log")
    plot_series(
        ax2,
        accs,
        xlabel="轮次（epoch）",
        ylabel="测试准确率（%）",
        title="测试准确率",
        styles=[{**st, "color": "C2"} for st in styles],
    )
    ax2.set_ylim(bottom=max(0, ax2.get_ylim()[0]))
    return finish(fig)


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
    return finish(fig)

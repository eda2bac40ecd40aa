"""dlbook.plotting 的共用积木：图片网格、折线、收尾。"""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from dlbook import plotting  # noqa: E402


def test_image_grid_places_images_and_titles_in_order():
    images = [np.full((4, 4), i) for i in range(5)]
    fig = plotting.image_grid(images, [f"第{i}张" for i in range(5)], ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == [f"第{i}张" for i in range(5)]
    assert shown[4].images[0].get_array()[0, 0] == 4
    plt.close(fig)


def test_image_grid_uses_fewer_columns_for_few_images():
    fig = plotting.image_grid([np.zeros((2, 2))] * 2, ncols=8)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_image_grid_errors_are_clear():
    with pytest.raises(ValueError, match="至少要有一张"):
        plotting.image_grid([])
    with pytest.raises(ValueError, match="titles 有 1 个，图片有 2 张"):
        plotting.image_grid([np.zeros((2, 2))] * 2, ["a"])


def test_plot_series_numbers_epochs_from_one():
    fig, ax = plt.subplots()
    plotting.plot_series(
        ax,
        {"训练集": [3.0, 2.0, 1.0], "验证集": ([2, 3], [2.5, 1.5])},
        xlabel="轮次",
        ylabel="损失",
        title="学习曲线",
    )
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == [1, 2, 3]
    assert list(lines[1].get_xdata()) == [2, 3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "训练集",
        "验证集",
    ]
    assert ax.get_title() == "学习曲线" and ax.get_xlabel() == "轮次"
    plt.close(fig)


def test_finish_sets_title_only_when_given():
    fig, _ = plt.subplots()
    assert plotting.finish(fig) is fig and fig._suptitle is None
    plotting.finish(fig, "总标题")
    assert fig._suptitle.get_text() == "总标题"
    plt.close(fig)


def test_rc_restores_only_the_keys_it_changed():
    """与 rc_context 不同：块里别处改动的设置（如 inline 后端打开的交互
    模式）不会在退出时被撤销，否则本页以后的图都不再显示。"""
    before = matplotlib.rcParams["font.size"]
    interactive = matplotlib.rcParams["interactive"]
    try:
        with plotting.rc({"font.size": 31}):
            assert matplotlib.rcParams["font.size"] == 31
            matplotlib.rcParams["interactive"] = not interactive
        assert matplotlib.rcParams["font.size"] == before
        assert matplotlib.rcParams["interactive"] == (not interactive)
    finally:
        matplotlib.rcParams["interactive"] = interactive

"""dlbook_build.mystnb_patches：读者看到的效果，以及上游变化时的报错。"""

import pytest
from tinybook import build, code_outputs, executed_notebook, make_book

from dlbook_build import mystnb_patches


def test_coalesce_streams_keeps_lines_whole_and_inputs_untouched():
    from nbformat.v4 import new_output

    outputs = [
        new_output("stream", name="stdout", text="最大差:"),
        new_output("stream", name="stdout", text=" 0.0\n"),
        new_output(
            "execute_result", data={"text/plain": "42"}, execution_count=1
        ),
        new_output("stream", name="stdout", text="下一行\n"),
    ]
    merged = mystnb_patches.coalesce_streams(outputs)
    assert merged[0]["text"] == "最大差: 0.0\n下一行\n"
    assert [o["output_type"] for o in merged] == ["stream", "execute_result"]
    # 传入的对象不被改动（否则写出的 .ipynb 会把同一段话存两遍）。
    assert outputs[0]["text"] == "最大差:" and len(outputs) == 4


def test_upstream_guard_names_what_changed(monkeypatch):
    import myst_nb
    from myst_nb.core import render

    mystnb_patches.check_upstream()  # 当前版本：通过
    monkeypatch.setattr(myst_nb, "__version__", "9.9.9")
    with pytest.raises(mystnb_patches.UpstreamChanged, match="9.9.9"):
        mystnb_patches.check_upstream()
    monkeypatch.undo()
    monkeypatch.setattr(render, "coalesce_streams", lambda o: o)
    with pytest.raises(mystnb_patches.UpstreamChanged, match="coalesce"):
        mystnb_patches.check_upstream()


def _split_print_text(root) -> str:
    nb = executed_notebook(root)
    texts = [o.get("text", "") for o in nb["cells"][-1]["outputs"]]
    # .ipynb 里的文本可以是字符串，也可以是按行分开的字符串列表
    return "".join(t if isinstance(t, str) else "".join(t) for t in texts)


@pytest.mark.slow
@pytest.mark.parametrize("with_extension", [True, False])
def test_split_print_and_cached_pages(tmp_path, with_extension):
    """两个补丁，读者看到的效果（同一本小书的两次构建）：

    1. 分两次发出的一行字：网页上是一行，.ipynb 中只存一遍；
    2. 只改文字的页面从缓存取输出；写出的 .ipynb 仍要带着输出。
    """
    make_book(tmp_path, with_extension)
    html = build(tmp_path)
    stored = _split_print_text(tmp_path)
    # 第二个单元的一行字分两块发出：.ipynb 里原样存两个流输出
    assert code_outputs(tmp_path) == [(1, 1), (2, 2)]
    if with_extension:
        assert "前半后半" in html
        assert stored.count("后半") == 1
    else:
        # 对照组：myst-nb 自带的合并把一行拆成两行，.ipynb 存了两遍。
        assert "前半后半" not in html
        assert stored.count("后半") == 2

    page = tmp_path / "page.md"
    page.write_text(page.read_text("utf-8") + "\n新加的一段文字。\n", "utf-8")
    assert "VALUE=1" in build(tmp_path)  # 页面仍显示输出
    if with_extension:
        assert code_outputs(tmp_path) == [(1, 1), (2, 2)]
    else:
        # 对照组：myst-nb 原样写出没有输出的笔记本。
        assert code_outputs(tmp_path) == [(None, 0), (None, 0)]

"""书页的源文件：读者能在 JupyterLab 中把它们当笔记本打开，且格式统一。"""

import ast
import re

import jupytext
import pytest

from helpers import ROOT, toc_files

PAGES = toc_files()


@pytest.mark.parametrize("page", PAGES)
def test_jupytext_opens_page_as_myst_notebook(page):
    """不指定格式时 jupytext 也按 MyST 读取，代码单元一个不少。"""
    path = ROOT / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    nb = jupytext.read(path)
    assert (
        nb.metadata["jupytext"]["text_representation"]["format_name"]
        == "myst"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == text.count("```{code-cell}"), page
    assert nb.metadata["kernelspec"]["name"] == "python3"


def _code_cells(text):
    """页面中每个代码单元的源代码（去掉单元开头的 YAML 选项块）。"""
    for block in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S):
        if block.startswith("---\n"):
            block = block.split("\n---\n", 1)[1]
        yield "\n".join(
            ln for ln in block.splitlines() if not ln.startswith(":tags:")
        )


def _setup_calls(text):
    """各代码单元调用 ``dlbook.setup(...)`` 的次数（字符串里的不算）。"""
    calls = 0
    for source in _code_cells(text):
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython 魔法命令等
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setup"
                and getattr(node.func.value, "id", None) == "dlbook"
            ):
                calls += 1
    return calls


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_label_and_seeds_once(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    assert re.search(r"^\((chap|sec)-[a-z0-9-]+\)=$", text, re.M), page
    if "```{code-cell}" in text:
        first = text.split("```{code-cell}", 1)[1].split("```", 1)[0]
        assert "import dlbook" in first and "dlbook.setup(" in first, page
        assert _setup_calls(text) == 1, f"{page} 设置了多次种子"


@pytest.mark.parametrize("page", PAGES)
def test_no_hotlinked_images(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    assert not re.search(r"!\[[^\]]*\]\(https?://", text), page
    assert not re.search(r"<img[^>]+src=\"https?://", text), page
    assert not re.search(r"\{(image|figure)\}\s*https?://", text), page


@pytest.mark.parametrize("page", PAGES)
def test_code_lines_fit_the_pdf(page):
    """代码单元与代码块每行不超过 78 个字符，PDF 中不会被截断。"""
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    too_long = []
    for source in _code_cells(text):
        too_long += [ln for ln in source.splitlines() if len(ln) > 78]
    assert not too_long, too_long[:5]


# ---------------------------------------------------------------- 代码清单

LITERALINCLUDE = re.compile(
    r"^(`{3,}|:{3,})\{literalinclude\}\s+(\S+)\s*\n((?::[^\n]*\n)*)", re.M
)
#: 书中一段代码清单的最大行数（一屏）。
MAX_LISTING = 30


def _pyobject(tree, dotted):
    nodes, node = tree.body, None
    for part in dotted.split("."):
        node = next(
            n
            for n in nodes
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            and n.name == part
        )
        nodes = node.body
    return node


def listings(page):
    """页面中每个 literalinclude：(描述, 渲染出的行号列表, 源码行, 节点)。

    行号从 1 数起，指源文件中的行；没有 ``:pyobject:`` 时节点为 None。
    """
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    for m in LITERALINCLUDE.finditer(text):
        path, opts = ROOT / m.group(2).lstrip("/"), m.group(3)
        src = path.read_text(encoding="utf-8")
        all_lines = src.splitlines()
        numbers, node = list(range(1, len(all_lines) + 1)), None
        if po := re.search(r":pyobject:\s*(\S+)", opts):
            node = _pyobject(ast.parse(src), po.group(1))
            first = min(
                [d.lineno for d in node.decorator_list] + [node.lineno]
            )
            numbers = numbers[first - 1 : node.end_lineno]
        if sel := re.search(r":lines:\s*(\S+)", opts):
            keep = []
            for part in sel.group(1).split(","):
                a, _, b = part.partition("-")
                lo = int(a or 1)
                hi = int(b or len(numbers)) if "-" in part else lo
                keep += numbers[lo - 1 : hi]
            numbers = keep
        if after := re.search(r":start-after:\s*(.+)", opts):
            i = next(
                i
                for i, n in enumerate(numbers)
                if after.group(1) in all_lines[n - 1]
            )
            numbers = numbers[i + 1 :]
        if before := re.search(r":end-before:\s*(.+)", opts):
            i = next(
                i
                for i, n in enumerate(numbers)
                if before.group(1) in all_lines[n - 1]
            )
            numbers = numbers[:i]
        what = f"{m.group(2)} {po.group(1) if po else ''}"
        yield what, numbers, all_lines, node


@pytest.mark.parametrize("page", PAGES)
def test_listings_fit_on_a_screen(page):
    """书中的代码清单不超过一屏，只展示算法的核心。"""
    long = [
        (what, len(numbers))
        for what, numbers, _, _ in listings(page)
        if len(numbers) > MAX_LISTING
    ]
    assert not long, f"超过 {MAX_LISTING} 行的清单：{long}"


@pytest.mark.parametrize("page", PAGES)
def test_listings_show_no_guard_rails(page):
    """清单里没有文档字符串，也没有出错提示（带消息的 raise）。

    只看渲染出来的行：用 ``:lines:`` 跳过文档字符串是可以的；
    不带参数的 ``raise``（清理之后把异常原样抛出）是算法的一部分；
    行尾注明 ``# 属于算法`` 的 raise（如跳过坏版本）也是。
    """
    found = []
    for what, numbers, all_lines, node in listings(page):
        if node is None:
            continue
        shown = set(numbers)
        body = node.body
        if ast.get_docstring(node) is not None:
            doc = body[0]
            if shown & set(range(doc.lineno, doc.end_lineno + 1)):
                found.append(f"{what}: 文档字符串")
        for n in ast.walk(node):
            if isinstance(n, ast.Raise) and n.exc is not None:
                line = all_lines[n.lineno - 1]
                if n.lineno in shown and "# 属于算法" not in line:
                    found.append(f"{what}: 第 {n.lineno} 行 raise")
    assert not found, found


def test_listing_counter_counts_rendered_lines(tmp_path, monkeypatch):
    """对照：一段已知长度的 pyobject 清单被数成它渲染出的行数。"""
    import helpers

    (tmp_path / "m.py").write_text(
        "def f():\n    a = 1\n    return a\n\n\ndef g():\n    pass\n"
    )
    (tmp_path / "p.md").write_text(
        "```{literalinclude} /m.py\n:pyobject: f\n```\n"
        "```{literalinclude} /m.py\n:lines: 6-7\n```\n"
    )
    monkeypatch.setattr(helpers, "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert [numbers for _, numbers, _, _ in listings("p")] == [
        [1, 2, 3],
        [6, 7],
    ]


# ---------------------------------------------------------------- 练习

SECTION_PAGES = [
    p for p in PAGES if p.count("/") == 2 and not p.endswith("/index")
]


#: 指令的开头一行：```{exercise}、````{solution} ex-...（sphinx-exercise）。
DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(exercise|solution)\}[ \t]*(\S*)")


def _exercises(text):
    """“## 练习”一节中的练习与答案。

    返回 ``(题目标签列表, 答案列表, 旧格式的痕迹)``；答案是
    ``(所答题目的标签, 是否 :class: dropdown, 行号)``。
    """
    if "\n## 练习" not in text:
        return [], [], []
    body = text.split("\n## 练习", 1)[1].split("\n## ", 1)[0]
    lines = body.split("\n")
    exercises, solutions, outside = [], [], []
    i = 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if not m:
            outside.append(lines[i])
            i += 1
            continue
        fence, kind, arg = m.groups()
        options = {}
        j = i + 1
        while j < len(lines) and lines[j].startswith(":"):
            key, _, value = lines[j][1:].partition(":")
            options[key.strip()] = value.strip()
            j += 1
        classes = options.get("class", "").split()
        if kind == "exercise":
            exercises.append(options.get("label", ""))
        else:
            solutions.append((arg, "dropdown" in classes, i))
        # 跳到与开头同样长的收尾围栏之后（块内的代码块用更短的围栏）
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        i = j + 1
    # 旧格式（指令之外）：编号列表的题目、“练习 N 的答案”折叠块
    old = re.findall(
        r"^\d+\. .*|^.*练习 \d+ 的(?:答案|提示).*", "\n".join(outside), re.M
    )
    return exercises, solutions, old


def _exercise_problems(page, text):
    """一页练习的问题清单（空表示合格）。"""
    exercises, solutions, old = _exercises(text)
    problems = []
    if len(exercises) < 3:
        problems.append(f"{page}：练习只有 {len(exercises)} 道（至少 3 道）")
    if old:
        problems.append(f"{page}：还有旧格式的练习或答案：{old[:2]}")
    if "" in exercises or len(set(exercises)) < len(exercises):
        problems.append(f"{page}：每道练习要有唯一的 :label:")
    for label in exercises:
        mine = [s for s in solutions if s[0] == label]
        if len(mine) != 1:
            problems.append(
                f"{page}：练习 {label} 有 {len(mine)} 个答案（应恰好 1 个）"
            )
        elif not mine[0][1]:
            problems.append(
                f"{page}：练习 {label} 的答案没有 :class: dropdown，"
                "读者会直接看到它"
            )
    for target, _, _ in solutions:
        if target not in exercises:
            problems.append(f"{page}：答案指向本页没有的练习 {target!r}")
    return problems


@pytest.mark.parametrize("page", SECTION_PAGES)
def test_every_section_has_exercises_each_with_a_hidden_answer(page):
    text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    assert _exercise_problems(page, text) == []


def test_exercise_labels_are_unique_across_the_book():
    seen = {}
    for page in PAGES:
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        for label in _exercises(text)[0]:
            where = f"{seen.get(label)} 与 {page}"
            assert label not in seen, f"{label} 同时出现在 {where}"
            seen[label] = page


def test_references_to_exercises_stay_on_their_page():
    """sphinx-exercise 1.2.1 在 PDF 里解析不了跨页的练习引用（排成
    “练习 ??”），所以 ``{ref}`` 只指向本页的练习；别的页的练习请引用
    那一节。"""
    role = re.compile(r"\{(?:ref|numref)\}`(?:[^`<]*<)?(ex-[\w-]+)>?`")
    for page in PAGES:
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        mine = set(_exercises(text)[0])
        for target in role.findall(text):
            assert target in mine, (
                f"{page} 引用了别的页的练习 {target}：PDF 里会是“练习 ??”，"
                "请改为引用那一节"
            )


def test_exercise_check_catches_missing_and_visible_answers():
    def ex(n):
        code = "```python\npass\n```"
        return f"````{{exercise}}\n:label: ex-{n}\n\n{code}\n````\n"

    def sol(n, cls=":class: dropdown\n"):
        return f"```{{solution}} ex-{n}\n{cls}\n答。\n```\n"

    good = "# 页\n\n## 练习\n\n" + ex(1) + sol(1) + ex(2) + sol(2)
    good += ex(3) + sol(3)
    assert _exercise_problems("p", good) == []
    # 少一个答案、多一个答案、答案没折叠、只有两道题、旧格式：都要报出来
    assert _exercise_problems("p", good.replace(sol(2), ""))
    assert _exercise_problems("p", good + sol(3))
    assert _exercise_problems("p", good.replace(sol(3), sol(3, "")))
    assert _exercise_problems("p", good.replace(ex(3) + sol(3), ""))
    old = good + "\n```{admonition} 练习 4 的答案\n:class: dropdown\n```\n"
    assert _exercise_problems("p", old)
    assert _exercise_problems("p", good + "\n4. 旧式的第四题\n")
    # 题目里的编号列表（步骤）不算旧格式
    steps = good.replace("pass\n```\n", "pass\n```\n\n1. 先写\n2. 再测\n", 1)
    assert steps != good and _exercise_problems("p", steps) == []


def test_every_part_has_hidden_solutions():
    parts = {p.split("/")[1] for p in SECTION_PAGES}
    with_solutions = {
        p.split("/")[1]
        for p in SECTION_PAGES
        if _exercises((ROOT / f"{p}.md").read_text("utf-8"))[1]
    }
    assert parts <= with_solutions, parts - with_solutions

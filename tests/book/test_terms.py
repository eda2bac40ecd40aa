"""先讲后用：术语表里的每个术语，都不在讲它的那一页之前使用。

约定（写书时照此办理）：

1. **术语表的每个词条注明讲它的页面。** 词条释义的最后一句是
   ``见{doc}`/book/<部分>/<页面>`。``（网页和 PDF 中显示为“见”加该页标题，
   并链接过去）。一个词条可以有几行词头：第一行是正式名称，其余各行是
   别名（如“批量”与“小批量”），Sphinx 把它们都当作同一词条的链接目标。
2. **什么算“使用”。** 按 ``_toc.yml`` 的顺序逐页读 ``.md`` 源文件
   （不构建书），以下两种都算使用：

   - ``{term}`` 链接，链到任何词条；
   - 正文里出现词条的词头或别名（“按字面检查的词”，见下）。代码单元、
     代码块、``{literalinclude}``、公式（``$...$``、``$$...$$``、``{math}``）、
     指令的选项行（``:name:``、``:alt:`` 等）、行内代码、其他角色的内容
     （``{glue:text}``、``{ref}`` 的链接文字等）、HTML 注释和标签行
     都不算正文。标题、图题、提示框的标题和内容、答案折叠块里的文字算正文。
     较长的词先匹配，匹配到的部分不再参与较短词的匹配（“批量归一化”不算
     一次“批量”）；拉丁字母的词（logits、Adam）按整词、不分大小写匹配。

3. **什么算“太早”。** 使用所在的页面排在讲它的页面之前。同一页之内
   先用后讲不在这里检查。
4. **向前链接的例外。** 如果使用所在的段落（空行分隔；一张表格、一个
   列表算一段）里有一个 ``{doc}``、``{ref}`` 或 ``{numref}`` 链接，指向讲它
   的那一页（或那一页上的标签），这次使用就是“先提一句，后面细讲”，
   允许。前言（``book/intro.md``）的概览、阅读路线和记号表同样遵守这一条。
5. **修法。** 把讲解挪到第一次使用之前（并改词条的“见”），或者在使用的
   段落里加一句释义，并链接到讲它的页面。

按字面检查哪些词：词条的全部词头和别名，减去 ``PLAIN_WORD_EXEMPT`` 里列出的
词。豁免的标准只有一条：这个词另有日常的或更宽的意思，而本书在讲它之前
确实以那种意思用到了它（“步长”在讲优化器和有限差分时就是“每一步走多远”，
早于卷积的步长）。只是“可能有歧义”不够：目前没有这种早用的词（“权重”
“填充”“基线”……）照常检查。豁免的词仍然按 ``{term}`` 链接检查；豁免表里
每个词都写明理由，新增豁免也要写理由。
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, toc_files

GLOSSARY = "book/glossary"

#: 不按字面检查的词头及理由（它们的 {term} 链接仍然检查）。
PLAIN_WORD_EXEMPT = {
    "步长": "也指一般的“每一步走多远”：优化器每步的步长、有限差分的步长 h，"
    "这些用法早于卷积的步长，意思不同",
}

#: 不是正文、整块跳过的指令（以及不带指令名的普通代码块）。
SKIP_DIRECTIVES = {
    "code-cell",
    "code",
    "code-block",
    "sourcecode",
    "math",
    "literalinclude",
    "glossary",
    "raw",
    "eval-rst",
    "bibliography",
    "tableofcontents",
}

#: 参数不是正文（是文件名或标签）的指令；其余指令的参数（如提示框的标题）
#: 算正文。
ARGUMENT_NOT_PROSE = {
    "figure",
    "image",
    "include",
    "glue",
    "glue:figure",
    "glue:any",
    "glue:math",
    "solution",
}

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})(.*)$")
TEACHER = re.compile(r"见\s*\{doc\}`([^`]+)`")
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
LINK_ROLES = {"doc", "ref", "numref"}
LABEL = re.compile(
    r"^\(([\w.:-]+)\)=\s*$|^\s*:?(?:name|label):\s*([\w.:-]+)\s*$", re.M
)


@dataclass
class Entry:
    """术语表的一个词条。"""

    words: list[str]  # 第一个是词头，其余是别名
    line: int  # 词头在 glossary.md 中的行号
    teacher: str | None = None  # 讲它的页面，如 "book/prereq/training"

    @property
    def head(self) -> str:
        return self.words[0]


@dataclass
class Use:
    """一次（过早的）使用。"""

    entry: Entry
    page: str
    line: int
    kind: str  # "{term} 链接" 或 "字面“<匹配到的词>”"
    text: str = field(default="")


def resolve_doc(target: str, page: str) -> str:
    """``{doc}`` 的目标（可带显示文字）换成页面名，相对路径按 page 解析。"""
    m = re.search(r"<([^>]+)>\s*$", target)
    target = (m.group(1) if m else target).strip()
    target = re.sub(r"\.(md|ipynb)$", "", target)
    if target.startswith("/"):
        return target[1:]
    parts = page.split("/")[:-1]
    for piece in target.split("/"):
        if piece == "..":
            parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def parse_glossary(text: str) -> list[Entry]:
    """读出 ``{glossary}`` 块里的词条：词头、别名和“见{doc}”指向的页面。"""
    entries, current, definition = [], None, []
    in_block = prev_was_term = False

    def finish():
        if current is not None:
            found = TEACHER.findall(" ".join(definition))
            if found:
                current.teacher = resolve_doc(found[-1], GLOSSARY)

    for number, line in enumerate(text.splitlines(), 1):
        if not in_block:
            in_block = line.strip().startswith("```{glossary}")
            continue
        if line.startswith("```"):
            finish()
            current, definition, in_block = None, [], False
            continue
        if not line.strip() or line.startswith(":"):
            prev_was_term = False
            continue
        if line[0].isspace():
            definition.append(line.strip())
            prev_was_term = False
        elif prev_was_term:
            current.words.append(line.strip())
        else:
            finish()
            current, definition = Entry([line.strip()], number), []
            entries.append(current)
            prev_was_term = True
    return entries


def labels_by_page(root: Path, pages: list[str]) -> dict[str, str]:
    """每个标签（``(x)=``、``:name:``、``:label:``）所在的页面。"""
    labels = {}
    for page in pages:
        text = (root / f"{page}.md").read_text(encoding="utf-8")
        for a, b in LABEL.findall(text):
            labels[a or b] = page
    return labels


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _hide(match: re.Match) -> str:
    """已匹配的词换成不会再被匹配的字符，长度与换行不变。"""
    return re.sub(r"[^\n]", "\0", match.group(0))


def prose(text: str) -> list[str]:
    """页面的正文，行号不变：不算正文的行换成空行（见模块说明）。"""
    lines = text.split("\n")
    out = [""] * len(lines)
    start = 0
    if lines and lines[0].strip() == "---":  # jupytext 的头部
        start = lines.index("---", 1) + 1
    stack = []  # 每层围栏：[字符, 长度, 跳过?, 还在选项里?, 在 YAML 选项里?]
    for i in range(start, len(lines)):
        line = lines[i]
        m = FENCE.match(line)
        top = stack[-1] if stack else None
        if m:
            fence, info = m.group(2), m.group(3).strip()
            closes = (
                top is not None
                and fence[0] == top[0]
                and len(fence) >= top[1]
                and not info
            )
            if closes:
                stack.pop()
                continue
            if top is None or not top[2]:
                name = re.match(r"\{([^}]+)\}\s*(.*)", info)
                skip = name is None or name.group(1) in SKIP_DIRECTIVES
                stack.append([fence[0], len(fence), skip, True, False])
                if not skip and name.group(1) not in ARGUMENT_NOT_PROSE:
                    out[i] = " " * len(m.group(1) + fence) + name.group(2)
                continue
        if top is not None:
            if top[2]:
                continue
            if top[3]:
                if line.strip() == "---":
                    top[4] = not top[4]
                    continue
                if top[4] or re.match(r"^\s*:[\w-]+:", line):
                    continue
                top[3] = False
        if re.match(r"^\s*\([\w.:-]+\)=\s*$", line):
            continue
        out[i] = line
    return out


def paragraphs(lines: list[str]):
    """把正文按空行分段，给出 (起始行下标, 该段文字)。"""
    para, first = [], 0
    for i, line in enumerate(lines + [""]):
        if line.strip():
            if not para:
                first = i
            para.append(line)
        elif para:
            yield first, "\n".join(para)
            para = []


def plain_words(entries: list[Entry]) -> list[tuple[str, Entry]]:
    """按字面检查的词，长的在前。"""
    words = [
        (w, e)
        for e in entries
        for w in e.words
        if w not in PLAIN_WORD_EXEMPT and e.head not in PLAIN_WORD_EXEMPT
    ]
    return sorted(words, key=lambda we: -len(we[0]))


def _word_pattern(word: str) -> re.Pattern:
    body = re.escape(word).replace(r"\ ", r"\s*")
    left = r"(?<![A-Za-z])" if word[0].isascii() else ""
    right = r"(?![A-Za-z])" if word[-1].isascii() else ""
    return re.compile(left + body + right, re.I)


def uses_in_page(text, page, entries, labels):
    """一页中每次使用：(词条, 行号, 方式, 段落链接到的页面集合)。"""
    by_word = {w.casefold(): e for e in entries for w in e.words}
    patterns = [(_word_pattern(w), e) for w, e in plain_words(entries)]
    for first, para in paragraphs(prose(text)):
        linked = set()
        for role, target in ROLE.findall(para):
            if role == "doc":
                linked.add(resolve_doc(target, page))
            elif role in ("ref", "numref"):
                m = re.search(r"<([^>]+)>\s*$", target)
                label = (m.group(1) if m else target).strip()
                if label in labels:
                    linked.add(labels[label])
        found = []
        masked = re.sub(r"<!--.*?-->", _blank, para, flags=re.S)
        masked = re.sub(r"\$\$.*?\$\$", _blank, masked, flags=re.S)
        for m in ROLE.finditer(masked):
            if m.group(1) == "term":
                t = re.search(r"<([^>]+)>\s*$", m.group(2))
                name = (t.group(1) if t else m.group(2)).strip()
                entry = by_word.get(name.casefold())
                if entry is not None:
                    found.append((entry, m.start(), "{term} 链接"))
        masked = ROLE.sub(_blank, masked)
        masked = re.sub(r"`[^`]*`", _blank, masked)
        masked = re.sub(r"(?<!\\)\$[^$]+?(?<!\\)\$", _blank, masked)
        masked = re.sub(r"\]\([^)]*\)", _blank, masked)
        masked = re.sub(r"<[^>\n]+>", _blank, masked)
        for pattern, entry in patterns:
            hits = list(pattern.finditer(masked))
            found += [(entry, m.start(), f"字面“{m[0]}”") for m in hits]
            masked = pattern.sub(_hide, masked)
        for entry, offset, kind in found:
            line = first + para.count("\n", 0, offset) + 1
            yield entry, line, kind, linked


def early_uses(root: Path, glossary: str = GLOSSARY) -> list[Use]:
    """按目录顺序找出所有在讲它的页面之前、又没有向前链接的使用。"""
    pages = toc_files(root)
    gloss = (root / f"{glossary}.md").read_text(encoding="utf-8")
    entries = [e for e in parse_glossary(gloss) if e.teacher in pages]
    labels = labels_by_page(root, pages)
    rank = {p: i for i, p in enumerate(pages)}
    bad = []
    for page in pages:
        if page == glossary:
            continue
        text = (root / f"{page}.md").read_text(encoding="utf-8")
        lines = text.split("\n")
        for entry, line, kind, linked in uses_in_page(
            text, page, entries, labels
        ):
            if (
                rank[page] < rank[entry.teacher]
                and entry.teacher not in linked
            ):
                bad.append(
                    Use(entry, page, line, kind, lines[line - 1].strip())
                )
    return bad


FIX = (
    "修法：把讲解挪到第一次使用之前（并改术语表词条的“见”）；或者在使用的"
    "那一段加一句释义，并链接到讲它的页面：{doc}`/<讲解页>`，或该页上的"
    " {ref}/{numref} 标签。"
)


def describe(use: Use) -> str:
    """一条失败信息：哪个词、在哪里用到、讲它的是哪一页、怎么修。"""
    t = use.entry.teacher
    return (
        f"“{use.entry.head}”在 {use.page}.md:{use.line} 用到"
        f"（{use.kind}），讲它的 {t}.md 在后面；"
        f"在这一段链接 {{doc}}`/{t}` 或挪动讲解。\n"
        f"    {use.text[:60]}"
    )


# ---------------------------------------------------------------- 本书


def _book_entries():
    text = (ROOT / f"{GLOSSARY}.md").read_text(encoding="utf-8")
    return parse_glossary(text)


def test_every_glossary_entry_names_a_teaching_page_in_the_toc():
    pages = toc_files(ROOT)
    entries = _book_entries()
    assert len(entries) > 50
    missing = [e.head for e in entries if e.teacher is None]
    assert not missing, f"这些词条没有“见{{doc}}`/book/...`”：{missing}"
    outside = [(e.head, e.teacher) for e in entries if e.teacher not in pages]
    assert not outside, f"这些词条“见”的页面不在 _toc.yml 里：{outside}"
    assert all(e.teacher != GLOSSARY for e in entries)


def test_teaching_page_mentions_the_term():
    """“见”指向的页面至少提到一次这个词（词头、别名或 {term} 链接）。"""
    wrong = []
    for entry in _book_entries():
        text = (ROOT / f"{entry.teacher}.md").read_text(encoding="utf-8")
        body = "\n".join(prose(text)).casefold()
        if not any(w.casefold() in body for w in entry.words):
            wrong.append(f"{entry.head} → {entry.teacher}")
    assert not wrong, f"讲解页里找不到这些词：{wrong}"


#: 学习者试读报告（issue 17）点名“没解释过”或“术语表里没有”的词。
LEARNER_TERMS = """
轮次 批量 小批量 logits softmax 交叉熵 学习率 验证集 过拟合 Adam 超参数
损失函数 随机丢弃 Dropout 优化器状态 激活函数 ReLU sigmoid tanh 链式法则
独热编码 雅可比矩阵 Glorot_初始化 He_初始化 梯度消失 反向模式自动微分
自定义训练循环 自定义层 原子保存 HDF5 SavedModel 分布式策略 all-reduce
转置卷积 扩张率 批量归一化 预激活 残差网络 感受野 平铺卷积 im2col
数据增强 学习率调度 标准误差
"""
LEARNER_TERMS = [t.replace("_", " ") for t in LEARNER_TERMS.split()]


def test_glossary_has_the_learner_terms_with_english():
    text = (ROOT / f"{GLOSSARY}.md").read_text(encoding="utf-8")
    lines = text.split("\n")
    entries = parse_glossary(text)
    words = {w for e in entries for w in e.words}
    missing = [t for t in LEARNER_TERMS if t not in words]
    assert not missing, f"术语表缺少这些词：{missing}"
    # 词头是中文的词条，释义以英文名开头
    for e in entries:
        first = lines[e.line - 1 + len(e.words)].strip()
        assert re.match(r"[A-Za-z]", e.head) or re.match(
            r"[A-Za-z]", first
        ), f"词条“{e.head}”的释义没有以英文名开头：{first}"


def test_exempt_words_are_glossary_words_with_reasons():
    words = {w for e in _book_entries() for w in e.words}
    for word, reason in PLAIN_WORD_EXEMPT.items():
        assert word in words, f"豁免表里的“{word}”不是术语表的词头或别名"
        assert len(reason) >= 10, f"豁免“{word}”要写明理由"


def test_no_term_is_used_before_the_page_that_teaches_it():
    bad = early_uses(ROOT)
    if bad:
        pytest.fail(
            f"{len(bad)} 处先用后讲。{FIX}\n"
            + "\n".join(describe(u) for u in bad),
            pytrace=False,
        )


# ---------------------------------------------------------- 检查器本身


FRONT = "---\njupytext:\n  formats: md:myst\n---\n\n"  # 正文从第 6 行起

TINY_GLOSSARY = """# 术语表

```{glossary}
激活函数
  activation function。见{doc}`/book/b/act`。

批量
小批量
  batch。
  见{doc}`第二页 </book/b/act>`。

批量归一化
  batch normalization。见{doc}`/book/a/intro`。
```
"""

ACT = (
    "(sec-b)=\n# 激活函数\n\n"
    "```{math}\n:label: eq-b\nx\n```\n\n"
    "```{figure} x.png\n:name: fig-b\n图\n```\n"
)


def _tiny_book(tmp_path: Path, intro: str) -> Path:
    """两页的小书：book/a/intro、book/b/act，再加术语表。"""
    toc = {
        "format": "jb-book",
        "root": "book/a/intro",
        "chapters": [{"file": "book/b/act"}, {"file": GLOSSARY}],
    }
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    pages = {"book/a/intro": FRONT + intro, "book/b/act": FRONT + ACT}
    pages[GLOSSARY] = TINY_GLOSSARY
    for name, body in pages.items():
        path = tmp_path / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return tmp_path


def test_parse_glossary_reads_aliases_and_teacher():
    entries = parse_glossary(TINY_GLOSSARY)
    assert [e.words for e in entries] == [
        ["激活函数"],
        ["批量", "小批量"],
        ["批量归一化"],
    ]
    assert [e.teacher for e in entries] == [
        "book/b/act",
        "book/b/act",
        "book/a/intro",
    ]
    assert [e.line for e in entries] == [4, 7, 12]


def test_early_use_fails_and_names_term_page_line_and_teacher(tmp_path):
    root = _tiny_book(
        tmp_path, "# 开头\n\n用了批量归一化。\n\n这里用了小批量。\n"
    )
    bad = early_uses(root)
    # “批量归一化”在这一页讲，不算；别名“小批量”算“批量”的一次使用
    assert [(u.entry.head, u.page, u.line, u.kind) for u in bad] == [
        ("批量", "book/a/intro", 10, "字面“小批量”")
    ]
    message = describe(bad[0])
    for piece in ("批量", "book/a/intro.md:10", "book/b/act.md", "{doc}"):
        assert piece in message


def test_term_link_counts_as_a_use(tmp_path):
    root = _tiny_book(tmp_path, "# 开头\n\n见 {term}`非线性 <激活函数>`。\n")
    assert [(u.line, u.kind) for u in early_uses(root)] == [
        (8, "{term} 链接")
    ]


LINKS = [
    "{doc}`/book/b/act`",
    "{doc}`../b/act`",
    "{ref}`sec-b`",
    "{numref}`图 %s <fig-b>`",
    "{ref}`这里 <eq-b>`",
]


@pytest.mark.parametrize("link", LINKS)
def test_forward_link_in_the_same_paragraph_passes(tmp_path, link):
    root = _tiny_book(
        tmp_path, f"# 开头\n\n先用激活函数，\n后面细讲（{link}）。\n"
    )
    assert early_uses(root) == []
    # 链接放到另一段里就不算
    root = _tiny_book(
        tmp_path, f"# 开头\n\n先用激活函数。\n\n后面细讲（{link}）。\n"
    )
    assert [u.line for u in early_uses(root)] == [8]


def test_link_to_another_page_is_not_a_forward_link(tmp_path):
    root = _tiny_book(
        tmp_path, "(sec-a)=\n# 开头\n\n激活函数，见{ref}`sec-a`。\n"
    )
    assert len(early_uses(root)) == 1


def test_code_math_options_and_roles_are_not_uses(tmp_path):
    intro = (
        "# 开头\n\n"
        "```{code-cell} ipython3\n# 激活函数\n```\n\n"
        "```python\n激活函数\n```\n\n"
        "````{admonition} 提示\n:class: dropdown\n:name: 激活函数\n\n"
        "正文。\n\n```{math}\n\\text{激活函数}\n```\n````\n\n"
        "行内 `激活函数`，公式 $\\text{激活函数}$，"
        "{glue:text}`激活函数`，<!-- 激活函数 -->\n\n"
        "$$\n\\text{激活函数}\n$$\n\n"
        "```{figure} 激活函数.png\n:alt: 激活函数\n图题里的激活函数。\n```\n"
    )
    root = _tiny_book(tmp_path, intro)
    # 只有图题算正文
    assert [u.line for u in early_uses(root)] == [35]
    assert prose(FRONT + intro)[19] == "正文。"


def test_the_book_passes_because_of_its_forward_links(tmp_path):
    """对照：把前言里的 {ref} 链接换成纯文字，前言就有先用后讲。"""
    for page in toc_files(ROOT):
        dest = tmp_path / f"{page}.md"
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        if page == toc_files(ROOT)[0]:
            text = re.sub(r"\{ref\}`([^`]*)`", r"\1", text)
        dest.write_text(text, encoding="utf-8")
    (tmp_path / "_toc.yml").write_bytes((ROOT / "_toc.yml").read_bytes())
    bad = early_uses(tmp_path)
    assert len(bad) > 10
    assert {u.page for u in bad} == {toc_files(ROOT)[0]}

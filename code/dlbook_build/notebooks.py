"""让读者带走的笔记本读起来和网页一样。

网页由 MyST 渲染，而构建时执行过的笔记本（``_build/jupyter_execute``，
网页“下载 .ipynb”按钮与 Colab 版都来自它）里的 Markdown 单元仍是 MyST
原文：``{glue:text}``、``{literalinclude}``、``{eq}``、``{term}``……在
普通的 Jupyter 或 Colab 里，读者看不到正在讲的代码、正文里的数字和公式
编号。本模块在构建结束时（``build-finished``）借助 Sphinx 环境把它们
换成普通 Markdown：

- ``{glue:text}`` 等换成执行得到的数值（格式与网页相同）；
- ``{literalinclude}`` 换成被引用的代码本身（一个 ``python`` 代码块，
  不是代码单元，所以不会再执行一遍）；
- ``{eq}``、``{numref}``、``{ref}``、``{doc}`` 换成编号或标题，指向别的
  页面时再链接到网站上的那一页；带 ``:label:`` 的公式加上 ``\\tag{编号}``；
- ``{term}`` 换成术语本身，并注明术语表里的英文；
- ``{cite:p}`` 换成（作者，年份）；
- 提示框换成带粗体标题的引用块，折叠的答案换成
  ``<details><summary>…</summary>``（Jupyter 与 Colab 都能折叠）；
  sphinx-exercise 的 ``{exercise}`` 换成标题为“**练习 N**”的引用块，
  ``{solution}`` 换成摘要为“练习 N 的答案”的 ``<details>``；
- ``(label)=`` 与 ``%`` 注释行删去；代码单元生成的图在其后加一行斜体图题。

不认识的角色或指令按其文字内容输出，并发出一条指明页面与名称的 Sphinx
警告，绝不原样留下 MyST。转换后的笔记本写回 ``_build/jupyter_execute``
与网站的 ``_sources``（下载按钮提供的文件）；原始笔记本另存一份，以便
下次增量构建时从原文重新转换。

命令行（在仓库根目录，先构建网页）::

    python -m dlbook_build.notebooks _build 笔记本目录

把转换好的笔记本复制出来，并检查其中没有残留的 MyST 语法。
"""

import argparse
import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

#: 笔记本元数据中的标记：已转换为“读起来和网页一样”的笔记本。
MARK = "dlbook_reads_like_page"
#: 原始（MyST）笔记本的备份目录，位于 ``_build`` 之下。
RAW_DIR = ".dlbook_myst_notebooks"

#: 行内角色 ``{name}`内容```；同时匹配行内代码，以便跳过其中的内容。
_INLINE = re.compile(
    r"(?P<role>\{(?P<name>[A-Za-z][\w:.+-]*)\}(?P<t>`+)(?P<body>.+?)(?P=t))"
    r"|(?P<code>(?P<c>`+).+?(?P=c))"
)
_FENCE = re.compile(
    r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$"
)
_TARGET = re.compile(r"^\s*\([^()\s]+\)=\s*$")
_COMMENT = re.compile(r"^\s*%")
_EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")

#: 各类提示框的中文标题。
ADMONITION_TITLES = {
    "note": "注意",
    "tip": "提示",
    "hint": "提示",
    "important": "重要",
    "warning": "警告",
    "caution": "小心",
    "attention": "注意",
    "danger": "危险",
    "error": "错误",
    "seealso": "参见",
    "margin": "旁注",
    "sidebar": "旁注",
    "topic": "",
    "epigraph": "",
    "exercise": "练习",
}
#: 只显示为行内代码的角色（Python 域等）。
CODE_ROLES = {
    "code", "literal", "command", "file", "samp", "program", "option",
    "envvar", "regexp", "func", "meth", "class", "mod", "attr", "obj",
    "data", "exc", "const", "py:func", "py:meth", "py:class", "py:mod",
    "py:attr", "py:obj", "py:data", "py:exc", "py:const",
}  # fmt: skip
#: 只保留文字的角色。
TEXT_ROLES = {"abbr", "dfn", "guilabel", "menuselection", "index", "download"}
#: 网页上的交叉引用角色：(Sphinx 域, 引用类型)。
XREF_ROLES = {
    "ref": ("std", "ref"),
    "numref": ("std", "numref"),
    "doc": ("std", "doc"),
    "term": ("std", "term"),
    "keyword": ("std", "keyword"),
    "eq": ("math", "eq"),
    "prf:ref": ("std", "ref"),
}
CITE_ROLES = {"cite", "cite:p", "cite:ps", "cite:t", "cite:ts", "footcite"}
GLUE_ROLES = {
    "glue",
    "glue:",
    "glue:any",
    "glue:text",
    "glue:md",
    "glue:math",
}


class Context:
    """转换一页所需的查询；这个基类从字典里查（供单元测试），
    :class:`SphinxContext` 从 Sphinx 环境里查。

    Args:
        docname: 页面名，如 ``book/convnets/pooling``（出现在警告里）。
        glue: 键 → myst-nb 的输出（含 ``data`` 的 mime 字典）。
        xrefs: (角色, 目标) → (文字, 网址或 None)。
        terms: 术语（小写）→ 英文。
        citations: 文献键 → (作者, 年份)。
        equations: 公式标签 → 编号（如 ``"3.1"``）。
        srcdir: ``{literalinclude}`` 中 ``/`` 开头的路径所相对的目录。
        bibliography: 文献表各条的文字。
    """

    eq_format = "式 ({number})"

    def __init__(
        self,
        docname="page",
        *,
        glue=None,
        xrefs=None,
        terms=None,
        citations=None,
        equations=None,
        srcdir=".",
        bibliography=(),
    ):
        self.docname = docname
        self.glue = glue or {}
        self.xrefs = xrefs or {}
        self.terms = terms or {}
        self.citations = citations or {}
        self.equations = equations or {}
        self.srcdir = Path(srcdir)
        self.bib_entries = list(bibliography)
        self.warnings: list[str] = []
        self.attachments: dict = {}

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.docname}：{message}")

    def glue_output(self, key: str):
        return self.glue.get(key)

    def xref(self, role: str, target: str, title: str | None):
        """(显示的文字, 网址或 None)；找不到目标时返回 None。"""
        if role == "eq" and target in self.equations:
            return self.eq_format.format(number=self.equations[target]), None
        found = self.xrefs.get((role, target))
        if role == "ref" and not found and not title:
            # 指向练习的 {ref}：网页上 sphinx-exercise 把它显示成编号
            found = self.xrefs.get(("numref", target))
        if found and title and role != "numref":
            return title, found[1]
        return found

    def term_english(self, term: str) -> str | None:
        return self.terms.get(term.lower())

    def citation(self, key: str):
        return self.citations.get(key)

    def equation_number(self, label: str) -> str | None:
        return self.equations.get(label)

    def include_path(self, argument: str) -> Path:
        if argument.startswith("/"):
            return self.srcdir / argument.lstrip("/")
        return self.srcdir / Path(self.docname).parent / argument

    def include_config(self):
        return SimpleNamespace(source_encoding="utf-8-sig")

    def bibliography(self) -> list[str]:
        return self.bib_entries


# ---------------------------------------------------------------- 行内角色


def _split_explicit(body: str):
    """``标题 <目标>`` → (标题, 目标)；没有显式标题时标题为 None。"""
    m = _EXPLICIT.match(body.strip())
    if m and m["title"]:
        return m["title"], m["target"].strip()
    if m:
        return None, m["target"].strip()
    return None, body.strip()


def _glue_text(name: str, body: str, ctx: Context) -> str:
    from myst_nb.core.variables import format_plain_text

    key, fmt = body, ""
    if name == "glue:text" and ":" in body.split("::")[-1]:
        key, fmt = body.rsplit(":", 1)
    output = ctx.glue_output(key)
    if output is None:
        ctx.warn(f"找不到粘贴的值 {{{name}}}`{body}`")
        return body
    data = output.get("data", output)
    if name == "glue:math" and "text/latex" in data:
        return "$" + data["text/latex"].strip().strip("$") + "$"
    if name in ("glue:md",) and "text/markdown" in data:
        return data["text/markdown"].strip()
    if name != "glue:text":
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                return _attach(key, mime, data[mime], ctx)
        if "text/markdown" in data:
            return data["text/markdown"].strip()
        if "text/html" in data:
            return data["text/html"].strip()
    if "text/plain" not in data:
        ctx.warn(f"{{{name}}}`{body}` 没有 text/plain 形式")
        return key
    try:
        return format_plain_text(data["text/plain"], fmt)
    except (ValueError, TypeError) as err:
        ctx.warn(f"{{{name}}}`{body}` 无法按格式输出（{err}）")
        return data["text/plain"]


def _attach(key: str, mime: str, payload, ctx: Context) -> str:
    """把图片作为单元附件，返回引用它的 Markdown。"""
    name = f"{key}.{mime.split('/')[1]}"
    if isinstance(payload, list):
        payload = "".join(payload)
    ctx.attachments[name] = {mime: payload.replace("\n", "")}
    return f"![{key}](attachment:{name})"


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def _cite(name: str, body: str, ctx: Context) -> str:
    parts = []
    for key in (k.strip() for k in body.split(",")):
        found = ctx.citation(key)
        if found is None:
            ctx.warn(f"找不到文献 {{{name}}}`{key}`")
            parts.append((key, ""))
        else:
            parts.append(found)
    if name in ("cite:t", "cite:ts"):
        return "；".join(f"{a}（{y}）" if y else a for a, y in parts)
    inner = "; ".join(f"{a}, {y}" if y else a for a, y in parts)
    return f"({inner})"


def _role(m: re.Match, ctx: Context) -> str:
    name, body = m["name"], m["body"]
    if name in GLUE_ROLES:
        return _glue_text(name, body, ctx)
    if name in XREF_ROLES:
        title, target = _split_explicit(body)
        found = ctx.xref(name, target, title)
        if found is None:
            # 用 Sphinx 的说法，只构建几页时 dlbook_build.pages 认得它
            ctx.warn(f"引用 {{{name}}}`{body}` 找不到（undefined label）")
            return title or target
        text, url = found
        if name == "term":
            after = m.string[m.end() :].lstrip()[:1]  # 可能隔着换行
            english = ctx.term_english(target)
            if english and after not in ("（", "("):
                text = f"{text}（{english}）"
        return _link(text, url)
    if name in CITE_ROLES:
        return _cite(name, body, ctx)
    if name == "math":
        return f"${body}$"
    if name in ("sub", "sup", "kbd"):
        return f"<{name}>{body}</{name}>"
    if name in CODE_ROLES:
        title, target = _split_explicit(body)
        return f"`{(title or target).lstrip('~!')}`"
    if name in TEXT_ROLES:
        title, target = _split_explicit(body)
        if name == "abbr":
            return re.sub(r"\s*\(.*\)$", "", body)
        return title or target
    ctx.warn(f"不认识的角色 {{{name}}}，按文字 {body!r} 输出")
    return _split_explicit(body)[0] or _split_explicit(body)[1]


def convert_inline(text: str, ctx: Context) -> str:
    """换掉一段文字中的行内角色（行内代码中的内容不动）。"""

    def sub(m):
        return _role(m, ctx) if m["role"] else m["code"]

    return _INLINE.sub(sub, text)


# ------------------------------------------------------------------- 指令


def _parse_directive(lines: list[str]):
    """指令体 → (选项字典, 内容行)。支持 ``:key: value`` 与 YAML 两种。"""
    options, k = {}, 0
    if lines and lines[0].strip() == "---":
        import yaml

        end = next(
            (i for i in range(1, len(lines)) if lines[i].strip() == "---"),
            None,
        )
        if end is not None:
            loaded = yaml.safe_load("\n".join(lines[1:end])) or {}
            options = {str(a): b for a, b in loaded.items()}
            k = end + 1
    else:
        while k < len(lines) and _OPTION.match(lines[k].strip()):
            m = _OPTION.match(lines[k].strip())
            options[m["key"]] = m["value"].strip()
            k += 1
    content = lines[k:]
    while content and not content[0].strip():
        content = content[1:]
    while content and not content[-1].strip():
        content = content[:-1]
    return options, content


def _fence(code: str, language: str = "") -> str:
    longest = max((len(r) for r in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def _quote(text: str) -> str:
    return "\n".join(
        "> " + line if line else ">" for line in text.split("\n")
    )


def _details(summary: str, body: str) -> str:
    return f"<details>\n<summary>{summary}</summary>\n\n{body}\n\n</details>"


def _math(options: dict, content: list[str], ctx: Context) -> str:
    body = "\n".join(line for line in content if line.strip())
    if "nowrap" not in options and "\\\\" in body:
        if not body.lstrip().startswith("\\begin"):
            body = f"\\begin{{split}}\n{body}\n\\end{{split}}"
    label = options.get("label")
    if label:
        number = ctx.equation_number(label)
        if number is None:
            ctx.warn(f"公式 {label} 没有编号")
        else:
            body += f"\n\\tag{{{number}}}"
    return f"$$\n{body}\n$$"


def _literalinclude(arg: str, options: dict, ctx: Context) -> str:
    from sphinx.directives.code import LiteralIncludeReader

    path = ctx.include_path(arg)
    opts = dict(options)
    for key in ("dedent", "lineno-start", "lineno-match"):
        if key in opts:
            opts[key] = int(opts[key]) if str(opts[key]).strip() else True
    try:
        text, _ = LiteralIncludeReader(
            str(path), opts, ctx.include_config()
        ).read()
    except (OSError, ValueError) as err:
        ctx.warn(f"无法展开 {{literalinclude}} {arg}（{err}）")
        return f"（代码见 `{arg}`）"
    language = options.get("language") or (
        "python" if path.suffix == ".py" else ""
    )
    block = _fence(text, language)
    caption = options.get("caption")
    if caption:
        block = f"*{convert_inline(caption, ctx)}*\n\n{block}"
    return block


def _list_table(arg: str, options: dict, content: list[str], ctx: Context):
    rows, row = [], None
    for line in content:
        if re.match(r"^\*\s+-\s", line) or re.match(r"^\*\s+-$", line):
            row = [line.split("-", 1)[1].strip()]
            rows.append(row)
        elif re.match(r"^\s+-\s", line) and row is not None:
            row.append(line.strip()[1:].strip())
        elif line.strip() and row is not None:
            row[-1] += " " + line.strip()
    header = int(options.get("header-rows", 0) or 0)
    width = max((len(r) for r in rows), default=0)

    def fmt(r):
        cells = [convert_inline(c, ctx).replace("|", "\\|") for c in r]
        cells += [""] * (width - len(cells))
        return "| " + " | ".join(cells) + " |"

    head = rows[:header] if header else [[""] * width]
    lines = [fmt(r) for r in head] if head else []
    lines.insert(1, "|" + "---|" * width)
    lines += [fmt(r) for r in rows[header:]]
    return _with_caption("table", arg, options, "\n".join(lines), ctx)


def _with_caption(kind, title, options, block, ctx: Context) -> str:
    if not title:
        return block
    name = options.get("name")
    found = ctx.xref("numref", name, None) if name else None
    number = found[0] if found else ""
    caption = convert_inline(title, ctx)
    caption = f"{number}：{caption}" if number else caption
    return (
        f"*{caption}*\n\n{block}"
        if kind == "table"
        else (f"{block}\n\n*{caption}*")
    )


def _glossary(content: list[str], ctx: Context) -> str:
    items, terms = [], []
    for line in content:
        if not line.strip():
            continue
        if not line[0].isspace():
            if items and items[-1][1]:
                terms = []
            terms.append(line.strip())
            if len(terms) == 1:
                items.append((terms, []))
        elif items:
            items[-1][1].append(line.strip())
    out = []
    for names, definition in items:
        text = convert_inline("\n  ".join(definition), ctx)
        out.append(f"- **{' / '.join(names)}**：{text}")
    return "\n".join(out)


def _directive(name, arg, options, content, ctx: Context) -> str:
    body = "\n".join(content)
    classes = str(options.get("class", "")).split()
    if name == "math":
        return _math(options, content, ctx)
    if name == "literalinclude":
        return _literalinclude(arg, options, ctx)
    if name in ("code-block", "code", "sourcecode", "code-cell"):
        return _fence(body, arg.split()[0] if arg else "")
    if name in ("list-table",):
        return _list_table(arg, options, content, ctx)
    if name == "table":
        return _with_caption("table", arg, options, convert(body, ctx), ctx)
    if name in ("figure", "image"):
        alt = options.get("alt", "")
        block = f"![{alt}]({arg})"
        if name == "figure" and body:
            return _with_caption("figure", body, options, block, ctx)
        return block
    if name.startswith("glue"):
        key = arg.strip()
        role = {"glue:figure": "glue:", "glue": "glue:"}.get(name, name)
        block = _glue_text(role, key, ctx)
        if name == "glue:figure" and body:
            return _with_caption("figure", body, options, block, ctx)
        return block
    if name == "raw":
        return body if arg.strip() == "html" else ""
    if name in ("glossary",):
        return _glossary(content, ctx)
    if name == "bibliography":
        return "\n".join(f"- {entry}" for entry in ctx.bibliography())
    if name == "solution":
        # 每道练习自己的答案，默认折叠：“练习 N 的答案”
        numbered = ctx.xref("numref", arg, None) if arg else None
        summary = f"{numbered[0]} 的答案" if numbered else "答案"
        if "dropdown" not in classes:
            return _quote(f"**{summary}**\n\n{convert(body, ctx)}")
        return _details(summary, convert(body, ctx))
    if name == "dropdown" or "dropdown" in classes:
        summary = arg or ADMONITION_TITLES.get(name, "") or "详细内容"
        return _details(convert_inline(summary, ctx), convert(body, ctx))
    if name in ("exercise-start", "solution-start"):
        # sphinx-exercise 的分段写法：中间可能隔着代码单元，只留标题
        if name == "solution-start":
            numbered = ctx.xref("numref", arg, None) if arg else None
            return f"**{numbered[0]} 的答案**" if numbered else "**答案**"
        return f"**练习：{arg}**" if arg else "**练习**"
    if name in ("exercise-end", "solution-end"):
        return ""
    if name == "admonition" or name in ADMONITION_TITLES:
        title = arg if name == "admonition" else ADMONITION_TITLES[name]
        if arg and name != "admonition":
            title = f"{title}：{arg}" if title else arg
        if name == "exercise" and options.get("label"):
            numbered = ctx.xref("numref", options["label"], None)
            if numbered:
                title = numbered[0] + (f"：{arg}" if arg else "")
        inner = convert(body, ctx)
        if title:
            inner = f"**{convert_inline(title, ctx)}**\n\n{inner}"
        return _quote(inner)
    ctx.warn(f"不认识的指令 {{{name}}}，按其内容输出")
    return convert(body, ctx)


# ------------------------------------------------------------- Markdown 单元


def convert(text: str, ctx: Context) -> str:
    """把一段 MyST Markdown 换成普通 Markdown。"""
    lines = text.split("\n")
    out: list[str] = []
    para: list[str] = []

    def flush():
        if para:
            out.append(convert_inline("\n".join(para), ctx))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            indent, fence = m["indent"], m["fence"]
            j = i + 1
            close = re.compile(
                rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$"
            )
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            body = [
                b[len(indent) :] if b.startswith(indent) else b.lstrip()
                for b in lines[i + 1 : j]
            ]
            info = m["info"].strip()
            dm = re.match(r"^\{(?P<name>[\w:.+-]+)\}\s*(?P<arg>.*)$", info)
            flush()
            if dm:
                options, content = _parse_directive(body)
                block = _directive(
                    dm["name"], dm["arg"].strip(), options, content, ctx
                )
                out.append(
                    "\n".join(
                        indent + b if b else b for b in block.split("\n")
                    )
                )
            else:
                out.extend(lines[i : min(j + 1, len(lines))])
            i = j + 1
            continue
        if _TARGET.match(line) or _COMMENT.match(line):
            i += 1
            continue
        dollar = re.match(r"^(\s*)\$\$(.*)$", line)
        if dollar and not re.search(r"\$\$\s*(\([^)]*\))?\s*$", line[2:]):
            # 多行的 $$ … $$，可能带 (label)
            j = i + 1
            end = re.compile(r"^(.*?)\$\$\s*(?:\((?P<label>[^)]+)\))?\s*$")
            while j < len(lines) and not end.match(lines[j]):
                j += 1
            if j < len(lines):
                flush()
                em = end.match(lines[j])
                content = [dollar[2], *lines[i + 1 : j], em[1]]
                opts = {"label": em["label"]} if em["label"] else {}
                opts["nowrap"] = True
                out.append(_math(opts, content, ctx))
                i = j + 1
                continue
        single = re.match(
            r"^\s*\$\$(?P<body>.+?)\$\$\s*\((?P<label>[^)]+)\)\s*$", line
        )
        if single:
            flush()
            opts = {"label": single["label"], "nowrap": True}
            out.append(_math(opts, [single["body"]], ctx))
            i += 1
            continue
        if not line.strip():
            flush()
            out.append(line)
        else:
            para.append(line)
        i += 1
    flush()
    result = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", result).strip("\n")


def _caption_cell(cell: dict, ctx: Context) -> dict | None:
    figure = (cell.get("metadata", {}).get("mystnb") or {}).get("figure")
    if not isinstance(figure, dict) or not figure.get("caption"):
        return None
    name = figure.get("name")
    found = ctx.xref("numref", name, None) if name else None
    caption = convert_inline(str(figure["caption"]).strip(), ctx)
    # 元数据里的图题也换成转换后的文字：笔记本再交给 myst-nb 时不残留角色。
    figure["caption"] = caption
    text = f"*{found[0]}：{caption}*" if found else f"*{caption}*"
    new = {"cell_type": "markdown", "metadata": {}, "source": text}
    if "id" in cell:
        new["id"] = (str(cell["id"])[:56] + "-caption")[:64]
    return new


def convert_notebook(notebook: dict, ctx: Context) -> dict:
    """返回读起来和网页一样的笔记本（不改动输入）。"""
    nb = copy.deepcopy(notebook)
    cells = []
    for cell in nb.get("cells", []):
        cells.append(cell)
        if cell.get("cell_type") == "markdown":
            ctx.attachments = {}
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(source)
            cell["source"] = convert(source, ctx)
            if ctx.attachments:
                cell.setdefault("attachments", {}).update(ctx.attachments)
        elif cell.get("cell_type") == "code":
            caption = _caption_cell(cell, ctx)
            if caption is not None:
                cells.append(caption)
    nb["cells"] = cells
    metadata = nb.setdefault("metadata", {})
    metadata.pop("jupytext", None)  # 不再是 MyST 文本的配对笔记本
    metadata[MARK] = True
    return nb


def leftover_myst(notebook: dict) -> list[str]:
    """笔记本 Markdown 单元与图题元数据中残留的 MyST 语法（每处一行）。"""
    found = []
    for n, cell in enumerate(notebook.get("cells", [])):
        figure = (cell.get("metadata", {}).get("mystnb") or {}).get("figure")
        if isinstance(figure, dict) and figure.get("caption"):
            caption = str(figure["caption"])
            found += [f"单元 {n} 的图题: {m}" for m in myst_in(caption)]
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        found += [f"单元 {n}: {m}" for m in myst_in(source)]
    return found


def myst_in(source: str) -> list[str]:
    """一段 Markdown 中的 MyST 语法：角色、指令围栏与 ``(label)=`` 行。

    代码块与行内代码中的文字不算（例如 ```` `{epoch:04d}` ````）。
    """
    found, text, fence = [], [], None
    for line in source.split("\n"):
        if fence is not None:
            if re.match(
                rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", line
            ):
                fence = None
            continue
        m = _FENCE.match(line)
        if m:
            fence = m["fence"]
            if m["info"].strip().startswith("{"):
                found.append(line.strip())
        elif _TARGET.match(line):
            found.append(line.strip())
        else:
            text.append(line)
    text_only = "\n".join(text)
    found += [m["role"] for m in _INLINE.finditer(text_only) if m["role"]]
    return found


# ------------------------------------------------------------ Sphinx 环境


class SphinxContext(Context):
    """从构建结束时的 Sphinx 环境查询编号、标题、术语与粘贴的值。"""

    def __init__(self, app, docname: str, glue_dir: Path, cache: dict):
        super().__init__(docname, srcdir=app.srcdir)
        self.app, self.env = app, app.env
        self.glue_dir = glue_dir
        self.cache = cache
        self.eq_format = app.config.math_eqref_format or "({number})"
        baseurl = getattr(app.config, "html_baseurl", "") or ""
        self.baseurl = baseurl.rstrip("/") + "/" if baseurl else ""

    def warn(self, message: str) -> None:
        from sphinx.util import logging

        super().warn(message)
        logging.getLogger(__name__).warning(
            "笔记本导出：%s",
            message,
            location=self.docname,
            type="dlbook",
            subtype="notebook",
        )

    def _glue_of(self, docname: str) -> dict:
        key = ("glue", docname)
        if key not in self.cache:
            path = self.glue_dir.joinpath(*docname.split("/"))
            path = path.with_name(path.name + ".glue.json")
            self.cache[key] = (
                json.loads(path.read_text(encoding="utf-8"))
                if path.is_file()
                else {}
            )
        return self.cache[key]

    def glue_output(self, key: str):
        if "::" in key:
            page, key = key.split("::", 1)
            page = str(Path(page).with_suffix(""))
            if page.startswith("/"):
                docname = page.lstrip("/")
            else:
                docname = str(Path(self.docname).parent / page)
            return self._glue_of(docname).get(key)
        return self._glue_of(self.docname).get(key)

    def xref(self, role, target, title):
        from docutils import nodes
        from sphinx.addnodes import pending_xref

        domain_name, typ = XREF_ROLES.get(role, ("std", role))
        if typ in ("ref", "numref", "term", "keyword"):
            target = target.lower() if typ != "term" else target
        if typ == "ref" and title is None and self._is_exercise(target):
            # 网页上 sphinx-exercise 把指向练习的 {ref} 显示成“练习 N”
            typ = "numref"
        text = title if title is not None else target
        node = pending_xref(
            "",
            refdomain=domain_name,
            reftype=typ,
            reftarget=target,
            refexplicit=title is not None,
            refwarn=True,
            refdoc=self.docname,
        )
        contnode = nodes.inline(text, text)
        node += contnode
        domain = self.env.get_domain(domain_name)
        result = domain.resolve_xref(
            self.env, self.docname, self.app.builder, typ, target, node,
            contnode,
        )  # fmt: skip
        if result is None:
            return None
        uri = result.get("refuri", "")
        return result.astext(), self._absolute(uri)

    def _is_exercise(self, label: str) -> bool:
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        node = registry.get(label, {}).get("node")
        return type(node).__name__ == "exercise_enumerable_node"

    def _absolute(self, uri: str) -> str | None:
        from urllib.parse import urljoin

        if not uri or uri.startswith("#") or not self.baseurl:
            return None  # 同一页内的引用：笔记本里没有这些锚点
        if getattr(self.app.builder, "format", "") == "html":
            here = self.app.builder.get_target_uri(self.docname)
            return urljoin(self.baseurl + here, uri)
        # 其他写出器（如 LaTeX 的 “%文档#锚点”）：链接到网站上的那一页
        doc, _, anchor = uri.lstrip("%").partition("#")
        if not doc or doc == self.docname:
            return None
        return self.baseurl + doc + ".html" + (f"#{anchor}" if anchor else "")

    def term_english(self, term: str) -> str | None:
        std = self.env.get_domain("std")
        terms = getattr(std, "_terms", {})  # Sphinx 7：小写术语 → 位置
        found = std.objects.get(("term", term)) or terms.get(term.lower())
        if not found:
            return None
        docname, labelid = found
        key = ("terms", docname)
        if key not in self.cache:
            self.cache[key] = _glossary_english(self.env.get_doctree(docname))
        return self.cache[key].get(labelid)

    def _bib(self):
        if "bib" not in self.cache:
            self.cache["bib"] = _read_bib(
                [
                    Path(self.app.srcdir, f)
                    for f in getattr(self.app.config, "bibtex_bibfiles", [])
                ]
            )
        return self.cache["bib"]

    def citation(self, key: str):
        entry = self._bib().get(key)
        return entry and entry[:2]

    def bibliography(self) -> list[str]:
        return [entry[2] for entry in self._bib().values()]

    def equation_number(self, label: str) -> str | None:
        found = self.xref("eq", label, None)
        if found is None:
            return None
        number = re.search(r"\d[\d.\-]*", found[0])
        return number.group(0) if number else None

    def include_config(self):
        return self.app.config

    def include_path(self, argument: str) -> Path:
        _, absolute = self.env.relfn2path(argument, self.docname)
        return Path(absolute)


def _glossary_english(doctree) -> dict:
    """术语表页面：术语的 id → 英文（定义第一句中“。，；”之前的部分）。"""
    from docutils import nodes

    english = {}
    for item in doctree.findall(nodes.definition_list_item):
        definition = next(iter(item.findall(nodes.definition)), None)
        if definition is None:
            continue
        first = re.split(
            r"[。，；]", definition.astext().strip(), maxsplit=1
        )[0]
        if not re.search(r"[A-Za-z]", first) or re.search(
            r"[\u4e00-\u9fff]", first
        ):
            continue
        for term in item.findall(nodes.term):
            for ident in term["ids"]:
                english[ident] = first.strip()
    return english


def _latex_text(value: str) -> str:
    import codecs

    import latexcodec  # noqa: F401  注册 ulatex 编解码器

    text = codecs.decode(value, "ulatex")
    return re.sub(r"[{}]", "", text)


def _read_bib(paths) -> dict:
    """文献键 → (作者简称, 年份, 文献表中的一条)。"""
    from pybtex.database import parse_file

    entries = {}
    for path in paths:
        if not path.is_file():
            continue
        data = parse_file(str(path))
        for key, entry in data.entries.items():
            people = entry.persons.get("author", [])
            last = [_latex_text(" ".join(p.last_names)) for p in people]
            if len(last) > 2:
                short = f"{last[0]} et al."
            else:
                short = " and ".join(last)
            year = entry.fields.get("year", "")
            names = ", ".join(
                _latex_text(" ".join(p.first_names + p.last_names))
                for p in people
            )
            venue = _latex_text(
                entry.fields.get("journal")
                or entry.fields.get("booktitle")
                or entry.fields.get("publisher")
                or ""
            )
            title = _latex_text(entry.fields.get("title", ""))
            full = f"{names} ({year}). *{title}*." + (
                f" {venue}." if venue else ""
            )
            entries[key] = (short, year, full, (last[:1], year))
    # 文献表按第一作者的姓、再按年份排序（与网页相同）
    return dict(sorted(entries.items(), key=lambda kv: kv[1][3]))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _dump(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(notebook, ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8",
    )


def on_build_finished(app, exception) -> None:
    """把 ``jupyter_execute`` 与网站 ``_sources`` 中的笔记本转换好。

    任何写出器都转换：PDF 构建若重新读取了页面，myst-nb 会把原始笔记本
    写回共用的 ``_build/jupyter_execute``，Colab 版导出读的正是那里。
    """
    if exception is not None:
        return
    build_dir = Path(app.outdir).parent
    ntbk_dir = build_dir / "jupyter_execute"
    raw_dir = build_dir / RAW_DIR
    sources = Path(app.outdir) / "_sources"
    cache: dict = {}
    for docname in sorted(app.env.found_docs):
        rel = Path(*docname.split("/")).with_suffix(".ipynb")
        path = ntbk_dir / rel
        if not path.is_file():
            continue
        notebook = _load(path)
        if notebook.get("metadata", {}).get(MARK):
            # 上次构建已转换、这次未重新读取的页面：从备份的原文重新转换，
            # 别的页面的编号与标题可能已经改变。
            if not (raw_dir / rel).is_file():
                continue
            notebook = _load(raw_dir / rel)
        else:
            _dump(notebook, raw_dir / rel)
        ctx = SphinxContext(app, docname, ntbk_dir, cache)
        converted = convert_notebook(notebook, ctx)
        for problem in leftover_myst(converted):
            ctx.warn(f"转换后仍残留 MyST 语法（{problem}）")
        _dump(converted, path)
        if (sources / rel).is_file():  # 主题为下载按钮复制的那一份
            _dump(converted, sources / rel)


# ---------------------------------------------------------------- 命令行


def export(build_dir, out_dir) -> list[Path]:
    """把 ``build_dir/jupyter_execute`` 中转换好的笔记本复制到 ``out_dir``。

    Raises:
        FileNotFoundError: 还没有构建（或构建目录给错了）。
        ValueError: 某个笔记本没有转换过，或转换后仍残留 MyST 语法。
    """
    src = Path(build_dir) / "jupyter_execute"
    paths = sorted(src.rglob("*.ipynb")) if src.is_dir() else []
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    if not paths:
        raise FileNotFoundError(
            f"{src} 中没有笔记本；请先在仓库根目录运行 jupyter-book build ."
            "（构建目录通常是 _build）。"
        )
    check_all(paths)
    written = []
    for path in paths:
        target = Path(out_dir) / path.relative_to(src)
        _dump(_load(path), target)
        written.append(target)
    return written


def check_all(paths) -> None:
    """每个笔记本都已转换、没有残留 MyST；否则报出所有问题。"""
    problems = []
    for path in paths:
        notebook = _load(Path(path))
        if not notebook.get("metadata", {}).get(MARK):
            problems.append(f"{path}：没有转换（构建时未加载 dlbook_build）")
        problems += [f"{path}：{p}" for p in leftover_myst(notebook)]
    if problems:
        raise ValueError(
            "这些笔记本还不能交给读者：\n"
            + "\n".join(problems)
            + "\n请删除 _build 后用 jupyter-book build . 重新构建。"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", help="构建目录，通常是 _build")
    parser.add_argument("out", help="输出目录")
    args = parser.parse_args(argv)
    written = export(args.build, args.out)
    print(f"写出 {len(written)} 个笔记本到 {args.out}")


if __name__ == "__main__":
    main()

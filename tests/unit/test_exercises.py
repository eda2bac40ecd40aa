"""dlbook.exercises 的公共框架：接受正确答案，拒绝错误答案并说明原因。"""

import numpy as np
import pytest

from dlbook.exercises import ExerciseError, compare_on_cases

CASES = [(np.arange(6.0).reshape(2, 3),), (np.ones((4, 1)),)]


def test_accepts_a_correct_function():
    msg = compare_on_cases(lambda X: X * 2, lambda X: 2 * X, CASES)
    assert "2 个用例" in msg


def test_reports_shape_value_and_exception():
    with pytest.raises(ExerciseError, match=r"形状应为 \(2, 3\)"):
        compare_on_cases(lambda X: X.T, lambda X: X, CASES)
    with pytest.raises(ExerciseError, match=r"位置 \(0, 0\) 的值应为 1"):
        compare_on_cases(lambda X: X, lambda X: X + 1, CASES)
    with pytest.raises(ExerciseError, match="ZeroDivisionError"):
        compare_on_cases(lambda X: 1 / 0, lambda X: X, CASES)


def test_diagnosis_is_appended():
    with pytest.raises(ExerciseError, match="差了一个常数"):
        compare_on_cases(
            lambda X: X,
            lambda X: X + 1,
            CASES,
            diagnose=lambda case, got, want: "差了一个常数。",
        )

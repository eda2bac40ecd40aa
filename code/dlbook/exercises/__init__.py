"""练习的检查器：在随机用例上把读者的函数与参考实现比较，用中文说明错在哪里。

每一部分的检查器在各自的模块中（如 :mod:`dlbook.exercises.convnets`），
都建立在 :func:`compare_on_cases` 之上。用法::

    from dlbook.exercises.convnets import check_corr2d
    check_corr2d(my_corr2d)   # 通过时返回一句话；否则抛出 ExerciseError
"""

import numpy as np


class ExerciseError(AssertionError):
    """读者的答案没有通过检查；消息说明是哪个用例、错在哪里。"""


def describe(value) -> str:
    """用一小段文字描述一个参数：数组给形状，其他给 repr。"""
    if isinstance(value, np.ndarray):
        return f"形状 {value.shape} 的数组"
    return repr(value)


def compare_on_cases(
    fn, reference, cases, *, name="你的函数", diagnose=None, atol=1e-6
) -> str:
    """在每个用例上比较 ``fn(*case)`` 与 ``reference(*case)``。

    Args:
        fn: 读者写的函数。
        reference: 参考实现。
        cases: 参数元组的列表。
        name: 消息里对 ``fn`` 的称呼。
        diagnose: 可选，``diagnose(case, got, want)`` 返回一句提示
            （例如“像是把填充加在了一侧”），不认识时返回 ``""``。
        atol: 数值比较的绝对误差限。

    Returns:
        通过时的一句话。

    Raises:
        ExerciseError: 出错、形状不对或数值不对；消息给出用例与提示。
    """
    for i, case in enumerate(cases, start=1):
        where = f"第 {i} 个用例（参数：{', '.join(map(describe, case))}）"
        want = np.asarray(reference(*case))
        try:
            got = fn(*case)
        except Exception as err:  # 读者代码的任何错误都要讲清楚
            raise ExerciseError(
                f"{where}上，{name}抛出了 {type(err).__name__}：{err}"
            ) from err
        got = np.asarray(got)
        hint = ""
        if got.shape != want.shape:
            if diagnose:
                hint = diagnose(case, got, want)
            raise ExerciseError(
                f"{where}上，输出形状应为 {want.shape}，{name}给出的是 "
                f"{got.shape}。{hint}"
            )
        if not np.allclose(got, want, atol=atol):
            if diagnose:
                hint = diagnose(case, got, want)
            bad = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
            raise ExerciseError(
                f"{where}上，位置 {tuple(int(j) for j in bad)} 的值应为 "
                f"{want[bad]:.6g}，{name}给出的是 {got[bad]:.6g}。{hint}"
            )
    return f"通过：{name}在全部 {len(cases)} 个用例上与参考实现一致。"

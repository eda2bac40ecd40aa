"""各模块共用的参数检查：给出清楚的错误信息。"""

import numpy as np


def check_positive(name: str, value) -> int:
    """检查步长、扩张率等必须是 >= 1 的整数。"""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} 应为正整数，收到 {value!r}。")
    if value < 1:
        raise ValueError(
            f"{name} 应 >= 1，收到 {name}={value}。"
            f"{name}=1 表示逐个像素滑动/不扩张。"
        )
    return int(value)


def pair(name: str, value) -> tuple[int, int]:
    """把整数或二元组统一成 (高方向, 宽方向)。"""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} 应为整数或二元组，收到 {value!r}。")
        return check_positive(name, value[0]), check_positive(name, value[1])
    v = check_positive(name, value)
    return v, v

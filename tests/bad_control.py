"""Misused control flow. A comment "ERROR(case): text" marks the line (and message part) each case must
report."""

import tilelang as tl


@tl.tile
def branch_type_mismatch(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        if flag > 0:  # ERROR(branch_type_mismatch): a name assigned in both branches keeps one type
            y = x[n]
        else:
            y = x[n].to(tl.float16)
        out[n] = y.to(tl.float32)


@tl.tile
def int_condition(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        if flag:  # ERROR(int_condition): an `if` condition must be bool
            out[n] = x[n]


@tl.tile
def one_branch_name(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        if flag > 0:
            y = x[n]
        out[n] = y  # ERROR(one_branch_name): name `y` is not defined


@tl.tile
def static_range_of_runtime_size(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        for i in tl.static_range(N):  # ERROR(static_range_of_runtime_size): is only known at launch
            out[n] = x[n]


@tl.tile
def float_loop_bound(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        for k in tl.tile(0, x[n]):  # ERROR(float_loop_bound): are integer scalars
            out[n] = x[n]


@tl.tile
def runtime_grid(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(0, flag):  # ERROR(runtime_grid): are for loops nested inside it
        out[n] = x[n]


@tl.tile
def bad_reshape(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N, block=16):
        r = x[n].reshape([3, 5])  # ERROR(bad_reshape): cannot reshape
        out[n] = x[n]


@tl.tile
def slice_past_end(x, out, flag):
    N, C = x.shape
    for n in tl.tile(N):
        t = x[n, tl.arange(0, 8)]
        out[n, tl.arange(0, 8)] = t[:, 4:12]  # ERROR(slice_past_end): is past the end of axis 1


@tl.func
def loops_forever(v):
    return loops_forever(v) + 1.0  # ERROR(recursion): recursive call of @tl.func `loops_forever`


@tl.tile
def recursion(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = loops_forever(x[n])


@tl.func
def helper_with_bad_line(v):
    w = v * 2.0
    return w @ v  # ERROR(error_in_helper): needs two 2-D tiles


@tl.tile
def error_in_helper(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = helper_with_bad_line(x[n])


@tl.func
def early_return(v):
    if 1 > 0:
        return v  # ERROR(early_return): `return` must be the last statement
    return v


@tl.tile
def calls_early_return(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = early_return(x[n])


@tl.tile
def unknown_helper_argument(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = helper_with_bad_line(x[n], scale=2.0)  # ERROR(unknown_helper_argument): has no parameter `scale`


@tl.tile
def partial_condition(x, out, flag):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        s = tl.sum(tl.sum(x[m, n], axis=1), axis=0)  # ERROR(partial_condition): reduces over grid tile
        if s > 0.0:  # the branch taken depends on this program's part of the sum only
            out[m, n] = x[m, n]
        else:
            out[m, n] = -x[m, n]


@tl.tile
def partial_through_reshape(x, out, flag):
    M, C = x.shape
    for m in tl.tile(M, block=32):
        t = x[m, tl.arange(0, 16)]
        r = tl.reshape(t, [16, m])
        v = tl.sum(r, axis=1)  # ERROR(partial_through_reshape): reduces over grid tile `m`
        out[m, tl.arange(0, 16)] = v[None, :]


@tl.tile
def and_on_int(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        if flag > 1 and flag:  # ERROR(and_on_int): combine bool scalars
            out[n] = x[n]

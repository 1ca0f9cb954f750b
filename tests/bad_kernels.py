"""Kernels with mistakes. Each marks the line its error must point at with `# ERROR: <message part>`."""

import tilelang as tl


@tl.tile
def uses_if(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        if x[n] > 0.0:  # ERROR: an `if` needs a scalar condition
            out[n] = x[n]


@tl.tile
def dot_shape_mismatch(a, b, c):
    M, K = a.shape
    N, K = b.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[n, k]  # ERROR: shape mismatch in `@`
        c[m, n] = acc


@tl.tile
def store_wrong_dtype(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n].to(tl.float32)  # ERROR: storing f32 into `out` of f16


@tl.tile
def while_loop(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        while True:  # ERROR: `while` loops are not supported
            pass


@tl.tile
def undefined_name(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] + bias  # ERROR: name `bias` is not defined  # noqa: F821


@tl.tile
def range_loop(x, out):
    (N,) = x.shape
    for n in range(N):  # ERROR: loops in a kernel iterate over tiles
        out[n] = x[n]


@tl.tile
def wrong_index_count(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n, n]  # ERROR: `x` has 1 dimension(s) but is indexed with 2


@tl.tile
def carried_type_change(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        acc = tl.zeros([n], tl.float32)
        for k in tl.tile(N):
            acc = x[k].to(tl.float16)  # ERROR: a value carried across loop iterations keeps one type
        out[n] = acc


@tl.tile
def used_after_loop(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        for k in tl.tile(N):
            inner = x[k]
        out[n] = inner  # ERROR: name `inner` is not defined


@tl.tile
def no_grid(x, out):  # ERROR: the kernel has no tile loop
    (N,) = x.shape


@tl.tile
def float_mod(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] % 2.0  # ERROR: needs integer operands


@tl.tile
def reduction_without_axis(x, out):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        out[m] = tl.sum(x[m, n])  # ERROR: needs `axis=`


@tl.tile
def list_comprehension(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = [v for v in x]  # ERROR: list comprehensions are not supported


@tl.tile
def simple_copy(x, out):
    (N,) = x.shape
    N2 = N
    for n in tl.tile(N2):
        out[n] = x[n]


@tl.tile
def partial_slice(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        out[m, :] = x[m, 1:]  # ERROR: only `:` (the whole dimension) is supported


@tl.tile
def block_is_another_size(x, out):
    M, N = x.shape
    for m in tl.tile(M, block=N):  # ERROR: must be the loop's own extent (M)
        out[m] = x[m, 0]

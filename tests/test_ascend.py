"""The Ascend backend: every test and stdlib kernel rendered as Ascend C and run through the strict
emulator (backends/ascend/emu) against float64 torch, planted hardware-rule mistakes caught with
the right message and source line, the Cube route, the IR text form and the AOT target."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.ascend import ascend_program, render_ascend, run_emulated
from tilelang.errors import BackendError, HardwareRuleError, LaunchError, VerifierError
from tilelang.frontend.lower import ArgSpec
from tilelang.memir import nodes as M
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.stdlib import matmul_kernel

import kernels as K
from conftest import assert_close, poisoned
from test_cpu_backend import TOL, binary_kernel, float_unary_kernel, int_kernel, reduce_kernel, shape_ops_kernel
from test_ir_text import signatures

run = run_emulated
DT = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def program(kernel, sig, config=None):
    from tilelang import backend as backends

    return ascend_program(kernel.final_ir(sig, config or tl.Config(), backends.get("ascend")))


def line_of(fn, text: str) -> int:
    """The line number of the first source line of `fn` containing `text`."""
    lines, start = inspect.getsourcelines(fn.fn)
    return start + next(i for i, ln in enumerate(lines) if text in ln)


# ---- the IR: spaces, text round trip, verifier ------------------------------------------------------------

@pytest.mark.parametrize("kernel,sig", signatures(), ids=lambda v: getattr(v, "name", ""))
def test_round_trip_and_spaces(kernel, sig):
    try:
        mk = program(kernel, sig)
    except BackendError:
        return  # ops the explicit-memory level does not lower (scans, sort, ...): refused, located
    assert mk.threads == 1
    assert {b.space for b in mk.buffers} <= {"ub", "local", "l1", "l0c"}
    assert not any(isinstance(s, M.Barrier) for s in M.walk(mk.body))
    text = print_memkernel(mk)
    back = parse_memkernel(text)
    assert back == mk and print_memkernel(back) == text
    verify_memkernel(back)


def test_gemm_takes_the_cube_route_only_for_16_bit_fractal_tiles():
    sig = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    cube = program(matmul_kernel, sig, tl.Config(BLOCK_M=32, BLOCK_N=16, BLOCK_K=16))
    spaces = {b.name: b.space for b in cube.buffers}
    assert spaces["acc"] == "l0c" and sorted(spaces.values()).count("l1") == 2
    src = render_ascend(cube).source
    for api in ("Nd2NzParams", "LoadData(", "Mmad(", "Fixpipe(", "TPosition::A1", "TPosition::CO1"):
        assert api in src
    f32 = program(matmul_kernel, {n: ArgSpec("tensor", "f32", 2) for n in "abc"})
    assert {b.space for b in f32.buffers} <= {"ub", "local"}  # f32 `@`: vector / scalar units
    odd = program(matmul_kernel, sig, tl.Config(BLOCK_M=8, BLOCK_N=16, BLOCK_K=16))
    assert {b.space for b in odd.buffers} <= {"ub", "local"}  # 8 rows are not a whole fractal


def test_verifier_rejects_ascend_spaces_in_a_simt_program():
    mk = program(K.add_kernel, {n: ArgSpec("tensor", "f32", 1) for n in ("x", "y", "out")})
    with pytest.raises(VerifierError, match="one-thread"):
        verify_memkernel(dataclasses.replace(mk, threads=32))


def test_source_carries_line_tags_and_the_queue_discipline():
    mk = program(K.add_kernel, {n: ArgSpec("tensor", "f32", 1) for n in ("x", "y", "out")})
    src = render_ascend(mk).source
    assert f'#line {line_of(K.add_kernel, "out[n] =")} "{inspect.getsourcefile(K.add_kernel.fn)}"' in src
    for api in ("TQue<TPosition::VECIN", "TQue<TPosition::VECOUT", "AllocTensor", "EnQue", "DeQue", "FreeTensor",
                "DataCopyPad(", "Add(", "GetBlockIdx()", "__aicore__"):
        assert api in src


def test_f64_is_refused_with_a_located_error():
    x = torch.randn(5, dtype=torch.float64)
    with pytest.raises(BackendError, match="f64") as e:
        K.add_kernel(x, x, x.clone(), backend="ascend")
    assert e.value.loc is not None


def test_a_kernel_too_big_for_the_unified_buffer_is_refused():
    x = torch.randn(300, 300)
    with pytest.raises(BackendError, match="Unified Buffer"):
        K.softmax_kernel(x, torch.empty_like(x), backend="ascend", config=tl.Config(BLOCK_M=128, BLOCK_N=128))


# ---- every kernel through the emulator against float64 torch ------------------------------------------------

def test_add_and_row_softmax():
    x, y = torch.randn(77), torch.randn(77)
    out = poisoned((77,), torch.float32)
    run(K.add_kernel, x, y, out)
    assert_close(out, x.double() + y.double(), "f32")
    x = torch.randn(37, 45) * 3
    out = poisoned((37, 45), torch.float32)
    run(K.softmax_rows_kernel, x, out)
    assert_close(out, torch.softmax(x.double(), 1), "f32", 45)


@settings(max_examples=4)
@given(st.integers(1, 50), st.integers(1, 50), st.integers(1, 40), st.sampled_from(["f32", "f16", "bf16"]))
def test_matmul(M, N, Kd, dtype):
    a, b = torch.randn(M, Kd).to(DT[dtype]), torch.randn(Kd, N).to(DT[dtype])
    c = poisoned((M, N), DT[dtype])
    run(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=32, BLOCK_K=16))
    assert_close(c, a.double() @ b.double(), dtype, Kd)


def test_cube_matmul_with_several_fractals_and_programs():
    torch.manual_seed(4)
    a, b = torch.randn(70, 53).half(), torch.randn(53, 45).half()
    c = poisoned((70, 45), torch.float16)
    r = run(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32))
    assert r.kind == "aic" and "Mmad(" in r.source
    assert_close(c, a.double() @ b.double(), "f16", 53)
    with pytest.raises(LaunchError, match="unit stride"):
        matmul_kernel(a, b.t().contiguous().t(), c, backend="ascend", config=tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32))


def test_gemm_divisible_and_strided_views():
    a, b = torch.randn(32, 48), torch.randn(48, 16)
    c = poisoned((32, 16), torch.float32)
    run(K.gemm_divisible, a, b, c)
    assert_close(c, a.double() @ b.double(), "f32", 48)
    x = torch.randn(40, 70)[:, ::2]  # a non-unit inner stride takes the scalar path
    y = torch.randn(40, 35)
    out = poisoned((40, 35), torch.float32)
    run(K.softmax_kernel, x, out)
    assert_close(out, torch.softmax(x.double(), 1), "f32", 35)
    del y


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_softmax(dtype):
    x = (torch.randn(19, 45) * 3).to(DT[dtype])
    out = poisoned((19, 45), DT[dtype])
    run(K.softmax_kernel, x, out)
    assert_close(out, torch.softmax(x.double(), 1), dtype, 45)


def test_elementwise():
    x, y = torch.randn(13, 21), torch.randn(13, 21)
    of, ob = poisoned((13, 21), torch.float32), torch.zeros(13, 21, dtype=torch.bool)
    r = run(K.elementwise_kernel, x, y, of, ob, 0.75, config=tl.Config(BLOCK_M=16, BLOCK_N=16))
    # the where over a compare of two tiles: a Compare bitmask and a Select, on the vector unit
    assert "Compare(" in r.source and "CMPMODE::GT" in r.source and "SELMODE::VSEL_TENSOR_TENSOR_MODE" in r.source
    a, b = x.double(), y.double()
    r = torch.where(a > b, a.abs().sqrt() * 0.75, torch.exp(-b * b) - 1.5)
    r = torch.maximum(r, torch.minimum(a, b)) + torch.sigmoid(a) * torch.log(1.0 + b * b)
    assert_close(of, r, "f32")
    assert torch.equal(ob, (x < 0) | (y >= 1))


def test_row_reduce_and_whole_rows():
    x = torch.randn(23, 50)
    sums, maxes = poisoned((23,), torch.float32), poisoned((23,), torch.float32)
    argmins = poisoned((23,), torch.int32)
    run(K.row_reduce_kernel, x, sums, maxes, argmins)
    assert_close(sums, x.double().sum(1), "f32", 50)
    assert_close(maxes, x.double().max(1).values, "f32")
    assert torch.equal(argmins.long(), x.argmin(1))
    out = poisoned((23,), torch.float32)
    run(K.rowsum_whole_kernel, x, out)
    assert_close(out, x.double().sum(1), "f32", 50)


def test_causal_mask_and_int_math():
    s = torch.randn(19, 23)
    out = poisoned((19, 23), torch.float32)
    run(K.causal_mask_kernel, s, out)
    i, j = torch.arange(19)[:, None], torch.arange(23)[None, :]
    assert_close(out, torch.where(i >= j, s.double(), 0.0), "f32")
    x = torch.randint(-50, 50, (29,), dtype=torch.int32)
    y = torch.randint(1, 7, (29,), dtype=torch.int32) * (torch.randint(0, 2, (29,), dtype=torch.int32) * 2 - 1)
    q, r = poisoned((29,), torch.int32), poisoned((29,), torch.int32)
    run(K.int_math_kernel, x, y, q, r)
    assert torch.equal(q, torch.div(x, y, rounding_mode="floor"))
    assert torch.equal(r, x - torch.div(x, y, rounding_mode="floor") * y)


def test_gather_and_scatter():
    x = torch.randn(11, 9)
    idx = torch.randint(0, 11, (17,), dtype=torch.int32)
    out = poisoned((17, 9), torch.float32)
    run(K.gather_rows_kernel, x, idx, out)
    assert_close(out, x.double()[idx.long()], "f32")
    src = torch.randn(7, 9)
    perm = torch.randperm(12)[:7].to(torch.int32)
    dst = torch.zeros(12, 9)
    run(K.scatter_rows_kernel, src, perm, dst)
    expected = torch.zeros(12, 9, dtype=torch.float64)
    expected[perm.long()] = src.double()
    assert_close(dst, expected, "f32")


def test_attention():
    torch.manual_seed(1)
    BH, S, D = 2, 19, 16
    q, k, v = (torch.randn(BH, S, D) for _ in range(3))
    o = poisoned((BH, S, D), torch.float32)
    run(K.attention_kernel, q, k, v, o, 0.25, config=tl.Config(BLOCK_M=8, BLOCK_N=8))
    s = (q.double() @ k.double().transpose(1, 2)) * 0.25
    s = s.masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), float("-inf"))
    assert_close(o, torch.softmax(s, -1) @ v.double(), "f32", S)


def test_kmeans_and_moe():
    torch.manual_seed(2)
    x, cen = torch.randn(21, 8), torch.randn(13, 8)
    assign = poisoned((21,), torch.int32)
    run(K.kmeans_assign_kernel, x, cen, assign, config=tl.Config(BLOCK_P=16, BLOCK_C=8))
    d = (cen.double() ** 2).sum(1)[None, :] - 2 * x.double() @ cen.double().T
    assert torch.equal(assign.long(), d.argmin(1))
    xs, w = torch.randn(15, 20), torch.randn(20, 11)
    rows = torch.randint(0, 15, (9,), dtype=torch.int32)
    out = poisoned((9, 11), torch.float32)
    run(K.moe_expert_rows_kernel, xs, rows, w, out)
    assert_close(out, xs.double()[rows.long()] @ w.double(), "f32", 20)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm,stride,padding", [("direct", 2, 1), ("winograd", 1, 1)])
def test_stdlib_conv(algorithm, stride, padding):
    from tilelang.stdlib.conv import conv2d

    torch.manual_seed(3)
    x, w = torch.randn(1, 3, 9, 11), torch.randn(4, 3, 3, 3)
    config = None
    if algorithm == "winograd":
        # the fused kernel's default 32-wide tiles need 628 KB of Unified Buffer: refused, located
        with pytest.raises(BackendError, match="Unified Buffer") as e:
            conv2d(x, w, padding=padding, stride=stride, algorithm=algorithm, backend="ascend")
        assert e.value.loc is not None and e.value.loc.file.endswith("conv_winograd.py")
        config = tl.Config(BLOCK_T=8, BLOCK_K=8, BLOCK_C=8)
    y = conv2d(x, w, padding=padding, stride=stride, algorithm=algorithm, config=config, backend="ascend")
    expected = torch.nn.functional.conv2d(x.double(), w.double(), padding=padding, stride=stride)
    assert_close(y, expected, "f32", 27 * (8 if algorithm == "winograd" else 1))


def test_stdlib_matmul_wrapper():
    from tilelang.stdlib.gemm import matmul

    a, b = torch.randn(33, 40).half(), torch.randn(40, 17).half()
    assert_close(matmul(a, b, backend="ascend"), a.double() @ b.double(), "f16", 40)


# ---- every op of the registry the level lowers, against the reference interpreter -------------------------------

def _against_reference(kernel, inputs, outputs, config, dtype):
    res = []
    for be in ("ascend", "reference"):
        outs = [o.clone() for o in outputs]
        kernel(*inputs, *outs, config=config, backend=be)
        res.append(outs)
    for got, ref in zip(*res):
        if got.dtype in (torch.bool, torch.int32):
            assert torch.equal(got, ref)
        else:
            rtol, atol = TOL[dtype]
            torch.testing.assert_close(got.double(), ref.double(), rtol=rtol, atol=atol, equal_nan=True)
    return res[0]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=2)
@given(n=st.sampled_from([1, 5, 17, 33]), seed=st.integers(0, 1000))
def test_every_op(dtype, n, seed):
    dt = DT[dtype]
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g) * 3).to(dt)
    _against_reference(float_unary_kernel, [x], [poisoned((13, n), dt)], tl.Config(BLOCK_N=16), dtype)
    a = torch.randn(n, 7, generator=g).to(dt)
    b = torch.where(torch.rand(n, 7, generator=g) < 0.2, a.float(), torch.randn(n, 7, generator=g)).to(dt)
    a[0, 0] = float("nan")
    _against_reference(binary_kernel, [a, b], [poisoned((6, n, 7), dt), torch.zeros(8, n, 7, dtype=torch.bool)],
                       tl.Config(BLOCK_M=16, BLOCK_N=8), dtype)
    r = torch.randn(n, 37, generator=g).to(dt)
    gm, gn = -(-n // 16), -(-37 // 32)
    _against_reference(reduce_kernel, [r], [poisoned((3, n, gn), torch.float32), poisoned((3, gm, 37), torch.float32),
                                            poisoned((2, n, gn), torch.int32), poisoned((2, gm, 37), torch.int32)],
                       tl.Config(BLOCK_M=16, BLOCK_N=32), dtype)
    if dtype == "f32":
        xi = torch.randint(-1000, 1000, (n,), generator=g, dtype=torch.int32)
        yi = torch.randint(-9, 9, (n,), generator=g, dtype=torch.int32)
        yi[yi == 0] = 3
        _against_reference(int_kernel, [xi, yi], [poisoned((10, n), torch.int32)], tl.Config(BLOCK_N=16), dtype)
        s = torch.randn(n, 11, generator=g)
        outs = [poisoned((11, n), torch.float32), poisoned((n, 11), torch.float32), poisoned((n, 11), torch.float32)]
        got = _against_reference(shape_ops_kernel, [s], outs, tl.Config(BLOCK_M=16, BLOCK_N=8), dtype)
        assert torch.equal(got[0], 2 * s.T)


# ---- planted mistakes: each caught by the emulator with its message and the kernel's line ----------------------

def _add_inputs(n=64):
    x, y = torch.randn(n), torch.randn(n)
    return x, y, poisoned((n,), torch.float32)


def _planted(kernel, args, edit=None, config=None, **options):
    with pytest.raises(HardwareRuleError) as e:
        run(kernel, *args, config=config, edit=edit, **options)
    return e.value


def _replace_once(pattern: str, repl: str):
    def edit(src: str) -> str:
        out, n = re.subn(pattern, repl, src, count=1)
        assert n == 1, pattern
        return out
    return edit


def test_the_unplanted_kernels_run_clean():
    x, y, out = _add_inputs()
    run(K.add_kernel, x, y, out, config=tl.Config(BLOCK_N=64))
    assert_close(out, x.double() + y.double(), "f32")


def test_planted_missing_deque_is_caught():
    e = _planted(K.add_kernel, _add_inputs(), _replace_once(r"\n[^\n]*x = qi_x\.DeQue<float>\(\);", ""),
                 tl.Config(BLOCK_N=64))
    assert "still enqueued" in e.message
    assert e.loc.line == line_of(K.add_kernel, "out[n] =")


def test_planted_read_before_enque_deque_pair_is_caught():
    # the tensor is read straight after the copy, with its EnQue / DeQue moved after the read
    def edit(src):
        src = src.replace("qi_x.EnQue(x);", "", 1)
        return src.replace("x = qi_x.DeQue<float>();", "", 1).replace("qi_x.FreeTensor(x);",
                                                                       "qi_x.EnQue(x); x = qi_x.DeQue<float>(); qi_x.FreeTensor(x);", 1)
    e = _planted(K.add_kernel, _add_inputs(), edit, tl.Config(BLOCK_N=64))
    assert "written by PIPE_MTE2" in e.message and "MTE2_V" in e.message
    assert e.loc.line == line_of(K.add_kernel, "out[n] =")


def test_planted_missing_free_reuses_a_slot_in_flight():
    x = torch.randn(8, 128)  # four tiles along each row: the second AllocTensor finds the slot in flight
    e = _planted(K.softmax_kernel, (x, torch.empty_like(x)), _replace_once(r"qi_x\.FreeTensor\(x\);", ""),
                 tl.Config(BLOCK_M=8, BLOCK_N=32))
    assert "slot(s)" in e.message and "in flight" in e.message
    assert e.loc.line == line_of(K.softmax_kernel, "v = tl.load")


def test_planted_free_of_a_queued_tensor_is_caught():
    e = _planted(K.add_kernel, _add_inputs(), _replace_once(r"qo_out\.EnQue\(y\);", "qo_out.EnQue(y); qo_out.FreeTensor(y);"),
                 tl.Config(BLOCK_N=64))
    assert "FreeTensor of a tensor still in queue" in e.message


def test_planted_misaligned_copy_is_caught():
    # the UB destination one element past a 32-byte boundary
    e = _planted(K.add_kernel, _add_inputs(), _replace_once(r"DataCopyPad\(x, ", "DataCopyPad(x[1], "),
                 tl.Config(BLOCK_N=64))
    assert "not 32-byte aligned" in e.message
    assert e.loc.line == line_of(K.add_kernel, "out[n] =")


def test_planted_unaligned_datacopy_length_is_caught():
    # the plain DataCopy takes whole 32-byte blocks only (the hardware would round 60 bytes down)
    e = _planted(K.add_kernel, _add_inputs(), _replace_once(
        r"DataCopyPad\(x, (g_x\[[^\]]*\]), DataCopyExtParams\{1, 256, 0, 0, 0\}, [^;]*;", r"DataCopy(x, \1, 15);"),
        tl.Config(BLOCK_N=64))
    assert "not a multiple of 32" in e.message


def test_planted_oversized_buffer_is_caught():
    x = torch.randn(300, 300)
    e = _planted(K.softmax_kernel, (x, torch.empty_like(x)), None, tl.Config(BLOCK_M=128, BLOCK_N=128),
                 check_capacity=False)
    assert "bytes of UB, which holds 196608" in e.message
    assert e.loc.file == inspect.getsourcefile(K.softmax_kernel.fn)


def test_planted_repeat_count_over_255_is_caught():
    # a 128 x 128 f32 tile is 256 repeats of 256 bytes: the renderer splits each vector instruction
    # at 255 repeats; rendered without that split, the emulator refuses the copy out of the queue
    x = torch.randn(130, 128)
    e = _planted(K.rowsum_whole_kernel, (x, poisoned((130,), torch.float32)), None, tl.Config(BLOCK_M=128),
                 split_repeats=False)
    assert "256 repeats" in e.message and "at most 255" in e.message
    assert e.loc.line == line_of(K.rowsum_whole_kernel, "out[m] = tl.sum")


def test_split_repeats_keep_big_tiles_legal():
    x = torch.randn(130, 128)
    out = poisoned((130,), torch.float32)
    r = run(K.rowsum_whole_kernel, x, out, config=tl.Config(BLOCK_M=128))
    assert "[16320]" in r.source  # the second chunk of a 16384-element instruction
    assert_close(out, x.double().sum(1), "f32", 128)


def test_planted_non_fractal_cube_shape_is_caught():
    a, b = torch.randn(32, 32).half(), torch.randn(32, 32).half()
    c = poisoned((32, 32), torch.float16)
    e = _planted(matmul_kernel, (a, b, c), _replace_once(r"MmadParams\{32, 32, 32,", "MmadParams{32, 32, 24,"),
                 tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32))
    assert "fractals" in e.message and "k = 24" in e.message
    assert e.loc.line == line_of(matmul_kernel, "acc += ")


def test_planted_missing_vector_barrier_is_caught():
    x = torch.randn(64, 64)
    out = poisoned((64,), torch.float32)
    e = _planted(K.rowsum_whole_kernel, (x, out), _replace_once(r"\n[^\n]*PipeBarrier<PIPE_V>\(\);", ""),
                 tl.Config(BLOCK_M=16))
    assert "PipeBarrier<PIPE_V>" in e.message


def test_planted_missing_flag_between_pipes_is_caught():
    x = torch.randn(19, 45)
    e = _planted(K.softmax_kernel, (x, torch.empty_like(x)),
                 _replace_once(r"SetFlag<HardEvent::V_S>\(0\); WaitFlag<HardEvent::V_S>\(0\);", ""))
    assert "V_S" in e.message or "PIPE_V" in e.message


# ---- ahead of time ---------------------------------------------------------------------------------------------------

def test_aot_ascend_910b(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", "stdlib/gemm.py::matmul_kernel",
                        "--target", "ascend:910b", "--dtype", "f16", "-o", str(tmp_path)],
                       capture_output=True, text=True, cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "matmul_kernel.json").read_text())
    assert m["target"] == "ascend:910b" and m["ascend"]["kernel_type"] == "aic"
    for f in m["files"]:
        assert (tmp_path / f).exists(), f
    src = (tmp_path / "matmul_kernel.cpp").read_text()
    assert '#include "kernel_operator.h"' in src and "Mmad(" in src
    assert (tmp_path / "matmul_kernel.emu.o").stat().st_size > 0


def test_the_cube_route_refuses_a_strided_operand_inside_the_kernel():
    """The Python launcher refuses a strided Cube operand (tested above); the kernel itself does too
    (TL_REQUIRE), for launches from C."""
    from tilelang.backends.ascend import emu

    sig = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    rendered = render_ascend(program(matmul_kernel, sig, tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32)))
    rendered.unit_stride = []
    launch = emu.launcher(rendered, emu.build(rendered), 20)
    a, b = torch.randn(32, 32).half(), torch.randn(32, 32).half()
    with pytest.raises(HardwareRuleError, match="unit stride") as e:
        launch({"a": a, "b": b.t(), "c": poisoned((32, 32), torch.float16)}, {"M": 32, "K": 32, "N": 32}, 1)
    assert e.value.loc.line == line_of(matmul_kernel, "acc += ")


def test_aot_c_library_runs_the_emulator_build(tmp_path):
    """The C launcher library links the emulator build (c-call ABI) and computes softmax from C."""
    import shutil
    import subprocess

    import numpy as np

    from test_aot_c import KERNELS_FILE, SOFTMAX_MAIN, tilelang_compile

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "mykernels.py"
    src.write_text(KERNELS_FILE)
    tilelang_compile(f"{src}::softmax", "--target", "ascend:910b", "--dtype", "f32", "-o", str(tmp_path / "b"))
    b = tmp_path / "b"
    (b / "main.c").write_text(SOFTMAX_MAIN.replace("LIB.h", "softmax.h"))
    exe = b / "main"
    r = subprocess.run(["gcc", "-std=c11", "-O1", f"-I{b}", str(b / "main.c"), str(b / "softmax.c"),
                        str(b / "softmax.emu.o"), "-lstdc++", "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    M, N = 37, 45
    x = np.random.default_rng(0).standard_normal((M, N)).astype(np.float32) * 3
    x.tofile(tmp_path / "x.bin")
    r = subprocess.run([str(exe), str(M), str(N), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr
    y = np.fromfile(tmp_path / "y.bin", dtype=np.float32).reshape(M, N)
    assert_close(torch.from_numpy(y), torch.softmax(torch.from_numpy(x).double(), 1), "f32", N)


# ---- the rest of the stdlib ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,activation", [("f32", "gelu"), ("f16", "relu")])
def test_stdlib_matmul_epilogue(dtype, activation):
    from tilelang.stdlib.gemm import matmul

    torch.manual_seed(5)
    a, b, bias = torch.randn(33, 40).to(DT[dtype]), torch.randn(40, 17).to(DT[dtype]), torch.randn(17).to(DT[dtype])
    y = a.double() @ b.double() + bias.double()
    expected = torch.nn.functional.gelu(y) if activation == "gelu" else torch.relu(y)
    assert_close(matmul(a, b, bias=bias, activation=activation, backend="ascend"), expected, dtype, 40)


def test_stdlib_norms_and_softmax():
    from tilelang.stdlib.norm import layer_norm, rms_norm
    from tilelang.stdlib.softmax import softmax

    torch.manual_seed(6)
    x, w, b = torch.randn(7, 45), torch.randn(45), torch.randn(45)
    assert_close(layer_norm(x, (45,), w, b, backend="ascend"),
                 torch.nn.functional.layer_norm(x.double(), (45,), w.double(), b.double()), "f32", 45)
    assert_close(rms_norm(x, (45,), w, eps=1e-6, backend="ascend"),
                 torch.nn.functional.rms_norm(x.double(), (45,), w.double(), eps=1e-6), "f32", 45)
    x16 = (torch.randn(5, 3, 37) * 2).half()
    assert_close(softmax(x16, dim=1, backend="ascend"), torch.softmax(x16.double(), 1), "f16", 3)


def test_stdlib_kmeans_assign_and_the_refused_accumulation():
    import importlib

    km = importlib.import_module("tilelang.stdlib.kmeans")
    torch.manual_seed(7)
    p, c = torch.randn(50, 6), torch.randn(9, 6)
    got = km.kmeans_assign(p, c, backend="ascend")
    d = (c.double() ** 2).sum(1)[None, :] - 2 * p.double() @ c.double().T
    assert torch.equal(got, d.argmin(1))
    # the update step accumulates with f64 atomics, which the explicit-memory level does not lower
    with pytest.raises(BackendError, match="atomic") as e:
        km.kmeans(p, 4, iters=1, backend="ascend")
    assert e.value.loc is not None and e.value.loc.line > 0


def test_stdlib_lightning_attention_forward_and_backward(monkeypatch):
    import test_stdlib_lightning as lt
    from tilelang.stdlib import lightning

    monkeypatch.setattr(lightning, "_new_output", lambda like: poisoned(like.shape, like.dtype, like.device))
    q, k, v, decay, grad_o = lt.inputs(1, 2, 19, 8, 12, "f32", 0)
    lt.check_forward_backward(q, k, v, decay, grad_o, "f32", "ascend", lt.SMALL)


def test_stdlib_kernels_the_level_does_not_lower_are_refused_where_they_are():
    """flash_attention (runtime-bounded key loops) and moe (cumsum in the routing): located errors."""
    from tilelang.stdlib import flash_attention
    from tilelang.stdlib.moe import moe

    q = torch.randn(1, 2, 19, 16)
    with pytest.raises(BackendError, match="runtime bounds") as e:
        flash_attention(q, q, q, causal=True, backend="ascend")
    assert e.value.loc is not None and e.value.loc.file.endswith("attention_kernels.py")
    x, logits = torch.randn(9, 16), torch.randn(9, 4)
    with pytest.raises(BackendError, match="does not lower") as e:
        moe(x, logits, torch.randn(4, 16, 16), torch.randn(4, 8, 16), 2, block_m=8, backend="ascend")
    assert e.value.loc is not None

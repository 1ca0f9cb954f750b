"""Tensor-core fragments: which lane of a warp (wavefront) and which of its registers holds element
(i, j) of a matrix-instruction operand or accumulator tile, and the matrix instructions that use
them. Target-neutral: NVIDIA's mma.sync and AMD's MFMA are entries of the same two tables.

A `FragmentLayout` is written once, as two expressions of `lane` and `reg` (the register slot
within the lane, counted in elements) giving the element's row and column. The expressions use
only `+ * >> & |` on non-negative integers, which mean the same in Python (on numpy arrays) and in
C, so the interpreter evaluates exactly the text the renderers paste into generated code.
`table()` inverts it and proves it a bijection between (lane, reg) and the tile's elements.

A `FragmentMap` is a thread map of the explicit-memory level (memir/nodes.py): it distributes a
2-D register tile [R, C] over `warps` = (wm, wn) warps, each owning an (R/wm) x (C/wn) block that
it covers with fragments of the layout, row-major; thread = warp * lanes + lane, and the thread's
register slot of element (i, j) is fragment index * regs + reg. Printed `fragment NAME [wm, wn]`.

An `MMAInstr` says a warp computes D[m, n] = A[m, k] @ B[k, n] + C[m, n] with A, B and C/D in the
named layouts (A and B read from shared memory, C/D in registers). The lowering
(passes/lower_memory.py) gives a `dot` whose operands and shapes fit an instruction the
instruction's accumulator map; the memory-level interpreter (backends/reference/meminterp.py)
runs it lane by lane through these tables.

To add a target's instructions (e.g. AMD MFMA), `register_layout` its A/B/C layouts and
`register_mma` the instruction, giving the `targets` whose renderers implement it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tilelang.errors import TileLangError


@dataclass(frozen=True, slots=True)
class FragmentLayout:
    name: str
    rows: int
    cols: int
    lanes: int  # threads of one warp / wavefront
    regs: int  # elements each lane holds
    row: str  # expression of `lane` and `reg`: the row of the element in (lane, reg)
    col: str
    doc: str = ""

    def element(self, lane, reg):
        """(row, col) of the element in register `reg` of `lane` (ints or integer numpy arrays)."""
        env = {"__builtins__": {}, "lane": lane, "reg": reg}
        return eval(self.row, env), eval(self.col, env)  # noqa: S307 - registered constant text

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(lane[i, j], reg[i, j]) over the tile; raises unless the layout is a bijection."""
        return _tables(self)

    def _build_tables(self) -> tuple[np.ndarray, np.ndarray]:
        lane, reg = np.meshgrid(np.arange(self.lanes), np.arange(self.regs), indexing="ij")
        r, c = self.element(lane, reg)
        r, c = np.broadcast_to(r, lane.shape), np.broadcast_to(c, lane.shape)
        if self.lanes * self.regs != self.rows * self.cols or r.min() < 0 or c.min() < 0 or \
                r.max() >= self.rows or c.max() >= self.cols:
            raise TileLangError(f"fragment layout {self.name}: (lane, reg) do not cover a "
                                f"{self.rows}x{self.cols} tile")
        lane_of = np.full((self.rows, self.cols), -1, dtype=np.int64)
        reg_of = np.full((self.rows, self.cols), -1, dtype=np.int64)
        lane_of[r, c], reg_of[r, c] = lane, reg
        if (lane_of < 0).any():
            raise TileLangError(f"fragment layout {self.name} puts two (lane, register) pairs on one element")
        lane_of.flags.writeable = reg_of.flags.writeable = False
        return lane_of, reg_of


@functools.lru_cache(maxsize=None)
def _tables(layout: FragmentLayout):
    return layout._build_tables()


@dataclass(frozen=True, slots=True)
class MMAInstr:
    name: str
    m: int
    n: int
    k: int
    a: str  # layout names
    b: str
    c: str
    in_dtypes: tuple[str, ...]  # A and B element dtype (both the same)
    acc_dtype: str
    targets: tuple[str, ...]  # renderers that implement it (a "cuda:sm_80" style prefix match)
    doc: str = ""


LAYOUTS: dict[str, FragmentLayout] = {}
MMAS: dict[str, MMAInstr] = {}


def register_layout(layout: FragmentLayout) -> FragmentLayout:
    if layout.name in LAYOUTS:
        raise ValueError(f"fragment layout {layout.name} is registered twice")
    layout.table()  # prove it a bijection now, not when a kernel first uses it
    LAYOUTS[layout.name] = layout
    return layout


def register_mma(instr: MMAInstr) -> MMAInstr:
    a, b, c = LAYOUTS[instr.a], LAYOUTS[instr.b], LAYOUTS[instr.c]
    if (a.rows, a.cols, b.rows, b.cols, c.rows, c.cols) != (instr.m, instr.k, instr.k, instr.n, instr.m, instr.n):
        raise ValueError(f"mma {instr.name}: layouts do not fit m{instr.m}n{instr.n}k{instr.k}")
    if not a.lanes == b.lanes == c.lanes:
        raise ValueError(f"mma {instr.name}: layouts of different warp sizes")
    MMAS[instr.name] = instr
    return instr


def layout(name: str) -> FragmentLayout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise TileLangError(f"unknown fragment layout `{name}` (registered: {', '.join(sorted(LAYOUTS))})") from None


def mma_for_accumulator(c_layout: str, in_dtype: str) -> MMAInstr | None:
    """The instruction whose accumulator layout is `c_layout` and that takes `in_dtype` operands."""
    for instr in MMAS.values():
        if instr.c == c_layout and in_dtype in instr.in_dtypes:
            return instr
    return None


def mma_of(stmt, bufs: dict) -> MMAInstr | None:
    """The matrix instruction a statement runs on: a 2-D `dot` under a fragment map whose
    accumulator layout has an instruction for the operands' dtype and whose k divides the inner
    size (`bufs`: name -> memir Buffer). None: a SIMT statement."""
    value = getattr(stmt, "value", None)
    if not (isinstance(getattr(stmt, "map", None), FragmentMap) and getattr(value, "name", None) == "dot"):
        return None
    a, b = (bufs[x.name] for x in value.args)
    if a.dtype != b.dtype or len(a.shape) != 2 or len(b.shape) != 2:
        return None
    instr = mma_for_accumulator(stmt.map.layout, a.dtype)
    return instr if instr is not None and a.shape[1] % instr.k == 0 else None


def pick_mma(a_dtype: str, b_dtype: str, out_dtype: str, shape_m: int, shape_n: int, shape_k: int,
             threads: int, target: str) -> tuple[MMAInstr, tuple[int, int]] | None:
    """An instruction for a [M, K] @ [K, N] dot on a block of `threads` threads, and the warp
    grid (wm, wn) that tiles [M, N] with it, or None (the dot stays a SIMT loop). Prefers the
    squarest warp grid."""
    if a_dtype != b_dtype:
        return None
    for instr in MMAS.values():
        lanes = LAYOUTS[instr.c].lanes
        if a_dtype not in instr.in_dtypes or out_dtype != instr.acc_dtype or threads % lanes or \
                not any(target.startswith(t) for t in instr.targets) or shape_k % instr.k:
            continue
        warps = threads // lanes
        grids = [(wm, warps // wm) for wm in range(1, warps + 1) if warps % wm == 0]
        grids.sort(key=lambda g: abs(np.log2(g[0]) - np.log2(g[1])))
        for wm, wn in grids:
            if shape_m % (wm * instr.m) == 0 and shape_n % (wn * instr.n) == 0:
                return instr, (wm, wn)
    return None


@dataclass(frozen=True, slots=True)
class FragmentMap:
    """The thread map of a register tile held as fragments of `layout` by a (wm, wn) warp grid."""

    layout: str
    warps: tuple[int, int]

    def __str__(self) -> str:
        return f"fragment {self.layout} [{self.warps[0]}, {self.warps[1]}]"

    def check(self, shape, threads: int) -> str | None:
        """Why this map does not fit a [R, C] tile on `threads` threads (None if it does)."""
        lay = LAYOUTS.get(self.layout)
        if lay is None:
            return f"unknown fragment layout `{self.layout}`"
        wm, wn = self.warps
        if len(shape) != 2:
            return f"a fragment map needs a 2-D tile, not {list(shape)}"
        if wm * wn * lay.lanes != threads:
            return f"{wm}x{wn} warps of {lay.lanes} lanes are not the block's {threads} threads"
        if shape[0] % (wm * lay.rows) or shape[1] % (wn * lay.cols):
            return (f"a {shape[0]}x{shape[1]} tile is not covered by {wm}x{wn} warps of "
                    f"{lay.rows}x{lay.cols} fragments")
        return None

    def per_thread(self, shape) -> int:
        return shape[0] * shape[1] // (self.warps[0] * self.warps[1] * LAYOUTS[self.layout].lanes)

    def grid(self, shape) -> tuple[int, int]:
        """Fragments per warp along rows and columns."""
        lay = LAYOUTS[self.layout]
        return shape[0] // self.warps[0] // lay.rows, shape[1] // self.warps[1] // lay.cols

    def owners(self, shape) -> tuple[np.ndarray, np.ndarray]:
        """(thread[i, j], slot[i, j]) of every element of a [R, C] tile."""
        lay = LAYOUTS[self.layout]
        lane_of, reg_of = lay.table()
        R, C = shape
        wm, wn = self.warps
        br, bc = R // wm, C // wn  # one warp's block
        fm, fn = self.grid(shape)
        i, j = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
        warp = (i // br) * wn + j // bc
        frag = ((i % br) // lay.rows) * fn + (j % bc) // lay.cols
        fi, fj = i % lay.rows, j % lay.cols
        return warp * lay.lanes + lane_of[fi, fj], frag * lay.regs + reg_of[fi, fj]


def issue_order(tmap, shape) -> np.ndarray | None:
    """Row-major element ids in the order a fragment map's warps issue them: one warp
    instruction per slot, its lanes consecutive (None for the cyclic map, already in that order)."""
    if not isinstance(tmap, FragmentMap):
        return None
    thread, slot = tmap.owners(shape)
    lanes = LAYOUTS[tmap.layout].lanes
    return np.lexsort(((thread % lanes).ravel(), slot.ravel(), (thread // lanes).ravel()))


# ---- NVIDIA mma.sync.aligned.m16n8k16 (sm_80 and later), PTX ISA "Matrix Fragments for mma.m16n8k16" --
# groupID = lane >> 2, threadID_in_group = lane & 3. Each lane holds 8 A halves, 4 B halves and 4
# f32 accumulators.

MMA_M16N8K16_A = register_layout(FragmentLayout(
    "mma_m16n8k16_a", 16, 16, 32, 8,
    row="(lane >> 2) + 8 * ((reg >> 1) & 1)", col="(lane & 3) * 2 + (reg & 1) + 8 * (reg >> 2)",
    doc="A operand (row-major 16x16 f16/bf16): a0..a7 of mma.m16n8k16"))
MMA_M16N8K16_B = register_layout(FragmentLayout(
    "mma_m16n8k16_b", 16, 8, 32, 4,
    row="(lane & 3) * 2 + (reg & 1) + 8 * (reg >> 1)", col="lane >> 2",
    doc="B operand (16x8, 'col': each lane's pairs run down a column): b0..b3 of mma.m16n8k16"))
MMA_M16N8K16_C = register_layout(FragmentLayout(
    "mma_m16n8k16_c", 16, 8, 32, 4,
    row="(lane >> 2) + 8 * (reg >> 1)", col="(lane & 3) * 2 + (reg & 1)",
    doc="C/D accumulator (16x8 f32): c0..c3 of mma.m16n8k16"))

register_mma(MMAInstr("mma_m16n8k16_f16_f32", 16, 8, 16, "mma_m16n8k16_a", "mma_m16n8k16_b",
                      "mma_m16n8k16_c", ("f16",), "f32", ("cuda",),
                      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"))
register_mma(MMAInstr("mma_m16n8k16_bf16_f32", 16, 8, 16, "mma_m16n8k16_a", "mma_m16n8k16_b",
                      "mma_m16n8k16_c", ("bf16",), "f32", ("cuda",),
                      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"))


def run_mma(instr: MMAInstr, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`instr` on [..., m, k] A tiles and [..., k, n] B tiles (leading dims broadcast, one warp
    each), lane by lane: each lane's registers are filled from the tiles through the A and B
    layouts, and accumulator (i, j) is summed over k (in order, in the accumulator's dtype) from the
    lanes and registers that hold A[i, k] and B[k, j]. A wrong table gives a wrong product or
    raises; it is not papered over by a matmul."""
    la, lb, lc = LAYOUTS[instr.a], LAYOUTS[instr.b], LAYOUTS[instr.c]
    acc = np.float32 if instr.acc_dtype == "f32" else np.float64

    def registers(lay, tile):
        lane, reg = np.meshgrid(np.arange(lay.lanes), np.arange(lay.regs), indexing="ij")
        r, c = lay.element(lane, reg)
        return tile[..., r, c].astype(acc)  # [..., lanes, regs]

    a_regs, b_regs = registers(la, a), registers(lb, b)
    a_lane, a_reg = la.table()
    b_lane, b_reg = lb.table()
    av = a_regs[..., a_lane, a_reg]  # A[i, k] as the lane holding it has it: [..., m, k]
    bv = b_regs[..., b_lane, b_reg]  # [..., k, n]
    lane, reg = np.meshgrid(np.arange(lc.lanes), np.arange(lc.regs), indexing="ij")
    ci, cj = lc.element(lane, reg)
    shape = np.broadcast_shapes(av.shape[:-2], bv.shape[:-2])
    out = np.zeros(shape + (lc.lanes, lc.regs), dtype=acc)
    for kk in range(instr.k):
        out += av[..., ci, kk] * bv[..., kk, cj]
    d = np.empty(shape + (instr.m, instr.n), dtype=acc)
    d[..., ci, cj] = out
    return d


def run_fragment_dot(instr: MMAInstr, fmap: FragmentMap, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A [M, K] @ [K, N] tile product as the warps of `fmap` compute it with `instr`: every
    fragment of the result accumulates one `run_mma` per k-step of instr.k, in k order."""
    M_, K_ = a.shape
    N_ = b.shape[1]
    m, n, k = instr.m, instr.n, instr.k
    a4 = a.reshape(M_ // m, m, K_ // k, k).transpose(0, 2, 1, 3)  # [Mt, Kt, m, k]
    b4 = b.reshape(K_ // k, k, N_ // n, n).transpose(0, 2, 1, 3)  # [Kt, Nt, k, n]
    acc = np.zeros((M_ // m, N_ // n, m, n), dtype=np.float32 if instr.acc_dtype == "f32" else np.float64)
    for kt in range(K_ // k):
        acc += run_mma(instr, a4[:, kt][:, None], b4[kt][None, :])
    return acc.transpose(0, 2, 1, 3).reshape(M_, N_)


def operand_readers(instr: MMAInstr, fmap: FragmentMap, out_shape, k_size: int, many: int):
    """(threads[M, K] reading A, threads[K, N] reading B) for a fragment dot: the lane the A (B)
    layout gives, in the warp whose block needs that row (column); `many` where several warps do."""
    la, lb = LAYOUTS[instr.a], LAYOUTS[instr.b]
    M_, N_ = out_shape
    wm, wn = fmap.warps
    i, kk = np.meshgrid(np.arange(M_), np.arange(k_size), indexing="ij")
    a_thr = ((i // (M_ // wm)) * wn) * la.lanes + la.table()[0][i % la.rows, kk % la.cols]
    if wn > 1:
        a_thr = np.full_like(a_thr, many)
    kk, j = np.meshgrid(np.arange(k_size), np.arange(N_), indexing="ij")
    b_thr = (j // (N_ // wn)) * lb.lanes + lb.table()[0][kk % lb.rows, j % lb.cols]
    if wm > 1:
        b_thr = np.full_like(b_thr, many)
    return a_thr, b_thr


# ---- AMD MFMA (CDNA2 gfx90a, CDNA3 gfx94x), wave64 ------------------------------------------------------
# From AMD's matrix instruction layouts ("AMD matrix instruction calculator"): for
# v_mfma_f32_32x32x8{f16,bf16_1k}, A[i][k] is register k % 4 of lane i + 32 * (k / 4), B[k][j]
# register k % 4 of lane j + 32 * (k / 4), and D[i][j] register (i % 4) + 4 * (i / 8) of lane
# j + 32 * ((i / 4) % 2); for v_mfma_f32_16x16x16{f16,bf16_1k}, A[i][k] is register k % 4 of lane
# i + 16 * (k / 4), B likewise, D[i][j] register i % 4 of lane j + 16 * (i / 4).

register_layout(FragmentLayout(
    "mfma_32x32x8_a", 32, 8, 64, 4, row="lane & 31", col="(lane >> 5) * 4 + reg",
    doc="A operand of v_mfma_f32_32x32x8 (4 f16/bf16 per lane)"))
register_layout(FragmentLayout(
    "mfma_32x32x8_b", 8, 32, 64, 4, row="(lane >> 5) * 4 + reg", col="lane & 31",
    doc="B operand of v_mfma_f32_32x32x8"))
register_layout(FragmentLayout(
    "mfma_32x32x8_c", 32, 32, 64, 16, row="(reg >> 2) * 8 + (lane >> 5) * 4 + (reg & 3)", col="lane & 31",
    doc="C/D accumulator of v_mfma_f32_32x32x8 (16 f32 per lane)"))
register_layout(FragmentLayout(
    "mfma_16x16x16_a", 16, 16, 64, 4, row="lane & 15", col="(lane >> 4) * 4 + reg",
    doc="A operand of v_mfma_f32_16x16x16 (4 f16/bf16 per lane)"))
register_layout(FragmentLayout(
    "mfma_16x16x16_b", 16, 16, 64, 4, row="(lane >> 4) * 4 + reg", col="lane & 15",
    doc="B operand of v_mfma_f32_16x16x16"))
register_layout(FragmentLayout(
    "mfma_16x16x16_c", 16, 16, 64, 4, row="(lane >> 4) * 4 + reg", col="lane & 15",
    doc="C/D accumulator of v_mfma_f32_16x16x16 (4 f32 per lane)"))

# The 32x32 instructions first: pick_mma takes the first that fits.
register_mma(MMAInstr("mfma_f32_32x32x8f16", 32, 32, 8, "mfma_32x32x8_a", "mfma_32x32x8_b", "mfma_32x32x8_c",
                      ("f16",), "f32", ("hip",), "v_mfma_f32_32x32x8f16"))
register_mma(MMAInstr("mfma_f32_32x32x8bf16_1k", 32, 32, 8, "mfma_32x32x8_a", "mfma_32x32x8_b", "mfma_32x32x8_c",
                      ("bf16",), "f32", ("hip",), "v_mfma_f32_32x32x8bf16_1k (gfx940: v_mfma_f32_32x32x8_bf16)"))
register_mma(MMAInstr("mfma_f32_16x16x16f16", 16, 16, 16, "mfma_16x16x16_a", "mfma_16x16x16_b", "mfma_16x16x16_c",
                      ("f16",), "f32", ("hip",), "v_mfma_f32_16x16x16f16"))
register_mma(MMAInstr("mfma_f32_16x16x16bf16_1k", 16, 16, 16, "mfma_16x16x16_a", "mfma_16x16x16_b",
                      "mfma_16x16x16_c", ("bf16",), "f32", ("hip",),
                      "v_mfma_f32_16x16x16bf16_1k (gfx940: v_mfma_f32_16x16x16_bf16)"))

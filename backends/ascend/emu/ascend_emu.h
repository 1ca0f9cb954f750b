// A strict CPU emulation of exactly the Ascend C subset tilelang's renderer emits
// (backends/ascend/render.py), for 910B-class AI cores. Compiled with g++ (C++20), one
// translation unit per kernel. It computes what the API computes and refuses what the hardware
// forbids, reporting each violation with the kernel's source line (the generated code carries
// `#line` directives, and every API entry point takes a defaulted std::source_location):
//
//   - 32-byte alignment of UB/L1 operands, DataCopy lengths that are multiples of 32 bytes;
//   - buffer capacities: UB 192 KB, L1 512 KB, L0A / L0B 64 KB, L0C 128 KB;
//   - vector repeat counts <= 255 (256 bytes per repeat), extents inside the tensor;
//   - Cube operands in whole 16x16 fractals (M, N multiples of 16, K of 32 bytes), m, n, k <= 4095;
//   - the synchronization discipline, as a happens-before checker: each instruction runs on a
//     pipe (S, V, M, MTE1, MTE2, MTE3, FIX); pipes order only through EnQue/DeQue,
//     AllocTensor/FreeTensor, SetFlag/WaitFlag and PipeBarrier (vector clocks). A read or
//     write of UB/L1/L0 memory whose last conflicting access on another pipe is not ordered
//     before it is an error, and so is a dependent vector op without PipeBarrier<PIPE_V> (stricter
//     than a part whose vector pipe happens to run in order), a tensor read while still in its
//     queue, a slot allocated while all of the queue's slots are in flight, FreeTensor of a tensor
//     still queued, DeQue of an empty queue, a tensor used after FreeTensor, and tensors or flags
//     left pending when the core finishes.
//
// Not modelled: timing, GM hazards between pipes (the compiler's soundness pass keeps programs
// from reading what other programs write), bit-exact hardware transcendentals (C math is used).
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <stdio.h>

#include <algorithm>
#include <deque>
#include <source_location>
#include <string>
#include <vector>

#define __aicore__
#define __global__
#define __gm__
#define __inline__ inline
typedef uint8_t* GM_ADDR;
typedef _Float16 half;

struct bfloat16_t {
  uint16_t bits;
};
inline float emu_bf16_to_f32(bfloat16_t h) {
  uint32_t u = (uint32_t)h.bits << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline bfloat16_t emu_f32_to_bf16(float x) {  // round to nearest even, NaN kept quiet
  uint32_t u;
  memcpy(&u, &x, 4);
  bfloat16_t h;
  if (x != x) { h.bits = (uint16_t)((u >> 16) | 0x40); return h; }
  u += 0x7FFF + ((u >> 16) & 1);
  h.bits = (uint16_t)(u >> 16);
  return h;
}

namespace AscendC {

using SL = std::source_location;

struct Violation {
  std::string message;
  std::string file;
  unsigned line;
};
[[noreturn]] inline void fail(const SL& at, const std::string& message) {
  throw Violation{message, at.file_name(), (unsigned)at.line()};
}

// ---- pipes, events, the happens-before state ------------------------------------------------------
enum pipe_t { PIPE_S = 0, PIPE_V, PIPE_M, PIPE_MTE1, PIPE_MTE2, PIPE_MTE3, PIPE_FIX, PIPE_ALL };
constexpr int NPIPES = 7;
inline const char* pipe_name(int p) {
  static const char* n[] = {"PIPE_S", "PIPE_V", "PIPE_M", "PIPE_MTE1", "PIPE_MTE2", "PIPE_MTE3", "PIPE_FIX", "PIPE_ALL"};
  return n[p];
}
#define TL_EVENT(src, dst) src##_##dst = (PIPE_##src * 8 + PIPE_##dst)
enum class HardEvent {
  TL_EVENT(MTE2, V), TL_EVENT(V, MTE2), TL_EVENT(MTE3, V), TL_EVENT(V, MTE3), TL_EVENT(V, S), TL_EVENT(S, V),
  TL_EVENT(MTE2, S), TL_EVENT(S, MTE2), TL_EVENT(MTE3, S), TL_EVENT(S, MTE3), TL_EVENT(MTE2, MTE3),
  TL_EVENT(MTE3, MTE2), TL_EVENT(MTE2, MTE1), TL_EVENT(MTE1, MTE2), TL_EVENT(MTE1, M), TL_EVENT(M, MTE1),
  TL_EVENT(M, FIX), TL_EVENT(FIX, M), TL_EVENT(FIX, S), TL_EVENT(S, FIX), TL_EVENT(MTE2, M), TL_EVENT(M, MTE2),
  TL_EVENT(FIX, MTE2), TL_EVENT(MTE2, FIX), TL_EVENT(S, M), TL_EVENT(M, S), TL_EVENT(S, MTE1), TL_EVENT(MTE1, S),
};
#undef TL_EVENT

enum class TPosition { GM, VECIN, VECOUT, VECCALC, A1, B1, A2, B2, CO1 };
enum Arena { UB = 0, L1, L0A, L0B, L0C, NARENAS };
inline const char* arena_name(int a) {
  static const char* n[] = {"UB", "L1", "L0A", "L0B", "L0C"};
  return n[a];
}
constexpr uint32_t CAPACITY[NARENAS] = {192 * 1024, 512 * 1024, 64 * 1024, 64 * 1024, 128 * 1024};
constexpr uint32_t BLOCK = 32;  // tracking granule: one 32-byte data block

inline Arena arena_of(TPosition p) {
  switch (p) {
    case TPosition::A1: case TPosition::B1: return L1;
    case TPosition::A2: return L0A;
    case TPosition::B2: return L0B;
    case TPosition::CO1: return L0C;
    default: return UB;
  }
}
// (producer, consumer) pipes of a queue position: EnQue/DeQue order producer -> consumer,
// FreeTensor/AllocTensor order consumer -> producer.
inline void queue_pipes(TPosition p, int& prod, int& cons) {
  switch (p) {
    case TPosition::VECIN: prod = PIPE_MTE2; cons = PIPE_V; return;
    case TPosition::VECOUT: prod = PIPE_V; cons = PIPE_MTE3; return;
    case TPosition::A1: case TPosition::B1: prod = PIPE_MTE2; cons = PIPE_MTE1; return;
    case TPosition::A2: case TPosition::B2: prod = PIPE_MTE1; cons = PIPE_M; return;
    case TPosition::CO1: prod = PIPE_M; cons = PIPE_FIX; return;
    default: prod = cons = PIPE_V; return;
  }
}

struct Clock {
  uint64_t t[NPIPES] = {};
  void join(const Clock& o) { for (int i = 0; i < NPIPES; ++i) t[i] = std::max(t[i], o.t[i]); }
};

struct Granule {
  bool written = false;
  int8_t wpipe = -1;
  uint64_t wtime = 0, wvbar = 0;
  unsigned wline = 0;
  uint64_t rtime[NPIPES] = {};
};

enum SlotState { FREE = 0, ALLOCATED, QUEUED, DEQUEUED };
inline const char* state_name(int s) {
  static const char* n[] = {"free", "allocated", "enqueued", "dequeued"};
  return n[s];
}
struct Slot {
  SlotState state = FREE;
  Clock released;  // consumer's clock at FreeTensor
  Clock produced;  // producer's clock at EnQue
  const char* queue = "";
};

struct Flag {
  bool set = false;
  Clock at;
  unsigned line = 0;
};

struct Core {
  int64_t block_idx = 0, block_num = 1;
  std::vector<uint8_t> mem[NARENAS];
  std::vector<Granule> gran[NARENAS];
  uint32_t used[NARENAS] = {};
  Clock clk[NPIPES];
  uint64_t vbar = 1;  // PipeBarrier<PIPE_V> epoch
  std::vector<Slot> slots;
  std::vector<Flag> flags;  // (event, id)
  bool used_cube = false, used_vector = false;
  Core() { flags.resize(64 * 8 * 8); }
  void open(Arena a) {  // memories are allocated when a buffer is first placed in them
    if (mem[a].empty()) {
      mem[a].assign(CAPACITY[a], 0);
      gran[a].assign(CAPACITY[a] / BLOCK, Granule{});
    }
  }
  uint64_t tick(int pipe) { return ++clk[pipe].t[pipe]; }
};
inline thread_local Core* core = nullptr;

inline int64_t GetBlockIdx() { return core->block_idx; }
inline int64_t GetBlockNum() { return core->block_num; }

// One access by `pipe` of bytes [off, off + len) of an arena: the happens-before check.
inline void touch(Arena a, uint32_t off, uint32_t len, int pipe, bool write, const SL& at, const char* what) {
  if (len == 0) return;
  if ((uint64_t)off + len > CAPACITY[a])
    fail(at, std::string(what) + ": access past the end of " + arena_name(a));
  if (pipe == PIPE_V) core->used_vector = true;
  if (pipe == PIPE_M) core->used_cube = true;
  if (core->used_vector && core->used_cube)
    fail(at, std::string(what) + ": a 910B AI core runs Cube (AIC) or Vector (AIV) instructions, not both; this "
             "kernel issues both on one core");
  uint64_t now = core->tick(pipe);
  const Clock& c = core->clk[pipe];
  for (uint32_t g = off / BLOCK; g <= (off + len - 1) / BLOCK; ++g) {
    Granule& s = core->gran[a][g];
    if (!write && !s.written)
      fail(at, std::string(what) + ": reads " + arena_name(a) + " bytes at offset " + std::to_string(g * BLOCK) +
                   " that nothing wrote");
    if (s.written && s.wpipe >= 0) {
      bool ordered = s.wpipe == pipe ? (pipe != PIPE_V || core->vbar > s.wvbar) : c.t[s.wpipe] >= s.wtime;
      if (!ordered) {
        std::string hint = s.wpipe == pipe ? "PipeBarrier<PIPE_V>() between dependent vector instructions"
                                           : std::string("EnQue/DeQue or SetFlag/WaitFlag<") +
                                                 (pipe_name(s.wpipe) + 5) + "_" + (pipe_name(pipe) + 5) + ">";
        fail(at, std::string(what) + (write ? ": overwrites " : ": reads ") + arena_name(a) + " data written by " +
                     pipe_name(s.wpipe) + " at line " + std::to_string(s.wline) + " before that write is ordered before it on " +
                     pipe_name(pipe) + " (missing " + hint + ")");
      }
    }
    if (write) {
      for (int r = 0; r < NPIPES; ++r)
        if (r != pipe && s.rtime[r] > c.t[r])
          fail(at, std::string(what) + ": overwrites " + arena_name(a) + " data that " + pipe_name(r) +
                       " may still be reading (missing a sync from " + pipe_name(r) + " to " + pipe_name(pipe) +
                       ", e.g. FreeTensor/AllocTensor or SetFlag/WaitFlag)");
      s.written = true;
      s.wpipe = (int8_t)pipe;
      s.wtime = now;
      s.wvbar = core->vbar;
      s.wline = at.line();
      for (int r = 0; r < NPIPES; ++r) s.rtime[r] = 0;
    } else {
      s.rtime[pipe] = std::max(s.rtime[pipe], now);
    }
  }
}

template <HardEvent E>
inline void SetFlag(int32_t id, const SL& at = SL::current()) {
  int src = (int)E / 8, dst = (int)E % 8;
  if (id < 0 || id >= 8) fail(at, "SetFlag: event id out of range 0..7");
  Flag& f = core->flags[(int)E * 8 + id];
  if (f.set) fail(at, std::string("SetFlag<") + (pipe_name(src) + 5) + "_" + (pipe_name(dst) + 5) + ">(" +
                          std::to_string(id) + ") while the same event set at line " + std::to_string(f.line) +
                          " is still unwaited");
  core->tick(src);
  f.set = true;
  f.at = core->clk[src];
  f.line = at.line();
}
template <HardEvent E>
inline void WaitFlag(int32_t id, const SL& at = SL::current()) {
  int src = (int)E / 8, dst = (int)E % 8;
  if (id < 0 || id >= 8) fail(at, "WaitFlag: event id out of range 0..7");
  Flag& f = core->flags[(int)E * 8 + id];
  if (!f.set) fail(at, std::string("WaitFlag<") + (pipe_name(src) + 5) + "_" + (pipe_name(dst) + 5) + ">(" +
                           std::to_string(id) + ") with no SetFlag before it (the pipe would wait forever)");
  core->clk[dst].join(f.at);
  f.set = false;
}
template <pipe_t P>
inline void PipeBarrier(const SL& at = SL::current()) {
  (void)at;
  if (P == PIPE_ALL) {
    Clock all;
    for (int p = 0; p < NPIPES; ++p) all.join(core->clk[p]);
    for (int p = 0; p < NPIPES; ++p) core->clk[p] = all;
  }
  if (P == PIPE_V || P == PIPE_ALL) core->vbar++;
}

// ---- tensors ----------------------------------------------------------------------------------------
template <typename T>
struct GlobalTensor {
  T* base = nullptr;
  uint64_t size = 0;
  void SetGlobalBuffer(T* p, uint64_t n) { base = p; size = n; }
  GlobalTensor operator[](uint64_t off) const {
    GlobalTensor g;
    g.base = base + off;
    g.size = off <= size ? size - off : 0;
    return g;
  }
  void check(uint64_t i, uint64_t n, const SL& at, const char* what) const {
    if (i + n > size) fail(at, std::string(what) + ": global memory access past the tensor's end");
  }
  T GetValue(uint64_t i, const SL& at = SL::current()) const { check(i, 1, at, "GlobalTensor::GetValue"); return base[i]; }
  void SetValue(uint64_t i, T v, const SL& at = SL::current()) { check(i, 1, at, "GlobalTensor::SetValue"); base[i] = v; }
};

template <typename T>
struct LocalTensor {
  Arena arena = UB;
  uint32_t off = 0;  // bytes from the arena's start
  uint32_t len = 0;  // elements
  int slot = -1;     // queue slot, -1 for TBuf memory
  uint32_t addr() const { return off; }
  uint32_t GetSize() const { return len; }
  LocalTensor operator[](uint32_t i) const {
    LocalTensor t = *this;
    t.off = off + i * (uint32_t)sizeof(T);
    t.len = i <= len ? len - i : 0;
    return t;
  }
  T* ptr() const { return (T*)(core->mem[arena].data() + off); }
  // Queue-state checks of an access on `pipe`.
  void live(const SL& at, const char* what, bool write, int pipe) const {
    if (slot < 0) return;
    Slot& s = core->slots[slot];
    if (s.state == FREE) fail(at, std::string(what) + ": tensor of queue " + s.queue + " used after FreeTensor");
    if (s.state == QUEUED)
      fail(at, std::string(what) + ": tensor of queue " + s.queue + " " + (write ? "written" : "read") +
                   " while it is still enqueued (EnQue without its DeQue)");
    (void)pipe;
  }
  void span(uint32_t n, const SL& at, const char* what) const {
    if (n > len) fail(at, std::string(what) + ": " + std::to_string(n) + " elements past a tensor of " + std::to_string(len));
  }
  T GetValue(uint32_t i, const SL& at = SL::current()) const {
    span(i + 1, at, "LocalTensor::GetValue");
    live(at, "LocalTensor::GetValue", false, PIPE_S);
    touch(arena, off + i * sizeof(T), sizeof(T), PIPE_S, false, at, "LocalTensor::GetValue");
    return ptr()[i];
  }
  void SetValue(uint32_t i, T v, const SL& at = SL::current()) const {
    span(i + 1, at, "LocalTensor::SetValue");
    live(at, "LocalTensor::SetValue", true, PIPE_S);
    touch(arena, off + i * sizeof(T), sizeof(T), PIPE_S, true, at, "LocalTensor::SetValue");
    ptr()[i] = v;
  }
};

inline uint32_t align_up(uint32_t n, uint32_t a) { return (n + a - 1) / a * a; }

struct TPipe;
template <TPosition P, int DEPTH>
struct TQue {
  int first = -1, num = 0;
  uint32_t off = 0, slot_bytes = 0;
  std::deque<int> fifo;
  const char* name = "TQue";
  template <typename T>
  LocalTensor<T> AllocTensor(const SL& at = SL::current()) {
    if (first < 0) fail(at, "AllocTensor on a queue that InitBuffer never set up");
    int prod, cons;
    queue_pipes(P, prod, cons);
    for (int i = 0; i < num; ++i) {
      Slot& s = core->slots[first + i];
      if (s.state != FREE) continue;
      s.state = ALLOCATED;
      core->clk[prod].join(s.released);  // the consumer's FreeTensor happened before
      LocalTensor<T> t;
      t.arena = arena_of(P);
      t.off = off + i * slot_bytes;
      t.len = slot_bytes / sizeof(T);
      t.slot = first + i;
      return t;
    }
    fail(at, std::string("AllocTensor: all ") + std::to_string(num) + " slot(s) of queue " + name +
                 " are in flight (a slot reused before its FreeTensor; the hardware would deadlock)");
  }
  template <typename T>
  void EnQue(const LocalTensor<T>& t, const SL& at = SL::current()) {
    if (t.slot < first || t.slot >= first + num) fail(at, std::string("EnQue: the tensor is not from queue ") + name);
    Slot& s = core->slots[t.slot];
    if (s.state != ALLOCATED)
      fail(at, std::string("EnQue on queue ") + name + " of a tensor that is " + state_name(s.state));
    int prod, cons;
    queue_pipes(P, prod, cons);
    core->tick(prod);
    s.produced = core->clk[prod];
    s.state = QUEUED;
    fifo.push_back(t.slot);
  }
  template <typename T>
  LocalTensor<T> DeQue(const SL& at = SL::current()) {
    if (fifo.empty()) fail(at, std::string("DeQue on empty queue ") + name + " (no EnQue before it; the hardware would hang)");
    int id = fifo.front();
    fifo.pop_front();
    Slot& s = core->slots[id];
    int prod, cons;
    queue_pipes(P, prod, cons);
    core->clk[cons].join(s.produced);
    s.state = DEQUEUED;
    LocalTensor<T> t;
    t.arena = arena_of(P);
    t.off = off + (id - first) * slot_bytes;
    t.len = slot_bytes / sizeof(T);
    t.slot = id;
    return t;
  }
  template <typename T>
  void FreeTensor(const LocalTensor<T>& t, const SL& at = SL::current()) {
    if (t.slot < first || t.slot >= first + num) fail(at, std::string("FreeTensor: the tensor is not from queue ") + name);
    Slot& s = core->slots[t.slot];
    if (s.state == QUEUED) fail(at, std::string("FreeTensor of a tensor still in queue ") + name + " (no DeQue)");
    if (s.state != DEQUEUED)
      fail(at, std::string("FreeTensor on queue ") + name + " of a tensor that is " + state_name(s.state));
    int prod, cons;
    queue_pipes(P, prod, cons);
    core->tick(cons);
    s.released = core->clk[cons];
    s.state = FREE;
  }
};

template <TPosition P>
struct TBuf {
  uint32_t off = 0, bytes = 0;
  bool ready = false;
  template <typename T>
  LocalTensor<T> Get(const SL& at = SL::current()) {
    if (!ready) fail(at, "TBuf::Get on a buffer that InitBuffer never set up");
    LocalTensor<T> t;
    t.arena = arena_of(P);
    t.off = off;
    t.len = bytes / sizeof(T);
    return t;
  }
};

struct TPipe {
  uint32_t reserve(Arena a, uint32_t bytes, const SL& at) {
    uint32_t align = a == UB || a == L1 ? 32 : 1024;
    uint32_t start = align_up(core->used[a], align);
    if ((uint64_t)start + bytes > CAPACITY[a])
      fail(at, std::string("InitBuffer: the buffers need ") + std::to_string((uint64_t)start + bytes) + " bytes of " +
                   arena_name(a) + ", which holds " + std::to_string(CAPACITY[a]));
    core->used[a] = start + bytes;
    core->open(a);
    return start;
  }
  template <TPosition P, int DEPTH>
  void InitBuffer(TQue<P, DEPTH>& q, uint8_t num, uint32_t len, const SL& at = SL::current()) {
    if (num < 1 || num > DEPTH) fail(at, "InitBuffer: a queue's buffer count must be 1..its depth");
    if (len % 32 != 0) fail(at, "InitBuffer: a queue slot of " + std::to_string(len) + " bytes is not a multiple of 32");
    q.slot_bytes = len;
    q.num = num;
    q.off = reserve(arena_of(P), len * num, at);
    q.first = (int)core->slots.size();
    for (int i = 0; i < num; ++i) core->slots.push_back(Slot{});
    for (int i = 0; i < num; ++i) core->slots[q.first + i].queue = q.name;
  }
  template <TPosition P>
  void InitBuffer(TBuf<P>& b, uint32_t len, const SL& at = SL::current()) {
    if (len % 32 != 0) fail(at, "InitBuffer: a TBuf of " + std::to_string(len) + " bytes is not a multiple of 32");
    b.off = reserve(arena_of(P), len, at);
    b.bytes = len;
    b.ready = true;
  }
};

// ---- checks shared by the instructions -----------------------------------------------------------------
template <typename T>
inline void operand(const LocalTensor<T>& t, uint32_t count, int pipe, bool write, const SL& at, const char* what) {
  uint32_t align = t.arena == UB || t.arena == L1 ? 32 : (sizeof(T) == 4 ? 1024 : 512);
  if (t.off % align != 0)
    fail(at, std::string(what) + ": " + arena_name(t.arena) + " operand at byte offset " + std::to_string(t.off) +
                 " is not " + std::to_string(align) + "-byte aligned");
  t.span(count, at, what);
  t.live(at, what, write, pipe);
  touch(t.arena, t.off, count * sizeof(T), pipe, write, at, what);
}
template <typename T>
inline void repeats(uint32_t count, const SL& at, const char* what) {
  uint64_t r = ((uint64_t)count * sizeof(T) + 255) / 256;
  if (r > 255)
    fail(at, std::string(what) + ": " + std::to_string(count) + " elements need " + std::to_string(r) +
                 " repeats of 256 bytes; a vector instruction takes at most 255");
}
template <typename T>
inline void vector_dtype(const SL& at, const char* what) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "vector instructions take 16- or 32-bit elements");
  (void)at;
  (void)what;
}

// ---- data movement ---------------------------------------------------------------------------------------
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t count, const SL& at = SL::current()) {
  if (count * sizeof(T) % 32 != 0)
    fail(at, "DataCopy: " + std::to_string(count * sizeof(T)) + " bytes is not a multiple of 32 (the hardware rounds "
             "it down; use DataCopyPad)");
  src.check(0, count, at, "DataCopy");
  operand(dst, count, PIPE_MTE2, true, at, "DataCopy");
  memcpy(dst.ptr(), src.base, count * sizeof(T));
}
template <typename T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count, const SL& at = SL::current()) {
  if (count * sizeof(T) % 32 != 0)
    fail(at, "DataCopy: " + std::to_string(count * sizeof(T)) + " bytes is not a multiple of 32 (the hardware rounds "
             "it down; use DataCopyPad)");
  dst.check(0, count, at, "DataCopy");
  operand(src, count, PIPE_MTE3, false, at, "DataCopy");
  memcpy(dst.base, src.ptr(), count * sizeof(T));
}

struct DataCopyExtParams {
  uint16_t blockCount;  // rows
  uint32_t blockLen;    // bytes per row
  uint32_t srcStride;   // GM -> UB: bytes between GM rows; UB -> GM: 32-byte blocks between UB rows
  uint32_t dstStride;   // GM -> UB: 32-byte blocks between UB rows; UB -> GM: bytes between GM rows
  uint32_t rsv;
};
template <typename T>
struct DataCopyPadExtParams {
  bool isPad;
  uint8_t leftPadding, rightPadding;
  T paddingValue;
};
inline void pad_params(const DataCopyExtParams& p, const SL& at) {
  if (p.blockCount < 1 || p.blockCount > 4095) fail(at, "DataCopyPad: blockCount must be 1..4095");
  if (p.blockLen < 1 || p.blockLen > 2097151) fail(at, "DataCopyPad: blockLen must be 1..2097151 bytes");
}
// GM -> UB: rows of blockLen bytes; each UB row starts on a 32-byte boundary, its tail padded.
template <typename T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                 const DataCopyPadExtParams<T>& pad, const SL& at = SL::current()) {
  pad_params(p, at);
  if (p.blockLen % sizeof(T) != 0) fail(at, "DataCopyPad: blockLen is not a whole number of elements");
  uint32_t row = align_up(p.blockLen, 32) + p.dstStride * 32;
  uint32_t n = row * (p.blockCount - 1) + align_up(p.blockLen, 32);
  operand(dst, n / sizeof(T), PIPE_MTE2, true, at, "DataCopyPad");
  uint64_t gstep = (p.blockLen + p.srcStride) / sizeof(T);
  if ((p.blockLen + p.srcStride) % sizeof(T) != 0) fail(at, "DataCopyPad: GM row step is not a whole number of elements");
  src.check(gstep * (p.blockCount - 1), p.blockLen / sizeof(T), at, "DataCopyPad");
  for (uint32_t r = 0; r < p.blockCount; ++r) {
    uint8_t* d = (uint8_t*)dst.ptr() + r * row;
    memcpy(d, src.base + r * gstep, p.blockLen);
    for (uint32_t b = p.blockLen; b < align_up(p.blockLen, 32); b += sizeof(T))
      memcpy(d + b, pad.isPad ? &pad.paddingValue : &pad.paddingValue, sizeof(T));  // the tail is defined
  }
}
// UB -> GM.
template <typename T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& p,
                 const SL& at = SL::current()) {
  pad_params(p, at);
  if (p.blockLen % sizeof(T) != 0) fail(at, "DataCopyPad: blockLen is not a whole number of elements");
  uint32_t row = align_up(p.blockLen, 32) + p.srcStride * 32;
  uint32_t n = row * (p.blockCount - 1) + p.blockLen;
  operand(src, n / sizeof(T), PIPE_MTE3, false, at, "DataCopyPad");
  if ((p.blockLen + p.dstStride) % sizeof(T) != 0) fail(at, "DataCopyPad: GM row step is not a whole number of elements");
  uint64_t gstep = (p.blockLen + p.dstStride) / sizeof(T);
  dst.check(gstep * (p.blockCount - 1), p.blockLen / sizeof(T), at, "DataCopyPad");
  for (uint32_t r = 0; r < p.blockCount; ++r) memcpy(dst.base + r * gstep, (uint8_t*)src.ptr() + r * row, p.blockLen);
}

// ---- vector instructions (count form: the first `count` elements) --------------------------------------
template <typename T>
inline float tl_f(T v) { return (float)v; }
template <>
inline float tl_f(bfloat16_t v) { return emu_bf16_to_f32(v); }

#define TL_BINARY(NAME, EXPR)                                                                                  \
  template <typename T>                                                                                        \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& count, \
            const SL& at = SL::current()) {                                                                    \
    vector_dtype<T>(at, #NAME);                                                                                \
    repeats<T>(count, at, #NAME);                                                                              \
    operand(a, count, PIPE_V, false, at, #NAME);                                                               \
    operand(b, count, PIPE_V, false, at, #NAME);                                                               \
    operand(dst, count, PIPE_V, true, at, #NAME);                                                              \
    T *d = dst.ptr(), *x = a.ptr(), *y = b.ptr();                                                              \
    for (int32_t i = 0; i < count; ++i) d[i] = (T)(EXPR);                                                      \
  }
TL_BINARY(Add, x[i] + y[i])
TL_BINARY(Sub, x[i] - y[i])
TL_BINARY(Mul, x[i] * y[i])
TL_BINARY(Div, x[i] / y[i])
#undef TL_BINARY

#define TL_SCALAR(NAME, EXPR)                                                                          \
  template <typename T>                                                                                \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& a, const T& s, const int32_t& count,     \
            const SL& at = SL::current()) {                                                            \
    vector_dtype<T>(at, #NAME);                                                                        \
    repeats<T>(count, at, #NAME);                                                                      \
    operand(a, count, PIPE_V, false, at, #NAME);                                                       \
    operand(dst, count, PIPE_V, true, at, #NAME);                                                      \
    T *d = dst.ptr(), *x = a.ptr();                                                                    \
    for (int32_t i = 0; i < count; ++i) d[i] = (T)(EXPR);                                              \
  }
TL_SCALAR(Adds, x[i] + s)
TL_SCALAR(Muls, x[i] * s)
#undef TL_SCALAR

#define TL_UNARY(NAME, EXPR)                                                                                   \
  template <typename T>                                                                                        \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& a, const int32_t& count, const SL& at = SL::current()) { \
    vector_dtype<T>(at, #NAME);                                                                                \
    repeats<T>(count, at, #NAME);                                                                              \
    operand(a, count, PIPE_V, false, at, #NAME);                                                               \
    operand(dst, count, PIPE_V, true, at, #NAME);                                                              \
    T *d = dst.ptr(), *x = a.ptr();                                                                            \
    for (int32_t i = 0; i < count; ++i) d[i] = (T)(EXPR);                                                      \
  }
TL_UNARY(Exp, expf((float)x[i]))
TL_UNARY(Ln, logf((float)x[i]))
TL_UNARY(Sqrt, sqrtf((float)x[i]))
TL_UNARY(Abs, fabsf((float)x[i]))
#undef TL_UNARY

template <typename T>
void Duplicate(const LocalTensor<T>& dst, const T& s, const int32_t& count, const SL& at = SL::current()) {
  vector_dtype<T>(at, "Duplicate");
  repeats<T>(count, at, "Duplicate");
  operand(dst, count, PIPE_V, true, at, "Duplicate");
  for (int32_t i = 0; i < count; ++i) dst.ptr()[i] = s;
}

enum class RoundMode { CAST_NONE, CAST_RINT };
template <typename D, typename S>
void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, const RoundMode& mode, uint32_t count,
          const SL& at = SL::current()) {
  vector_dtype<D>(at, "Cast");
  vector_dtype<S>(at, "Cast");
  if (sizeof(D) < sizeof(S) && mode != RoundMode::CAST_RINT) fail(at, "Cast: narrowing needs a rounding mode");
  repeats<D>(count, at, "Cast");
  repeats<S>(count, at, "Cast");
  operand(src, count, PIPE_V, false, at, "Cast");
  operand(dst, count, PIPE_V, true, at, "Cast");
  for (uint32_t i = 0; i < count; ++i) dst.ptr()[i] = (D)src.ptr()[i];  // round to nearest even
}

// Compare: bit i % 8 of byte i / 8 of dst is a[i] CMP b[i] (IEEE: NaN compares false, != true).
enum class CMPMODE { LT, GT, EQ, LE, GE, NE };
template <typename T>
void Compare(const LocalTensor<uint8_t>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, CMPMODE mode,
             uint32_t count, const SL& at = SL::current()) {
  vector_dtype<T>(at, "Compare");
  if (count * sizeof(T) % 256 != 0)
    fail(at, "Compare: " + std::to_string(count) + " elements do not fill whole 256-byte repeats");
  repeats<T>(count, at, "Compare");
  operand(a, count, PIPE_V, false, at, "Compare");
  operand(b, count, PIPE_V, false, at, "Compare");
  operand(dst, count / 8, PIPE_V, true, at, "Compare");
  uint8_t* d = dst.ptr();
  for (uint32_t i = 0; i < count / 8; ++i) d[i] = 0;
  for (uint32_t i = 0; i < count; ++i) {
    float x = (float)a.ptr()[i], y = (float)b.ptr()[i];
    bool r = mode == CMPMODE::LT ? x < y : mode == CMPMODE::GT ? x > y : mode == CMPMODE::EQ ? x == y
           : mode == CMPMODE::LE ? x <= y : mode == CMPMODE::GE ? x >= y : x != y;
    d[i / 8] |= (uint8_t)(r << (i % 8));
  }
}
// Select: dst[i] = bit i of mask ? a[i] : b[i] (or the scalar b).
enum class SELMODE { VSEL_CMPMASK_SPR, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };
template <typename T>
void Select(const LocalTensor<T>& dst, const LocalTensor<uint8_t>& mask, const LocalTensor<T>& a,
            const LocalTensor<T>& b, SELMODE mode, uint32_t count, const SL& at = SL::current()) {
  vector_dtype<T>(at, "Select");
  if (mode != SELMODE::VSEL_TENSOR_TENSOR_MODE) fail(at, "Select: two tensors need VSEL_TENSOR_TENSOR_MODE");
  repeats<T>(count, at, "Select");
  operand(mask, (count + 7) / 8, PIPE_V, false, at, "Select");
  operand(a, count, PIPE_V, false, at, "Select");
  operand(b, count, PIPE_V, false, at, "Select");
  operand(dst, count, PIPE_V, true, at, "Select");
  for (uint32_t i = 0; i < count; ++i) dst.ptr()[i] = (mask.ptr()[i / 8] >> (i % 8)) & 1 ? a.ptr()[i] : b.ptr()[i];
}
template <typename T>
void Select(const LocalTensor<T>& dst, const LocalTensor<uint8_t>& mask, const LocalTensor<T>& a, T b, SELMODE mode,
            uint32_t count, const SL& at = SL::current()) {
  vector_dtype<T>(at, "Select");
  if (mode != SELMODE::VSEL_TENSOR_SCALAR_MODE) fail(at, "Select: a scalar operand needs VSEL_TENSOR_SCALAR_MODE");
  repeats<T>(count, at, "Select");
  operand(mask, (count + 7) / 8, PIPE_V, false, at, "Select");
  operand(a, count, PIPE_V, false, at, "Select");
  operand(dst, count, PIPE_V, true, at, "Select");
  for (uint32_t i = 0; i < count; ++i) dst.ptr()[i] = (mask.ptr()[i / 8] >> (i % 8)) & 1 ? a.ptr()[i] : b;
}

// ReduceSum: dst[0] = the sum of src[0, count); the work tensor holds partial sums.
template <typename T>
void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work, const int32_t& count,
               const SL& at = SL::current()) {
  vector_dtype<T>(at, "ReduceSum");
  repeats<T>(count, at, "ReduceSum");
  uint32_t per = 256 / sizeof(T), parts = (count + per - 1) / per;
  operand(src, count, PIPE_V, false, at, "ReduceSum");
  operand(work, align_up(parts, 32 / sizeof(T)), PIPE_V, true, at, "ReduceSum");
  operand(dst, 1, PIPE_V, true, at, "ReduceSum");
  float total = 0;  // per 256-byte repeat, then across repeats (the hardware's order)
  for (uint32_t p = 0; p < parts; ++p) {
    float part = 0;
    for (uint32_t i = p * per; i < std::min<uint32_t>(count, (p + 1) * per); ++i) part += (float)src.ptr()[i];
    work.ptr()[p] = (T)part;
    total += part;
  }
  dst.ptr()[0] = (T)total;
}

// ReduceMax / ReduceMin: dst[0] = the extreme of src[0, count) (calIndex = false: no index). A NaN
// propagates, as the reference's max / min do; the hardware's NaN behaviour is assumed, not known.
#define TL_REDUCE_EXT(NAME, BETTER)                                                                      \
  template <typename T>                                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work,           \
            const int32_t count, bool calIndex = false, const SL& at = SL::current()) {                 \
    vector_dtype<T>(at, #NAME);                                                                          \
    if (calIndex) fail(at, #NAME ": calIndex is not emitted");                                          \
    if (count < 1) fail(at, #NAME ": count must be positive");                                          \
    repeats<T>(count, at, #NAME);                                                                        \
    uint32_t per = 256 / sizeof(T), parts = (count + per - 1) / per;                                    \
    operand(src, count, PIPE_V, false, at, #NAME);                                                       \
    operand(work, align_up(parts, 32 / sizeof(T)), PIPE_V, true, at, #NAME);                             \
    operand(dst, 1, PIPE_V, true, at, #NAME);                                                            \
    float best = (float)src.ptr()[0];                                                                    \
    for (int32_t i = 1; i < count; ++i) {                                                                \
      float v = (float)src.ptr()[i];                                                                     \
      if (best == best && (v != v || v BETTER best)) best = v;                                           \
    }                                                                                                    \
    for (uint32_t p = 0; p < parts; ++p) work.ptr()[p] = (T)best;                                        \
    dst.ptr()[0] = (T)best;                                                                              \
  }
TL_REDUCE_EXT(ReduceMax, >)
TL_REDUCE_EXT(ReduceMin, <)
#undef TL_REDUCE_EXT

// ---- Cube: GM -> L1 (Nd2Nz), L1 -> L0A / L0B (LoadData), Mmad into L0C, Fixpipe L0C -> GM ----------------
// Layouts (16x16 fractals of 2-byte elements, C0 = 16): a [rows, cols] matrix in L1 "NZ" keeps
// fractal (r1, c1) at ((c1 * R1 + r1) * 256) elements, row-major inside (element (r0, c0) at r0 * 16 + c0),
// R1 = padded rows / 16. L0A holds A [M, K] as "Zz" (fractal (m1, k1) at (m1 * K1 + k1) * 256, row-major
// inside), L0B holds B [K, N] as "Zn" (fractal (k1, n1) at (k1 * N1 + n1) * 256, column-major inside:
// element (k0, n0) at n0 * 16 + k0). L0C holds C [M, N] f32 as "Nz" (fractal (m1, n1) at (n1 * M1 + m1) * 256).
struct Nd2NzParams {
  uint16_t ndNum, nValue, dValue, srcNdMatrixStride, srcDValue, dstNzC0Stride, dstNzNStride, dstNzMatrixStride;
};
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const Nd2NzParams& p, const SL& at = SL::current()) {
  static_assert(sizeof(T) == 2, "the Cube path takes 16-bit elements");
  if (dst.arena != L1) fail(at, "DataCopy(Nd2NzParams): the destination must be in L1");
  if (p.ndNum != 1 || p.dstNzNStride != 1) fail(at, "DataCopy(Nd2NzParams): only ndNum = 1, dstNzNStride = 1 are emitted");
  if (p.dstNzC0Stride % 16 != 0 || p.dstNzC0Stride < p.nValue)
    fail(at, "DataCopy(Nd2NzParams): dstNzC0Stride must be the row count rounded up to whole 16-row fractals");
  uint32_t c1 = (p.dValue + 15) / 16, n = c1 * p.dstNzC0Stride * 16;
  src.check((uint64_t)p.srcDValue * (p.nValue - 1), p.dValue, at, "DataCopy(Nd2NzParams)");
  operand(dst, n, PIPE_MTE2, true, at, "DataCopy(Nd2NzParams)");
  T* d = dst.ptr();
  for (uint32_t r = 0; r < p.nValue; ++r)
    for (uint32_t c = 0; c < p.dValue; ++c) d[(c / 16) * p.dstNzC0Stride * 16 + r * 16 + c % 16] = src.base[(uint64_t)r * p.srcDValue + c];
}
template <typename T>
struct InitConstValueParams {
  uint16_t repeatTimes, blockNum, dstGap;  // blockNum: 32-byte blocks per repeat
  T initValue;
};
template <typename T>
void InitConstValue(const LocalTensor<T>& dst, const InitConstValueParams<T>& p, const SL& at = SL::current()) {
  if (dst.arena != L1) fail(at, "InitConstValue: only L1 is initialised this way here");
  if (p.dstGap != 0) fail(at, "InitConstValue: only dstGap = 0 is emitted");
  uint32_t count = (uint32_t)p.repeatTimes * p.blockNum * 32 / sizeof(T);
  operand(dst, count, PIPE_MTE2, true, at, "InitConstValue");
  for (uint32_t i = 0; i < count; ++i) dst.ptr()[i] = p.initValue;
}
struct LoadData2DParams {
  uint16_t startIndex;   // first fractal
  uint8_t repeatTimes;   // fractals copied
  uint16_t srcStride;    // fractals between source fractals
  uint8_t sid;
  uint16_t dstGap;       // fractals skipped between destination fractals
  bool ifTranspose;      // transpose each 16x16 fractal (2-byte types only)
  uint8_t addrMode;
};
template <typename T>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2DParams& p, const SL& at = SL::current()) {
  static_assert(sizeof(T) == 2, "the Cube path takes 16-bit elements");
  if (src.arena != L1 || (dst.arena != L0A && dst.arena != L0B)) fail(at, "LoadData: copies L1 to L0A / L0B");
  if (p.repeatTimes == 0) fail(at, "LoadData: repeatTimes must be 1..255");
  uint32_t last_src = (p.startIndex + (uint32_t)(p.repeatTimes - 1) * p.srcStride + 1) * 256;
  uint32_t n_dst = ((uint32_t)(p.repeatTimes - 1) * (1 + p.dstGap) + 1) * 256;
  operand(src, last_src, PIPE_MTE1, false, at, "LoadData");
  operand(dst, n_dst, PIPE_MTE1, true, at, "LoadData");
  for (uint32_t f = 0; f < p.repeatTimes; ++f) {
    const T* s = src.ptr() + (p.startIndex + f * p.srcStride) * 256;
    T* d = dst.ptr() + f * (1 + p.dstGap) * 256;
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) d[r * 16 + c] = p.ifTranspose ? s[c * 16 + r] : s[r * 16 + c];
  }
}
struct MmadParams {
  uint16_t m, n, k;
  uint8_t unitFlag;
  bool kDirectionAlign, cmatrixSource, cmatrixInitVal;
};
template <typename C, typename T>
void Mmad(const LocalTensor<C>& c, const LocalTensor<T>& a, const LocalTensor<T>& b, const MmadParams& p,
          const SL& at = SL::current()) {
  static_assert(sizeof(T) == 2 && sizeof(C) == 4, "Mmad here: 16-bit operands, f32 accumulator");
  if (a.arena != L0A || b.arena != L0B || c.arena != L0C) fail(at, "Mmad: operands must be in L0A, L0B and L0C");
  if (p.m > 4095 || p.n > 4095 || p.k > 4095) fail(at, "Mmad: m, n and k must be at most 4095");
  if (p.m % 16 || p.n % 16 || p.k % 16 || !p.m || !p.n || !p.k)
    fail(at, "Mmad: m = " + std::to_string(p.m) + ", n = " + std::to_string(p.n) + ", k = " + std::to_string(p.k) +
                 " is not in whole 16x16 fractals (m and n multiples of 16, k of 32 bytes)");
  uint32_t M1 = p.m / 16, N1 = p.n / 16, K1 = p.k / 16;
  operand(a, M1 * K1 * 256, PIPE_M, false, at, "Mmad");
  operand(b, K1 * N1 * 256, PIPE_M, false, at, "Mmad");
  if (!p.cmatrixInitVal) operand(c, M1 * N1 * 256, PIPE_M, false, at, "Mmad");
  operand(c, M1 * N1 * 256, PIPE_M, true, at, "Mmad");
  const T *A = a.ptr(), *B = b.ptr();
  C* Cm = c.ptr();
  for (uint32_t m = 0; m < p.m; ++m)
    for (uint32_t n = 0; n < p.n; ++n) {
      float acc = p.cmatrixInitVal ? 0.0f : (float)Cm[((n / 16) * M1 + m / 16) * 256 + (m % 16) * 16 + n % 16];
      for (uint32_t k = 0; k < p.k; ++k)
        acc += tl_f(A[((m / 16) * K1 + k / 16) * 256 + (m % 16) * 16 + k % 16]) *
               tl_f(B[((k / 16) * N1 + n / 16) * 256 + (n % 16) * 16 + k % 16]);
      Cm[((n / 16) * M1 + m / 16) * 256 + (m % 16) * 16 + n % 16] = (C)acc;
    }
}
enum class QuantMode_t { NoQuant, F322F16, F322BF16 };
struct FixpipeParamsV220 {
  uint16_t nSize, mSize, srcStride;  // srcStride: rows of the L0C matrix (M rounded up to 16)
  uint32_t dstStride;                // elements between GM rows
  bool reluEn;
  QuantMode_t quantPre;
};
inline void fix_store(float* d, float v) { *d = v; }
inline void fix_store(half* d, float v) { *d = (half)v; }
inline void fix_store(bfloat16_t* d, float v) { *d = emu_f32_to_bf16(v); }
// L0C (Nz, f32) -> GM row-major, converting to the destination dtype.
template <typename T, typename C>
void Fixpipe(const GlobalTensor<T>& dst, const LocalTensor<C>& src, const FixpipeParamsV220& p, const SL& at = SL::current()) {
  if (src.arena != L0C) fail(at, "Fixpipe: the source must be in L0C");
  if (p.srcStride % 16 || p.srcStride < p.mSize) fail(at, "Fixpipe: srcStride must be the L0C row count (a multiple of 16)");
  bool want = sizeof(T) == 2;
  if (want != (p.quantPre != QuantMode_t::NoQuant)) fail(at, "Fixpipe: quantPre does not match the destination dtype");
  uint32_t N1 = (p.nSize + 15) / 16;
  operand(src, N1 * p.srcStride * 16, PIPE_FIX, false, at, "Fixpipe");
  dst.check((uint64_t)p.dstStride * (p.mSize - 1), p.nSize, at, "Fixpipe");
  for (uint32_t m = 0; m < p.mSize; ++m)
    for (uint32_t n = 0; n < p.nSize; ++n) {
      float v = (float)src.ptr()[((n / 16) * p.srcStride + m) * 16 + n % 16];
      fix_store(dst.base + (uint64_t)m * p.dstStride + n, p.reluEn && v < 0 ? 0.0f : v);
    }
}

// ---- running a kernel: AI cores first..last-1 of `num`, one after another, each a fresh core --------------
template <typename F>
int run_cores(int64_t first, int64_t last, int64_t num, char* err, int errlen, F&& kernel) {
  for (int64_t b = first; b < last; ++b) {
    Core c;
    c.block_idx = b;
    c.block_num = num;
    core = &c;
    try {
      kernel();
      for (auto& s : c.slots)
        if (s.state != FREE)
          throw Violation{std::string("the kernel ended with a tensor of queue ") + s.queue + " still " +
                              state_name(s.state) + " (no FreeTensor)", "", 0};
      for (auto& f : c.flags)
        if (f.set) throw Violation{"the kernel ended with a SetFlag never waited for", "", f.line};
    } catch (const Violation& v) {
      if (v.file.empty())
        snprintf(err, errlen, "%s (AI core %lld)", v.message.c_str(), (long long)b);
      else
        snprintf(err, errlen, "%s:%u: %s (AI core %lld)", v.file.c_str(), v.line, v.message.c_str(), (long long)b);
      core = nullptr;
      return 1;
    }
    core = nullptr;
  }
  return 0;
}

}  // namespace AscendC

// refserver's CUDA kernels for GPT-2, compiled at start-up by NVRTC for the
// device's compute capability (see kernels.go). They need no CUDA header:
// half and bfloat16 values are kept as 16-bit integers and converted with
// PTX's cvt instruction (half) or bit shifts (bfloat16), so that the same
// source compiles with any NVRTC from CUDA 11.2 on, with or without the
// toolkit's include files.
//
// The residual stream x is f32. What a matrix multiply reads (the
// LayerNorm, attention and GELU outputs) is in the weights' type T; the
// multiplies (cuBLAS) accumulate in f32 and write f32. Every kernel is
// defined once as a template over T and exported three times:
// <name>_f32, <name>_f16 and <name>_bf16.
//
// Layouts: activations are row-major, one row per token of the step. The
// KV cache is [slot][layer][position][C] in T, heads side by side in C.
// Per-row metadata (token, position, cache slot) come in int arrays.

typedef unsigned short u16;
typedef long long i64;

struct f32 { typedef float raw; };
struct f16 { typedef u16 raw; };
struct bf16 { typedef u16 raw; };

template <typename T> struct io;

template <> struct io<f32> {
  static __device__ __forceinline__ float get(const float *p, i64 i) { return p[i]; }
  static __device__ __forceinline__ void put(float *p, i64 i, float v) { p[i] = v; }
};

template <> struct io<f16> {
  static __device__ __forceinline__ float get(const u16 *p, i64 i) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i]));
    return f;
  }
  static __device__ __forceinline__ void put(u16 *p, i64 i, float v) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p[i] = h;
  }
};

template <> struct io<bf16> {
  static __device__ __forceinline__ float get(const u16 *p, i64 i) {
    return __uint_as_float(((unsigned int)p[i]) << 16);
  }
  static __device__ __forceinline__ void put(u16 *p, i64 i, float v) {
    unsigned int u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) { // NaN stays NaN
      p[i] = (u16)((u >> 16) | 0x40);
      return;
    }
    u += 0x7fffu + ((u >> 16) & 1u); // round to nearest, ties to even
    p[i] = (u16)(u >> 16);
  }
};

// blockSum returns the sum of v over the block (blockDim.x a multiple of
// 32, at most 1024) to every thread.
__device__ float blockSum(float v) {
  __shared__ float part[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  v = lane < warps ? part[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ float blockMax(float v) {
  __shared__ float part[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  v = lane < warps ? part[lane] : -3.402823466e38f;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// embed: x[i] = wte[:, token[i]] + wpe[pos[i]]. wte is the tied LM head,
// C × V in T; wpe is maxT × C in f32. Grid: one block per row.
template <typename T>
__device__ void embed(float *x, const int *token, const int *pos, const typename T::raw *wte, const float *wpe, int C, int V) {
  int i = blockIdx.x;
  i64 tok = token[i], p = pos[i];
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    x[(i64)i * C + c] = io<T>::get(wte, (i64)c * V + tok) + wpe[p * C + c];
}

// layernorm: out[j] = LayerNorm(x[row]) with gain g and bias b, row = idx[j]
// when idx is not null, else j. Grid: one block per output row.
template <typename T>
__device__ void layernorm(typename T::raw *out, const float *x, const int *idx, const float *g, const float *b, int C, float eps) {
  int j = blockIdx.x;
  i64 row = idx ? idx[j] : j;
  const float *xr = x + row * C;
  float s = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
  float mean = blockSum(s) / C;
  float v = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float d = xr[c] - mean;
    v += d * d;
  }
  float rstd = rsqrtf(blockSum(v) / C + eps);
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    io<T>::put(out, (i64)j * C + c, (xr[c] - mean) * rstd * g[c] + b[c]);
}

// qkv: splits the attention input projection y (M × 3C, f32, bias not yet
// added) into q (M × C, in T) and the layer's keys and values, written into
// each row's cache slot at its position. Grid: one block per row.
template <typename T>
__device__ void qkv(typename T::raw *q, typename T::raw *kcache, typename T::raw *vcache, const float *y, const float *bias,
                    const int *slot, const int *pos, int C, int L, int layer, int maxT) {
  int i = blockIdx.x;
  i64 base = (((i64)slot[i] * L + layer) * maxT + pos[i]) * C;
  const float *yr = y + (i64)i * 3 * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    io<T>::put(q, (i64)i * C + c, yr[c] + bias[c]);
    io<T>::put(kcache, base + c, yr[C + c] + bias[C + c]);
    io<T>::put(vcache, base + c, yr[2 * C + c] + bias[2 * C + c]);
  }
}

// attention: for row i and head h (grid M × NH), the causal attention of
// q[i] over its sequence's keys and values at positions 0..pos[i] of the
// layer, written to out (M × C, in T). The scores live in dynamic shared
// memory: pos[i]+1 floats, at most maxT.
template <typename T>
__device__ void attention(typename T::raw *out, const typename T::raw *q, const typename T::raw *kcache, const typename T::raw *vcache,
                          const int *slot, const int *pos, int C, int NH, int L, int layer, int maxT, float scale) {
  extern __shared__ float scores[];
  int i = blockIdx.x, h = blockIdx.y, hd = C / NH;
  int n = pos[i] + 1;
  i64 cache = ((i64)slot[i] * L + layer) * maxT * C + (i64)h * hd;
  i64 qi = (i64)i * C + (i64)h * hd;
  for (int t = threadIdx.x; t < n; t += blockDim.x) {
    float s = 0.f;
    i64 kt = cache + (i64)t * C;
    for (int d = 0; d < hd; d++) s += io<T>::get(q, qi + d) * io<T>::get(kcache, kt + d);
    scores[t] = s * scale;
  }
  __syncthreads();
  float m = -3.402823466e38f;
  for (int t = threadIdx.x; t < n; t += blockDim.x) m = fmaxf(m, scores[t]);
  m = blockMax(m);
  float sum = 0.f;
  for (int t = threadIdx.x; t < n; t += blockDim.x) {
    float e = expf(scores[t] - m);
    scores[t] = e;
    sum += e;
  }
  sum = blockSum(sum);
  __syncthreads();
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.f;
    for (int t = 0; t < n; t++) acc += scores[t] * io<T>::get(vcache, cache + (i64)t * C + d);
    io<T>::put(out, qi + d, acc / sum);
  }
}

// residual: x += y + bias (bias of N, y and x of total = M·N floats).
__device__ void residual(float *x, const float *y, const float *bias, int N, i64 total) {
  for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (i64)gridDim.x * blockDim.x)
    x[k] += y[k] + bias[k % N];
}

// biasGelu: out = GELU(y + bias), GPT-2's tanh approximation, in T.
template <typename T>
__device__ void biasGelu(typename T::raw *out, const float *y, const float *bias, int N, i64 total) {
  for (i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (i64)gridDim.x * blockDim.x) {
    float v = y[k] + bias[k % N];
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    io<T>::put(out, k, 0.5f * v * (1.f + tanhf(u)));
  }
}

#define EXPORT(T)                                                                                                          \
  extern "C" __global__ void embed_##T(float *x, const int *token, const int *pos, const T::raw *wte, const float *wpe,   \
                                       int C, int V) {                                                                     \
    embed<T>(x, token, pos, wte, wpe, C, V);                                                                               \
  }                                                                                                                        \
  extern "C" __global__ void layernorm_##T(T::raw *out, const float *x, const int *idx, const float *g, const float *b,   \
                                           int C, float eps) {                                                             \
    layernorm<T>(out, x, idx, g, b, C, eps);                                                                               \
  }                                                                                                                        \
  extern "C" __global__ void qkv_##T(T::raw *q, T::raw *kc, T::raw *vc, const float *y, const float *bias,                 \
                                     const int *slot, const int *pos, int C, int L, int layer, int maxT) {                 \
    qkv<T>(q, kc, vc, y, bias, slot, pos, C, L, layer, maxT);                                                              \
  }                                                                                                                        \
  extern "C" __global__ void attention_##T(T::raw *out, const T::raw *q, const T::raw *kc, const T::raw *vc,              \
                                           const int *slot, const int *pos, int C, int NH, int L, int layer, int maxT,    \
                                           float scale) {                                                                  \
    attention<T>(out, q, kc, vc, slot, pos, C, NH, L, layer, maxT, scale);                                                 \
  }                                                                                                                        \
  extern "C" __global__ void bias_gelu_##T(T::raw *out, const float *y, const float *bias, int N, i64 total) {           \
    biasGelu<T>(out, y, bias, N, total);                                                                                   \
  }

EXPORT(f32)
EXPORT(f16)
EXPORT(bf16)

extern "C" __global__ void residual_add(float *x, const float *y, const float *bias, int N, i64 total) {
  residual(x, y, bias, N, total);
}

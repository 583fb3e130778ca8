/*
 * CoordAtt's inference form as one CPU call (no per-op dispatch): float32, contiguous NCHW, any batch.
 *
 * Why a kernel: at batch 1 the eager PyTorch form is ten small calls, and inside a model each one runs
 * right after a large convolution left the caches and the dispatcher cold, so a layer costs two to three
 * times what it costs alone. Here the whole layer is two passes over the map (pool, then scale) and a
 * little arithmetic between them. Built and loaded by ca_yolo/nn/native/__init__.py; the PyTorch form is
 * the fallback and the reference (tests compare the two).
 *
 * Same maths as CoordAtt.forward_fused with the inference constants:
 *   z_h[c, h] = mean_w x[c, h, :],  z_w[c, w] = mean_h x[c, :, w]            (the descriptor, L = H + W)
 *   f[l, :]   = hswish(w1 @ z[:, l] + b1)                                      (mip values per position)
 *   g[l, c]   = sigmoid(wgt[:, c (+ C for l >= H)] . f[l, :] + bg[c (+ C)])    (conv_h rows, then conv_w)
 *   out[c, h, w] = x[c, h, w] * g_h[c, h] * g_w[c, w]
 * Sums run in another order than PyTorch's and the sigmoid uses a polynomial exp (relative error < 1e-7),
 * so results agree with the PyTorch form to float rounding, not bit for bit.
 *
 * Threads: built with -fopenmp only where PyTorch itself runs on GNU OpenMP (then this file's parallel
 * regions use PyTorch's own thread pool and thread count). Only tiny maps (below PARALLEL_MIN elements per
 * image) stay on the calling thread: inside a model PyTorch's threads are still spinning from the last
 * convolution, so even the 160-px maps (6400-25600 elements) gain from both cores. yolov8n-ca / yolov8n at
 * 160 px, 2 threads, both builds and yolov8n interleaved in one process, three runs: 1.030, 1.030, 1.049
 * with every layer split vs 1.036, 1.039, 1.065 with PyTorch's grain size (32768) as the limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef PARALLEL_MIN
#define PARALLEL_MIN 4096
#endif

static inline float hswish(float v) {
    float r = v + 3.f;
    r = r < 0.f ? 0.f : (r > 6.f ? 6.f : r);
    return v * r * (1.f / 6.f);
}

/* 2^t for t in [-126, 126]: the integer part into the exponent bits, a degree-6 polynomial (least squares
 * on relative error over [0, 1), fitted for this file) for the fraction. No libm call, so loops vectorise. */
static inline float exp2_poly(float t) {
    const float k = __builtin_floorf(t), f = t - k;
    float p = 2.1703418e-04f;
    p = p * f + 1.2439807e-03f;
    p = p * f + 9.6787671e-03f;
    p = p * f + 5.5483419e-02f;
    p = p * f + 2.4022980e-01f;
    p = p * f + 6.9314700e-01f;
    p = p * f + 1.0f;
    union { int32_t i; float f; } scale = { .i = ((int32_t)k + 127) << 23 };
    return p * scale.f;
}

static void sigmoid_(float *v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        float t = -v[i] * 1.44269504f; /* exp(-v) = 2^(-v log2 e); beyond +-126 the sigmoid is 0 or 1 in float */
        t = t < -126.f ? -126.f : (t > 126.f ? 126.f : t);
        v[i] = 1.f / (1.f + exp2_poly(t));
    }
}

/* Sum (mul = 0) or dot product with b (mul = 1) with 16 partial sums from 32 values on: vectorised without
 * letting the compiler reassociate. (8 partial sums from 8 values on was slower at W = 20: timed side by side.)
 * Always inlined with a constant mul, so each caller gets a loop without the test. */
static inline __attribute__((always_inline)) float partial_sums(const float *a, const float *b, int64_t n,
                                                                const int mul) {
    float s = 0.f;
    int64_t i = 0;
    if (n >= 32) {
        float acc[16] = {0};
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; ++k) acc[k] += mul ? a[i + k] * b[i + k] : a[i + k];
        for (int k = 0; k < 16; ++k) s += acc[k];
    }
    for (; i < n; ++i) s += mul ? a[i] * b[i] : a[i];
    return s;
}

static float sum(const float *a, int64_t n) { return partial_sums(a, NULL, n, 0); }

static float dot(const float *a, const float *b, int64_t n) { return partial_sums(a, b, n, 1); }

/* rows[h] = sum_w x[h, w] and cols[w] = sum_h x[h, w] of one channel (H, W), in one pass. */
static void pool_channel(const float *xc, int64_t H, int64_t W, float *rows, float *cols) {
    memcpy(cols, xc, sizeof(float) * W);
    rows[0] = sum(xc, W);
    for (int64_t h = 1; h < H; ++h) {
        const float *row = xc + h * W;
        for (int64_t w = 0; w < W; ++w) cols[w] += row[w];
        rows[h] = sum(row, W);
    }
}

/*
 * x, out: (B, C, H, W), contiguous float32, not overlapping. w1 (mip, C) is conv1 with BatchNorm folded in,
 * b1 (mip); wgt (mip, 2C) is conv_h's and conv_w's weights stacked and transposed, bg (2C) their biases.
 * Returns 0, or 1 when a work buffer could not be allocated (out is then incomplete).
 */
int ca_coord_att_forward(const float *x, float *out, int64_t B, int64_t C, int64_t H, int64_t W, int64_t mip,
                         const float *w1, const float *b1, const float *wgt, const float *bg) {
    const int64_t L = H + W, HW = H * W;
    const float inv_w = 1.f / (float)W, inv_h = 1.f / (float)H;
    /* zt (L, C): descriptor, position-major so the products below run along C; gt (L, C): gates; f (L, mip). */
    float *zt = malloc(sizeof(float) * (2 * L * C + L * mip));
    if (!zt) return 1;
    float *gt = zt + L * C, *f = gt + L * C;
    int failed = 0;
    for (int64_t b = 0; b < B; ++b) {
        const float *xb = x + b * C * HW;
        float *ob = out + b * C * HW;
        #pragma omp parallel if (C * HW >= PARALLEL_MIN)
        {
            float *rows = malloc(sizeof(float) * L), *cols = rows ? rows + H : NULL;
            if (!rows) {
                #pragma omp atomic write
                failed = 1;
            }
            #pragma omp for schedule(static)
            for (int64_t c = 0; c < C; ++c) {
                if (!rows) continue;
                pool_channel(xb + c * HW, H, W, rows, cols);
                for (int64_t h = 0; h < H; ++h) zt[h * C + c] = rows[h] * inv_w;
                for (int64_t w = 0; w < W; ++w) zt[(H + w) * C + c] = cols[w] * inv_h;
            }
            #pragma omp for schedule(static)
            for (int64_t l = 0; l < L; ++l) {
                const float *zl = zt + l * C;
                float *fl = f + l * mip;
                for (int64_t m = 0; m < mip; ++m) fl[m] = hswish(dot(w1 + m * C, zl, C) + b1[m]);
                const int64_t half = l < H ? 0 : C; /* conv_h's gate for rows, conv_w's for columns */
                float *gl = gt + l * C;
                memcpy(gl, bg + half, sizeof(float) * C);
                for (int64_t m = 0; m < mip; ++m) {
                    const float a = fl[m], *wm = wgt + m * 2 * C + half;
                    for (int64_t c = 0; c < C; ++c) gl[c] += a * wm[c];
                }
                sigmoid_(gl, C);
            }
            #pragma omp for schedule(static)
            for (int64_t c = 0; c < C; ++c) {
                if (!rows) continue;
                for (int64_t w = 0; w < W; ++w) cols[w] = gt[(H + w) * C + c];
                const float *xc = xb + c * HW;
                float *oc = ob + c * HW;
                for (int64_t h = 0; h < H; ++h) {
                    const float g = gt[h * C + c], *row = xc + h * W;
                    float *orow = oc + h * W;
                    for (int64_t w = 0; w < W; ++w) orow[w] = row[w] * (g * cols[w]);
                }
            }
            free(rows);
        }
        if (failed) break;
    }
    free(zt);
    return failed;
}

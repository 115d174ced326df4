/*
 * Which vector instruction sets the fast kernels may use. Runtime dispatch
 * follows the CPU, capped by the environment variable DF_CPU_ISA:
 *
 *     DF_CPU_ISA=avx2   no AVX-512 / AMX anywhere: our own kernels, XNNPACK
 *                       (its CPU detection is capped before it initializes)
 *                       and oneDNN (dnnl_set_max_cpu_isa before its first use)
 *
 *     DF_CPU_ISA=avx2_vnni  the same, but oneDNN may also use AVX-VNNI (Intel
 *                       client CPUs from Alder Lake: AVX2 + VNNI, no AVX-512)
 *
 *     DF_CPU_ISA=scalar our own kernels in their baseline (SSE2) build only
 *                       (tests; the libraries keep what the CPU has)
 *
 * so a machine with AVX-512 can measure what an AVX2-only CPU (Intel client
 * parts, AMD Zen 2/3) runs: "Sapphire Rapids restricted to AVX2" is then an
 * honest label. Unset, empty or "native": everything the CPU has.
 */
#ifndef DF_CORE_CPU_H
#define DF_CORE_CPU_H

typedef enum df_cpu_isa {
    DF_CPU_ISA_SCALAR = 0, /* no AVX2 + FMA */
    DF_CPU_ISA_AVX2,       /* AVX2 + FMA */
    DF_CPU_ISA_AVX512      /* AVX-512 F/BW/DQ/VL */
} df_cpu_isa;

/* The best of the above this process may use (CPU capped by DF_CPU_ISA). */
df_cpu_isa df_cpu_isa_best(void);
/* "scalar", "avx2", "avx512". */
const char *df_cpu_isa_name(df_cpu_isa isa);
/* 1 when DF_CPU_ISA caps the ISA below the CPU's. */
int df_cpu_isa_capped(void);

/* The OpenBLAS kernel set ("Haswell", "SkylakeX") this process should ask
 * for through OPENBLAS_CORETYPE, given the one OpenBLAS picked (current,
 * openblas_get_corename()) and the ISA allowed (df_cpu_isa_best()); NULL
 * when the pick is right or a set this function does not know. OpenBLAS 0.3.21 picks by CPU model number, and a
 * model newer than its table (Emerald Rapids, family 6 model 207) gets the
 * SSE3 "Prescott" kernels: the head's GEMMs ran about 4x slower there
 * (bench_head_gemm, 3 classes and the MLP's 1024 units). A pick that uses AVX-512 under an AVX2
 * cap is lowered to Haswell, so a capped run measures what an AVX2 CPU
 * runs in OpenBLAS too. */
const char *df_cpu_blas_coretype(const char *current, df_cpu_isa isa);

/* 1 when the CPU has the SHA extensions (SHA-NI: Intel from Ice Lake and
 * Goldmont, AMD from Zen) with SSSE3 and SSE4.1, and DF_CPU_ISA is not
 * "scalar". */
int df_cpu_has_sha(void);

/* Applies the cap to XNNPACK (call before xnn_initialize) and to oneDNN
 * (call before creating its first engine). Idempotent. */
void df_cpu_cap_libraries(void);

#endif

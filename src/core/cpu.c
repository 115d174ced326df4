/* CPU features and the DF_CPU_ISA cap (see cpu.h). */
#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpuinfo.h>
#include <oneapi/dnnl/dnnl.h>

static int cap_avx2_vnni(void) {
    const char *s = getenv("DF_CPU_ISA");
    return s && !strcmp(s, "avx2_vnni");
}

static int cap_avx2(void) {
    const char *s = getenv("DF_CPU_ISA");
    return s && (!strcmp(s, "avx2") || cap_avx2_vnni());
}

static int cap_scalar(void) {
    const char *s = getenv("DF_CPU_ISA");
    return s && !strcmp(s, "scalar");
}

static df_cpu_isa cpu_native(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return DF_CPU_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DF_CPU_ISA_AVX2;
    return DF_CPU_ISA_SCALAR;
}

int df_cpu_has_sha(void) {
    if (cap_scalar()) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1");
}

df_cpu_isa df_cpu_isa_best(void) {
    df_cpu_isa isa = cpu_native();
    if (cap_avx2() && isa > DF_CPU_ISA_AVX2) isa = DF_CPU_ISA_AVX2;
    if (cap_scalar()) isa = DF_CPU_ISA_SCALAR;
    return isa;
}

int df_cpu_isa_capped(void) { return df_cpu_isa_best() < cpu_native(); }

const char *df_cpu_isa_name(df_cpu_isa isa) {
    switch (isa) {
    case DF_CPU_ISA_SCALAR: return "scalar";
    case DF_CPU_ISA_AVX2: return "avx2";
    case DF_CPU_ISA_AVX512: return "avx512";
    }
    return "?";
}

const char *df_cpu_blas_coretype(const char *current, df_cpu_isa isa) {
    /* OpenBLAS's x86 kernel sets without AVX2 + FMA (its fallback for an
     * unknown Intel model is Prescott); a name not listed is left alone */
    static const char *const old_cores[] = {
        "prescott", "core2",  "penryn", "dunnington", "nehalem",  "sandybridge",  "atom",      "katmai",
        "coppermine", "northwood", "banias", "athlon", "opteron", "opteron_sse3", "barcelona", "bobcat",
        "bulldozer", "piledriver", "steamroller", "nano"};
    static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    if (!current || isa == DF_CPU_ISA_SCALAR) return NULL;
    for (size_t i = 0; i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (!strcasecmp(current, avx512_cores[i])) return isa == DF_CPU_ISA_AVX512 ? NULL : "Haswell";
    for (size_t i = 0; i < sizeof old_cores / sizeof old_cores[0]; i++)
        if (!strcasecmp(current, old_cores[i])) return isa == DF_CPU_ISA_AVX512 ? "SkylakeX" : "Haswell";
    return NULL;
}

void df_cpu_cap_libraries(void) {
    if (!cap_avx2()) return;
    /* XNNPACK picks its kernels from cpuinfo's table when it initializes:
     * clearing the AVX-512 entries there (after cpuinfo has filled it) is
     * the only switch it has. */
    if (cpuinfo_initialize()) {
        struct cpuinfo_x86_isa *x = &cpuinfo_isa;
        x->avx512f = x->avx512pf = x->avx512er = x->avx512cd = x->avx512dq = false;
        x->avx512bw = x->avx512vl = x->avx512ifma = x->avx512vbmi = x->avx512vbmi2 = false;
        x->avx512bitalg = x->avx512vpopcntdq = x->avx512vnni = x->avx512bf16 = false;
        x->avx512vp2intersect = x->avx512_4vnniw = x->avx512_4fmaps = false;
    }
    /* Fails (harmlessly) once oneDNN has generated code: the cap then
     * comes from ONEDNN_MAX_CPU_ISA, which bench/backbone.sh also sets. */
    (void)dnnl_set_max_cpu_isa(cap_avx2_vnni() ? dnnl_cpu_isa_avx2_vnni : dnnl_cpu_isa_avx2);
}

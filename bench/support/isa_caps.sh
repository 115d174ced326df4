# The caps bench/backbone.sh and bench/backbone_pairs.sh put on each side
# for a mode, kept in one place so that both compare the same things:
#   native     everything the CPU has
#   avx2       AVX2 + FMA (Intel client parts before AVX-VNNI, AMD Zen 2/3)
#   avx2_vnni  the same plus AVX-VNNI (Intel client CPUs from the 12th
#              generation); PyTorch's fp32 does not use VNNI
# isa_caps MODE sets the arrays DF_ENV (DeepFashion and XNNPACK's own
# bench: our DF_CPU_ISA, oneDNN's cap) and TORCH_ENV (PyTorch: ATen's
# capability, oneDNN's cap under both of its names, OpenBLAS's Haswell
# kernels); it returns 1 for an unknown mode. Sourced, not run.
isa_caps() {
  case "$1" in
    native)
      DF_ENV=()
      TORCH_ENV=() ;;
    avx2)
      DF_ENV=(DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
      TORCH_ENV=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell) ;;
    avx2_vnni)
      DF_ENV=(DF_CPU_ISA=avx2_vnni ONEDNN_MAX_CPU_ISA=AVX2_VNNI)
      TORCH_ENV=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2_VNNI DNNL_MAX_CPU_ISA=AVX2_VNNI
                 OPENBLAS_CORETYPE=Haswell) ;;
    *) return 1 ;;
  esac
}

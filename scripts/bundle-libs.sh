# shellcheck shell=bash
# Sourced (not run) by scripts/make-bundle and scripts/gpu-check: which shared libraries a bundle
# leaves to the target machine. make-bundle packs every other library a Kiln binary loads into the
# bundle's lib/; gpu-check checks that each binary's libraries resolve accordingly.
#
# Left to the target, by soname:
#   - glibc's own libraries (`dpkg -L libc6`: ld-linux, libc, libm, libmvec, libpthread, libdl,
#     librt, libresolv, libnss_*, libnsl, libanl, libutil, libBrokenLocale, libthread_db,
#     libc_malloc_debug, libmemusage, libpcprofile) and libcrypt (glibc's on older systems). They
#     must match the target's ld-linux and libc: a copy from the build machine, put on the library
#     path, shadows the target's own (libresolv came in through libhdf5 -> libcurl -> krb5).
#   - libgcc_s: every target has one at least as new. (libstdc++ does go in: the build machine's
#     GCC may be newer than the target's, and only Kiln's binaries are given the bundle's path.)
#   - the kernel's vDSO, the NVIDIA driver's libraries, and CUDA's (cudart, cuDNN, cuBLAS, NVRTC,
#     nvJitLink): they must match the target's driver; gpu-check finds them there (the toolkit,
#     ldconfig, or pip's nvidia-* packages).
# shellcheck disable=SC2034  # used by the scripts that source this file
kiln_target_libs_re='^(linux-vdso|linux-gate|ld-linux|libc\.so|libm\.so|libmvec\.|libpthread\.|libdl\.|librt\.|libresolv\.|libnss_|libnsl\.|libanl\.|libutil\.|libBrokenLocale\.|libthread_db\.|libc_malloc_debug\.|libmemusage\.|libpcprofile\.|libcrypt\.|libgcc_s\.|libcuda\.|libnvidia-|libcudart\.|libcudnn|libcublas|libnvrtc|libnvJitLink)'

# The package that owns a library file, when dpkg knows ("" otherwise). Debian records /lib paths
# while the file may be reached through /usr/lib (merged /usr), so both spellings are asked.
kiln_lib_package() {
  command -v dpkg >/dev/null 2>&1 || return 0
  local path=$1 real alt
  real=$(readlink -f "$path")
  alt=${real/#\/usr\/lib\//\/lib\/}
  { dpkg -S "$path" || dpkg -S "$real" || dpkg -S "$alt"; } 2>/dev/null | head -n 1 | cut -d: -f1
  return 0  # a library no package owns is an answer (""), not an error under set -e
}

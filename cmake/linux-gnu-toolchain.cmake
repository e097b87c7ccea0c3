# A CMake toolchain file for Debian's GNU toolchains, native or cross: MS_TRIPLET (environment)
# names the target, x86_64-linux-gnu or aarch64-linux-gnu. The compiler is Debian's
# <triplet>-gcc (gcc-aarch64-linux-gnu on an amd64 builder, gcc-x86-64-linux-gnu on an arm64
# one, or the native gcc, which has the same name), and the libraries are the target's -dev
# packages installed through multiarch (libpq-dev:arm64 ...), in /usr/lib/<triplet>: no sysroot.
# The Dockerfile's build stage compiles with it for $TARGETARCH on the builder's own platform,
# so a multi-arch image needs no emulation; tests/deploy/cross.test.sh checks an arm64 build.
#
#   MS_TRIPLET=aarch64-linux-gnu cmake -S . -B build-arm64 \
#       -DCMAKE_TOOLCHAIN_FILE=cmake/linux-gnu-toolchain.cmake -DMS_TESTS=OFF
#
# Read from the environment, not a cache variable: CMake re-reads this file for every
# try_compile, where the environment is still there.
if(NOT DEFINED ENV{MS_TRIPLET})
  message(FATAL_ERROR "linux-gnu-toolchain.cmake: set MS_TRIPLET (x86_64-linux-gnu or aarch64-linux-gnu)")
endif()
set(ms_triplet $ENV{MS_TRIPLET})
if(ms_triplet STREQUAL "x86_64-linux-gnu")
  set(CMAKE_SYSTEM_PROCESSOR x86_64)
elseif(ms_triplet STREQUAL "aarch64-linux-gnu")
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
else()
  message(FATAL_ERROR "linux-gnu-toolchain.cmake: unknown MS_TRIPLET ${ms_triplet}")
endif()
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${ms_triplet}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${ms_triplet})
# pkg-config reads the target's .pc files only, never the builder's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${ms_triplet}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

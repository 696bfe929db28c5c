# SPDX-License-Identifier: BSL-1.0
# ports/h2coal/portfile.cmake: the h2coal overlay port, built from the checkout it sits in.
#
#   vcpkg install h2coal --overlay-ports=<checkout>/ports
#
# Header-only: one (release) configuration, no libraries. The CMake package is installed to
# share/cmake/h2coal and moved by vcpkg to share/h2coal; it finds Asio (asio::asio) and llhttp
# (llhttp::llhttp_static) through their vcpkg CMake packages, and nghttp2, whose port ships no CMake
# package, through pkg-config (or, without pkg-config, its header and library). With the cares feature it
# finds c-ares through vcpkg's CMake package c-ares::cares; with zlib, brotli and zstd, ZLIB::ZLIB,
# unofficial::brotli::brotlidec (or libbrotlidec.pc) and zstd::libzstd_* / libzstd.pc.
set(VCPKG_BUILD_TYPE release)

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Feature cares (a default feature): cares_resolver on vcpkg's c-ares (c-ares::cares); without it the
# package is configured H2COAL_WITH_CARES=OFF and its config never looks for c-ares.
# Features zlib, brotli, zstd (default features too): the Content-Encoding decoders, each the same way.
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    cares H2COAL_WITH_CARES
    zlib H2COAL_WITH_ZLIB
    brotli H2COAL_WITH_BROTLI
    zstd H2COAL_WITH_ZSTD
)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DH2COAL_INSTALL=ON
    -DH2COAL_BUILD_TESTS=OFF
    -DH2COAL_BUILD_EXAMPLES=OFF
    -DH2COAL_BUILD_BENCHMARKS=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME h2coal CONFIG_PATH share/cmake/h2coal)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
# LICENSE: the Boost Software License 1.0 (SPDX BSL-1.0), vcpkg's copyright file.
file(INSTALL "${SOURCE_PATH}/LICENSE" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}" RENAME copyright)

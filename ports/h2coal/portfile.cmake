# ports/h2coal/portfile.cmake: the h2coal overlay port, built from the checkout it sits in.
#
#   vcpkg install h2coal --overlay-ports=<checkout>/ports
#
# Header-only: one (release) configuration, no libraries. The CMake package is installed to
# share/cmake/h2coal and moved by vcpkg to share/h2coal; it finds Asio (asio::asio) and llhttp
# (llhttp::llhttp_static) through their vcpkg CMake packages, and nghttp2, whose port ships no CMake
# package, through pkg-config (or, without pkg-config, its header and library).
set(VCPKG_BUILD_TYPE release)

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
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
if(EXISTS "${SOURCE_PATH}/LICENSE")
  vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
else()
  # The repository has no license file yet; vcpkg requires a copyright file all the same.
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
       "h2coal has no license file yet; see the project's README.\n")
endif()

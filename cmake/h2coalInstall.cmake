# SPDX-License-Identifier: BSL-1.0
# h2coalInstall.cmake: what `cmake --install` puts into the prefix.
#
#   include/h2coal/...                      every header, detail/ included
#   share/cmake/h2coal/h2coalConfig.cmake   find_package(h2coal), with its version file (any architecture)
#                      h2coalTargets.cmake  the exported h2coal::h2coal (INTERFACE)
#                      h2coalDependencies.cmake, FindAsio.cmake, FindLLHTTP.cmake, FindCares.cmake,
#                      FindBrotli.cmake, FindZstd.cmake
#                                           the build's lookup
#   share/pkgconfig/h2coal.pc               for builds without CMake
#   share/doc/h2coal/LICENSE                the Boost Software License 1.0 (SPDX BSL-1.0)
#
# The package is header-only, so it goes under share/ (CMAKE_INSTALL_DATADIR) by default; set
# H2COAL_INSTALL_CMAKEDIR / H2COAL_INSTALL_PKGCONFIGDIR to lib/cmake/h2coal / lib/pkgconfig if preferred.
# A compiled target added later (separate compilation) joins the export set h2coalTargets.
include(CMakePackageConfigHelpers)

set(H2COAL_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/h2coal" CACHE STRING
    "Where h2coalConfig.cmake and the files it reads are installed (relative to the prefix)")
set(H2COAL_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
    "Where h2coal.pc is installed (relative to the prefix)")
mark_as_advanced(H2COAL_INSTALL_CMAKEDIR H2COAL_INSTALL_PKGCONFIGDIR)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/h2coal" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.ipp")

# The license (BSL-1.0) goes with every copy of the headers.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DOCDIR}")

install(TARGETS h2coal EXPORT h2coalTargets)
install(EXPORT h2coalTargets NAMESPACE h2coal:: FILE h2coalTargets.cmake
        DESTINATION "${H2COAL_INSTALL_CMAKEDIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/h2coalConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/h2coalConfig.cmake"
  INSTALL_DESTINATION "${H2COAL_INSTALL_CMAKEDIR}")
# Header-only: any architecture; 0.x releases follow the same-major rule as later ones.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/h2coalConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES
  "${PROJECT_BINARY_DIR}/h2coalConfig.cmake"
  "${PROJECT_BINARY_DIR}/h2coalConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/h2coalDependencies.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindAsio.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindLLHTTP.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindCares.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindBrotli.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindZstd.cmake"
  DESTINATION "${H2COAL_INSTALL_CMAKEDIR}")

# h2coal.pc names its prefix relative to its own directory (${pcfiledir}), so the prefix can move
# (cmake --install --prefix, vcpkg, a tarball).
if(IS_ABSOLUTE "${H2COAL_INSTALL_PKGCONFIGDIR}")
  set(H2COAL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _h2coal_up "/${H2COAL_INSTALL_PKGCONFIGDIR}" "/")
  string(REGEX REPLACE "/$" "" _h2coal_up "${_h2coal_up}")
  set(H2COAL_PC_PREFIX "\${pcfiledir}/${_h2coal_up}")
  unset(_h2coal_up)
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(H2COAL_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(H2COAL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# With c-ares and the codecs: their .pc files join Requires (a Find-module library goes to Libs
# instead), and their defines.
set(H2COAL_PC_REQUIRES "${_h2coal_cares_pc_requires}${_h2coal_codecs_pc_requires}")
set(H2COAL_PC_LIBS "${_h2coal_cares_pc_libs}${_h2coal_codecs_pc_libs}")
set(H2COAL_PC_CFLAGS "")
foreach(_h2coal_dep CARES ZLIB BROTLI ZSTD)
  if(H2COAL_HAS_${_h2coal_dep})
    string(APPEND H2COAL_PC_CFLAGS " -DH2COAL_HAS_${_h2coal_dep}=1")
  endif()
endforeach()
unset(_h2coal_dep)
configure_file("${PROJECT_SOURCE_DIR}/cmake/h2coal.pc.in" "${PROJECT_BINARY_DIR}/h2coal.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/h2coal.pc" DESTINATION "${H2COAL_INSTALL_PKGCONFIGDIR}")

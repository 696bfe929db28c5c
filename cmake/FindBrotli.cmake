# SPDX-License-Identifier: BSL-1.0
# FindBrotli.cmake: libbrotli's decoder where it ships no CMake package (Debian: libbrotli-dev). Defines
# Brotli::brotlidec (brotlidec with brotlicommon) and Brotli_VERSION; Brotli_FROM_PKGCONFIG is true when
# libbrotlidec.pc gave it, else Brotli_DEC_LIBRARY and Brotli_COMMON_LIBRARY name the libraries found.
set(Brotli_FROM_PKGCONFIG FALSE)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(H2COAL_BROTLIDEC QUIET IMPORTED_TARGET libbrotlidec)
endif()
if(TARGET PkgConfig::H2COAL_BROTLIDEC)
  set(Brotli_FROM_PKGCONFIG TRUE)
  set(Brotli_VERSION "${H2COAL_BROTLIDEC_VERSION}")
  include(FindPackageHandleStandardArgs)
  find_package_handle_standard_args(Brotli REQUIRED_VARS H2COAL_BROTLIDEC_LINK_LIBRARIES VERSION_VAR Brotli_VERSION)
  if(Brotli_FOUND AND NOT TARGET Brotli::brotlidec)
    add_library(Brotli::brotlidec INTERFACE IMPORTED)
    set_target_properties(Brotli::brotlidec PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::H2COAL_BROTLIDEC)
  endif()
  return()
endif()

find_path(Brotli_INCLUDE_DIR NAMES brotli/decode.h)
find_library(Brotli_DEC_LIBRARY NAMES brotlidec brotlidec-static)
find_library(Brotli_COMMON_LIBRARY NAMES brotlicommon brotlicommon-static)
mark_as_advanced(Brotli_INCLUDE_DIR Brotli_DEC_LIBRARY Brotli_COMMON_LIBRARY)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Brotli REQUIRED_VARS Brotli_DEC_LIBRARY Brotli_COMMON_LIBRARY Brotli_INCLUDE_DIR)
if(Brotli_FOUND AND NOT TARGET Brotli::brotlidec)
  add_library(Brotli::brotlicommon UNKNOWN IMPORTED)
  set_target_properties(Brotli::brotlicommon PROPERTIES IMPORTED_LOCATION "${Brotli_COMMON_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Brotli_INCLUDE_DIR}")
  add_library(Brotli::brotlidec UNKNOWN IMPORTED)
  set_target_properties(Brotli::brotlidec PROPERTIES IMPORTED_LOCATION "${Brotli_DEC_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Brotli_INCLUDE_DIR}"
                        INTERFACE_LINK_LIBRARIES Brotli::brotlicommon)
endif()

# SPDX-License-Identifier: BSL-1.0
# h2coalDependencies.cmake: finds what the h2coal headers need and names each as an h2coal:: target
# (h2coal::asio, h2coal::nghttp2, h2coal::llhttp, and the optional h2coal::cares), whatever package
# (Debian, Conan, vcpkg, pkg-config) provided it.
#
# Two callers, one lookup chain: the build (CMakeLists.txt, with cmake/ on CMAKE_MODULE_PATH) and the
# installed h2coalConfig.cmake (with its own directory, holding FindAsio and FindLLHTTP, on the path and
# _h2coal_from_config set). The exported h2coal target names these h2coal:: targets, so the config must
# create them before it includes h2coalTargets.cmake. In the build a missing dependency is an error; in
# the config it makes find_package(h2coal) fail with a message, as find_dependency does.
include(CMakeFindDependencyMacro)

macro(_h2coal_require)
  if(_h2coal_from_config)
    find_dependency(${ARGV})  # returns from this file on failure, h2coal_FOUND false
  else()
    find_package(${ARGV} REQUIRED)
  endif()
endmacro()

macro(_h2coal_missing)
  string(CONCAT _h2coal_message ${ARGV})
  if(_h2coal_from_config)
    set(h2coal_NOT_FOUND_MESSAGE "${_h2coal_message}")
    set(h2coal_FOUND FALSE)
    return()
  else()
    message(FATAL_ERROR "${_h2coal_message}")
  endif()
endmacro()

_h2coal_require(Threads)
_h2coal_require(OpenSSL 1.1.1)

# Standalone Asio: a config package where one exists (vcpkg, Conan: asio::asio), else our Find module.
# Neither defines ASIO_STANDALONE, so h2coal::asio does.
if(NOT TARGET h2coal::asio)
  find_package(asio CONFIG QUIET)
  if(TARGET asio::asio)
    set(_h2coal_asio asio::asio)
  else()
    _h2coal_require(Asio MODULE)
    set(_h2coal_asio Asio::Asio)
  endif()
  add_library(h2coal::asio INTERFACE IMPORTED)
  set_target_properties(h2coal::asio PROPERTIES
    INTERFACE_LINK_LIBRARIES "${_h2coal_asio};Threads::Threads"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED")
  unset(_h2coal_asio)
endif()

# nghttp2 (1.33 or later, for ORIGIN frames): Conan names it libnghttp2::libnghttp2, upstream CMake
# nghttp2::nghttp2; vcpkg and Debian ship no CMake package, so pkg-config, and last a plain search for
# the header and library (vcpkg on a machine without pkg-config).
if(NOT TARGET h2coal::nghttp2)
  find_package(libnghttp2 CONFIG QUIET)
  if(TARGET libnghttp2::libnghttp2)
    set(_h2coal_nghttp2 libnghttp2::libnghttp2)
  else()
    find_package(nghttp2 CONFIG QUIET)
    if(TARGET nghttp2::nghttp2)
      set(_h2coal_nghttp2 nghttp2::nghttp2)
    elseif(TARGET nghttp2::nghttp2_static)
      set(_h2coal_nghttp2 nghttp2::nghttp2_static)
    else()
      find_package(PkgConfig QUIET)
      if(PKG_CONFIG_FOUND)
        pkg_check_modules(H2COAL_NGHTTP2 QUIET IMPORTED_TARGET libnghttp2>=1.33)
      endif()
      if(TARGET PkgConfig::H2COAL_NGHTTP2)
        set(_h2coal_nghttp2 PkgConfig::H2COAL_NGHTTP2)
      else()
        find_path(H2COAL_NGHTTP2_INCLUDE_DIR NAMES nghttp2/nghttp2.h)
        find_library(H2COAL_NGHTTP2_LIBRARY NAMES nghttp2 nghttp2_static)
        mark_as_advanced(H2COAL_NGHTTP2_INCLUDE_DIR H2COAL_NGHTTP2_LIBRARY)
        if(NOT H2COAL_NGHTTP2_INCLUDE_DIR OR NOT H2COAL_NGHTTP2_LIBRARY)
          _h2coal_missing("h2coal needs libnghttp2 1.33 or later: no CMake package (libnghttp2, nghttp2), "
                          "no pkg-config module libnghttp2>=1.33, and no nghttp2/nghttp2.h with its library")
        endif()
        add_library(h2coal::nghttp2_library UNKNOWN IMPORTED)
        set_target_properties(h2coal::nghttp2_library PROPERTIES
          IMPORTED_LOCATION "${H2COAL_NGHTTP2_LIBRARY}"
          INTERFACE_INCLUDE_DIRECTORIES "${H2COAL_NGHTTP2_INCLUDE_DIR}")
        set(_h2coal_nghttp2 h2coal::nghttp2_library)
      endif()
    endif()
  endif()
  add_library(h2coal::nghttp2 INTERFACE IMPORTED)
  set_target_properties(h2coal::nghttp2 PROPERTIES INTERFACE_LINK_LIBRARIES "${_h2coal_nghttp2}")
  unset(_h2coal_nghttp2)
endif()

# llhttp: Conan's llhttp::llhttp, upstream's and vcpkg's llhttp::llhttp_shared or llhttp::llhttp_static
# (vcpkg builds only the static one), else our Find module, which also compiles Debian's C sources
# (node-llhttp) into a small static library in the caller's tree.
if(NOT TARGET h2coal::llhttp)
  find_package(llhttp CONFIG QUIET)
  if(TARGET llhttp::llhttp)
    set(_h2coal_llhttp llhttp::llhttp)
  elseif(TARGET llhttp::llhttp_shared)
    set(_h2coal_llhttp llhttp::llhttp_shared)
  elseif(TARGET llhttp::llhttp_static)
    set(_h2coal_llhttp llhttp::llhttp_static)
  else()
    _h2coal_require(LLHTTP MODULE)
    set(_h2coal_llhttp LLHTTP::LLHTTP)
  endif()
  add_library(h2coal::llhttp INTERFACE IMPORTED)
  set_target_properties(h2coal::llhttp PROPERTIES INTERFACE_LINK_LIBRARIES "${_h2coal_llhttp}")
  unset(_h2coal_llhttp)
endif()

# c-ares (optional: h2coal/cares_resolver.hpp). The build decides with H2COAL_WITH_CARES: AUTO (the
# default) uses it when found, ON requires it, OFF leaves it out. The installed config asks for it exactly
# when that build used it (_h2coal_with_cares, recorded in h2coalConfig.cmake), so the exported target's
# link to h2coal::cares always resolves. Conan and vcpkg name it c-ares::cares (upstream also
# c-ares::cares_shared / c-ares::cares_static); Debian ships only libcares.pc; FindCares is the last resort.
# H2COAL_HAS_CARES says whether it was found (and, in the build, h2coal.pc's share of it).
if(_h2coal_from_config)
  set(_h2coal_cares_mode "${_h2coal_with_cares}")
else()
  set(_h2coal_cares_mode "${H2COAL_WITH_CARES}")
endif()
string(TOUPPER "${_h2coal_cares_mode}" _h2coal_cares_mode)
if(NOT _h2coal_cares_mode STREQUAL "AUTO")
  if(_h2coal_cares_mode)
    set(_h2coal_cares_mode ON)
  else()
    set(_h2coal_cares_mode OFF)
  endif()
endif()
set(H2COAL_HAS_CARES OFF)
set(_h2coal_cares_pc_requires "")
set(_h2coal_cares_pc_libs "")
if(TARGET h2coal::cares)
  set(H2COAL_HAS_CARES ON)
elseif(NOT _h2coal_cares_mode STREQUAL "OFF")
  set(_h2coal_cares "")
  find_package(c-ares CONFIG QUIET)
  foreach(_t c-ares::cares c-ares::cares_shared c-ares::cares_static)
    if(NOT _h2coal_cares AND TARGET ${_t})
      set(_h2coal_cares ${_t})
      set(_h2coal_cares_pc_requires ", libcares >= 1.16")
    endif()
  endforeach()
  if(NOT _h2coal_cares)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(H2COAL_CARES QUIET IMPORTED_TARGET libcares>=1.16)
    endif()
    if(TARGET PkgConfig::H2COAL_CARES)
      set(_h2coal_cares PkgConfig::H2COAL_CARES)
      set(_h2coal_cares_pc_requires ", libcares >= 1.16")
    else()
      find_package(Cares 1.16 MODULE QUIET)
      if(TARGET Cares::Cares)
        set(_h2coal_cares Cares::Cares)
        set(_h2coal_cares_pc_libs " ${Cares_LIBRARY}")
      endif()
    endif()
  endif()
  if(_h2coal_cares)
    add_library(h2coal::cares INTERFACE IMPORTED)
    set_target_properties(h2coal::cares PROPERTIES INTERFACE_LINK_LIBRARIES "${_h2coal_cares}")
    set(H2COAL_HAS_CARES ON)
  elseif(_h2coal_cares_mode STREQUAL "ON")
    _h2coal_missing("h2coal needs c-ares 1.16 or later (H2COAL_WITH_CARES=ON, or an h2coal installed with it): "
                    "no CMake package c-ares, no pkg-config module libcares>=1.16, and no ares.h with its library")
  elseif(NOT _h2coal_from_config)
    message(STATUS "h2coal: c-ares not found, so no cares_resolver (H2COAL_WITH_CARES=AUTO)")
  endif()
  unset(_h2coal_cares)
endif()
unset(_h2coal_cares_mode)

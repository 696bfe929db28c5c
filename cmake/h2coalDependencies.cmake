# h2coalDependencies.cmake: finds what the h2coal headers need and names each as an h2coal:: target,
# whatever package (Debian, Conan, vcpkg, pkg-config) provided it.
include(CMakeFindDependencyMacro)

find_package(Threads REQUIRED)
find_package(OpenSSL 1.1.1 REQUIRED)

# Standalone Asio: a config package where one exists (vcpkg, Conan), else our Find module.
if(NOT TARGET h2coal::asio)
  find_package(asio CONFIG QUIET)
  if(TARGET asio::asio)
    set(_h2coal_asio asio::asio)
  else()
    find_package(Asio MODULE REQUIRED)
    set(_h2coal_asio Asio::Asio)
  endif()
  add_library(h2coal::asio INTERFACE IMPORTED)
  set_target_properties(h2coal::asio PROPERTIES
    INTERFACE_LINK_LIBRARIES "${_h2coal_asio};Threads::Threads"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED")
endif()

# nghttp2: Conan names it libnghttp2::libnghttp2, upstream CMake nghttp2::nghttp2, else pkg-config.
if(NOT TARGET h2coal::nghttp2)
  find_package(libnghttp2 CONFIG QUIET)
  if(TARGET libnghttp2::libnghttp2)
    set(_h2coal_nghttp2 libnghttp2::libnghttp2)
  else()
    find_package(nghttp2 CONFIG QUIET)
    if(TARGET nghttp2::nghttp2)
      set(_h2coal_nghttp2 nghttp2::nghttp2)
    else()
      find_package(PkgConfig REQUIRED)
      pkg_check_modules(H2COAL_NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2>=1.33)
      set(_h2coal_nghttp2 PkgConfig::H2COAL_NGHTTP2)
    endif()
  endif()
  add_library(h2coal::nghttp2 INTERFACE IMPORTED)
  set_target_properties(h2coal::nghttp2 PROPERTIES INTERFACE_LINK_LIBRARIES "${_h2coal_nghttp2}")
endif()

# llhttp: a package's llhttp::llhttp target, else our Find module (which builds Debian's C sources).
if(NOT TARGET h2coal::llhttp)
  find_package(llhttp CONFIG QUIET)
  if(TARGET llhttp::llhttp)
    set(_h2coal_llhttp llhttp::llhttp)
  elseif(TARGET llhttp::llhttp_static)
    set(_h2coal_llhttp llhttp::llhttp_static)
  else()
    find_package(LLHTTP MODULE REQUIRED)
    set(_h2coal_llhttp LLHTTP::LLHTTP)
  endif()
  add_library(h2coal::llhttp INTERFACE IMPORTED)
  set_target_properties(h2coal::llhttp PROPERTIES INTERFACE_LINK_LIBRARIES "${_h2coal_llhttp}")
endif()

// SPDX-License-Identifier: BSL-1.0
// h2coal/src.hpp: the library's compiled part, for separate compilation (Asio's model).
//
// Define H2COAL_SEPARATE_COMPILATION in every translation unit that uses h2coal (the CMake target
// h2coal::separate does it), and include this header in exactly one .cpp file. The other translation units
// then see only the light public headers: no OpenSSL, nghttp2 or llhttp declarations.
#pragma once

#if !defined(H2COAL_SEPARATE_COMPILATION)
#error "h2coal/src.hpp is for separate compilation: define H2COAL_SEPARATE_COMPILATION everywhere"
#endif

#include <h2coal/impl/client.ipp>
#include <h2coal/impl/decoder.ipp>

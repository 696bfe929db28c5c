// SPDX-License-Identifier: BSL-1.0
// h2coal/config.hpp: build-mode macros.
//
// Header-only by default: every non-template definition is `inline`. Define H2COAL_SEPARATE_COMPILATION
// and compile <h2coal/src.hpp> in one translation unit to keep the heavy headers out of the others.
#pragma once

#if defined(H2COAL_SEPARATE_COMPILATION)
#define H2COAL_DECL
#else
#define H2COAL_DECL inline
#define H2COAL_HEADER_ONLY 1
#endif

#define H2COAL_VERSION_MAJOR 0
#define H2COAL_VERSION_MINOR 1
#define H2COAL_VERSION_PATCH 0
#define H2COAL_VERSION_STRING "0.1.0"

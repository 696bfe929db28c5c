// SPDX-License-Identifier: BSL-1.0
// examples/fetch/h2coal_src.cpp: h2coal's compiled part, for the separate-compilation build of fetch.
#include <h2coal/src.hpp>

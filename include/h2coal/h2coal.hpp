// SPDX-License-Identifier: BSL-1.0
// h2coal/h2coal.hpp: the whole library in one include.
#pragma once

#include <h2coal/config.hpp>
#include <h2coal/error.hpp>
#include <h2coal/url.hpp>
#include <h2coal/request.hpp>
#include <h2coal/response.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/tls_options.hpp>
#include <h2coal/policy.hpp>
#include <h2coal/proxy.hpp>
#include <h2coal/trace.hpp>
#include <h2coal/options.hpp>
#include <h2coal/connection_summary.hpp>
#include <h2coal/client.hpp>
#if defined(H2COAL_HEADER_ONLY)
#include <h2coal/tls.hpp>
#include <h2coal/pool.hpp>
#endif

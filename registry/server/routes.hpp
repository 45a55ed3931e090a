// Internal to registry/server: the single entry point httplib calls for every request.
#pragma once

#include <httplib.h>

namespace strata::registry {

struct Context;

/// Routes one request to its handler and writes the response, including spec error bodies
/// for every failure. `reader` is the streamed body (null for methods without one).
/// Thread-safe (handlers synchronise through Context).
void handle_request(Context& ctx, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader* reader);

}  // namespace strata::registry

// Internal to registry/server: the single entry point httplib calls for every request.
#pragma once

#include <httplib.h>

namespace strata::registry {

struct Context;
class AuthGate;

/// Routes one request to its handler and writes the response, including spec error bodies
/// for every failure. `reader` is the streamed body (null for methods without one).
/// `auth` checks who may do what (null: auth off, everything allowed; GET /v2/token then
/// is 404). Thread-safe (handlers synchronise through Context, AuthGate is thread-safe).
void handle_request(Context& ctx, AuthGate* auth, const httplib::Request& req,
                    httplib::Response& res, const httplib::ContentReader* reader);

}  // namespace strata::registry

// The open loop of the load generator (loadgen --rate): requests on a fixed schedule.
#pragma once

#include <string>

namespace tools {

// What an open-loop run offers (the flags of loadgen --rate).
struct OpenLoop {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  double rate = 0;       // requests per second, on a fixed schedule
  double duration = 5;   // seconds of arrivals
  int connections = 64;  // keep-alive connections, at most
  double new_share = 0;  // the share of requests sent each on a new connection (0 to 1)
  double timeout = 2;    // seconds after its due time at which a request is given up
  double seconds = 120;  // the bound on the whole run
};

// Runs it, prints the result line, and returns 0 (1 if the server could not be reached at all).
int run_open_loop(const OpenLoop& config);

}  // namespace tools

// The workgate command line: serve, validate, routes, version.
#pragma once

#include <string>
#include <vector>

namespace workgate::app {

// Runs the command in `args` (argv without the program name); returns the process exit status.
int run_cli(const std::vector<std::string>& args);

}  // namespace workgate::app

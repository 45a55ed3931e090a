// The strata executable: everything lives in the library; this only hands over argv.
#include "cli/app.hpp"

int main(int argc, char** argv) { return strata::cli::run(argc, argv); }

// Boost.JSON compiled once here (header-only mode): Debian ships its headers in libboost1.81-dev.
#include <boost/json/src.hpp>

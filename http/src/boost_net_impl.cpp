// Asio and Beast are header-only by default; with separate compilation their
// implementation is compiled here, once, instead of in every file that uses them.
#include <utility> // Boost 1.74 + C++20: asio/awaitable.hpp needs std::exchange

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>

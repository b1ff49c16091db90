#pragma once
// The one place that pulls in Asio for the I/O side. Asio is compiled once, in
// asio_impl.cpp (BOOST_ASIO_SEPARATE_COMPILATION), to keep builds fast.

#include "common/units.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace cohort::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using cohort::duration;
template <class T = void>
using awaitable = asio::awaitable<T>;

// Network operations report failures as values (STYLE: errors are values on the data plane).
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// The same results from an operation that co_await runs inside the awaiting
// coroutine's frame: use_awaitable gives every operation a coroutine frame of
// its own (allocated, resumed and freed per read or write).
inline constexpr auto nothrow_deferred = asio::as_tuple(asio::deferred);

}  // namespace cohort::net

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
// Everything runs on io_contexts, so sockets, timers and coroutines name that
// executor instead of the type-erased any_io_executor, whose copies, moves,
// comparisons and destruction cost ~500 instructions per proxied request.
using executor = asio::io_context::executor_type;
using tcp_socket = tcp::socket::rebind_executor<executor>::other;
using tcp_acceptor = tcp::acceptor::rebind_executor<executor>::other;
using tcp_resolver = tcp::resolver::rebind_executor<executor>::other;
using steady_timer = asio::steady_timer::rebind_executor<executor>::other;
template <class T = void>
using awaitable = asio::awaitable<T, executor>;

// Network operations report failures as values (STYLE: errors are values on the data plane).
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable_t<executor>{});
// The same results from an operation that co_await runs inside the awaiting
// coroutine's frame: use_awaitable gives every operation a coroutine frame of
// its own (allocated, resumed and freed per read or write).
inline constexpr auto nothrow_deferred = asio::as_tuple(asio::deferred);

}  // namespace cohort::net

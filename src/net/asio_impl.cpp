// Compiles Asio's implementation (and its TLS layer) once for the whole program.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>

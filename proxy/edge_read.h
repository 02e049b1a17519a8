// A TCP socket's read that tells Asio's reactor when the socket is drained.
//
// Asio (1.81, epoll) tries every read at once and registers it with epoll only if the read fails
// with EAGAIN; it stops trying at once only after an end of stream. Between an HTTP request and
// its response nothing is there yet about half the time (measured under wrk -c64: 0.5 EAGAIN
// reads per request on the client side, 0.3 on the upstream side), so the proxy paid a failed
// system call where epoll would have told it. Asio's own wait for readiness costs an epoll_ctl
// per wait instead. This read is socket.async_read_some with one difference: a read that returns
// fewer bytes than asked for (the socket's queue is empty now) reports the socket exhausted, as
// Asio's own writes do when short. The reactor then queues the next read of the socket without
// trying it, until epoll reports new bytes (edge-triggered: every arrival after the read is
// reported); a read of a full buffer keeps trying at once. Built on Asio's reactor internals
// (boost::asio::detail), which the project's one Boost version (1.81) fixes.
#pragma once

#include <cstddef>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace bgp {

namespace edge_read_detail {

namespace ad = boost::asio::detail;
using boost::system::error_code;
using Socket = boost::asio::ip::tcp::socket;

// The socket's implementation (descriptor, state, reactor registration): protected in Asio's
// basic_socket, reached through a derived class's member pointer.
struct SocketAccess : Socket {
  static auto& impl(Socket& socket) noexcept { return socket.*(&SocketAccess::impl_); }
};

template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(ad::socket_type socket, boost::asio::mutable_buffer buffer, Handler& handler,
         const IoExecutor& io_ex)
      : ad::reactor_op(error_code(), &RecvOp::do_perform, &RecvOp::do_complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  // Asio's read (non_blocking_recv1), with a short read reported as exhausting the socket.
  static status do_perform(ad::reactor_op* base) {
    auto* op = static_cast<RecvOp*>(base);
    if (!ad::socket_ops::non_blocking_recv1(op->socket_, op->buffer_.data(), op->buffer_.size(), 0,
                                            true, op->ec_, op->bytes_transferred_)) {
      return not_done;
    }
    if (op->ec_ && op->ec_ != boost::asio::error::eof) return done;
    return op->bytes_transferred_ < op->buffer_.size() ? done_and_exhausted : done;
  }

  // As Asio's reactive_socket_recv_op completes.
  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    auto* op = static_cast<RecvOp*>(base);
    ptr p = {std::addressof(op->handler_), op, op};
    ad::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    ad::binder2<Handler, error_code, std::size_t> handler(op->handler_, op->ec_,
                                                          op->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block block(ad::fenced_block::half);
      work.complete(handler, handler.handler_);
    }
  }

 private:
  ad::socket_type socket_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// A per-operation cancellation (a bound cancellation slot) takes the read off the reactor.
class Cancellation {
 public:
  Cancellation(ad::reactor& reactor, ad::reactor::per_descriptor_data& data, int descriptor)
      : reactor_(&reactor), data_(&data), descriptor_(descriptor) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type &
           (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total))) {
      reactor_->cancel_ops_by_key(descriptor_, *data_, ad::reactor::read_op, this);
    }
  }

 private:
  ad::reactor* reactor_;
  ad::reactor::per_descriptor_data* data_;
  int descriptor_;
};

struct Initiate {
  template <typename Handler>
  void operator()(Handler handler, Socket* socket, boost::asio::mutable_buffer buffer) const {
    auto& io = SocketAccess::impl(*socket);
    auto& impl = io.get_implementation();
    const auto& io_ex = io.get_executor();
    using Op = RecvOp<Handler, std::decay_t<decltype(io_ex)>>;
    auto& reactor = boost::asio::use_service<ad::reactor>(
        boost::asio::query(io_ex, boost::asio::execution::context));
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, handler, io_ex);
    if (slot.is_connected()) {
      p.p->cancellation_key_ =
          &slot.template emplace<Cancellation>(reactor, impl.reactor_data_, impl.socket_);
    }
    // As Asio's socket service starts a read: an empty buffer completes at once (a read of none
    // would look like an end of stream), and the descriptor goes non-blocking first.
    if (buffer.size() > 0 &&
        ((impl.state_ & ad::socket_ops::non_blocking) != 0 ||
         ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))) {
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                       true);
    } else {
      reactor.post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
  }
};

}  // namespace edge_read_detail

// socket.async_read_some(buffer, token), but a short read lets the next one wait for epoll (see
// the top of this file).
template <typename Token>
auto async_read_some_edge(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer,
                          Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      edge_read_detail::Initiate{}, token, &socket, buffer);
}

}  // namespace bgp

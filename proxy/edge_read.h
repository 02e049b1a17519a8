// Reads of a plain TCP socket that let epoll say when bytes come, instead of a read failing with
// EAGAIN first.
//
// Asio (1.81, epoll, edge-triggered) tries every read at once and waits for epoll only after that
// try failed; it stops trying at once only after an end of stream. Between a request and its
// response nothing is there yet about half the time (wrk -c64 through one worker: 0.5 failed reads
// per request on the client side, 0.3 on the upstream side). Asio's own wait for readiness costs
// an epoll_ctl per wait instead.
//
// A read here reports a drained socket to Asio's reactor, as Asio's own short writes do: one that
// returned fewer bytes than asked for, with nothing left behind (TCP_INQ says so, and counts a
// received FIN as something left: the end of stream is read at once). The reactor then queues the
// next read without trying it, and epoll reports every byte, FIN or reset that arrives after the
// read. What it cannot report again is a reset that came before the read and was already reported
// (a reset behind data): the next read waits on a drained socket only after a write succeeded
// since (a write fails once a reset arrived). SocketDrain keeps that: any other read of a drained
// socket re-arms epoll first (an epoll_ctl, as Asio's waits do), and so does rearm() before a read
// that does not go through here. Built on Asio's reactor internals (boost::asio::detail), which
// the project's one Boost version (1.81) fixes.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associator.hpp>
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

// What the reads of one socket know of it between reads.
class SocketDrain {
 public:
  // The last read drained the socket (the reactor will not try the next one at once) and no write
  // succeeded since.
  bool drained() const noexcept { return drained_; }
  // A write to the socket succeeded after its last read: a reset that came before would have
  // failed it, so the next read may wait for epoll.
  void wrote() noexcept { drained_ = false; }

  // Used by the reads and writes here.
  void read(bool drained) noexcept {
    drained_ = drained;
    ++reads_;
  }
  void rearmed() noexcept { drained_ = false; }
  unsigned reads() const noexcept { return reads_; }

  // The reactor of the socket's executor, looked up once: use_service locks the context's service
  // registry and searches it, too dear for every read.
  template <typename Executor>
  boost::asio::detail::reactor& reactor(const Executor& io_ex) {
    if (reactor_ == nullptr) {
      reactor_ = &boost::asio::use_service<boost::asio::detail::reactor>(
          boost::asio::query(io_ex, boost::asio::execution::context));
    }
    return *reactor_;
  }

 private:
  bool drained_ = false;
  unsigned reads_ = 0;  // tells a write whether a read ended while it was under way
  boost::asio::detail::reactor* reactor_ = nullptr;
};

// Lets reads here tell a drained socket (TCP_INQ); without it they never do. Once per socket.
inline void enable_drain_reports(boost::asio::ip::tcp::socket& socket) noexcept {
  const int on = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on);
}

namespace edge_read_detail {

namespace ad = boost::asio::detail;
using boost::system::error_code;
using Socket = boost::asio::ip::tcp::socket;

// The socket's implementation (descriptor, state, reactor registration): protected in Asio's
// basic_socket, reached through a derived class's member pointer.
struct SocketAccess : Socket {
  static auto& impl(Socket& socket) noexcept { return socket.*(&SocketAccess::impl_); }
};

// One recvmsg with TCP_INQ's count of what is left: whether the read drained the socket.
inline bool receive(int descriptor, boost::asio::mutable_buffer buffer, error_code& ec,
                    std::size_t& bytes, bool& drained) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  for (;;) {
    const ssize_t n = ::recvmsg(descriptor, &message, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    drained = false;
    bytes = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (n < 0) {
      ec = error_code(errno, boost::asio::error::get_system_category());
      return true;
    }
    if (n == 0) ec = boost::asio::error::eof;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != IPPROTO_TCP || c->cmsg_type != TCP_CM_INQ) continue;
      int left = 0;
      std::memcpy(&left, CMSG_DATA(c), sizeof left);
      drained = n > 0 && bytes < buffer.size() && left == 0;
    }
    return true;
  }
}

template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(int descriptor, boost::asio::mutable_buffer buffer, SocketDrain& drain, Handler& handler,
         const IoExecutor& io_ex)
      : ad::reactor_op(error_code(), &RecvOp::do_perform, &RecvOp::do_complete),
        descriptor_(descriptor),
        buffer_(buffer),
        drain_(drain),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  // An end of stream exhausts the socket too (as in Asio's own read).
  static status do_perform(ad::reactor_op* base) {
    auto* op = static_cast<RecvOp*>(base);
    bool drained = false;
    if (!receive(op->descriptor_, op->buffer_, op->ec_, op->bytes_transferred_, drained)) {
      return not_done;
    }
    op->drain_.read(drained);
    return drained || op->ec_ == boost::asio::error::eof ? done_and_exhausted : done;
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
  int descriptor_;
  boost::asio::mutable_buffer buffer_;
  SocketDrain& drain_;
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

struct InitiateRead {
  template <typename Handler>
  void operator()(Handler handler, Socket* socket, boost::asio::mutable_buffer buffer,
                  SocketDrain* drain) const {
    auto& io = SocketAccess::impl(*socket);
    auto& impl = io.get_implementation();
    const auto& io_ex = io.get_executor();
    using Op = RecvOp<Handler, std::decay_t<decltype(io_ex)>>;
    auto& reactor = drain->reactor(io_ex);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, *drain, handler, io_ex);
    if (slot.is_connected()) {
      p.p->cancellation_key_ =
          &slot.template emplace<Cancellation>(reactor, impl.reactor_data_, impl.socket_);
    }
    // As Asio's socket service starts a read: an empty buffer completes at once (a read of none
    // would look like an end of stream), and the descriptor goes non-blocking first.
    if (buffer.size() > 0 &&
        ((impl.state_ & ad::socket_ops::non_blocking) != 0 ||
         ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))) {
      // Not tried at once on a drained socket, as usual; without a write since, not left to an
      // edge already reported either: a speculative start is off, so the reactor re-arms epoll.
      const bool speculative = !drain->drained();
      drain->rearmed();
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                       speculative);
    } else {
      reactor.post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
  }
};

// A write's handler that tells the drain state of a write that succeeded with no read ending
// meanwhile (a read that ended under it may have drained the socket after the bytes went out).
template <typename Handler>
struct WroteHandler {
  Handler handler;
  SocketDrain* drain;
  unsigned reads;

  void operator()(const error_code& ec, std::size_t n) {
    if (!ec && drain->reads() == reads) drain->wrote();
    std::move(handler)(ec, n);
  }
};

}  // namespace edge_read_detail

// socket.async_read_some(buffer, token), telling `drain` (and Asio) when the read drained the
// socket; a drained socket's next read is not tried at once (see the top of this file). `drain`
// must stay where it is until the read completes: it is held by reference, so the object holding
// it (a connection, an UpstreamStream) is neither moved nor destroyed while a read is pending.
template <typename Token>
auto async_read_some_edge(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer,
                          SocketDrain& drain, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      edge_read_detail::InitiateRead{}, token, &socket, buffer, &drain);
}

// socket.async_write_some(buffers, token), telling `drain` when it succeeded.
template <typename ConstBuffers, typename Token>
auto async_write_some_edge(boost::asio::ip::tcp::socket& socket, const ConstBuffers& buffers,
                           SocketDrain& drain, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      [&socket, &drain](auto handler, const ConstBuffers& b) {
        using Wrote = edge_read_detail::WroteHandler<decltype(handler)>;
        socket.async_write_some(b, Wrote{std::move(handler), &drain, drain.reads()});
      },
      token, buffers);
}

// Before a read of a drained socket that does not go through async_read_some_edge: re-arms epoll
// (a wait whose end nothing awaits; reads queue behind it), so bytes or a reset already there are
// reported again.
inline void rearm(boost::asio::ip::tcp::socket& socket, SocketDrain& drain) {
  if (!drain.drained()) return;
  drain.rearmed();
  socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                    [](const boost::system::error_code&) {});
}

}  // namespace bgp

// The write handler keeps what the handler it wraps is associated with (executor, allocator,
// cancellation slot).
template <template <typename, typename> class Associator, typename Handler,
          typename DefaultCandidate>
struct boost::asio::associator<Associator, bgp::edge_read_detail::WroteHandler<Handler>,
                               DefaultCandidate> : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const bgp::edge_read_detail::WroteHandler<Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const bgp::edge_read_detail::WroteHandler<Handler>& h,
                  const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};

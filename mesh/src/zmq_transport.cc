// ZmqTransport internals. Every zmq call sits behind a try/catch that turns zmq::error_t into
// a Status (or a dropped message), so no exception leaves this file.
#include "shardmesh/mesh/zmq_transport.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "rate_limited_log.h"
#include "shardmesh/mesh/curve_keys.h"
#include "zap_handler.h"

namespace shardmesh::mesh {
namespace {

constexpr const char* kZapDomain = "shardmesh";
// Payloads below this size are copied into the zmq message: cheaper than allocating the
// SharedBytes holder that zero-copy sending needs.
constexpr std::size_t kZeroCopyThreshold = 8 * 1024;

// ZeroMQ wants "*" for an ephemeral TCP port; accept the familiar ":0" as well.
std::string NormalizeBind(const std::string& bind) {
  if (bind.rfind("tcp://", 0) == 0 && bind.size() > 2 && bind.ends_with(":0")) {
    return bind.substr(0, bind.size() - 1) + "*";
  }
  return bind;
}

void FreeSharedBytes(void* /*data*/, void* hint) { delete static_cast<SharedBytes*>(hint); }

zmq::message_t PayloadMessage(const SharedBytes& payload) {
  if (payload.size() < kZeroCopyThreshold) return zmq::message_t(payload.data(), payload.size());
  // ZeroMQ frees the holder (from its I/O thread) once the frame is on the wire; the
  // SharedBytes owner is reference counted, so that is safe from any thread.
  auto* holder = new SharedBytes(payload);
  return zmq::message_t(const_cast<std::uint8_t*>(holder->data()), holder->size(), &FreeSharedBytes,
                        holder);
}

struct Peer {
  zmq::socket_t socket;
  TimePoint last_used;
};

}  // namespace

class ZmqTransport::Impl {
 public:
  Impl(ZmqTransportOptions options, const Clock& clock)
      : options_(std::move(options)),
        clock_(clock),
        log_(clock, std::chrono::seconds(1)),
        context_(1) {}

  // The eventfd outlives Close(): another thread may still call Wake() until destruction.
  ~Impl() {
    Close();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  Status Init() {
    if (options_.max_message_bytes == 0) {
      return Status::InvalidArgument("option 'max_message_bytes' must be positive");
    }
    if (options_.send_high_water_mark < 0 || options_.receive_high_water_mark < 0) {
      return Status::InvalidArgument("high water marks must not be negative");
    }
    if (options_.max_open_peers == 0) {
      return Status::InvalidArgument("option 'max_open_peers' must be positive");
    }
    if (options_.curve_enabled()) SHARDMESH_RETURN_IF_ERROR(InitCurve());
    try {
      router_ = zmq::socket_t(context_, zmq::socket_type::router);
      router_.set(zmq::sockopt::router_mandatory, 1);
      router_.set(zmq::sockopt::linger, static_cast<int>(options_.linger.count()));
      router_.set(zmq::sockopt::rcvhwm, options_.receive_high_water_mark);
      router_.set(zmq::sockopt::maxmsgsize,
                  static_cast<std::int64_t>(options_.max_message_bytes + kMaxHeaderBytes));
      if (options_.curve_enabled()) {
        router_.set(zmq::sockopt::zap_domain, kZapDomain);
        router_.set(zmq::sockopt::curve_server, 1);
        router_.set(zmq::sockopt::curve_secretkey, options_.curve_server_secret);
      }
      router_.bind(NormalizeBind(options_.bind));
      bound_ = router_.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      // ZeroMQ binds to an IP address or an interface name; a host name reads as an unknown
      // interface ("No such device").
      const std::string hint = e.num() == ENODEV
                                   ? " (bind takes an IP address or an interface name such as "
                                     "127.0.0.1 or lo, not a host name)"
                                   : "";
      return Status::IOError("cannot bind mesh inbox '" + options_.bind + "': " + e.what() + hint);
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      return Status::IOError(std::string("cannot create the mesh inbox's wake-up eventfd: ") +
                             std::strerror(errno));
    }
    endpoint_ = options_.advertise.empty() ? bound_ : options_.advertise;
    next_sweep_ = clock_.Now() + SweepInterval();
    open_ = true;
    return Status::OK();
  }

  const std::string& endpoint() const { return endpoint_; }

  Status Send(const std::string& to_endpoint, const Envelope& envelope) {
    if (!open_) return Status::Unavailable("transport " + endpoint_ + " is closed");
    if (envelope.payload.size() > options_.max_message_bytes ||
        envelope.attachment.size() > options_.max_message_bytes) {
      return Status::InvalidArgument(
          "payload of " + std::to_string(envelope.payload.size()) + " bytes (attachment " +
          std::to_string(envelope.attachment.size()) + ") to " + to_endpoint +
          " exceeds max_message_bytes " + std::to_string(options_.max_message_bytes));
    }
    std::string header;
    if (envelope.header.sender_endpoint.empty()) {
      EnvelopeHeader filled = envelope.header;
      filled.sender_endpoint = endpoint_;
      header = EncodeHeader(filled);
    } else {
      header = EncodeHeader(envelope.header);
    }
    if (header.size() > kMaxHeaderBytes) {
      return Status::InvalidArgument("header of " + std::to_string(header.size()) +
                                     " bytes exceeds " + std::to_string(kMaxHeaderBytes) +
                                     " (sender name or endpoint too long)");
    }
    const TimePoint now = clock_.Now();
    MaybeSweep(now);
    try {
      SHARDMESH_ASSIGN_OR_RETURN(Peer * peer, PeerFor(to_endpoint, now));
      zmq::message_t header_frame(header.data(), header.size());
      if (!peer->socket.send(header_frame, zmq::send_flags::dontwait | zmq::send_flags::sndmore)) {
        ++stats_.send_would_block;
        return Status::Unavailable("send queue to peer " + to_endpoint + " is full");
      }
      // Once the first frame is queued ZeroMQ accepts the rest of the message atomically.
      const bool has_attachment = !envelope.attachment.empty();
      zmq::message_t payload_frame = PayloadMessage(envelope.payload);
      if (!peer->socket.send(payload_frame,
                             has_attachment ? zmq::send_flags::dontwait | zmq::send_flags::sndmore
                                            : zmq::send_flags::dontwait)) {
        ++stats_.send_would_block;
        return Status::Unavailable("send queue to peer " + to_endpoint + " is full");
      }
      if (has_attachment) {
        zmq::message_t attachment_frame = PayloadMessage(envelope.attachment);
        if (!peer->socket.send(attachment_frame, zmq::send_flags::dontwait)) {
          ++stats_.send_would_block;
          return Status::Unavailable("send queue to peer " + to_endpoint + " is full");
        }
      }
      peer->last_used = now;
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("send to peer " + to_endpoint + " failed: " + e.what());
    }
    ++stats_.messages_sent;
    stats_.bytes_sent += header.size() + envelope.payload.size() + envelope.attachment.size();
    return Status::OK();
  }

  std::optional<Envelope> Receive(Duration timeout) {
    if (!open_) return std::nullopt;
    // Waiting is real time whatever clock_ is: a ManualClock in tests would never reach the
    // deadline. clock_ only drives idle-peer expiry and log rate limiting.
    using Steady = std::chrono::steady_clock;
    const Steady::time_point deadline = Steady::now() + std::max(timeout, Duration(0));
    try {
      while (true) {
        MaybeSweep(clock_.Now());
        if (std::optional<Envelope> envelope = TryReceiveOne()) return envelope;
        if (pending_malformed_) {
          // A bad message was consumed; look again at once without waiting.
          pending_malformed_ = false;
          continue;
        }
        const auto left = deadline - Steady::now();
        if (left <= Duration(0)) return std::nullopt;
        // Round up so a sub-millisecond wait still waits instead of spinning.
        zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                   {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
        zmq::poll(items, 2, std::chrono::ceil<std::chrono::milliseconds>(left));
        if (items[1].revents & ZMQ_POLLIN) {
          std::uint64_t count = 0;
          // Non-blocking and resets the counter: every wake-up so far ends this one wait.
          (void)!::read(wake_fd_, &count, sizeof(count));
          if (std::optional<Envelope> envelope = TryReceiveOne()) return envelope;
          return std::nullopt;
        }
      }
    } catch (const zmq::error_t& e) {
      log_.Warn("recv-error", "mesh inbox " + endpoint_ + ": receive failed: " + e.what());
      return std::nullopt;
    }
  }

  void Wake() {
    if (wake_fd_ < 0) return;
    const std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: a wake-up is pending anyway.
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  void Close() {
    if (!open_ && closed_) return;
    open_ = false;
    closed_ = true;
    try {
      if (zap_) zap_->Stop();
      zap_.reset();
      for (auto& [endpoint, peer] : peers_) peer.socket.close();
      peers_.clear();
      router_.close();
      context_.close();
    } catch (const zmq::error_t& e) {
      spdlog::warn("closing mesh transport {}: {}", endpoint_, e.what());
    }
  }

  std::size_t open_peer_count() const { return peers_.size(); }
  const ZmqTransportStats& stats() const { return stats_; }

 private:
  Status InitCurve() {
    if (!CurveAvailable()) {
      return Status::FailedPrecondition(
          "CurveZMQ keys are configured but libzmq was built without CURVE support");
    }
    const std::pair<const std::string*, const char*> keys[] = {
        {&options_.curve_public, "curve_public"},
        {&options_.curve_secret, "curve_secret"},
        {&options_.curve_server_public, "curve_server_public"},
        {&options_.curve_server_secret, "curve_server_secret"}};
    for (const auto& [key, name] : keys) {
      if (key->empty()) {
        return Status::InvalidArgument(std::string("CurveZMQ needs all four keys; '") + name +
                                       "' is missing");
      }
      SHARDMESH_RETURN_IF_ERROR(ValidateCurveKey(*key, name));
    }
    SHARDMESH_ASSIGN_OR_RETURN(std::string own_public,
                               DeriveCurvePublicKey(options_.curve_secret, "curve_secret"));
    if (own_public != options_.curve_public) {
      return Status::InvalidArgument("curve key 'curve_public' does not belong to 'curve_secret'");
    }
    SHARDMESH_ASSIGN_OR_RETURN(
        std::string server_public,
        DeriveCurvePublicKey(options_.curve_server_secret, "curve_server_secret"));
    if (server_public != options_.curve_server_public) {
      return Status::InvalidArgument(
          "curve key 'curve_server_public' does not belong to 'curve_server_secret'");
    }
    std::unordered_set<std::string> allowed;
    SHARDMESH_ASSIGN_OR_RETURN(std::string own_raw,
                               DecodeCurveKey(options_.curve_public, "curve_public"));
    allowed.insert(std::move(own_raw));
    for (std::size_t i = 0; i < options_.allowed_peers.size(); ++i) {
      SHARDMESH_ASSIGN_OR_RETURN(
          std::string raw,
          DecodeCurveKey(options_.allowed_peers[i], "allowed_peers[" + std::to_string(i) + "]"));
      allowed.insert(std::move(raw));
    }
    if (options_.allowed_peers.empty()) {
      spdlog::warn(
          "CurveZMQ enabled with empty allowed_peers: only this node's own key is "
          "admitted");
    }
    // The handler must be bound before the ROUTER: a CURVE server without a ZAP handler
    // would admit every client.
    SHARDMESH_ASSIGN_OR_RETURN(zap_, ZapHandler::Start(context_, std::move(allowed)));
    return Status::OK();
  }

  Duration SweepInterval() const {
    return std::clamp<Duration>(options_.idle_peer_timeout / 4, std::chrono::milliseconds(1),
                                std::chrono::seconds(1));
  }

  void MaybeSweep(TimePoint now) {
    if (now < next_sweep_) return;
    next_sweep_ = now + SweepInterval();
    for (auto it = peers_.begin(); it != peers_.end();) {
      if (now - it->second.last_used >= options_.idle_peer_timeout) {
        it = ClosePeer(it);
      } else {
        ++it;
      }
    }
  }

  std::unordered_map<std::string, Peer>::iterator ClosePeer(
      std::unordered_map<std::string, Peer>::iterator it) {
    try {
      it->second.socket.close();
    } catch (const zmq::error_t& e) {
      spdlog::debug("closing DEALER to {}: {}", it->first, e.what());
    }
    ++stats_.peers_closed;
    return peers_.erase(it);
  }

  // The DEALER to `to_endpoint`, opened and connected on first use. Throws zmq::error_t only
  // for failures other than a rejected endpoint.
  Result<Peer*> PeerFor(const std::string& to_endpoint, TimePoint now) {
    if (auto it = peers_.find(to_endpoint); it != peers_.end()) return &it->second;
    if (peers_.size() >= options_.max_open_peers) {
      auto lru = std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      });
      ClosePeer(lru);
    }
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, static_cast<int>(options_.linger.count()));
    socket.set(zmq::sockopt::sndhwm, options_.send_high_water_mark);
    if (options_.curve_enabled()) {
      socket.set(zmq::sockopt::curve_serverkey, options_.curve_server_public);
      socket.set(zmq::sockopt::curve_publickey, options_.curve_public);
      socket.set(zmq::sockopt::curve_secretkey, options_.curve_secret);
    }
    try {
      socket.connect(to_endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("cannot connect to peer '" + to_endpoint + "': " + e.what());
    }
    ++stats_.peers_opened;
    auto [it, inserted] = peers_.emplace(to_endpoint, Peer{std::move(socket), now});
    return &it->second;
  }

  // Reads one message from the inbox without waiting. Returns it if well formed; on a
  // malformed one, drops it, sets pending_malformed_ and returns nullopt.
  std::optional<Envelope> TryReceiveOne() {
    std::vector<zmq::message_t> frames;
    zmq::message_t frame;
    if (!router_.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    bool more = frame.more();
    frames.push_back(std::move(frame));
    // Cap what we buffer from a peer that sends many frames: past 4 we only count them.
    std::size_t frame_count = 1;
    while (more) {
      zmq::message_t next;
      if (!router_.recv(next, zmq::recv_flags::none)) break;
      more = next.more();
      ++frame_count;
      if (frames.size() < 4) frames.push_back(std::move(next));
    }
    // frames[0] is the routing id ROUTER prepends; then header, payload and the optional
    // attachment.
    if (frame_count != 3 && frame_count != 4) {
      return Malformed("frames",
                       "dropped a message with " + std::to_string(frame_count - 1) +
                           " frames (expected 2 or 3: header, payload, optional attachment)");
    }
    Result<EnvelopeHeader> header =
        DecodeHeader(ByteView(frames[1].data<std::uint8_t>(), frames[1].size()));
    if (!header.ok()) {
      return Malformed("header",
                       "dropped a message with a bad header: " + header.status().message());
    }
    auto owner = std::make_shared<zmq::message_t>(std::move(frames[2]));
    Envelope envelope;
    envelope.header = std::move(header).value();
    envelope.payload = SharedBytes(owner, ByteView(owner->data<std::uint8_t>(), owner->size()));
    std::size_t attachment_size = 0;
    if (frames.size() == 4) {
      auto attachment = std::make_shared<zmq::message_t>(std::move(frames[3]));
      attachment_size = attachment->size();
      envelope.attachment =
          SharedBytes(attachment, ByteView(attachment->data<std::uint8_t>(), attachment->size()));
    }
    ++stats_.messages_received;
    stats_.bytes_received += frames[1].size() + owner->size() + attachment_size;
    return envelope;
  }

  std::optional<Envelope> Malformed(std::string_view kind, const std::string& what) {
    ++stats_.malformed_dropped;
    pending_malformed_ = true;
    if (log_.Warn(kind, "mesh inbox " + endpoint_ + ": " + what)) ++stats_.warnings_logged;
    return std::nullopt;
  }

  ZmqTransportOptions options_;
  const Clock& clock_;
  RateLimitedLog log_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // declared after context_: destroyed before it
  zmq::socket_t router_;
  std::unordered_map<std::string, Peer> peers_;
  std::string bound_;
  std::string endpoint_;
  TimePoint next_sweep_;
  bool open_ = false;
  bool closed_ = false;
  bool pending_malformed_ = false;
  int wake_fd_ = -1;  // eventfd; written by Wake() from any thread
  ZmqTransportStats stats_;
};

Result<std::unique_ptr<ZmqTransport>> ZmqTransport::Create(ZmqTransportOptions options,
                                                           const Clock& clock) {
  try {
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    SHARDMESH_RETURN_IF_ERROR(impl->Init());
    return std::unique_ptr<ZmqTransport>(new ZmqTransport(std::move(impl)));
  } catch (const zmq::error_t& e) {
    return Status::IOError(std::string("cannot create the ZeroMQ transport: ") + e.what());
  }
}

ZmqTransport::ZmqTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZmqTransport::~ZmqTransport() = default;

const std::string& ZmqTransport::endpoint() const { return impl_->endpoint(); }
Status ZmqTransport::Send(const std::string& to_endpoint, const Envelope& envelope) {
  return impl_->Send(to_endpoint, envelope);
}
std::optional<Envelope> ZmqTransport::Receive(Duration timeout) { return impl_->Receive(timeout); }
void ZmqTransport::Wake() { impl_->Wake(); }
void ZmqTransport::Close() { impl_->Close(); }
std::size_t ZmqTransport::open_peer_count() const { return impl_->open_peer_count(); }
const ZmqTransportStats& ZmqTransport::stats() const { return impl_->stats(); }

}  // namespace shardmesh::mesh

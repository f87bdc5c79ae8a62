#include "zap_handler.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "shardmesh/common/thread_name.h"
#include "shardmesh/mesh/curve_keys.h"

namespace shardmesh::mesh {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
std::atomic<std::uint64_t> g_control_counter{0};

}  // namespace

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t& context, std::unordered_set<std::string> allowed_keys) {
  try {
    zmq::socket_t requests(context, zmq::socket_type::rep);
    requests.set(zmq::sockopt::linger, 0);
    requests.bind(kZapEndpoint);
    const std::string control =
        "inproc://shardmesh-zap-control-" + std::to_string(g_control_counter.fetch_add(1));
    zmq::socket_t control_rx(context, zmq::socket_type::pair);
    control_rx.set(zmq::sockopt::linger, 0);
    control_rx.bind(control);
    zmq::socket_t control_tx(context, zmq::socket_type::pair);
    control_tx.set(zmq::sockopt::linger, 0);
    control_tx.connect(control);
    std::unique_ptr<ZapHandler> handler(new ZapHandler(std::move(requests), std::move(control_rx),
                                                       std::move(control_tx),
                                                       std::move(allowed_keys)));
    // Sockets created here move to the thread; starting a thread is a full memory barrier,
    // which is what ZeroMQ requires for handing a socket over.
    handler->thread_ = std::thread([h = handler.get()] {
      SetCurrentThreadName("sm-zap");
      h->Run();
    });
    return handler;
  } catch (const zmq::error_t& e) {
    return Status::IOError(std::string("cannot start the ZAP handler on ") + kZapEndpoint + ": " +
                           e.what());
  }
}

ZapHandler::ZapHandler(zmq::socket_t requests, zmq::socket_t control_rx, zmq::socket_t control_tx,
                       std::unordered_set<std::string> allowed_keys)
    : requests_(std::move(requests)),
      control_rx_(std::move(control_rx)),
      control_tx_(std::move(control_tx)),
      allowed_keys_(std::move(allowed_keys)),
      log_(SystemClock::Instance(), std::chrono::seconds(1)) {}

ZapHandler::~ZapHandler() { Stop(); }

void ZapHandler::Stop() {
  if (!thread_.joinable()) return;
  try {
    control_tx_.send(zmq::str_buffer("stop"), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    // The context is being terminated: the thread's poll fails with ETERM and exits anyway.
    spdlog::debug("ZAP handler stop signal: {}", e.what());
  }
  thread_.join();
  control_tx_.close();
}

void ZapHandler::Run() {
  try {
    while (true) {
      zmq::pollitem_t items[] = {{requests_.handle(), 0, ZMQ_POLLIN, 0},
                                 {control_rx_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(-1));
      if (items[1].revents & ZMQ_POLLIN) break;
      if (items[0].revents & ZMQ_POLLIN) HandleRequest();
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) spdlog::error("ZAP handler stopped: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("ZAP handler stopped: {}", e.what());
  }
  requests_.close();
  control_rx_.close();
}

void ZapHandler::HandleRequest() {
  // RFC 27 request: version, request id, domain, address, identity, mechanism, credentials...
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t frame;
    if (!requests_.recv(frame, zmq::recv_flags::none)) return;
    const bool more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
  }
  const bool well_formed = frames.size() >= 6 && frames[0].to_string_view() == "1.0";
  const bool is_curve = well_formed && frames[5].to_string_view() == "CURVE";
  std::string user_id;
  bool admit = false;
  if (is_curve && frames.size() >= 7 && frames[6].size() == kCurveKeyBytes) {
    const std::string key(frames[6].data<char>(), frames[6].size());
    admit = allowed_keys_.contains(key);
    Result<std::string> z85 = EncodeCurveKey(key);
    if (z85.ok()) user_id = *z85;
  }
  if (admit) {
    admitted_.fetch_add(1);
  } else {
    refused_.fetch_add(1);
    // A warning, not debug: a member with a wrong or unlisted key is a misconfiguration the
    // operator must see, yet a port scanner must not flood the log.
    const std::string mechanism = well_formed ? std::string(frames[5].to_string_view()) : "?";
    const std::string address = well_formed ? std::string(frames[3].to_string_view()) : "?";
    log_.Warn("zap-refused",
              "CurveZMQ: refused " + mechanism + " peer at " + address +
                  (user_id.empty() ? std::string(" (no client key)")
                                   : " with key " + user_id + " (not in allowed_peers)"));
  }
  // The REP socket must answer every request, even a malformed one, or it stops receiving.
  const std::string request_id = frames.size() >= 2 ? frames[1].to_string() : std::string();
  requests_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
  requests_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
  requests_.send(admit ? zmq::str_buffer("200") : zmq::str_buffer("400"), zmq::send_flags::sndmore);
  requests_.send(admit ? zmq::str_buffer("OK") : zmq::str_buffer("key not admitted"),
                 zmq::send_flags::sndmore);
  if (!admit) user_id.clear();
  requests_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
  requests_.send(zmq::str_buffer(""), zmq::send_flags::none);
}

}  // namespace shardmesh::mesh

// The sd_notify protocol (Type=notify services, deploy/systemd/bgproxy.service), by libsystemd.
#pragma once

#include <systemd/sd-daemon.h>

#include <string>
#include <string_view>

namespace bgp {

// "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..."; nothing without $NOTIFY_SOCKET.
inline void notify_systemd(std::string_view state) {
  (void)sd_notify(0, std::string(state).c_str());  // a failed notice must not stop the proxy
}

}  // namespace bgp

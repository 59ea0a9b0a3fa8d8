package cli

import (
	"log/slog"
	"net"
)

// notifier tells systemd how herd serve is doing, when systemd started it
// as a notify service (NOTIFY_SOCKET is set): ready once it serves,
// reloading while it rereads its files on SIGHUP, stopping on shutdown.
// Without NOTIFY_SOCKET it does nothing. The protocol is datagrams of
// "KEY=value" lines on a unix socket (sd_notify(3)); no library needed.
type notifier struct {
	socket string // "" when not under systemd
	logger *slog.Logger
}

func newNotifier(io IO, logger *slog.Logger) notifier {
	return notifier{socket: io.getenv("NOTIFY_SOCKET"), logger: logger}
}

// send sends state, logging (not failing) when systemd cannot be told.
func (n notifier) send(state string) {
	if n.socket == "" {
		return
	}
	name := n.socket
	if name[0] == '@' { // an abstract socket
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		n.logger.Warn("cannot notify systemd", "state", state, "err", err)
	}
}
